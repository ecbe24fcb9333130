/**
 * The small linear algebra flows need and tfjs lacks (no det, slogdet, LU or triangular solve).
 * Matrices here are small (a flow's channel count), so exact host-side float64 work is cheap.
 */
import * as tf from '@tensorflow/tfjs-core';

/** LU with partial pivoting in float64; returns log|det| and the sign, or -Infinity if singular. */
export function slogdetHost(a: Float64Array | Float32Array, n: number): { sign: number; logAbsDet: number } {
  const m = Float64Array.from(a);
  let sign = 1;
  let logAbsDet = 0;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]) > Math.abs(m[p * n + c])) p = r;
    const pivot = m[p * n + c];
    if (pivot === 0) return { sign: 0, logAbsDet: -Infinity };
    if (p !== c) {
      for (let k = 0; k < n; k++) [m[c * n + k], m[p * n + k]] = [m[p * n + k], m[c * n + k]];
      sign = -sign;
    }
    if (pivot < 0) sign = -sign;
    logAbsDet += Math.log(Math.abs(pivot));
    for (let r = c + 1; r < n; r++) {
      const f = m[r * n + c] / pivot;
      if (f !== 0) for (let k = c; k < n; k++) m[r * n + k] -= f * m[c * n + k];
    }
  }
  return { sign, logAbsDet };
}

/** Gauss–Jordan inverse with partial pivoting in float64. Throws on a singular matrix. */
export function inverseHost(a: Float64Array | Float32Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]) > Math.abs(m[p * n + c])) p = r;
    if (m[p * n + c] === 0) throw new Error('matrix is singular');
    if (p !== c) {
      for (let k = 0; k < n; k++) {
        [m[c * n + k], m[p * n + k]] = [m[p * n + k], m[c * n + k]];
        [inv[c * n + k], inv[p * n + k]] = [inv[p * n + k], inv[c * n + k]];
      }
    }
    const d = m[c * n + c];
    for (let k = 0; k < n; k++) {
      m[c * n + k] /= d;
      inv[c * n + k] /= d;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r * n + c];
      if (f === 0) continue;
      for (let k = 0; k < n; k++) {
        m[r * n + k] -= f * m[c * n + k];
        inv[r * n + k] -= f * inv[c * n + k];
      }
    }
  }
  return inv;
}

/** Inverse of a square matrix tensor (computed on the host in float64; no gradient). */
export function matrixInverse(w: tf.Tensor2D): tf.Tensor2D {
  const n = w.shape[0];
  return tf.tensor2d(Float32Array.from(inverseHost(w.dataSync() as Float32Array, n)), [n, n]);
}

/**
 * log|det W| with its gradient W⁻ᵀ (d log|det W| / dW = W⁻ᵀ). Host-side LU; W is small.
 * Used by the plain (non-LU) invertible 1x1 convolution, as in Glow and NVIDIA's WaveGlow.
 */
export const logAbsDet = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const w = args[0] as tf.Tensor;
  (args[1] as tf.GradSaveFunc)([w]);
  const n = w.shape[0]!;
  const { logAbsDet: v } = slogdetHost(w.dataSync() as Float32Array, n);
  return {
    value: tf.scalar(v),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const invT = tf.transpose(matrixInverse(saved[0] as tf.Tensor2D));
      return tf.mul(dy, invT);
    },
  };
}) as (w: tf.Tensor2D) => tf.Scalar;

export interface LogAbsDetTrackerOptions {
  /** Smallest size refined by Newton–Schulz; below it a host inverse costs less than a few tfjs kernels. */
  minSize?: number;
  /** Accept an inverse X once the RMS residual ‖I − WX‖_F / √n is at most this (float32 floor ≈ 3e-7). */
  tol?: number;
  /** Refine the kept X only if ‖I − WX‖_F starts below this (< 1 guarantees convergence); else host. */
  maxStartResidual?: number;
  /** Newton–Schulz steps before giving up and inverting on the host. */
  maxIterations?: number;
  /** valueNear: the largest ‖W⁻¹(W' − W)‖_F updated from the last value; a bigger step takes a host LU. */
  maxUpdate?: number;
  /** valueNear: a host LU at least every this many calls, so float32 rounding cannot pile up. */
  exactEvery?: number;
}

/**
 * What the tracker did so far: host inversions, warm refinements, Newton–Schulz steps, last
 * residual; valueNear's host LUs and updates.
 */
export interface LogAbsDetTrackerStats {
  host: number;
  refined: number;
  iterations: number;
  /** ‖I − WX‖_F of the last accepted X (an upper bound when accepted by the quadratic bound). */
  residual: number;
  valueExact: number;
  valueUpdated: number;
}

/**
 * log|det W| for one matrix trained by small steps, whose gradient W⁻ᵀ reuses the previous call's
 * inverse instead of a host inversion (O(n³) in JS, ~60 ms for n = 256, where a wasm matMul takes
 * ~2 ms). The kept X is refined by Newton–Schulz, X ← X + X(I − WX): the residual R = I − WX squares
 * each step, so after an optimiser step (‖R‖_F ~ 1e-2) one or two steps reach float32's floor.
 * Every X used is checked: the first residual is measured, and X is accepted when the measured
 * residual, or the bound ‖R‖²_F of the step just taken, is below `tol`; a missing X, a big jump
 * (loaded weights) or no convergence falls back to the exact host inverse.
 * The value stays a host LU (float64, exact; cached per weight); in a training step, valueNear
 * updates the last step's value through X instead. The inverse is formed only when a
 * gradient is asked for, so evaluation pays nothing. Owns X and, once valueNear ran, a copy of the
 * last W; dispose() frees them.
 * Not bit-reproducible across runs: X depends on the previous W, so a run resumed from a checkpoint
 * (host inverse first) matches an uninterrupted one to float32 rounding, not bit for bit.
 */
export class LogAbsDetTracker {
  readonly logAbsDet: (w: tf.Tensor2D) => tf.Scalar;
  readonly stats: LogAbsDetTrackerStats = { host: 0, refined: 0, iterations: 0, residual: NaN, valueExact: 0, valueUpdated: 0 };
  /** Below this size the host inverse is cheaper than refining, and nothing is kept across steps. */
  readonly minSize: number;
  private readonly tol: number;
  private readonly maxStart: number;
  private readonly maxIterations: number;
  private readonly maxUpdate: number;
  private readonly exactEvery: number;
  private x: tf.Tensor2D | null = null;
  /** dataId of the weight `x` inverts (Variable.assign() swaps dataIds, so it marks a new W). */
  private xFor: object | null = null;
  private eye: tf.Tensor2D | null = null;
  private value: { dataId: object; logAbsDet: number } | null = null;
  /** valueNear's last W (a copy), its value and the calls since its last host LU. */
  private near: { dataId: object; w: tf.Tensor2D; logAbsDet: number; calls: number } | null = null;

  constructor(opts: LogAbsDetTrackerOptions = {}) {
    this.minSize = opts.minSize ?? 64;
    this.tol = opts.tol ?? 2e-6;
    this.maxStart = opts.maxStartResidual ?? 0.5;
    this.maxIterations = opts.maxIterations ?? 6;
    this.maxUpdate = opts.maxUpdate ?? 0.05;
    this.exactEvery = opts.exactEvery ?? 100;
    this.logAbsDet = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const w = args[0] as tf.Tensor2D;
      (args[1] as tf.GradSaveFunc)([w]);
      // The saved copy has its own dataId (wasm clones copy), so key the cache by the input's.
      const dataId = w.dataId;
      return {
        value: tf.scalar(this.valueOf(w, dataId)),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.transpose(this.inverse(saved[0] as tf.Tensor2D, dataId))),
      };
    }) as (w: tf.Tensor2D) => tf.Scalar;
  }

  /** log|det W| as a number: a host LU, cached per weight. */
  valueOf(w: tf.Tensor2D, dataId: object = w.dataId): number {
    if (this.value?.dataId !== dataId) this.value = { dataId, logAbsDet: slogdetHost(w.dataSync() as Float32Array, w.shape[0]).logAbsDet };
    return this.value.logAbsDet;
  }

  /**
   * log|det W| in a training step, from the previous step's (whose W the kept X inverts, as after a
   * gradient): log|det W'| = log|det W| + log det(I + E), E = X(W' − W), and
   *   log det(I + E) = tr E − tr E²/2 + tr E³/3 − tr E⁴/4 + r,   |r| ≤ ‖E‖⁵ / (5(1 − ‖E‖))   (‖·‖ = ‖·‖_F),
   * so |r| < 7e-8 for ‖E‖ ≤ maxUpdate = 0.05 (an Adam step at lr 3e-5 moves a 256×256 W by ‖ΔW‖ ≤ 8e-3).
   * Two matMuls instead of a host LU, which took 55–95 ms for cpu-small's eight W: a fifth of a
   * two-thread training step. X's own error (‖I − WX‖ ≤ tol·√n) adds at most ‖W⁻¹‖·tol·√n·‖ΔW‖ per call.
   * A host LU (exact) when there is no previous W with its X, for a bigger step, and every
   * `exactEvery` calls. Not for evaluation: valueOf stays exact.
   */
  valueNear(w: tf.Tensor2D, dataId: object = w.dataId): number {
    const p = this.near;
    if (p?.dataId === dataId) return p.logAbsDet;
    let value: number | null = null;
    if (p && this.x && this.xFor === p.dataId && p.calls + 1 < this.exactEvery && p.w.shape[0] === w.shape[0]) {
      const x = this.x;
      const [tr1, tr2, tr3, tr4, sq] = tf.tidy(() => {
        const e = tf.matMul(x, tf.sub(w, p.w));
        const et = tf.transpose(e);
        const e2 = tf.matMul(e, e);
        // tr(AB) = Σ A ∘ Bᵀ: one matMul (E²) gives all four traces.
        return tf.stack([tf.sum(tf.mul(e, this.identity(w.shape[0]))), tf.sum(tf.mul(e, et)), tf.sum(tf.mul(e2, et)), tf.sum(tf.mul(e2, tf.transpose(e2))), tf.sum(tf.square(e))]).dataSync();
      }) as unknown as number[];
      if (Math.sqrt(sq) <= this.maxUpdate) value = p.logAbsDet + tr1 - tr2 / 2 + tr3 / 3 - tr4 / 4;
    }
    const calls = value === null ? 0 : p!.calls + 1;
    if (value === null) {
      value = slogdetHost(w.dataSync() as Float32Array, w.shape[0]).logAbsDet;
      this.stats.valueExact++;
    } else this.stats.valueUpdated++;
    p?.w.dispose();
    this.near = { dataId, w: tf.keep(tf.clone(w)), logAbsDet: value, calls };
    return value;
  }

  /** W⁻¹ (owned by the tracker, valid until the next call), reusing the kept inverse when it can. */
  inverse(w: tf.Tensor2D, dataId: object = w.dataId): tf.Tensor2D {
    if (this.x && this.xFor === dataId) return this.x;
    let next = this.x && this.x.shape[0] === w.shape[0] && w.shape[0] >= this.minSize ? this.refine(w, this.x) : null;
    if (next) this.stats.refined++;
    else {
      next = tf.keep(matrixInverse(w));
      this.stats.host++;
      this.stats.residual = NaN;
    }
    this.x?.dispose();
    this.x = next;
    this.xFor = dataId;
    return next;
  }

  /** Newton–Schulz from x0 (not disposed); a new kept X, or null when the host must invert. */
  private refine(w: tf.Tensor2D, x0: tf.Tensor2D): tf.Tensor2D | null {
    const n = w.shape[0];
    const eye = this.identity(n);
    const residual = (x: tf.Tensor2D): [tf.Tensor2D, number] => {
      const e = tf.tidy(() => tf.sub(eye, tf.matMul(w, x)) as tf.Tensor2D);
      return [e, Math.sqrt(tf.tidy(() => tf.sum(tf.square(e))).dataSync()[0])];
    };
    const tolF = this.tol * Math.sqrt(n);
    let x = x0;
    let [e, r] = residual(x);
    let ok = false;
    // Converges while ‖R‖ < 1; the bound is rechecked after every measured step (false for NaN).
    for (let it = 0; r < this.maxStart; it++) {
      if (r <= tolF) {
        ok = true;
        break;
      }
      if (it === this.maxIterations) break;
      const next = tf.keep(tf.tidy(() => tf.add(x, tf.matMul(x, e)) as tf.Tensor2D));
      if (x !== x0) x.dispose();
      x = next;
      this.stats.iterations++;
      // The new residual is R² (‖R²‖_F ≤ r²) plus float32 rounding well below tol: when the bound
      // already passes with a 2× margin, skip the matMul that would measure it.
      if (r * r <= tolF / 2) {
        r = r * r;
        ok = true;
        break;
      }
      e.dispose();
      [e, r] = residual(x);
    }
    e.dispose();
    if (!ok) {
      if (x !== x0) x.dispose();
      return null;
    }
    this.stats.residual = r;
    return x === x0 ? tf.keep(tf.clone(x0)) : x;
  }

  /** I (n × n), kept: refine and valueNear use it every step. */
  private identity(n: number): tf.Tensor2D {
    if (this.eye?.shape[0] !== n) {
      this.eye?.dispose();
      this.eye = tf.keep(tf.eye(n) as tf.Tensor2D);
    }
    return this.eye;
  }

  /** The kept inverse, for checkpoints (null before the first gradient). */
  kept(): tf.Tensor2D | null {
    return this.x;
  }

  /**
   * Resumes from a checkpoint's kept inverse (copied), so the next refinement starts where an
   * uninterrupted run's would: training then resumes bit for bit. null forgets it.
   */
  restore(x: tf.Tensor2D | null): void {
    this.reset();
    if (x) this.x = tf.keep(tf.clone(x));
  }

  /** Forgets the kept inverse (the next gradient inverts on the host). */
  reset(): void {
    this.x?.dispose();
    this.x = null;
    this.xFor = null;
    this.value = null;
    this.near?.w.dispose();
    this.near = null;
  }

  dispose(): void {
    this.reset();
    this.eye?.dispose();
    this.eye = null;
  }
}

/**
 * (I + N)⁻¹ for a strictly triangular (hence nilpotent) N, exactly and differentiably:
 * with M = −N, (I − M)(I + M)(I + M²)(I + M⁴)… = I − M^(2^k) = I once 2^k ≥ n, so
 * (I + N)⁻¹ = Π_j (I + M^(2^j)) — ⌈log₂ n⌉ matmuls, where a substitution loop would take n steps.
 */
export function unitTriangularInverse(n: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const size = n.shape[0];
    const eye = tf.eye(size);
    let m: tf.Tensor2D = tf.neg(n);
    let acc: tf.Tensor2D = tf.add(eye, m);
    for (let p = 2; p < size; p *= 2) {
      m = tf.matMul(m, m);
      acc = tf.matMul(acc, tf.add(eye, m));
    }
    return acc;
  });
}

/** P·L·U factorisation with partial pivoting (host, float64): A = P L U, L unit lower. */
export function luHost(a: Float64Array | Float32Array, n: number): { perm: number[]; lower: Float64Array; upper: Float64Array } {
  const m = Float64Array.from(a);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]) > Math.abs(m[p * n + c])) p = r;
    if (m[p * n + c] === 0) throw new Error('matrix is singular');
    if (p !== c) {
      for (let k = 0; k < n; k++) [m[c * n + k], m[p * n + k]] = [m[p * n + k], m[c * n + k]];
      [perm[c], perm[p]] = [perm[p], perm[c]];
    }
    for (let r = c + 1; r < n; r++) {
      const f = (m[r * n + c] /= m[c * n + c]);
      for (let k = c + 1; k < n; k++) m[r * n + k] -= f * m[c * n + k];
    }
  }
  const lower = new Float64Array(n * n);
  const upper = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < n; k++) {
      if (k < r) lower[r * n + k] = m[r * n + k];
      else upper[r * n + k] = m[r * n + k];
    }
    lower[r * n + r] = 1;
  }
  // Row r of the factored matrix was row perm[r] of A, so A = P L U with P[perm[r], r] = 1.
  return { perm, lower, upper };
}

/** A random rotation (orthogonal, det +1) from Gram–Schmidt on a seeded Gaussian matrix. */
export function randomRotationHost(n: number, rand: () => number): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) q[i] = rand();
  for (let c = 0; c < n; c++) {
    for (let p = 0; p < c; p++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += q[r * n + c] * q[r * n + p];
      for (let r = 0; r < n; r++) q[r * n + c] -= dot * q[r * n + p];
    }
    let norm = 0;
    for (let r = 0; r < n; r++) norm += q[r * n + c] ** 2;
    norm = Math.sqrt(norm);
    for (let r = 0; r < n; r++) q[r * n + c] /= norm;
  }
  if (slogdetHost(q, n).sign < 0) for (let r = 0; r < n; r++) q[r * n] = -q[r * n];
  return q;
}
