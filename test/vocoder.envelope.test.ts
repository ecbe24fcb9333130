/** Mel-envelope matching (src/vocoder/envelope.ts): identity, convergence, fine structure kept, exact by chunks. */
import { describe, expect, it } from 'vitest';
import { logMelSpectrogram, TACOTRON_MEL } from '../src/dsp/mel.js';
import { ENVELOPE_MOMENTUM, envelopeMarginSamples, matchMelEnvelope } from '../src/vocoder/envelope.js';

const SR = 22050;
const HOP = TACOTRON_MEL.hop;

function harmonic(f0: number, n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let h = 1; h <= 8; h++) s += Math.sin((2 * Math.PI * f0 * (1 + 0.1 * (i / n)) * h * i) / SR + h) / h;
    x[i] = 0.2 * s * (0.5 + 0.5 * Math.sin((2 * Math.PI * 3 * i) / n));
  }
  return x;
}

function noise(n: number, seed: number): Float32Array {
  let st = seed;
  const r = () => ((st = (st * 1103515245 + 12345) % 2147483648) + 0.5) / 2147483648;
  return Float32Array.from({ length: n }, () => 0.1 * Math.sqrt(-2 * Math.log(r())) * Math.cos(2 * Math.PI * r()));
}

function logMelRms(a: Float32Array, target: { data: Float32Array }): number {
  const m = logMelSpectrogram(a).data;
  let s = 0;
  const n = Math.min(m.length, target.data.length);
  for (let i = 0; i < n; i++) s += (m[i]! - target.data[i]!) ** 2;
  return Math.sqrt(s / n);
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('mel-envelope matching', () => {
  const x = harmonic(140, 64 * HOP);
  const mel = logMelSpectrogram(x);

  it('leaves a signal whose mel is already the target (almost) unchanged, and 0 iterations exactly', () => {
    expect(matchMelEnvelope(x, mel, 0)).toBe(x);
    const y = matchMelEnvelope(x, mel, 2);
    expect(maxAbsDiff(x, y)).toBeLessThan(2e-4);
  });

  it('scales by the target: a mel 2× as loud doubles the waveform, phase and harmonics kept', () => {
    const louder = { ...mel, data: mel.data.map((v) => v + Math.log(2)) };
    const y = matchMelEnvelope(x, louder, 1);
    const twice = x.map((v) => 2 * v);
    expect(maxAbsDiff(y, twice)).toBeLessThan(5e-4);
  });

  it('brings noise towards the target mel, closer with each iteration', () => {
    const z = noise(x.length, 3);
    const d = [0, 1, 2, 4].map((it) => logMelRms(matchMelEnvelope(z, mel, it), mel));
    expect(d[0]).toBeGreaterThan(5);
    expect(d[1]).toBeLessThan(d[0]! * 0.6);
    expect(d[2]).toBeLessThan(d[1]!);
    expect(d[3]).toBeLessThan(d[2]!);
  });

  it('without momentum, N iterations are N single ones in a row; the momentum gets closer in as many', () => {
    const z = noise(x.length, 5);
    let once = z;
    for (let i = 0; i < 3; i++) once = matchMelEnvelope(once, mel, 1);
    expect(maxAbsDiff(matchMelEnvelope(z, mel, 3, TACOTRON_MEL, 0, 0), once)).toBeLessThan(1e-6);
    expect(maxAbsDiff(matchMelEnvelope(z, mel, 3), once)).toBeGreaterThan(1e-3);
    // Up to 2 iterations the momentum has nothing to act on yet.
    expect(maxAbsDiff(matchMelEnvelope(z, mel, 2), matchMelEnvelope(z, mel, 2, TACOTRON_MEL, 0, 0))).toBe(0);
    expect(ENVELOPE_MOMENTUM).toBeGreaterThan(0);
    for (const n of [4, 8]) {
      const plain = logMelRms(matchMelEnvelope(z, mel, n, TACOTRON_MEL, 0, 0), mel);
      const fast = logMelRms(matchMelEnvelope(z, mel, n), mel);
      expect(fast).toBeLessThan(plain * 0.95);
    }
  });

  it('a chunk synthesised with the margin each side equals the whole-signal result exactly', () => {
    const z = noise(x.length, 7);
    for (const iterations of [1, 3, 8]) {
      const whole = matchMelEnvelope(z, mel, iterations);
      const margin = envelopeMarginSamples(iterations);
      for (const [keepStart, keepEnd] of [[0, 20 * HOP], [20 * HOP, 44 * HOP], [44 * HOP, x.length]] as const) {
        const s0 = Math.max(0, keepStart - margin);
        const s1 = Math.min(x.length, keepEnd + margin);
        const part = matchMelEnvelope(z.slice(s0, s1), mel, iterations, TACOTRON_MEL, s0 / HOP);
        const kept = part.slice(keepStart - s0, keepEnd - s0);
        expect(maxAbsDiff(kept, whole.slice(keepStart, keepEnd))).toBeLessThan(1e-6);
      }
      // With a margin one hop short on each side, the chunk differs: the margin is needed. (Checked
      // for one iteration: over several, the error that enters at the edge shrinks as it spreads.)
      expect(margin).toBe(iterations * 3 * HOP);
      if (iterations > 1) continue;
      const s0 = 20 * HOP - margin + HOP;
      const part = matchMelEnvelope(z.slice(s0, 44 * HOP + margin - HOP), mel, iterations, TACOTRON_MEL, s0 / HOP);
      expect(maxAbsDiff(part.slice(20 * HOP - s0, 44 * HOP - s0), whole.slice(20 * HOP, 44 * HOP))).toBeGreaterThan(1e-4);
    }
  });

  it('refuses a bad iteration count and a mel of the wrong size', () => {
    expect(() => matchMelEnvelope(x, mel, -1)).toThrow(/integer in \[0, 32\]/);
    expect(() => matchMelEnvelope(x, mel, 1.5)).toThrow(/integer/);
    expect(() => matchMelEnvelope(x, { data: new Float32Array(10), frames: 1, nMels: 10 }, 1)).toThrow(/10 bands/);
    expect(() => matchMelEnvelope(x, mel, 3, TACOTRON_MEL, 0, 1)).toThrow(/momentum must be in \[0, 1\)/);
    expect(() => matchMelEnvelope(x, mel, 3, TACOTRON_MEL, 0, Number.NaN)).toThrow(/momentum/);
  });
});
