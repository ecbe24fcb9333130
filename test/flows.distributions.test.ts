import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import * as F from '../src/flows/index.js';
import { SeedStream, tfSeed } from '../src/util/random.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const LOG_2PI = Math.log(2 * Math.PI);

describe('base distributions', () => {
  it('StandardNormal logProb is the Gaussian density, with temperature', () => {
    const d = new F.StandardNormal([2]);
    const x = tf.tensor2d([[0, 0], [1, -2]]);
    expect(Array.from(d.logProb(x).dataSync())).toEqual([expect.closeTo(-LOG_2PI, 5), expect.closeTo(-LOG_2PI - 2.5, 5)]);
    const s = 0.6;
    const lp = new F.StandardNormal([2], s).logProb(x).dataSync();
    expect(lp[1]).toBeCloseTo(-LOG_2PI - 2 * Math.log(s) - 5 / (2 * s * s), 4);
  });

  it('StandardNormal samples at a temperature have that standard deviation', () => {
    const x = new F.StandardNormal([4]).sample(20000, { temperature: 0.5, seed: 3 });
    const { mean, variance } = tf.moments(x);
    expect(Math.abs(mean.dataSync()[0])).toBeLessThan(0.01);
    expect(Math.sqrt(variance.dataSync()[0])).toBeCloseTo(0.5, 2);
  });

  it('a seeded draw repeats, seed 0 included (tfjs alone takes 0 as "unseeded")', () => {
    for (const seed of [0, 3]) {
      const a = new F.StandardNormal([3]).sample(4, { seed }).dataSync();
      const b = new F.StandardNormal([3]).sample(4, { seed }).dataSync();
      expect(Array.from(b)).toEqual(Array.from(a));
    }
    expect(tfSeed(0)).not.toBe(0);
    expect(tfSeed(17)).toBe(17);
    const seeds = new SeedStream(42);
    for (let i = 0; i < 1000; i++) expect(seeds.next()).toBeGreaterThan(0);
  });

  it('DiagonalNormal and Uniform densities', () => {
    const d = new F.DiagonalNormal([1], tf.tensor1d([2]), tf.tensor1d([Math.log(3)]));
    expect(d.logProb(tf.tensor2d([[5]])).dataSync()[0]).toBeCloseTo(-0.5 * LOG_2PI - Math.log(3) - 0.5, 5);
    const u = new F.Uniform([2], -1, 3);
    const lp = u.logProb(tf.tensor2d([[0, 2], [0, 4]])).dataSync();
    expect(lp[0]).toBeCloseTo(-2 * Math.log(4), 6);
    expect(lp[1]).toBe(-Infinity);
  });
});

describe('TransformedDistribution', () => {
  it('Shift∘Scale of N(0,1) is N(μ, σ²) exactly (change of variables)', () => {
    const mu = 1.5;
    const sigma = 0.4;
    const bij = new F.Chain([new F.Shift([1], tf.tensor1d([mu])), new F.Scale([1], tf.tensor1d([Math.log(sigma)]))]);
    const d = new F.TransformedDistribution(new F.StandardNormal([1]), bij);
    const xs = [-1, 0.3, 1.5, 2.7];
    const lp = d.logProb(tf.tensor2d(xs, [4, 1])).dataSync();
    xs.forEach((x, i) => expect(lp[i]).toBeCloseTo(-0.5 * LOG_2PI - Math.log(sigma) - (x - mu) ** 2 / (2 * sigma ** 2), 4));
    const s = d.sample(20000, undefined, { seed: 5 });
    const { mean, variance } = tf.moments(s);
    expect(mean.dataSync()[0]).toBeCloseTo(mu, 1);
    expect(Math.sqrt(variance.dataSync()[0])).toBeCloseTo(sigma, 2);
  });

  it('Sigmoid of N(0,1) is the logit-normal density', () => {
    const d = new F.TransformedDistribution(new F.StandardNormal([1]), new F.Sigmoid());
    const xs = [0.1, 0.5, 0.8];
    const lp = d.logProb(tf.tensor2d(xs, [3, 1])).dataSync();
    xs.forEach((x, i) => {
      const l = Math.log(x / (1 - x));
      expect(lp[i]).toBeCloseTo(-0.5 * LOG_2PI - 0.5 * l * l - Math.log(x * (1 - x)), 4);
    });
  });

  it('sampleAndLogProb agrees with logProb of the samples', () => {
    const bij = new F.Chain([new F.LULinear(3, { init: 'rotation', seed: 4 }), new F.LeakyReLU(0.5)]);
    const d = new F.TransformedDistribution(new F.StandardNormal([3]), bij);
    const { x, logProb } = d.sampleAndLogProb(16, undefined, { seed: 9 });
    const again = d.logProb(x).dataSync();
    logProb.dataSync().forEach((v, i) => expect(v).toBeCloseTo(again[i], 3));
  });
});
