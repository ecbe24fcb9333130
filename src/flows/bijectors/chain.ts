import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, asModule, type Bijector, type Context } from '../bijector.js';

/**
 * Composition, as TFP's `tfb.Chain`: `Chain([f1, f2, f3]).forward(z) = f1(f2(f3(z)))`, i.e. the
 * list reads like function composition and the *last* bijector touches the base sample first.
 * log|det| of a composition is the sum of the parts' log|det| (chain rule).
 */
export class Chain extends BaseBijector {
  readonly name = 'Chain';
  constructor(readonly bijectors: Bijector[]) {
    super();
    bijectors.forEach((b, i) => this.addModule(String(i), asModule(b)));
  }

  forwardAndLogDet(z: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return this.run(z, context, [...this.bijectors].reverse(), (b, t) => b.forwardAndLogDet(t, context));
  }

  inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return this.run(x, context, this.bijectors, (b, t) => b.inverseAndLogDet(t, context));
  }

  private run(input: tf.Tensor, _c: Context, order: Bijector[], step: (b: Bijector, t: tf.Tensor) => [tf.Tensor, tf.Tensor]): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      let t = input;
      let logDet: tf.Tensor = tf.zeros([input.shape[0]]);
      for (const b of order) {
        const [y, ld] = step(b, t);
        t = y;
        logDet = tf.add(logDet, ld);
      }
      return [t, logDet];
    });
  }
}
