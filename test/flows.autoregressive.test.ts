import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import * as F from '../src/flows/index.js';
import { MADE, type MADEOptions } from '../src/nn/made.js';
import { MLP } from '../src/nn/mlp.js';
import { Trainer, meanNll } from '../src/train/trainer.js';
import { gaussian, mulberry32 } from '../src/util/random.js';
import { describeBijectors, jacobians, randomize, type BijectorCase } from './helpers/bijector-checks.js';

const normal = (shape: number[], seed = 7, std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed);
/** Random weights everywhere (masked entries too: the masks must still hold). */
function randomizeMade(m: MADE, seed: number, scale: number): MADE {
  m.trainableVariables().forEach((v, i) => tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, scale, 'float32', seed + i))));
  return m;
}
const made = (d: number, opts: MADEOptions = {}) => new MADE(d, 2, { hidden: [12, 12], activation: 'tanh', seed: 4, ...opts });

const CASES: BijectorCase[] = [
  { name: 'MaskedAutoregressiveFlow', make: () => randomize(new F.MaskedAutoregressiveFlow(made(4))), input: () => normal([3, 4]) },
  { name: 'MaskedAutoregressiveFlow (right-to-left, exp scale)', make: () => randomize(new F.MaskedAutoregressiveFlow(made(3, { order: 'right-to-left' }), { transformer: F.affineTransformer(null) })), input: () => normal([3, 3]) },
  { name: 'MaskedAutoregressiveFlow (permuted order, no hidden layer)', make: () => randomize(new F.MaskedAutoregressiveFlow(made(4, { order: [2, 0, 3, 1], hidden: [] }))), input: () => normal([3, 4]) },
  { name: 'MaskedAutoregressiveFlow on [B,T,C]', make: () => randomize(new F.MaskedAutoregressiveFlow(made(3))), input: () => normal([2, 2, 3]) },
  { name: 'MaskedAutoregressiveFlow (conditional)', make: () => randomize(new F.MaskedAutoregressiveFlow(made(3, { contextDim: 2 }))), input: () => normal([3, 3]), context: () => normal([3, 2], 9) },
  { name: 'InverseAutoregressiveFlow', make: () => randomize(new F.InverseAutoregressiveFlow(made(4))), input: () => normal([3, 4]) },
  { name: 'InverseAutoregressiveFlow (conditional, reversed)', make: () => randomize(new F.InverseAutoregressiveFlow(made(3, { contextDim: 2, order: 'right-to-left' }))), input: () => normal([3, 3]), context: () => normal([3, 2], 9) },
  { name: 'Chain(MAF, Reverse, IAF)', make: () => new F.Chain([randomize(new F.MaskedAutoregressiveFlow(made(3))), new F.Reverse(3), randomize(new F.InverseAutoregressiveFlow(made(3, { seed: 8 })), 5)]), input: () => normal([3, 3]) },
];

describeBijectors('autoregressive flows: generic checks (cpu)', CASES);

/**
 * Mean |∂out[k]/∂x_i| over a batch, for every output column k and input i (reverse-mode, one
 * column at a time), split into violations (a dependence the order forbids) and missing
 * dependences (allowed but absent).
 */
function dependence(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, nOut: number, allowed: (k: number, i: number) => boolean) {
  const D = x.shape[1]!;
  let [violations, missing, maxForbidden] = [0, 0, 0];
  for (let k = 0; k < nOut; k++) {
    const g = tf.tidy(() => tf.mean(tf.abs(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), tf.oneHot(k, nOut))))(x)), 0).dataSync());
    for (let i = 0; i < D; i++) {
      if (allowed(k, i)) missing += g[i] > 1e-6 ? 0 : 1;
      else if (g[i] !== 0) (violations++, (maxForbidden = Math.max(maxForbidden, g[i])));
    }
  }
  return { violations, missing, maxForbidden };
}

describe('MADE', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  const configs: [string, number, number, MADEOptions][] = [
    ['left-to-right, two hidden layers', 4, 3, { hidden: [16, 16] }],
    ['right-to-left, one hidden layer', 5, 2, { hidden: [20], order: 'right-to-left' }],
    ['permuted order, no hidden layer', 4, 2, { hidden: [], order: [2, 0, 3, 1] }],
    ['permuted order, three narrow layers', 5, 2, { hidden: [8, 6, 8], order: [4, 2, 0, 1, 3] }],
    ['with a context', 3, 2, { hidden: [12, 12], contextDim: 2 }],
  ];
  for (const [name, D, P, opts] of configs) {
    it(`${name}: output (d, j) depends exactly on the inputs before d in the order`, () => {
      const m = randomizeMade(new MADE(D, P, { activation: 'tanh', seed: 1, ...opts }), 2, 0.7);
      const x = normal([5, D], 3);
      const ctx = opts.contextDim ? normal([5, opts.contextDim], 4) : undefined;
      const r = dependence((t) => m.apply(t, ctx), x, D * P, (k, i) => m.order[i] < m.order[Math.floor(k / P)]);
      expect(r.violations).toBe(0); // masked paths give exact zeros
      expect(r.missing).toBe(0); // and every allowed dependence is realised
      if (ctx) {
        // Degree-0 hidden units: every output, the first in the order included, sees the context.
        const g = tf.tidy(() => tf.grad((c: tf.Tensor) => tf.sum(tf.abs(m.apply(x, c))))(ctx));
        const perOutput = Array.from({ length: D * P }, (_, k) =>
          tf.tidy(() => tf.sum(tf.abs(tf.grad((c: tf.Tensor) => tf.sum(tf.mul(m.apply(x, c), tf.oneHot(k, D * P))))(ctx))).dataSync()[0]));
        expect(Math.min(...perOutput)).toBeGreaterThan(1e-6);
        tf.dispose([g, ctx]);
      }
      tf.dispose(x);
      m.dispose();
    });
  }

  it('the dependence check can fail: a plain MLP violates the order', () => {
    const mlp = new MLP(3, 6, { hidden: [8], activation: 'tanh', seed: 2 });
    const x = normal([4, 3]);
    const r = dependence((t) => mlp.apply(t), x, 6, (k, i) => i < Math.floor(k / 2));
    expect(r.violations).toBeGreaterThan(0);
    tf.dispose(x);
    mlp.dispose();
  });

  it('lays parameters out dimension-major: paramsOf(x)[..., d, j] = apply(x)[..., d·P + j]', () => {
    const m = randomizeMade(new MADE(3, 2, { hidden: [8] }), 1, 0.3);
    const x = normal([2, 4, 3]);
    const [flat, shaped] = [m.apply(x), m.paramsOf(x)];
    expect(shaped.shape).toEqual([2, 4, 3, 2]);
    expect(Array.from(shaped.dataSync())).toEqual(Array.from(flat.dataSync()));
    tf.dispose([x, flat, shaped]);
    m.dispose();
  });

  it('rejects bad orders and a missing or unexpected context', () => {
    expect(() => new MADE(3, 2, { order: [0, 0, 1] })).toThrow(/permutation/);
    const m = new MADE(2, 2, { contextDim: 1, hidden: [4] });
    const x = tf.zeros([1, 2]);
    expect(() => m.apply(x)).toThrow(/context/);
    tf.dispose(x);
    m.dispose();
  });
});

describe('MAF and IAF', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('MAF: density (inverse) is one MADE pass, sampling (forward) D passes; IAF the reverse', () => {
    const D = 4;
    for (const [Flow, fastDir] of [[F.MaskedAutoregressiveFlow, 'inverse'], [F.InverseAutoregressiveFlow, 'forward']] as const) {
      const m = made(D);
      const flow = randomize(new Flow(m));
      const spy = vi.spyOn(m, 'paramsOf');
      const z = normal([3, D]);
      const passes = (dir: 'forward' | 'inverse') => {
        spy.mockClear();
        tf.dispose(flow[`${dir}AndLogDet`](z));
        return spy.mock.calls.length;
      };
      expect(passes(fastDir)).toBe(1);
      expect(passes(fastDir === 'inverse' ? 'forward' : 'inverse')).toBe(D);
      spy.mockRestore();
      tf.dispose(z);
      flow.dispose();
    }
  });

  it('the Jacobian of the forward map is triangular in the MADE order', () => {
    const order = [2, 0, 3, 1];
    const flow = randomize(new F.MaskedAutoregressiveFlow(made(4, { order })));
    const z = normal([2, 4]);
    for (const J of jacobians((t) => flow.forward(t), z)) {
      for (let d = 0; d < 4; d++) for (let i = 0; i < 4; i++) if (order[i] > order[d]) expect(J[d * 4 + i]).toBe(0);
      for (let d = 0; d < 4; d++) expect(Math.abs(J[d * 4 + d])).toBeGreaterThan(1e-3);
    }
    tf.dispose(z);
    flow.dispose();
  });

  it('D = 1: the single dimension gets constant (or context-only) parameters', () => {
    for (const ctxDim of [0, 2]) {
      const flow = randomize(new F.MaskedAutoregressiveFlow(made(1, { contextDim: ctxDim })));
      const z = normal([4, 1]);
      const ctx = ctxDim ? normal([4, ctxDim], 9) : undefined;
      const [x, ld] = flow.forwardAndLogDet(z, ctx);
      const [back, ild] = flow.inverseAndLogDet(x, ctx);
      expect(tf.max(tf.abs(tf.sub(back, z))).dataSync()[0]).toBeLessThan(1e-5);
      expect(tf.max(tf.abs(tf.add(ld, ild))).dataSync()[0]).toBeLessThan(1e-5);
      // x = z·s + t with (t, s) independent of z: the log-det is the same for every example
      // without a context, and differs between examples with one.
      const v = ld.dataSync();
      const spread = Math.max(...v) - Math.min(...v);
      if (ctxDim) expect(spread).toBeGreaterThan(1e-3);
      else expect(spread).toBeLessThan(1e-6);
      tf.dispose([z, x, ld, back, ild, ...(ctx ? [ctx] : [])]);
      flow.dispose();
    }
  });

  it('starts as the identity with a zero-initialised output layer', () => {
    const flow = new F.MaskedAutoregressiveFlow(new MADE(3, 2, { hidden: [8], zeroLast: true }));
    const z = normal([4, 3]);
    const [x, ld] = flow.forwardAndLogDet(z);
    expect(tf.max(tf.abs(tf.sub(x, z))).dataSync()[0]).toBe(0);
    expect(tf.max(tf.abs(ld)).dataSync()[0]).toBe(0);
    tf.dispose([z, x, ld]);
    flow.dispose();
  });

  it('rejects a MADE whose parameter count does not fit the transformer', () => {
    const m = new MADE(3, 3, { hidden: [4] });
    expect(() => new F.MaskedAutoregressiveFlow(m)).toThrow(/transformer needs 2/);
    expect(() => new F.SplineAutoregressive(m, { bins: 4 })).toThrow(/transformer needs 11/);
    m.dispose();
  });

  it('a conditional MAF learns x | c to near its true density (the first dimension uses the context)', () => {
    // c ~ N(0,1); x₁ = c + 0.3ε₁; x₂ = 0.5x₁² + 0.3ε₂ — exactly representable by one affine MAF.
    const rnd = gaussian(mulberry32(3));
    const logN = (v: number, m: number) => -0.5 * ((v - m) / 0.3) ** 2 - Math.log(0.3 * Math.sqrt(2 * Math.PI));
    const draw = (n: number) => {
      const c = Array.from({ length: n }, () => rnd());
      const x = c.flatMap((ci) => {
        const x1 = ci + 0.3 * rnd();
        return [x1, 0.5 * x1 * x1 + 0.3 * rnd()];
      });
      const trueNll = -c.reduce((s, ci, i) => s + logN(x[2 * i], ci) + logN(x[2 * i + 1], 0.5 * x[2 * i] ** 2), 0) / n;
      return { x: tf.tensor2d(x, [n, 2]), c: tf.tensor2d(c, [n, 1]), trueNll };
    };
    const [train, test] = [draw(256), draw(1000)];
    const model = new F.TransformedDistribution(
      new F.StandardNormal([2]),
      new F.MaskedAutoregressiveFlow(new MADE(2, 2, { hidden: [16, 16], activation: 'tanh', contextDim: 1, zeroLast: true, seed: 1 })),
    );
    const testNll = () => tf.tidy(() => meanNll(model, test.x, test.c).dataSync()[0]);
    const before = testNll();
    new Trainer(model, { schedule: { lr: 0.02 } }).fit(100, () => meanNll(model, train.x, train.c));
    // Held-out NLL minus the true density's NLL on the same samples estimates KL(p‖q). Ignoring the
    // context in x₁ alone would cost ½·log(1.09 / 0.09) ≈ 1.25 nats; a constant-mean x₂ ≈ 1 nat.
    expect(before - test.trueNll).toBeGreaterThan(1);
    expect(testNll() - test.trueNll).toBeLessThan(0.2); // measured 0.11 (a 16-unit net fitting x₁²)
    tf.dispose([train.x, train.c, test.x, test.c]);
    model.dispose();
  });
});
