import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, sumEvent } from '../bijector.js';

/**
 * The seed's invertible piecewise-linear map on [0, 1] (seed 000, "Example - Piecewise linear
 * mapping"): the domain is cut into K equal bins; bin k has slope K·φ_k with φ positive and
 * summing to one (a softmax of learnable logits), so the map is monotone from [0,1] onto [0,1].
 *   forward:  b = ⌊K z⌋,  x = Σ_{j<b} φ_j + (K z − b) φ_b            log|det| = Σ log(K φ_b)
 *   inverse:  find b with c_b ≤ x < c_{b+1} (c = cumulative φ),  z = (b + (x − c_b)/φ_b) / K
 * Each of the D dimensions has its own φ. Bins are selected with one-hot masks rather than
 * gather, because tfjs-wasm has no gather gradient.
 */
export class PiecewiseLinear extends BaseBijector {
  readonly name = 'PiecewiseLinear';
  readonly logits: tf.Variable;
  private readonly upperOnes: tf.Tensor2D;

  constructor(readonly dim: number, readonly bins = 5, init?: tf.Tensor) {
    super();
    this.logits = this.addParameter('logits', init ?? tf.zeros([dim, bins]));
    // Strictly-upper ones: cumulative sums as a matmul (exclusive prefix), differentiable everywhere.
    this.upperOnes = this.addConstant(() => tf.sub(tf.linalg.bandPart(tf.ones([bins, bins]), 0, -1), tf.eye(bins)) as tf.Tensor2D);
  }

  private phi(): { phi: tf.Tensor2D; starts: tf.Tensor2D } {
    const phi = tf.softmax(this.logits) as tf.Tensor2D; // [D, K]
    return { phi, starts: tf.matMul(phi, this.upperOnes) }; // starts[d, k] = Σ_{j<k} φ_j
  }

  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      this.checkShape(z);
      const K = this.bins;
      const { phi, starts } = this.phi();
      const scaled = tf.mul(tf.clipByValue(z, 0, 1), K);
      const bin = tf.clipByValue(tf.floor(scaled), 0, K - 1);
      const onehot = this.oneHot(bin); // [B, D, K]
      const phiB = tf.sum(tf.mul(onehot, phi), -1);
      const startB = tf.sum(tf.mul(onehot, starts), -1);
      const x = tf.add(startB, tf.mul(tf.sub(scaled, bin), phiB));
      return [x, sumEvent(tf.log(tf.mul(phiB, K)))];
    });
  }

  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      this.checkShape(x);
      const K = this.bins;
      const { phi, starts } = this.phi();
      const xc = tf.clipByValue(x, 0, 1);
      // Bin index = number of interior bin starts ≤ x.
      const interior = tf.slice(starts, [0, 1], [-1, K - 1]);
      const bin = tf.sum(tf.sub(1, tf.step(tf.sub(interior, tf.expandDims(xc, -1)))), -1); // #{starts ≤ x}
      const onehot = this.oneHot(bin);
      const phiB = tf.sum(tf.mul(onehot, phi), -1);
      const startB = tf.sum(tf.mul(onehot, starts), -1);
      const z = tf.div(tf.add(bin, tf.div(tf.sub(xc, startB), phiB)), K);
      return [z, sumEvent(tf.neg(tf.log(tf.mul(phiB, K))))];
    });
  }

  // Built from step() (zero gradient) rather than equal(), which has no gradient in tfjs.
  private oneHot(bin: tf.Tensor): tf.Tensor {
    return tf.step(tf.sub(0.5, tf.abs(tf.sub(tf.expandDims(bin, -1), tf.range(0, this.bins)))));
  }

  private checkShape(t: tf.Tensor): void {
    if (t.rank !== 2 || t.shape[1] !== this.dim) {
      throw new Error(`PiecewiseLinear expects [batch, ${this.dim}], got [${t.shape}]`);
    }
  }
}
