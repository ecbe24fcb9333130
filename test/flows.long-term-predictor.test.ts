import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { ContextCoefficients, LongTermPredictor, Module, type PredictorConditioner } from '../src/flows/index.js';
import { describeBijectors, randomize } from './helpers/bijector-checks.js';

/** Context [B, F, C] → coefficients [B, F, K] with Σ_k |a| < bound (a stable recursion). */
class TanhCoefficients extends Module implements PredictorConditioner {
  readonly w: tf.Variable;
  constructor(channels: number, readonly lags: number, readonly bound = 0.9, seed = 1) {
    super();
    this.w = this.addParameter('w', tf.randomNormal([channels, lags], 0, 1, 'float32', seed));
  }
  apply(context: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [b, f, c] = context.shape as [number, number, number];
      const out = tf.reshape(tf.matMul(tf.reshape(context, [b * f, c]), this.w), [b, f, this.lags]);
      return tf.mul(tf.tanh(out), this.bound / this.lags);
    });
  }
}

const normal = (shape: number[], seed: number, std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed);

/** 2 examples of 12 samples, frames of 4, lags 2…4: small enough for a full Jacobian. */
const small = () => new LongTermPredictor(new TanhCoefficients(3, 3), { minLag: 2, frame: 4 });

describeBijectors('LongTermPredictor: generic checks', [
  { name: 'LongTermPredictor (lags 2–4, frames of 4)', make: () => randomize(small(), 5, 1), input: () => normal([2, 12], 11), context: () => normal([2, 3, 3], 12) },
  { name: 'LongTermPredictor (a partial last frame, spare coefficient rows)', make: () => randomize(small(), 6, 1), input: () => normal([2, 10], 13), context: () => normal([2, 4, 3], 14) },
]);
describeBijectors('LongTermPredictor on wasm', [{ name: 'LongTermPredictor', make: () => randomize(small(), 7, 1), input: () => normal([2, 12], 15), context: () => normal([2, 3, 3], 16) }], 'wasm');

/** The dense matrix A of x = A·x + z (row t: a_{f(t),k} at column t − L₀ − k) for one example. */
function denseA(a: Float32Array, length: number, frame: number, lags: number, minLag: number, frames: number, example: number): Float64Array {
  const m = new Float64Array(length * length);
  for (let t = 0; t < length; t++) {
    for (let k = 0; k < lags; k++) {
      const s = t - minLag - k;
      if (s >= 0) m[t * length + s] = a[(example * frames + Math.floor(t / frame)) * lags + k]!;
    }
  }
  return m;
}

describe('LongTermPredictor', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('inverse is z = (I − A)·x and forward solves it, against the dense matrix', () => {
    const p = randomize(small(), 8, 1);
    const ctx = normal([2, 3, 3], 17);
    const x = normal([2, 12], 18);
    const a = p.coefficients(x, ctx).dataSync() as Float32Array;
    const z = p.inverse(x, ctx).dataSync();
    const xs = x.dataSync();
    for (let n = 0; n < 2; n++) {
      const A = denseA(a, 12, 4, 3, 2, 3, n);
      for (let t = 0; t < 12; t++) {
        let ax = 0;
        for (let s = 0; s < 12; s++) ax += A[t * 12 + s]! * xs[n * 12 + s]!;
        expect(z[n * 12 + t]).toBeCloseTo(xs[n * 12 + t]! - ax, 5);
      }
    }
    // forward(inverse(x)) = x: the recursion is the exact solve of the unit lower-triangular system.
    const back = p.forward(tf.tensor2d(z, [2, 12]), ctx).dataSync();
    for (let i = 0; i < xs.length; i++) expect(back[i]).toBeCloseTo(xs[i]!, 5);
  });

  it('gradients in the input and in the coefficients match central differences, both directions', () => {
    const p = randomize(small(), 9, 1);
    const ctx = normal([2, 3, 3], 19);
    const u = normal([2, 12], 20);
    const c = normal([2, 12], 21);
    const a0 = p.coefficients(u, ctx);
    for (const dir of ['forward', 'inverse'] as const) {
      // ℓ(u, a) = Σ c ⊙ f(u; a), with the coefficients fed in as the context.
      const q = new LongTermPredictor(new ContextCoefficients(), { minLag: 2, frame: 4 });
      const f = (uu: tf.Tensor, aa: tf.Tensor) => tf.sum(tf.mul(c, dir === 'forward' ? q.forward(uu, aa) : q.inverse(uu, aa)));
      const [gu, ga] = tf.grads((uu: tf.Tensor, aa: tf.Tensor) => f(uu, aa))([u, a0]);
      const check = (t: tf.Tensor, g: tf.Tensor, which: 0 | 1) => {
        const v = t.dataSync();
        const gv = g.dataSync();
        const eps = 1e-2;
        for (const i of [0, 3, 7, v.length - 1, Math.floor(v.length / 2)]) {
          const bump = (d: number) => {
            const w = Float32Array.from(v);
            w[i] += d;
            const wt = tf.tensor(w, t.shape);
            const out = which === 0 ? f(wt, a0) : f(u, wt);
            const r = out.dataSync()[0]!;
            tf.dispose([wt, out]);
            return r;
          };
          const num = (bump(eps) - bump(-eps)) / (2 * eps);
          expect(Math.abs(gv[i]! - num)).toBeLessThan(2e-3 * Math.max(1, Math.abs(num)));
        }
      };
      check(u, gu!, 0);
      check(a0, ga!, 1);
      tf.dispose([gu!, ga!]);
    }
  });

  it('predicts a pulse train from one period back: the residual is the first pulse only', () => {
    const period = 37;
    const length = 400;
    const x = new Float32Array(length);
    for (let t = 5; t < length; t += period) x[t] = 1;
    // One coefficient of 1 at lag = period (k = period − minLag), every frame.
    const minLag = 20;
    const lags = 40;
    const frame = 50;
    const frames = length / frame;
    const a = new Float32Array(frames * lags);
    for (let f = 0; f < frames; f++) a[f * lags + (period - minLag)] = 1;
    const p = new LongTermPredictor(new ContextCoefficients(), { minLag, frame });
    const ctx = tf.tensor3d(a, [1, frames, lags]);
    const z = p.inverse(tf.tensor2d(x, [1, length]), ctx).dataSync();
    expect(z[5]).toBe(1);
    expect(Array.from(z).reduce((s, v) => s + Math.abs(v), 0)).toBe(1);
    // …and the forward direction regrows the whole train from that one pulse.
    const regrown = p.forward(tf.tensor2d(z, [1, length]), ctx).dataSync();
    expect(Array.from(regrown)).toEqual(Array.from(x));
  });

  it('refuses bad settings and shapes with clear errors', () => {
    const net = new TanhCoefficients(3, 3);
    expect(() => new LongTermPredictor(net, { minLag: 0, frame: 4 })).toThrow(/minLag must be an integer ≥ 1/);
    expect(() => new LongTermPredictor(net, { minLag: 2, frame: 2.5 })).toThrow(/frame must be an integer ≥ 1/);
    const p = new LongTermPredictor(net, { minLag: 2, frame: 4 });
    expect(() => p.inverse(normal([2, 12], 1))).toThrow(/needs a context/);
    expect(() => p.inverse(normal([2, 12, 1], 1), normal([2, 3, 3], 2))).toThrow(/\[batch, time\] signals/);
    expect(() => p.forward(normal([2, 12], 1), normal([2, 2, 3], 2))).toThrow(/must be \[2, ≥ 3, lags\], got \[2,2,3\]/);
    expect(() => p.inverse(normal([2, 12], 1), normal([1, 3, 3], 2))).toThrow(/must be \[2, ≥ 3, lags\]/);
  });
});
