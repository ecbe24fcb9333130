import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector } from '../bijector.js';
import { lastAxisMatMul } from './util.js';

/**
 * Permutes the last axis: x[..., i] = z[..., perm[i]].  log|det| = 0 (a permutation matrix has
 * |det| = 1). Applied as a product with a one-hot matrix — exact in float32, and unlike gather it
 * has a gradient on the wasm backend.
 */
export class Permute extends BaseBijector {
  readonly name: string = 'Permute';
  private readonly fwd: tf.Tensor2D;
  private readonly inv: tf.Tensor2D;

  constructor(readonly permutation: number[]) {
    super();
    const n = permutation.length;
    const sorted = [...permutation].sort((a, b) => a - b);
    if (sorted.some((v, i) => v !== i)) throw new Error(`not a permutation of 0..${n - 1}: [${permutation}]`);
    const m = new Float32Array(n * n);
    permutation.forEach((src, dst) => (m[src * n + dst] = 1)); // x = z · M picks z[perm[i]] into column i
    this.fwd = this.addConstant(() => tf.tensor2d(m, [n, n]));
    this.inv = this.addConstant(() => tf.transpose(this.fwd));
  }

  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => [lastAxisMatMul(z, this.fwd), tf.zeros([z.shape[0]])]);
  }
  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => [lastAxisMatMul(x, this.inv), tf.zeros([x.shape[0]])]);
  }
}

/** Reverses the order of the last axis (RealNVP/Glow's simplest channel mixing). */
export class Reverse extends Permute {
  override readonly name = 'Reverse';
  constructor(dim: number) {
    super(Array.from({ length: dim }, (_, i) => dim - 1 - i));
  }
}
