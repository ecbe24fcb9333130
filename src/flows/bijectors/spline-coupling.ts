import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, sumEvent, type Context } from '../bijector.js';
import type { Conditioner } from '../../nn/conditioner.js';
import { maskTensors, partition, type Partition } from './coupling.js';
import { rqSplineTransformer, type RQSplineOptions } from './rq-spline.js';
import type { ElementwiseTransformer } from './maf.js';

export interface SplineCouplingOptions extends RQSplineOptions {
  /** Number of bins K (default 8). */
  bins?: number;
}

/**
 * Rational-quadratic spline coupling (Durkan et al. 2019, "Neural Spline Flows"; seed 002's
 * coupling with a spline as the elementwise map). With a = passive part, b = active part and
 * θ = NN(a) — the conditioner outputs 3K − 1 values per active scalar, laid out [..., b, 3K − 1]
 * as (K widths, K heights, K − 1 derivatives), nflows' order:
 *   forward:  b' = RQS(b; θ)      log|det ∂x/∂z| = Σ log RQS′(b; θ)
 *   inverse:  b  = RQS⁻¹(b'; θ)   log|det ∂z/∂x| = Σ log (RQS⁻¹)′(b'; θ)
 * a is unchanged in both directions. A zero-initialised conditioner output gives the identity.
 */
export class SplineCoupling extends BaseBijector {
  readonly name = 'SplineCoupling';
  readonly bins: number;
  private readonly transformer: ElementwiseTransformer;
  private readonly masks: [tf.Tensor1D, tf.Tensor1D] | null;

  constructor(readonly part: Partition, readonly conditioner: Conditioner, opts: SplineCouplingOptions = {}) {
    super();
    this.bins = opts.bins ?? 8;
    this.transformer = rqSplineTransformer(this.bins, opts);
    this.addModule('net', conditioner);
    const masks = maskTensors(part);
    this.masks = masks && [this.addConstant(() => masks[0]), this.addConstant(() => masks[1])];
  }

  /** Conditioner output width needed for `activeWidth` transformed features. */
  static outputWidth(activeWidth: number, bins = 8): number {
    return activeWidth * (3 * bins - 1);
  }

  private run(v: tf.Tensor, context: Context, inverse: boolean): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const p = partition(v, this.part, this.masks);
      const out = this.conditioner.apply(p.conditionerInput, context);
      const P = this.transformer.paramsPerDim;
      if (out.shape[out.rank - 1] !== p.activeWidth * P) {
        throw new Error(`SplineCoupling's conditioner must output ${p.activeWidth} × ${P} = ${p.activeWidth * P} values, got ${out.shape[out.rank - 1]}`);
      }
      const theta = tf.reshape(out, [...out.shape.slice(0, -1), p.activeWidth, P]);
      const [b, ld] = inverse ? this.transformer.inverse(p.active, theta) : this.transformer.forward(p.active, theta);
      // Passive coordinates (mask partitions) are restored by combine and excluded from the log-det.
      return [p.combine(b), sumEvent(p.restrict(ld))];
    });
  }

  forwardAndLogDet(z: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return this.run(z, context, false);
  }
  inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return this.run(x, context, true);
  }
}
