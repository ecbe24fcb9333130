/** evaluate / card / export-samples on a tiny random-weights model and generated harmonic tones. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { readNpy } from '../src/dsp/npy.js';
import { frameLockedShare } from '../src/dsp/metrics.js';
import { saveModelDir } from '../src/io/model-dir.js';
import { decodeWav, encodeWav } from '../src/io/wav.js';
import { preset } from '../src/vocoder/presets.js';
import { WaveGlow } from '../src/vocoder/waveglow.js';
import { distances, pickEvenly, selectSamples, summarize, type ClipEvaluation } from '../src/vocoder/evaluate.js';
import { command as evaluate, type EvaluateJson } from '../src/cli/commands/evaluate.js';
import { command as card, curveRows, recipeLine } from '../src/cli/commands/card.js';
import { command as exportSamples, type SampleIndex } from '../src/cli/commands/export-samples.js';

const SR = 22050;
const dir = mkdtempSync(join(tmpdir(), 'flowvox-eval-'));
const wavs = join(dir, 'wavs');
const corpus = join(dir, 'corpus');
const modelDir = join(dir, 'model');

async function runJson<T>(cmd: { run(a: string[]): Promise<number | void> }, args: string[]): Promise<T> {
  const lines: string[] = [];
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    lines.push(String(s));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await cmd.run([...args, '--json', '--backend', 'wasm']);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return JSON.parse(lines.join('').trim().split('\n').pop()!) as T;
}

/** A vowel-like tone: f0 with vibrato, 8 harmonics falling 6 dB/octave, a smooth envelope. */
function tone(f0: number, seconds: number): Float32Array {
  const x = new Float32Array(Math.round(seconds * SR));
  for (let i = 0; i < x.length; i++) {
    const t = i / SR;
    const f = f0 + 4 * Math.sin(2 * Math.PI * 5 * t);
    let s = 0;
    for (let h = 1; h <= 8; h++) s += Math.sin(2 * Math.PI * f * h * t) / h;
    x[i] = 0.2 * s * Math.sin((Math.PI * i) / x.length);
  }
  return x;
}

function noiseLike(ref: Float32Array, seed = 7): Float32Array {
  let s = seed;
  const rms = Math.sqrt(ref.reduce((a, v) => a + v * v, 0) / ref.length);
  return Float32Array.from(ref, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return rms * Math.sqrt(3) * (2 * (s / 2 ** 32) - 1);
  });
}

beforeAll(async () => {
  await initBackend('wasm');
  await saveModelDir(modelDir, new WaveGlow(preset('tiny'), 3), { source: 'test: random tiny' });
  mkdirSync(join(wavs, 'a'), { recursive: true });
  writeFileSync(join(wavs, 'a', 'low.wav'), encodeWav(tone(130, 1.2), SR, { bitDepth: '16' }));
  writeFileSync(join(wavs, 'high.wav'), encodeWav(tone(210, 1.0), SR, { bitDepth: '16' }));
  // A corpus with a manifest: test holds one file per language, train one more that must not be used.
  const files = [
    { path: 'cs/x.wav', split: 'test', lang: 'cs', f0: 120, seconds: 2.4 },
    { path: 'nl/y.wav', split: 'test', lang: 'nl', f0: 190, seconds: 2.2 },
    { path: 'nl/z.wav', split: 'test', lang: 'nl', f0: 150, seconds: 0.6 },
    { path: 'cs/t.wav', split: 'train', lang: 'cs', f0: 100, seconds: 1 },
  ];
  for (const f of files) {
    mkdirSync(join(corpus, f.lang), { recursive: true });
    writeFileSync(join(corpus, f.path), encodeWav(tone(f.f0, f.seconds), SR, { bitDepth: '16' }));
  }
  const manifest = {
    source: [{ package: 'fillets-ng-data-cs', version: '1.0.1-1.1', licence: 'GPL-2', url: 'Debian' }],
    sampleRate: SR, createdBy: 'flowvox data speech', seed: 1, unseenSpeakers: [], thresholds: {},
    splits: { train: { files: 1, seconds: 1 }, validation: { files: 0, seconds: 0 }, test: { files: 3, seconds: 5.2 }, 'test-unseen': { files: 0, seconds: 0 } },
    files: files.map(({ f0: _f0, ...f }) => ({ ...f, peak: 0.5, rms: 0.1 })),
    dropped: [],
  };
  writeFileSync(join(corpus, 'manifest.json'), JSON.stringify(manifest));
});

describe('metrics core', () => {
  it('is 0 for identical audio, and Griffin-Lim-like noise is far from a tone', () => {
    const a = tone(150, 1);
    const same = distances(a, a);
    expect(same.logMelDb).toBe(0);
    expect(same.mcd).toBe(0);
    expect(same.mrStft).toBeCloseTo(0, 12);
    const noise = distances(a, noiseLike(a));
    expect(noise.logMelDb).toBeGreaterThan(5);
    expect(noise.mrStft).toBeGreaterThan(0.5);
  });

  it('summarises: sample-weighted NLL, mean metrics, ratio, median speed, targets', () => {
    const m = (v: number) => ({ logMelDb: v, mcd: v, mrStft: v });
    const clip = (nll: number, n: number, model: number, gl: number, x: number): ClipEvaluation => ({ id: 'c', seconds: n / SR, nllNatsPerSample: nll, nllSamples: n, model: m(model), griffinLim: m(gl), xRealTime: x, frameLocked: { original: 0.1, model: model / 10, griffinLim: 0.2 }, periodicity: { voicedFrames: n / 100, original: 0.9, model: model / 10, griffinLim: 0.8, noise: 0.3, unvoiced: { frames: n / 50, original: 0.3, model: model / 20, griffinLim: 0.3 } } });
    const s = summarize([clip(1, 100, 2, 2, 10), clip(4, 300, 4, 2, 30), clip(0, 100, 3, 2, 20)]);
    expect(s.nllNatsPerSample).toBeCloseTo((100 + 1200) / 500, 12);
    expect(s.model.logMelDb).toBeCloseTo(3, 12);
    expect(s.ratio.mrStft).toBeCloseTo(1.5, 12);
    expect(s.xRealTime).toBe(20);
    expect(s.frameLocked.model).toBeCloseTo(0.3, 12);
    // periodicity pools voiced frames: (1·0.2 + 3·0.4 + 1·0.3) / 5
    expect(s.periodicity.voicedFrames).toBe(5);
    expect(s.periodicity.model).toBeCloseTo(1.7 / 5, 12);
    expect(s.periodicity.noise).toBeCloseTo(0.3, 12);
    // and unvoiced frames apart: (2·0.1 + 6·0.2 + 2·0.15) / 10
    expect(s.periodicity.unvoiced!.frames).toBe(10);
    expect(s.periodicity.unvoiced!.model).toBeCloseTo(0.17, 12);
    expect(s.periodicity.unvoiced!.flowAlone).toBeUndefined();
    expect(s.targets).toEqual({ logMelWithin1p5xGL: true, beatsGLonMrStft: false });
  });

  it('picks evenly and selects samples deterministically, languages in turn, 2–5 s first', () => {
    expect(pickEvenly([0, 1, 2, 3, 4, 5], 3)).toEqual([0, 2, 4]);
    const c = [
      { id: 'cs/a', lang: 'cs', seconds: 3 }, { id: 'cs/b', lang: 'cs', seconds: 9 }, { id: 'cs/c', lang: 'cs', seconds: 2.5 },
      { id: 'nl/a', lang: 'nl', seconds: 1 }, { id: 'nl/b', lang: 'nl', seconds: 4 },
    ];
    const pick = selectSamples(c, 3);
    expect(pick.map((p) => p.lang)).toEqual(['cs', 'nl', 'cs']);
    expect(pick.every((p) => p.seconds >= 2 && p.seconds <= 5)).toBe(true);
    expect(selectSamples([...c].reverse(), 3)).toEqual(pick);
  });
});

describe('flowvox evaluate', () => {
  let res: EvaluateJson;
  beforeAll(async () => {
    res = await runJson<EvaluateJson>(evaluate, ['--model', modelDir, '--data', wavs, '--out', join(dir, 'eval.json')]);
  });

  it('reports finite metrics for both files with the documented JSON shape', () => {
    expect(res.files).toBe(2);
    expect(res.split).toBeNull(); // a plain folder
    expect(res.backend).toBe('wasm');
    expect(res.perFile.map((f) => f.id).sort()).toEqual(['a/low', 'high']);
    for (const k of ['logMelDb', 'mcd', 'mrStft'] as const) {
      for (const v of [res.model[k], res.griffinLim[k], res.ratio[k]]) expect(Number.isFinite(v) && v > 0).toBe(true);
      expect(res.ratio[k]).toBeCloseTo(res.model[k] / res.griffinLim[k], 2);
    }
    expect(Number.isFinite(res.nllNatsPerSample)).toBe(true);
    expect(res.xRealTime).toBeGreaterThan(0);
    expect(typeof res.targets.logMelWithin1p5xGL).toBe('boolean');
    expect(typeof res.targets.beatsGLonMrStft).toBe('boolean');
    expect(res.audioSeconds).toBeCloseTo(2.2, 2);
    // Harmonics: the tones are voiced throughout (their vibrato keeps r below 1). Griffin-Lim keeps
    // most of their periodicity; random phases with the same mel keep less (the mel resolves the low
    // harmonics, so not none); an untrained model's output is white-noise-like (≈ 0.09).
    const p = res.periodicity;
    expect(p.voicedFrames).toBe(res.perFile.reduce((s, f) => s + f.periodicity.voicedFrames, 0));
    expect(p.voicedFrames).toBeGreaterThan(50);
    expect(p.original).toBeGreaterThan(0.8);
    expect(p.griffinLim).toBeGreaterThan(p.noise + 0.1);
    expect(p.model).toBeLessThan(0.2);
    expect(p.unvoiced!.frames).toBe(res.perFile.reduce((s, f) => s + f.periodicity.unvoiced!.frames, 0));
    expect(JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8'))).toEqual(res);
  });

  it('is reproducible: a second run gives the same numbers for every file (the card relies on it)', async () => {
    const again = await runJson<EvaluateJson>(evaluate, ['--model', modelDir, '--data', wavs]);
    const numbers = (r: EvaluateJson) => r.perFile.map((f) => [f.id, f.nllNatsPerSample, f.model, f.griffinLim]);
    expect(numbers(again)).toEqual(numbers(res));
  });

  it('frame-locked pattern share: 1 for a signal repeating every hop, chance level for noise, the pattern\'s share in a mix', () => {
    const hop = 256;
    const pattern = Float32Array.from({ length: hop }, (_, i) => Math.sin((2 * Math.PI * 3 * i) / hop));
    const periodic = Float32Array.from({ length: 400 * hop }, (_, i) => pattern[i % hop]!);
    expect(frameLockedShare(periodic, hop)).toBeCloseTo(1, 6);
    const noise = noiseLike(periodic);
    expect(frameLockedShare(noise, hop)).toBeGreaterThan(0.5 / Math.sqrt(400));
    expect(frameLockedShare(noise, hop)).toBeLessThan(2 / Math.sqrt(400));
    // pattern RMS 0.707 against noise RMS r: the share is ≈ 0.707 / sqrt(0.5 + r²).
    const r = Math.sqrt(noise.reduce((s, v) => s + v * v, 0) / noise.length);
    const mix = Float32Array.from(periodic, (v, i) => v + noise[i]!);
    expect(frameLockedShare(mix, hop)).toBeCloseTo(Math.SQRT1_2 / Math.sqrt(0.5 + r * r), 1);
    expect(frameLockedShare(new Float32Array(hop * 2), hop)).toBe(0);
    expect(() => frameLockedShare(new Float32Array(10), hop)).toThrow(/shorter than one period/);
    // Every evaluation reports it, for the original at chance level.
    for (const c of res.perFile) expect(c.frameLocked.original).toBeLessThan(0.5);
    expect(Number.isFinite(res.frameLocked.model)).toBe(true);
  });

  it('Griffin-Lim beats a noise baseline (sanity of the baseline and the metrics)', () => {
    const a = decodeWav(new Uint8Array(readFileSync(join(wavs, 'high.wav')))).samples;
    const noise = distances(a, noiseLike(a));
    const gl = res.perFile.find((f) => f.id === 'high')!.griffinLim;
    expect(gl.logMelDb).toBeLessThan(noise.logMelDb / 2);
    expect(gl.mrStft).toBeLessThan(noise.mrStft);
    expect(gl.mcd).toBeLessThan(noise.mcd);
  });

  it('NLL matches flowvox likelihood on the same file', async () => {
    const { command: likelihood } = await import('../src/cli/commands/likelihood.js');
    const l = await runJson<{ nllNatsPerSample: number }>(likelihood, ['--model', modelDir, '--wav', join(wavs, 'high.wav')]);
    expect(res.perFile.find((f) => f.id === 'high')!.nllNatsPerSample).toBeCloseTo(l.nllNatsPerSample, 4);
  });

  it('reads the split of a corpus manifest and honours --max-files and --seconds', async () => {
    const r = await runJson<EvaluateJson>(evaluate, ['--model', modelDir, '--data', corpus, '--max-files', '2', '--seconds', '0.5']);
    expect(r.split).toBe('test');
    expect(r.files).toBe(2);
    expect(r.perFile.every((f) => f.id !== 'cs/t' && f.seconds <= 0.5 + 1e-9)).toBe(true);
    await expect(runJson(evaluate, ['--model', modelDir, '--data', corpus, '--split', 'nope'])).rejects.toThrow(/--split must be one of/);
  });
});

describe('flowvox card', () => {
  it('names the model a run started from (--init-from) in the recipe line', () => {
    expect(recipeLine({ segment: 8192, batch: 16, initFrom: { dir: 'runs/x/last', source: 'flowvox train step 64131', grown: true } }))
      .toBe('Maximum likelihood on random 8192-sample segments, batch 16; started from flowvox train step 64131, its WN networks grown to this width/depth with the function unchanged.');
    expect(recipeLine({ segment: 8192, batch: 16, initFrom: { dir: 'runs/x/last', grown: false } })).toContain('; started from runs/x/last.');
  });

  it('writes card.md with the given numbers, learning curves and the training log', async () => {
    const run = join(dir, 'run');
    mkdirSync(run, { recursive: true });
    const log = ['step,hours,train_loss,train_nll,val_nll,lr,audio_s_per_s', '50,0.1000,-1.0,-0.0811,,1e-4,2.5', '100,0.2000,-2.0,-1.0811,-1.2345,2e-4,2.6', '150,0.3000,-2.5,-1.5811,,3e-4,2.7', '200,0.4321,,,-1.7654,,'].join('\n') + '\n';
    writeFileSync(join(run, 'train-log.csv'), log);
    writeFileSync(join(run, 'run.json'), JSON.stringify({ elapsedSeconds: 0.4321 * 3600, batch: 8, segment: 16384, lr: 0.001, warmup: 100, clip: 10, ema: { decay: 0.9995, startStep: 120 } }));
    writeFileSync(`${run}.log`, 'flowvox: backend wasm (available: wasm, cpu)\n');
    const evalJson = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8')) as EvaluateJson;
    const e = { ...evalJson, split: 'test', data: corpus, model: { logMelDb: 9.8765, mcd: 12.345, mrStft: 2.4681 }, griffinLim: { logMelDb: 3.1111, mcd: 7.2222, mrStft: 1.3333 }, xRealTime: 17.25 };
    writeFileSync(join(dir, 'eval-test.json'), `progress noise\n${JSON.stringify(e)}\n`); // captured stdout works too
    const out = join(dir, 'card');
    const r = await runJson<{ iterations: number; bestValNll: number; testNll: number; targets: { logMelWithin1p5xGL: boolean } }>(card, ['--run', run, '--model', modelDir, '--eval', join(dir, 'eval-test.json'), '--out', out, '--harmonics', 'no harmonic lines (test)', '--note', 'Restarted with recipe E (test note).']);
    expect(r.iterations).toBe(200);
    expect(r.bestValNll).toBeCloseTo(-1.7654, 6);
    expect(r.testNll).toBe(evalJson.nllNatsPerSample);
    expect(r.targets.logMelWithin1p5xGL).toBe(false);
    const md = readFileSync(join(out, 'card.md'), 'utf8');
    for (const s of ['| 200 |', '0.43 h', 'wasm', '-1.7654', '9.88', '3.11', '| 3.17 |', '2.468', '1.333', '| 1.85 |', '17.3', 'GPL-2', 'Fish Fillets NG', 'fillets-ng-data-cs', 'not met', '4.67 dB', 'no harmonic lines (test). Measured periodicity', `over the original's ${evalJson.periodicity.voicedFrames} voiced frames: model ${evalJson.periodicity.model.toFixed(3)}`, 'tiny', 'Restarted with recipe E (test note).', 'Frame-locked pattern share',
      'random 16384-sample segments, batch 8; Adam, learning rate 0.001 after 100 warm-up steps; gradient norm clipped at 10; validated and shipped as an exponential moving average of the parameters (decay 0.9995 per step, from step 120).']) {
      expect(md).toContain(s);
    }
    // The learning-curve table: every validation point of this short log, the best marked.
    expect(md).toContain('| 100 | 0.20 | -1.234 |');
    expect(md).toContain('| 200 | 0.43 | -1.765 (best) |');
    expect(md).toContain('scripts/publish-default-voice.sh');
    expect(readFileSync(join(out, 'train-log.csv'), 'utf8')).toBe(log);
    const png = readFileSync(join(out, 'learning-curves.png'));
    expect([...png.subarray(1, 4)].map((b) => String.fromCharCode(b)).join('')).toBe('PNG');
  });
});

describe('card: the learning-curve table', () => {
  it('keeps at most n points spread in time, always the first, the best and the last', () => {
    const rows = Array.from({ length: 100 }, (_, i) => ({ step: 10 * i, hours: i / 10, trainNll: NaN, valNll: i === 37 ? -9 : -i / 100, audioPerSecond: NaN }));
    const got = curveRows(rows, 12);
    expect(got.length).toBeLessThanOrEqual(12);
    expect(got.length).toBeGreaterThanOrEqual(10);
    expect(got[0]).toBe(rows[0]);
    expect(got.at(-1)).toBe(rows[99]);
    expect(got).toContain(rows[37]);
    expect(got.map((r) => r.step)).toEqual([...got.map((r) => r.step)].sort((a, b) => a - b));
    expect(curveRows(rows.slice(0, 5), 12)).toEqual(rows.slice(0, 5));
  });
});

describe('flowvox export-samples', () => {
  it('writes every file index.json lists, preferring 2–5 s clips of both languages', async () => {
    const out = join(dir, 'audio');
    const r = await runJson<{ samples: number; bytes: number }>(exportSamples, ['--model', modelDir, '--data', corpus, '--count', '2', '--seconds', '1', '--out', out]);
    expect(r.samples).toBe(2);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as SampleIndex;
    expect(index.samples.map((s) => s.id)).toEqual(['cs-x', 'nl-y']);
    for (const s of index.samples) {
      expect(s.text).toBeNull();
      expect(s.seconds).toBeCloseTo(1, 3);
      for (const f of Object.values(s.files)) expect(existsSync(join(out, f))).toBe(true);
      const mel = readNpy(new Uint8Array(readFileSync(join(out, s.files.mel))));
      expect(mel.shape).toEqual([80, Math.floor(SR / 256) + 1]);
      for (const w of [s.files.original, s.files.copy, s.files.griffinLim]) {
        const d = decodeWav(new Uint8Array(readFileSync(join(out, w))));
        expect(d.bitDepth).toBe(16);
        expect(d.samples.length).toBe(SR);
      }
    }
    expect(r.bytes).toBeLessThan(600_000);
  });
});
