import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector } from '../bijector.js';
import { dense } from '../../nn/matmul.js';
import { gaussian, mulberry32 } from '../../util/random.js';

export interface IterativeInverseOptions {
  /** Stop when the residual of the solved equation is below this. */
  tol?: number;
  /** Iteration cap. */
  maxIter?: number;
  /** Throw when the cap is hit before `tol` (default); false only records it in `lastInverse`. */
  strict?: boolean;
}

/** What the last call of an iterative inverse did. */
export interface InverseReport {
  iterations: number;
  /** Largest residual over the batch at exit. */
  residual: number;
  converged: boolean;
}

/**
 * Evaluates `solve(inputs)` without recording it on the gradient tape and with a zero gradient.
 * Iterative inverses find their root off the tape and then take one differentiable correction
 * step (Newton or implicit), whose gradient is the implicit-function one at the root: the
 * iterations themselves (with where/compare ops that have no gradients) never reach autodiff.
 * Ops inside a customGrad forward are not taped, which is what we want here.
 */
export function offTape(solve: (inputs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): tf.Tensor {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const ins = args.slice(0, inputs.length) as tf.Tensor[];
    // Shapes only: the inputs may be disposed by the time gradients run.
    const shapes = ins.map((t) => t.shape);
    return { value: solve(ins), gradFunc: () => shapes.map((s) => tf.zeros(s)) };
  });
  return f(...inputs);
}

/**
 * Planar flow (Rezende & Mohamed 2015; seed 002, "Planar flows"), on [batch, d]:
 *   forward:  x = z + û · tanh(wᵀz + b)            log|det ∂x/∂z| = log|1 + tanh'(wᵀz + b) · wᵀû|
 *   inverse:  α = wᵀz solves  α + wᵀû · tanh(α + b) = wᵀx,  then  z = x − û · tanh(α + b)
 * Invertibility needs wᵀû ≥ −1; it holds by construction with
 *   û = u + (m(wᵀu) − wᵀu) · w/‖w‖²,   m(a) = −1 + softplus(a),   so wᵀû = m(wᵀu) > −1.
 * The scalar equation is then strictly increasing in α and its root lies in [wᵀx − |c|, wᵀx + |c|]
 * (c = wᵀû, |tanh| ≤ 1): a bracketed Newton iteration that falls back to bisection whenever a
 * Newton step leaves the bracket, vectorised over the batch. Costs: forward O(d), inverse
 * O(d + iterations); the inverse is exact to `tol` and differentiable (implicit gradient).
 */
export class Planar extends BaseBijector {
  readonly name = 'Planar';
  readonly w: tf.Variable;
  readonly u: tf.Variable;
  readonly b: tf.Variable;
  readonly tol: number;
  readonly maxIter: number;
  readonly strict: boolean;
  lastInverse: InverseReport | null = null;

  constructor(readonly dim: number, opts: IterativeInverseOptions & { seed?: number } = {}) {
    super();
    const randn = gaussian(mulberry32(opts.seed ?? 0));
    const w = Float32Array.from({ length: dim }, () => randn() / Math.sqrt(dim));
    const wNorm2 = w.reduce((s, v) => s + v * v, 0);
    // wᵀu = log(e − 1) makes m(wᵀu) = 0, hence û = 0: the layer starts as the identity.
    const u = w.map((v) => (v * Math.log(Math.E - 1)) / wNorm2);
    this.w = this.addParameter('w', tf.tensor1d(w));
    this.u = this.addParameter('u', tf.tensor1d(u));
    this.b = this.addParameter('b', tf.scalar(0));
    this.tol = opts.tol ?? 1e-6;
    this.maxIter = opts.maxIter ?? 100;
    this.strict = opts.strict ?? true;
  }

  /** û, with wᵀû = −1 + softplus(wᵀu) > −1. */
  uHat(): tf.Tensor1D {
    return tf.tidy(() => {
      const wu = tf.sum(tf.mul(this.w, this.u));
      const m = tf.sub(tf.softplus(wu), 1);
      // The tiny floor keeps w = 0 finite (û = u there, and the map is x = z + u·tanh(b)).
      const coef = tf.div(tf.sub(m, wu), tf.add(tf.sum(tf.square(this.w)), 1e-12));
      return tf.add(this.u, tf.mul(coef, this.w));
    });
  }

  private checkShape(t: tf.Tensor): void {
    if (t.rank !== 2 || t.shape[1] !== this.dim) throw new Error(`Planar expects [batch, ${this.dim}], got [${t.shape}]`);
  }

  /** wᵀt per example → [batch]. */
  private project(t: tf.Tensor): tf.Tensor1D {
    return tf.reshape(dense(t as tf.Tensor2D, tf.reshape(this.w, [this.dim, 1]) as tf.Tensor2D), [-1]);
  }

  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    this.checkShape(z);
    return tf.tidy(() => {
      const uh = this.uHat();
      const c = tf.sum(tf.mul(this.w, uh));
      const t = tf.tanh(tf.add(this.project(z), this.b)); // [B]
      const x = tf.add(z, tf.mul(tf.expandDims(t, 1), uh));
      // tanh' = 1 − tanh²
      const ld = tf.log(tf.abs(tf.add(1, tf.mul(tf.sub(1, tf.square(t)), c))));
      return [x, ld];
    });
  }

  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    this.checkShape(x);
    return tf.tidy(() => {
      const uh = this.uHat();
      const c = tf.sum(tf.mul(this.w, uh));
      const y = this.project(x);
      const root = offTape(([yy, cc, bb]) => this.solve(yy, cc, bb), [y, c, this.b]);
      // One Newton step from the root: same value, and the implicit gradient dα/dθ = −f_θ / f_α.
      const f = (a: tf.Tensor) => tf.sub(tf.add(a, tf.mul(c, tf.tanh(tf.add(a, this.b)))), y);
      const t0 = tf.tanh(tf.add(root, this.b));
      const alpha = tf.sub(root, tf.div(f(root), tf.add(1, tf.mul(c, tf.sub(1, tf.square(t0))))));
      const t = tf.tanh(tf.add(alpha, this.b));
      const z = tf.sub(x, tf.mul(tf.expandDims(t, 1), uh));
      const ld = tf.neg(tf.log(tf.abs(tf.add(1, tf.mul(tf.sub(1, tf.square(t)), c)))));
      return [z, ld];
    });
  }

  /** Root of f(α) = α + c·tanh(α + b) − y per example, by safeguarded Newton (off the tape). */
  private solve(y: tf.Tensor, c: tf.Tensor, b: tf.Tensor): tf.Tensor {
    const scale = tf.maximum(tf.abs(y), 1); // relative tolerance for large |wᵀx|
    // Where tanh saturates the root sits on the bracket's end; a margin keeps rounding from
    // putting every Newton step just outside it (which would leave only bisection).
    const absC = tf.add(tf.abs(c), tf.mul(scale, 1e-3));
    let lo = tf.sub(y, absC);
    let hi = tf.add(y, absC);
    let alpha = tf.clone(y);
    let report: InverseReport = { iterations: 0, residual: Infinity, converged: false };
    for (let it = 1; it <= this.maxIter; it++) {
      const next = tf.tidy(() => {
        const t = tf.tanh(tf.add(alpha, b));
        const f = tf.sub(tf.add(alpha, tf.mul(c, t)), y);
        const fp = tf.add(1, tf.mul(c, tf.sub(1, tf.square(t))));
        // f is increasing: f > 0 means the root is below α.
        const above = tf.greater(f, 0);
        const nlo = tf.where(above, lo, alpha);
        const nhi = tf.where(above, alpha, hi);
        const newton = tf.sub(alpha, tf.div(f, fp));
        const inside = tf.logicalAnd(tf.greaterEqual(newton, nlo), tf.lessEqual(newton, nhi));
        const step = tf.where(inside, newton, tf.mul(tf.add(nlo, nhi), 0.5));
        // Examples already solved stay put: a bisection step would move them off the root.
        const errs = tf.div(tf.minimum(tf.abs(f), tf.sub(nhi, nlo)), scale);
        const na = tf.where(tf.lessEqual(errs, this.tol), alpha, step);
        return { lo: nlo, hi: nhi, alpha: na, err: tf.max(errs), fAbs: tf.max(tf.abs(f)) };
      });
      tf.dispose([lo, hi, alpha]);
      ({ lo, hi, alpha } = next);
      const err = next.err.dataSync()[0];
      report = { iterations: it, residual: next.fAbs.dataSync()[0], converged: err <= this.tol };
      tf.dispose([next.err, next.fAbs]);
      if (report.converged) break;
    }
    tf.dispose([lo, hi, absC, scale]);
    this.lastInverse = report;
    if (!report.converged && this.strict) {
      alpha.dispose();
      throw new Error(`Planar inverse did not converge in ${this.maxIter} iterations (max |f(α)| = ${report.residual.toExponential(2)}, tol ${this.tol})`);
    }
    return alpha;
  }
}
