import { describe, expect, it } from 'vitest';
import { TACOTRON_MEL } from '../src/dsp/mel.js';
import { SegmentSampler, quantizerStep } from '../src/vocoder/data.js';

const SR = 22050;
const mel = { ...TACOTRON_MEL, sampleRate: SR };

/** 16-bit-like clips: a tone, then digital silence (as TTS output and zero padding have). */
function clips(): Float32Array[] {
  return [0, 1, 2].map((k) => {
    const x = new Float32Array(SR);
    for (let i = 0; i < SR / 2; i++) x[i] = Math.round(8000 * Math.sin((2 * Math.PI * (150 + 50 * k) * i) / SR)) / 32768;
    return x;
  });
}

describe('SegmentSampler dequantisation', () => {
  it('adds uniform noise of one quantiser step after the mel, on its own random stream', () => {
    const q = quantizerStep(16);
    expect(q).toBe(2 ** -15);
    expect(quantizerStep(0)).toBe(0);
    const plain = new SegmentSampler(clips(), 4096, mel).draw(6, 42);
    const deq = new SegmentSampler(clips(), 4096, mel, { dequantize: q }).draw(6, 42);
    // Same segments and the same (clean) mels: only the samples move.
    expect(Array.from(deq.mel)).toEqual(Array.from(plain.mel));
    let s = 0, s2 = 0, lo = Infinity, hi = -Infinity, zeros = 0;
    for (let i = 0; i < plain.audio.length; i++) {
      const d = deq.audio[i]! - plain.audio[i]!;
      s += d;
      s2 += d * d;
      lo = Math.min(lo, d);
      hi = Math.max(hi, d);
      if (deq.audio[i] === 0) zeros++;
    }
    const n = plain.audio.length;
    expect(lo).toBeGreaterThanOrEqual(-q / 2 - 1e-12);
    expect(hi).toBeLessThan(q / 2 + 1e-12);
    expect(Math.abs(s / n)).toBeLessThan(0.01 * q);
    expect(Math.sqrt(s2 / n) / (q / Math.sqrt(12))).toBeCloseTo(1, 1); // uniform: σ = q/√12
    expect(zeros).toBe(0); // no exact digital silence is left
    // Deterministic per seed, different across seeds.
    const again = new SegmentSampler(clips(), 4096, mel, { dequantize: q }).draw(6, 42);
    expect(Array.from(again.audio)).toEqual(Array.from(deq.audio));
    const other = new SegmentSampler(clips(), 4096, mel, { dequantize: q }).draw(6, 43);
    expect(Array.from(other.audio)).not.toEqual(Array.from(deq.audio));
  });

  it('rejects a bad step', () => {
    expect(() => new SegmentSampler(clips(), 4096, mel, { dequantize: -1 })).toThrow(/dequantize/);
    expect(() => new SegmentSampler(clips(), 4096, mel, { dequantize: NaN })).toThrow(/dequantize/);
  });
});
