import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, perExample, positionsPerExample } from '../bijector.js';
import { luHost, randomRotationHost, unitTriangularInverse } from '../../nn/linalg.js';
import { gaussian, mulberry32 } from '../../util/random.js';
import { lastAxisMatMul } from './util.js';

export interface LULinearOptions {
  /** Add a learnable bias b (x = A z + b). Default true. */
  bias?: boolean;
  /** 'identity' or a seeded random rotation (Glow's init). Default 'identity'. */
  init?: 'identity' | 'rotation';
  seed?: number;
}

/**
 * x = A z + b along the last axis, with A = P · L · (U + diag(sign · exp(logS))) (Glow, Kingma &
 * Dhariwal 2018): P a fixed permutation, L unit lower-triangular, U strictly upper-triangular.
 *   forward:  x = A z + b                       log|det ∂x/∂z| = Σ logS   (per position)
 *   inverse:  z = A⁻¹ (x − b)                   log|det ∂z/∂x| = −Σ logS
 * The LU form keeps log|det| O(D) and lets the inverse use triangular inverses, which tfjs lacks
 * (see nn/linalg.ts). Applied to every position of [batch, ..., D] it is Glow's LU 1x1 convolution.
 */
export class LULinear extends BaseBijector {
  readonly name: string = 'LULinear';
  readonly lower: tf.Variable;
  readonly upper: tf.Variable;
  readonly logS: tf.Variable;
  readonly bias: tf.Variable | null;
  private readonly sign: tf.Tensor1D;
  private readonly perm: tf.Tensor2D;
  private readonly lowerMask: tf.Tensor2D;
  private readonly upperMask: tf.Tensor2D;

  constructor(readonly dim: number, opts: LULinearOptions = {}) {
    super();
    const n = dim;
    let perm = Array.from({ length: n }, (_, i) => i);
    let lower: Float64Array<ArrayBufferLike> = new Float64Array(n * n);
    let upper: Float64Array<ArrayBufferLike> = new Float64Array(n * n);
    let s: Float64Array<ArrayBufferLike> = new Float64Array(n).fill(1);
    if (opts.init === 'rotation') {
      const lu = luHost(randomRotationHost(n, gaussian(mulberry32(opts.seed ?? 0))), n);
      perm = lu.perm;
      lower = lu.lower;
      upper = lu.upper;
      s = Float64Array.from({ length: n }, (_, i) => upper[i * n + i]);
    }
    const pm = new Float32Array(n * n);
    perm.forEach((p, r) => (pm[p * n + r] = 1));
    this.perm = this.addConstant(() => tf.tensor2d(pm, [n, n]));
    this.lowerMask = this.addConstant(() => tf.sub(tf.linalg.bandPart(tf.ones([n, n]), -1, 0), tf.eye(n)) as tf.Tensor2D);
    this.upperMask = this.addConstant(() => tf.transpose(this.lowerMask));
    this.sign = this.addConstant(() => tf.tensor1d(Array.from(s, (v) => Math.sign(v))));
    this.lower = this.addParameter('lower', () => tf.mul(tf.tensor2d(Float32Array.from(lower), [n, n]), this.lowerMask));
    this.upper = this.addParameter('upper', () => tf.mul(tf.tensor2d(Float32Array.from(upper), [n, n]), this.upperMask));
    this.logS = this.addParameter('logS', tf.tensor1d(Array.from(s, (v) => Math.log(Math.abs(v)))));
    this.bias = opts.bias === false ? null : this.addParameter('bias', tf.zeros([n]));
  }

  /** The matrix A = P L (U + diag s). */
  weight(): tf.Tensor2D {
    return tf.tidy(() => {
      const l = tf.add(tf.mul(this.lower, this.lowerMask), tf.eye(this.dim));
      const u = tf.add(tf.mul(this.upper, this.upperMask), tf.diag(tf.mul(this.sign, tf.exp(this.logS))));
      return tf.matMul(this.perm, tf.matMul(l, u));
    });
  }

  /** A⁻¹ = (U + S)⁻¹ L⁻¹ Pᵀ, with (U + S)⁻¹ = (I + S⁻¹U)⁻¹ S⁻¹ — all triangular inverses exact. */
  inverseWeight(): tf.Tensor2D {
    return tf.tidy(() => {
      const sInv = tf.mul(this.sign, tf.exp(tf.neg(this.logS)));
      const lInv = unitTriangularInverse(tf.mul(this.lower, this.lowerMask) as tf.Tensor2D);
      const nU = tf.mul(tf.expandDims(sInv, 1), tf.mul(this.upper, this.upperMask)) as tf.Tensor2D;
      const uInv = tf.mul(unitTriangularInverse(nU), tf.expandDims(sInv, 0)) as tf.Tensor2D;
      return tf.matMul(uInv, tf.matMul(lInv, tf.transpose(this.perm)));
    });
  }

  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      let x = lastAxisMatMul(z, tf.transpose(this.weight()));
      if (this.bias) x = tf.add(x, this.bias);
      return [x, perExample(tf.mul(tf.sum(this.logS), positionsPerExample(z)), z)];
    });
  }

  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const centred = this.bias ? tf.sub(x, this.bias) : x;
      const z = lastAxisMatMul(centred, tf.transpose(this.inverseWeight()));
      return [z, perExample(tf.mul(tf.sum(this.logS), -positionsPerExample(x)), x)];
    });
  }
}
