/**
 * Maximum-likelihood training of the image Glow (./model.ts) in bits/dim, with exact resume and the
 * evaluations and pictures the image-density example reports. Isomorphic: checkpoints are bytes
 * (src/train/checkpoint.ts); files are the CLI's business.
 *
 * Exact resume: batches are a pure function of (seed, step) (./datasets.ts), the learning rate of
 * the step, and ActNorm's data-dependent init happens once before step 0 and is saved with the
 * parameters; the checkpoint holds parameters, Adam's moments and step, so N steps, save, restore,
 * M steps gives the parameters of N + M straight steps, bit for bit.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decode, restore, serialize, type SerializedWeights } from '../../train/checkpoint.js';
import { Trainer, type StepInfo } from '../../train/trainer.js';
import { BatchStream, dequantizedImages, imageSize, type ImageSet } from './datasets.js';
import { buildImageFlow, DEFAULT_IMAGE_FLOW, type ImageFlow, type ImageFlowConfig } from './model.js';
import { bitsPerDim } from './preprocess.js';

export interface ImageTrainConfig {
  dataset: string;
  model: ImageFlowConfig;
  batch: number;
  lr: number;
  /** Linear warm-up, then a constant rate (Glow's schedule; a pure function of the step). */
  warmupSteps: number;
  /** Global gradient-norm clip (of the bits/dim loss). */
  clipNorm: number;
  /**
   * Spike guard: a batch whose loss exceeds the median of the last 100 by more than this many
   * bits/dim gets a zero gradient (Adam then only coasts on its momentum). With softclamp couplings
   * 9 of the 2 400 batches after step 1 000 of a 60-minute MNIST run scored 3.6–120 000 bits/dim
   * (rare images sent far out), and each of the first two, learned from, set the run back ~0.3.
   * Infinity turns it off. Default 1.
   */
  spikeBpd?: number;
  /** Seeds the data order and dequantisation noise (the model has its own, model.seed). */
  seed: number;
}

export interface EvalPoint {
  step: number;
  /** Accumulated training minutes when evaluated. */
  minutes: number;
  images: number;
  bitsPerDim: number;
}

/** Everything but tensors that a checkpoint carries (the manifest's meta). */
export interface ImageRunState {
  kind: 'flowvox-image-density';
  config: ImageTrainConfig;
  /** Accumulated wall seconds in the training loop (steps, periodic evaluations, checkpoints). */
  seconds: number;
  /** Seconds spent inside training steps only (for images/s). */
  stepSeconds: number;
  /** Per-step training loss in bits/dim, and the accumulated minutes at each step. */
  trainBpd: number[];
  trainMinutes: number[];
  evals: EvalPoint[];
  /** Steps whose update the spike guard skipped. */
  skipped?: number[];
}

export function defaultTrainConfig(dataset: string, shape: [number, number, number], over: Partial<Omit<ImageTrainConfig, 'model'>> & { model?: Partial<ImageFlowConfig> } = {}): ImageTrainConfig {
  return {
    dataset,
    batch: over.batch ?? 64,
    lr: over.lr ?? 1e-3,
    warmupSteps: over.warmupSteps ?? 200,
    clipNorm: over.clipNorm ?? 50,
    spikeBpd: over.spikeBpd ?? 1,
    seed: over.seed ?? 0,
    model: { ...DEFAULT_IMAGE_FLOW, ...over.model, shape },
  };
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));

/** Mean log p(x) → bits/dim, as a tensor, for a batch [B, H, W, C] of dequantised pixels. */
export function batchBitsPerDim(flow: ImageFlow, x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const nll = tf.neg(tf.mean(flow.dist.logProb(x)));
    return tf.div(tf.add(nll, flow.dims * Math.log(256)), flow.dims * Math.LN2) as tf.Scalar;
  });
}

/** Test bits/dim of the first n images of `set`, dequantised with fixed noise (so it is repeatable). */
export function evaluateBitsPerDim(flow: ImageFlow, set: ImageSet, n = set.count, batch = 100, noiseSeed = 12345): number {
  const count = Math.min(n, set.count);
  const [h, w, c] = flow.config.shape;
  let total = 0;
  for (let i = 0; i < count; i += batch) {
    const m = Math.min(batch, count - i);
    const idx = Uint32Array.from({ length: m }, (_, j) => i + j);
    const x = dequantizedImages(set, idx, noiseSeed + i);
    total += tf.tidy(() => -tf.sum(flow.dist.logProb(tf.tensor4d(x, [m, h, w, c]))).dataSync()[0]);
  }
  return bitsPerDim(total / count, flow.dims);
}

export class ImageDensityRun {
  readonly flow: ImageFlow;
  readonly trainer: Trainer;
  readonly stream: BatchStream;
  state: ImageRunState;

  private constructor(readonly train: ImageSet, state: ImageRunState) {
    const cfg = state.config;
    const [h, w, c] = cfg.model.shape;
    if (train.height !== h || train.width !== w || train.channels !== c) {
      throw new Error(`the model is for ${h}×${w}×${c} images, the data are ${train.height}×${train.width}×${train.channels}`);
    }
    this.state = state;
    this.flow = buildImageFlow(cfg.model);
    this.stream = new BatchStream(train, cfg.batch, cfg.seed);
    const { lr, warmupSteps } = cfg;
    this.trainer = new Trainer(this.flow.dist, { clipNorm: cfg.clipNorm, schedule: (s) => (s < warmupSteps ? (lr * (s + 1)) / warmupSteps : lr) });
  }

  /** A fresh run; ActNorm layers are initialised from batch 0 (as Glow does on its first batch). */
  static create(train: ImageSet, config: ImageTrainConfig): ImageDensityRun {
    const run = new ImageDensityRun(train, { kind: 'flowvox-image-density', config, seconds: 0, stepSeconds: 0, trainBpd: [], trainMinutes: [], evals: [] });
    tf.tidy(() => {
      run.flow.dist.logProb(run.batch(0));
    });
    return run;
  }

  /** Continues a run from `serialize()`'s bytes, exactly where it stopped. */
  static restore(train: ImageSet, saved: SerializedWeights): ImageDensityRun {
    const meta = saved.manifest.meta as ImageRunState | undefined;
    if (meta?.kind !== 'flowvox-image-density') throw new Error('not an image-density checkpoint');
    const run = new ImageDensityRun(train, meta);
    const tensors = decode(saved.manifest, saved.data);
    try {
      restore(run.flow.dist, tensors, run.trainer.optimizer, saved.manifest.step ?? 0);
    } finally {
      tf.dispose([...tensors.values()]);
    }
    return run;
  }

  get config(): ImageTrainConfig {
    return this.state.config;
  }

  get step(): number {
    return this.trainer.step;
  }

  /** Dequantised training batch `step` as [B, H, W, C]. */
  batch(step: number): tf.Tensor4D {
    const [h, w, c] = this.config.model.shape;
    return tf.tensor4d(this.stream.next(step), [this.config.batch, h, w, c]);
  }

  /** Whether a batch loss is a spike the guard should not learn from (see ImageTrainConfig.spikeBpd). */
  isSpike(bpd: number): boolean {
    const margin = this.config.spikeBpd ?? 1;
    const h = this.state.trainBpd;
    if (!Number.isFinite(margin) || h.length < 20) return false;
    const recent = h.slice(-100).sort((a, b) => a - b);
    return bpd > recent[recent.length >> 1] + margin;
  }

  /**
   * One Adam step on batch `this.step`; the loss is in bits/dim. A spike (isSpike) is scored but
   * its gradient is zeroed, so the step, the data stream and the schedule still advance as usual.
   */
  trainStep(): StepInfo & { skipped: boolean } {
    const step = this.step;
    let bpd = NaN;
    let skipped = false;
    const info = this.trainer.trainStep(() => {
      const loss = batchBitsPerDim(this.flow, this.batch(step));
      bpd = loss.dataSync()[0];
      skipped = Number.isFinite(bpd) && this.isSpike(bpd);
      return skipped ? (tf.mul(loss, 0) as tf.Scalar) : loss;
    });
    if (skipped) (this.state.skipped ??= []).push(step);
    this.state.stepSeconds += info.seconds;
    this.state.seconds += info.seconds;
    this.state.trainBpd.push(round(bpd, 5));
    this.state.trainMinutes.push(round(this.state.seconds / 60, 4));
    return { ...info, loss: bpd, skipped };
  }

  /** Adds wall time spent in the loop outside steps (evaluations, checkpoints) to the run's clock. */
  addSeconds(s: number): void {
    this.state.seconds += s;
  }

  /** Evaluates test bits/dim on the first n images and records it on the curve. */
  evaluate(test: ImageSet, n: number): EvalPoint {
    const t0 = performance.now();
    const bpd = evaluateBitsPerDim(this.flow, test, n);
    const point = { step: this.step, minutes: round(this.state.seconds / 60, 3), images: Math.min(n, test.count), bitsPerDim: round(bpd, 5) };
    this.state.evals.push(point);
    this.addSeconds((performance.now() - t0) / 1000);
    return point;
  }

  /** Mean training bits/dim over the last `steps` steps, spikes the guard skipped left out (reported as trainBitsPerDim). */
  recentTrainBpd(steps = 100): number {
    const h = this.state.trainBpd;
    const skipped = new Set(this.state.skipped ?? []);
    const tail: number[] = [];
    for (let i = Math.max(0, h.length - steps); i < h.length; i++) if (!skipped.has(i)) tail.push(h[i]);
    return tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN;
  }

  imagesPerSecond(): number {
    return this.state.stepSeconds > 0 ? (this.step * this.config.batch) / this.state.stepSeconds : 0;
  }

  /** Parameters, Adam state and the run's state, as checkpoint bytes. */
  serialize(): Promise<SerializedWeights> {
    return serialize(this.flow.dist, this.trainer.optimizer, this.state as unknown as Record<string, unknown>);
  }

  dispose(): void {
    this.trainer.optimizer.dispose();
    this.flow.dist.dispose();
  }
}

/** Draws n images at a temperature: each H·W·C values clipped to [0, 1]. */
export function sampleImages(flow: ImageFlow, n: number, temperature: number, seed: number): Float32Array[] {
  const d = flow.dims;
  const data = tf.tidy(() => tf.clipByValue(flow.dist.sample(n, undefined, { temperature, seed }), 0, 1).dataSync() as Float32Array);
  return Array.from({ length: n }, (_, i) => data.slice(i * d, (i + 1) * d));
}

/** Spherical interpolation between flat latents a and b (linear when they are nearly parallel). */
export function slerp(a: Float32Array, b: Float32Array, t: number): Float32Array {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  const cos = Math.max(-1, Math.min(1, ab / Math.sqrt(aa * bb)));
  const theta = Math.acos(cos);
  const out = new Float32Array(a.length);
  if (theta < 1e-4) {
    for (let i = 0; i < a.length; i++) out[i] = (1 - t) * a[i] + t * b[i];
    return out;
  }
  const [wa, wb] = [Math.sin((1 - t) * theta) / Math.sin(theta), Math.sin(t * theta) / Math.sin(theta)];
  for (let i = 0; i < a.length; i++) out[i] = wa * a[i] + wb * b[i];
  return out;
}

export interface Interpolation {
  /** Per pair: [original a, decode(z_a), …, decode(z_b), original b], each H·W·C in [0, 1]. */
  rows: Float32Array[][];
  /** Max |decode(encode(x)) − x| over the endpoints (the flow's numerical round-trip error). */
  reconstructionError: number;
}

/**
 * Encodes pairs of images (pixel centres, (p + ½)/256) to the flat latent across all levels,
 * interpolates spherically in `steps` points including both ends, and decodes.
 */
export function interpolateImages(flow: ImageFlow, set: ImageSet, pairs: [number, number][], steps = 8): Interpolation {
  const d = imageSize(set);
  const [h, w, c] = flow.config.shape;
  const centre = (i: number) => Float32Array.from(set.pixels.subarray(i * d, (i + 1) * d), (p) => (p + 0.5) / 256);
  let err = 0;
  const rows = pairs.map(([ia, ib]) => {
    const xa = centre(ia);
    const xb = centre(ib);
    const z = tf.tidy(() => flow.dist.bijector.inverse(tf.tensor4d([...xa, ...xb], [2, h, w, c])).dataSync() as Float32Array);
    const za = z.slice(0, flow.dims);
    const zb = z.slice(flow.dims);
    const zs = new Float32Array(steps * flow.dims);
    for (let k = 0; k < steps; k++) zs.set(slerp(za, zb, steps === 1 ? 0 : k / (steps - 1)), k * flow.dims);
    const dec = tf.tidy(() => flow.dist.bijector.forward(tf.tensor2d(zs, [steps, flow.dims])).dataSync() as Float32Array);
    for (let i = 0; i < d; i++) err = Math.max(err, Math.abs(dec[i] - xa[i]), Math.abs(dec[(steps - 1) * d + i] - xb[i]));
    const frames = Array.from({ length: steps }, (_, k) => dec.slice(k * d, (k + 1) * d).map((v) => Math.min(1, Math.max(0, v))));
    return [xa, ...frames, xb];
  });
  return { rows, reconstructionError: err };
}
