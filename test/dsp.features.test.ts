/** meyda-backed per-frame features. */
import { describe, expect, it } from 'vitest';
import { frameFeatures } from '../src/dsp/features.js';

const SR = 22050;
const N = 22050;
const sine = Float32Array.from({ length: N }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / SR));
let seed = 1;
const noise = Float32Array.from({ length: N }, () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return 0.5 * (2 * (seed / 2 ** 32) - 1);
});

const col = (f: ReturnType<typeof frameFeatures>, name: string, t: number) => f.data[t * f.names.length + f.names.indexOf(name)]!;

describe('frameFeatures (meyda)', () => {
  const fs = frameFeatures(sine, { sampleRate: SR });
  const fn = frameFeatures(noise, { sampleRate: SR });

  it('has STFT-aligned frames and the documented columns', () => {
    expect(fs.frames).toBe(Math.floor(N / 256) + 1);
    expect(fs.names).toEqual([...Array.from({ length: 13 }, (_, i) => `mfcc_${i}`), 'spectralCentroid', 'spectralFlatness', 'rms', 'zcr']);
    expect(fs.data.length).toBe(fs.frames * 17);
    expect(fs.data.every(Number.isFinite)).toBe(true);
  });

  it('rms and zcr match direct computations on the raw centred frame', () => {
    for (const t of [0, 10, 40]) {
      let s = 0;
      let z = 0;
      let prev = 0;
      for (let n = 0; n < 1024; n++) {
        const i = t * 256 - 512 + n;
        const v = i >= 0 && i < N ? noise[i]! : 0;
        s += v * v;
        if (n > 0 && (prev >= 0) !== (v >= 0)) z++;
        prev = v;
      }
      expect(col(fn, 'rms', t)).toBeCloseTo(Math.sqrt(s / 1024), 5);
      expect(col(fn, 'zcr', t)).toBe(z);
    }
    // A full-frame 0.5-amplitude sine: rms 0.5/√2, ~2 crossings per 1 kHz period (1024/22.05 ms).
    expect(col(fs, 'rms', 40)).toBeCloseTo(0.5 / Math.SQRT2, 2);
    expect(Math.abs(col(fs, 'zcr', 40) - (2 * 1000 * 1024) / SR)).toBeLessThanOrEqual(1);
  });

  it('a sine is far less flat than white noise, and its centroid sits at its frequency', () => {
    const mean = (f: ReturnType<typeof frameFeatures>, name: string) => {
      let s = 0;
      for (let t = 4; t < f.frames - 4; t++) s += col(f, name, t);
      return s / (f.frames - 8);
    };
    const flatSine = mean(fs, 'spectralFlatness');
    const flatNoise = mean(fn, 'spectralFlatness');
    expect(flatNoise).toBeGreaterThan(0.4);
    expect(flatSine).toBeLessThan(0.1 * flatNoise);
    expect(Math.abs(mean(fs, 'spectralCentroid') - 1000)).toBeLessThan(100);
    expect(mean(fn, 'spectralCentroid')).toBeGreaterThan(4000); // white noise: ~SR/4
  });

  it('validates input', () => {
    const bad = new Float32Array(100);
    bad[5] = Number.NaN;
    expect(() => frameFeatures(bad, { sampleRate: SR })).toThrow(/NaN at sample 5/);
    expect(() => frameFeatures(sine, { sampleRate: SR, frameSize: 1000 })).toThrow(/power of two/);
  });
});
