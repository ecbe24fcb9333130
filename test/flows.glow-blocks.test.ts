import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import * as F from '../src/flows/index.js';
import { MLP } from '../src/nn/mlp.js';
import { Trainer } from '../src/train/trainer.js';
import { describeBijectors, randomize, type BijectorCase } from './helpers/bijector-checks.js';

const normal = (shape: number[], seed = 7, std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed);
/** Random "images" in [0, 1] with a little dequantisation-like noise. */
const images = (n: number, size: number, seed = 3) => tf.tidy(() => tf.add(tf.randomUniform([n, size, size, 1], 0, 1, 'float32', seed), normal([n, size, size, 1], seed + 1, 0.05)));
/** A per-position MLP = a 1x1-conv conditioner. */
const net = (inD: number, outD: number, seed = 3) => new MLP(inD, outD, { hidden: [8], activation: 'tanh', seed });

/** One Glow step in normalizing order: ActNorm → 1x1 conv (LU) → affine coupling on channel halves. */
function glowStep(c: number, seed: number): F.Bijector {
  return new F.Chain([
    new F.ActNorm(c),
    new F.LULinear(c, { bias: false, init: 'rotation', seed }),
    new F.AffineCoupling({ split: c / 2 }, net(c / 2, c, seed), { scale: 'softclamp' }),
  ]);
}

/** L levels of squeeze → K steps → split (Glow's learned prior), on [size, size, 1] images. */
function glow(size: number, levels = 2, steps = 2): F.MultiscaleFlow {
  return F.MultiscaleFlow.build([size, size, 1], levels, (shape, level, last) => {
    const c = shape[2];
    return {
      flow: new F.Chain(Array.from({ length: steps }, (_, k) => glowStep(c, 10 * level + k))),
      split: last ? undefined : new F.Split(c, { prior: net(c / 2, c, 50 + level) }),
    };
  });
}

/** A randomised model whose ActNorms were initialised on data, as on the first training batch. */
function trainedLike(size: number, seed = 1, steps = 2): F.MultiscaleFlow {
  const m = randomize(glow(size, 2, steps), seed, 0.3);
  const x = images(16, size);
  tf.dispose(m.inverse(x));
  x.dispose();
  return m;
}

const CASES: BijectorCase[] = [
  { name: 'Squeeze2D', make: () => new F.Squeeze2D(), input: () => normal([2, 2, 3, 4]) },
  { name: 'Squeeze2D (factor 3)', make: () => new F.Squeeze2D(3), input: () => normal([1, 2, 1, 18]) },
  { name: 'Split (standard normal)', make: () => new F.Split(4), input: () => normal([2, 2, 2, 4]) },
  { name: 'Split (learned prior, keep 1 of 3)', make: () => randomize(new F.Split(3, { keep: 1, prior: net(1, 4) }), 2, 0.5), input: () => normal([2, 2, 2, 3]) },
  // 2-level Glow on 4×4×1: the full Jacobian flat z [16] → image [4, 4, 1] is 16×16.
  { name: 'MultiscaleFlow (2-level Glow, 4×4×1)', make: () => trainedLike(4, 1, 1), input: () => normal([2, 16]) },
];

describeBijectors('Glow building blocks: generic checks', CASES);
describeBijectors('Squeeze2D gradients on wasm', [CASES[0]], 'wasm');

describe('Squeeze2D', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it("uses Glow's channel order c·f² + dy·f + dx", () => {
    const [h, w, c] = [4, 6, 2];
    const x = tf.reshape(tf.range(0, h * w * c), [1, h, w, c]);
    const z = new F.Squeeze2D().inverse(x);
    expect(z.shape).toEqual([1, 2, 3, 8]);
    const xd = x.dataSync();
    const zd = z.dataSync();
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        for (let ch = 0; ch < c; ch++)
          for (let dy = 0; dy < 2; dy++)
            for (let dx = 0; dx < 2; dx++) {
              expect(zd[(i * 3 + j) * 8 + ch * 4 + dy * 2 + dx]).toBe(xd[((2 * i + dy) * w + 2 * j + dx) * c + ch]);
            }
    tf.dispose([x, z]);
  });

  it('rejects odd sizes and channel counts that are not multiples of f²', () => {
    const s = new F.Squeeze2D();
    const odd = tf.zeros([1, 3, 4, 1]);
    const bad = tf.zeros([1, 2, 2, 6]);
    expect(() => s.inverse(odd)).toThrow(/H and W multiples of 2, got \[1,3,4,1\]/);
    expect(() => s.forward(bad)).toThrow(/C·4/);
    expect(() => s.inverseEventShape([5, 4, 1])).toThrow(/multiples of 2/);
    tf.dispose([odd, bad]);
  });
});

describe('Split and MultiscaleFlow', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it("the learned prior's log-prob enters through the log-det: log N(ε) + logdet = log N(x₂; μ(x₁), σ(x₁)²)", () => {
    const prior = net(2, 4, 8);
    const split = randomize(new F.Split(4, { prior }), 4, 0.5);
    const x = normal([3, 2, 2, 4], 21);
    const [eps, ld] = split.inverseAndLogDet(x);
    const std = new F.StandardNormal([2, 2, 4]);
    const viaFlow = tf.add(std.logProb(eps), ld);
    // By hand: the kept half passes through (its own N(0, 1) term), the factored half is N(μ, σ²).
    const manual = tf.tidy(() => {
      const [x1, x2] = tf.split(x, [2, 2], 3);
      const out = prior.apply(x1);
      const [mu, logS] = tf.split(out, [2, 2], 3);
      const q = tf.div(tf.sub(x2, mu), tf.exp(logS));
      const logN2 = tf.neg(tf.sum(tf.add(tf.add(tf.mul(tf.square(q), 0.5), logS), 0.5 * Math.log(2 * Math.PI)), [1, 2, 3]));
      return tf.add(new F.StandardNormal([2, 2, 2]).logProb(x1), logN2);
    });
    expect(tf.max(tf.abs(tf.sub(viaFlow, manual))).dataSync()[0]).toBeLessThan(1e-4);
    tf.dispose([x, eps, ld, viaFlow, manual]);
    split.dispose();
  });

  it('2-level Glow on 8×8×1: shapes, exact round trip, exact logProb, sampling with temperature', () => {
    const model = trainedLike(8);
    expect(model.levelShapes).toEqual([[4, 4, 4], [2, 2, 8]]);
    expect(model.latentShapes).toEqual([[4, 4, 2], [2, 2, 8]]);
    expect(model.latentSize).toBe(64);

    const x = images(4, 8, 11);
    const [z, ld] = model.inverseAndLogDet(x);
    expect(z.shape).toEqual([4, 64]);
    const back = model.forward(z);
    expect(tf.max(tf.abs(tf.sub(back, x))).dataSync()[0]).toBeLessThan(1e-4);

    const dist = new F.TransformedDistribution(new F.StandardNormal([model.latentSize]), model);
    const lp = dist.logProb(x);
    expect(lp.shape).toEqual([4]);
    expect(Array.from(lp.dataSync()).every(Number.isFinite)).toBe(true);
    // the per-level latents are what the density is made of
    const parts = model.splitLatent(z);
    expect(parts.map((p) => p.shape)).toEqual([[4, 4, 4, 2], [4, 2, 2, 8]]);
    const byParts = tf.add(tf.add(new F.StandardNormal([4, 4, 2]).logProb(parts[0]), new F.StandardNormal([2, 2, 8]).logProb(parts[1])), ld);
    expect(tf.max(tf.abs(tf.sub(byParts, lp))).dataSync()[0]).toBeLessThan(1e-3);
    const rejoined = model.joinLatent(parts);
    expect(tf.max(tf.abs(tf.sub(rejoined, z))).dataSync()[0]).toBe(0);

    // sampling: shapes, and the sampled log-density agrees with logProb of the sample
    const { x: xs, logProb } = dist.sampleAndLogProb(5, undefined, { temperature: 0.7, seed: 3 });
    expect(xs.shape).toEqual([5, 8, 8, 1]);
    const lpSample = dist.logProb(xs);
    expect(tf.max(tf.abs(tf.sub(lpSample, logProb))).dataSync()[0]).toBeLessThan(2e-3);
    // temperature 0 gives the mode of the latent: every sample is forward(0)
    const cold = dist.sample(2, undefined, { temperature: 0 });
    expect(tf.max(tf.abs(tf.sub(tf.slice(cold, [0], [1]), tf.slice(cold, [1], [1])))).dataSync()[0]).toBe(0);

    tf.dispose([x, z, ld, back, lp, ...parts, byParts, rejoined, xs, logProb, lpSample, cold]);
    model.dispose();
  });

  it('sampleLatent draws each level at its own temperature', () => {
    const model = glow(8);
    const z = model.sampleLatent(400, { temperature: [0.5, 2], seed: 1 });
    const [a, b] = model.splitLatent(z);
    const sd = (t: tf.Tensor) => tf.tidy(() => Math.sqrt(tf.mean(tf.square(t)).dataSync()[0]));
    expect(sd(a)).toBeCloseTo(0.5, 1);
    expect(sd(b) / 2).toBeCloseTo(1, 1);
    expect(() => model.sampleLatent(1, { temperature: [1, 2, 3] })).toThrow(/2 temperatures/);
    tf.dispose([z, a, b]);
    model.dispose();
  });

  it('rejects inconsistent compositions with clear errors', () => {
    const flow = new F.Identity();
    expect(() => new F.MultiscaleFlow([8, 8, 1], [{ flow, split: new F.Split(2) }])).toThrow(/Split is for 2 channels but the level has 4/);
    expect(() => new F.MultiscaleFlow([6, 6, 1], [{ flow }, { flow }])).toThrow(/6×6|3×3/);
    // a level flow that changes the shape is caught when run
    const m = new F.MultiscaleFlow([4, 4, 1], [{ flow: new F.Squeeze2D() }]);
    const x = tf.zeros([1, 4, 4, 1]);
    expect(() => m.inverse(x)).toThrow(/must preserve/);
    const m2 = glow(8);
    expect(() => m2.inverse(x)).toThrow(/expects \[batch, 8,8,1\]/);
    tf.dispose(x);
    m.dispose();
    m2.dispose();
  });

  it('trains: gradients reach every parameter and Adam lowers the NLL', () => {
    const model = trainedLike(8, 5, 1);
    const dist = new F.TransformedDistribution(new F.StandardNormal([model.latentSize]), model);
    const x = images(8, 8, 30);
    const nll = () => tf.neg(tf.mean(dist.logProb(x))) as tf.Scalar;
    const vars = model.trainableVariables();
    const { value, grads } = tf.variableGrads(nll, vars);
    const zero = vars.filter((v) => tf.tidy(() => tf.max(tf.abs(grads[v.name])).dataSync()[0]) === 0).map((v) => v.name);
    expect(zero).toEqual([]);
    tf.dispose([value, grads]);
    const losses = new Trainer(model, { schedule: { lr: 1e-2 } }).fit(8, nll);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] - 1);
    x.dispose();
    model.dispose();
  });
});
