/**
 * Objective distances between two signals, for comparing vocoders (and Griffin-Lim) against a
 * reference. All are ≥ 0 and 0 for identical inputs. When the two inputs differ in length (a vocoder
 * rarely returns exactly the reference's length), frames beyond the shorter one are ignored.
 */
import { TACOTRON_MEL, logMelFloat64, type MelConfig, type MelSpectrogram } from './mel.js';
import { stftMagnitude } from './stft.js';

/** Audio samples (converted with the mel config) or an already computed natural-log mel spectrogram. */
export type AudioOrLogMel = Float32Array | MelSpectrogram;

interface LogMel {
  data: ArrayLike<number>;
  frames: number;
  nMels: number;
}

function toLogMel(x: AudioOrLogMel, cfg: Partial<MelConfig>): LogMel {
  if (x instanceof Float32Array) return logMelFloat64(x, cfg);
  if (x.data.length !== x.frames * x.nMels) throw new Error(`mel data has ${x.data.length} values, expected frames·nMels = ${x.frames * x.nMels}`);
  return x;
}

function pair(a: AudioOrLogMel, b: AudioOrLogMel, cfg: Partial<MelConfig>): [LogMel, LogMel, number] {
  const la = toLogMel(a, cfg);
  const lb = toLogMel(b, cfg);
  if (la.nMels !== lb.nMels) throw new Error(`mel band counts differ: ${la.nMels} vs ${lb.nMels}`);
  const frames = Math.min(la.frames, lb.frames);
  if (frames < 1) throw new Error('no frames to compare');
  return [la, lb, frames];
}

const DB_PER_NEPER = 20 / Math.LN10; // 20·log10(x) = (20/ln 10)·ln(x)

/**
 * Log-mel spectral distance in dB: the RMS over frames and mel bands of the difference of
 * 20·log10(mel magnitude), with the mel spectrogram of `config` (TacotronSTFT: magnitude mels over
 * 0–8 kHz, floored at 1e-5):
 *
 *   D = sqrt( mean_{t,m} ( (20/ln 10)·(ln mel_a[t,m] − ln mel_b[t,m]) )² )
 *
 * A uniform gain g changes it by |20·log10 g|, e.g. 6.02 dB for a factor of 2.
 */
export function logMelDistanceDb(a: AudioOrLogMel, b: AudioOrLogMel, config: Partial<MelConfig> = TACOTRON_MEL): number {
  const [la, lb, frames] = pair(a, b, config);
  const n = frames * la.nMels;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const d = DB_PER_NEPER * (la.data[i]! - lb.data[i]!);
    s += d * d;
  }
  return Math.sqrt(s / n);
}

/** Orthonormal DCT-II basis rows k = 0 … nCoeffs−1 over n inputs (scipy `dct(type=2, norm='ortho')`). */
function dctBasis(n: number, nCoeffs: number): Float64Array {
  const out = new Float64Array(nCoeffs * n);
  for (let k = 0; k < nCoeffs; k++) {
    const s = k === 0 ? Math.sqrt(1 / n) : Math.sqrt(2 / n);
    for (let i = 0; i < n; i++) out[k * n + i] = s * Math.cos((Math.PI * k * (2 * i + 1)) / (2 * n));
  }
  return out;
}

/**
 * Mel cepstral distortion in dB, averaged over frames. Cepstra are MFCC-like: the orthonormal
 * DCT-II of each frame's natural-log mel spectrum, coefficients c1 … c(nCoeffs−1) (c0, the overall
 * level, is excluded):
 *
 *   MCD = mean_t (10/ln 10)·sqrt( 2·Σ_{k=1}^{nCoeffs−1} (c_a[t,k] − c_b[t,k])² )
 *
 * The standard formula (Kubichek 1993); absolute values are not comparable with MCDs computed from
 * SPTK mel-cepstra, only between systems scored the same way.
 */
export function melCepstralDistortion(a: AudioOrLogMel, b: AudioOrLogMel, config: Partial<MelConfig> = TACOTRON_MEL, nCoeffs = 13): number {
  const [la, lb, frames] = pair(a, b, config);
  const r = la.nMels;
  if (!Number.isInteger(nCoeffs) || nCoeffs < 2 || nCoeffs > r) throw new Error(`nCoeffs must be an integer in [2, ${r}], got ${nCoeffs}`);
  const dct = dctBasis(r, nCoeffs);
  const diff = new Float64Array(r);
  const k0 = 10 / Math.LN10;
  let total = 0;
  for (let t = 0; t < frames; t++) {
    for (let i = 0; i < r; i++) diff[i] = la.data[t * r + i]! - lb.data[t * r + i]!;
    let s = 0;
    for (let k = 1; k < nCoeffs; k++) {
      let c = 0;
      for (let i = 0; i < r; i++) c += dct[k * r + i]! * diff[i]!;
      s += c * c;
    }
    total += k0 * Math.sqrt(2 * s);
  }
  return total / frames;
}

/** One STFT resolution of the multi-resolution distance. */
export interface StftResolution {
  nFft: number;
  hop: number;
  winLength: number;
}

/** FFT 512/1024/2048 with hop = fft/4 and a full-length periodic Hann window. */
export const MR_STFT_RESOLUTIONS: readonly StftResolution[] = Object.freeze([
  { nFft: 512, hop: 128, winLength: 512 },
  { nFft: 1024, hop: 256, winLength: 1024 },
  { nFft: 2048, hop: 512, winLength: 2048 },
]);

export interface StftDistanceTerms {
  /** ‖|S_ref| − |S|‖_F / ‖|S_ref|‖_F */
  spectralConvergence: number;
  /** mean |ln|S_ref| − ln|S||| */
  logMagnitudeL1: number;
}

/**
 * Per-resolution terms of the Parallel WaveGAN multi-resolution STFT loss (Yamamoto et al. 2020),
 * with magnitudes floored as there: |S| = sqrt(max(re² + im², 1e-7)). `reference` is the ground truth.
 */
export function stftDistanceTerms(reference: Float32Array, estimate: Float32Array, res: StftResolution): StftDistanceTerms {
  const a = stftMagnitude(reference, { ...res, center: true });
  const b = stftMagnitude(estimate, { ...res, center: true });
  const frames = Math.min(a.frames, b.frames);
  const n = frames * a.bins;
  const floor = Math.sqrt(1e-7);
  let num = 0;
  let den = 0;
  let l1 = 0;
  for (let i = 0; i < n; i++) {
    const x = Math.max(a.data[i]!, floor);
    const y = Math.max(b.data[i]!, floor);
    num += (x - y) * (x - y);
    den += x * x;
    l1 += Math.abs(Math.log(x) - Math.log(y));
  }
  return { spectralConvergence: Math.sqrt(num) / Math.sqrt(den), logMagnitudeL1: l1 / n };
}

/**
 * Multi-resolution STFT distance as in Parallel WaveGAN: the mean over resolutions (default FFT
 * 512/1024/2048, hop = fft/4) of spectral convergence + log-magnitude L1. `reference` is the ground
 * truth (spectral convergence is normalised by its energy, so the distance is not symmetric).
 * Both signals need more than 1024 samples (reflect padding of the 2048-point frames).
 */
export function multiResolutionStftDistance(reference: Float32Array, estimate: Float32Array, resolutions: readonly StftResolution[] = MR_STFT_RESOLUTIONS): number {
  if (resolutions.length === 0) throw new Error('need at least one STFT resolution');
  let total = 0;
  for (const res of resolutions) {
    const t = stftDistanceTerms(reference, estimate, res);
    total += t.spectralConvergence + t.logMagnitudeL1;
  }
  return total / resolutions.length;
}

/**
 * Share of a signal's RMS carried by one waveform repeated every `period` samples: the RMS of the
 * mean period (the signal cut into whole periods and averaged) over the RMS of the signal. A
 * vocoder that groups audio by mel frame can add a fixed per-frame pattern — a buzz at
 * rate/period Hz and its harmonics, independent of the mel — which this exposes; natural audio
 * scores about 1/√(number of periods), the level of chance. 0 for silence.
 */
export function frameLockedShare(x: Float32Array, period: number): number {
  if (!Number.isInteger(period) || period < 1) throw new Error(`period must be a positive integer, got ${period}`);
  const n = Math.floor(x.length / period);
  if (n < 1) throw new Error(`signal of ${x.length} samples is shorter than one period (${period})`);
  const pattern = new Float64Array(period);
  let total = 0;
  for (let i = 0; i < n * period; i++) {
    pattern[i % period] += x[i]!;
    total += x[i]! * x[i]!;
  }
  if (total === 0) return 0;
  let p = 0;
  for (const v of pattern) p += (v / n) * (v / n);
  return Math.sqrt(p / period) / Math.sqrt(total / (n * period));
}

