/** Anomaly detection's pieces without a model: metrics, the LPC background, segment plans, injection. */
import { describe, expect, it } from 'vitest';
import { lpc, lpcNll, QUANT_VAR } from '../src/anomaly/background.js';
import { baselineScores } from '../src/anomaly/baseline.js';
import { ANOMALY_KINDS, inject } from '../src/anomaly/inject.js';
import { auroc, partialAuroc, rocCurve, thresholdForFpr } from '../src/anomaly/metrics.js';
import { lcm, mergeIntervals, planSegments } from '../src/anomaly/segments.js';
import { gaussian, mulberry32 } from '../src/util/random.js';

const SR = 22050;

function noise(n: number, sigma: number, seed = 1): Float32Array {
  const g = gaussian(mulberry32(seed));
  return Float32Array.from({ length: n }, () => sigma * g());
}

/** A voiced, speech-like 3 s signal: harmonics of a gliding f0 under a syllable envelope. */
function voice(seconds = 3): Float32Array {
  const n = Math.round(SR * seconds);
  const x = new Float32Array(n);
  let ph = 0;
  const g = gaussian(mulberry32(7));
  for (let i = 0; i < n; i++) {
    const t = i / SR;
    ph += (2 * Math.PI * (130 + 25 * Math.sin(2 * Math.PI * 0.9 * t))) / SR;
    const env = 0.2 + Math.max(0, Math.sin(Math.PI * 3 * t)) ** 0.6;
    let v = 0;
    for (let h = 1; h <= 10; h++) v += Math.sin(h * ph) / h;
    x[i] = 0.15 * env * v + 0.002 * g();
  }
  return x;
}

describe('detection metrics', () => {
  it('AUROC is P(positive > negative), ties counting half', () => {
    expect(auroc([3, 4], [1, 2])).toBe(1);
    expect(auroc([1, 2], [3, 4])).toBe(0);
    expect(auroc([1, 1], [1, 1])).toBe(0.5);
    expect(auroc([2, 4], [1, 3])).toBe(0.75);
    expect(auroc([], [1])).toBeNaN();
  });

  it('partial AUROC (FPR ≤ 0.1) is 1 for a perfect detector and about 0.05 for chance', () => {
    expect(partialAuroc([5, 6, 7], [1, 2, 3], 0.1)).toBeCloseTo(1, 12);
    const r = mulberry32(3);
    const pos = Array.from({ length: 4000 }, () => r());
    const neg = Array.from({ length: 4000 }, () => r());
    expect(partialAuroc(pos, neg, 0.1)).toBeGreaterThan(0.035);
    expect(partialAuroc(pos, neg, 0.1)).toBeLessThan(0.065);
    expect(auroc(pos, neg)).toBeCloseTo(0.5, 1);
    const roc = rocCurve([2], [1]);
    expect(roc).toEqual({ fpr: [0, 0, 1], tpr: [0, 1, 1] });
  });

  it('the threshold flags at most the target fraction of normal scores', () => {
    const s = Array.from({ length: 100 }, (_, i) => i);
    const t = thresholdForFpr(s, 0.05);
    expect(s.filter((v) => v > t).length).toBe(5);
    expect(() => thresholdForFpr([], 0.05)).toThrow(/no normal scores/);
    expect(() => thresholdForFpr(s, 1.5)).toThrow(/false-positive rate/);
  });
});

describe('LPC background model', () => {
  it('gives white noise its Gaussian NLL, ½ log(2πσ²) + ½', () => {
    const sigma = 0.05;
    const got = lpcNll(noise(20000, sigma));
    expect(got).toBeCloseTo(0.5 * Math.log(2 * Math.PI * (sigma * sigma + QUANT_VAR)) + 0.5, 2);
  });

  it('finds an AR(2) resonance and scores predictable signals as simpler than noise', () => {
    // x[n] = 1.6 x[n−1] − 0.8 x[n−2] + e
    const e = noise(20000, 0.01, 5);
    const x = new Float32Array(e.length);
    for (let i = 2; i < x.length; i++) x[i] = 1.6 * x[i - 1]! - 0.8 * x[i - 2]! + e[i]!;
    const a = lpc(x, 2);
    expect(a[0]).toBeCloseTo(1.6, 1);
    expect(a[1]).toBeCloseTo(-0.8, 1);
    const tone = Float32Array.from({ length: 11025 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 200 * i) / SR));
    expect(lpcNll(tone)).toBeLessThan(lpcNll(noise(11025, 0.3)) - 3);
    // Silence sits on the 16-bit quantisation floor, finite.
    expect(lpcNll(new Float32Array(11025))).toBeCloseTo(0.5 * Math.log(2 * Math.PI * QUANT_VAR) + 0.5, 3);
    expect(() => lpcNll(new Float32Array(10))).toThrow(/too short/);
  });
});

describe('segment plans', () => {
  const o = { sampleRate: SR, segment: 0.5, hop: 0.25, align: 256, quantum: lcm(256, 256) };

  it('starts on mel frames, holds whole groups, and reaches the end of the signal', () => {
    const total = 3 * SR + 17;
    const segs = planSegments(total, o);
    expect(segs.length).toBeGreaterThan(8);
    for (const s of segs) {
      expect(s.startSample % 256).toBe(0);
      expect(s.length % 256).toBe(0);
      expect(s.startSample + s.length).toBeLessThanOrEqual(total);
      expect(s.end - s.start).toBeCloseTo(s.length / SR, 9);
    }
    expect(segs.at(-1)!.startSample + segs.at(-1)!.length).toBeGreaterThan(total - 256);
    expect(lcm(256, 160)).toBe(1280);
  });

  it('shortens the window to short audio, and rejects audio too short to score', () => {
    expect(planSegments(4000, o)[0]!.length).toBe(3840);
    expect(() => planSegments(100, o)).toThrow(/too short to score/);
    expect(() => planSegments(SR, { ...o, segment: 0 })).toThrow(/positive/);
  });

  it('merges overlapping intervals', () => {
    expect(mergeIntervals([[2, 3], [0, 1], [0.5, 1.5], [3, 4]])).toEqual([[0, 1.5], [2, 4]]);
  });
});

describe('anomaly injection', () => {
  const x = voice();
  for (const kind of ANOMALY_KINDS) {
    it(`${kind}: changes the audio only inside the reported interval, deterministically`, () => {
      const a = inject(x, SR, kind, 11);
      const b = inject(x, SR, kind, 11);
      expect(Array.from(a.audio)).toEqual(Array.from(b.audio));
      expect(a.start).toBeGreaterThanOrEqual(0);
      expect(a.end).toBeLessThanOrEqual(x.length / SR + 1e-9);
      expect(a.end).toBeGreaterThan(a.start);
      const s = Math.round(a.start * SR);
      const e = Math.round(a.end * SR);
      let outside = 0;
      let inside = 0;
      let nonFinite = 0;
      for (let i = 0; i < x.length; i++) {
        const d = Math.abs(a.audio[i]! - x[i]!);
        if (i < s || i >= e) outside = Math.max(outside, d);
        else inside = Math.max(inside, d);
        if (!Number.isFinite(a.audio[i]!)) nonFinite++;
      }
      expect(nonFinite).toBe(0);
      expect(outside).toBe(0);
      expect(inside).toBeGreaterThan(1e-3);
    });
  }
});

describe('baseline detectors', () => {
  it('energy and spectral flux flag a loud noise burst', () => {
    const x = voice();
    const inj = inject(x, SR, 'noise-0dB', 2);
    const segs = planSegments(x.length, { sampleRate: SR, segment: 0.5, hop: 0.25, align: 256, quantum: 256 });
    const b = baselineScores(inj.audio, segs);
    const hit = segs.map((s) => s.start < inj.end && s.end > inj.start);
    const maxOut = Math.max(...b.flux.filter((_, i) => !hit[i]));
    const maxIn = Math.max(...b.flux.filter((_, i) => hit[i]));
    expect(maxIn).toBeGreaterThan(maxOut);
  });
});

describe('feature flow (the generic path)', () => {
  it('fits normal frames, scores noise frames as less likely, and survives JSON exactly', async () => {
    const { initBackend } = await import('../src/backend/index.js');
    await initBackend('cpu');
    const { FeatureFlow, featureFrames } = await import('../src/anomaly/features-flow.js');
    const { float32ToBase64, base64ToFloat32 } = await import('../src/util/base64.js');
    const odd = Float32Array.from([1.5, -2, Math.PI, 1e-30, -0, 7e30]);
    expect(Array.from(base64ToFloat32(float32ToBase64(odd)))).toEqual(Array.from(odd));
    const normal = featureFrames(voice(3), SR);
    const ff = FeatureFlow.fit(normal.data, normal.dim, { steps: 150, hidden: 16, layers: 2 });
    const noisy = featureFrames(noise(SR, 0.1, 9), SR);
    const a = ff.frameNll(normal.data);
    const b = ff.frameNll(noisy.data);
    const mean = (v: Float32Array) => v.reduce((s, x) => s + x, 0) / v.length;
    expect(mean(b)).toBeGreaterThan(mean(a) + 5);
    const back = FeatureFlow.fromJSON(JSON.parse(JSON.stringify(ff.toJSON())));
    expect(Array.from(back.frameNll(noisy.data))).toEqual(Array.from(b));
    back.dispose();
    ff.dispose();
  });
});
