/**
 * Segment scores for anomaly detection. Every score is "higher = more anomalous":
 *   nll         the flow's exact NLL, nats/sample: raw likelihood (misleads: silence scores as very normal);
 *   lr          likelihood ratio against the segment's own LPC background model: NLL_flow − NLL_LPC
 *               (Serrà et al. 2020's complexity correction with an LPC coder as the compressor);
 *   typicality  |NLL − μ| / σ with μ, σ of NLL on normal audio (Nalisnick et al. 2019's typicality test),
 *               needs a calibration;
 *   complexity  the typicality test on the complexity-corrected NLL: |NLL − (a + b·NLL_LPC)| / σ, with a, b
 *               and σ fitted on normal audio (b = 1 would be the lr); flags segments the flow finds too
 *               unlikely *or too likely* for their complexity (dropouts are the latter), needs a calibration;
 *   features    mean per-frame NLL under a flow fitted on meyda features of normal audio, needs a calibration;
 *   combined    max(complexity, features standardised on normal audio): either detector's evidence, needs a
 *               calibration with a feature flow.
 */
import { logMelSpectrogram, type MelConfig } from '../dsp/mel.js';
import { mulberry32 } from '../util/random.js';
import type { WaveGlow } from '../vocoder/waveglow.js';
import { lpcNll } from './background.js';
import { FEATURE_HOP, FeatureFlow, featureFrames, segmentMeans, type FeatureFlowJSON } from './features-flow.js';
import { lcm, mergeIntervals, planSegments, type Segment } from './segments.js';
import { segmentNll } from './vocoder-nll.js';

export const SCORE_NAMES = ['lr', 'nll', 'typicality', 'complexity', 'features', 'combined'] as const;
export type ScoreName = (typeof SCORE_NAMES)[number];

export interface SegmentScores extends Segment {
  nll: number;
  /** NLL of the LPC background model, nats/sample. */
  background: number;
  lr: number;
  typicality?: number;
  complexity?: number;
  features?: number;
  combined?: number;
}

export interface Calibration {
  format: 'flowvox-anomaly-calibration';
  version: 2;
  /** The model's config.json `source` and shape, to catch a calibration used with another model. */
  model: { n_group: number; n_flows: number; source?: string; weights?: string };
  segment: number;
  hop: number;
  fpr: number;
  /** The score `detect` uses unless told otherwise. */
  defaultScore: ScoreName;
  thresholds: Partial<Record<ScoreName, number>>;
  /** Normal NLL's mean and σ (typicality). */
  nllStats: { mean: number; std: number };
  /** NLL ≈ intercept + slope · NLL_LPC on normal audio, and the residual's σ (complexity). */
  complexityFit: { intercept: number; slope: number; std: number };
  /** Normal feature scores' mean and σ (combined). */
  featureStats?: { mean: number; std: number };
  normal: { files: number; segments: number; seconds: number };
  featureFlow?: FeatureFlowJSON;
}

export interface ScoreOptions {
  segment?: number;
  hop?: number;
  batch?: number;
  calibration?: Calibration;
  /** A feature flow already built from the calibration (saves rebuilding it per file). */
  featureFlow?: FeatureFlow;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Uniform dequantisation noise of one 16-bit step, seeded: the flow and the background see the same.
 * `rand` is the noise stream, one draw per sample in order, so a stream can continue it chunk by chunk.
 */
export function dequantise(audio: Float32Array, rand: () => number = mulberry32(0)): Float32Array {
  const d = 1 / 32768;
  return Float32Array.from(audio, (v) => v + (rand() - 0.5) * d);
}

export function checkAudio(audio: Float32Array): void {
  for (let i = 0; i < audio.length; i++) if (!Number.isFinite(audio[i]!)) throw new Error(`audio holds ${audio[i]} at sample ${i}`);
}

/** Scores every segment of `audio` (at the model's sample rate): one window holding the whole signal. */
export function scoreAudio(model: WaveGlow, mel: MelConfig, audio: Float32Array, opts: ScoreOptions = {}): SegmentScores[] {
  checkAudio(audio);
  const cal = opts.calibration;
  const segment = opts.segment ?? cal?.segment ?? 0.5;
  const hop = opts.hop ?? cal?.hop ?? 0.25;
  const segments = planSegments(audio.length, { sampleRate: mel.sampleRate, segment, hop, align: model.hop, quantum: lcm(model.config.n_group, model.hop) });
  const ff = opts.featureFlow ?? (cal?.featureFlow ? FeatureFlow.fromJSON(cal.featureFlow) : undefined);
  try {
    return scoreWindow(model, mel, { offset: 0, audio, dequantised: dequantise(audio), segments }, { calibration: cal, featureFlow: ff, batch: opts.batch, onProgress: opts.onProgress });
  } finally {
    if (!opts.featureFlow) ff?.dispose();
  }
}

/** A stretch of buffered audio and the segments to score in it (absolute sample positions). */
export interface ScoreWindow {
  /** Absolute index (model rate) of audio[0]; a multiple of the mel and feature hops. */
  offset: number;
  /** Raw samples (for the log-mel and the features). */
  audio: Float32Array;
  /** The same samples with the dequantisation noise (for the flow and the background). */
  dequantised: Float32Array;
  segments: Segment[];
}

export interface WindowScoreOptions {
  calibration?: Calibration;
  /** Built once from the calibration by the caller (scoreWindow runs per window). */
  featureFlow?: FeatureFlow;
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Scores a window's segments (scoreAudio scores the whole signal as one window). */
export function scoreWindow(model: WaveGlow, mel: MelConfig, w: ScoreWindow, opts: WindowScoreOptions = {}): SegmentScores[] {
  if (w.segments.length === 0) return [];
  if (w.offset % model.hop !== 0 || w.offset % FEATURE_HOP !== 0) throw new Error(`window offset ${w.offset} is not on the frame grid`);
  const rel = w.segments.map((s) => {
    const startSample = s.startSample - w.offset;
    if (startSample < 0 || startSample + s.length > w.audio.length) throw new Error(`segment at ${s.startSample} lies outside the window [${w.offset}, ${w.offset + w.audio.length})`);
    return { ...s, startSample };
  });
  const cal = opts.calibration;
  const logMel = logMelSpectrogram(w.audio, mel);
  const nll = segmentNll(model, w.dequantised, logMel, rel, { batch: opts.batch, onProgress: opts.onProgress });
  const bg = rel.map((s) => lpcNll(w.dequantised.subarray(s.startSample, s.startSample + s.length)));
  let feats: number[] | undefined;
  if (opts.featureFlow) {
    const f = featureFrames(w.audio, mel.sampleRate);
    feats = segmentMeans(opts.featureFlow.frameNll(f.data), rel);
  }
  return segmentScores(w.segments, nll, bg, feats, cal);
}

/** The scores of segments from the flow's NLL, the background's, and the feature flow's (when there is one). */
export function segmentScores<S extends Segment>(segs: readonly S[], nll: readonly number[], bg: readonly number[], feats: readonly number[] | undefined, cal: Calibration | undefined): (S & SegmentScores)[] {
  return segs.map((s, i) => {
    const out: S & SegmentScores = { ...s, nll: nll[i]!, background: bg[i]!, lr: nll[i]! - bg[i]! };
    if (feats) out.features = feats[i]!;
    if (cal) Object.assign(out, calibratedScores(out, cal));
    return out;
  });
}

/** The scores that need normal statistics (see the module comment). */
export function calibratedScores(s: Pick<SegmentScores, 'nll' | 'background' | 'features'>, cal: Calibration): Pick<SegmentScores, 'typicality' | 'complexity' | 'combined'> {
  const f = cal.complexityFit;
  const complexity = Math.abs(s.nll - (f.intercept + f.slope * s.background)) / f.std;
  const out: Pick<SegmentScores, 'typicality' | 'complexity' | 'combined'> = { typicality: Math.abs(s.nll - cal.nllStats.mean) / cal.nllStats.std, complexity };
  if (s.features !== undefined && cal.featureStats) out.combined = Math.max(complexity, (s.features - cal.featureStats.mean) / cal.featureStats.std);
  return out;
}

/** Least squares y ≈ intercept + slope·x, with the residual's σ. */
export function fitLine(x: readonly number[], y: readonly number[]): { intercept: number; slope: number; std: number } {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  const intercept = my - slope * mx;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (y[i]! - intercept - slope * x[i]!) ** 2;
  return { intercept, slope, std: Math.max(Math.sqrt(ss / Math.max(1, n - 2)), 1e-6) };
}

/** Segments whose `name` score exceeds `threshold`, merged into events (seconds) with their peak score. */
export function flaggedEvents(segs: readonly SegmentScores[], name: ScoreName, threshold: number): { start: number; end: number; peakScore: number }[] {
  const hits = segs.filter((s) => scoreOf(s, name) > threshold);
  return mergeIntervals(hits.map((s) => [s.start, s.end] as const)).map(([start, end]) => ({
    start, end, peakScore: Math.max(...hits.filter((s) => s.start < end && s.end > start).map((s) => scoreOf(s, name))),
  }));
}

/** The value of one named score (NaN when that score needs a calibration it does not have). */
export function scoreOf(s: SegmentScores, name: ScoreName): number {
  const v = s[name];
  return v === undefined ? Number.NaN : v;
}
