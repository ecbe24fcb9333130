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
