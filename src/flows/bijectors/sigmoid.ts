import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, sumEvent } from '../bijector.js';
import { Invert } from './invert.js';

/**
 * Sigmoid, ℝ → (0, 1), elementwise:
 *   forward:  x = σ(z)                          log|det| = Σ log σ(z) + log σ(−z) = −Σ softplus(−z) + softplus(z)
 *   inverse:  z = logit(x) = log x − log(1 − x)  log|det| = −Σ log x + log(1 − x)
 * Written with softplus so that neither direction overflows for large |z|.
 */
export class Sigmoid extends BaseBijector {
  readonly name = 'Sigmoid';
  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => [tf.sigmoid(z), sumEvent(tf.neg(tf.add(tf.softplus(z), tf.softplus(tf.neg(z)))))]);
  }
  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const logX = tf.log(x);
      const log1mX = tf.log1p(tf.neg(x));
      return [tf.sub(logX, log1mX), sumEvent(tf.neg(tf.add(logX, log1mX)))];
    });
  }
}

/** Logit, (0, 1) → ℝ: the inverse of Sigmoid (TFP: `Invert(Sigmoid())`). */
export class Logit extends Invert {
  constructor() {
    super(new Sigmoid());
  }
}
