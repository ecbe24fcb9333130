import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import * as F from '../src/flows/index.js';
import { LipschitzMLP } from '../src/flows/bijectors/residual.js';
import { Trainer } from '../src/train/trainer.js';
import { describeBijectors, randomize, type BijectorCase } from './helpers/bijector-checks.js';

const normal = (shape: number[], seed = 7, std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed);

/** A residual flow with random weights whose spectral normalisation has caught up with them. */
function residual(dim: number, opts: F.ResidualFlowOptions = {}, seed = 1): F.ResidualFlow {
  const r = randomize(new F.ResidualFlow(dim, { hidden: [8, 8], seed: 3, ...opts }), seed, 1);
  r.net.updateSpectralNorm(100);
  return r;
}

/** A planar layer pushed toward its constraint: wᵀu = −3, so wᵀû = −0.95 and f' = 1 + h'·wᵀû dips to 0.05. */
function nearSingularPlanar(): F.Planar {
  const p = new F.Planar(3, { seed: 2 });
  tf.tidy(() => {
    p.w.assign(tf.tensor1d([1.5, -0.5, 0.8]));
    p.u.assign(tf.mul(p.w, -3 / (1.5 ** 2 + 0.5 ** 2 + 0.8 ** 2)));
    p.b.assign(tf.scalar(0.3));
  });
  return p;
}

const CASES: BijectorCase[] = [
  { name: 'Planar', make: () => randomize(new F.Planar(3, { seed: 1 }), 2, 1), input: () => normal([5, 3]) },
  { name: 'Planar (wᵀû = −0.95)', make: nearSingularPlanar, input: () => normal([5, 3], 8) },
  { name: 'Radial', make: () => randomize(new F.Radial(3), 3, 1), input: () => normal([5, 3]) },
  { name: 'Radial (contracting, β → −α)', make: () => { const r = randomize(new F.Radial(2), 4, 0.5); tf.tidy(() => r.betaHat.assign(tf.scalar(-4))); return r; }, input: () => normal([5, 2], 9, 2) },
  { name: 'ResidualFlow (LipSwish, exact log-det)', make: () => residual(3), input: () => normal([4, 3]) },
  { name: 'ResidualFlow (ELU)', make: () => residual(3, { activation: 'elu' }, 5), input: () => normal([4, 3], 11) },
  { name: 'ResidualFlow (tanh, no hidden layer)', make: () => residual(2, { activation: 'tanh', hidden: [] }, 6), input: () => normal([4, 2], 12) },
  { name: 'Invert(ResidualFlow)', make: () => new F.Invert(residual(3, {}, 7)), input: () => normal([4, 3], 13) },
  { name: 'Chain(Planar, Radial, ResidualFlow)', make: () => new F.Chain([randomize(new F.Planar(2), 5, 1), randomize(new F.Radial(2), 6, 1), residual(2, {}, 8)]), input: () => normal([4, 2], 14) },
];

describeBijectors('planar, radial and residual flows: generic checks', CASES);

describe('planar flow', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('keeps wᵀû > −1 whatever u is', () => {
    const p = new F.Planar(4, { seed: 3 });
    for (const scale of [-100, -3, 0, 5]) {
      const c = tf.tidy(() => {
        p.u.assign(tf.mul(p.w, scale));
        return tf.sum(tf.mul(p.w, p.uHat())).dataSync()[0];
      });
      // softplus underflows in float32 for wᵀu ≲ −88, where wᵀû reaches −1 itself (a single singular α)
      if (scale > -100) expect(c).toBeGreaterThan(-1);
      else expect(c).toBeGreaterThanOrEqual(-1);
    }
    p.dispose();
  });

  it('starts as the identity', () => {
    const p = new F.Planar(3, { seed: 4 });
    const z = normal([4, 3]);
    const [x, ld] = p.forwardAndLogDet(z);
    expect(tf.max(tf.abs(tf.sub(x, z))).dataSync()[0]).toBeLessThan(1e-6);
    expect(tf.max(tf.abs(ld)).dataSync()[0]).toBeLessThan(1e-6);
    tf.dispose([z, x, ld]);
    p.dispose();
  });

  it('inverts near the constraint and far from the origin (Newton with bisection fallback)', () => {
    const p = nearSingularPlanar();
    const x = tf.concat([normal([64, 3], 21, 3), tf.tensor2d([[0, 0, 0], [50, -20, 9], [-0.2, 0.1, 0.05]])]);
    const z = p.inverse(x);
    const back = p.forward(z);
    expect(tf.max(tf.abs(tf.sub(back, x))).dataSync()[0]).toBeLessThan(1e-4);
    expect(p.lastInverse?.converged).toBe(true);
    expect(p.lastInverse!.iterations).toBeLessThan(60);
    tf.dispose([x, z, back]);
    p.dispose();
  });

  it('reports non-convergence: throws when strict, flags otherwise', () => {
    const p = randomize(new F.Planar(3, { seed: 1, maxIter: 1, tol: 1e-12 }), 2, 1);
    const x = normal([8, 3]);
    expect(() => p.inverse(x)).toThrow(/did not converge in 1 iterations/);
    const lax = randomize(new F.Planar(3, { seed: 1, maxIter: 1, tol: 1e-12, strict: false }), 2, 1);
    tf.dispose(lax.inverse(x));
    expect(lax.lastInverse).toMatchObject({ iterations: 1, converged: false });
    tf.dispose(x);
    p.dispose();
    lax.dispose();
  });
});

describe('radial flow', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('closed-form inverse is accurate from near the centre to far away', () => {
    const r = randomize(new F.Radial(3), 3, 1);
    const { alpha, beta } = r.coefficients();
    expect(beta.dataSync()[0]).toBeGreaterThan(-alpha.dataSync()[0]);
    const z0 = r.z0;
    const z = tf.concat([tf.add(tf.expandDims(z0, 0), normal([4, 3], 5, 1e-4)), normal([4, 3], 6, 1), normal([4, 3], 7, 1e3)]);
    const x = r.forward(z);
    const back = r.inverse(x);
    // relative error: points span six orders of magnitude
    const rel = tf.max(tf.div(tf.abs(tf.sub(back, z)), tf.add(tf.abs(z), 1e-3))).dataSync()[0];
    expect(rel).toBeLessThan(1e-4);
    tf.dispose([alpha, beta, z, x, back]);
    r.dispose();
  });
});

describe('residual flow', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  /** Largest singular value, by power iteration on WᵀW in float64 on the host. */
  function spectralNorm(w: tf.Tensor2D): number {
    const [n, m] = w.shape;
    const a = w.dataSync();
    let v = new Float64Array(m).fill(1);
    let sigma = 0;
    for (let it = 0; it < 2000; it++) {
      const wv = new Float64Array(n);
      for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) wv[i] += a[i * m + j] * v[j];
      const next = new Float64Array(m);
      for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) next[j] += a[i * m + j] * wv[i];
      const norm = Math.hypot(...next);
      sigma = Math.sqrt(norm);
      v = next.map((x) => x / norm);
    }
    return sigma;
  }

  it('spectral normalisation bounds every layer by coeff, so g is a contraction', () => {
    const r = residual(4, { coeff: 0.7, hidden: [16, 16] });
    const ws = r.net.normalisedWeights();
    for (const w of ws) expect(spectralNorm(w)).toBeLessThan(0.7 * 1.001);
    // and ‖J_g‖₂ < 1 at random points
    const lin = r.net.linearise(normal([16, 4], 3, 2));
    const m = LipschitzMLP.jacobian(lin);
    for (const j of tf.unstack(m)) expect(spectralNorm(j as tf.Tensor2D)).toBeLessThan(1);
    tf.dispose([...ws, m, lin.out, ...lin.weights, ...lin.slopes]);
    r.dispose();
  });

  it('power iteration in training mode updates the persisted u', () => {
    const r = residual(3);
    const uName = r.namedParameters().find(([n]) => n.endsWith('0.u'))!;
    expect(uName[1].trainable).toBe(false);
    randomize(r, 99, 1); // new weights; u still belongs to the old ones
    const before = Array.from(uName[1].dataSync());
    r.training = true;
    tf.dispose(r.forwardAndLogDet(normal([2, 3])));
    r.training = false;
    const after = Array.from(uName[1].dataSync());
    expect(Math.max(...after.map((v, i) => Math.abs(v - before[i])))).toBeGreaterThan(1e-3);
    r.dispose();
  });

  it('reports non-convergence of the fixed point with its residual', () => {
    const r = residual(3, { maxIter: 2, coeff: 0.95 });
    const x = normal([4, 3], 2, 3);
    expect(() => r.inverse(x)).toThrow(/did not converge in 2 iterations \(last step max \|Δz\| = /);
    tf.dispose(x);
    r.dispose();
  });

  /** Mean and standard error of the per-call batch-mean estimates minus the exact log-det. */
  function estimatorError(r: F.ResidualFlow, logDet: F.ResidualLogDet, calls: number): { mean: number; se: number; exact: number } {
    const z = tf.tile(normal([1, 3], 31, 1.5), [64, 1]); // one point, 64 independent probes per call
    r.logDet = { method: 'exact' };
    const exact = tf.tidy(() => r.forwardAndLogDet(z)[1].dataSync()[0]);
    r.logDet = logDet;
    const means: number[] = [];
    for (let c = 0; c < calls; c++) means.push(tf.tidy(() => tf.mean(r.forwardAndLogDet(z)[1]).dataSync()[0]));
    z.dispose();
    const mean = means.reduce((a, b) => a + b, 0) / calls;
    const sd = Math.sqrt(means.reduce((a, b) => a + (b - mean) ** 2, 0) / (calls - 1));
    return { mean: mean - exact, se: sd / Math.sqrt(calls), exact };
  }

  /**
   * g(z) = Ŵ₂ᵀ σ(Ŵ₁ᵀ z + b) with tied weights W₂ = W₁ᵀ: J_g = Ŵ₁ D Ŵ₁ᵀ-like is nearly positive
   * semi-definite, so log det(I + J) is far from 0 and every power-series term matters.
   */
  function tiedResidual(coeff: number): F.ResidualFlow {
    const r = new F.ResidualFlow(3, { hidden: [8], coeff, seed: 5 });
    const params = new Map(r.namedParameters());
    tf.tidy(() => {
      const a = normal([3, 8], 17);
      params.get('net.0.w')!.assign(a);
      params.get('net.1.w')!.assign(tf.transpose(a));
      params.get('net.0.b')!.assign(normal([8], 18, 0.1));
    });
    r.net.updateSpectralNorm(200);
    return r;
  }

  it('Hutchinson power series converges to the exact log-det; short truncation is visibly biased', () => {
    const r = tiedResidual(0.9);
    const long = estimatorError(r, { method: 'series', terms: 40, probes: 4 }, 20);
    expect(Math.abs(long.exact)).toBeGreaterThan(0.3); // a non-trivial target
    expect(Math.abs(long.mean)).toBeLessThan(4 * long.se + 1e-3);
    // the test has power: two terms miss the tail of the series
    const short = estimatorError(r, { method: 'series', terms: 2, probes: 4 }, 20);
    expect(Math.abs(short.mean)).toBeGreaterThan(4 * short.se);
    r.dispose();
  });

  it('Russian-roulette estimator is unbiased within statistical error', () => {
    // p·(Lip g)⁻¹ trade-off: weights (1 − p)^−k times terms ~ Lip^k must decay for finite variance.
    const r = tiedResidual(0.7);
    const e = estimatorError(r, { method: 'roulette', exactTerms: 2, p: 0.3, probes: 2 }, 200);
    expect(Math.abs(e.exact)).toBeGreaterThan(0.2);
    expect(Math.abs(e.mean)).toBeLessThan(4 * e.se + 1e-4);
    // and a fixed truncation (tr J alone) is measurably biased with the same number of calls
    const fixed = estimatorError(r, { method: 'series', terms: 1, probes: 2 }, 200);
    expect(Math.abs(fixed.mean)).toBeGreaterThan(4 * fixed.se);
    console.log(`[residual] exact ${e.exact.toFixed(4)}; roulette bias ${e.mean.toExponential(2)} ± ${e.se.toExponential(2)}; 1-term series bias ${fixed.mean.toExponential(2)} ± ${fixed.se.toExponential(2)}`);
    r.dispose();
  });

  /** d(loss)/dθ for one trainable weight by autodiff and by central differences. */
  function gradientVsFiniteDifference(r: F.ResidualFlow, loss: () => tf.Scalar): { autodiff: number; numeric: number } {
    const v = r.trainableVariables()[0];
    const { grads } = tf.variableGrads(loss, [v]);
    const autodiff = grads[v.name].dataSync()[0];
    tf.dispose(grads);
    const orig = Float32Array.from(v.dataSync());
    const at = (delta: number) => {
      const p = Float32Array.from(orig);
      p[0] += delta;
      tf.tidy(() => v.assign(tf.tensor(p, v.shape)));
      return tf.tidy(() => loss().dataSync()[0]);
    };
    const eps = 1e-2;
    const numeric = (at(eps) - at(-eps)) / (2 * eps);
    at(0);
    return { autodiff, numeric };
  }

  it('trains: exact log-det and the implicit inverse have the right parameter gradients', () => {
    const r = residual(3, { coeff: 0.8 }, 12);
    const z = normal([3, 3], 40);
    const x = tf.tidy(() => r.forward(normal([3, 3], 41)));
    const ld = gradientVsFiniteDifference(r, () => tf.sum(r.forwardAndLogDet(z)[1]) as tf.Scalar);
    expect(Math.abs(ld.autodiff - ld.numeric)).toBeLessThan(2e-3 + 1e-2 * Math.abs(ld.numeric));
    const inv = gradientVsFiniteDifference(r, () => tf.sum(tf.square(r.inverse(x))) as tf.Scalar);
    expect(Math.abs(inv.autodiff - inv.numeric)).toBeLessThan(2e-3 + 1e-2 * Math.abs(inv.numeric));
    tf.dispose([z, x]);
    r.dispose();
  });

  it('trains as a density model: Invert, Russian-roulette log-det, power iteration in training mode', () => {
    const r = new F.ResidualFlow(2, { hidden: [16], logDet: { method: 'roulette', probes: 2 }, seed: 2 });
    const dist = new F.TransformedDistribution(new F.StandardNormal([2]), new F.Invert(r));
    const data = tf.tidy(() => tf.matMul(normal([256, 2], 5), tf.tensor2d([[1.5, 0], [0.9, 0.4]])));
    const nll = () => tf.neg(tf.mean(dist.logProb(data))) as tf.Scalar;
    const exactNll = () => {
      const saved = r.logDet;
      r.logDet = { method: 'exact' };
      const v = tf.tidy(() => nll().dataSync()[0]);
      r.logDet = saved;
      return v;
    };
    const before = exactNll();
    r.training = true;
    new Trainer(dist, { schedule: { lr: 2e-2 } }).fit(40, nll);
    r.training = false;
    const after = exactNll();
    console.log(`[residual] density fit, exact NLL ${before.toFixed(3)} → ${after.toFixed(3)} after 40 Adam steps`);
    expect(after).toBeLessThan(before - 0.05);
    data.dispose();
    dist.dispose();
  });

  it('density estimation through Invert: logProb runs the explicit map and matches sampling', () => {
    const flow = new F.TransformedDistribution(new F.StandardNormal([3]), new F.Invert(residual(3, {}, 14)));
    const { x, logProb } = flow.sampleAndLogProb(5, undefined, { seed: 3 });
    const lp = flow.logProb(x);
    expect(tf.max(tf.abs(tf.sub(lp, logProb))).dataSync()[0]).toBeLessThan(1e-4);
    tf.dispose([x, logProb, lp]);
    flow.dispose();
  });
});
