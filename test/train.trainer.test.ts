import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import * as F from '../src/flows/index.js';
import { MLP } from '../src/nn/mlp.js';
import { decode, restore, serialize } from '../src/train/checkpoint.js';
import { ParameterAverage } from '../src/train/ema.js';
import { PlateauDecay, makeSchedule } from '../src/train/schedule.js';
import { NonFiniteError, Trainer, meanNll } from '../src/train/trainer.js';
import { weightsOf } from '../src/vocoder/model-dir.js';
import { preset } from '../src/vocoder/presets.js';
import { WaveGlow } from '../src/vocoder/waveglow.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const gaussianModel = () =>
  new F.TransformedDistribution(new F.StandardNormal([1]), new F.Chain([new F.Shift([1]), new F.Scale([1])]));

const data = (n: number, seed: number) => tf.add(tf.mul(tf.randomNormal([n, 1], 0, 1, 'float32', seed), 0.5), 3);

function params(m: F.Module): Record<string, number[]> {
  return Object.fromEntries(m.namedParameters().map(([n, v]) => [n, Array.from(v.dataSync())]));
}

describe('maximum-likelihood trainer', () => {
  it('recovers the mean and scale of Gaussian data', () => {
    const model = gaussianModel();
    const trainer = new Trainer(model, { schedule: { lr: 0.05 } });
    const losses = trainer.fit(400, (s) => meanNll(model, data(256, s)));
    const p = params(model);
    expect(p['bijector.0.shift'][0]).toBeCloseTo(3, 1);
    expect(Math.exp(p['bijector.1.logScale'][0])).toBeCloseTo(0.5, 1);
    // Entropy of N(3, 0.5²) is the best achievable NLL.
    expect(losses.slice(-50).reduce((a, b) => a + b) / 50).toBeCloseTo(0.5 * Math.log(2 * Math.PI * Math.E * 0.25), 1);
  });

  it('stops with a clear error at a non-finite loss and leaves parameters untouched', () => {
    const model = gaussianModel();
    const trainer = new Trainer(model, { schedule: { lr: 0.05 } });
    trainer.fit(3, (s) => meanNll(model, data(16, s)));
    const before = params(model);
    expect(() => trainer.trainStep(() => tf.div(meanNll(model, data(16, 1)), 0) as tf.Scalar)).toThrow(NonFiniteError);
    expect(() => trainer.trainStep(() => tf.mul(meanNll(model, data(16, 1)), NaN) as tf.Scalar)).toThrow(/non-finite at step 4.*no checkpoint/);
    expect(params(model)).toEqual(before);
  });

  it('resumes exactly: 2×10 steps with save/restore between equals 20 straight steps', async () => {
    const make = () => {
      const m = new F.TransformedDistribution(new F.StandardNormal([2]), new F.Chain([
        new F.AffineCoupling({ mask: F.alternatingMask(2, 0) }, new MLP(2, 4, { hidden: [8], seed: 1 })),
        new F.LULinear(2, { init: 'rotation', seed: 2 }),
      ]));
      return { m, t: new Trainer(m, { clipNorm: 1, schedule: { lr: 1e-2, warmupSteps: 5 } }) };
    };
    const batch = (s: number) => tf.randomNormal([32, 2], 0, 2, 'float32', 100 + s);
    const a = make();
    a.t.fit(20, (s) => meanNll(a.m, batch(s)));

    const b = make();
    b.t.fit(10, (s) => meanNll(b.m, batch(s)));
    const saved = await serialize(b.m, b.t.optimizer);
    const c = make();
    const tensors = decode(saved.manifest, saved.data);
    restore(c.m, tensors, c.t.optimizer, saved.manifest.step);
    tf.dispose([...tensors.values()]);
    expect(c.t.step).toBe(10);
    c.t.fit(10, (s) => meanNll(c.m, batch(s)));
    expect(params(c.m)).toEqual(params(a.m));
  });

  it('rejects truncated weights and shape mismatches with clear errors', async () => {
    const m = gaussianModel();
    const s = await serialize(m);
    expect(() => decode(s.manifest, s.data.subarray(0, 4))).toThrow(/truncated/);
    const other = new F.TransformedDistribution(new F.StandardNormal([2]), new F.Chain([new F.Shift([2]), new F.Scale([2])]));
    const t = decode(s.manifest, s.data);
    expect(() => other.loadParameters(t)).toThrow(/shape/);
  });

  it('schedules: warm-up then cosine decay', () => {
    const s = makeSchedule({ lr: 1, warmupSteps: 10, decay: 'cosine', totalSteps: 110, minLr: 0 });
    expect(s(0)).toBeCloseTo(0.1);
    expect(s(9)).toBeCloseTo(1);
    expect(s(60)).toBeCloseTo(0.5);
    expect(s(110)).toBeCloseTo(0);
  });
});

describe('float16 weights', () => {
  it('round-trip to within half precision and take half the bytes', async () => {
    const m = new F.TransformedDistribution(new F.StandardNormal([3]), new F.Chain([new F.LULinear(3, { init: 'rotation', seed: 3 })]));
    const v = [-65504, -1.5, -1e-3, 0, 6e-8, 1 / 3, 2.5, 1234.5, 1e5];
    const w = new F.Shift([v.length], tf.tensor1d(v));
    const full = await serialize(w);
    const half = await serialize(w, undefined, undefined, { dtype: 'float16' });
    expect(half.data.byteLength).toBe(full.data.byteLength / 2);
    const back = Array.from(decode(half.manifest, half.data).get('shift')!.dataSync());
    expect(back[0]).toBe(-65504);
    expect(back[1]).toBe(-1.5);
    expect(back[3]).toBe(0);
    expect(back[5]).toBeCloseTo(1 / 3, 3);
    expect(back[7]).toBe(1234); // nearest half to 1234.5 (ties to even)
    expect(back[8]).toBe(Infinity); // beyond the half range
    expect(Math.abs(back[2] + 1e-3)).toBeLessThan(1e-6);
    const p = await serialize(m, undefined, undefined, { dtype: 'float16' });
    const t = decode(p.manifest, p.data);
    m.namedParameters().forEach(([n, v2]) => {
      const a = v2.dataSync();
      const b = t.get(n)!.dataSync();
      a.forEach((x, i) => expect(Math.abs(x - b[i])).toBeLessThanOrEqual(Math.abs(x) * 1e-3 + 1e-7));
    });
  });
});

describe('float16 model files keep the 1x1 convolutions in float32', () => {
  it('stores W exactly and everything else in half precision, in one mixed file', async () => {
    const model = new WaveGlow({ ...preset('cpu-small'), n_flows: 4, WN_config: { n_layers: 2, n_channels: 16, kernel_size: 3 } }, 3);
    const keep = model.precisionSensitive();
    // One W per flow, and nothing else.
    expect(keep.size).toBe(4);
    const named = new Map(model.namedParameters());
    for (const n of keep) expect(model.convs.some((c) => c.trainableVariables().includes(named.get(n)!))).toBe(true);
    const w = await weightsOf(model, 'float16');
    const sizes = model.namedParameters().map(([n, v]) => v.size * (keep.has(n) ? 4 : 2));
    expect(w.data.byteLength).toBe(sizes.reduce((a, b) => a + b, 0));
    const back = decode(w.manifest, w.data);
    let rounded = 0;
    for (const [n, v] of model.namedParameters()) {
      const a = v.dataSync();
      const b = back.get(n)!.dataSync();
      if (keep.has(n)) expect(Array.from(b)).toEqual(Array.from(a));
      else {
        a.forEach((x, i) => expect(Math.abs(x - b[i]!)).toBeLessThanOrEqual(Math.abs(x) * 1e-3 + 1e-7));
        rounded += a.filter((x, i) => x !== b[i]).length;
      }
    }
    expect(rounded).toBeGreaterThan(1000); // the rest was rounded, not copied (zero-initialised tensors stay exact)
    tf.dispose([...back.values()]);
    model.dispose();
  });
});

describe('PlateauDecay (ReduceLROnPlateau)', () => {
  it('drops the rate after `patience` validations without a new best, resets on improvement, stops at minLr', () => {
    const p = new PlateauDecay({ patience: 2, factor: 0.5, minLr: 0.2, threshold: 0.01, bad: 0 });
    let lr = 1;
    let best: number | null = null;
    const seen: number[] = [];
    // Improves, stalls twice (drop), improves by less than the threshold twice (drop), improves, stalls 4× (floor).
    for (const v of [5, 5, 4.995, 4, 3.995, 3.999, 3, 3, 3, 3, 3]) {
      lr = p.update(v, best, lr);
      best = best === null ? v : Math.min(best, v);
      seen.push(lr);
    }
    expect(seen).toEqual([1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2]);
    expect(p.state.bad).toBe(0);
    // A rate already below the floor is never raised.
    expect(new PlateauDecay({ patience: 1, factor: 0.5, minLr: 1e-3, threshold: 0, bad: 0 }).update(1, 0, 1e-4)).toBe(1e-4);
    expect(() => new PlateauDecay({ patience: 0, factor: 0.5, minLr: 0, threshold: 0, bad: 0 })).toThrow(/patience/);
    expect(() => new PlateauDecay({ patience: 1, factor: 1, minLr: 0, threshold: 0, bad: 0 })).toThrow(/factor/);
  });
});

describe('parameter average (ParameterAverage)', () => {
  it('follows shadow ← d·shadow + (1 − d)·θ with the warm-up d = min(decay, (1+n)/(10+n))', () => {
    const model = gaussianModel();
    const shadow = gaussianModel();
    const avg = new ParameterAverage(model, shadow, 0.5);
    expect(avg.decayAt(0)).toBeCloseTo(0.1, 12);
    expect(avg.decayAt(8)).toBeCloseTo(0.5, 12); // (9/18) reaches the cap
    expect(avg.decayAt(100)).toBe(0.5);
    avg.reset();
    expect(params(shadow)).toEqual(params(model));
    const trainer = new Trainer(model, { schedule: { lr: 0.05 } });
    // Hand-computed average of the parameter trajectory.
    let expected = params(model)['bijector.0.shift'][0];
    for (let n = 0; n < 12; n++) {
      trainer.trainStep(() => meanNll(model, data(32, n)));
      avg.update(n);
      const d = Math.min(0.5, (1 + n) / (10 + n));
      expected = d * expected + (1 - d) * params(model)['bijector.0.shift'][0];
    }
    expect(params(shadow)['bijector.0.shift'][0]).toBeCloseTo(expected, 5);
    expect(params(shadow)['bijector.0.shift'][0]).not.toBeCloseTo(params(model)['bijector.0.shift'][0], 5);
    // Checkpoint round trip under `ema.<name>`; without them, load() reports false and leaves the shadow.
    const state = new Map(avg.state().map(([n, t]) => [n, t.clone()]));
    expect([...state.keys()].sort()).toEqual(['ema.bijector.0.shift', 'ema.bijector.1.logScale']);
    const other = new ParameterAverage(gaussianModel(), gaussianModel(), 0.5);
    expect(other.load(state)).toBe(true);
    expect(params(other.shadow)).toEqual(params(shadow));
    expect(other.load(new Map())).toBe(false);
    expect(params(other.shadow)).toEqual(params(shadow));
    expect(() => new ParameterAverage(model, shadow, 1)).toThrow(/decay/);
    tf.dispose([...state.values()]);
  });
});
