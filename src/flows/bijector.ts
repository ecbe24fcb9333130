/**
 * The Bijector abstraction (seed 000/003: change of variables).
 *
 * Direction convention (as TFP): `forward` is generative, z → x; `inverse` normalizes, x → z.
 * For x = f(z):  log p_X(x) = log p_Z(f⁻¹(x)) + log|det ∂f⁻¹/∂x|.
 *
 * Like distrax/zuko, each bijector implements one primitive per direction that returns the
 * output together with log|det J| per example (shape [batch], summed over all event axes);
 * everything else is derived. Axis 0 is always the batch axis.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';

/** Optional conditioning input (e.g. a mel spectrogram), batch-aligned with x. */
export type Context = tf.Tensor | undefined;

export interface Bijector {
  readonly name: string;
  /** z → x and log|det ∂x/∂z|, shape [batch]. */
  forwardAndLogDet(z: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor];
  /** x → z and log|det ∂z/∂x|, shape [batch]. */
  inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor];
  forward(z: tf.Tensor, context?: Context): tf.Tensor;
  inverse(x: tf.Tensor, context?: Context): tf.Tensor;
  namedParameters(prefix?: string): [string, tf.Variable][];
  trainableVariables(): tf.Variable[];
}

/** Base class: implement the two primitives; the one-way methods are derived. */
export abstract class BaseBijector extends Module implements Bijector {
  abstract readonly name: string;
  abstract forwardAndLogDet(z: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor];
  abstract inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor];

  forward(z: tf.Tensor, context?: Context): tf.Tensor {
    return tf.tidy(() => this.forwardAndLogDet(z, context)[0]);
  }
  inverse(x: tf.Tensor, context?: Context): tf.Tensor {
    return tf.tidy(() => this.inverseAndLogDet(x, context)[0]);
  }
  forwardLogDet(z: tf.Tensor, context?: Context): tf.Tensor {
    return tf.tidy(() => this.forwardAndLogDet(z, context)[1]);
  }
  inverseLogDet(x: tf.Tensor, context?: Context): tf.Tensor {
    return tf.tidy(() => this.inverseAndLogDet(x, context)[1]);
  }
}

/** Sums an elementwise log-derivative over every axis but the batch axis → [batch]. */
export function sumEvent(t: tf.Tensor): tf.Tensor {
  if (t.rank <= 1) return t;
  const axes = Array.from({ length: t.rank - 1 }, (_, i) => i + 1);
  return tf.sum(t, axes);
}

/** Per-example log-det of a parameter that acts identically on every example. */
export function perExample(logDet: tf.Tensor, like: tf.Tensor): tf.Tensor {
  return tf.mul(tf.ones([like.shape[0]]), logDet);
}

/** Number of elements per example over the axes between batch and the last (channel) axis. */
export function positionsPerExample(t: tf.Tensor): number {
  return t.shape.slice(1, -1).reduce((a, b) => a * b, 1);
}

/** Register a child bijector as a module so its parameters are listed by name. */
export function asModule(b: Bijector): Module {
  if (!(b instanceof Module)) throw new Error(`bijector ${b.name} does not extend Module`);
  return b;
}
