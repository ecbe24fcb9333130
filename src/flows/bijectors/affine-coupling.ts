import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, sumEvent, type Context } from '../bijector.js';
import type { Conditioner } from '../../nn/conditioner.js';
import { maskTensors, partition, type Parts, type Partition } from './coupling.js';
import { splitLast } from './util.js';

export interface AffineCouplingOptions {
  /**
   * How the raw conditioner output becomes log s: 'exp' uses it as is (RealNVP, NVIDIA's
   * WaveGlow); 'softclamp' bounds it to (−c, c) with c·tanh(s/c), which keeps early training
   * from exploding on small data.
   */
  scale?: 'exp' | 'softclamp';
  clamp?: number;
}

/**
 * Affine coupling (RealNVP, Dinh et al. 2017; seed 002). With a = passive part, b = active part,
 * and (t, log s) = NN(a) — the conditioner's output holds t first, then log s (NVIDIA's order):
 *   forward:  b' = b ⊙ exp(log s) + t        log|det ∂x/∂z| = Σ log s
 *   inverse:  b  = (b' − t) ⊙ exp(−log s)     log|det ∂z/∂x| = −Σ log s
 * a is unchanged in both directions, so the conditioner is never inverted.
 */
export class AffineCoupling extends BaseBijector {
  readonly name = 'AffineCoupling';
  private readonly scaleMode: 'exp' | 'softclamp';
  private readonly clamp: number;
  private readonly masks: [tf.Tensor1D, tf.Tensor1D] | null;

  constructor(readonly part: Partition, readonly conditioner: Conditioner, opts: AffineCouplingOptions = {}) {
    super();
    this.addModule('net', conditioner);
    const masks = maskTensors(part);
    this.masks = masks && [this.addConstant(() => masks[0]), this.addConstant(() => masks[1])];
    this.scaleMode = opts.scale ?? 'exp';
    this.clamp = opts.clamp ?? 3;
  }

  /** Shift t and log-scale, both shaped like the active part (exposed for WaveGlow's log_s checks). */
  transformParams(x: tf.Tensor, context?: Context): { shift: tf.Tensor; logScale: tf.Tensor } {
    return tf.tidy(() => this.paramsOf(partition(x, this.part, this.masks), context));
  }

  private paramsOf(p: Parts, context?: Context): { shift: tf.Tensor; logScale: tf.Tensor } {
    const out = this.conditioner.apply(p.conditionerInput, context);
    const [shift, raw] = splitLast(out, p.activeWidth);
    const logScale = this.scaleMode === 'softclamp' ? tf.mul(tf.tanh(tf.div(raw, this.clamp)), this.clamp) : raw;
    return { shift: p.restrict(shift), logScale: p.restrict(logScale) };
  }

  forwardAndLogDet(z: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const p = partition(z, this.part, this.masks);
      const { shift, logScale } = this.paramsOf(p, context);
      const out = tf.add(tf.mul(p.active, tf.exp(logScale)), shift);
      return [p.combine(out), sumEvent(logScale)];
    });
  }

  inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const p = partition(x, this.part, this.masks);
      const { shift, logScale } = this.paramsOf(p, context);
      const out = tf.mul(tf.sub(p.active, shift), tf.exp(tf.neg(logScale)));
      return [p.combine(out), tf.neg(sumEvent(logScale))];
    });
  }
}
