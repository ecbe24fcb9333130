/** train → synthesize → likelihood on a few seconds of generated audio, through the CLI commands. */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeWav, decodeWav } from '../src/io/wav.js';
import { loadWeights } from '../src/io/weights-file.js';
import { decode } from '../src/train/checkpoint.js';
import { command as train } from '../src/cli/commands/train.js';
import { command as synthesize } from '../src/cli/commands/synthesize.js';
import { command as likelihood } from '../src/cli/commands/likelihood.js';

const dir = mkdtempSync(join(tmpdir(), 'flowvox-train-'));
const data = join(dir, 'wavs');

/** Runs a command and returns the JSON object on its last stdout line. */
async function runJson(cmd: { run(a: string[]): Promise<number | void> }, args: string[]): Promise<Record<string, unknown>> {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    lines.push(String(s));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await cmd.run([...args, '--json', '--backend', 'wasm']);
  } finally {
    spy.mockRestore();
    err.mockRestore();
  }
  return JSON.parse(lines.join('').trim().split('\n').pop()!) as Record<string, unknown>;
}

beforeAll(() => {
  // Four 1.5 s "voices": harmonic tones with vibrato and an envelope, at 22.05 kHz.
  const sr = 22050;
  for (let v = 0; v < 4; v++) {
    const x = new Float32Array(Math.round(1.5 * sr));
    for (let i = 0; i < x.length; i++) {
      const t = i / sr;
      const f0 = 120 + 40 * v + 5 * Math.sin(2 * Math.PI * 5 * t);
      let s = 0;
      for (let h = 1; h <= 6; h++) s += Math.sin(2 * Math.PI * f0 * h * t) / h;
      x[i] = 0.15 * s * Math.sin((Math.PI * i) / x.length);
    }
    const sub = join(data, `v${v}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `clip${v}.wav`), encodeWav(x, sr, { bitDepth: '16' }));
  }
});

describe('vocoder commands: train → synthesize → likelihood (tiny preset)', () => {
  const common = ['--preset', 'tiny', '--data', data, '--batch', '2', '--segment', '4096', '--lr', '1e-3', '--warmup', '2', '--val-batches', '1'];

  it('trains, checkpoints, and resumes exactly', async () => {
    const straight = await runJson(train, [...common, '--out', join(dir, 'a'), '--steps', '6']);
    expect(straight.step).toBe(6);
    await runJson(train, [...common, '--out', join(dir, 'b'), '--steps', '3']);
    const resumed = await runJson(train, ['--data', data, '--out', join(dir, 'b'), '--steps', '3', '--resume', '--lr', '1e-3', '--warmup', '2', '--val-batches', '1']);
    expect(resumed.step).toBe(6);
    // A new run dequantises as 16-bit audio, and the resumed run kept it (the bit-equality below needs it).
    expect(JSON.parse(readFileSync(join(dir, 'b', 'run.json'), 'utf8')).dequantizeBits).toBe(16);
    const a = await loadWeights(join(dir, 'a', 'checkpoint'));
    const b = await loadWeights(join(dir, 'b', 'checkpoint'));
    expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
    expect(Number.isFinite(straight.valNllNatsPerSample)).toBe(true);
    expect(existsSync(join(dir, 'a', 'best', 'config.json'))).toBe(true);
    // DIR/last holds the checkpoint's parameters as a model directory.
    const last = await loadWeights(join(dir, 'a', 'last'));
    const ckpt = decode(a.manifest, a.data);
    const lastParams = decode(last.manifest, last.data);
    expect(lastParams.size).toBeGreaterThan(0);
    for (const [name, t] of lastParams) expect(Array.from(t.dataSync())).toEqual(Array.from(ckpt.get(name)!.dataSync()));
    expect(JSON.parse(readFileSync(join(dir, 'a', 'last', 'config.json'), 'utf8')).source).toBe('flowvox train step 6');
    expect(readFileSync(join(dir, 'a', 'train-log.csv'), 'utf8').split('\n')[0]).toContain('val_nll');
  });

  it('adds the auxiliary MR-STFT loss on samples, keeps it across --resume, logs it apart from the NLL', async () => {
    const out = join(dir, 'stft');
    const first = await runJson(train, [...common, '--out', out, '--steps', '2', '--stft-weight', '0.5', '--stft-batch', '1']);
    expect(first).toMatchObject({ step: 2, stftWeight: 0.5, stftBatch: 1, stftSigma: 0.6 });
    expect(first.lastStftLoss as number).toBeGreaterThan(0);
    const resumed = await runJson(train, ['--data', data, '--out', out, '--steps', '1', '--resume', '--val-batches', '1']);
    expect(resumed).toMatchObject({ step: 3, stftWeight: 0.5 });
    // Exact resume holds with the extra loss too (its latent is seeded by the step).
    const straight = await runJson(train, [...common, '--out', join(dir, 'stft-straight'), '--steps', '3', '--stft-weight', '0.5', '--stft-batch', '1']);
    expect(straight.lastStftLoss).toBe(resumed.lastStftLoss);
    const a = await loadWeights(join(out, 'checkpoint'));
    const b = await loadWeights(join(dir, 'stft-straight', 'checkpoint'));
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    const log = readFileSync(join(out, 'train-log.csv'), 'utf8').trim().split('\n');
    expect(log[0]).toBe('step,hours,train_loss,train_nll,val_nll,lr,audio_s_per_s,stft_loss');
    // A validation row per run (the end of each); the stft column is the loss of the last step.
    const last = log.slice(1).filter((l) => l.split(',')[7]);
    expect(last.length).toBeGreaterThan(0);
    for (const row of last) expect(Number(row.split(',')[7])).toBeGreaterThan(0);
    const pair = await runJson(train, [...common, '--out', join(dir, 'stft-pair'), '--steps', '1', '--stft-weight', '0.5', '--stft-batch', '1', '--stft-pair']);
    expect(pair).toMatchObject({ stftPair: true });
    expect(pair.lastStftLoss as number).toBeGreaterThan(0);
    expect(pair.lastStftLoss).not.toBe(first.lastStftLoss);
    const single = await runJson(train, ['--data', data, '--out', join(dir, 'stft-pair'), '--steps', '1', '--resume', '--val-batches', '1', '--no-stft-pair']);
    expect(single).toMatchObject({ step: 2, stftWeight: 0.5, stftPair: false });
    await expect(train.run(['--data', data, '--out', join(dir, 'stft-pair'), '--steps', '1', '--resume', '--stft-pair', '--no-stft-pair'])).rejects.toThrow(/not both/);
    await expect(train.run([...common, '--out', join(dir, 'stft-w2'), '--steps', '1', '--stft-weight', '1', '--workers', '2'])).rejects.toThrow(/--workers 1/);
    await expect(train.run([...common, '--out', join(dir, 'stft-b'), '--steps', '1', '--stft-weight', '1', '--stft-batch', '3'])).rejects.toThrow(/stft-batch/);
  });

  it('drops the learning rate on a validation plateau (--lr-patience), and keeps the count across --resume', async () => {
    const out = join(dir, 'plateau');
    // At lr 1e-7 nothing improves by 0.001 nats, so every validation after the first is a "bad" one.
    const args = ['--preset', 'tiny', '--data', data, '--batch', '2', '--segment', '4096', '--lr', '1e-7', '--warmup', '0', '--val-batches', '1', '--workers', '1'];
    const first = await runJson(train, [...args, '--out', out, '--minutes', '0.25', '--val-every', '0.05', '--lr-patience', '2', '--lr-min', '1e-9']);
    const state = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { lr: number; lrPlateau: { patience: number; factor: number; minLr: number; bad: number } };
    expect(state.lrPlateau).toMatchObject({ patience: 2, factor: 0.5, minLr: 1e-9 });
    const rows = readFileSync(join(out, 'train-log.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const validations = rows.filter((r) => r[4] && r[5]).length; // in-loop validations (the end one has no lr)
    expect(validations).toBeGreaterThanOrEqual(3);
    const drops = Math.floor((validations - 1) / 2);
    expect(state.lr).toBeCloseTo(1e-7 * 0.5 ** drops, 15);
    expect(state.lrPlateau.bad).toBe((validations - 1) % 2);
    expect(first.lr).toBe(state.lr);
    // The logged rate steps down at the drops.
    const rates = [...new Set(rows.filter((r) => r[5]).map((r) => Number(r[5])))];
    expect(rates.length).toBe(drops + 1);
    // --resume keeps the settings and the count; --lr restarts the count; --lr-patience 0 turns it off.
    const resumed = await runJson(train, ['--data', data, '--out', out, '--steps', '1', '--resume', '--val-batches', '1', '--workers', '1']);
    expect(resumed.lr).toBe(state.lr);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).lrPlateau).toEqual(state.lrPlateau);
    await runJson(train, ['--data', data, '--out', out, '--steps', '1', '--resume', '--val-batches', '1', '--workers', '1', '--lr', '1e-6']);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).lrPlateau).toMatchObject({ patience: 2, bad: 0 });
    await runJson(train, ['--data', data, '--out', out, '--steps', '1', '--resume', '--val-batches', '1', '--workers', '1', '--lr-patience', '0']);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).lrPlateau).toBeUndefined();
    await expect(train.run([...args, '--out', join(dir, 'plateau-bad'), '--steps', '1', '--lr-factor', '0.3'])).rejects.toThrow(/--lr-patience/);
  });

  it('keeps a parameter average (--ema): validated, saved as best/last, checkpointed, resumed exactly', async () => {
    const args = [...common, '--workers', '1', '--ema', '0.9'];
    const straight = await runJson(train, [...args, '--out', join(dir, 'ema-a'), '--steps', '4']);
    expect(straight.ema).toEqual({ decay: 0.9, startStep: 0 });
    await runJson(train, [...args, '--out', join(dir, 'ema-b'), '--steps', '2']);
    const resumed = await runJson(train, ['--data', data, '--out', join(dir, 'ema-b'), '--steps', '2', '--resume', '--val-batches', '1', '--workers', '1']);
    expect(resumed.ema).toEqual({ decay: 0.9, startStep: 0 });
    const a = await loadWeights(join(dir, 'ema-a', 'checkpoint'));
    const b = await loadWeights(join(dir, 'ema-b', 'checkpoint'));
    expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
    expect(resumed.valNllNatsPerSample).toBe(straight.valNllNatsPerSample);
    // DIR/last is the average (ema.* in the checkpoint), which differs from the raw parameters.
    const ckpt = decode(a.manifest, a.data);
    const last = await loadWeights(join(dir, 'ema-a', 'last'));
    let differs = false;
    for (const [name, t] of decode(last.manifest, last.data)) {
      expect(Array.from(t.dataSync())).toEqual(Array.from(ckpt.get(`ema.${name}`)!.dataSync()));
      differs ||= Array.from(t.dataSync()).some((x, i) => x !== ckpt.get(name)!.dataSync()[i]);
    }
    expect(differs).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'ema-a', 'last', 'config.json'), 'utf8')).source).toMatch(/parameter average, decay 0.9/);
    // Switched on in a resumed run, it starts at the current step; --ema 0 removes it.
    const late = join(dir, 'ema-late');
    await runJson(train, [...common, '--workers', '1', '--out', late, '--steps', '2']);
    const on = await runJson(train, ['--data', data, '--out', late, '--steps', '1', '--resume', '--val-batches', '1', '--workers', '1', '--ema', '0.99']);
    expect(on.ema).toEqual({ decay: 0.99, startStep: 2 });
    const off = await runJson(train, ['--data', data, '--out', late, '--steps', '1', '--resume', '--val-batches', '1', '--workers', '1', '--ema', '0']);
    expect(off.ema).toBeUndefined();
    expect(JSON.parse(readFileSync(join(late, 'run.json'), 'utf8')).ema).toBeUndefined();
    const w = await loadWeights(join(late, 'checkpoint'));
    expect([...decode(w.manifest, w.data).keys()].some((k) => k.startsWith('ema.'))).toBe(false);
    await expect(train.run([...common, '--out', join(dir, 'ema-bad'), '--steps', '1', '--ema', '1'])).rejects.toThrow(/ema/);
  });

  it('starts a run from a trained model (--init-from), growing its WN networks with the function unchanged', async () => {
    const from = join(dir, 'a', 'last'); // the 6-step run above
    const source = (await runJson(train, [...common, '--out', join(dir, 'init-same'), '--steps', '1', '--lr', '1e-7', '--init-from', from])).valNllNatsPerSample as number;
    const wide = join(dir, 'tiny-wide.json');
    writeFileSync(wide, JSON.stringify({ ...JSON.parse(readFileSync(join(from, 'config.json'), 'utf8')).waveglow, WN_config: { n_layers: 3, n_channels: 24, kernel_size: 3 } }));
    const out = join(dir, 'init-grown');
    const args = ['--config', wide, '--data', data, '--batch', '2', '--segment', '4096', '--warmup', '2', '--val-batches', '1', '--lr', '1e-7', '--init-from', from];
    const grown = await runJson(train, [...args, '--out', out, '--steps', '1']);
    expect(grown.params).toBeGreaterThan(5000 + ((await loadWeights(from)).data.byteLength / 4));
    // After one step at a negligible rate both score what the source scored on the same validation segments…
    cpSync(join(dir, 'a'), join(dir, 'a-more'), { recursive: true });
    const a = (await runJson(train, ['--data', data, '--out', join(dir, 'a-more'), '--steps', '1', '--lr', '1e-7', '--resume', '--val-batches', '1'])).valNllNatsPerSample as number;
    expect(Math.abs(source - a)).toBeLessThan(2e-3);
    expect(Math.abs((grown.valNllNatsPerSample as number) - a)).toBeLessThan(2e-3);
    // … whereas the same wider model from scratch does not.
    const scratch = await runJson(train, [...args.slice(0, -2), '--out', join(dir, 'init-scratch'), '--steps', '1']);
    expect(Math.abs((scratch.valNllNatsPerSample as number) - a)).toBeGreaterThan(0.05);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).initFrom).toEqual({ dir: from, source: 'flowvox train step 6', grown: true });
    await expect(train.run([...args, '--out', out, '--steps', '1', '--resume'])).rejects.toThrow(/cannot be combined with --resume/);
    await expect(train.run(['--preset', 'cpu-small', '--data', data, '--out', join(dir, 'init-bad'), '--steps', '1', '--init-from', from])).rejects.toThrow(/cannot start this model from it: n_flows differs/);
    await expect(train.run(['--data', data, '--out', join(dir, 'init-missing'), '--steps', '1', '--init-from', join(dir, 'nowhere')])).rejects.toThrow(/not a flowvox model directory/);
  });

  it('adds a pitch predictor to a trained model (--predictor): pitch net pretrained then fixed (or learnt, --learn-pitch), gain at its own rate, on 2 threads', async () => {
    const from = join(dir, 'a', 'last');
    const out = join(dir, 'pitch');
    const args = ['--data', data, '--out', out, '--lr', '1e-7', '--warmup', '0', '--predictor-lr', '1e-2', '--val-batches', '1', '--workers', '2', '--batch', '2', '--segment', '4096'];
    const first = await runJson(train, [...args, '--init-from', from, '--predictor', '--pitch-minutes', '0.02', '--steps', '2']);
    const pre = first.pitchPretrain as { steps: number; seconds: number; after: { voicedShare: number } };
    expect(pre.steps).toBeGreaterThan(0);
    expect(first.hours as number).toBeGreaterThanOrEqual(Math.floor((pre.seconds / 3600) * 1e4) / 1e4); // wall time includes the pretraining
    expect(pre.after.voicedShare).toBeGreaterThan(0.5); // harmonic tones
    expect(first.predictorLr).toBe(1e-2);
    expect(JSON.parse(readFileSync(join(out, 'last', 'config.json'), 'utf8')).waveglow.predictor.max_lag).toBe(368);
    const weights = async () => { const w = await loadWeights(join(out, 'checkpoint')); return decode(w.manifest, w.data); };
    const before = await weights();
    await runJson(train, [...args, '--resume', '--steps', '2']);
    const after = await weights();
    const diff = (k: string) => { const [x, y] = [before.get(k)!.dataSync() as Float32Array, after.get(k)!.dataSync() as Float32Array]; let m = 0; x.forEach((v, i) => (m = Math.max(m, Math.abs(v - y[i]!)))); return m; };
    // The gain moves at 1e-2 (Adam: about that much per step), the flow at 1e-7, the pitch net not at all.
    expect(diff('predictor.net.gain.b')).toBeGreaterThan(1e-3);
    expect(diff('flow.1.1.inner.net.start.w')).toBeLessThan(1e-5);
    expect(diff('predictor.net.pitch.0.w')).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).predictorLr).toBe(1e-2);
    // --learn-pitch on a resume: the likelihood moves the pitch net too (on both threads), until --no-learn-pitch.
    await runJson(train, [...args, '--resume', '--steps', '2', '--learn-pitch']);
    const learnt = await weights();
    const moved = (a: ReturnType<typeof decode>, b: ReturnType<typeof decode>, k: string) => { const [x, y] = [a.get(k)!.dataSync() as Float32Array, b.get(k)!.dataSync() as Float32Array]; let m = 0; x.forEach((v, i) => (m = Math.max(m, Math.abs(v - y[i]!)))); return m; };
    expect(moved(after, learnt, 'predictor.net.pitch.0.w')).toBeGreaterThan(1e-3);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).config.predictor.learn_pitch).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'last', 'config.json'), 'utf8')).waveglow.predictor.learn_pitch).toBe(true);
    await runJson(train, [...args, '--resume', '--steps', '1']); // kept across --resume
    const kept = await weights();
    expect(moved(learnt, kept, 'predictor.net.pitch.0.w')).toBeGreaterThan(1e-3);
    await runJson(train, [...args, '--resume', '--steps', '1', '--no-learn-pitch']);
    expect(moved(kept, await weights(), 'predictor.net.pitch.0.w')).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).config.predictor.learn_pitch).toBeUndefined();
    await expect(train.run([...common, '--out', join(dir, 'no-pitch-learn'), '--steps', '1', '--learn-pitch'])).rejects.toThrow(/--learn-pitch: the model has no pitch predictor/);
    await expect(train.run([...args, '--resume', '--steps', '1', '--predictor'])).rejects.toThrow(/cannot be combined with --resume/);
    await expect(train.run([...common, '--out', join(dir, 'no-pitch'), '--steps', '1', '--predictor-lr', '1e-3'])).rejects.toThrow(/no pitch predictor/);
  });

  it('refuses to overwrite a run without --resume', async () => {
    await expect(train.run([...common, '--out', join(dir, 'a'), '--steps', '1'])).rejects.toThrow(/--resume/);
  });

  it('synthesizes from a WAV (copy-synthesis) and scores its likelihood', async () => {
    const model = join(dir, 'a', 'best');
    const wav = join(data, 'v0', 'clip0.wav');
    const out = join(dir, 'out.wav');
    const s = await runJson(synthesize, ['--model', model, '--wav', wav, '--out', out, '--sigma', '0.6', '--denoise', '0.01']);
    const decoded = decodeWav(new Uint8Array(readFileSync(out)));
    expect(decoded.sampleRate).toBe(22050);
    expect(decoded.samples.length).toBe(s.samples);
    // NVIDIA's infer length: (L//256 + 1) mel frames × 256.
    expect(s.samples).toBe((Math.floor(33075 / 256) + 1) * 256);
    expect(decoded.samples.some((v) => v !== 0)).toBe(true);
    const l = await runJson(likelihood, ['--model', model, '--wav', wav]);
    expect(Number.isFinite(l.nllNatsPerSample)).toBe(true);
    expect(l.nllNatsPerSample as number).toBeCloseTo((l.waveglowLoss as number) + 0.5 * Math.log(2 * Math.PI), 5);
  });
});
