import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { inverseHost, logAbsDet, luHost, randomRotationHost, slogdetHost, unitTriangularInverse } from '../src/nn/linalg.js';
import { gaussian, mulberry32 } from '../src/util/random.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const randMatrix = (n: number, seed: number) => {
  const g = gaussian(mulberry32(seed));
  return Float64Array.from({ length: n * n }, () => g());
};

function matmulHost(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * n + k] * b[k * n + j];
  return c;
}

describe('host linear algebra', () => {
  it('slogdet of a known matrix, sign included', () => {
    expect(slogdetHost(Float64Array.from([2, 1, 1, 3]), 2)).toEqual({ sign: 1, logAbsDet: expect.closeTo(Math.log(5), 12) });
    expect(slogdetHost(Float64Array.from([0, 1, 1, 0]), 2).sign).toBe(-1);
    expect(slogdetHost(Float64Array.from([1, 2, 2, 4]), 2).logAbsDet).toBe(-Infinity);
  });

  it('inverse, LU and rotations are consistent', () => {
    const n = 6;
    const a = randMatrix(n, 1);
    const prod = matmulHost(a, inverseHost(a, n), n);
    prod.forEach((v, i) => expect(v).toBeCloseTo(i % (n + 1) === 0 ? 1 : 0, 10));
    const { perm, lower, upper } = luHost(a, n);
    const lu = matmulHost(lower, upper, n);
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) expect(lu[r * n + c]).toBeCloseTo(a[perm[r] * n + c], 10);
    const q = randomRotationHost(n, gaussian(mulberry32(2)));
    expect(slogdetHost(q, n)).toEqual({ sign: 1, logAbsDet: expect.closeTo(0, 10) });
  });

  it('unitTriangularInverse equals the exact inverse of I + N', () => {
    const n = 7;
    const g = gaussian(mulberry32(3));
    const N = new Float32Array(n * n);
    for (let r = 0; r < n; r++) for (let c = 0; c < r; c++) N[r * n + c] = g() * 0.5;
    const inv = unitTriangularInverse(tf.tensor2d(N, [n, n])).dataSync();
    const eyePlusN = Float64Array.from(N, (v, i) => v + (i % (n + 1) === 0 ? 1 : 0));
    const ref = inverseHost(eyePlusN, n);
    inv.forEach((v, i) => expect(v).toBeCloseTo(ref[i], 4));
  });

  it('logAbsDet gradient equals W⁻ᵀ (checked by finite differences)', () => {
    const n = 4;
    const a = Float32Array.from(randMatrix(n, 5));
    const g = tf.grad((w: tf.Tensor) => logAbsDet(w as tf.Tensor2D))(tf.tensor2d(a, [n, n])).dataSync();
    const eps = 1e-4;
    for (let i = 0; i < n * n; i++) {
      const p = Float64Array.from(a);
      const m = Float64Array.from(a);
      p[i] += eps;
      m[i] -= eps;
      const fd = (slogdetHost(p, n).logAbsDet - slogdetHost(m, n).logAbsDet) / (2 * eps);
      expect(g[i]).toBeCloseTo(fd, 3);
    }
  });
});
