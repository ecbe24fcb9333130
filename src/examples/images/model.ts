/**
 * A multiscale Glow (Kingma & Dhariwal 2018) for small grey images, assembled from library
 * bijectors: per level, squeeze → K × [ActNorm → invertible 1x1 conv → affine coupling] →
 * split with a learned prior, and a fixed pixel map (logit or shift) in front. The coupling
 * conditioner is Glow's NN(): conv k×k → ReLU → 1x1 → ReLU → conv (zero-initialised), built on
 * trainable convolutions that have fast gradients on wasm (./conv2d.ts, src/nn/matmul.ts).
 * Isomorphic.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as F from '../../flows/index.js';
import { Module } from '../../flows/module.js';
import type { Conditioner } from '../../nn/conditioner.js';
import { dense } from '../../nn/matmul.js';
import { gaussian, mulberry32 } from '../../util/random.js';
import { conv2d } from './conv2d.js';
import { PixelPreprocess, type PreprocessKind } from './preprocess.js';

export interface ImageFlowConfig {
  /** Image shape [H, W, C]. */
  shape: [number, number, number];
  /** Glow's L: levels; each squeezes by 2 while H and W stay even (28×28: 14×14 → 7×7 → 7×7 …). */
  levels: number;
  /** Glow's K: flow steps per level. */
  steps: number;
  /** Conditioner width. */
  hidden: number;
  /** Kernel size of the conditioner's first and last convolutions (Glow: 3 and 3). */
  kernels: [number, number];
  preprocess: PreprocessKind;
  /** α of the logit map. */
  alpha: number;
  /** Couplings' log-scale bound c (softclamp c·tanh(s/c)): keeps early training stable. */
  clamp: number;
  seed: number;
}

export const DEFAULT_IMAGE_FLOW: Omit<ImageFlowConfig, 'shape'> = {
  levels: 2,
  steps: 8,
  hidden: 64,
  kernels: [3, 3],
  preprocess: 'logit',
  alpha: 0.05,
  clamp: 2,
  seed: 0,
};

/** He-normal weights (ReLU gain), or zeros for the last layer. */
function heInit(shape: number[], fanIn: number, rand: () => number, zero: boolean): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const std = zero ? 0 : Math.sqrt(2 / fanIn);
  return tf.tensor(Float32Array.from({ length: n }, () => rand() * std), shape);
}

/**
 * Glow's coupling network NN(): [B, H, W, in] → [B, H, W, out]. conv k₀×k₀ (in → hidden) → ReLU →
 * 1x1 (hidden → hidden) → ReLU → conv k₁×k₁ (hidden → out), the last layer zero-initialised so
 * every coupling (and split prior) starts as the identity.
 */
export class ConvNet extends Module implements Conditioner {
  private readonly w: tf.Variable[];
  private readonly b: tf.Variable[];
  constructor(readonly inChannels: number, readonly outChannels: number, readonly hidden: number, readonly kernels: [number, number] = [3, 3], seed = 0) {
    super();
    const rand = gaussian(mulberry32(seed));
    const [k0, k1] = kernels;
    this.w = [
      this.addParameter('0.w', heInit([k0, k0, inChannels, hidden], k0 * k0 * inChannels, rand, false)),
      this.addParameter('1.w', heInit([hidden, hidden], hidden, rand, false)),
      this.addParameter('2.w', heInit([k1, k1, hidden, outChannels], k1 * k1 * hidden, rand, true)),
    ];
    this.b = [this.addParameter('0.b', tf.zeros([hidden])), this.addParameter('1.b', tf.zeros([hidden])), this.addParameter('2.b', tf.zeros([outChannels]))];
  }

  apply(input: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const conv = (x: tf.Tensor, i: number, relu: boolean): tf.Tensor => {
        const w = this.w[i];
        const b = this.b[i] as tf.Tensor1D;
        if (w.rank === 2) {
          const y = dense(x, w as tf.Tensor2D, b);
          return relu ? tf.relu(y) : y;
        }
        if (w.shape[0] === 1) {
          const y = dense(x, tf.reshape(w, [w.shape[2]!, w.shape[3]!]) as tf.Tensor2D, b);
          return relu ? tf.relu(y) : y;
        }
        return conv2d(x as tf.Tensor4D, w as tf.Tensor4D, b, relu);
      };
      return conv(conv(conv(input, 0, true), 1, true), 2, false);
    });
  }
}

/** The assembled model: a density on [0, 1]^(H·W·C) and the multiscale flow inside it. */
export interface ImageFlow {
  config: ImageFlowConfig;
  /** log p(x) for x ∈ [0, 1]^D (dequantised pixels): base N(0, I) through the flow and the pixel map. */
  dist: F.TransformedDistribution;
  multiscale: F.MultiscaleFlow;
  preprocess: PixelPreprocess;
  /** D = H·W·C. */
  dims: number;
}

/** Builds the Glow described by `config` (fully deterministic given config.seed). */
export function buildImageFlow(config: ImageFlowConfig): ImageFlow {
  const [h, w, ch] = config.shape;
  if (!(Number.isInteger(config.levels) && config.levels >= 1)) throw new Error(`levels must be a positive integer, got ${config.levels}`);
  if (!(Number.isInteger(config.steps) && config.steps >= 1)) throw new Error(`steps per level must be a positive integer, got ${config.steps}`);
  const specs: F.MultiscaleLevel[] = [];
  let shape = [h, w, ch];
  let seed = config.seed * 100_003 + 1;
  for (let level = 0; level < config.levels; level++) {
    const squeeze = shape[0] % 2 === 0 && shape[1] % 2 === 0 ? 2 : 1;
    if (squeeze === 2) shape = [shape[0] / 2, shape[1] / 2, shape[2] * 4];
    const c = shape[2];
    if (c < 2) throw new Error(`level ${level + 1} has ${c} channel at ${shape[0]}×${shape[1]}: too few levels can squeeze this image; use fewer levels`);
    const half = Math.floor(c / 2);
    const steps: F.Bijector[] = [];
    for (let k = 0; k < config.steps; k++) {
      steps.push(new F.Chain([
        new F.ActNorm(c),
        // Glow's plain 1x1 conv (log|det W| by a host LU of the c×c matrix): a whole step was 4 %
        // faster than with LULinear's triangular inverses, and Invertible1x1ConvLU cannot train
        // here (LULinear.weight() uses tf.diag, which has no gradient in tfjs 4.22).
        new F.Invertible1x1Conv(c, { seed: seed++ }),
        new F.AffineCoupling({ split: half }, new ConvNet(half, 2 * (c - half), config.hidden, config.kernels, seed++), { scale: 'softclamp', clamp: config.clamp }),
      ]));
    }
    const last = level + 1 === config.levels;
    const split = last ? undefined : new F.Split(c, { keep: half, prior: new ConvNet(half, 2 * (c - half), config.hidden, config.kernels, seed++), scale: 'softclamp', clamp: config.clamp });
    specs.push({ squeeze, flow: new F.Chain(steps), split });
    if (split) shape = [shape[0], shape[1], split.keep];
  }
  const multiscale = new F.MultiscaleFlow([h, w, ch], specs);
  const preprocess = new PixelPreprocess(config.preprocess, config.alpha);
  const dims = h * w * ch;
  const dist = new F.TransformedDistribution(new F.StandardNormal([dims]), new F.Chain([preprocess, multiscale]));
  return { config, dist, multiscale, preprocess, dims };
}
