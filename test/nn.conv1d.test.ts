import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { conv1d, dense, matMul } from '../src/nn/index.js';

// ---------- float64 references (independent of tfjs) ----------

/** Deterministic uniform(-1, 1) numbers (LCG), so failures reproduce. */
function rand(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

interface ConvShape { B: number; T: number; cin: number; cout: number; k: number; d: number }

/** y[b,t,o] = bias[o] + Σ_{j,i} x[b, t + j·d − p, i] · w[j,i,o], zero outside [0, T). */
function convRef(x: Float64Array, w: Float64Array, bias: Float64Array, s: ConvShape): Float64Array {
  const { B, T, cin, cout, k, d } = s;
  const p = ((k - 1) * d) / 2;
  const y = new Float64Array(B * T * cout);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let o = 0; o < cout; o++) {
        let acc = bias[o];
        for (let j = 0; j < k; j++) {
          const tt = t + j * d - p;
          if (tt < 0 || tt >= T) continue;
          for (let i = 0; i < cin; i++) acc += x[(b * T + tt) * cin + i] * w[(j * cin + i) * cout + o];
        }
        y[(b * T + t) * cout + o] = acc;
      }
  return y;
}

const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);

/** Central differences of f with respect to every entry of v (f is evaluated in float64). */
function numericGrad(v: Float64Array, f: () => number, eps = 1e-3): Float64Array {
  const g = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const v0 = v[i];
    v[i] = v0 + eps;
    const up = f();
    v[i] = v0 - eps;
    const down = f();
    v[i] = v0;
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}

/** max |a − b| / (1 + |b|): absolute near 0, relative for large values. */
function maxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return m;
}

const f32 = (a: Float64Array) => Float32Array.from(a);

// ---------- per-backend checks ----------

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`nn conv1d / matMul on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend(backend);
      expect(tf.getBackend()).toBe(backend);
    });

    it('forward equals tf.conv1d + bias and a float64 reference (k 1/3/5, dilation 1/2/4, odd T)', () => {
      for (const k of [1, 3, 5])
        for (const d of [1, 2, 4]) {
          const s: ConvShape = { B: 2, T: 9, cin: 3, cout: 4, k, d };
          const xv = rand(s.B * s.T * s.cin, 1 + k * 10 + d);
          const wv = rand(k * s.cin * s.cout, 2 + k * 10 + d);
          const bv = rand(s.cout, 3 + k * 10 + d);
          const [ours, stock] = tf.tidy(() => {
            const x = tf.tensor3d(f32(xv), [s.B, s.T, s.cin]);
            const w = tf.tensor3d(f32(wv), [k, s.cin, s.cout]);
            const b = tf.tensor1d(f32(bv));
            return [
              conv1d(x, w, b, d).dataSync(),
              tf.add(tf.conv1d(x, w, 1, 'same', 'NWC', d), b).dataSync(),
            ];
          });
          expect(maxErr(ours, stock), `k=${k} d=${d} vs tf.conv1d`).toBeLessThan(1e-5);
          expect(maxErr(ours, convRef(xv, wv, bv, s)), `k=${k} d=${d} vs reference`).toBeLessThan(1e-5);
        }
      // Without bias, and with the output shape kept.
      const y = tf.tidy(() => conv1d(tf.ones([1, 5, 2]), tf.ones([3, 2, 6]), null, 2));
      expect(y.shape).toEqual([1, 5, 6]);
      expect(Array.from(y.dataSync().slice(0, 6))).toEqual([4, 4, 4, 4, 4, 4]); // t=0 sees x[0], x[2]
      y.dispose();
    });

    it('gradients wrt x, w and bias equal central finite differences (dilation 1/2/4)', () => {
      for (const k of [1, 3, 5])
        for (const d of [1, 2, 4]) {
          if (k === 1 && d > 1) continue; // a 1×1 conv ignores the dilation
          const s: ConvShape = { B: 2, T: 7, cin: 3, cout: 2, k, d };
          const seed = 100 + k * 10 + d;
          const xv = rand(s.B * s.T * s.cin, seed);
          const wv = rand(k * s.cin * s.cout, seed + 1);
          const bv = rand(s.cout, seed + 2);
          const rv = rand(s.B * s.T * s.cout, seed + 3); // fixed random cotangent: L = Σ y·r
          const loss = () => dot(convRef(xv, wv, bv, s), rv);
          const fd = [numericGrad(xv, loss), numericGrad(wv, loss), numericGrad(bv, loss)];

          const got = tf.tidy(() => {
            const r = tf.tensor3d(f32(rv), [s.B, s.T, s.cout]);
            const g = tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
              tf.sum(tf.mul(conv1d(x as tf.Tensor3D, w as tf.Tensor3D, b as tf.Tensor1D, d), r)));
            return g([
              tf.tensor3d(f32(xv), [s.B, s.T, s.cin]),
              tf.tensor3d(f32(wv), [k, s.cin, s.cout]),
              tf.tensor1d(f32(bv)),
            ]).map((t) => t.dataSync());
          });
          ['x', 'w', 'bias'].forEach((name, i) =>
            expect(maxErr(got[i], fd[i]), `d${name} k=${k} d=${d}`).toBeLessThan(1e-4));
        }
    });

    it('gradients reach variables through tf.variableGrads, without leaking tensors', () => {
      const x = tf.variable(tf.tensor3d(f32(rand(2 * 11 * 4, 7)), [2, 11, 4]));
      const w = tf.variable(tf.tensor3d(f32(rand(3 * 4 * 5, 8)), [3, 4, 5]));
      const b = tf.variable(tf.tensor1d(f32(rand(5, 9))));
      const f = () => tf.sum(tf.square(conv1d(x, w, b, 4))) as tf.Scalar;
      const before = tf.memory().numTensors;
      for (let i = 0; i < 2; i++) {
        const { value, grads } = tf.variableGrads(f);
        expect(Object.keys(grads).sort()).toEqual([b.name, w.name, x.name].sort());
        expect(grads[w.name].shape).toEqual([3, 4, 5]);
        expect(grads[x.name].shape).toEqual([2, 11, 4]);
        value.dispose();
        tf.dispose(grads);
      }
      // tidy bodies return nothing, so everything they made must be released.
      tf.tidy(() => {
        tf.grads((xx: tf.Tensor) => tf.sum(conv1d(xx as tf.Tensor3D, w, null, 2)))([x]);
        tf.grads((a: tf.Tensor) => tf.sum(dense(a, tf.ones([4, 3]), tf.ones([3]))))([x]);
        conv1d(x, w, b, 1);
      });
      // Outside a tidy, only the returned tensor may remain.
      for (const k of [1, 3]) {
        const wk = tf.ones([k, 4, 2]) as tf.Tensor3D;
        const n0 = tf.memory().numTensors;
        const y = conv1d(x, wk, null, 2);
        expect(tf.memory().numTensors, `k=${k}`).toBe(n0 + 1);
        tf.dispose([y, wk]);
      }
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, w, b]);
    });

    it('matMul gradients equal the stock gradients and finite differences', () => {
      // K < N and K > N take different transposes for dB.
      for (const [M, K, N] of [[5, 3, 4], [6, 7, 2]]) {
        const av = rand(M * K, M * 31 + K);
        const bv = rand(K * N, M * 37 + N);
        const rv = rand(M * N, 41 + K);
        const ref = () => {
          let s = 0;
          for (let m = 0; m < M; m++)
            for (let n = 0; n < N; n++) {
              let y = 0;
              for (let k = 0; k < K; k++) y += av[m * K + k] * bv[k * N + n];
              s += y * rv[m * N + n];
            }
          return s;
        };
        const fd = [numericGrad(av, ref), numericGrad(bv, ref)];
        const [ours, stock] = tf.tidy(() => {
          const a = tf.tensor2d(f32(av), [M, K]);
          const b = tf.tensor2d(f32(bv), [K, N]);
          const r = tf.tensor2d(f32(rv), [M, N]);
          const loss = (mm: (p: tf.Tensor2D, q: tf.Tensor2D) => tf.Tensor2D) =>
            (p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(mm(p as tf.Tensor2D, q as tf.Tensor2D), r));
          return [
            tf.grads(loss(matMul))([a, b]).map((t) => t.dataSync()),
            tf.grads(loss((p, q) => tf.matMul(p, q)))([a, b]).map((t) => t.dataSync()),
          ];
        });
        for (let i = 0; i < 2; i++) {
          expect(maxErr(ours[i], stock[i]), `d${'ab'[i]} vs stock, ${M}x${K}x${N}`).toBeLessThan(1e-6);
          expect(maxErr(ours[i], fd[i]), `d${'ab'[i]} vs finite differences`).toBeLessThan(1e-4);
        }
      }
    });

    it('dense works on any rank and matches matMul + bias; k = 1 conv is dense', () => {
      tf.tidy(() => {
        const x = tf.tensor(f32(rand(2 * 3 * 5 * 4, 50)), [2, 3, 5, 4]);
        const w = tf.tensor2d(f32(rand(4 * 6, 51)), [4, 6]);
        const b = tf.tensor1d(f32(rand(6, 52)));
        const y = dense(x, w, b);
        expect(y.shape).toEqual([2, 3, 5, 6]);
        const want = tf.add(tf.matMul(tf.reshape(x, [-1, 4]), w), b);
        expect(maxErr(y.dataSync(), want.dataSync())).toBeLessThan(1e-6);
        const x3 = tf.reshape(x, [6, 5, 4]) as tf.Tensor3D;
        const c = conv1d(x3, tf.reshape(w, [1, 4, 6]) as tf.Tensor3D, b, 3);
        expect(maxErr(c.dataSync(), y.dataSync())).toBeLessThan(1e-6);
        expect(dense(tf.ones([4]), w).shape).toEqual([6]);
      });
    });

    it('rejects bad shapes with clear errors', () => {
      tf.tidy(() => {
        const x = tf.zeros([1, 8, 3]) as tf.Tensor3D;
        expect(() => conv1d(x, tf.zeros([2, 3, 4]), null)).toThrow(/odd/);
        expect(() => conv1d(x, tf.zeros([3, 2, 4]), null)).toThrow(/3 channels/);
        expect(() => conv1d(x, tf.zeros([3, 3, 4]), tf.zeros([5]))).toThrow(/bias must be \[4\]/);
        expect(() => conv1d(x, tf.zeros([3, 3, 4]), null, 0)).toThrow(/dilation/);
        expect(() => conv1d(tf.zeros([8, 3]) as unknown as tf.Tensor3D, tf.zeros([3, 3, 4]), null)).toThrow(/batch, time, channels/);
        expect(() => matMul(tf.zeros([2, 3]), tf.zeros([4, 2]))).toThrow(/inner dimensions/);
        expect(() => dense(x, tf.zeros([4, 2]))).toThrow(/last axis must be 4/);
      });
    });
  });
}

// ---------- cpu and wasm agree on a training step ----------

/** A tiny conv model: conv(k=3, dilation 2) → tanh → conv(k=1); a few Adam steps on an MSE loss. */
async function adamRun(backend: string): Promise<{ grads: Float32Array[]; weights: Float32Array[] }> {
  await initBackend(backend);
  const vars = [
    tf.variable(tf.tensor3d(f32(rand(3 * 3 * 8, 61)).map((v) => v * 0.5), [3, 3, 8])),
    tf.variable(tf.tensor1d(f32(rand(8, 62)).map((v) => v * 0.1))),
    tf.variable(tf.tensor3d(f32(rand(8 * 2, 63)).map((v) => v * 0.3), [1, 8, 2])),
    tf.variable(tf.zeros([2])),
  ];
  const x = tf.tensor3d(f32(rand(2 * 13 * 3, 64)), [2, 13, 3]);
  const target = tf.tensor3d(f32(rand(2 * 13 * 2, 65)), [2, 13, 2]);
  const loss = () => tf.tidy(() => {
    const h = tf.tanh(conv1d(x, vars[0] as tf.Tensor3D, vars[1] as tf.Tensor1D, 2));
    return tf.mean(tf.squaredDifference(conv1d(h, vars[2] as tf.Tensor3D, vars[3] as tf.Tensor1D), target)) as tf.Scalar;
  });
  const { value, grads } = tf.variableGrads(loss, vars);
  const g = vars.map((v) => grads[v.name].dataSync() as Float32Array);
  value.dispose();
  tf.dispose(grads);
  const opt = tf.train.adam(0.01);
  for (let i = 0; i < 3; i++) opt.minimize(loss, false, vars);
  const weights = vars.map((v) => v.dataSync() as Float32Array);
  opt.dispose();
  tf.dispose([...vars, x, target]);
  return { grads: g, weights };
}

describe('cpu and wasm agree', () => {
  afterAll(async () => {
    await initBackend('cpu');
  });
  it('gradients and three Adam steps on a tiny conv model give the same weights', async () => {
    const cpu = await adamRun('cpu');
    const wasm = await adamRun('wasm');
    for (let i = 0; i < cpu.grads.length; i++) {
      expect(maxErr(wasm.grads[i], cpu.grads[i]), `grad ${i}`).toBeLessThan(1e-5);
      expect(maxErr(wasm.weights[i], cpu.weights[i]), `weights ${i}`).toBeLessThan(1e-5);
    }
    // The steps moved the weights (so agreement is not vacuous).
    const init = f32(rand(3 * 3 * 8, 61)).map((v) => v * 0.5);
    expect(maxErr(cpu.weights[0], init)).toBeGreaterThan(1e-3);
  });
});
