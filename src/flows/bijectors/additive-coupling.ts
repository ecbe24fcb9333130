import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, type Context } from '../bijector.js';
import type { Conditioner } from '../../nn/conditioner.js';
import { maskTensors, partition, type Parts, type Partition } from './coupling.js';

/**
 * Additive coupling (NICE, Dinh et al. 2015; seed 002). With a = passive part, b = active part:
 *   forward:  b' = b + t(a)        log|det| = 0   (volume preserving)
 *   inverse:  b  = b' − t(a)       log|det| = 0
 * NICE pairs these with a final diagonal Scale to change volume.
 */
export class AdditiveCoupling extends BaseBijector {
  readonly name = 'AdditiveCoupling';
  private readonly masks: [tf.Tensor1D, tf.Tensor1D] | null;

  constructor(readonly part: Partition, readonly conditioner: Conditioner) {
    super();
    this.addModule('net', conditioner);
    const masks = maskTensors(part);
    this.masks = masks && [this.addConstant(() => masks[0]), this.addConstant(() => masks[1])];
  }

  private shift(p: Parts, context?: Context): tf.Tensor {
    return p.restrict(this.conditioner.apply(p.conditionerInput, context));
  }

  forwardAndLogDet(z: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const p = partition(z, this.part, this.masks);
      return [p.combine(tf.add(p.active, this.shift(p, context))), tf.zeros([z.shape[0]])];
    });
  }

  inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const p = partition(x, this.part, this.masks);
      return [p.combine(tf.sub(p.active, this.shift(p, context))), tf.zeros([x.shape[0]])];
    });
  }
}
