import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector } from '../bijector.js';

/** x = z + b (learnable b over the event shape).  log|det| = 0. */
export class Shift extends BaseBijector {
  readonly name = 'Shift';
  readonly shift: tf.Variable;
  constructor(eventShape: number[], init?: tf.Tensor) {
    super();
    this.shift = this.addParameter('shift', init ?? tf.zeros(eventShape));
  }
  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => [tf.add(z, this.shift), tf.zeros([z.shape[0]])]);
  }
  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => [tf.sub(x, this.shift), tf.zeros([x.shape[0]])]);
  }
}
