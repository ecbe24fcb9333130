/**
 * Log-mel spectrograms exactly as NVIDIA tacotron2's `TacotronSTFT.mel_spectrogram` computes them
 * (the front end WaveGlow and Tacotron 2 train on), computed in Float64 and returned as Float32:
 *
 *   reflect-pad nFft/2 → periodic-Hann STFT → magnitude |X| (not power)
 *   → Slaney area-normalised mel filterbank (librosa 0.6 `filters.mel`, htk=False, norm=1)
 *   → ln(max(mel, 1e-5)).
 *
 * Output layout is channels-last: data[frame·nMels + m].
 */
import { StftPlan, checkSignal, type Spectrogram } from './stft.js';

export interface MelConfig {
  sampleRate: number;
  /** FFT size (tacotron2 `filter_length`). */
  nFft: number;
  /** Hop length in samples. */
  hop: number;
  /** Window length ≤ nFft. */
  winLength: number;
  nMels: number;
  /** Lowest band edge in Hz. */
  fmin: number;
  /** Highest band edge in Hz (≤ sampleRate/2). */
  fmax: number;
  /** Clamp before the log (tacotron2's dynamic_range_compression clip_val). */
  logFloor: number;
}

/** tacotron2 / WaveGlow defaults: 22050 Hz, 1024/256/1024, 80 mels over 0–8000 Hz, floor 1e-5. */
export const TACOTRON_MEL: Readonly<MelConfig> = Object.freeze({
  sampleRate: 22050,
  nFft: 1024,
  hop: 256,
  winLength: 1024,
  nMels: 80,
  fmin: 0,
  fmax: 8000,
  logFloor: 1e-5,
});

/** A (log-)mel spectrogram, channels-last: data[frame·nMels + m]. */
export interface MelSpectrogram {
  data: Float32Array;
  frames: number;
  nMels: number;
}

// Slaney mel scale (librosa htk=False): linear below 1 kHz, logarithmic above.
const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP; // 15
const LOG_STEP = Math.log(6.4) / 27;

export function hzToMel(hz: number): number {
  return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) / LOG_STEP : hz / F_SP;
}

export function melToHz(mel: number): number {
  return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOG_STEP * (mel - MIN_LOG_MEL)) : F_SP * mel;
}

/** numpy.linspace(start, stop, num) including numpy's rounding (arange·step + start, last = stop). */
function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (num > 1) out[num - 1] = stop;
  return out;
}

export type MelBasisConfig = Pick<MelConfig, 'sampleRate' | 'nFft' | 'nMels' | 'fmin' | 'fmax'>;

function checkMelConfig(cfg: MelBasisConfig): void {
  const { sampleRate, nFft, nMels, fmin, fmax } = cfg;
  if (!(sampleRate > 0)) throw new Error(`sampleRate must be positive, got ${sampleRate}`);
  if (!Number.isInteger(nMels) || nMels < 1) throw new Error(`nMels must be a positive integer, got ${nMels}`);
  if (!Number.isInteger(nFft) || nFft < 2) throw new Error(`nFft must be an integer ≥ 2, got ${nFft}`);
  if (!(fmin >= 0 && fmin < fmax && fmax <= sampleRate / 2)) {
    throw new Error(`need 0 ≤ fmin < fmax ≤ sampleRate/2 = ${sampleRate / 2}, got fmin ${fmin}, fmax ${fmax}`);
  }
}

/**
 * Slaney mel filterbank, row-major (nMels × (nFft/2 + 1)), Float64: librosa 0.6 `filters.mel` with
 * htk=False, norm=1. nMels + 2 points equally spaced in mel from mel(fmin) to mel(fmax); band i is
 * the triangle max(0, min((f − f_i)/(f_{i+1} − f_i), (f_{i+2} − f)/(f_{i+2} − f_{i+1}))) scaled by
 * 2/(f_{i+2} − f_i) (area normalisation).
 */
export function melFilterbank(cfg: MelBasisConfig): Float64Array {
  checkMelConfig(cfg);
  const { sampleRate, nFft, nMels, fmin, fmax } = cfg;
  const bins = Math.floor(nFft / 2) + 1;
  const fftFreqs = linspace(0, sampleRate / 2, bins);
  const mels = linspace(hzToMel(fmin), hzToMel(fmax), nMels + 2);
  const melF = mels.map(melToHz);
  const w = new Float64Array(nMels * bins);
  for (let i = 0; i < nMels; i++) {
    const f0 = melF[i]!;
    const f1 = melF[i + 1]!;
    const f2 = melF[i + 2]!;
    const enorm = 2 / (f2 - f0);
    for (let k = 0; k < bins; k++) {
      const f = fftFreqs[k]!;
      const lower = -(f0 - f) / (f1 - f0);
      const upper = (f2 - f) / (f2 - f1);
      w[i * bins + k] = Math.max(0, Math.min(lower, upper)) * enorm;
    }
  }
  return w;
}

/** A filterbank with the nonzero range of each band, for sparse products. */
interface MelBasis {
  weights: Float64Array;
  nMels: number;
  bins: number;
  lo: Int32Array;
  hi: Int32Array;
  /** Pseudo-inverse, computed on first use. */
  pinv?: Float64Array;
}

const basisCache = new Map<string, MelBasis>();

function melBasis(cfg: MelBasisConfig): MelBasis {
  const key = `${cfg.sampleRate}/${cfg.nFft}/${cfg.nMels}/${cfg.fmin}/${cfg.fmax}`;
  let b = basisCache.get(key);
  if (b) return b;
  const weights = melFilterbank(cfg);
  const bins = Math.floor(cfg.nFft / 2) + 1;
  const lo = new Int32Array(cfg.nMels);
  const hi = new Int32Array(cfg.nMels);
  for (let m = 0; m < cfg.nMels; m++) {
    let a = bins;
    let z = 0;
    for (let k = 0; k < bins; k++) {
      if (weights[m * bins + k] !== 0) {
        if (a === bins) a = k;
        z = k + 1;
      }
    }
    lo[m] = a === bins ? 0 : a;
    hi[m] = z;
  }
  b = { weights, nMels: cfg.nMels, bins, lo, hi };
  basisCache.set(key, b);
  return b;
}

/** mel[t, m] = Σ_k basis[m, k]·mag[t, k] (Float64, channels-last). */
export function melFromMagnitude(magnitude: Spectrogram, cfg: MelBasisConfig): Float64Array {
  const basis = melBasis(cfg);
  if (magnitude.bins !== basis.bins) throw new Error(`magnitude has ${magnitude.bins} bins, nFft = ${cfg.nFft} needs ${basis.bins}`);
  const { frames } = magnitude;
  const { nMels, bins, weights, lo, hi } = basis;
  const out = new Float64Array(frames * nMels);
  for (let t = 0; t < frames; t++) {
    const row = t * bins;
    for (let m = 0; m < nMels; m++) {
      let s = 0;
      const wRow = m * bins;
      for (let k = lo[m]!; k < hi[m]!; k++) s += weights[wRow + k]! * magnitude.data[row + k]!;
      out[t * nMels + m] = s;
    }
  }
  return out;
}

function fullConfig(cfg: Partial<MelConfig>): MelConfig {
  return { ...TACOTRON_MEL, ...cfg };
}

/** Magnitude STFT with the mel config's framing (reflect-padded, centred, periodic Hann). */
export function melStftMagnitude(signal: ArrayLike<number>, config: Partial<MelConfig> = TACOTRON_MEL): Spectrogram {
  const cfg = fullConfig(config);
  checkSignal(signal, cfg.nFft, true);
  const plan = new StftPlan({ nFft: cfg.nFft, hop: cfg.hop, winLength: cfg.winLength });
  const frames = plan.frames(signal.length);
  const re = new Float64Array(frames * plan.bins);
  const im = new Float64Array(frames * plan.bins);
  plan.forwardInto(signal, re, im);
  for (let i = 0; i < re.length; i++) re[i] = Math.sqrt(re[i]! * re[i]! + im[i]! * im[i]!);
  return { data: re, frames, bins: plan.bins };
}

/** Log-mel in Float64 (no Float32 rounding), for metrics. */
export function logMelFloat64(signal: ArrayLike<number>, config: Partial<MelConfig> = TACOTRON_MEL): { data: Float64Array; frames: number; nMels: number } {
  const cfg = fullConfig(config);
  const mag = melStftMagnitude(signal, cfg);
  const mel = melFromMagnitude(mag, cfg);
  const floor = cfg.logFloor;
  for (let i = 0; i < mel.length; i++) mel[i] = Math.log(Math.max(mel[i]!, floor));
  return { data: mel, frames: mag.frames, nMels: cfg.nMels };
}

/**
 * Log-mel spectrogram of a mono signal in [−1, 1] (tacotron2 `mel_spectrogram`), channels-last.
 * Throws for NaN/Inf samples or a signal not longer than nFft/2 (reflect padding needs it).
 */
export function logMelSpectrogram(signal: ArrayLike<number>, config: Partial<MelConfig> = TACOTRON_MEL): MelSpectrogram {
  const { data, frames, nMels } = logMelFloat64(signal, config);
  return { data: Float32Array.from(data), frames, nMels };
}

/**
 * Moore–Penrose pseudo-inverse of the mel basis, row-major (bins × nMels): Mᵀ(MMᵀ)⁻¹, since M has
 * full row rank. A tiny ridge (1e-10 of the mean diagonal) keeps it defined if a band is empty.
 * Cached per configuration: do not modify the returned array.
 */
export function melPseudoInverse(cfg: MelBasisConfig): Float64Array {
  const basis = melBasis(cfg);
  basis.pinv ??= computePseudoInverse(basis);
  return basis.pinv;
}

function computePseudoInverse(basis: MelBasis): Float64Array {
  const { weights: m, nMels: r, bins: c } = basis;
  // A = M·Mᵀ (r × r), symmetric positive definite.
  const a = new Float64Array(r * r);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += m[i * c + k]! * m[j * c + k]!;
      a[i * r + j] = s;
      a[j * r + i] = s;
    }
  }
  let trace = 0;
  for (let i = 0; i < r; i++) trace += a[i * r + i]!;
  const ridge = (1e-10 * trace) / r;
  for (let i = 0; i < r; i++) a[i * r + i] += ridge;
  // Cholesky A = L·Lᵀ, then A⁻¹ column by column.
  const l = new Float64Array(r * r);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * r + j]!;
      for (let k = 0; k < j; k++) s -= l[i * r + k]! * l[j * r + k]!;
      if (i === j) {
        if (!(s > 0)) throw new Error('mel basis Gram matrix is not positive definite');
        l[i * r + i] = Math.sqrt(s);
      } else {
        l[i * r + j] = s / l[j * r + j]!;
      }
    }
  }
  const inv = new Float64Array(r * r);
  const y = new Float64Array(r);
  for (let col = 0; col < r; col++) {
    for (let i = 0; i < r; i++) {
      let s = i === col ? 1 : 0;
      for (let k = 0; k < i; k++) s -= l[i * r + k]! * y[k]!;
      y[i] = s / l[i * r + i]!;
    }
    for (let i = r - 1; i >= 0; i--) {
      let s = y[i]!;
      for (let k = i + 1; k < r; k++) s -= l[k * r + i]! * inv[k * r + col]!;
      inv[i * r + col] = s / l[i * r + i]!;
    }
  }
  // P = Mᵀ·A⁻¹ (c × r)
  const p = new Float64Array(c * r);
  for (let k = 0; k < c; k++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let i = 0; i < r; i++) s += m[i * c + k]! * inv[i * r + j]!;
      p[k * r + j] = s;
    }
  }
  return p;
}

export interface MelInversionOptions {
  /**
   * Multiplicative NNLS refinement steps after the clamped pseudo-inverse (default 0: plain
   * clamped pinv). Clamping loses much for sparse spectra (a chirp: ~7 dB log-mel error on loud
   * bins); each step S ← S·(Mᵀmel)/(MᵀM·S) lowers ‖M·S − mel‖ while keeping S ≥ 0.
   */
  nnlsIterations?: number;
}

/**
 * Linear STFT magnitude from a log-mel spectrogram: exp, then the mel basis pseudo-inverse, clamped
 * at ≥ 0 (the approximation Griffin-Lim starts from), optionally refined towards the non-negative
 * least-squares solution.
 */
export function melToLinearMagnitude(logMel: MelSpectrogram, config: Partial<MelConfig> = TACOTRON_MEL, options: MelInversionOptions = {}): Spectrogram {
  const cfg = fullConfig(config);
  const iters = options.nnlsIterations ?? 0;
  if (!Number.isInteger(iters) || iters < 0) throw new Error(`nnlsIterations must be a non-negative integer, got ${iters}`);
  if (logMel.nMels !== cfg.nMels) throw new Error(`mel has ${logMel.nMels} bands, config expects ${cfg.nMels}`);
  if (logMel.data.length !== logMel.frames * logMel.nMels) {
    throw new Error(`mel data has ${logMel.data.length} values, expected frames·nMels = ${logMel.frames * logMel.nMels}`);
  }
  const pinv = melPseudoInverse(cfg);
  const { weights, lo, hi } = melBasis(cfg);
  const r = cfg.nMels;
  const bins = Math.floor(cfg.nFft / 2) + 1;
  const { frames } = logMel;
  const mel = new Float64Array(r);
  const mtMel = new Float64Array(bins);
  const ms = new Float64Array(r);
  const mtms = new Float64Array(bins);
  const out = new Float64Array(frames * bins);
  for (let t = 0; t < frames; t++) {
    for (let j = 0; j < r; j++) {
      const v = logMel.data[t * r + j]!;
      if (!Number.isFinite(v)) throw new Error(`log-mel contains ${v} at frame ${t}, band ${j}`);
      mel[j] = Math.exp(v);
    }
    const row = out.subarray(t * bins, (t + 1) * bins);
    let peak = 0;
    for (let k = 0; k < bins; k++) {
      let s = 0;
      for (let j = 0; j < r; j++) s += pinv[k * r + j]! * mel[j]!;
      row[k] = s > 0 ? s : 0;
      if (s > peak) peak = s;
    }
    if (iters === 0) continue;
    // Multiplicative updates keep zeros at zero: lift covered bins to a small floor first.
    mtMel.fill(0);
    for (let j = 0; j < r; j++) for (let k = lo[j]!; k < hi[j]!; k++) mtMel[k] += weights[j * bins + k]! * mel[j]!;
    for (let k = 0; k < bins; k++) if (mtMel[k]! > 0 && row[k]! < 1e-3 * peak) row[k] = 1e-3 * peak + 1e-12;
    for (let it = 0; it < iters; it++) {
      for (let j = 0; j < r; j++) {
        let s = 0;
        for (let k = lo[j]!; k < hi[j]!; k++) s += weights[j * bins + k]! * row[k]!;
        ms[j] = s;
      }
      mtms.fill(0);
      for (let j = 0; j < r; j++) for (let k = lo[j]!; k < hi[j]!; k++) mtms[k] += weights[j * bins + k]! * ms[j]!;
      for (let k = 0; k < bins; k++) row[k] = mtms[k]! > 0 ? (row[k]! * mtMel[k]!) / mtms[k]! : 0;
    }
  }
  return { data: out, frames, bins };
}
