import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, sumEvent } from '../bijector.js';

/**
 * Leaky ReLU, an elementwise monotone map (seed 000, "elementwise flows"):
 *   forward:  x = z        if z ≥ 0,  α z  otherwise      log|det| = Σ [z < 0] · log α
 *   inverse:  z = x        if x ≥ 0,  x / α otherwise      log|det| = −Σ [x < 0] · log α
 */
export class LeakyReLU extends BaseBijector {
  readonly name = 'LeakyReLU';
  constructor(readonly alpha = 0.1) {
    super();
    if (!(alpha > 0)) throw new Error(`LeakyReLU needs alpha > 0 to be invertible, got ${alpha}`);
  }
  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    // step() marks negatives with a zero gradient (comparisons have none in tfjs).
    return tf.tidy(() => [tf.leakyRelu(z, this.alpha), sumEvent(tf.mul(tf.step(tf.neg(z)), Math.log(this.alpha)))]);
  }
  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => [tf.leakyRelu(x, 1 / this.alpha), sumEvent(tf.mul(tf.step(tf.neg(x)), -Math.log(this.alpha)))]);
  }
}
