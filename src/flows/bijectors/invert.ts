import type * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, asModule, type Bijector, type Context } from '../bijector.js';

/** Swaps the directions of a bijector: forward ↔ inverse (TFP's `tfb.Invert`). */
export class Invert extends BaseBijector {
  readonly name: string;
  constructor(readonly bijector: Bijector) {
    super();
    this.name = `Invert(${bijector.name})`;
    this.addModule('inner', asModule(bijector));
  }
  forwardAndLogDet(z: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return this.bijector.inverseAndLogDet(z, context);
  }
  inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return this.bijector.forwardAndLogDet(x, context);
  }
}
