import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import * as F from '../src/flows/index.js';
import { MADE } from '../src/nn/made.js';
import { MLP } from '../src/nn/mlp.js';
import { Trainer, meanNll } from '../src/train/trainer.js';
import { gaussian, mulberry32 } from '../src/util/random.js';
import { describeBijectors, randomize, type BijectorCase } from './helpers/bijector-checks.js';

const normal = (shape: number[], seed = 7, std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed);
const P = (bins: number) => F.rqSplineParamCount(bins);
const mlp = (inD: number, outD: number, ctx = 0) => new MLP(inD, outD, { hidden: [16], activation: 'tanh', contextDim: ctx, seed: 3 });
const made = (d: number, bins: number, ctx = 0) => new MADE(d, P(bins), { hidden: [12, 12], activation: 'tanh', contextDim: ctx, seed: 4 });

// Inputs drawn with σ = 2 against a bound of 3: some of each batch lies in the identity tails.
const CASES: BijectorCase[] = [
  { name: 'RationalQuadraticSpline (elementwise)', make: () => randomize(new F.RationalQuadraticSpline(3, { bins: 5, bound: 3 }), 1, 1), input: () => normal([6, 3], 7, 2) },
  { name: 'RationalQuadraticSpline on [B,T,C]', make: () => randomize(new F.RationalQuadraticSpline(2, { bins: 4, bound: 2 }), 2, 1), input: () => normal([2, 3, 2], 8, 1.5) },
  { name: 'SplineCoupling (mask)', make: () => randomize(new F.SplineCoupling({ mask: F.alternatingMask(4, 0) }, mlp(4, 4 * P(4)), { bins: 4 }), 1, 0.5), input: () => normal([3, 4], 7, 2) },
  { name: 'SplineCoupling (split)', make: () => randomize(new F.SplineCoupling({ split: 2 }, mlp(2, 3 * P(6)), { bins: 6, bound: 2.5 }), 2, 0.5), input: () => normal([3, 5], 7, 2) },
  { name: 'SplineCoupling (context)', make: () => randomize(new F.SplineCoupling({ split: 1 }, mlp(1, 2 * P(4), 2), { bins: 4 }), 3, 0.5), input: () => normal([3, 3]), context: () => normal([3, 2], 9) },
  { name: 'SplineAutoregressive', make: () => randomize(new F.SplineAutoregressive(made(3, 5), { bins: 5 }), 1, 0.5), input: () => normal([4, 3], 7, 2) },
  { name: 'SplineAutoregressive (context, reversed)', make: () => randomize(new F.SplineAutoregressive(new MADE(3, P(4), { hidden: [10], activation: 'tanh', contextDim: 2, order: 'right-to-left' }), { bins: 4 }), 2, 0.5), input: () => normal([3, 3]), context: () => normal([3, 2], 9) },
];

describeBijectors('spline bijectors: generic checks (cpu)', CASES);

// ---- A float64 scalar port of nflows' unconstrained_rational_quadratic_spline (tails='linear'). ----
// Our derivative parameters equal nflows' shifted by c₀ (see rq-spline.ts), so c₀ is added here.
function refSpline(x: number, uw: number[], uh: number[], ud: number[], inverse: boolean, B: number): [number, number] {
  if (x < -B || x > B) return [x, 0];
  const K = uw.length;
  const [minW, minH, minD] = [1e-3, 1e-3, 1e-3];
  const c0 = Math.log(Math.expm1(1 - minD));
  const softmax = (u: number[]) => {
    const m = Math.max(...u);
    const e = u.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };
  const knots = (u: number[], m: number) => {
    const p = softmax(u).map((v) => m + (1 - m * K) * v);
    const c = [-B];
    for (let k = 0; k < K; k++) c.push(c[k] + 2 * B * p[k]);
    c[K] = B;
    return c;
  };
  const softplus = (v: number) => (v > 30 ? v : Math.log1p(Math.exp(v)));
  const cw = knots(uw, minW);
  const ch = knots(uh, minH);
  const d = [1, ...ud.map((u) => minD + softplus(u + c0)), 1];
  const locs = inverse ? ch : cw;
  let k = 0;
  while (k < K - 1 && x >= locs[k + 1]) k++;
  const w = cw[k + 1] - cw[k];
  const h = ch[k + 1] - ch[k];
  const delta = h / w;
  const [d0, d1] = [d[k], d[k + 1]];
  const logDeriv = (t: number) => {
    const tt = t * (1 - t);
    const denom = delta + (d0 + d1 - 2 * delta) * tt;
    return Math.log(delta ** 2 * (d1 * t * t + 2 * delta * tt + d0 * (1 - t) ** 2)) - 2 * Math.log(denom);
  };
  if (!inverse) {
    const t = (x - cw[k]) / w;
    const tt = t * (1 - t);
    const y = ch[k] + (h * (delta * t * t + d0 * tt)) / (delta + (d0 + d1 - 2 * delta) * tt);
    return [y, logDeriv(t)];
  }
  const dy = x - ch[k];
  const a = dy * (d0 + d1 - 2 * delta) + h * (delta - d0);
  const b = h * d0 - dy * (d0 + d1 - 2 * delta);
  const c = -delta * dy;
  const root = (2 * c) / (-b - Math.sqrt(b * b - 4 * a * c));
  return [root * w + cw[k], -logDeriv(root)];
}

function allFinite(...ts: tf.Tensor[]): boolean {
  return ts.every((t) => t.dataSync().every((v) => Number.isFinite(v)));
}

// ---- NaN safety: values and gradients (wrt inputs and every parameter) must stay finite. ----
const B = 3;
const K = 5;
const presets: Record<string, () => [tf.Tensor, tf.Tensor, tf.Tensor]> = {
  zeros: () => [tf.zeros([1, K]), tf.zeros([1, K]), tf.zeros([1, K - 1])],
  'all +1e3': () => [tf.fill([1, K], 1e3), tf.fill([1, K], 1e3), tf.fill([1, K - 1], 1e3)],
  'all −1e3': () => [tf.fill([1, K], -1e3), tf.fill([1, K], -1e3), tf.fill([1, K - 1], -1e3)],
  'all +50': () => [tf.fill([1, K], 50), tf.fill([1, K], 50), tf.fill([1, K - 1], 50)],
  'all −50': () => [tf.fill([1, K], -50), tf.fill([1, K], -50), tf.fill([1, K - 1], -50)],
  'one bin ±1e3, derivatives ±1e3': () => [
    tf.tensor2d([[1e3, -1e3, -1e3, -1e3, -1e3]]),
    tf.tensor2d([[-1e3, -1e3, 1e3, -1e3, -1e3]]),
    tf.tensor2d([[1e3, -1e3, 1e3, -1e3]]),
  ],
  'random ±50': () => [tf.mul(normal([1, K], 31), 50), tf.mul(normal([1, K], 32), 50), tf.mul(normal([1, K - 1], 33), 50)],
  'random ±1e3': () => [tf.mul(normal([1, K], 41), 1e3), tf.mul(normal([1, K], 42), 1e3), tf.mul(normal([1, K - 1], 43), 1e3)],
};
const farInputs = [-1e30, -1e4, -B - 1e-3, -B, -1, 0, 0.5, B, B + 1e-3, 1e4, 1e30];

function checkFinite(inputs: number[], params: [tf.Tensor, tf.Tensor, tf.Tensor], inverse: boolean): { values: boolean; grads: boolean } {
  return tf.tidy(() => {
    const x = tf.tensor2d(inputs, [inputs.length, 1]);
    const f = (xi: tf.Tensor, w: tf.Tensor, h: tf.Tensor, d: tf.Tensor) => {
      const [y, ld] = F.rationalQuadraticSpline(xi, w, h, d, inverse, { bound: B });
      // Weighted so that no gradient can vanish by symmetry.
      return tf.add(tf.sum(tf.mul(y, tf.reshape(tf.linspace(0.5, 1.5, inputs.length), [-1, 1]))), tf.sum(ld));
    };
    const [y, ld] = F.rationalQuadraticSpline(x, ...params, inverse, { bound: B });
    const grads = tf.grads(f)([x, ...params]);
    return { values: allFinite(y, ld), grads: allFinite(...grads) };
  });
}

/** Registered for cpu and wasm: their softplus/step/sqrt kernels differ. */
function describeNanSafety(backend: string): void {
  describe(`rational-quadratic spline NaN safety (${backend})`, () => {
    beforeAll(async () => {
      await initBackend(backend);
    });
    for (const [name, make] of Object.entries(presets)) {
      for (const inverse of [false, true]) {
        it(`${inverse ? 'inverse' : 'forward'}, ${name}: finite values and gradients far outside, at ±B and at every knot`, () => {
          const params = make();
          const bins = F.rqSplineBins(...params, { bound: B });
          // Exactly the knots of both axes (the searched one: x forward, y inverse; and the other).
          const onKnots = [bins.xLeft, bins.xRight, bins.yLeft, bins.yRight].flatMap((t) => Array.from(t.dataSync()));
          const r = checkFinite([...farInputs, ...onKnots], params, inverse);
          expect(r.values).toBe(true);
          expect(r.grads).toBe(true);
          tf.dispose([...params, ...Object.values(bins)]);
        });
      }
    }
  });
}

describeNanSafety('cpu');
describeNanSafety('wasm');

describe('rational-quadratic spline math', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('matches a float64 port of nflows, forward and inverse, inside and outside the bound', () => {
    const [D, K, B, N] = [4, 6, 2.5, 50];
    const rnd = gaussian(mulberry32(11));
    const uw = Array.from({ length: D }, () => Array.from({ length: K }, () => 1.5 * rnd()));
    const uh = Array.from({ length: D }, () => Array.from({ length: K }, () => 1.5 * rnd()));
    const ud = Array.from({ length: D }, () => Array.from({ length: K - 1 }, () => 1.5 * rnd()));
    const xs = Array.from({ length: N * D }, () => 1.7 * rnd());
    for (const inverse of [false, true]) {
      const [y, ld] = tf.tidy(() => F.rationalQuadraticSpline(tf.tensor2d(xs, [N, D]), tf.tensor2d(uw), tf.tensor2d(uh), tf.tensor2d(ud), inverse, { bound: B }));
      const [yv, lv] = [y.dataSync(), ld.dataSync()];
      let [errY, errL, outside] = [0, 0, 0];
      for (let i = 0; i < N * D; i++) {
        const d = i % D;
        const [ry, rl] = refSpline(xs[i], uw[d], uh[d], ud[d], inverse, B);
        errY = Math.max(errY, Math.abs(yv[i] - ry));
        errL = Math.max(errL, Math.abs(lv[i] - rl));
        if (Math.abs(xs[i]) > B) outside++;
      }
      expect(outside).toBeGreaterThan(5);
      expect(errY).toBeLessThan(2e-5);
      expect(errL).toBeLessThan(2e-4);
      tf.dispose([y, ld]);
    }
  });

  it('is the identity for zero parameters, and joins the identity tails with slope 1', () => {
    const x = tf.reshape(tf.linspace(-4, 4, 81), [81, 1]);
    const zeros = (k: number) => tf.zeros([1, k]);
    const [y, ld] = F.rationalQuadraticSpline(x, zeros(5), zeros(5), zeros(4), false, { bound: 3 });
    expect(tf.max(tf.abs(tf.sub(y, x))).dataSync()[0]).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(ld)).dataSync()[0]).toBeLessThan(1e-5);
    // Random parameters: log-derivative → 0 at ±B from inside (d₀ = d_K = 1), values continuous.
    const rw = normal([1, 5], 1);
    const rh = normal([1, 5], 2);
    const rd = normal([1, 4], 3);
    const edge = tf.tensor2d([[-3.0001], [-2.9999], [2.9999], [3.0001], [-3], [3]]);
    const [ye, le] = F.rationalQuadraticSpline(edge, rw, rh, rd, false, { bound: 3 });
    const [yv, lv] = [ye.dataSync(), le.dataSync()];
    expect(Math.abs(yv[0] - yv[1])).toBeLessThan(1e-3);
    expect(Math.abs(yv[2] - yv[3])).toBeLessThan(1e-3);
    expect(Math.abs(yv[4] + 3) + Math.abs(yv[5] - 3)).toBeLessThan(1e-5);
    // Exactly at ±B the spline branch is used (the interval is closed): its slope there is d₀ = d_K = 1.
    expect(Math.abs(lv[4]) + Math.abs(lv[5])).toBeLessThan(1e-5);
    tf.dispose([x, y, ld, rw, rh, rd, edge, ye, le]);
  });

  // Where the slope is tiny, x = f⁻¹(y) is ill-conditioned (float32's error in y, divided by the
  // slope): so the round trip is checked in y everywhere, and in x where the slope is ≥ 0.1.
  function roundTrip(params: [tf.Tensor, tf.Tensor, tf.Tensor], n: number): { monotone: boolean; weakly: boolean; yErr: number; xErr: number } {
    return tf.tidy(() => {
      const x = tf.reshape(tf.linspace(-B - 0.5, B + 0.5, n), [n, 1]);
      const [y, ld] = F.rationalQuadraticSpline(x, ...params, false, { bound: B });
      const [back] = F.rationalQuadraticSpline(y, ...params, true, { bound: B });
      const [again] = F.rationalQuadraticSpline(back, ...params, false, { bound: B });
      const [yv, lv, xv, bv, av] = [y, ld, x, back, again].map((t) => t.dataSync());
      let [monotone, weakly, yErr, xErr] = [true, true, 0, 0];
      for (let i = 0; i < n; i++) {
        if (i > 0 && !(yv[i] > yv[i - 1])) monotone = false;
        if (i > 0 && !(yv[i] >= yv[i - 1])) weakly = false;
        yErr = Math.max(yErr, Math.abs(av[i] - yv[i]));
        if (lv[i] > Math.log(0.1)) xErr = Math.max(xErr, Math.abs(bv[i] - xv[i]));
      }
      return { monotone, weakly, yErr, xErr };
    });
  }

  it('is strictly monotone and round-trips to float precision for moderate parameters', () => {
    const params: [tf.Tensor, tf.Tensor, tf.Tensor] = [normal([1, 8], 21, 2), normal([1, 8], 22, 2), normal([1, 7], 23, 2)];
    const r = roundTrip(params, 701);
    expect(r.monotone).toBe(true);
    expect(r.yErr).toBeLessThan(2e-6);
    expect(r.xErr).toBeLessThan(1e-5);
    tf.dispose(params);
  });

  it('extreme parameters still give a monotone map with an accurate round trip in y', () => {
    for (const name of ['random ±50', 'random ±1e3', 'one bin ±1e3, derivatives ±1e3']) {
      const params = presets[name]();
      const r = roundTrip(params, 301);
      expect(r.weakly).toBe(true); // strictly, up to float32 resolution of y on nearly flat bins
      expect(r.yErr).toBeLessThan(1e-5);
      expect(r.xErr).toBeLessThan(1e-4);
      tf.dispose(params);
    }
  });

  it('the finiteness check can fail: a single where() leaks NaN gradients from the unselected branch', () => {
    const x = tf.tensor1d([0, 2]);
    const positive = tf.greater(x, 0); // log(0)'s gradient 1/0 is multiplied by 0: NaN
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.where(positive, tf.log(t), t)))(x);
    expect(allFinite(g)).toBe(false);
    tf.dispose([x, positive, g]);
  });

  it('does not leak tensors', () => {
    const [w, h, d] = presets['random ±50']();
    const x = tf.tensor2d([[-5], [0.3], [2.9]]);
    const before = tf.memory().numTensors;
    for (const inv of [false, true]) tf.dispose(F.rationalQuadraticSpline(x, w, h, d, inv, { bound: B }));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, h, d, x]);
  });
});

describe('spline flows: gradients and fitting', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('coupling and autoregressive splines have finite gradients for inputs far outside the bound', () => {
    const bijectors: (F.Bijector & F.Module)[] = [
      randomize(new F.SplineCoupling({ split: 1 }, mlp(1, P(4)), { bins: 4 }), 5, 3),
      randomize(new F.SplineAutoregressive(made(2, 4), { bins: 4 }), 6, 3),
    ];
    const x = tf.tensor2d([[1e30, -1e4], [3, -3], [0, 1e-3]]);
    for (const b of bijectors) {
      for (const inverse of [false, true]) {
        const run = (t: tf.Tensor) => (inverse ? b.inverseAndLogDet(t) : b.forwardAndLogDet(t));
        // Outputs scaled by 1e-30 so that the 1e30 input itself cannot overflow the sum.
        const loss = (t: tf.Tensor) => tf.tidy(() => {
          const [y, ld] = run(t);
          return tf.add(tf.sum(tf.mul(y, 1e-30)), tf.sum(ld)) as tf.Scalar;
        });
        const { value, grads } = tf.variableGrads(() => loss(x), b.trainableVariables());
        const gx = tf.grad(loss)(x);
        expect(allFinite(value, gx, ...Object.values(grads))).toBe(true);
        expect(Object.keys(grads).length).toBe(b.trainableVariables().length);
        tf.dispose([value, gx, ...Object.values(grads)]);
      }
      b.dispose();
    }
    x.dispose();
  });

  it('fits a bimodal 1D mixture to within 0.05 nats of its Monte-Carlo entropy', () => {
    // p(x) = ½ N(−1.5, 0.5²) + ½ N(1.5, 0.5²).
    const [mu, sd] = [1.5, 0.5];
    const logp = (x: number) => {
      const n = (m: number) => Math.exp(-0.5 * ((x - m) / sd) ** 2) / (sd * Math.sqrt(2 * Math.PI));
      return Math.log(0.5 * n(-mu) + 0.5 * n(mu));
    };
    const rnd = mulberry32(5);
    const g = gaussian(rnd);
    const draw = (n: number) => Array.from({ length: n }, () => (rnd() < 0.5 ? -mu : mu) + sd * g());
    const train = tf.tensor2d(draw(512), [512, 1]);
    const testSamples = draw(4000);
    const test = tf.tensor2d(testSamples, [testSamples.length, 1]);
    // Entropy by Monte Carlo on the same held-out samples, so the gap estimates KL(p‖q) with little noise.
    const entropy = -testSamples.reduce((s, x) => s + logp(x), 0) / testSamples.length;

    const model = new F.TransformedDistribution(new F.StandardNormal([1]), new F.RationalQuadraticSpline(1, { bins: 8, bound: 4 }));
    const nll = () => tf.tidy(() => meanNll(model, test).dataSync()[0]);
    const before = nll();
    // 100 full-batch Adam steps (tfjs-cpu time is per-kernel overhead, not batch size).
    const trainer = new Trainer(model, { schedule: { lr: 0.1 } });
    trainer.fit(100, () => meanNll(model, train));
    const after = nll();
    expect(before - entropy).toBeGreaterThan(0.2); // the untrained (identity) model is far off
    expect(Math.abs(after - entropy)).toBeLessThan(0.05);
    tf.dispose([train, test]);
    model.dispose();
  });
});
