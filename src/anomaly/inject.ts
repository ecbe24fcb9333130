/**
 * Anomalies injected at known times into normal audio, for the evaluation: each returns the
 * modified copy and the interval (seconds) that is anomalous. Deterministic given the seed.
 */
import { resample } from '../dsp/resample.js';
import { gaussian, mulberry32 } from '../util/random.js';

export const ANOMALY_KINDS = [
  'click', 'noise-0dB', 'noise-10dB', 'noise-20dB', 'dropout', 'clipping', 'hum', 'pitch-shift', 'time-reversed', 'non-speech',
] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

export interface Injected {
  audio: Float32Array;
  /** Seconds. */
  start: number;
  end: number;
  kind: AnomalyKind;
}

/** Seconds each kind lasts. Clicks are a short train of impulses. */
const DURATION: Record<AnomalyKind, number> = {
  click: 0.06, 'noise-0dB': 0.4, 'noise-10dB': 0.4, 'noise-20dB': 0.4, dropout: 0.3, clipping: 0.5, hum: 0.8,
  'pitch-shift': 0.8, 'time-reversed': 0.8, 'non-speech': 0.6,
};

function rms(x: Float32Array, a = 0, b = x.length): number {
  let s = 0;
  for (let i = a; i < b; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / Math.max(1, b - a));
}

/** Where the voice is: the loudest `len`-sample stretch start (so anomalies land on speech, not pauses). */
function placeOnSpeech(x: Float32Array, len: number, rand: () => number): number {
  const n = x.length;
  if (len >= n) return 0;
  const hop = 512;
  const cands: { s: number; e: number }[] = [];
  for (let s = 0; s + len <= n; s += hop) cands.push({ s, e: rms(x, s, s + len) });
  const sorted = [...cands].sort((a, b) => b.e - a.e);
  const top = sorted.slice(0, Math.max(1, Math.ceil(sorted.length / 3)));
  return top[Math.floor(rand() * top.length)]!.s;
}

/** Injects one anomaly of `kind` into a copy of `x` (sampled at `sr`). */
export function inject(x: Float32Array, sr: number, kind: AnomalyKind, seed: number): Injected {
  const rand = mulberry32(seed);
  const randn = gaussian(rand);
  const y = Float32Array.from(x);
  const len = Math.min(x.length, Math.round(DURATION[kind] * sr));
  const s = placeOnSpeech(x, len, rand);
  const e = s + len;
  const level = Math.max(rms(x), 1e-3); // the clip's speech level
  switch (kind) {
    case 'click': {
      // 3 impulses of ±0.9 (a scratch/click train), one sample wide, with a short ring.
      for (let k = 0; k < 3; k++) {
        const p = s + Math.floor((k + rand()) * (len / 3));
        const sign = rand() < 0.5 ? -1 : 1;
        for (let i = 0; i < 24 && p + i < e; i++) y[p + i] = Math.max(-1, Math.min(1, y[p + i]! + sign * 0.9 * Math.exp(-i / 4) * Math.cos(i * 1.3)));
      }
      break;
    }
    case 'noise-0dB':
    case 'noise-10dB':
    case 'noise-20dB': {
      const snr = Number(kind.slice(6, -2));
      const sig = Math.max(rms(x, s, e), 1e-3);
      const g = sig / 10 ** (snr / 20);
      for (let i = s; i < e; i++) y[i] = y[i]! + g * randn();
      break;
    }
    case 'dropout':
      y.fill(0, s, e);
      break;
    case 'clipping': {
      let peak = 0;
      for (let i = s; i < e; i++) peak = Math.max(peak, Math.abs(x[i]!));
      const c = 0.25 * peak;
      for (let i = s; i < e; i++) y[i] = Math.max(-c, Math.min(c, y[i]!)) * (peak / Math.max(c, 1e-9)) * 0.5;
      break;
    }
    case 'hum': {
      // Mains hum: 50 Hz and its first harmonics (60 Hz half the time), 6 dB under the speech.
      const f0 = rand() < 0.5 ? 50 : 60;
      const a = level * 0.5;
      for (let i = s; i < e; i++) {
        const t = i / sr;
        let v = 0;
        for (let h = 1; h <= 5; h++) v += Math.sin(2 * Math.PI * f0 * h * t + h) / h;
        y[i] = y[i]! + a * v;
      }
      break;
    }
    case 'pitch-shift': {
      // The same stretch played 1.5× faster (pitch up a fifth, chipmunk), looped to fill it.
      const src = x.subarray(s, Math.min(x.length, s + Math.round(len * 1.5)));
      const up = resample(Float32Array.from(src), Math.round(sr * 1.5), sr);
      for (let i = 0; i < len; i++) y[s + i] = up[i % up.length]!;
      break;
    }
    case 'time-reversed':
      for (let i = 0; i < len; i++) y[s + i] = x[e - 1 - i]!;
      break;
    case 'non-speech': {
      // A bell (inharmonic partials, exponential decay) with a whistle chirp, at the speech's level.
      const f = 600 + 600 * rand();
      const ratios = [1, 2.76, 5.4, 8.93];
      const tmp = new Float32Array(len);
      for (let i = 0; i < len; i++) {
        const t = i / sr;
        let v = 0;
        ratios.forEach((r, k) => (v += Math.exp(-t * (3 + 2 * k)) * Math.sin(2 * Math.PI * f * r * t) / (k + 1)));
        v += 0.5 * Math.sin(2 * Math.PI * (1500 * t + 1500 * t * t));
        tmp[i] = v;
      }
      const g = (2 * level) / Math.max(rms(tmp), 1e-9);
      for (let i = 0; i < len; i++) y[s + i] = Math.max(-1, Math.min(1, 0.3 * y[s + i]! + g * tmp[i]!));
      break;
    }
  }
  return { audio: y, start: s / sr, end: e / sr, kind };
}
