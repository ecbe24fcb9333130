import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, sumEvent, type Context } from '../bijector.js';
import type { MADE } from '../../nn/made.js';
import { affineTransformer, autoregressiveSolve, type AutoregressiveFlowOptions, type ElementwiseTransformer } from './maf.js';

/**
 * Inverse autoregressive flow (IAF, Kingma et al. 2016; seed 000 "Autoregressive flows"): the
 * conditioner reads z instead of x. With θ_d = MADE(z_{<d}) and the affine transformer θ = (t, log s):
 *   forward:  x_d = z_d·exp(log s_d(z_{<d})) + t_d(z_{<d})     log|det ∂x/∂z| = Σ_d log s_d
 *   inverse:  z_d = (x_d − t_d(z_{<d}))·exp(−log s_d(z_{<d}))   log|det ∂z/∂x| = −Σ_d log s_d
 * Sampling (forward) is one MADE pass; density evaluation (inverse) needs D sequential passes —
 * the reverse trade-off of MaskedAutoregressiveFlow.
 */
export class InverseAutoregressiveFlow extends BaseBijector {
  readonly name: string = 'InverseAutoregressiveFlow';
  readonly transformer: ElementwiseTransformer;

  constructor(readonly made: MADE, opts: AutoregressiveFlowOptions = {}) {
    super();
    this.transformer = opts.transformer ?? affineTransformer();
    if (made.nParams !== this.transformer.paramsPerDim) {
      throw new Error(`the MADE outputs ${made.nParams} parameters per dimension; the transformer needs ${this.transformer.paramsPerDim}`);
    }
    this.addModule('made', made);
  }

  forwardAndLogDet(z: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const [x, ld] = this.transformer.forward(z, this.made.paramsOf(z, context));
      return [x, sumEvent(ld)];
    });
  }

  inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const [z, ld] = autoregressiveSolve(this.made, x, context, (theta) => this.transformer.inverse(x, theta));
      return [z, sumEvent(ld)];
    });
  }
}
