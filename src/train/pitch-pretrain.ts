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

/** Logits of the labelled frames [B·F, K + 1]. */
function logitsOf(cond: MelPitchConditioner, b: Labelled): tf.Tensor2D {
  return tf.tidy(() => {
    const [batch, t] = b.mel.shape;
    const { logits } = cond.features(b.mel);
    const perSegment = tf.reshape(logits, [batch, t, cond.lags + 1]);
    return tf.reshape(tf.slice(perSegment, [0, 0, 0], [batch, b.frames, -1]), [batch * b.frames, cond.lags + 1]) as tf.Tensor2D;
  });
}

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
  const valSets = Array.from({ length: opts.valBatches ?? 6 }, (_, i) => labelled(cond, val, batch, 1_000_000 + i, hop, opts.lagTolerance));
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
