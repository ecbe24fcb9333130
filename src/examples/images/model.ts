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
  /**
   * How the step couplings turn the network output h into their scale:
   *  - 'sigmoid' (Glow): the normalizing direction multiplies by s = sigmoid(h + 2) ∈ (0, 1), so it
   *    can only contract, and no input can be blown up by a chain of couplings;
   *  - 'softclamp': log s = c·tanh(h/c) with c = `clamp`, both ways. Over 16 couplings the bound
   *    compounds to e^(16c); in a 60-minute MNIST run rare images then scored up to 10⁵ bits/dim
   *    (9 of 2 400 batches after step 1 000). Checkpoints without this field used it.
   * Split priors always use 'softclamp' (a prior's σ must be free to exceed 1).
   */
  couplingScale?: 'sigmoid' | 'softclamp';
  /** Log-scale bound c of 'softclamp' (c·tanh(s/c)). */
  clamp: number;
  seed: number;
}

export const DEFAULT_IMAGE_FLOW: Omit<ImageFlowConfig, 'shape'> = {
  levels: 2,
  steps: 8,
  hidden: 64,
  kernels: [3, 3],
  couplingScale: 'sigmoid',
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
 * every coupling starts as the identity (with `glowScale`, as Glow, as a scaling by sigmoid(2)) and
 * every split prior as N(0, I).
 */
export class ConvNet extends Module implements Conditioner {
  private readonly w: tf.Variable[];
  private readonly b: tf.Variable[];
  private readonly head: { shiftMask: tf.Tensor1D; scaleMask: tf.Tensor1D } | null;

  /**
   * `glowScale`: the second half of the outputs becomes log(1/sigmoid(h + 2)) = softplus(−h − 2) ≥ 0,
   * so an AffineCoupling in 'exp' mode divides by exactly Glow's scale sigmoid(h + 2) when normalizing.
   */
  constructor(readonly inChannels: number, readonly outChannels: number, readonly hidden: number, readonly kernels: [number, number] = [3, 3], seed = 0, glowScale = false) {
    super();
    const half = outChannels / 2;
    if (glowScale && outChannels % 2 !== 0) throw new Error(`ConvNet: a Glow scale head needs an even output width, got ${outChannels}`);
    // Masks rather than split + concat: narrow channel copies are slow on wasm.
    this.head = glowScale
      ? {
          shiftMask: this.addConstant(() => tf.tensor1d(Array.from({ length: outChannels }, (_, i) => (i < half ? 1 : 0)))),
          scaleMask: this.addConstant(() => tf.tensor1d(Array.from({ length: outChannels }, (_, i) => (i < half ? 0 : 1)))),
        }
      : null;
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
      const h = conv(conv(conv(input, 0, true), 1, true), 2, false);
      if (!this.head) return h;
      return tf.add(tf.mul(h, this.head.shiftMask), tf.mul(tf.softplus(tf.sub(-2, h)), this.head.scaleMask));
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
  const glowScale = (config.couplingScale ?? 'softclamp') === 'sigmoid';
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
        glowScale
          ? new F.AffineCoupling({ split: half }, new ConvNet(half, 2 * (c - half), config.hidden, config.kernels, seed++, true), { scale: 'exp' })
          : new F.AffineCoupling({ split: half }, new ConvNet(half, 2 * (c - half), config.hidden, config.kernels, seed++), { scale: 'softclamp', clamp: config.clamp }),
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
