import * as tf from '@tensorflow/tfjs-core';
import { matMul } from '../../nn/matmul.js';

/** y[..., j] = Σ_i x[..., i] · w[i, j]: a dense map on the last axis of a tensor of any rank. */
export function lastAxisMatMul(x: tf.Tensor, w: tf.Tensor2D): tf.Tensor {
  const d = x.shape[x.rank - 1]!;
  const flat = tf.reshape(x, [-1, d]) as tf.Tensor2D;
  return tf.reshape(matMul(flat, w), [...x.shape.slice(0, -1), w.shape[1]]);
}

/** Splits the last axis into [first n, rest]. */
export function splitLast(x: tf.Tensor, n: number): [tf.Tensor, tf.Tensor] {
  const d = x.shape[x.rank - 1]!;
  const [a, b] = tf.split(x, [n, d - n], x.rank - 1);
  return [a, b];
}
