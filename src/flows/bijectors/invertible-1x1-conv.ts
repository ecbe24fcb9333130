import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, perExample, positionsPerExample } from '../bijector.js';
import { LogAbsDetTracker, logAbsDet, matrixInverse, randomRotationHost, slogdetHost } from '../../nn/linalg.js';
import { gaussian, mulberry32 } from '../../util/random.js';
import { LULinear } from './lu-linear.js';
import { matMul } from '../../nn/matmul.js';
import { lastAxisMatMul } from './util.js';

/**
 * Invertible 1x1 convolution (Glow, Kingma & Dhariwal 2018; WaveGlow): a learned c×c matrix W
 * mixing the channels at every position of [batch, ..., c]. As in Glow and NVIDIA's WaveGlow, W
 * acts in the normalizing direction:
 *   inverse:  z = W x          log|det ∂z/∂x| = P · log|det W|     (P positions per example)
 *   forward:  x = W⁻¹ z        log|det ∂x/∂z| = −P · log|det W|
 * Plain form: log|det W| once per call by a host LU. Its gradient W⁻ᵀ comes from an inverse kept
 * across training steps and refined by Newton–Schulz matMuls, checked against its residual, with
 * the exact host inverse as the fallback (LogAbsDetTracker in nn/linalg.ts); 'host' inverts on the
 * host every step, as before. The generative direction's W⁻¹ is a cached host inverse (sampling);
 * with `generativeGradient` (training through samples, e.g. an auxiliary spectral loss) it is the
 * tracker's inverse for the current W, and its gradient d(W⁻¹) = −W⁻¹·dW·W⁻¹ reaches W.
 */
export type LogDetGradient = 'newton-schulz' | 'host';
/** Multipliers of log|det W|'s value and gradient in the normalizing direction (training only). */
export interface LogDetWeight {
  value: number;
  gradient: number;
  /**
   * A training step: the value may be updated from the last step's through the kept inverse
   * (LogAbsDetTracker.valueNear, within ~1e-8) instead of a host LU; the gradient is unchanged.
   */
  trainingStep?: boolean;
}

export class Invertible1x1Conv extends BaseBijector {
  readonly name = 'Invertible1x1Conv';
  readonly weight: tf.Variable;
  private inverseCache: { dataId: object; inv: tf.Tensor2D; logAbsDet: number } | null = null;
  /** How the log-det gradient W⁻ᵀ is formed; mutable so benchmarks can compare on one model. */
  logDetGradient: LogDetGradient;
  readonly logDet = new LogAbsDetTracker();
  /** Make the generative direction differentiable in W (off: sampling, where W⁻¹ is cached). */
  generativeGradient = false;
  /**
   * Weights of the normalizing direction's log-det value and of its gradient, for training only.
   * log|det W| is the same for every item, so data-parallel training counts it once, on the thread
   * that keeps the inverse (weight 1/w₀ for a share of weight w₀), and not elsewhere (0: no LU, no
   * W⁻¹; forming W⁻¹ on every thread made two threads slower than one). In a training step
   * (`trainingStep`) its value is updated from the last step's through that inverse: a matMul
   * instead of a host LU, which had to go to another thread and then made that one the slowest.
   */
  logDetWeight: LogDetWeight = { value: 1, gradient: 1 };

  constructor(readonly channels: number, opts: { seed?: number; weight?: tf.Tensor2D; logDetGradient?: LogDetGradient } = {}) {
    super();
    this.logDetGradient = opts.logDetGradient ?? 'newton-schulz';
    // Random rotation init (det = +1), as glow.py does with a QR decomposition.
    this.weight = this.addParameter('weight', opts.weight ?? tf.tensor2d(Float32Array.from(randomRotationHost(channels, gaussian(mulberry32(opts.seed ?? 0)))), [channels, channels]));
  }

  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const w = this.weight as tf.Tensor2D;
      const z = lastAxisMatMul(x, tf.transpose(w) as tf.Tensor2D);
      const { value: kv, gradient: kg, trainingStep } = this.logDetWeight;
      // Updating the value needs the kept inverse, which only the Newton–Schulz gradient keeps.
      const near = trainingStep === true && this.logDetGradient === 'newton-schulz';
      const P = positionsPerExample(x);
      if (kv === kg && !near) {
        if (kv === 0) return [z, tf.zeros([x.shape[0]])];
        const ld = this.logDetGradient === 'host' ? logAbsDet(w) : this.logDet.logAbsDet(w);
        return [z, perExample(tf.mul(ld, kv * P), x)];
      }
      // Split: the value as a constant, the gradient on a zero (each skipped when its weight is 0).
      const value = kv === 0 ? tf.scalar(0) : tf.scalar((near ? this.logDet.valueNear(w) : this.logDet.valueOf(w)) * kv * P);
      const ld = kg === 0 ? value : tf.add(value, tf.mul(this.logDetGradientOnly(w), kg * P));
      return [z, perExample(ld, x)];
    });
  }

  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    if (this.generativeGradient) {
      return tf.tidy(() => {
        const w = this.weight as tf.Tensor2D;
        const x = tf.reshape(inverseMatMul(this.logDet.inverse(w))(tf.reshape(z, [-1, this.channels]) as tf.Tensor2D, w), z.shape);
        return [x, perExample(tf.scalar(-this.logDet.valueOf(w) * positionsPerExample(z)), z)];
      });
    }
    return tf.tidy(() => {
      const { inv, logAbsDet: ld } = this.inverseWeight();
      const x = lastAxisMatMul(z, tf.transpose(inv) as tf.Tensor2D);
      return [x, perExample(tf.scalar(-ld * positionsPerExample(z)), z)];
    });
  }

  /** 0, with the gradient of log|det W| (W⁻ᵀ as logDetGradient says) and no LU. */
  private readonly logDetGradientOnly = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const w = args[0] as tf.Tensor2D;
    (args[1] as tf.GradSaveFunc)([w]);
    const dataId = w.dataId; // the saved copy has its own (see LogAbsDetTracker)
    return {
      value: tf.scalar(0),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const inv = this.logDetGradient === 'host' ? matrixInverse(saved[0] as tf.Tensor2D) : this.logDet.inverse(saved[0] as tf.Tensor2D, dataId);
        return tf.mul(dy, tf.transpose(inv));
      },
    };
  }) as (w: tf.Tensor2D) => tf.Scalar;

  /**
   * W⁻¹ and log|det W| (the generative direction is not trained through), cached as glow.py caches W_inverse: a host inversion of a 256×256 matrix costs tens of ms,
   * more than the rest of a synthesis step. Variable.assign() swaps the weight's dataId, so the
   * cache is valid exactly while the dataId is unchanged.
   */
  private inverseWeight(): { inv: tf.Tensor2D; logAbsDet: number } {
    const dataId = (this.weight as unknown as { dataId: object }).dataId;
    if (this.inverseCache?.dataId !== dataId) {
      this.inverseCache?.inv.dispose();
      const w = this.weight.dataSync() as Float32Array;
      this.inverseCache = { dataId, inv: tf.keep(matrixInverse(this.weight as tf.Tensor2D)), logAbsDet: slogdetHost(w, this.channels).logAbsDet };
    }
    return this.inverseCache;
  }

  /** The kept inverse is training state: saved in checkpoints so that --resume is exact. */
  protected override ownState(): [string, tf.Tensor][] {
    // Small matrices invert on the host every step: nothing of theirs carries over.
    const x = this.logDetGradient === 'newton-schulz' && this.channels >= this.logDet.minSize ? this.logDet.kept() : null;
    return x ? [['logdet_inverse', x]] : [];
  }

  protected override restoreOwnState(get: (name: string) => tf.Tensor | undefined): void {
    const x = get('logdet_inverse');
    if (x && !tf.util.arraysEqual(x.shape, [this.channels, this.channels])) throw new Error(`logdet_inverse has shape [${x.shape}], expected [${this.channels},${this.channels}]`);
    this.logDet.restore((x as tf.Tensor2D | undefined) ?? null);
  }

  override dispose(): void {
    this.inverseCache?.inv.dispose();
    this.inverseCache = null;
    this.logDet.dispose();
    super.dispose();
  }
}

/**
 * (z [N, c], W) ↦ z·W⁻ᵀ given inv = W⁻¹, with gradients dz = dx·W⁻¹ and, from
 * d(W⁻¹) = −W⁻¹·dW·W⁻¹, dW = −W⁻ᵀ·(dxᵀ·z)·W⁻ᵀ. `inv` is closed over rather than passed as an
 * input so that no gradient flows through however it was computed (a Newton–Schulz refinement).
 */
function inverseMatMul(inv: tf.Tensor2D): (z: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const z = args[0] as tf.Tensor2D;
    (args[2] as tf.GradSaveFunc)([z]);
    return {
      value: matMul(z, tf.transpose(inv) as tf.Tensor2D),
      gradFunc: (dx: tf.Tensor, saved: tf.Tensor[]) => {
        const invT = tf.transpose(inv) as tf.Tensor2D;
        const dxT = tf.transpose(dx) as tf.Tensor2D;
        const gInvT = matMul(dxT, saved[0] as tf.Tensor2D); // ∂L/∂(W⁻ᵀ) = zᵀ·dx, transposed
        return [matMul(dx as tf.Tensor2D, inv), tf.neg(matMul(matMul(invT, gInvT), invT))];
      },
    };
  }) as (z: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;
}

/**
 * The LU form (Glow §3.2): W = P L (U + diag s), O(c) log-det and a differentiable inverse.
 * Same direction convention as the plain form (W acts in the normalizing direction).
 */
export class Invertible1x1ConvLU extends BaseBijector {
  readonly name = 'Invertible1x1ConvLU';
  private readonly lu: LULinear;
  constructor(readonly channels: number, opts: { seed?: number } = {}) {
    super();
    this.lu = this.addModule('lu', new LULinear(channels, { bias: false, init: 'rotation', seed: opts.seed }));
  }
  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return this.lu.forwardAndLogDet(x);
  }
  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return this.lu.inverseAndLogDet(z);
  }
}
