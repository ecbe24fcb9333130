import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, perExample } from '../bijector.js';

/**
 * x = z · exp(s) elementwise (learnable log-scale s over the event shape, so the scale stays
 * positive and invertible).  log|det ∂x/∂z| = Σ s.
 */
export class Scale extends BaseBijector {
  readonly name = 'Scale';
  readonly logScale: tf.Variable;
  constructor(eventShape: number[], init?: tf.Tensor) {
    super();
    this.logScale = this.addParameter('logScale', init ?? tf.zeros(eventShape));
  }
  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => [tf.mul(z, tf.exp(this.logScale)), perExample(tf.sum(this.logScale), z)]);
  }
  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => [tf.mul(x, tf.exp(tf.neg(this.logScale))), perExample(tf.neg(tf.sum(this.logScale)), x)]);
  }
}
