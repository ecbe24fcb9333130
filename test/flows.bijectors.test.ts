import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import * as F from '../src/flows/index.js';
import { MLP } from '../src/nn/mlp.js';
import { checkBijector, describeBijectors, randomize, type BijectorCase } from './helpers/bijector-checks.js';

const mlp = (inD: number, outD: number, ctx = 0) => new MLP(inD, outD, { hidden: [16], activation: 'tanh', contextDim: ctx, seed: 3 });
const normal = (shape: number[], seed = 7) => tf.randomNormal(shape, 0, 1, 'float32', seed);
const unit = (shape: number[], seed = 7) => tf.randomUniform(shape, 0.02, 0.98, 'float32', seed);

// One line per bijector: a new bijector gets every generic check by adding its case here.
const CASES: BijectorCase[] = [
  { name: 'Shift', make: () => randomize(new F.Shift([3])), input: () => normal([4, 3]) },
  { name: 'Scale', make: () => randomize(new F.Scale([3])), input: () => normal([4, 3]) },
  { name: 'LULinear (affine)', make: () => randomize(new F.LULinear(4, { init: 'rotation', seed: 2 })), input: () => normal([3, 4]) },
  { name: 'LULinear on [B,T,C]', make: () => randomize(new F.LULinear(3, { bias: false })), input: () => normal([2, 4, 3]) },
  { name: 'LeakyReLU', make: () => new F.LeakyReLU(0.2), input: () => normal([4, 3]) },
  { name: 'Sigmoid', make: () => new F.Sigmoid(), input: () => normal([4, 3]) },
  { name: 'Logit', make: () => new F.Logit(), input: () => unit([4, 3]) },
  { name: 'PiecewiseLinear', make: () => randomize(new F.PiecewiseLinear(3, 5), 1, 1), input: () => unit([5, 3]) },
  { name: 'AffineCoupling (mask)', make: () => randomize(new F.AffineCoupling({ mask: F.alternatingMask(4, 0) }, mlp(4, 8))), input: () => normal([3, 4]) },
  { name: 'AffineCoupling (split, softclamp)', make: () => randomize(new F.AffineCoupling({ split: 2 }, mlp(2, 6), { scale: 'softclamp' })), input: () => normal([3, 5]) },
  { name: 'AffineCoupling (context)', make: () => randomize(new F.AffineCoupling({ split: 1 }, mlp(1, 4, 2))), input: () => normal([3, 3]), context: () => normal([3, 2], 9) },
  { name: 'AdditiveCoupling', make: () => randomize(new F.AdditiveCoupling({ mask: F.alternatingMask(4, 1) }, mlp(4, 4))), input: () => normal([3, 4]) },
  { name: 'Permute', make: () => new F.Permute([2, 0, 3, 1]), input: () => normal([3, 4]) },
  { name: 'Reverse', make: () => new F.Reverse(4), input: () => normal([3, 4]) },
  { name: 'ActNorm', make: () => { const a = new F.ActNorm(3); tf.tidy(() => a.initialise(tf.add(tf.mul(normal([64, 3], 5), 3), 1))); return a; }, input: () => normal([2, 2, 3]) },
  { name: 'Invert(LULinear)', make: () => new F.Invert(randomize(new F.LULinear(3))), input: () => normal([3, 3]) },
  { name: 'Invertible1x1Conv (plain)', make: () => new F.Invertible1x1Conv(3, { weight: tf.tensor2d([[1.2, 0.3, -0.1], [0.2, 0.9, 0.4], [-0.3, 0.1, 1.1]]) }), input: () => normal([2, 4, 3]) },
  { name: 'Invertible1x1ConvLU', make: () => randomize(new F.Invertible1x1ConvLU(3, { seed: 5 })), input: () => normal([2, 4, 3]) },
  { name: 'Squeeze1D', make: () => new F.Squeeze1D(4), input: () => normal([2, 3, 4]) },
  { name: 'Blockwise([Identity, LULinear])', make: () => new F.Blockwise([new F.Identity(), randomize(new F.LULinear(2))], [1, 2]), input: () => normal([3, 3]) },
  { name: 'Chain', make: () => new F.Chain([randomize(new F.LULinear(2)), new F.LeakyReLU(0.3), randomize(new F.AffineCoupling({ split: 1 }, mlp(1, 2)))]), input: () => normal([4, 2]) },
];

describeBijectors('generic bijector checks (cpu)', CASES);

describe('the generic checks', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('the checks fail for a wrong log-det (they can fail)', () => {
    class Broken extends F.Scale {
      override forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
        const [x, ld] = super.forwardAndLogDet(z);
        return [x, tf.mul(ld, 2)];
      }
    }
    const r = checkBijector(randomize(new Broken([3])), normal([4, 3]));
    expect(r.logDetErr).toBeGreaterThan(1e-2);
  });
});
