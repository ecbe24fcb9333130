import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, sumEvent } from '../bijector.js';
import { rationalQuadraticSpline, type RQSplineOptions } from './rq-spline.js';

export interface RationalQuadraticSplineOptions extends RQSplineOptions {
  /** Number of bins K (default 8). */
  bins?: number;
}

/**
 * Elementwise rational-quadratic spline (Durkan et al. 2019; seed 000 "Elementwise flows": "a
 * parameterized invertible function like a monotonic spline"), with its own learnable widths,
 * heights and knot derivatives for each of the D features on the last axis. Per feature, on
 * [−B, B] with bin k holding x, θ = (x − x_k)/w_k, δ_k = h_k/w_k:
 *   forward:  x = y_k + h_k (δ_k θ² + d_k θ(1−θ)) / (δ_k + (d_k + d_{k+1} − 2δ_k) θ(1−θ))
 *   log|det| = Σ_features log δ_k² (d_{k+1}θ² + 2δ_kθ(1−θ) + d_k(1−θ)²) − 2 log(denominator)
 *   inverse:  the root in [0, 1] of a quadratic (see rq-spline.ts), log|det| = −forward's
 * and the identity outside [−B, B]. Parameters start at zero: the identity.
 */
export class RationalQuadraticSpline extends BaseBijector {
  readonly name = 'RationalQuadraticSpline';
  readonly bins: number;
  readonly unnormalizedWidths: tf.Variable;
  readonly unnormalizedHeights: tf.Variable;
  readonly unnormalizedDerivatives: tf.Variable;
  private readonly opts: RQSplineOptions;

  constructor(readonly dim: number, opts: RationalQuadraticSplineOptions = {}) {
    super();
    const K = (this.bins = opts.bins ?? 8);
    this.opts = { bound: opts.bound, minBinWidth: opts.minBinWidth, minBinHeight: opts.minBinHeight, minDerivative: opts.minDerivative };
    this.unnormalizedWidths = this.addParameter('widths', tf.zeros([dim, K]));
    this.unnormalizedHeights = this.addParameter('heights', tf.zeros([dim, K]));
    this.unnormalizedDerivatives = this.addParameter('derivatives', tf.zeros([dim, K - 1]));
  }

  private run(v: tf.Tensor, inverse: boolean): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      if (v.shape[v.rank - 1] !== this.dim) throw new Error(`RationalQuadraticSpline expects ${this.dim} features on the last axis, got [${v.shape}]`);
      const [out, ld] = rationalQuadraticSpline(v, this.unnormalizedWidths, this.unnormalizedHeights, this.unnormalizedDerivatives, inverse, this.opts);
      return [out, sumEvent(ld)];
    });
  }

  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return this.run(z, false);
  }
  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return this.run(x, true);
  }
}
