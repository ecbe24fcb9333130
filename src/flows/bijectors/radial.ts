import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector } from '../bijector.js';

/**
 * Radial flow (Rezende & Mohamed 2015; seed 002), contracting or expanding around a centre z0,
 * on [batch, d]. With r = ‖z − z0‖, h = 1/(α + r), h' = −h²:
 *   forward:  x = z + β h (z − z0)          log|det ∂x/∂z| = (d − 1) log(1 + βh) + log(1 + βh + βh'r)
 *   inverse:  ρ = ‖x − z0‖ = r (1 + β/(α + r))  ⇔  r² + (α + β − ρ) r − αρ = 0,
 *             r = the non-negative root,  z = z0 + (x − z0) / (1 + βh(r))
 * α = softplus(α̂) > 0 and β = −α + softplus(β̂) > −α make r ↦ ρ strictly increasing (invertible);
 * then 1 + βh > 0 and 1 + βh + βh'r = 1 + αβh² > 0. Both directions are closed form, O(d).
 */
export class Radial extends BaseBijector {
  readonly name = 'Radial';
  readonly z0: tf.Variable;
  readonly alphaHat: tf.Variable;
  readonly betaHat: tf.Variable;

  constructor(readonly dim: number) {
    super();
    this.z0 = this.addParameter('z0', tf.zeros([dim]));
    this.alphaHat = this.addParameter('alphaHat', tf.scalar(0));
    // softplus(β̂) = softplus(α̂) gives β = 0: the layer starts as the identity.
    this.betaHat = this.addParameter('betaHat', tf.scalar(0));
  }

  /** (α, β) with α > 0 and β > −α. */
  coefficients(): { alpha: tf.Scalar; beta: tf.Scalar } {
    return tf.tidy(() => {
      const alpha = tf.softplus(this.alphaHat) as tf.Scalar;
      return { alpha, beta: tf.sub(tf.softplus(this.betaHat), alpha) as tf.Scalar };
    });
  }

  private checkShape(t: tf.Tensor): void {
    if (t.rank !== 2 || t.shape[1] !== this.dim) throw new Error(`Radial expects [batch, ${this.dim}], got [${t.shape}]`);
  }

  /** Forward log|det| at radius r ([batch]). */
  private logDetAt(r: tf.Tensor, alpha: tf.Scalar, beta: tf.Scalar): tf.Tensor {
    const h = tf.div(1, tf.add(alpha, r));
    const bh = tf.mul(beta, h);
    const hPrime = tf.neg(tf.square(h));
    const radialTerm = tf.log(tf.add(tf.add(1, bh), tf.mul(tf.mul(beta, hPrime), r)));
    return tf.add(tf.mul(tf.log(tf.add(1, bh)), this.dim - 1), radialTerm);
  }

  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    this.checkShape(z);
    return tf.tidy(() => {
      const { alpha, beta } = this.coefficients();
      const diff = tf.sub(z, this.z0);
      const r = tf.sqrt(tf.sum(tf.square(diff), 1));
      const bh = tf.div(beta, tf.add(alpha, r));
      const x = tf.add(z, tf.mul(tf.expandDims(bh, 1), diff));
      return [x, this.logDetAt(r, alpha, beta)];
    });
  }

  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    this.checkShape(x);
    return tf.tidy(() => {
      const { alpha, beta } = this.coefficients();
      const diff = tf.sub(x, this.z0);
      const rho = tf.sqrt(tf.sum(tf.square(diff), 1));
      // Non-negative root of r² + s r − αρ = 0, s = α + β − ρ, without cancellation:
      // (q − s)/2 when s ≤ 0, 2αρ/(s + q) when s > 0 (q = √(s² + 4αρ)). The step() mask has a zero
      // gradient and |s| keeps the unused branch finite, so no NaN leaks into the gradient.
      const s = tf.sub(tf.add(alpha, beta), rho);
      const aRho = tf.mul(alpha, rho);
      const q = tf.sqrt(tf.add(tf.square(s), tf.mul(aRho, 4)));
      const pos = tf.step(s);
      const rPos = tf.div(tf.mul(aRho, 2), tf.add(tf.abs(s), q));
      const rNeg = tf.mul(tf.sub(q, s), 0.5);
      const r = tf.add(tf.mul(pos, rPos), tf.mul(tf.sub(1, pos), rNeg));
      const factor = tf.add(1, tf.div(beta, tf.add(alpha, r))); // 1 + βh(r) = ρ / r
      const z = tf.add(this.z0, tf.div(diff, tf.expandDims(factor, 1)));
      return [z, tf.neg(this.logDetAt(r, alpha, beta))];
    });
  }
}
