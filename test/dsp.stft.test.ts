/** FFT against a direct DFT, STFT framing, inverse STFT round trip, Griffin-Lim convergence. */
import { describe, expect, it } from 'vitest';
import { ComplexFFT, irfft, rfft } from '../src/dsp/fft.js';
import { istft, reflectPad, stft, stftMagnitude } from '../src/dsp/stft.js';
import { griffinLimFromMagnitude } from '../src/dsp/griffin-lim.js';
import { stftDistanceTerms } from '../src/dsp/metrics.js';
import { hannWindow } from '../src/dsp/window.js';

function signal(n: number, seed = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, (_, i) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 0.3 * Math.sin(i * 0.05) + 0.2 * (s / 2 ** 32 - 0.5);
  });
}

describe('fft', () => {
  it('rfft matches a direct DFT and irfft inverts it', () => {
    for (const n of [2, 4, 8, 64, 512, 2048]) {
      const x = signal(n, n);
      const { re, im } = rfft(x);
      expect(re.length).toBe(n / 2 + 1);
      let err = 0;
      let scale = 0;
      for (let k = 0; k <= n / 2; k++) {
        let r = 0;
        let q = 0;
        for (let j = 0; j < n; j++) {
          const a = (2 * Math.PI * ((k * j) % n)) / n;
          r += x[j]! * Math.cos(a);
          q -= x[j]! * Math.sin(a);
        }
        err = Math.max(err, Math.abs(r - re[k]!), Math.abs(q - im[k]!));
        scale = Math.max(scale, Math.hypot(r, q));
      }
      expect(err / scale).toBeLessThan(1e-13);
      const back = irfft(re, im, n);
      for (let j = 0; j < n; j++) expect(back[j]).toBeCloseTo(x[j]!, 12);
    }
  });

  it('complex FFT of a single tone is one spike', () => {
    const f = new ComplexFFT(16);
    const re = Float64Array.from({ length: 16 }, (_, i) => Math.cos((2 * Math.PI * 3 * i) / 16));
    const im = Float64Array.from({ length: 16 }, (_, i) => Math.sin((2 * Math.PI * 3 * i) / 16));
    f.transform(re, im);
    for (let k = 0; k < 16; k++) {
      expect(re[k]).toBeCloseTo(k === 3 ? 16 : 0, 10);
      expect(im[k]).toBeCloseTo(0, 10);
    }
  });

  it('rejects non-power-of-two sizes', () => {
    expect(() => rfft(new Float32Array(1000))).toThrow(/power of two/);
  });
});

describe('stft', () => {
  const x = signal(5000);

  it('reflect-pads without repeating the edge', () => {
    expect(Array.from(reflectPad([1, 2, 3, 4], 2))).toEqual([3, 2, 1, 2, 3, 4, 3, 2]);
    expect(() => reflectPad([1, 2], 2)).toThrow(/more than 2/);
  });

  it('frame t is the windowed DFT of samples centred on t·hop', () => {
    const s = stft(x, { nFft: 512, hop: 128 });
    expect(s.frames).toBe(Math.floor(5000 / 128) + 1);
    const t = 10; // fully inside the signal: padded[t·hop + n] = x[t·hop − 256 + n]
    const w = hannWindow(512);
    const frame = Float64Array.from({ length: 512 }, (_, n) => x[t * 128 - 256 + n]! * w[n]!);
    const ref = rfft(frame);
    for (let k = 0; k < 257; k += 17) {
      expect(s.re[t * 257 + k]).toBeCloseTo(ref.re[k]!, 10);
      expect(s.im[t * 257 + k]).toBeCloseTo(ref.im[k]!, 10);
    }
  });

  it('magnitude works at 512/1024/2048 and a shorter window', () => {
    for (const nFft of [512, 1024, 2048]) {
      const m = stftMagnitude(x, { nFft, hop: nFft / 4 });
      expect(m.bins).toBe(nFft / 2 + 1);
      expect(m.frames).toBe(Math.floor(5000 / (nFft / 4)) + 1);
    }
    const m = stftMagnitude(x, { nFft: 1024, hop: 256, winLength: 600 });
    expect(m.data.every((v) => v >= 0 && Number.isFinite(v))).toBe(true);
    expect(() => stftMagnitude(x.subarray(0, 1024), { nFft: 2048, hop: 512 })).toThrow(/1024 samples.*more than 1024/);
  });

  it('istft(stft(x)) = x (weighted overlap-add)', () => {
    for (const cfg of [{ nFft: 1024, hop: 256 }, { nFft: 512, hop: 128, winLength: 400 }, { nFft: 256, hop: 64, center: false }]) {
      const s = stft(x, cfg);
      const y = istft(s, cfg, cfg.center === false ? undefined : x.length);
      const from = cfg.center === false ? cfg.nFft : 0; // uncentred edges lack window overlap
      const to = cfg.center === false ? y.length - cfg.nFft : x.length;
      let err = 0;
      for (let i = from; i < to; i++) err = Math.max(err, Math.abs(y[i]! - x[i]!));
      expect(err).toBeLessThan(1e-6);
    }
  });
});

describe('Griffin-Lim from a true magnitude', () => {
  it('spectral convergence drops with iterations', () => {
    const x = signal(8192, 7);
    const cfg = { nFft: 512, hop: 128 };
    const mag = stftMagnitude(x, cfg);
    const sc = (iterations: number) => stftDistanceTerms(x, griffinLimFromMagnitude(mag, cfg, { iterations, length: x.length }), { ...cfg, winLength: 512 }).spectralConvergence;
    const s0 = sc(0);
    const s30 = sc(30);
    expect(s0).toBeGreaterThan(0.5);
    expect(s30).toBeLessThan(0.6 * s0);
  });
});
