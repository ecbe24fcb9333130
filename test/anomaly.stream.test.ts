/**
 * The streaming scorer against scoreAudio on the whole signal: same segments, same scores (to
 * float rounding) for any chunking, with a calibration and feature flow, for input at another
 * rate; memory stays bounded on an endless stream; bad input gets a clear StreamInputError.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FeatureFlow, featureFrames } from '../src/anomaly/features-flow.js';
import { scoreAudio, type Calibration, type SegmentScores } from '../src/anomaly/scorer.js';
import { planSegments } from '../src/anomaly/segments.js';
import { ChunkResampler, SegmentStream, StreamInputError, StreamScorer, scoreGeometry } from '../src/anomaly/stream-scorer.js';
import { initBackend } from '../src/backend/index.js';
import { TACOTRON_MEL } from '../src/dsp/mel.js';
import { resample } from '../src/dsp/resample.js';
import { mulberry32 } from '../src/util/random.js';
import { preset } from '../src/vocoder/presets.js';
import { WaveGlow } from '../src/vocoder/waveglow.js';
import { randomizeCouplings } from './helpers/random-waveglow.js';

const SR = 22050;
const MEL = TACOTRON_MEL;
let model: WaveGlow;


/** Voiced tone, a silence, a noise burst: segments that differ. */
function signal(seconds: number, sr = SR, seed = 1): Float32Array {
  const r = mulberry32(seed);
  const n = Math.round(seconds * sr);
  return Float32Array.from({ length: n }, (_, i) => {
    const t = i / sr;
    const tone = 0.3 * Math.sin(2 * Math.PI * 180 * t) + 0.1 * Math.sin(2 * Math.PI * 1250 * t);
    if (t % 1.3 < 0.5) return tone;
    if (t % 1.3 < 0.7) return 0;
    return 0.2 * (r() - 0.5) + 0.5 * tone;
  });
}

/** Pushes `audio` in irregular chunk sizes; returns every score in order. */
function streamAll(s: StreamScorer, audio: Float32Array, sizes: number[]): SegmentScores[] {
  const out: SegmentScores[] = [];
  for (let at = 0, k = 0; at < audio.length; k++) {
    const n = Math.min(sizes[k % sizes.length]!, audio.length - at);
    out.push(...s.push(audio.subarray(at, at + n)));
    at += n;
  }
  out.push(...s.end());
  return out;
}

function worst(a: SegmentScores[], b: SegmentScores[], keys: (keyof SegmentScores)[]): Record<string, number> {
  expect(a.map((s) => [s.startSample, s.length])).toEqual(b.map((s) => [s.startSample, s.length]));
  const w: Record<string, number> = {};
  for (const k of keys) {
    w[k] = 0;
    a.forEach((s, i) => {
      const x = s[k] as number;
      const y = b[i]![k] as number;
      expect(Number.isFinite(x), `${k} of segment ${i}`).toBe(true);
      w[k] = Math.max(w[k]!, Math.abs(x - y));
    });
  }
  return w;
}

beforeAll(async () => {
  await initBackend('wasm');
  model = new WaveGlow(preset('tiny'), 1);
  randomizeCouplings(model, 2);
});

describe('streaming scores equal scoreAudio on the whole signal', () => {
  it('any chunking: same segments, background exact, flow NLL to float rounding', () => {
    const audio = signal(2.6);
    const whole = scoreAudio(model, MEL, audio);
    for (const sizes of [[4410], [1000, 3333, 17, 9000, 256], [20000]]) {
      const s = new StreamScorer(model, MEL);
      const got = streamAll(s, audio, sizes);
      const w = worst(got, whole, ['nll', 'background', 'lr']);
      if (process.env.FLOWVOX_VERBOSE) console.log(`chunks ${sizes.join(',')}: worst |Δ|`, w);
      // Measured on wasm: bit-identical (the same samples, frames and per-segment ops). The flow NLL
      // is allowed float32 rounding, in case a backend batches convolutions differently; without
      // the context (a window cut at the segment) it is off by ~6e-4 and this fails.
      expect(w.background).toBe(0);
      expect(w.nll).toBeLessThan(1e-5);
      expect(w.lr).toBeLessThan(1e-5);
      expect(got.map((g) => g.start)).toEqual(whole.map((g) => g.start));
    }
    // The scores do depend on where a segment is (so matching them means something).
    const spread = Math.max(...whole.map((s) => s.lr)) - Math.min(...whole.map((s) => s.lr));
    expect(spread).toBeGreaterThan(0.05);
  });

  it('scores arrive as soon as the audio is in: a segment is out within one chunk of its end + context', () => {
    const audio = signal(1.5);
    const s = new StreamScorer(model, MEL);
    const chunk = 2205;
    let emitted = 0;
    for (let at = 0; at < audio.length; at += chunk) {
      const got = s.push(audio.subarray(at, at + chunk));
      const received = Math.min(audio.length, at + chunk);
      for (const g of got) expect(g.startSample + g.length + 512).toBeLessThanOrEqual(received);
      emitted += got.length;
      // Every regular segment whose end + 512 samples of context has arrived is out by now.
      const due = Math.max(0, Math.floor((received - 512 - s.stream.segmentSamples) / s.stream.stepSamples) + 1);
      expect(emitted).toBe(due);
    }
    emitted += s.end().length;
    expect(emitted).toBe(scoreAudio(model, MEL, audio).length);
  });

  it('with a calibration (segment/hop, typicality, features from its feature flow)', () => {
    const audio = signal(2.2, SR, 3);
    const f = featureFrames(signal(3, SR, 9), SR);
    const ff = FeatureFlow.fit(f.data, f.dim, { steps: 5, hidden: 8, layers: 2 });
    const cal: Calibration = {
      format: 'flowvox-anomaly-calibration', version: 2, model: { n_group: 8, n_flows: 4 }, segment: 0.4, hop: 0.3, fpr: 0.05,
      defaultScore: 'features', thresholds: { features: 30, lr: 0 }, nllStats: { mean: -2, std: 0.5 },
      complexityFit: { intercept: 0.3, slope: 0.7, std: 0.2 }, featureStats: { mean: 20, std: 3 },
      normal: { files: 1, segments: 10, seconds: 3 }, featureFlow: ff.toJSON(),
    };
    ff.dispose();
    const whole = scoreAudio(model, MEL, audio, { calibration: cal });
    const s = new StreamScorer(model, MEL, { calibration: cal });
    expect(s.stream.segment).toBe(0.4);
    const got = streamAll(s, audio, [777, 5000]);
    s.dispose();
    const w = worst(got, whole, ['nll', 'lr', 'typicality', 'complexity', 'features', 'combined']);
    if (process.env.FLOWVOX_VERBOSE) console.log('calibrated: worst |Δ|', w);
    expect(w.features).toBeLessThan(1e-4);
    expect(w.typicality).toBeLessThan(1e-4);
    expect(w.complexity).toBeLessThan(1e-4);
    expect(w.combined).toBeLessThan(1e-4);
  });

  it('short streams: shorter than a segment, and shorter than the context', () => {
    for (const n of [SR * 0.3, 700]) {
      const audio = signal(n / SR);
      const whole = scoreAudio(model, MEL, audio);
      const got = streamAll(new StreamScorer(model, MEL), audio, [300]);
      const w = worst(got, whole, ['nll', 'lr']);
      expect(w.nll).toBeLessThan(1e-5);
    }
  });

  it('input at another rate is resampled as it arrives, like resample() on the whole', () => {
    const hi = signal(1.4, 48000, 5);
    for (const [from, to] of [[48000, SR], [16000, SR], [44100, SR]] as const) {
      const x = from === 48000 ? hi : resample(hi, 48000, from);
      const want = resample(x, from, to);
      const r = new ChunkResampler(from, to);
      const parts: Float32Array[] = [];
      for (let at = 0, k = 0; at < x.length; k++) {
        const n = [1000, 37, 4800, 333][k % 4]!;
        parts.push(r.push(x.subarray(at, at + n)));
        at += n;
        expect(r.held).toBeLessThan(n + 2000); // kernel reach + a period, not the whole past
      }
      parts.push(r.end());
      const got = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
      let at = 0;
      for (const p of parts) {
        got.set(p, at);
        at += p.length;
      }
      expect(got.length).toBe(want.length);
      let d = 0;
      for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(got[i]! - want[i]!));
      expect(d).toBeLessThan(1e-6);
    }
    const whole = scoreAudio(model, MEL, resample(hi, 48000, SR));
    const got = streamAll(new StreamScorer(model, MEL, { inputRate: 48000 }), hi, [4800, 1234]);
    expect(worst(got, whole, ['nll', 'lr']).lr).toBeLessThan(1e-4);
  });
});

describe('bounded memory and bad input', () => {
  it('an endless stream holds a bounded amount of audio; the plan equals planSegments', () => {
    const geom = scoreGeometry(model, MEL);
    for (const inputRate of [SR, 48000]) {
      const st = new SegmentStream(geom, { inputRate });
      const chunk = new Float32Array(Math.round(inputRate * 0.1)).map((_, i) => Math.sin(i / 7) * 0.1);
      let maxHeld = 0;
      const starts: number[] = [];
      const minutes = inputRate === SR ? 5 : 2;
      for (let k = 0; k < minutes * 60 * 10; k++) {
        st.push(chunk);
        for (let w = st.take(); w; w = st.take()) {
          starts.push(...w.segments.map((s) => s.startSample));
          expect(w.audio.length).toBeLessThan(st.segmentSamples + 2 * st.stepSamples + 4 * 512 + chunk.length);
        }
        maxHeld = Math.max(maxHeld, st.buffered);
      }
      st.end();
      for (let w = st.take(); w; w = st.take()) starts.push(...w.segments.map((s) => s.startSample));
      expect(st.done).toBe(true);
      // About a segment + a hop + context + a chunk, however long the stream.
      expect(maxHeld).toBeLessThan(st.segmentSamples + st.stepSamples + 4 * 512 + 2 * chunk.length + 2000);
      const plan = planSegments(st.received, { sampleRate: SR, segment: 0.5, hop: 0.25, align: 256, quantum: 256 });
      expect(starts).toEqual(plan.map((s) => s.startSample));
    }
  });

  it('scoring a long stream leaves no tensors behind', () => {
    const audio = signal(2.6, SR, 5);
    const run = () => {
      const s = new StreamScorer(model, MEL);
      expect(streamAll(s, audio, [3000]).length).toBeGreaterThan(5);
      s.dispose();
    };
    run(); // first calls may cache (kernels, constants)
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('NaN/Inf, input after the end, a backlog over the limit, a too-short stream: StreamInputError', () => {
    const geom = scoreGeometry(model, MEL);
    const st = new SegmentStream(geom);
    st.push(new Float32Array(1000));
    const bad = new Float32Array(10);
    bad[3] = Number.NaN;
    expect(() => st.push(bad)).toThrow(StreamInputError);
    expect(() => st.push(bad)).toThrow(/NaN at sample 3 \(stream sample 1003\)/);
    bad[3] = Number.POSITIVE_INFINITY;
    expect(() => st.push(bad)).toThrow(/Infinity/);
    expect(st.received).toBe(1000); // a refused chunk is not half taken

    const capped = new SegmentStream(geom, { maxBufferedSamples: SR });
    capped.push(new Float32Array(SR - 10));
    try {
      capped.push(new Float32Array(100));
      expect.unreachable();
    } catch (e) {
      expect((e as StreamInputError).kind).toBe('backlog');
      expect((e as Error).message).toMatch(/faster than it is scored/);
    }
    // Taking the ready segments frees the backlog.
    while (capped.take()) { /* drain */ }
    capped.push(new Float32Array(100));

    const short = new SegmentStream(geom);
    short.push(new Float32Array(100));
    try {
      short.end();
      expect.unreachable();
    } catch (e) {
      expect((e as StreamInputError).kind).toBe('too_short');
      expect((e as Error).message).toMatch(/too short to score/);
    }
    expect(() => short.push(new Float32Array(5))).toThrow(/ended/);
    expect(() => new SegmentStream(geom, { segment: 0 })).toThrow(/positive/);
    expect(() => new SegmentStream(geom, { maxBufferedSamples: 100 })).toThrow(/at least/);
    expect(() => new ChunkResampler(0, SR)).toThrow(/positive/);
  });
});
