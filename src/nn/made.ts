/**
 * MADE: Masked Autoencoder for Distribution Estimation (Germain et al. 2015) — the conditioner of
 * autoregressive flows (MAF, IAF, autoregressive splines).
 *
 * Each input i gets a degree m(i) = 1 + its position in the autoregressive order; each hidden
 * unit a degree in [1, D − 1] (or [0, D − 1] with a context: degree-0 units see only the context,
 * so the first dimension's parameters depend on it too). Weight masks allow
 *   input i → hidden k        iff  m(k) ≥ m(i)
 *   hidden k → hidden k'      iff  m(k') ≥ m(k)
 *   hidden k → output (d, j)  iff  m(d) > m(k)
 *   context → first hidden    always
 * so every path from input i to an output of dimension d has m(d) > m(i): parameter j of dimension
 * d depends only on inputs earlier in the order, and the flow's Jacobian is triangular.
 * Outputs are laid out dimension-major: column d·P + j is parameter j of input dimension d.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../flows/module.js';
import { gaussian, mulberry32 } from '../util/random.js';
import type { Conditioner } from './conditioner.js';
import { dense } from './matmul.js';

export interface MADEOptions {
  /** Hidden layer widths (default [64, 64]); a width ≥ D − 1 lets every dependency through. */
  hidden?: number[];
  activation?: 'relu' | 'tanh' | 'elu' | 'leakyRelu';
  /** Width of a context vector connected to every first-layer hidden unit (conditional flows). */
  contextDim?: number;
  /**
   * Autoregressive order: 'left-to-right' (default), 'right-to-left', or an explicit permutation
   * where order[i] is the position of input i (0 = first, depends on nothing).
   */
  order?: 'left-to-right' | 'right-to-left' | number[];
  /** Initialise the output layer at zero, so a flow built on it starts as the identity. */
  zeroLast?: boolean;
  seed?: number;
}

export class MADE extends Module implements Conditioner {
  /** order[i] = position of input i in the autoregressive order. */
  readonly order: number[];
  readonly contextDim: number;
  private readonly layers: { w: tf.Variable; b: tf.Variable; mask: tf.Tensor2D }[] = [];
  private readonly act: (t: tf.Tensor) => tf.Tensor;

  constructor(readonly dim: number, readonly nParams: number, opts: MADEOptions = {}) {
    super();
    if (!(dim >= 1 && nParams >= 1)) throw new Error(`MADE needs dim ≥ 1 and nParams ≥ 1, got ${dim}, ${nParams}`);
    this.order = resolveOrder(dim, opts.order ?? 'left-to-right');
    this.contextDim = opts.contextDim ?? 0;
    const hidden = opts.hidden ?? [64, 64];
    const inDeg = this.order.map((p) => p + 1);
    // Context columns count as degree 0: they may feed any hidden unit.
    const degrees: number[][] = [[...inDeg, ...new Array<number>(this.contextDim).fill(0)]];
    // Hidden degrees cycle through lo..D−1 (D = 1 has no earlier input: all degree 0, bias only).
    const lo = this.contextDim > 0 || dim === 1 ? 0 : 1;
    for (const h of hidden) degrees.push(Array.from({ length: h }, (_, k) => lo + (k % (dim - lo))));
    const outDeg = inDeg.flatMap((m) => new Array<number>(nParams).fill(m));
    degrees.push(outDeg);

    const randn = gaussian(mulberry32(opts.seed ?? 0));
    const gain = (opts.activation ?? 'relu') === 'relu' ? 2 : 1;
    for (let l = 0; l + 1 < degrees.length; l++) {
      const [from, to] = [degrees[l], degrees[l + 1]];
      const last = l + 2 === degrees.length;
      const isCtx = (i: number) => l === 0 && i >= dim;
      const allowed = (i: number, k: number) => isCtx(i) || (last ? to[k] > from[i] : to[k] >= from[i]);
      const [n, m] = [from.length, to.length];
      const mask = new Float32Array(n * m);
      const fanIn = new Array<number>(m).fill(0);
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < m; k++) {
          if (!allowed(i, k)) continue;
          mask[i * m + k] = 1;
          fanIn[k]++;
        }
      }
      // Scale by each unit's real (masked) fan-in so activations stay O(1).
      const w = new Float32Array(n * m);
      if (!(last && opts.zeroLast)) {
        for (let i = 0; i < n; i++) for (let k = 0; k < m; k++) w[i * m + k] = mask[i * m + k] * randn() * Math.sqrt(gain / Math.max(1, fanIn[k]));
      }
      this.layers.push({
        w: this.addParameter(`${l}.w`, tf.tensor2d(w, [n, m])),
        b: this.addParameter(`${l}.b`, tf.zeros([m])),
        mask: this.addConstant(() => tf.tensor2d(mask, [n, m])),
      });
    }
    const a = opts.activation ?? 'relu';
    this.act = a === 'relu' ? tf.relu : a === 'tanh' ? tf.tanh : a === 'elu' ? tf.elu : (t) => tf.leakyRelu(t, 0.01);
  }

  /** Conditioner interface: x [..., D] (and context [..., C]) → [..., D·P], dimension-major. */
  apply(input: tf.Tensor, context?: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const d = input.shape[input.rank - 1];
      if (d !== this.dim) throw new Error(`MADE expects ${this.dim} features on the last axis, got [${input.shape}]`);
      if ((context === undefined) !== (this.contextDim === 0)) {
        throw new Error(this.contextDim ? `MADE was built with contextDim ${this.contextDim} and needs a context` : 'MADE was built without a context');
      }
      let h = context ? tf.concat([input, context], -1) : input;
      this.layers.forEach(({ w, b, mask }, i) => {
        h = dense(h, tf.mul(w, mask) as tf.Tensor2D, b as tf.Tensor1D);
        if (i + 1 < this.layers.length) h = this.act(h);
      });
      return h;
    });
  }

  /** The same as [..., D, P]: paramsOf(x)[..., d, j] depends only on inputs before d in the order. */
  paramsOf(input: tf.Tensor, context?: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.reshape(this.apply(input, context), [...input.shape.slice(0, -1), this.dim, this.nParams]));
  }
}

function resolveOrder(dim: number, order: 'left-to-right' | 'right-to-left' | number[]): number[] {
  if (order === 'left-to-right') return Array.from({ length: dim }, (_, i) => i);
  if (order === 'right-to-left') return Array.from({ length: dim }, (_, i) => dim - 1 - i);
  const sorted = [...order].sort((a, b) => a - b);
  if (order.length !== dim || sorted.some((v, i) => v !== i)) throw new Error(`MADE order must be a permutation of 0..${dim - 1}, got [${order}]`);
  return [...order];
}
