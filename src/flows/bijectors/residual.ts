import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector } from '../bijector.js';
import { Module } from '../module.js';
import { dense, matMul } from '../../nn/matmul.js';
import { inverseHost, slogdetHost } from '../../nn/linalg.js';
import { gaussian, mulberry32, SeedStream } from '../../util/random.js';
import { offTape, type InverseReport, type IterativeInverseOptions } from './planar.js';

/** 1-Lipschitz activations: LipSwish (Chen et al. 2019) x·sigmoid(βx)/1.1, ELU, tanh. */
export type LipschitzActivation = 'lipswish' | 'elu' | 'tanh';

export interface LipschitzMLPOptions {
  hidden?: number[];
  activation?: LipschitzActivation;
  /** Bound on each layer's spectral norm, < 1 (i-ResNet's c). Default 0.9. */
  coeff?: number;
  seed?: number;
}

/** The network at a point: g(z) and what Jacobian products need (Ŵ_l and σ'(a_l) per hidden layer). */
export interface Linearisation {
  out: tf.Tensor;
  weights: tf.Tensor2D[];
  slopes: tf.Tensor[];
}

/**
 * g: an MLP whose weights are spectrally normalised (Miyato et al. 2018, as i-ResNet uses it):
 *   Ŵ = W / max(1, σ̂/c),  σ̂ = ‖W u‖ ≤ σ_max(W)
 * with u the persisted power-iteration vector (a saved, non-trainable parameter, like PyTorch's
 * spectral_norm buffer). With 1-Lipschitz activations, Lip(g) ≤ Π‖Ŵ_l‖ ≲ c^L < 1.
 * σ̂ under-estimates σ_max until the power iteration has converged, so u is iterated to
 * convergence at construction, and `updateSpectralNorm()` must follow any change of weights made
 * outside training (randomising, hand edits; loaded checkpoints carry their u).
 *
 * Jacobian products are written out by hand (`vjp`, `jacobian`) instead of nested tf.grad: tfjs
 * gets second-order gradients wrong through ops that save their output (tanh, exp, sigmoid, elu:
 * tf.grad of a tf.grad disagrees with finite differences), and training a log-det built from vjps
 * needs exactly that. Hand-written products are first-order ops, so training through them is exact.
 */
export class LipschitzMLP extends Module {
  private readonly layers: { w: tf.Variable; b: tf.Variable; u: tf.Variable }[] = [];
  private readonly betaHat: tf.Variable[] = [];
  readonly activation: LipschitzActivation;
  readonly coeff: number;

  constructor(readonly dim: number, opts: LipschitzMLPOptions = {}) {
    super();
    this.coeff = opts.coeff ?? 0.9;
    if (!(this.coeff > 0 && this.coeff < 1)) throw new Error(`LipschitzMLP needs 0 < coeff < 1 for a contraction, got ${this.coeff}`);
    this.activation = opts.activation ?? 'lipswish';
    const sizes = [dim, ...(opts.hidden ?? [32, 32]), dim];
    const randn = gaussian(mulberry32(opts.seed ?? 0));
    for (let i = 0; i + 1 < sizes.length; i++) {
      const [n, m] = [sizes[i], sizes[i + 1]];
      const w = Float32Array.from({ length: n * m }, () => randn() / Math.sqrt(n));
      const u = Float32Array.from({ length: m }, () => randn());
      const uNorm = Math.hypot(...u) || 1;
      this.layers.push({
        w: this.addParameter(`${i}.w`, tf.tensor2d(w, [n, m])),
        b: this.addParameter(`${i}.b`, tf.zeros([m])),
        u: this.addParameter(`${i}.u`, tf.tensor1d(u.map((v) => v / uNorm)), false),
      });
      // LipSwish's β = softplus(β̂) per unit, initialised to 1.
      if (i + 2 < sizes.length && this.activation === 'lipswish') {
        this.betaHat.push(this.addParameter(`${i}.betaHat`, tf.fill([m], Math.log(Math.E - 1))));
      }
    }
    this.updateSpectralNorm(50);
  }

  /** Runs `iterations` power-iteration steps per layer and stores the new u (off the gradient tape). */
  updateSpectralNorm(iterations = 1): void {
    tf.tidy(() => {
      for (const { w, u } of this.layers) {
        const next = offTape(([wt, u0]) => {
          let uu = u0;
          const [n, m] = wt.shape as [number, number];
          for (let k = 0; k < iterations; k++) {
            const v = tf.reshape(tf.matMul(wt as tf.Tensor2D, tf.reshape(uu, [m, 1]) as tf.Tensor2D), [n]);
            const vn = tf.div(v, tf.add(tf.norm(v), 1e-12));
            const un = tf.reshape(tf.matMul(tf.reshape(vn, [1, n]) as tf.Tensor2D, wt as tf.Tensor2D), [m]);
            uu = tf.div(un, tf.add(tf.norm(un), 1e-12));
          }
          return uu;
        }, [w, u]);
        u.assign(next as tf.Tensor1D);
      }
    });
  }

  /** The spectrally normalised weights Ŵ_l (differentiable in W; u is a constant). */
  normalisedWeights(): tf.Tensor2D[] {
    return tf.tidy(() =>
      this.layers.map(({ w, u }) => {
        const sigma = tf.norm(matMul(w as tf.Tensor2D, tf.reshape(u, [-1, 1]) as tf.Tensor2D));
        return tf.div(w, tf.maximum(1, tf.div(sigma, this.coeff))) as tf.Tensor2D;
      }),
    );
  }

  /** Activation and its derivative at the pre-activation a of hidden layer i. */
  private act(a: tf.Tensor, i: number, withSlope: boolean): { h: tf.Tensor; slope: tf.Tensor | null } {
    if (this.activation === 'tanh') {
      const t = tf.tanh(a);
      return { h: t, slope: withSlope ? tf.sub(1, tf.square(t)) : null };
    }
    if (this.activation === 'elu') {
      const pos = tf.step(a);
      return { h: tf.elu(a), slope: withSlope ? tf.add(pos, tf.mul(tf.sub(1, pos), tf.exp(tf.minimum(a, 0)))) : null };
    }
    // LipSwish: f = a·s/1.1, f' = (s + βa·s(1 − s))/1.1 with s = sigmoid(βa); sup |f'| < 1.1.
    const beta = tf.softplus(this.betaHat[i]);
    const ba = tf.mul(beta, a);
    const s = tf.sigmoid(ba);
    const h = tf.div(tf.mul(a, s), 1.1);
    return { h, slope: withSlope ? tf.div(tf.add(s, tf.mul(ba, tf.mul(s, tf.sub(1, s)))), 1.1) : null };
  }

  /** g(z) for z [..., dim], with the slopes when Jacobian products will follow. */
  linearise(z: tf.Tensor, weights = this.normalisedWeights(), withSlopes = true): Linearisation {
    return tf.tidy(() => {
      let h = z;
      const slopes: tf.Tensor[] = [];
      this.layers.forEach(({ b }, i) => {
        const a = dense(h, weights[i], b as tf.Tensor1D);
        if (i + 1 === this.layers.length) {
          h = a;
          return;
        }
        const r = this.act(a, i, withSlopes);
        h = r.h;
        if (r.slope) slopes.push(r.slope);
      });
      return { out: h, weights, slopes };
    });
  }

  apply(z: tf.Tensor, weights?: tf.Tensor2D[]): tf.Tensor {
    return tf.tidy(() => this.linearise(z, weights ?? this.normalisedWeights(), false).out);
  }

  /** wᵀ J_g(z) for cotangents w [..., B, dim] (leading probe axes broadcast): reverse mode by hand. */
  static vjp(lin: Linearisation, w: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let d = w;
      for (let l = lin.weights.length - 1; l >= 0; l--) {
        d = dense(d, tf.transpose(lin.weights[l]) as tf.Tensor2D);
        if (l > 0) d = tf.mul(d, lin.slopes[l - 1]);
      }
      return d;
    });
  }

  /** Per-example Jacobians in row form, M_b = J_bᵀ ([B, dim, dim]: d g = dz · M_b). */
  static jacobian(lin: Linearisation): tf.Tensor3D {
    return tf.tidy(() => {
      const batch = lin.out.shape[0];
      let t: tf.Tensor = tf.expandDims(lin.weights[0], 0);
      for (let l = 1; l < lin.weights.length; l++) {
        t = dense(tf.mul(t, tf.expandDims(lin.slopes[l - 1], 1)), lin.weights[l]);
      }
      const [, d, e] = t.shape;
      return (t.shape[0] === batch ? t : tf.broadcastTo(t, [batch, d!, e!])) as tf.Tensor3D;
    });
  }
}

/** log|det A_b| per example of A [B, n, n], host LU in float64; gradient A_b⁻ᵀ (first order). */
const batchLogAbsDet = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const a = args[0] as tf.Tensor3D;
  (args[1] as tf.GradSaveFunc)([a]);
  const [batch, n] = a.shape;
  const data = a.dataSync() as Float32Array;
  const out = new Float32Array(batch);
  for (let b = 0; b < batch; b++) out[b] = slogdetHost(data.subarray(b * n * n, (b + 1) * n * n), n).logAbsDet;
  return {
    value: tf.tensor1d(out),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const ad = saved[0].dataSync() as Float32Array;
      const g = new Float32Array(batch * n * n);
      for (let b = 0; b < batch; b++) {
        const inv = inverseHost(ad.subarray(b * n * n, (b + 1) * n * n), n);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[b * n * n + i * n + j] = inv[j * n + i];
      }
      return tf.mul(tf.tensor3d(g, [batch, n, n]), tf.reshape(dy, [batch, 1, 1]));
    },
  };
}) as (a: tf.Tensor3D) => tf.Tensor1D;

/**
 * How log|det(I + J_g)| is computed:
 *  - exact: the full Jacobian (dim products) and a host LU — small dim, tests, evaluation;
 *  - series: Σ_{k=1..n} (−1)^{k+1}/k · tr(J^k), each trace by Hutchinson's estimator vᵀJ^k v with
 *    Rademacher probes (i-ResNet, Behrmann et al. 2019). Biased by the dropped tail: with
 *    L = Lip(g), |bias| ≤ dim · L^{n+1} / ((n + 1)(1 − L));
 *  - roulette: the Russian-roulette estimator of Residual Flows (Chen et al. 2019): N = exactTerms
 *    + Geometric(p) terms, term k weighted by 1/P(N ≥ k) — unbiased, one N per call.
 * The estimators are built from first-order ops, so their gradients are unbiased (roulette) too.
 */
export type ResidualLogDet =
  | { method: 'exact' }
  | { method: 'series'; terms?: number; probes?: number }
  | { method: 'roulette'; exactTerms?: number; p?: number; probes?: number };

export interface ResidualFlowOptions extends LipschitzMLPOptions, IterativeInverseOptions {
  logDet?: ResidualLogDet;
  /** Power-iteration steps per call while `training` is true. Default 1. */
  powerIterations?: number;
}

/**
 * Invertible residual block (i-ResNet, Behrmann et al. 2019; Residual Flows, Chen et al. 2019;
 * seed 000 "Contraction mappings in residual flows"), on [batch, d], with Lip(g) < 1:
 *   forward:  x = z + g(z)                          log|det ∂x/∂z| = log det(I + J_g(z))
 *                                                   = Σ_{k≥1} (−1)^{k+1}/k · tr(J_g^k)
 *   inverse:  z = fixed point of z ← x − g(z)        log|det ∂z/∂x| = −log det(I + J_g(z))
 * (Banach: the iteration contracts by Lip(g) per step). The papers apply the block in the
 * data → latent direction; here forward (generative) is the cheap, explicit direction and the
 * inverse is iterative. For density estimation wrap it — `new Invert(new ResidualFlow(d))` — so
 * that logProb runs the explicit map x ↦ x + g(x) and only sampling iterates.
 * The inverse is differentiable with the implicit gradient (I + J)⁻¹, itself solved by a
 * fixed-point iteration on vjps, never by backpropagating through the iterations.
 * Costs: forward one pass of g (+ dim products for exact log-det, or n·probes vjps);
 * inverse ≈ log(tol)/log(Lip g) passes of g.
 */
export class ResidualFlow extends BaseBijector {
  readonly name = 'ResidualFlow';
  readonly net: LipschitzMLP;
  logDet: ResidualLogDet;
  /** While true, each *AndLogDet call first advances the power iteration (as PyTorch's train mode). */
  training = false;
  readonly powerIterations: number;
  readonly tol: number;
  readonly maxIter: number;
  readonly strict: boolean;
  lastInverse: InverseReport | null = null;
  private readonly seeds: SeedStream;
  private readonly rand: () => number;

  constructor(readonly dim: number, opts: ResidualFlowOptions = {}) {
    super();
    this.net = this.addModule('net', new LipschitzMLP(dim, opts));
    this.logDet = opts.logDet ?? { method: 'exact' };
    this.powerIterations = opts.powerIterations ?? 1;
    this.tol = opts.tol ?? 1e-6;
    this.maxIter = opts.maxIter ?? 500;
    this.strict = opts.strict ?? true;
    this.seeds = new SeedStream((opts.seed ?? 0) + 7919);
    this.rand = mulberry32((opts.seed ?? 0) + 104729);
  }

  private checkShape(t: tf.Tensor): void {
    if (t.rank !== 2 || t.shape[1] !== this.dim) throw new Error(`ResidualFlow expects [batch, ${this.dim}], got [${t.shape}]`);
  }

  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    this.checkShape(z);
    if (this.training) this.net.updateSpectralNorm(this.powerIterations);
    return tf.tidy(() => {
      const lin = this.net.linearise(z);
      return [tf.add(z, lin.out), this.logDetAt(lin)];
    });
  }

  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    this.checkShape(x);
    if (this.training) this.net.updateSpectralNorm(this.powerIterations);
    return tf.tidy(() => {
      const z = this.solve(x);
      return [z, tf.neg(this.logDetAt(this.net.linearise(z)))];
    });
  }

  // The one-way maps skip the log-det, which is the expensive part.
  override forward(z: tf.Tensor): tf.Tensor {
    this.checkShape(z);
    return tf.tidy(() => tf.add(z, this.net.apply(z)));
  }

  override inverse(x: tf.Tensor): tf.Tensor {
    this.checkShape(x);
    return tf.tidy(() => this.solve(x));
  }

  /** log det(I + J_g) per example, by the configured method. */
  private logDetAt(lin: Linearisation): tf.Tensor {
    const ld = this.logDet;
    if (ld.method === 'exact') {
      return batchLogAbsDet(tf.add(tf.eye(this.dim), LipschitzMLP.jacobian(lin)) as tf.Tensor3D);
    }
    let terms: number;
    let weight: (k: number) => number;
    if (ld.method === 'series') {
      terms = ld.terms ?? 5;
      weight = () => 1;
    } else {
      const exact = ld.exactTerms ?? 2;
      const p = ld.p ?? 0.5;
      if (!(p > 0 && p < 1)) throw new Error(`roulette needs 0 < p < 1, got ${p}`);
      // M ~ Geometric(p) on {0, 1, …} with P(M ≥ m) = (1 − p)^m; N = exact + M.
      const m = Math.floor(Math.log(1 - this.rand()) / Math.log(1 - p));
      terms = exact + m;
      weight = (k) => (k <= exact ? 1 : (1 - p) ** -(k - exact));
    }
    const probes = ld.probes ?? 1;
    const batch = lin.out.shape[0];
    const u = tf.randomUniform([probes, batch, this.dim], 0, 1, 'float32', this.seeds.next());
    const v = tf.sub(tf.mul(tf.step(tf.sub(u, 0.5)), 2), 1); // Rademacher ±1
    let w = v;
    let acc: tf.Tensor = tf.zeros([probes, batch]);
    for (let k = 1; k <= terms; k++) {
      w = LipschitzMLP.vjp(lin, w); // vᵀJ^k
      const coef = (((k % 2) * 2 - 1) / k) * weight(k);
      acc = tf.add(acc, tf.mul(tf.sum(tf.mul(w, v), -1), coef));
    }
    return tf.mean(acc, 0);
  }

  /** z with z + g(z) = x: off-tape fixed point, then an implicit-gradient correction. */
  private solve(x: tf.Tensor): tf.Tensor {
    const weights = this.net.normalisedWeights();
    const zStar = offTape(([xx]) => this.fixedPoint(xx, weights), [x]);
    // r = F(z*) − x is ~0 in value; z = z* − r is one more fixed-point step, and the custom
    // gradient of r ↦ r below is (I + J)⁻ᵀ, which makes dz/dx and dz/dθ the implicit derivatives.
    const r = tf.sub(tf.add(zStar, this.net.apply(zStar, weights)), x);
    return tf.sub(zStar, this.implicitStep(r, zStar));
  }

  private fixedPoint(x: tf.Tensor, weights: tf.Tensor2D[]): tf.Tensor {
    const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(x))).dataSync()[0]);
    let z = tf.clone(x);
    let report: InverseReport = { iterations: 0, residual: Infinity, converged: false };
    for (let it = 1; it <= this.maxIter; it++) {
      const next = tf.tidy(() => tf.sub(x, this.net.apply(z, weights)));
      const delta = tf.tidy(() => tf.max(tf.abs(tf.sub(next, z))));
      const d = delta.dataSync()[0];
      delta.dispose();
      z.dispose();
      z = next;
      report = { iterations: it, residual: d, converged: d <= this.tol * scale };
      if (report.converged) break;
    }
    this.lastInverse = report;
    if (!report.converged && this.strict) {
      z.dispose();
      throw new Error(
        `ResidualFlow inverse did not converge in ${this.maxIter} iterations (last step max |Δz| = ${report.residual.toExponential(2)}, ` +
          `tol ${this.tol}); is Lip(g) < 1? call net.updateSpectralNorm() after changing weights`,
      );
    }
    return z;
  }

  /** Identity in value; backward maps dy to u = (I + Jᵀ)⁻¹ dy by the iteration u ← dy − Jᵀu. */
  private implicitStep(r: tf.Tensor, zStar: tf.Tensor): tf.Tensor {
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [rr, zs, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      save([zs]);
      return {
        value: tf.clone(rr),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [this.adjointSolve(dy, saved[0]), tf.zerosLike(saved[0])],
      };
    });
    return f(r, zStar);
  }

  private adjointSolve(dy: tf.Tensor, zStar: tf.Tensor): tf.Tensor {
    const lin = this.net.linearise(zStar);
    const scale = Math.max(1e-30, tf.tidy(() => tf.max(tf.abs(dy))).dataSync()[0]);
    let u = tf.clone(dy);
    // Gradients need no more than float32 accuracy; a tighter forward tol must not make this throw.
    const tol = Math.max(this.tol, 1e-6) * scale;
    let d = Infinity;
    for (let it = 1; it <= this.maxIter && d > tol; it++) {
      const next = tf.tidy(() => tf.sub(dy, LipschitzMLP.vjp(lin, u)));
      const delta = tf.tidy(() => tf.max(tf.abs(tf.sub(next, u))));
      d = delta.dataSync()[0];
      tf.dispose([delta, u]);
      u = next;
    }
    tf.dispose([lin.out, ...lin.weights, ...lin.slopes]);
    if (d > tol && this.strict) throw new Error(`ResidualFlow implicit gradient did not converge (max |Δu| = ${d.toExponential(2)})`);
    return u;
  }
}
