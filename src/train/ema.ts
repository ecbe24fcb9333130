import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '../flows/module.js';

/**
 * Exponential moving average of a model's parameters (Polyak averaging; Glow and PixelCNN++ score
 * and ship the averaged weights): after every optimizer step
 *   shadow ← d·shadow + (1 − d)·θ,   d = min(decay, (1 + n)/(10 + n))
 * with n the updates since the average started, so that it follows the first steps closely
 * (tf.train.ExponentialMovingAverage's num_updates). The shadow is a second model of the same
 * architecture, so validation, best-model selection and saving use it like any model, and its
 * own training state (e.g. an Invertible1x1Conv's kept inverse) never touches the trained one's.
 */
export class ParameterAverage<M extends Module = Module> {
  private readonly pairs: [name: string, source: tf.Variable, shadow: tf.Variable][];

  constructor(readonly source: Module, readonly shadow: M, readonly decay: number) {
    if (!(decay > 0 && decay < 1)) throw new Error(`EMA decay must be in (0, 1), got ${decay}`);
    const byName = new Map(shadow.namedParameters());
    this.pairs = source.namedParameters().map(([n, v]) => {
      const s = byName.get(n);
      if (!s || !tf.util.arraysEqual(s.shape, v.shape)) throw new Error(`the averaged model has no parameter "${n}" of shape [${v.shape}]`);
      return [n, v, s];
    });
  }

  /** The decay applied at update number n (0-based). */
  decayAt(n: number): number {
    return Math.min(this.decay, (1 + n) / (10 + n));
  }

  /** Sets the shadow to the current parameters (the start of an average). */
  reset(): void {
    for (const [, v, s] of this.pairs) s.assign(v);
  }

  /** One averaging step after an optimizer step; `n` = updates since the average started. */
  update(n: number): void {
    const d = this.decayAt(n);
    tf.tidy(() => {
      for (const [, v, s] of this.pairs) s.assign(tf.add(tf.mul(s, d), tf.mul(v, 1 - d)));
    });
  }

  /** The shadow's parameters as `ema.<name>`, for checkpoints. */
  state(): [string, tf.Tensor][] {
    return this.pairs.map(([n, , s]) => [`ema.${n}`, s]);
  }

  /** Restores the shadow from checkpoint tensors; false (shadow untouched) when they hold no average. */
  load(tensors: Map<string, tf.Tensor>): boolean {
    if (!this.pairs.every(([n]) => tensors.has(`ema.${n}`))) return false;
    for (const [n, , s] of this.pairs) s.assign(tensors.get(`ema.${n}`)!);
    return true;
  }
}
