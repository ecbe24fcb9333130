/**
 * Fits a 2D flow by maximum likelihood and evaluates it: the library's trainer on fresh toy
 * samples each batch, test NLL on held-out samples, and the grids the figures need.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TransformedDistribution } from '../../flows/index.js';
import { Trainer, meanNll, type StepInfo } from '../../train/trainer.js';
import { toyDataset, type Toy2D } from './datasets.js';
import { build2DFlow, type Flow2DOptions } from './flows.js';

export interface Density2DOptions {
  dataset: string;
  flow: string;
  steps: number;
  /** Optional wall-clock budget; training stops at whichever of steps/minutes comes first. */
  minutes?: number;
  seed: number;
  batch?: number;
  lr?: number;
  testSamples?: number;
  onStep?: (info: StepInfo) => void;
  flowOptions?: Flow2DOptions;
  /** Called once the model is built and initialised, before the first step. */
  onStart?: (model: TransformedDistribution, data: Toy2D) => void;
}

export interface Density2DResult {
  model: TransformedDistribution;
  data: Toy2D;
  losses: number[];
  testNll: number;
  entropy: number | null;
  kl: number | null;
  seconds: number;
}

/** Mean NLL over many points, in batches to bound memory. */
export function evaluateNll(model: TransformedDistribution, points: Float32Array, batch = 5000): number {
  const n = points.length / 2;
  let total = 0;
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    total += tf.tidy(() => {
      const x = tf.tensor2d(points.subarray(2 * i, 2 * (i + m)), [m, 2]);
      return -tf.sum(model.logProb(x)).dataSync()[0];
    });
  }
  return total / n;
}

export function trainDensity2D(o: Density2DOptions): Density2DResult {
  const data = toyDataset(o.dataset, o.seed);
  const test = toyDataset(o.dataset, o.seed + 1_000_003).sample(o.testSamples ?? 20_000);
  const model = build2DFlow(o.flow, { seed: o.seed, ...o.flowOptions });
  const batch = o.batch ?? 512;
  const t0 = performance.now();
  // Data-dependent initialisation (ActNorm) on a first batch, outside the gradient tape.
  tf.tidy(() => model.logProb(tf.tensor2d(data.sample(batch), [batch, 2])));
  o.onStart?.(model, data);
  const budgetMs = o.minutes === undefined ? Infinity : o.minutes * 60_000;
  const lr = o.lr ?? 2e-3;
  const warm = Math.min(100, o.steps / 10);
  // Cosine decay over training progress, measured in steps or in wall time, whichever is further.
  const progress = (step: number) => Math.max(step / o.steps, (performance.now() - t0) / budgetMs);
  const schedule = (step: number) =>
    step < warm ? (lr * (step + 1)) / warm : lr / 20 + (lr - lr / 20) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress(step))));
  const trainer = new Trainer(model, { clipNorm: 5, schedule });
  const losses = trainer.fit(
    o.steps,
    // Tensors made inside the loss closure are freed by variableGrads' own scope.
    () => meanNll(model, tf.tensor2d(data.sample(batch), [batch, 2])),
    (info) => {
      o.onStep?.(info);
      return performance.now() - t0 < budgetMs;
    },
  );
  trainer.optimizer.dispose();
  const testNll = evaluateNll(model, test);
  const seconds = (performance.now() - t0) / 1000;
  return { model, data, losses, testNll, entropy: data.entropy, kl: data.entropy === null ? null : testNll - data.entropy, seconds };
}

/** exp(log p) on an n×n grid over [lo, hi]², row 0 at the bottom (y = lo). */
export function densityGrid(model: TransformedDistribution, lo: number, hi: number, n = 200): Float32Array {
  const pts = new Float32Array(2 * n * n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      pts[2 * (r * n + c)] = lo + ((c + 0.5) * (hi - lo)) / n;
      pts[2 * (r * n + c) + 1] = lo + ((r + 0.5) * (hi - lo)) / n;
    }
  }
  return tf.tidy(() => tf.exp(model.logProb(tf.tensor2d(pts, [n * n, 2]))).dataSync() as Float32Array);
}
