import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import { asModule, type Bijector, type Context } from './bijector.js';
import type { Distribution, SampleOptions } from './distributions.js';

/**
 * The distribution of x = f(z), z ~ base (TFP's `TransformedDistribution`). By the change of
 * variables (seed 000):  log p(x) = log p_Z(f⁻¹(x)) + log|det ∂f⁻¹/∂x|.
 */
export class TransformedDistribution extends Module {
  constructor(readonly base: Distribution, readonly bijector: Bijector) {
    super();
    this.addModule('base', base);
    this.addModule('bijector', asModule(bijector));
  }

  /** log p(x | context), shape [batch]. */
  logProb(x: tf.Tensor, context?: Context): tf.Tensor {
    return tf.tidy(() => {
      const [z, logDet] = this.bijector.inverseAndLogDet(x, context);
      return tf.add(this.base.logProb(z), logDet);
    });
  }

  /** n samples; with a context its batch size must be n. `temperature` scales the base σ. */
  sample(n: number, context?: Context, opts: SampleOptions = {}): tf.Tensor {
    return tf.tidy(() => this.bijector.forward(this.base.sample(n, opts), context));
  }

  /** Samples and their log-density in one pass: log p(x) = log p_Z(z) − log|det ∂f/∂z|. */
  sampleAndLogProb(n: number, context?: Context, opts: SampleOptions = {}): { x: tf.Tensor; logProb: tf.Tensor } {
    const [x, logProb] = tf.tidy(() => {
      const z = this.base.sample(n, opts);
      const [x, logDet] = this.bijector.forwardAndLogDet(z, context);
      return [x, tf.sub(this.base.logProb(z), logDet)];
    });
    return { x, logProb };
  }
}
