/**
 * The generic anomaly path: a RealNVP (library bijectors) fitted on per-frame meyda features of
 * normal audio. It works for any kind of sound, not just speech: nothing in it knows about voices.
 *
 * Frame vector (17 dims): 13 MFCCs, log spectral centroid, log spectral flatness, log RMS, ZCR,
 * standardised with the normal data's mean and σ. Segment score = mean per-frame NLL (nats/frame)
 * of the frames centred inside the segment.
 */
import * as tf from '@tensorflow/tfjs-core';
import { frameFeatures } from '../dsp/features.js';
import * as F from '../flows/index.js';
import { MLP } from '../nn/mlp.js';
import { Trainer, meanNll } from '../train/trainer.js';
import { base64ToFloat32, float32ToBase64 } from '../util/base64.js';
import { mulberry32 } from '../util/random.js';
import type { Segment } from './segments.js';

export const FEATURE_HOP = 256;

/** Per-frame feature vectors [frames, dim] of a signal (frame t centred on sample t·256). */
export function featureFrames(audio: Float32Array, sampleRate: number): { frames: number; dim: number; data: Float32Array } {
  const f = frameFeatures(audio, { sampleRate, hop: FEATURE_HOP });
  const w = f.names.length;
  const ci = f.names.indexOf('spectralCentroid');
  const fi = f.names.indexOf('spectralFlatness');
  const ri = f.names.indexOf('rms');
  const data = new Float32Array(f.frames * w);
  for (let t = 0; t < f.frames; t++) {
    for (let j = 0; j < w; j++) {
      let v = f.data[t * w + j]!;
      if (j === ci) v = Math.log(Math.max(v, 0) + 50);
      else if (j === fi) v = Math.log(Math.max(v, 0) + 1e-4);
      else if (j === ri) v = Math.log(Math.max(v, 0) + 1e-4);
      data[t * w + j] = Number.isFinite(v) ? v : 0;
    }
  }
  return { frames: f.frames, dim: w, data };
}

export interface FeatureFlowJSON {
  format: 'flowvox-feature-flow';
  version: 1;
  dim: number;
  hidden: number;
  layers: number;
  mean: number[];
  std: number[];
  /** Parameters by name: shape and float32 values, base64. */
  params: { name: string; shape: number[]; data: string }[];
  trainedOn: { frames: number; steps: number; finalNll: number };
}

function build(dim: number, hidden: number, layers: number): F.TransformedDistribution {
  const steps: F.Bijector[] = [];
  for (let i = 0; i < layers; i++) {
    steps.push(new F.ActNorm(dim));
    steps.push(new F.AffineCoupling({ mask: F.alternatingMask(dim, (i % 2) as 0 | 1) }, new MLP(dim, 2 * dim, { hidden: [hidden, hidden], zeroLast: true, seed: 17 + i }), { scale: 'softclamp' }));
  }
  return new F.TransformedDistribution(new F.StandardNormal([dim]), new F.Chain(steps));
}

export class FeatureFlow {
  private constructor(
    readonly flow: F.TransformedDistribution,
    readonly mean: Float32Array,
    readonly std: Float32Array,
    readonly hidden: number,
    readonly layers: number,
    public trainedOn: FeatureFlowJSON['trainedOn'],
  ) {}

  get dim(): number {
    return this.mean.length;
  }

  /** Fits a flow on frames [n, dim] of normal audio by maximum likelihood (Adam, cosine schedule). */
  static fit(frames: Float32Array, dim: number, opts: { steps?: number; batch?: number; hidden?: number; layers?: number; seed?: number; onStep?: (step: number, nll: number) => void } = {}): FeatureFlow {
    const n = frames.length / dim;
    if (!(n >= 32)) throw new Error(`need at least 32 normal frames to fit the feature flow, got ${n}`);
    const mean = new Float32Array(dim);
    const std = new Float32Array(dim);
    for (let t = 0; t < n; t++) for (let j = 0; j < dim; j++) mean[j] += frames[t * dim + j]! / n;
    for (let t = 0; t < n; t++) for (let j = 0; j < dim; j++) std[j] += (frames[t * dim + j]! - mean[j]!) ** 2 / n;
    for (let j = 0; j < dim; j++) std[j] = Math.sqrt(std[j]!) + 1e-3;
    const hidden = opts.hidden ?? 64;
    const layers = opts.layers ?? 6;
    const steps = opts.steps ?? 1500;
    const batch = Math.min(opts.batch ?? 256, n);
    const ff = new FeatureFlow(build(dim, hidden, layers), mean, std, hidden, layers, { frames: n, steps, finalNll: Number.NaN });
    const x = ff.standardise(frames);
    const rand = mulberry32(opts.seed ?? 0);
    const all = tf.tensor2d(x, [n, dim]);
    const idx = new Int32Array(batch);
    const pick = () => {
      for (let i = 0; i < batch; i++) idx[i] = Math.floor(rand() * n);
      return tf.gather(all, tf.tensor1d(idx, 'int32'));
    };
    try {
      // ActNorm's data-dependent initialisation on a first large batch.
      tf.tidy(() => ff.flow.logProb(pick()));
      const trainer = new Trainer(ff.flow, { clipNorm: 5, schedule: { lr: 2e-3, warmupSteps: 50, decay: 'cosine', totalSteps: steps } });
      const tail: number[] = [];
      trainer.fit(steps, () => meanNll(ff.flow, pick()), (s) => {
        tail.push(s.loss);
        if (tail.length > 50) tail.shift();
        opts.onStep?.(s.step, s.loss);
      });
      ff.trainedOn.finalNll = tail.reduce((a, b) => a + b, 0) / tail.length;
    } finally {
      all.dispose();
    }
    return ff;
  }

  private standardise(frames: Float32Array): Float32Array {
    const d = this.dim;
    const x = new Float32Array(frames.length);
    for (let i = 0; i < frames.length; i++) x[i] = (frames[i]! - this.mean[i % d]!) / this.std[i % d]!;
    return x;
  }

  /** Per-frame NLL (nats per frame, in standardised units) of frames [n, dim]. */
  frameNll(frames: Float32Array): Float32Array {
    const n = frames.length / this.dim;
    const x = this.standardise(frames);
    const out = new Float32Array(n);
    const chunk = 4096;
    for (let i = 0; i < n; i += chunk) {
      const m = Math.min(chunk, n - i);
      const lp = tf.tidy(() => this.flow.logProb(tf.tensor2d(x.subarray(i * this.dim, (i + m) * this.dim), [m, this.dim])).dataSync() as Float32Array);
      for (let k = 0; k < m; k++) out[i + k] = Number.isFinite(lp[k]!) ? -lp[k]! : 1e6;
    }
    return out;
  }

  toJSON(): FeatureFlowJSON {
    const params = this.flow.namedParameters().map(([name, v]) => ({
      name,
      shape: v.shape,
      data: float32ToBase64(v.dataSync() as Float32Array),
    }));
    return { format: 'flowvox-feature-flow', version: 1, dim: this.dim, hidden: this.hidden, layers: this.layers, mean: [...this.mean], std: [...this.std], params, trainedOn: this.trainedOn };
  }

  static fromJSON(j: FeatureFlowJSON): FeatureFlow {
    if (j?.format !== 'flowvox-feature-flow') throw new Error('not a flowvox feature flow');
    const ff = new FeatureFlow(build(j.dim, j.hidden, j.layers), Float32Array.from(j.mean), Float32Array.from(j.std), j.hidden, j.layers, j.trainedOn);
    const tensors = new Map<string, tf.Tensor>();
    for (const p of j.params) {
      tensors.set(p.name, tf.tensor(base64ToFloat32(p.data), p.shape));
    }
    try {
      ff.flow.loadParameters(tensors);
    } finally {
      tf.dispose([...tensors.values()]);
    }
    return ff;
  }

  dispose(): void {
    this.flow.dispose();
  }
}

/** Mean of per-frame values over the frames centred inside each segment (hop 256). */
export function segmentMeans(perFrame: ArrayLike<number>, segments: readonly Segment[], hop = FEATURE_HOP): number[] {
  return segments.map((s) => {
    const a = Math.ceil(s.startSample / hop);
    const b = Math.min(perFrame.length, Math.ceil((s.startSample + s.length) / hop));
    let sum = 0;
    for (let t = a; t < b; t++) sum += perFrame[t]!;
    return b > a ? sum / (b - a) : Number.NaN;
  });
}
