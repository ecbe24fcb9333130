import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, sumEvent, type Context } from '../bijector.js';
import type { MADE } from '../../nn/made.js';
import { lastAxisMatMul } from './util.js';

/**
 * An invertible scalar map x = τ(z; θ), applied elementwise, whose parameters θ come from a
 * conditioner (the "transformer" of autoregressive and coupling flows). θ is [..., D, P].
 */
export interface ElementwiseTransformer {
  readonly paramsPerDim: number;
  /** x = τ(z; θ) and log|∂x/∂z| per element. */
  forward(z: tf.Tensor, theta: tf.Tensor): [tf.Tensor, tf.Tensor];
  /** z = τ⁻¹(x; θ) and log|∂z/∂x| per element. */
  inverse(x: tf.Tensor, theta: tf.Tensor): [tf.Tensor, tf.Tensor];
}

/**
 * θ[..., j] as a product with a one-hot column (exact): tfjs-cpu slices a non-leading axis element
 * by element, an order of magnitude slower than this small matmul.
 */
export function paramAt(theta: tf.Tensor, j: number): tf.Tensor {
  const P = theta.shape[theta.rank - 1]!;
  const e = tf.tensor2d(Array.from({ length: P }, (_, i) => (i === j ? 1 : 0)), [P, 1]);
  return tf.reshape(lastAxisMatMul(theta, e), theta.shape.slice(0, -1));
}

/**
 * Affine transformer with θ = (t, raw log-scale): x = z·exp(log s) + t, log|∂x/∂z| = log s, where
 * log s = c·tanh(raw / c) (softclamp, bounded in (−c, c) so early training cannot explode), or
 * raw itself when clamp is null.
 */
export function affineTransformer(clamp: number | null = 3): ElementwiseTransformer {
  const logScale = (theta: tf.Tensor) => {
    const raw = paramAt(theta, 1);
    return clamp === null ? raw : tf.mul(tf.tanh(tf.div(raw, clamp)), clamp);
  };
  return {
    paramsPerDim: 2,
    forward: (z, theta) => {
      const ls = logScale(theta);
      return [tf.add(tf.mul(z, tf.exp(ls)), paramAt(theta, 0)), ls];
    },
    inverse: (x, theta) => {
      const ls = logScale(theta);
      return [tf.mul(tf.sub(x, paramAt(theta, 0)), tf.exp(tf.neg(ls))), tf.neg(ls)];
    },
  };
}

/**
 * Solves u = g(MADE(u)) by fixed-point iteration from u = 0. Position p of the order is exact
 * after p + 1 passes (its parameters only read earlier positions), so D passes suffice, and the
 * parameters of the last pass are the exact ones — its log-derivative is returned with u.
 */
export function autoregressiveSolve(
  made: MADE,
  like: tf.Tensor,
  context: Context,
  g: (theta: tf.Tensor) => [tf.Tensor, tf.Tensor],
): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    let u = tf.zerosLike(like);
    let ld: tf.Tensor | null = null;
    for (let pass = 0; pass < made.dim; pass++) {
      const [nu, nld] = tf.tidy(() => g(made.paramsOf(u, context)));
      tf.dispose([u, ...(ld ? [ld] : [])]);
      [u, ld] = [nu, nld];
    }
    return [u, ld!];
  });
}

export interface AutoregressiveFlowOptions {
  /** The elementwise map; default affineTransformer(3) (shift and softclamped log-scale). */
  transformer?: ElementwiseTransformer;
}

/**
 * Masked autoregressive flow (MAF, Papamakarios et al. 2017; seed 000 "Autoregressive flows").
 * With θ_d = MADE(x_{<d}) (earlier in the MADE's order) and, for the affine transformer, θ = (t, log s):
 *   forward:  x_d = z_d·exp(log s_d(x_{<d})) + t_d(x_{<d})     log|det ∂x/∂z| = Σ_d log s_d
 *   inverse:  z_d = (x_d − t_d(x_{<d}))·exp(−log s_d(x_{<d}))   log|det ∂z/∂x| = −Σ_d log s_d
 * The conditioner reads x, so the density direction (inverse) is one MADE pass and sampling
 * (forward) needs D sequential passes. A MADE built with contextDim gives the conditional MAF.
 */
export class MaskedAutoregressiveFlow extends BaseBijector {
  readonly name: string = 'MaskedAutoregressiveFlow';
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
      const [x, ld] = autoregressiveSolve(this.made, z, context, (theta) => this.transformer.forward(z, theta));
      return [x, sumEvent(ld)];
    });
  }

  inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const [z, ld] = this.transformer.inverse(x, this.made.paramsOf(x, context));
      return [z, sumEvent(ld)];
    });
  }
}
