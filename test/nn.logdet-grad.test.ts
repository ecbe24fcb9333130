/** The warm-started Newton–Schulz log-det gradient against the host inverse W⁻ᵀ. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import * as F from '../src/flows/index.js';
import type { LogDetGradient } from '../src/flows/bijectors/invertible-1x1-conv.js';
import { LogAbsDetTracker, inverseHost, randomRotationHost, slogdetHost } from '../src/nn/linalg.js';
import { Adam } from '../src/train/adam.js';
import { gaussian, mulberry32 } from '../src/util/random.js';

beforeAll(async () => {
  await initBackend('cpu');
});

/** A rotation plus a Gaussian part: condition number of a few, like trained 1x1-conv weights. */
function startMatrix(n: number, seed: number): Float32Array {
  const q = randomRotationHost(n, gaussian(mulberry32(seed)));
  const g = gaussian(mulberry32(seed + 100));
  return Float32Array.from(q, (v) => v + (0.4 * g()) / Math.sqrt(n));
}

/** An Adam-sized step: every entry moves by ±lr·U(0.5, 1). */
function adamLikeStep(w: Float32Array, lr: number, rand: () => number): void {
  for (let i = 0; i < w.length; i++) w[i] -= lr * (rand() < 0.5 ? -1 : 1) * (0.5 + 0.5 * rand());
}

/** ‖g − W⁻ᵀ‖_F / ‖W⁻ᵀ‖_F with W⁻¹ from the float64 host inverse. */
function relErrorToHost(g: Float32Array, w: Float32Array, n: number): number {
  const inv = inverseHost(w, n);
  let num = 0;
  let den = 0;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const ref = inv[c * n + r]; // transpose
      num += (g[r * n + c] - ref) ** 2;
      den += ref ** 2;
    }
  }
  return Math.sqrt(num / den);
}

const gradOf = (t: LogAbsDetTracker, w: Float32Array, n: number): { g: Float32Array; value: number } => {
  const wt = tf.tensor2d(w, [n, n]);
  const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => t.logAbsDet(x as tf.Tensor2D))([wt]);
  const out = { g: grads[0].dataSync() as Float32Array, value: value.dataSync()[0] };
  tf.dispose([wt, value, grads]);
  return out;
};

describe('LogAbsDetTracker (warm-started Newton–Schulz gradient of log|det W|)', () => {
  it('equals the host W⁻ᵀ to 1e-5 over a run of Adam-sized steps, refining instead of inverting, without growing memory', () => {
    const n = 96;
    const w = startMatrix(n, 1);
    const rand = mulberry32(2);
    const t = new LogAbsDetTracker();
    let tensors = -1;
    for (let step = 0; step < 12; step++) {
      if (step > 0) adamLikeStep(w, step % 4 === 0 ? 3e-3 : 3e-4, rand); // every 4th a 10× larger step
      const { g, value } = gradOf(t, w, n);
      expect(relErrorToHost(g, w, n)).toBeLessThan(1e-5);
      expect(value).toBeCloseTo(slogdetHost(w, n).logAbsDet, 4);
      if (step === 1) tensors = tf.memory().numTensors;
      if (step > 1) expect(tf.memory().numTensors).toBe(tensors);
    }
    // One host inversion (nothing to start from), then only refinements, each a step or two.
    expect(t.stats.host).toBe(1);
    expect(t.stats.refined).toBe(11);
    expect(t.stats.iterations).toBeGreaterThanOrEqual(11);
    expect(t.stats.iterations).toBeLessThanOrEqual(3 * 11);
    expect(t.stats.residual).toBeLessThan(2e-6 * Math.sqrt(n));
    t.dispose();
  });

  it('without refinement the kept inverse would be wrong: the check is not vacuous', () => {
    const n = 96;
    const w = startMatrix(n, 3);
    const stale = Float32Array.from(inverseHost(w, n));
    adamLikeStep(w, 3e-4, mulberry32(4));
    const g = new Float32Array(n * n);
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) g[r * n + c] = stale[c * n + r];
    expect(relErrorToHost(g, w, n)).toBeGreaterThan(1e-4);
  });

  it('falls back to the host inverse after a big jump and when Newton–Schulz does not converge in time', () => {
    const n = 80;
    const w = startMatrix(n, 5);
    const rand = mulberry32(6);
    const t = new LogAbsDetTracker();
    for (let step = 0; step < 3; step++) {
      if (step > 0) adamLikeStep(w, 3e-4, rand);
      gradOf(t, w, n);
    }
    expect(t.stats).toMatchObject({ host: 1, refined: 2 });
    // Loaded weights / a huge update: ‖I − WX‖ far above the start limit.
    const other = startMatrix(n, 7);
    const { g } = gradOf(t, other, n);
    expect(t.stats).toMatchObject({ host: 2, refined: 2 });
    expect(relErrorToHost(g, other, n)).toBeLessThan(1e-5);
    // Back to small steps: warm again.
    adamLikeStep(other, 3e-4, rand);
    expect(relErrorToHost(gradOf(t, other, n).g, other, n)).toBeLessThan(1e-5);
    expect(t.stats).toMatchObject({ host: 2, refined: 3 });
    t.dispose();

    // A step inside the start limit that needs more Newton–Schulz steps than allowed.
    const capped = new LogAbsDetTracker({ maxIterations: 1 });
    const v = startMatrix(n, 8);
    gradOf(capped, v, n);
    adamLikeStep(v, 4e-3, rand);
    const r = gradOf(capped, v, n);
    expect(capped.stats).toMatchObject({ host: 2, refined: 0, iterations: 1 });
    expect(relErrorToHost(r.g, v, n)).toBeLessThan(1e-5);
    capped.dispose();
  });

  it('computes nothing again for the same weight, and nothing at all without a gradient', () => {
    const n = 64;
    const v = tf.variable(tf.tensor2d(startMatrix(n, 9), [n, n]));
    const t = new LogAbsDetTracker();
    const value = t.logAbsDet(v);
    expect(t.stats.host + t.stats.refined).toBe(0); // evaluation pays only the LU
    value.dispose();
    for (let i = 0; i < 2; i++) tf.dispose(tf.variableGrads(() => t.logAbsDet(v), [v]).grads);
    expect(t.stats).toMatchObject({ host: 1, refined: 0 });
    v.assign(tf.tidy(() => tf.add(v, 1e-4)));
    tf.dispose(tf.variableGrads(() => t.logAbsDet(v), [v]).grads);
    expect(t.stats).toMatchObject({ host: 1, refined: 1 });
    t.dispose();
    v.dispose();
  });
});

describe('LogAbsDetTracker.valueNear (the training step\'s value, updated through the kept inverse)', () => {
  /** A training step as the conv takes it: the value by valueNear, then the gradient (refines X). */
  const trainingStep = (t: LogAbsDetTracker, v: tf.Variable): number => {
    const value = t.valueNear(v as unknown as tf.Tensor2D);
    const r = tf.variableGrads(() => t.logAbsDet(v as unknown as tf.Tensor2D), [v]);
    tf.dispose([r.value, Object.values(r.grads)]);
    return value;
  };
  // Copies: the cpu backend keeps the array a tensor is made from, and the tests step w in place.
  const set = (v: tf.Variable, w: Float32Array) => tf.tidy(() => v.assign(tf.tensor2d(w.slice(), v.shape as [number, number])));

  it('follows the host LU to 1e-7 over 150 Adam-sized steps, with a host LU only every exactEvery calls', () => {
    const n = 96;
    const w = startMatrix(n, 31).map((x) => 1.05 * x); // log|det W| ≈ 96·log 1.05 + …, far from 0
    const rand = mulberry32(32);
    const v = tf.variable(tf.tensor2d(w.slice(), [n, n]));
    const t = new LogAbsDetTracker({ exactEvery: 60 });
    let worst = 0;
    let tensors = -1;
    for (let step = 0; step < 150; step++) {
      if (step > 0) {
        adamLikeStep(w, step % 10 === 0 ? 3e-4 : 1e-4, rand); // ‖E‖ ≈ 0.03 and 0.01
        set(v, w);
      }
      worst = Math.max(worst, Math.abs(trainingStep(t, v) - slogdetHost(w, n).logAbsDet));
      if (step === 2) tensors = tf.memory().numTensors;
      if (step > 2) expect(tf.memory().numTensors).toBe(tensors);
    }
    if (process.env.FLOWVOX_VERBOSE) console.log(`valueNear: worst |Δ| to the host LU over 150 steps ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-7);
    expect(t.stats).toMatchObject({ valueExact: 3, valueUpdated: 147 }); // steps 0, 60, 120
    // The first-order term alone (tr E) would be off by far more: the update's higher terms matter.
    const w0 = Float32Array.from(w);
    adamLikeStep(w, 3e-3, rand);
    const x = inverseHost(w0, n);
    let tr = 0;
    for (let r = 0; r < n; r++) for (let k = 0; k < n; k++) tr += x[r * n + k] * (w[k * n + r] - w0[k * n + r]);
    expect(Math.abs(slogdetHost(w0, n).logAbsDet + tr - slogdetHost(w, n).logAbsDet)).toBeGreaterThan(1e-5);
    t.dispose();
    v.dispose();
  });

  it('takes a host LU without an inverse for the last W, after a big step, and agrees with valueOf', () => {
    const n = 64;
    const w = startMatrix(n, 33);
    const v = tf.variable(tf.tensor2d(w.slice(), [n, n]));
    const t = new LogAbsDetTracker();
    t.valueNear(v as unknown as tf.Tensor2D);
    adamLikeStep(w, 1e-4, mulberry32(34));
    set(v, w);
    t.valueNear(v as unknown as tf.Tensor2D); // no gradient yet, so no inverse of the last W
    expect(t.stats).toMatchObject({ valueExact: 2, valueUpdated: 0 });
    trainingStep(t, v); // the same W: the cached value
    expect(t.stats).toMatchObject({ valueExact: 2, valueUpdated: 0 });
    const other = startMatrix(n, 35); // loaded weights: ‖E‖ far above maxUpdate
    set(v, other);
    expect(trainingStep(t, v)).toBe(slogdetHost(other, n).logAbsDet);
    expect(t.stats).toMatchObject({ valueExact: 3, valueUpdated: 0 });
    adamLikeStep(other, 1e-4, mulberry32(36));
    set(v, other);
    const near = trainingStep(t, v);
    expect(t.stats.valueUpdated).toBe(1);
    expect(Math.abs(near - t.valueOf(v as unknown as tf.Tensor2D))).toBeLessThan(1e-8);
    t.dispose();
    v.dispose();
  });

  it('Invertible1x1Conv with trainingStep: the same gradient, and the value to 1e-7', () => {
    const c = 96;
    const conv = new F.Invertible1x1Conv(c, { weight: tf.tensor2d(startMatrix(c, 37).map((x) => 1.1 * x), [c, c]) });
    const adam = new Adam();
    const x = tf.randomNormal([2, 8, c], 0, 1, 'float32', 13);
    const loss = () => {
      const [z, ld] = conv.inverseAndLogDet(x);
      return tf.sub(tf.mul(tf.sum(tf.square(z)), 0.5), tf.sum(ld)) as tf.Scalar;
    };
    for (let step = 0; step < 6; step++) {
      conv.logDetWeight = { value: 1, gradient: 1, trainingStep: true };
      const a = tf.variableGrads(loss, [conv.weight]);
      conv.logDetWeight = { value: 1, gradient: 1 };
      const b = tf.variableGrads(loss, [conv.weight]); // exact: host LU
      const ga = a.grads[conv.weight.name]!.dataSync();
      expect(Array.from(ga)).toEqual(Array.from(b.grads[conv.weight.name]!.dataSync()));
      expect(Math.abs(a.value.dataSync()[0]! - b.value.dataSync()[0]!) / (2 * 8)).toBeLessThan(1e-7 * Math.max(1, Math.abs(b.value.dataSync()[0]!)));
      adam.apply([['w', conv.weight]], new Map([['w', a.grads[conv.weight.name]!]]), 1e-4, 0);
      tf.dispose([a.value, b.value, Object.values(a.grads), Object.values(b.grads)]);
    }
    expect(conv.logDet.stats.valueUpdated).toBe(5);
    adam.dispose();
    x.dispose();
    conv.dispose();
  });
});

describe('Invertible1x1Conv: Newton–Schulz and host gradients agree through training', () => {
  it('gives the host-mode weight gradient at every Adam step, with stable memory', () => {
    const c = 64;
    const conv = new F.Invertible1x1Conv(c, { seed: 3 });
    const dist = new F.TransformedDistribution(new F.StandardNormal([c]), conv);
    const adam = new Adam();
    const x = tf.randomNormal([4, 16, c], 0, 1, 'float32', 11);
    const loss = () => tf.neg(tf.mean(dist.logProb(x))) as tf.Scalar;
    const grad = (mode: LogDetGradient) => {
      conv.logDetGradient = mode;
      return tf.variableGrads(loss, [conv.weight]);
    };
    let tensors = -1;
    for (let step = 0; step < 8; step++) {
      const host = grad('host');
      const ns = grad('newton-schulz');
      const gh = host.grads[conv.weight.name];
      const gn = ns.grads[conv.weight.name];
      const rel = tf.tidy(() => tf.div(tf.norm(tf.sub(gn, gh)), tf.norm(gh)).dataSync()[0]);
      expect(rel).toBeLessThan(1e-5);
      expect(ns.value.dataSync()[0]).toBeCloseTo(host.value.dataSync()[0], 5);
      adam.apply([['w', conv.weight]], new Map([['w', gn]]), 1e-3, 0);
      tf.dispose([host.value, ns.value, Object.values(host.grads), Object.values(ns.grads)]);
      if (step === 1) tensors = tf.memory().numTensors;
      if (step > 1) expect(tf.memory().numTensors).toBe(tensors);
    }
    expect(conv.logDet.stats.host).toBe(1);
    expect(conv.logDet.stats.refined).toBe(7);
    adam.dispose();
    x.dispose();
    conv.dispose();
  });
});

describe('Invertible1x1Conv.logDetWeight (data-parallel training counts log|det W| once)', () => {
  it('weights the log-det value and gradient separately, and forms no inverse where the gradient weight is 0', () => {
    const c = 64;
    const B = 3;
    const P = 5;
    const w = startMatrix(c, 21).map((v) => 1.1 * v); // log|det W| ≈ 64·log 1.1, far from 0
    const x = tf.randomNormal([B, P, c], 0, 1, 'float32', 12);
    const run = (mode: LogDetGradient, value: number, gradient: number) => {
      const conv = new F.Invertible1x1Conv(c, { weight: tf.tensor2d(w, [c, c]), logDetGradient: mode });
      conv.logDetWeight = { value, gradient };
      // A data term (through z) plus the log-det term, as in a flow's loss.
      const r = tf.variableGrads(() => {
        const [z, ld] = conv.inverseAndLogDet(x);
        return tf.add(tf.mul(tf.sum(tf.square(z)), 0.5), tf.sum(ld)) as tf.Scalar;
      }, [conv.weight]);
      const out = { value: r.value.dataSync()[0], g: r.grads[conv.weight.name].dataSync().slice() as Float32Array, stats: { ...conv.logDet.stats } };
      tf.dispose([r.value, Object.values(r.grads)]);
      conv.dispose();
      return out;
    };
    const logAbsDet = slogdetHost(w, c).logAbsDet;
    expect(Math.abs(logAbsDet)).toBeGreaterThan(1); // so that a missing term shows
    for (const mode of ['host', 'newton-schulz'] as LogDetGradient[]) {
      const none = run(mode, 0, 0);
      expect(none.stats).toMatchObject({ host: 0, refined: 0 });
      // loss = data + kv·B·P·log|det W|, gradient = g_data + kg·B·P·W⁻ᵀ, whatever the other weight.
      for (const [kv, kg] of [[1, 1], [2, 2], [0, 2], [3, 0], [1, 0.5]]) {
        const r = run(mode, kv, kg);
        expect((r.value - none.value) / (B * P), `value ${kv}/${kg}`).toBeCloseTo(kv * logAbsDet, 3);
        if (kg === 0) {
          expect(Array.from(r.g)).toEqual(Array.from(none.g));
          expect(r.stats).toMatchObject({ host: 0, refined: 0 });
        } else expect(relErrorToHost(r.g.map((v, i) => (v - none.g[i]) / (kg * B * P)), w, c), `gradient ${kv}/${kg}`).toBeLessThan(1e-4);
      }
    }
    x.dispose();
  });
});

describe('checkpoints keep the Newton–Schulz inverse, so training resumes bit for bit', () => {
  it('stop after 3 steps, restore into a fresh model, 3 more steps = 6 uninterrupted steps; without the kept inverse it drifts', async () => {
    const { serialize, decode, restore } = await import('../src/train/checkpoint.js');
    const { Trainer } = await import('../src/train/trainer.js');
    const c = 96;
    const x = tf.randomNormal([4, 16, c], 0, 1, 'float32', 12);
    const make = () => {
      const conv = new F.Invertible1x1Conv(c, { seed: 4 });
      const dist = new F.TransformedDistribution(new F.StandardNormal([c]), conv);
      const trainer = new Trainer(conv, { schedule: { lr: 3e-3 } });
      const step = () => trainer.trainStep(() => tf.neg(tf.mean(dist.logProb(x))) as tf.Scalar);
      return { conv, trainer, step };
    };
    const a = make();
    for (let i = 0; i < 3; i++) a.step();
    const ck = await serialize(a.conv, a.trainer.optimizer);
    expect(ck.manifest.weightsManifest[0]!.weights.map((w) => w.name)).toContain('logdet_inverse');
    for (let i = 0; i < 3; i++) a.step();
    const want = a.conv.weight.dataSync().slice();

    const resumed = (keep: boolean) => {
      const b = make();
      const t = decode(ck.manifest, ck.data);
      if (!keep) t.delete('logdet_inverse');
      restore(b.conv, t, b.trainer.optimizer, ck.manifest.step);
      tf.dispose([...t.values()]);
      for (let i = 0; i < 3; i++) b.step();
      const got = b.conv.weight.dataSync().slice();
      expect(b.conv.logDet.stats.host).toBe(keep ? 0 : 1);
      b.trainer.optimizer.dispose();
      b.conv.dispose();
      return got;
    };
    expect(Array.from(resumed(true))).toEqual(Array.from(want));
    expect(Array.from(resumed(false))).not.toEqual(Array.from(want));
    a.trainer.optimizer.dispose();
    a.conv.dispose();
    x.dispose();
  });
});
