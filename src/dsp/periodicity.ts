/**
 * Periodicity of voiced speech: a number for "the spectrogram shows harmonics, not noise".
 *
 * Per analysis frame, the peak of the normalised cross-correlation function (NCCF, as in RAPT and
 * Praat's harmonicity) over the lags of a pitch range:
 *
 *   r_t = max_{τ ∈ [sr/fmax, sr/fmin]}  Σ_n x[s+n]·x[s+n+τ] / sqrt( Σ_n x[s+n]² · Σ_n x[s+n+τ]² ),  n = 0 … W−1
 *
 * with frame t starting at s = t·hop − W/2 (the mel's centred frames). A periodic signal gives r ≈ 1
 * (its lines in a spectrogram are its harmonics); white noise about 0.09 at W = 1024; noise shaped
 * like speech's envelope sits in between, since a spectral envelope alone correlates at short lags.
 * Written by hand (direct sums): only a few hundred lags are needed, and it must run on every backend.
 */

export interface PeriodicityConfig {
  sampleRate: number;
  /** Correlation window W in samples (default 1024, the mel's window). */
  window: number;
  /** Frame step in samples (default 256, the mel's hop). */
  hop: number;
  /** Pitch range searched, Hz (default 70–400). */
  fmin: number;
  fmax: number;
  /**
   * `lag` is the shortest lag whose r is within this fraction of the peak's (default 0: the peak's own).
   * A multiple of the period correlates almost as well as the period; e.g. 0.05 avoids most such octave errors.
   */
  lagTolerance?: number;
}

export const SPEECH_PERIODICITY: PeriodicityConfig = Object.freeze({ sampleRate: 22050, window: 1024, hop: 256, fmin: 70, fmax: 400 });

/** Voiced frames: the reference's r ≥ this and its energy within `VOICED_RANGE_DB` of its loudest frame. */
export const VOICED_MIN_PERIODICITY = 0.7;
export const VOICED_RANGE_DB = 40;
/** Unvoiced frames: the reference's r below this (audible, as voiced ones): periodicity there is a buzz. */
export const UNVOICED_MAX_PERIODICITY = 0.5;

function resolve(config: Partial<PeriodicityConfig>): PeriodicityConfig & { minLag: number; maxLag: number } {
  const c = { ...SPEECH_PERIODICITY, ...config };
  for (const k of ['sampleRate', 'window', 'hop', 'fmin', 'fmax'] as const) {
    if (!(Number.isFinite(c[k]) && c[k] > 0)) throw new Error(`periodicity ${k} must be a positive number, got ${c[k]}`);
  }
  if (c.lagTolerance !== undefined && !(c.lagTolerance >= 0 && c.lagTolerance < 1)) throw new Error(`periodicity lagTolerance must lie in [0, 1), got ${c.lagTolerance}`);
  if (!(c.fmin < c.fmax)) throw new Error(`periodicity fmin (${c.fmin}) must be below fmax (${c.fmax})`);
  const minLag = Math.max(1, Math.floor(c.sampleRate / c.fmax));
  const maxLag = Math.ceil(c.sampleRate / c.fmin);
  return { ...c, window: Math.round(c.window), hop: Math.round(c.hop), minLag, maxLag };
}

/** Number of centred frames of a signal of `length` samples (as the mel: 1 + ⌊length / hop⌋). */
export function periodicityFrames(length: number, config: Partial<PeriodicityConfig> = {}): number {
  return 1 + Math.floor(length / resolve(config).hop);
}

export interface FramePeriodicity {
  /** r_t per frame (0 for a silent frame). */
  periodicity: Float64Array;
  /** Σ x² over each frame's window. */
  energy: Float64Array;
  /** The lag τ of r_t's peak, in samples (0 for a silent frame): the pitch period where the frame is voiced. */
  lag: Int32Array;
}

/**
 * r_t and the window energy at the given frames (default: all of them). Samples outside the signal
 * count as zeros, as the mel's padding would not help a correlation.
 */
export function framePeriodicity(x: Float32Array, config: Partial<PeriodicityConfig> = {}, frames?: ArrayLike<number>): FramePeriodicity {
  const c = resolve(config);
  const total = periodicityFrames(x.length, c);
  const which = frames ?? Array.from({ length: total }, (_, i) => i);
  const W = c.window;
  const span = W + c.maxLag;
  const seg = new Float64Array(span);
  const cum = new Float64Array(span + 1); // running Σ x² over seg, for each lag's energy
  const periodicity = new Float64Array(which.length);
  const energy = new Float64Array(which.length);
  const lag = new Int32Array(which.length);
  const tolerance = c.lagTolerance ?? 0;
  const rs = new Float64Array(c.maxLag + 2); // r per lag, for lagTolerance
  for (let k = 0; k < which.length; k++) {
    const t = which[k]!;
    if (!Number.isInteger(t) || t < 0 || t >= total) throw new Error(`frame ${t} is outside 0…${total - 1}`);
    const s = t * c.hop - (W >> 1);
    for (let i = 0; i < span; i++) {
      const j = s + i;
      seg[i] = j >= 0 && j < x.length ? x[j]! : 0;
      cum[i + 1] = cum[i]! + seg[i]! * seg[i]!;
    }
    const e0 = cum[W]!;
    energy[k] = e0;
    if (e0 <= 0) continue;
    let best = 0;
    for (let tau = c.minLag; tau <= c.maxLag; tau++) {
      const et = cum[tau + W]! - cum[tau]!;
      rs[tau] = 0;
      if (et <= 0) continue;
      let dot = 0;
      for (let n = 0; n < W; n++) dot += seg[n]! * seg[n + tau]!;
      const r = dot / Math.sqrt(e0 * et);
      rs[tau] = r;
      if (r > best) {
        best = r;
        lag[k] = tau;
      }
    }
    periodicity[k] = best;
    if (tolerance > 0 && best > 0) {
      for (let tau = c.minLag; tau < lag[k]!; tau++) {
        if (rs[tau]! >= (1 - tolerance) * best && rs[tau]! >= rs[tau - 1]! && rs[tau]! >= rs[tau + 1]!) {
          lag[k] = tau; // the first local peak that is nearly as high
          break;
        }
      }
    }
  }
  return { periodicity, energy, lag };
}

export interface VoicedPeriodicity {
  /** Frames of the reference judged voiced (or unvoiced, for `which` 'unvoiced'). */
  voicedFrames: number;
  /** The reference's own mean r over its voiced frames (NaN when none is voiced). */
  reference: number;
  /** Mean r over those frames, per signal, in the order given (NaN when no frame is voiced). */
  means: number[];
}

/**
 * Mean periodicity of each signal over the reference's voiced frames (r ≥ VOICED_MIN_PERIODICITY and
 * energy within VOICED_RANGE_DB of its loudest frame). A vocoder that draws harmonics scores near the
 * reference; one that draws noise with the right envelope scores near random-phase noise.
 * `which` 'unvoiced' takes the audible frames with r < UNVOICED_MAX_PERIODICITY instead (fricatives,
 * breath): there a vocoder that buzzes scores above the reference.
 */
export function voicedPeriodicity(
  reference: Float32Array, signals: readonly Float32Array[], config: Partial<PeriodicityConfig> = {}, which: 'voiced' | 'unvoiced' = 'voiced',
  // The reference's own analysis, when the caller already has it (both selections of one reference need one pass).
  ref: FramePeriodicity = framePeriodicity(reference, config),
): VoicedPeriodicity {
  let maxEnergy = 0;
  for (const e of ref.energy) maxEnergy = Math.max(maxEnergy, e);
  const floor = maxEnergy * 10 ** (-VOICED_RANGE_DB / 10);
  const voiced: number[] = [];
  for (let t = 0; t < ref.periodicity.length; t++) {
    const r = ref.periodicity[t]!;
    if ((which === 'voiced' ? r >= VOICED_MIN_PERIODICITY : r < UNVOICED_MAX_PERIODICITY) && ref.energy[t]! > 0 && ref.energy[t]! >= floor) voiced.push(t);
  }
  let refSum = 0;
  for (const t of voiced) refSum += ref.periodicity[t]!;
  const means = signals.map((x) => {
    if (voiced.length === 0) return NaN;
    // Frames past a shorter signal's end are compared as silence (r = 0): missing audio is not periodic.
    const frames = periodicityFrames(x.length, config);
    const inRange = voiced.filter((t) => t < frames);
    const r = framePeriodicity(x, config, inRange).periodicity;
    let s = 0;
    for (const v of r) s += v;
    return s / voiced.length;
  });
  return { voicedFrames: voiced.length, reference: voiced.length ? refSum / voiced.length : NaN, means };
}
