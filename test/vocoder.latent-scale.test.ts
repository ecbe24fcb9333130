/**
 * σ per latent level: which channels each level is, how the scale draws the latent (and only the
 * latent: the likelihood is untouched), that streaming draws the same latent, the model directory
 * keeping it, the tuner's coordinate descent on a known objective, and the tune-latent CLI.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { loadModelDir, saveModelDir, writeSynthesisSettings } from '../src/io/model-dir.js';
import { decodeWav, encodeWav } from '../src/io/wav.js';
import { utteranceLatent } from '../src/stream/chunk-synth.js';
import { preset } from '../src/vocoder/presets.js';
import { WaveGlow } from '../src/vocoder/waveglow.js';
import { DEFAULT_PITCH_PREDICTOR } from '../src/vocoder/pitch.js';
import { coordinateDescent, tuneClips, tuneLatentScale, type TuneScore } from '../src/vocoder/tune-latent.js';
import { command as tuneLatent, type TuneLatentJson } from '../src/cli/commands/tune-latent.js';
import { command as evaluate, type EvaluateJson } from '../src/cli/commands/evaluate.js';
import { command as convert } from '../src/cli/commands/convert.js';
import { command as calibrateVoicing, type CalibrateVoicingJson } from '../src/cli/commands/calibrate-voicing.js';
import { command as synthesize } from '../src/cli/commands/synthesize.js';
import { command as card } from '../src/cli/commands/card.js';
import { TACOTRON_MEL } from '../src/dsp/mel.js';
import { randomizeCouplings as randomizeWeights } from './helpers/random-waveglow.js';
import { mulberry32 } from '../src/util/random.js';

const SR = 22050;
const dir = mkdtempSync(join(tmpdir(), 'flowvox-latent-'));

async function runCli<T>(cmd: { run(a: string[]): Promise<number | void> }, args: string[]): Promise<{ json: T | null; stderr: string; error: Error | null }> {
  const lines: string[] = [];
  const errs: string[] = [];
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    lines.push(String(s));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    errs.push(String(s));
    return true;
  });
  let error: Error | null = null;
  try {
    await cmd.run([...args, '--json', '--backend', 'wasm']);
  } catch (e) {
    error = e as Error;
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  const last = lines.join('').trim().split('\n').pop();
  return { json: last ? (JSON.parse(last) as T) : null, stderr: errs.join(''), error };
}

/** A pitch predictor's gain ≈ 0.95·tanh(bias) on every frame (a new one's is 0, which no emphasis changes). */
function withGain(model: WaveGlow, bias: number): void {
  model.namedParameters().find(([n]) => n === 'predictor.net.gain.b')![1].assign(tf.tensor1d([bias]));
}

function tone(f0: number, seconds: number): Float32Array {
  const x = new Float32Array(Math.round(seconds * SR));
  for (let i = 0; i < x.length; i++) {
    let s = 0;
    for (let h = 1; h <= 6; h++) s += Math.sin((2 * Math.PI * f0 * h * i) / SR) / h;
    x[i] = 0.2 * s * Math.sin((Math.PI * i) / x.length);
  }
  return x;
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('latent levels and the per-level scale', () => {
  it('levels are the early outputs in the order they leave the flow, then the rest', () => {
    expect(new WaveGlow(preset('cpu-small')).latentLevels()).toEqual([[0, 32], [32, 64], [64, 96], [96, 256]]);
    expect(new WaveGlow(preset('tiny')).latentLevels()).toEqual([[0, 2], [2, 8]]);
    expect(new WaveGlow(preset('waveglow-256')).latentLevels()).toEqual([[0, 2], [2, 4], [4, 8]]);
  });

  it('draws each level at σ·scale from the same normal draw; all ones is no scale', () => {
    const model = new WaveGlow(preset('tiny'));
    const plain = model.drawLatent(1, 8 * 64, 0.6, 5);
    model.setLatentScale([0, 2]);
    const scaled = model.drawLatent(1, 8 * 64, 0.6, 5);
    const p = plain.arraySync()[0]!;
    const s = scaled.arraySync()[0]!;
    for (let t = 0; t < p.length; t++) {
      for (let c = 0; c < 8; c++) expect(c < 2 ? Math.abs(s[t]![c]!) : s[t]![c]).toBe(c < 2 ? 0 : 2 * p[t]![c]!);
    }
    tf.dispose([plain, scaled]);
    model.setLatentScale([1, 1]);
    expect(model.latentScale).toBeNull();
  });

  it('refuses a scale of the wrong length or with negative or non-finite values', () => {
    const model = new WaveGlow(preset('tiny'));
    expect(() => model.setLatentScale([1, 1, 1])).toThrow(/needs 2 values/);
    expect(() => model.setLatentScale([1, -0.5])).toThrow(/≥ 0/);
    expect(() => model.setLatentScale([1, NaN])).toThrow(/finite/);
    expect(model.latentScale).toBeNull();
  });

  it('changes synthesis, not the likelihood; streaming draws the same latent as synthesize', () => {
    const model = new WaveGlow(preset('tiny'), 2);
    randomizeWeights(model, 4);
    const frames = 6;
    const mel = tf.randomNormal([1, frames, 80], -5, 1, 'float32', 3) as tf.Tensor3D;
    const audio = model.synthesize(mel, { sigma: 0.6, seed: 9 });
    const nll0 = model.logProb(audio, mel).dataSync()[0]!;
    model.setLatentScale([0, 1.5]);
    const audio2 = model.synthesize(mel, { sigma: 0.6, seed: 9 });
    expect(tf.max(tf.abs(tf.sub(audio, audio2))).dataSync()[0]).toBeGreaterThan(1e-3);
    expect(model.logProb(audio, mel).dataSync()[0]).toBe(nll0);
    // The server's whole-utterance latent is the one synthesize draws, so chunks stay seamless.
    const z = utteranceLatent(model, frames, 0.6, 9);
    const fromZ = model.synthesize(mel, { z: tf.tensor3d(z, [1, z.length / 8, 8]) });
    expect(Array.from(fromZ.dataSync())).toEqual(Array.from(audio2.dataSync()));
    tf.dispose([mel, audio, audio2, fromZ]);
  });
});

describe('model directory', () => {
  it('keeps the scale through save, load and convert; a bad one is a clear error', async () => {
    const model = new WaveGlow(preset('tiny'), 1);
    model.setLatentScale([0.5, 1]);
    const a = join(dir, 'm-a');
    const settings = { latent_scale: [0.5, 1], latent_scale_source: 'by hand', envelope_iterations: 3, envelope_source: 'also by hand' };
    await saveModelDir(a, model, { source: 'test', synthesis: { ...settings, latent_scale: [9, 9] } });
    const cfg = JSON.parse(readFileSync(join(a, 'config.json'), 'utf8'));
    expect(cfg.synthesis).toEqual(settings); // the model's own scale, not the one passed
    expect((await loadModelDir(a)).model.latentScale).toEqual([0.5, 1]);

    const b = join(dir, 'm-b');
    const conv = await runCli(convert, ['--model', a, '--out', b, '--dtype', 'float32']);
    expect(conv.error).toBeNull();
    expect((await loadModelDir(b)).config.synthesis).toEqual(settings);
    // Without a scale on the model, its source goes too; the envelope setting stays.
    model.setLatentScale(null);
    await saveModelDir(a, model, { synthesis: settings });
    expect((await loadModelDir(a)).config.synthesis).toEqual({ envelope_iterations: 3, envelope_source: 'also by hand' });
    await writeSynthesisSettings(a, { envelope_iterations: 40 });
    await expect(loadModelDir(a)).rejects.toThrow(/synthesis\.envelope_iterations.*integer in \[0, 32\], got 40/);

    await writeSynthesisSettings(b, null);
    expect((await loadModelDir(b)).model.latentScale).toBeNull();
    await writeSynthesisSettings(b, { latent_scale: [1, 1, 1] });
    await expect(loadModelDir(b)).rejects.toThrow(/synthesis\.latent_scale.*needs 2 values/);
    await writeSynthesisSettings(b, { latent_scale: 'zero' as unknown as number[] });
    await expect(loadModelDir(b)).rejects.toThrow(/must be an array of numbers/);
  });
});

describe('coordinate descent', () => {
  // A known objective: the distance to a target on the candidate grid, separable over levels.
  const target = [0, 1.5, 0.5, 1];
  const score = (scale: number[]): TuneScore => {
    const d = scale.reduce((s, v, i) => s + (v - target[i]!) ** 2, 0);
    return { scale: [...scale], mrStft: 1 + d, logMelDb: 10 - d };
  };

  it('finds the minimum of a separable objective in one sweep, then stops', () => {
    const r = coordinateDescent(4, score);
    expect(r.start.scale).toEqual([1, 1, 1, 1]);
    expect(r.best.scale).toEqual(target);
    expect(r.best.mrStft).toBe(1);
    // Sweep 1: 3 candidates per level. Sweep 2 changes nothing and ends the search; it scores only
    // scales not met before: levels 0 and 1 in new contexts, but levels 2 and 3 in the very contexts
    // sweep 1 tried them in ([0, 1.5, ·, 1] and [0, 1.5, 0.5, ·]).
    expect(r.trials.length).toBe(4 * 3 + 2 * 3);
    expect(r.trials.filter((t) => t.sweep === 2).map((t) => t.level)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(new Set(r.trials.map((t) => t.scale.join(','))).size).toBe(r.trials.length);
    for (const t of r.trials) expect(t.scale.filter((v, i) => v !== r.best.scale[i] && i !== t.level).length).toBeLessThanOrEqual(t.sweep === 1 ? 4 : 0);
  });

  it('minimises the chosen metric, and keeps all ones when no change gains more than minGain', () => {
    // log-mel here is 10 − d: minimising it moves away from the target.
    const r = coordinateDescent(4, score, { metric: 'log-mel', sweeps: 1 });
    expect(r.best.logMelDb).toBeLessThan(r.start.logMelDb);
    const flat = coordinateDescent(2, (s) => ({ scale: s, mrStft: 1 - 1e-4 * s[0]!, logMelDb: 0 }), { minGain: 0.002 });
    expect(flat.best.scale).toEqual([1, 1]);
    expect(() => coordinateDescent(2, score, { candidates: [-1] })).toThrow(/≥ 0/);
  });

  it('takes candidates per coordinate (the pitch emphasis has its own)', () => {
    const goal = [0, 1.5, 4];
    const sep = (v: number[]): TuneScore => ({ scale: [...v], mrStft: 1 + v.reduce((s, x, i) => s + (x - goal[i]!) ** 2, 0), logMelDb: 0 });
    const r = coordinateDescent(3, sep, {}, (l) => (l < 2 ? [0, 1, 1.5] : [1, 2, 4]));
    expect(r.best.scale).toEqual(goal);
    expect(r.trials.filter((t) => t.level === 2).every((t) => [2, 4].includes(t.scale[2]!))).toBe(true);
    expect(() => coordinateDescent(2, sep, {}, () => [])).toThrow(/finite values ≥ 0/);
  });

  it('on a model with a pitch predictor: tunes the pitch emphasis too, and leaves the model as found', () => {
    const model = new WaveGlow({ ...preset('tiny'), predictor: { ...DEFAULT_PITCH_PREDICTOR, hidden: 16 } }, 2);
    randomizeWeights(model, 4);
    withGain(model, 0.3);
    model.setPitchEmphasis(1.5);
    const clips = tuneClips([tone(140, 0.5)], TACOTRON_MEL);
    const r = tuneLatentScale(model, clips, TACOTRON_MEL, { candidates: [1], emphasisCandidates: [1, 4], sweeps: 1 });
    expect(model.pitchEmphasis).toBe(1.5);
    expect(r.start).toMatchObject({ scale: [1, 1], pitchEmphasis: 1 });
    expect(r.trials.map((t) => [t.level, t.scale, t.pitchEmphasis])).toEqual([[2, [1, 1], 4]]);
    // The emphasis changes the audio, so its trial scores differently from the start.
    expect(r.trials[0]!.mrStft).not.toBe(r.start.mrStft);
    expect(r.best.pitchEmphasis).toBe(r.trials[0]!.mrStft < r.start.mrStft * 0.998 ? 4 : 1);
    // [1]: the emphasis is not a coordinate, and results carry no pitchEmphasis.
    const fixed = tuneLatentScale(model, clips, TACOTRON_MEL, { candidates: [1], emphasisCandidates: [1], sweeps: 1 });
    expect(fixed.trials).toEqual([]);
    expect(fixed.best.pitchEmphasis).toBeUndefined();
    model.dispose();
  });

  it('on a model: scores with the same seeds (a repeat is identical), never worse than all ones, and leaves the model as found', () => {
    const model = new WaveGlow(preset('tiny'), 2);
    randomizeWeights(model, 4);
    model.setLatentScale([0.5, 0.5]);
    const clips = tuneClips([tone(140, 0.5), tone(220, 0.4)], TACOTRON_MEL);
    const r = tuneLatentScale(model, clips, TACOTRON_MEL, { candidates: [0, 1], sweeps: 1 });
    expect(model.latentScale).toEqual([0.5, 0.5]);
    expect(r.best.mrStft).toBeLessThanOrEqual(r.start.mrStft);
    const again = tuneLatentScale(model, clips, TACOTRON_MEL, { candidates: [0, 1], sweeps: 1 });
    expect(again.trials.map((t) => t.mrStft)).toEqual(r.trials.map((t) => t.mrStft));
    // Scale 0 on every level is σ = 0: the same as synthesising with z = 0.
    const zero = r.trials.find((t) => t.scale.every((v) => v === 0));
    if (zero) expect(zero.mrStft).toBeGreaterThan(0);
  });
});

describe('flowvox tune-latent', () => {
  let modelDir = '';
  let corpus = '';
  beforeAll(async () => {
    modelDir = join(dir, 'cli-model');
    const model = new WaveGlow(preset('tiny'), 6);
    randomizeWeights(model, 6);
    await saveModelDir(modelDir, model, { source: 'test' });
    corpus = join(dir, 'wavs');
    mkdirSync(corpus, { recursive: true });
    writeFileSync(join(corpus, 'a.wav'), encodeWav(tone(130, 0.6), SR, { bitDepth: '16' }));
    writeFileSync(join(corpus, 'b.wav'), encodeWav(tone(200, 0.5), SR, { bitDepth: '16' }));
  });

  it('reports the search, writes the scale with --write, and evaluate then uses it (or --latent-scale 1)', async () => {
    const r = await runCli<TuneLatentJson>(tuneLatent, ['--model', modelDir, '--data', corpus, '--seconds', '0.5', '--values', '0,2', '--sweeps', '1', '--write']);
    expect(r.error).toBeNull();
    const j = r.json!;
    expect(j.files).toBe(2);
    expect(j.split).toBeNull();
    expect(j.levels).toEqual([[0, 2], [2, 8]]);
    expect(j.start.scale).toEqual([1, 1]);
    expect(j.trials.length).toBe(2 * 2);
    expect(j.trials.map((t) => t.level)).toEqual([0, 0, 1, 1]);
    expect(j.best.mrStft).toBeLessThanOrEqual(j.start.mrStft);
    expect(j.written).toBe(true);
    const cfg = (await loadModelDir(modelDir)).config;
    expect(cfg.synthesis?.latent_scale).toEqual(j.best.scale);
    expect(cfg.synthesis?.latent_scale_source).toMatch(/tune-latent .*mr-stft/);

    const ev = await runCli<EvaluateJson>(evaluate, ['--model', modelDir, '--data', corpus, '--seconds', '0.5']);
    expect(ev.json!.latentScale).toEqual(j.best.scale.every((v) => v === 1) ? null : j.best.scale);
    const ones = await runCli<EvaluateJson>(evaluate, ['--model', modelDir, '--data', corpus, '--seconds', '0.5', '--latent-scale', '1']);
    expect(ones.json!.latentScale).toBeNull();
    // Evaluate's copy-synthesis at all ones is tune-latent's starting point (same seeds, same clips).
    const mean = (e: EvaluateJson) => e.perFile.reduce((s, f) => s + f.model.mrStft, 0) / e.perFile.length;
    expect(mean(ones.json!)).toBeCloseTo(j.start.mrStft, 4);
  });

  it('a predictor model: tune-latent --write stores the pitch emphasis, evaluate reports it; models without one refuse it', async () => {
    const pitchDir = join(dir, 'pitch-model');
    const pm = new WaveGlow({ ...preset('tiny'), predictor: { ...DEFAULT_PITCH_PREDICTOR, hidden: 16 } }, 6);
    randomizeWeights(pm, 6);
    withGain(pm, 0.3);
    await saveModelDir(pitchDir, pm, { source: 'test' });
    pm.dispose();
    const r = await runCli<TuneLatentJson>(tuneLatent, ['--model', pitchDir, '--data', corpus, '--seconds', '0.5', '--values', '1', '--emphasis-values', '1,5', '--sweeps', '1', '--write']);
    expect(r.error).toBeNull();
    expect(r.json!.trials.map((t) => t.pitchEmphasis)).toEqual([5]);
    const best = r.json!.best.pitchEmphasis!;
    const cfg = (await loadModelDir(pitchDir)).config;
    expect(cfg.synthesis?.pitch_emphasis).toBe(best === 1 ? undefined : best);
    expect(cfg.synthesis?.latent_scale_source).toMatch(/pitch emphasis .* over 1, 5/);
    const ev = await runCli<EvaluateJson>(evaluate, ['--model', pitchDir, '--data', corpus, '--seconds', '0.5', '--pitch-emphasis', '5']);
    expect(ev.json!.pitchEmphasis).toBe(5);
    // tune-latent's emphasis-5 trial is evaluate's copy-synthesis at 5 (same seeds, same clips); the NLL ignores it.
    const mean = (e: EvaluateJson) => e.perFile.reduce((s, f) => s + f.model.mrStft, 0) / e.perFile.length;
    expect(mean(ev.json!)).toBeCloseTo(r.json!.trials[0]!.mrStft, 4);
    const plain = await runCli<EvaluateJson>(evaluate, ['--model', pitchDir, '--data', corpus, '--seconds', '0.5', '--pitch-emphasis', '1']);
    expect(plain.json!.nllNatsPerSample).toBe(ev.json!.nllNatsPerSample);
    const refused = await runCli(evaluate, ['--model', modelDir, '--data', corpus, '--pitch-emphasis', '2']);
    expect(refused.error?.message).toMatch(/--pitch-emphasis: pitch emphasis needs a model with a pitch predictor/);
    const refusedTune = await runCli(tuneLatent, ['--model', modelDir, '--data', corpus, '--emphasis-values', '1,2']);
    expect(refusedTune.error?.message).toMatch(/--emphasis-values: the model has no pitch predictor/);
  });

  it('calibrate-voicing refits the voicing call in the weights\' precision; the NLL and the settings stay', async () => {
    const src = join(dir, 'voicing-src'), out = join(dir, 'voicing-model');
    const pm = new WaveGlow({ ...preset('tiny'), predictor: { ...DEFAULT_PITCH_PREDICTOR, hidden: 16 } }, 6);
    randomizeWeights(pm, 6);
    withGain(pm, 0.3);
    pm.setPitchEmphasis(4);
    await saveModelDir(src, pm, { source: 'test' });
    pm.dispose();
    expect((await runCli(convert, ['--model', src, '--out', out, '--dtype', 'float16'])).error).toBeNull();
    // Tones and noise: a new net calls every frame voiced.
    const wavs = join(dir, 'voicing-wavs');
    mkdirSync(wavs, { recursive: true });
    const rand = mulberry32(3);
    const noise = () => Float32Array.from({ length: SR }, () => (rand() - 0.5) * 0.3);
    for (let i = 0; i < 8; i++) writeFileSync(join(wavs, `c${i}.wav`), encodeWav(i % 2 ? noise() : tone(110 + 30 * i, 1), SR, { bitDepth: '16' }));
    const nll = async () => (await runCli<EvaluateJson>(evaluate, ['--model', out, '--data', wavs, '--seconds', '0.5'])).json!.nllNatsPerSample;
    const before = await nll();
    const r = await runCli<CalibrateVoicingJson>(calibrateVoicing, ['--model', out, '--data', wavs, '--batches', '4']);
    expect(r.error).toBeNull();
    expect(r.json!.frames).toBe(4 * 16 * 32);
    expect(r.json!.vuErrorBefore).toBeGreaterThan(0.2);
    expect(r.json!.vuErrorAfter).toBeLessThan(r.json!.vuErrorBefore);
    expect(r.json!.logLossAfter).toBeLessThan(r.json!.logLossBefore);
    expect(readFileSync(join(out, 'weights.json'), 'utf8')).toMatch(/"float16"/);
    const cfg = (await loadModelDir(out)).config;
    expect(cfg.synthesis?.pitch_emphasis).toBe(4);
    expect(cfg.source).toBe('test');
    expect(await nll()).toBe(before);
    expect((await runCli(calibrateVoicing, ['--model', modelDir, '--data', wavs])).error?.message).toMatch(/has no pitch predictor/);
    expect((await runCli(calibrateVoicing, ['--model', out])).error?.message).toMatch(/--data DIR is required/);
    expect((await runCli(calibrateVoicing, ['--model', out, '--data', join(dir, 'nowhere')])).error?.message).toMatch(/is not a directory/);
  });

  it('evaluate and tune-latent skip a broken or too-short WAV, say so, and score the rest', async () => {
    const mixed = join(dir, 'mixed');
    mkdirSync(mixed, { recursive: true });
    writeFileSync(join(mixed, 'a.wav'), encodeWav(tone(130, 0.6), SR, { bitDepth: '16' }));
    writeFileSync(join(mixed, 'broken.wav'), 'RIFF....WAVE but not really');
    writeFileSync(join(mixed, 'c.wav'), encodeWav(tone(200, 0.5), SR, { bitDepth: '16' }));
    writeFileSync(join(mixed, 'tiny.wav'), encodeWav(tone(200, 0.01), SR, { bitDepth: '16' }));
    const ev = await runCli<EvaluateJson>(evaluate, ['--model', modelDir, '--data', mixed, '--seconds', '0.5']);
    expect(ev.error).toBeNull();
    expect(ev.json!.files).toBe(2);
    expect(ev.json!.perFile.map((f) => f.id)).toEqual(['a', 'c']);
    expect(ev.json!.skipped.map((f) => f.id)).toEqual(['broken', 'tiny']);
    expect(ev.json!.skipped[1]!.reason).toMatch(/221 samples, needs 2048/);
    expect(ev.stderr).toMatch(/evaluate: skipping broken \(/);
    const tl = await runCli<TuneLatentJson>(tuneLatent, ['--model', modelDir, '--data', mixed, '--seconds', '0.5', '--values', '1', '--sweeps', '1']);
    expect(tl.error).toBeNull();
    expect(tl.json!.files).toBe(2);
    expect(tl.stderr).toMatch(/tune-latent: skipping broken \(/);
    const bad = join(dir, 'only-broken');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'broken.wav'), 'nope');
    const none = await runCli<EvaluateJson>(evaluate, ['--model', modelDir, '--data', bad]);
    expect(none.error?.message).toMatch(/none of the 1 files could be evaluated \(first: broken: .*not a WAV file/);
  });

  it('--envelope: tune-latent scores under it and --write stores it; evaluate and synthesize follow the model, or the flag', async () => {
    const envDir = join(dir, 'env-model');
    await saveModelDir(envDir, (await loadModelDir(modelDir)).model, { source: 'test' });
    const r = await runCli<TuneLatentJson>(tuneLatent, ['--model', envDir, '--data', corpus, '--seconds', '0.5', '--values', '1', '--sweeps', '1', '--envelope', '2', '--write']);
    expect(r.error).toBeNull();
    expect(r.json!.envelopeIterations).toBe(2);
    const cfg = (await loadModelDir(envDir)).config;
    expect(cfg.synthesis?.envelope_iterations).toBe(2);
    expect(cfg.synthesis?.latent_scale_source).toMatch(/--envelope 2/);
    const withEnv = await runCli<EvaluateJson>(evaluate, ['--model', envDir, '--data', corpus, '--seconds', '0.5']);
    const without = await runCli<EvaluateJson>(evaluate, ['--model', envDir, '--data', corpus, '--seconds', '0.5', '--envelope', '0']);
    expect(withEnv.json!.envelopeIterations).toBe(2);
    expect(without.json!.envelopeIterations).toBe(0);
    // tune-latent's start (all ones, envelope 2) is evaluate's copy-synthesis with the model's setting.
    const mean = (e: EvaluateJson) => e.perFile.reduce((s, f) => s + f.model.mrStft, 0) / e.perFile.length;
    expect(mean(withEnv.json!)).toBeCloseTo(r.json!.start.mrStft, 4);
    // The envelope pulls the copy-synthesis's log-mel towards the original's.
    expect(withEnv.json!.model.logMelDb).toBeLessThan(without.json!.model.logMelDb);
    expect(withEnv.json!.nllNatsPerSample).toBe(without.json!.nllNatsPerSample);
    const wav = join(corpus, 'a.wav');
    const outs = await Promise.all(['model', '0'].map(async (e) => {
      const out = join(dir, `env-${e}.wav`);
      const s = await runCli(synthesize, ['--model', envDir, '--wav', wav, '--out', out, '--seed', '1', ...(e === '0' ? ['--envelope', '0'] : [])]);
      expect(s.error).toBeNull();
      return readFileSync(out);
    }));
    expect(Buffer.compare(outs[0]!, outs[1]!)).not.toBe(0);
    // Writing without --envelope keeps the stored setting; --envelope 0 removes it.
    await runCli(tuneLatent, ['--model', envDir, '--data', corpus, '--seconds', '0.5', '--values', '1', '--sweeps', '1', '--write']);
    expect((await loadModelDir(envDir)).config.synthesis?.envelope_iterations).toBe(2);
    await runCli(tuneLatent, ['--model', envDir, '--data', corpus, '--seconds', '0.5', '--values', '1', '--sweeps', '1', '--envelope', '0', '--write']);
    expect((await loadModelDir(envDir)).config.synthesis?.envelope_iterations).toBeUndefined();
    const bad = await runCli(evaluate, ['--model', envDir, '--data', corpus, '--envelope', '99']);
    expect(bad.error?.message).toMatch(/--envelope must be an integer in \[0, 32\]/);
  });

  it('synthesize --chunk-frames: a long mel goes chunk by chunk, with progress, and gives one pass\'s audio', async () => {
    const wav = join(corpus, 'a.wav');
    const run = async (cf: string) => {
      const out = join(dir, `chunked-${cf}.wav`);
      const s = await runCli<{ chunks: number; samples: number }>(synthesize, ['--model', modelDir, '--wav', wav, '--out', out, '--seed', '4', '--envelope', '2', '--chunk-frames', cf]);
      expect(s.error).toBeNull();
      return { ...s, audio: decodeWav(readFileSync(out)).samples };
    };
    const [one, chunked] = [await run('0'), await run('5')];
    expect(one.json!.chunks).toBe(1);
    expect(chunked.json!.chunks).toBe(Math.ceil(one.json!.samples / TACOTRON_MEL.hop / 5));
    expect(chunked.stderr).toMatch(/synthesize \[/);
    expect(chunked.audio.length).toBe(one.audio.length);
    let d = 0;
    for (let i = 0; i < one.audio.length; i++) d = Math.max(d, Math.abs(one.audio[i]! - chunked.audio[i]!));
    expect(d).toBeLessThanOrEqual(2 / 32768); // 16-bit output: at most a rounding step apart
    const bad = await runCli(synthesize, ['--model', modelDir, '--wav', wav, '--out', join(dir, 'x.wav'), '--chunk-frames', '-1']);
    expect(bad.error?.message).toMatch(/--chunk-frames/);
  });

  it('the card states the scale, where it came from, and the evaluation it was measured with', async () => {
    await writeSynthesisSettings(modelDir, { latent_scale: [0, 1.5], latent_scale_source: 'flowvox tune-latent (test)' });
    const ev = await runCli<EvaluateJson>(evaluate, ['--model', modelDir, '--data', corpus, '--seconds', '0.5']);
    expect(ev.json!.latentScale).toEqual([0, 1.5]);
    writeFileSync(join(dir, 'eval-ls.json'), JSON.stringify(ev.json));
    const run = join(dir, 'run-ls');
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'train-log.csv'), 'step,hours,train_loss,train_nll,val_nll,lr,audio_s_per_s\n10,0.01,-1,-0.1,-0.2,1e-3,2\n');
    const r = await runCli(card, ['--run', run, '--model', modelDir, '--eval', join(dir, 'eval-ls.json'), '--out', join(dir, 'card-ls')]);
    expect(r.error).toBeNull();
    const md = readFileSync(join(dir, 'card-ls', 'card.md'), 'utf8');
    expect(md).toContain('copy-synthesis (σ = 0.6 × [0, 1.5] per latent level)');
    expect(md).toContain('early output 1 (z channels 0–1) × 0, final (z channels 2–7) × 1.5');
    expect(md).toContain('chosen by flowvox tune-latent (test)');
    expect(md).toContain('`--latent-scale 1`');

    // With envelope matching: the flow alone and the filter on noise stand beside the model, and the card says so.
    await writeSynthesisSettings(modelDir, { latent_scale: [0, 1.5], envelope_iterations: 3, envelope_source: 'test setting' });
    const env = await runCli<EvaluateJson>(evaluate, ['--model', modelDir, '--data', corpus, '--seconds', '0.5']);
    const e = env.json!;
    expect(e.envelopeIterations).toBe(3);
    expect(e.flowAlone).toBeDefined();
    expect(e.noiseEnvelope).toBeDefined();
    expect(e.perFile[0]!.flowAlone).toBeDefined();
    expect(e.periodicity.flowAlone).toBeGreaterThanOrEqual(0);
    // The flow alone is what the same evaluation gives with --envelope 0.
    const off = await runCli<EvaluateJson>(evaluate, ['--model', modelDir, '--data', corpus, '--seconds', '0.5', '--envelope', '0']);
    expect(e.flowAlone!.mrStft).toBeCloseTo(off.json!.model.mrStft, 4);
    expect(off.json!.flowAlone).toBeUndefined();
    writeFileSync(join(dir, 'eval-env.json'), JSON.stringify(e));
    const r2 = await runCli(card, ['--run', run, '--model', modelDir, '--eval', join(dir, 'eval-env.json'), '--out', join(dir, 'card-env')]);
    expect(r2.error).toBeNull();
    const md2 = readFileSync(join(dir, 'card-env', 'card.md'), 'utf8');
    expect(md2).toContain('then 3 iterations of mel-envelope matching) | the flow alone (before envelope matching) | random-phase audio with the same mel, same envelope matching | Griffin-Lim');
    expect(md2).toContain('These numbers include the post-filter (3 iterations of mel-envelope matching');
    expect(md2).toContain('Synthesis ends with 3 iterations of mel-envelope matching (config.json "synthesis", test setting');
    await writeSynthesisSettings(modelDir, { latent_scale: [0, 1.5], latent_scale_source: 'flowvox tune-latent (test)' });
  });

  it('refuses bad options with a clear error', async () => {
    const bad = await runCli(evaluate, ['--model', modelDir, '--data', corpus, '--latent-scale', '1,2,3']);
    expect(bad.error?.message).toMatch(/--latent-scale: .*needs 2 values/);
    const word = await runCli(evaluate, ['--model', modelDir, '--data', corpus, '--latent-scale', 'low']);
    expect(word.error?.message).toMatch(/--latent-scale must be comma-separated numbers in \[0, Infinity\]/);
    const metric = await runCli(tuneLatent, ['--model', modelDir, '--data', corpus, '--metric', 'pesq']);
    expect(metric.error?.message).toMatch(/--metric must be mr-stft or log-mel/);
    const values = await runCli(tuneLatent, ['--model', modelDir, '--data', corpus, '--values', '0,-1']);
    expect(values.error?.message).toMatch(/--values must be/);
  });
});
