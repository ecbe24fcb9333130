/**
 * Griffin-Lim phase reconstruction (the classic baseline vocoder), with the "fast Griffin-Lim"
 * momentum of Perraudin et al. 2013 as librosa implements it (momentum 0.99 by default; 0 gives the
 * original algorithm).
 */
import { StftPlan, type Spectrogram, type StftConfig } from './stft.js';
import { TACOTRON_MEL, melToLinearMagnitude, type MelConfig, type MelInversionOptions, type MelSpectrogram } from './mel.js';
import { mulberry32 } from '../util/random.js';

export interface GriffinLimOptions extends MelInversionOptions {
  /** Iterations (default 60, as tacotron2's inference notebook). */
  iterations?: number;
  /** Fast Griffin-Lim momentum in [0, 1) (default 0.99; 0 = plain Griffin-Lim). */
  momentum?: number;
  /** Seed of the random initial phases (default 0), so results are reproducible. */
  seed?: number;
  /** Raise the magnitude to this power before reconstruction (default 1; >1 sharpens). */
  power?: number;
  /** Output length in samples (default hop·(frames − 1)). */
  length?: number;
}


/** Griffin-Lim from a linear STFT magnitude (channels-last, bins = nFft/2 + 1). */
export function griffinLimFromMagnitude(magnitude: Spectrogram, stftConfig: StftConfig, options: GriffinLimOptions = {}): Float32Array {
  const { iterations = 60, momentum = 0.99, seed = 0, power = 1 } = options;
  if (!Number.isInteger(iterations) || iterations < 0) throw new Error(`iterations must be a non-negative integer, got ${iterations}`);
  if (!(momentum >= 0 && momentum < 1)) throw new Error(`momentum must be in [0, 1), got ${momentum}`);
  const plan = new StftPlan({ ...stftConfig, center: stftConfig.center ?? true });
  const { frames, bins } = magnitude;
  if (bins !== plan.bins) throw new Error(`magnitude has ${bins} bins, nFft = ${plan.nFft} needs ${plan.bins}`);
  const length = options.length ?? plan.inverseLength(frames);
  if (plan.center && plan.frames(length) !== frames) {
    throw new Error(`output length ${length} gives ${plan.frames(length)} frames, not ${frames}`);
  }
  if (plan.center && length <= plan.nFft >> 1) {
    throw new Error(`Griffin-Lim needs more than ${plan.nFft >> 1} output samples (${frames} frames give ${length})`);
  }
  const n = frames * bins;
  const mag = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = magnitude.data[i]!;
    if (!Number.isFinite(v) || v < 0) throw new Error(`magnitude must be finite and ≥ 0, got ${v} at index ${i}`);
    mag[i] = power === 1 ? v : Math.pow(v, power);
  }

  // Unit phasors (cr, ci); spectrum to invert (sr, si); re-analysis (rr, ri) and the previous one.
  const rand = mulberry32(seed);
  const cr = new Float64Array(n);
  const ci = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = 2 * Math.PI * rand();
    cr[i] = Math.cos(a);
    ci[i] = Math.sin(a);
  }
  const sr = new Float64Array(n);
  const si = new Float64Array(n);
  let rr = new Float64Array(n);
  let ri = new Float64Array(n);
  let pr = new Float64Array(n);
  let pi = new Float64Array(n);
  const wss = plan.windowSumSquare(frames);
  const audio = new Float64Array(length);
  const beta = momentum / (1 + momentum);

  const synthesize = (): void => {
    for (let i = 0; i < n; i++) {
      sr[i] = mag[i]! * cr[i]!;
      si[i] = mag[i]! * ci[i]!;
    }
    plan.inverseInto(sr, si, frames, audio, wss);
  };

  for (let it = 0; it < iterations; it++) {
    [pr, rr] = [rr, pr];
    [pi, ri] = [ri, pi];
    synthesize();
    plan.forwardInto(audio, rr, ri);
    for (let i = 0; i < n; i++) {
      const xr = rr[i]! - beta * pr[i]!;
      const xi = ri[i]! - beta * pi[i]!;
      const norm = Math.sqrt(xr * xr + xi * xi) + 1e-16;
      cr[i] = xr / norm;
      ci[i] = xi / norm;
    }
  }
  synthesize();
  return Float32Array.from(audio);
}

/**
 * Griffin-Lim from a log-mel spectrogram: exp, mel-basis pseudo-inverse (clamped ≥ 0) to a linear
 * magnitude (optionally NNLS-refined, `nnlsIterations`), then `iterations` rounds of (fast)
 * Griffin-Lim with the mel config's STFT.
 */
export function griffinLim(logMel: MelSpectrogram, config: Partial<MelConfig> = TACOTRON_MEL, options: GriffinLimOptions = {}): Float32Array {
  const cfg = { ...TACOTRON_MEL, ...config };
  const magnitude = melToLinearMagnitude(logMel, cfg, options);
  return griffinLimFromMagnitude(magnitude, { nFft: cfg.nFft, hop: cfg.hop, winLength: cfg.winLength }, options);
}
