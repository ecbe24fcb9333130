/**
 * Pretraining of the pitch predictor's net (src/vocoder/pitch.ts) as a classifier: from the log-mel
 * frames around frame f, the lag at which the audio's NCCF peaks (or "unvoiced"), with soft targets
 * (`pitchTargets`). Likelihood training cannot find the pitch from scratch: with the gain at 0 the
 * likelihood does not depend on p at all, so p must already point at the right lag.
 * Measured in the probe (follow-up 18): 12 minutes on wasm, 62 % of voiced frames within 3 %.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MelPitchConditioner } from '../vocoder/pitch.js';
import { pitchTargets } from '../vocoder/pitch.js';
import type { SegmentSampler } from '../vocoder/data.js';
import { Adam } from './adam.js';

export interface PitchAccuracy {
  /** Share of frames the labels call voiced. */
  voicedShare: number;
  /** Voiced frames whose predicted lag (the argmax) is within 3 % of the label's. */
  within3pct: number;
  /** Frames whose voiced/unvoiced call differs from the label's. */
  vuError: number;
}

export interface PitchPretrainOptions {
  /** Segments per step (default 16). */
  batch?: number;
  /** Adam's rate (default 1e-3). */
  lr?: number;
  /** Stop after this many minutes or steps, whichever comes first (at least one must be finite). */
  minutes?: number;
  steps?: number;
  /** Base seed of the training batches (validation uses fixed ones). */
  seed?: number;
  /** Labels: the shortest lag within this fraction of the NCCF peak (`pitchTargets`; default 0: the peak). */
  lagTolerance?: number;
  /** Validation batches for the accuracy before and after (default 6). */
  valBatches?: number;
  onStep?: (step: number, loss: number, seconds: number) => void;
  shouldStop?: () => boolean;
}

export interface PitchPretrainResult {
  steps: number;
  seconds: number;
  lastLoss: number;
  before: PitchAccuracy;
  after: PitchAccuracy;
}

interface Labelled {
  mel: tf.Tensor3D;
  targets: tf.Tensor2D;
  /** Frames per segment that carry labels (segment / hop). */
  frames: number;
}

/** A batch with its labels; the mel's extra (centred) frame past the last labelled one is kept as context. */
function labelled(cond: MelPitchConditioner, sampler: SegmentSampler, batch: number, seed: number, hop: number, lagTolerance = 0): Labelled {
  const d = sampler.draw(batch, seed);
  const frames = Math.floor(sampler.segment / hop);
  const k = cond.lags + 1;
  return {
    mel: tf.tensor3d(d.mel, [batch, d.frames, cond.nMel]),
    targets: tf.tensor2d(pitchTargets(d.audio, batch, frames, hop, sampler.mel.sampleRate, cond.config, lagTolerance), [batch * frames, k]),
    frames,
  };
}

/** Rows [B·T, C] of a per-frame output (the net's features or logits) → the labelled frames' rows [B·F, C]. */
function labelledRows(x: tf.Tensor2D, b: Labelled): tf.Tensor2D {
  return tf.tidy(() => {
    const [batch, t] = b.mel.shape;
    const perSegment = tf.reshape(x, [batch, t, x.shape[1]]);
    return tf.reshape(tf.slice(perSegment, [0, 0, 0], [batch, b.frames, -1]), [batch * b.frames, x.shape[1]]) as tf.Tensor2D;
  });
}

/** Logits of the labelled frames [B·F, K + 1]. */
function logitsOf(cond: MelPitchConditioner, b: Labelled): tf.Tensor2D {
  return tf.tidy(() => labelledRows(cond.features(b.mel).logits, b));
}

/** Fixed validation batches (seeds from 1 000 000) for the accuracy before and after pretraining or calibration. */
const VAL_BATCHES = 6;
const VAL_SEED = 1_000_000;

/** Argmax accuracy of the net on labelled batches. */
export function pitchAccuracy(cond: MelPitchConditioner, batches: readonly Labelled[]): PitchAccuracy {
  const K = cond.lags;
  let voiced = 0, hit = 0, vu = 0, n = 0;
  for (const b of batches) {
    const [pred, label] = tf.tidy(() => [logitsOf(cond, b).argMax(1).dataSync(), b.targets.argMax(1).dataSync()]);
    for (let i = 0; i < label.length; i++) {
      n++;
      const [l, p] = [label[i]!, pred[i]!];
      if ((l === K) !== (p === K)) vu++;
      if (l === K) continue;
      voiced++;
      if (p !== K && Math.abs(Math.log((cond.config.min_lag + p) / (cond.config.min_lag + l))) < 0.03) hit++;
    }
  }
  return { voicedShare: voiced / n, within3pct: voiced ? hit / voiced : NaN, vuError: vu / n };
}

/** Trains the pitch net of `cond` (its gain head untouched) on `train`; accuracy on fixed `val` batches before and after. */
export function pretrainPitchNet(cond: MelPitchConditioner, hop: number, train: SegmentSampler, val: SegmentSampler, opts: PitchPretrainOptions = {}): PitchPretrainResult {
  const batch = opts.batch ?? 16;
  const minutes = opts.minutes ?? Infinity;
  const maxSteps = opts.steps ?? Infinity;
  if (!Number.isFinite(minutes) && !Number.isFinite(maxSteps)) throw new Error('pitch pretraining needs minutes or steps');
  const vars = cond.pitchVariables();
  const params = vars.map((v, i): [string, tf.Variable] => [`pitch.${i}`, v]);
  const wasTrainable = vars.map((v) => v.trainable);
  // variableGrads ignores non-trainable variables; the net is fixed (learn_pitch false) only for the likelihood.
  for (const v of vars) v.trainable = true;
  const valSets = Array.from({ length: opts.valBatches ?? VAL_BATCHES }, (_, i) => labelled(cond, val, batch, VAL_SEED + i, hop, opts.lagTolerance));
  const adam = new Adam();
  try {
    const before = pitchAccuracy(cond, valSets);
    const t0 = performance.now();
    let step = 0;
    let lastLoss = NaN;
    while (step < maxSteps && (performance.now() - t0) / 60_000 < minutes && !opts.shouldStop?.()) {
      const b = labelled(cond, train, batch, (opts.seed ?? 0) * 1_000_003 + step + 1, hop, opts.lagTolerance);
      const { value, grads } = tf.variableGrads(
        () => tf.mean(tf.neg(tf.sum(tf.mul(b.targets, tf.logSoftmax(logitsOf(cond, b))), 1))) as tf.Scalar,
        vars,
      );
      lastLoss = value.dataSync()[0]!;
      if (!Number.isFinite(lastLoss)) throw new Error(`pitch pretraining: the loss became non-finite at step ${step + 1}`);
      const byName = new Map(params.map(([n, v]) => [n, grads[v.name]!] as [string, tf.Tensor]));
      adam.apply(params, byName, opts.lr ?? 1e-3, 0);
      tf.dispose([value, ...Object.values(grads), b.mel, b.targets]);
      step++;
      opts.onStep?.(step, lastLoss, (performance.now() - t0) / 1000);
    }
    return { steps: step, seconds: (performance.now() - t0) / 1000, lastLoss, before, after: pitchAccuracy(cond, valSets) };
  } finally {
    vars.forEach((v, i) => (v.trainable = wasTrainable[i]!));
    adam.dispose();
    for (const b of valSets) tf.dispose([b.mel, b.targets]);
  }
}

export interface VoicingCalibrationOptions {
  /** Labelled segments to fit on (default 32 batches of 16). */
  batches?: number;
  batch?: number;
  /** Full-batch Adam steps on the fixed features (default 300). */
  steps?: number;
  seed?: number;
  /** Called as the fit's batches are labelled, then as it steps: (done, total) over both. */
  onProgress?: (done: number, total: number) => void;
}

export interface VoicingCalibrationResult {
  frames: number;
  /** Voiced/unvoiced errors (P(voiced) > ½ against the labels) on fixed `val` batches, before and after. */
  before: number;
  after: number;
  /** Mean log-loss of the voicing call on the fit frames, before and after. */
  lossBefore: number;
  lossAfter: number;
}

/**
 * Refits the pitch net's "unvoiced" logit (class K of its last layer) to the NCCF voicing labels, all
 * else fixed: a logistic regression on the last hidden layer, offset by the voiced logits' log-sum-exp,
 * P(unvoiced) = σ(w_K·h + b_K − log Σ_k exp z_k). The likelihood never reads class K (its lag distribution
 * is renormalised over the voiced classes), so this changes no NLL; but likelihood training of the net
 * (learn_pitch) moves h and leaves w_K behind, and synthesis gates the pitch emphasis on P(voiced).
 */
export function calibrateVoicing(cond: MelPitchConditioner, hop: number, train: SegmentSampler, val: SegmentSampler, opts: VoicingCalibrationOptions = {}): VoicingCalibrationResult {
  const K = cond.lags;
  const batch = opts.batch ?? 16;
  const [nBatches, steps] = [opts.batches ?? 32, opts.steps ?? 300];
  let done = 0;
  const tick = () => opts.onProgress?.(++done, nBatches + VAL_BATCHES + steps);
  const last = cond.pitchVariables().slice(-2) as [tf.Variable, tf.Variable]; // [hidden, K+1], [K+1]
  /** Per labelled frame: h [N, hidden], the voiced logits' log-sum-exp [N, 1], the unvoiced label [N, 1]. */
  const gather = (sampler: SegmentSampler, n: number, seed0: number) => tf.tidy(() => {
    const hs: tf.Tensor[] = [], lses: tf.Tensor[] = [], ys: tf.Tensor[] = [];
    for (let i = 0; i < n; i++) {
      const b = labelled(cond, sampler, batch, seed0 + i, hop);
      const { h, logits } = cond.features(b.mel);
      hs.push(labelledRows(h, b));
      lses.push(tf.logSumExp(tf.slice(labelledRows(logits, b), [0, 0], [-1, K]), 1, true));
      ys.push(tf.slice(b.targets, [0, K], [-1, 1]));
      tf.dispose([b.mel, b.targets]);
      tick();
    }
    return { h: tf.concat(hs) as tf.Tensor2D, lse: tf.concat(lses) as tf.Tensor2D, y: tf.concat(ys) as tf.Tensor2D };
  });
  const fit = gather(train, nBatches, (opts.seed ?? 0) * 1_000_003 + 7_000_001);
  const check = gather(val, VAL_BATCHES, VAL_SEED);
  const w = tf.variable(tf.slice(last[0], [0, K], [-1, 1]));
  const c = tf.variable(tf.slice(last[1], [K], [1]));
  const logit = (d: typeof fit) => tf.sub(tf.add(tf.matMul(d.h, w), c), d.lse);
  // Log-loss of σ(logit) against y, stably: softplus(logit) − y·logit.
  const loss = (d: typeof fit) => tf.tidy(() => {
    const l = logit(d);
    return tf.mean(tf.sub(tf.softplus(l), tf.mul(d.y, l))) as tf.Scalar;
  });
  const errors = (d: typeof fit) => tf.tidy(() => tf.mean(tf.cast(tf.notEqual(tf.greater(logit(d), 0), tf.greater(d.y, 0.5)), 'float32')).dataSync()[0]!);
  const adam = new Adam();
  try {
    const before = errors(check), lossBefore = tf.tidy(() => loss(fit).dataSync()[0]!);
    for (let s = 0; s < steps; s++) {
      const { value, grads } = tf.variableGrads(() => loss(fit), [w, c]);
      adam.apply([['w', w], ['c', c]], new Map([['w', grads[w.name]!], ['c', grads[c.name]!]]), 1e-2, 0);
      tf.dispose([value, ...Object.values(grads)]);
      tick();
    }
    const lossAfter = tf.tidy(() => loss(fit).dataSync()[0]!);
    if (!Number.isFinite(lossAfter)) throw new Error('voicing calibration: the loss became non-finite');
    const after = errors(check);
    tf.tidy(() => {
      last[0].assign(tf.concat([tf.slice(last[0], [0, 0], [-1, K]), w], 1));
      last[1].assign(tf.concat([tf.slice(last[1], [0], [K]), c]));
    });
    return { frames: fit.y.shape[0], before, after, lossBefore, lossAfter };
  } finally {
    adam.dispose();
    tf.dispose([w, c, fit.h, fit.lse, fit.y, check.h, check.lse, check.y]);
  }
}
