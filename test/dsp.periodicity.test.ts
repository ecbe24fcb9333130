import { describe, expect, it } from 'vitest';
import { framePeriodicity, periodicityFrames, voicedPeriodicity } from '../src/dsp/periodicity.js';
import { mulberry32 } from '../src/util/random.js';

const SR = 22050;

function gaussian(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return out;
}

/** A periodic signal: one random waveform of `period` samples, repeated. */
function repeated(period: number, n: number, seed: number): Float32Array {
  const cycle = gaussian(period, seed);
  return Float32Array.from({ length: n }, (_, i) => cycle[i % period]!);
}

const interior = (r: Float64Array): number[] => Array.from(r.slice(3, -3));
const mean = (xs: readonly number[]): number => xs.reduce((s, v) => s + v, 0) / xs.length;

describe('periodicity (NCCF peak over pitch lags)', () => {
  it('is 1 for a periodic waveform with its period in range, and for a tone', () => {
    const x = repeated(147, SR, 1); // 150 Hz, rich in harmonics
    const r = framePeriodicity(x).periodicity;
    expect(r.length).toBe(periodicityFrames(SR));
    for (const v of interior(r)) expect(v).toBeCloseTo(1, 9);
    // The peak's lag is the period (not a multiple of it, which correlates as well).
    expect(new Set(interior(Float64Array.from(framePeriodicity(x).lag)))).toEqual(new Set([147]));
    // A weak subharmonic makes twice the period the peak; lagTolerance picks the period again.
    const sub = x.map((v, i) => v + 0.1 * Math.sin((2 * Math.PI * i) / 294));
    expect(new Set(interior(Float64Array.from(framePeriodicity(sub).lag)))).toEqual(new Set([294]));
    expect(new Set(interior(Float64Array.from(framePeriodicity(sub, { lagTolerance: 0.1 }).lag)))).toEqual(new Set([147]));
    expect(() => framePeriodicity(sub, { lagTolerance: 1 })).toThrow(/lagTolerance/);
    const tone = Float32Array.from({ length: SR }, (_, i) => Math.sin((2 * Math.PI * 200 * i) / SR));
    expect(Math.min(...interior(framePeriodicity(tone).periodicity))).toBeGreaterThan(0.99);
  });

  it('is low for white noise and falls with the noise added to a periodic signal', () => {
    const noise = gaussian(SR, 2);
    const white = mean(interior(framePeriodicity(noise).periodicity));
    expect(white).toBeGreaterThan(0.03);
    expect(white).toBeLessThan(0.15);
    const periodic = repeated(200, SR, 3);
    const atSnr = (db: number) => {
      const g = 10 ** (-db / 20);
      return mean(interior(framePeriodicity(periodic.map((v, i) => v + g * noise[i]!)).periodicity));
    };
    // r ≈ SNR / (1 + SNR) for a periodic signal in white noise (the peak over lags adds a little).
    const r20 = atSnr(20), r0 = atSnr(0), rm10 = atSnr(-10);
    expect(r20).toBeGreaterThan(0.97);
    expect(r0).toBeGreaterThan(0.45);
    expect(r0).toBeLessThan(0.62);
    expect(rm10).toBeLessThan(r0 - 0.25);
  });

  it('ignores periods outside the pitch range', () => {
    const x = repeated(600, SR, 4); // 36.75 Hz: below fmin 70 Hz, so no lag in range matches
    expect(mean(interior(framePeriodicity(x).periodicity))).toBeLessThan(0.2);
    expect(mean(interior(framePeriodicity(x, { fmin: 30 }).periodicity))).toBeGreaterThan(0.99);
  });

  it('averages over the reference voiced frames only, and counts missing audio as aperiodic', () => {
    // 0.5 s silence, 0.5 s periodic, 0.5 s noise: only the periodic part is voiced.
    const ref = new Float32Array(Math.round(1.5 * SR));
    ref.set(repeated(110, SR / 2, 5), SR / 2);
    ref.set(gaussian(SR / 2, 6), SR);
    const v = voicedPeriodicity(ref, [ref, gaussian(ref.length, 7), ref.slice(0, SR / 2 + SR / 4)]);
    // Frames whose window lies within the periodic half: about (SR/2 − 1024)/256 of them, plus edges.
    expect(v.voicedFrames).toBeGreaterThan(35);
    expect(v.voicedFrames).toBeLessThan(46);
    expect(v.reference).toBeGreaterThan(0.99);
    expect(v.means[0]).toBeCloseTo(v.reference, 12);
    expect(v.means[1]).toBeLessThan(0.15);
    // The cut copy keeps about half the voiced frames' periodicity.
    expect(v.means[2]).toBeGreaterThan(0.35);
    expect(v.means[2]).toBeLessThan(0.65);
    expect(voicedPeriodicity(gaussian(SR, 8), [ref]).means[0]).toBeNaN();
  });

  it("'unvoiced' averages over the reference's audible aperiodic frames: a buzz there scores high", () => {
    // 0.5 s periodic, then 0.5 s noise; the same length of a tone in place of the noise is a buzz.
    const ref = new Float32Array(SR);
    ref.set(repeated(110, SR / 2, 5));
    ref.set(gaussian(SR / 2, 6), SR / 2);
    const buzz = Float32Array.from(ref);
    buzz.set(repeated(150, SR / 2, 9), SR / 2);
    const u = voicedPeriodicity(ref, [ref, buzz], {}, 'unvoiced');
    // Frames whose window lies within the noise half (silence is excluded as inaudible: none here).
    expect(u.voicedFrames).toBeGreaterThan(35);
    expect(u.voicedFrames).toBeLessThan(46);
    expect(u.reference).toBeLessThan(0.15);
    expect(u.means[0]).toBeCloseTo(u.reference, 12);
    expect(u.means[1]).toBeGreaterThan(0.9);
    // The voiced selection of the same pair is the periodic half, where both agree.
    const v = voicedPeriodicity(ref, [buzz]);
    expect(v.means[0]).toBeGreaterThan(0.99);
  });

  it('rejects a bad configuration or frame', () => {
    expect(() => framePeriodicity(new Float32Array(4096), { fmin: 500, fmax: 400 })).toThrow(/fmin/);
    expect(() => framePeriodicity(new Float32Array(4096), { hop: 0 })).toThrow(/hop/);
    expect(() => framePeriodicity(new Float32Array(4096), {}, [999])).toThrow(/outside/);
    expect(framePeriodicity(new Float32Array(4096)).periodicity.every((v) => v === 0)).toBe(true);
  });
});
