import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector } from '../bijector.js';

/**
 * WaveGlow's grouping ("squeeze to vectors"): audio [batch, L] ↔ [batch, L/g, g], with
 * a[b, t, j] = x[b, t·g + j] (NVIDIA: unfold(1, g, g)). A reshape, so log|det| = 0.
 *   inverse:  x [B, L] → z [B, L/g, g]        forward:  z [B, L/g, g] → x [B, L]
 * L must be a multiple of g: trailing samples would not be invertible.
 */
export class Squeeze1D extends BaseBijector {
  readonly name = 'Squeeze1D';
  constructor(readonly group: number) {
    super();
  }
  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    const [b, l] = x.shape;
    if (x.rank !== 2 || l % this.group !== 0) {
      throw new Error(`Squeeze1D(${this.group}) needs [batch, L] with L a multiple of ${this.group}, got [${x.shape}]`);
    }
    return tf.tidy(() => [tf.reshape(x, [b, l / this.group, this.group]), tf.zeros([b])]);
  }
  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    if (z.rank !== 3 || z.shape[2] !== this.group) throw new Error(`Squeeze1D(${this.group}) needs [batch, n, ${this.group}], got [${z.shape}]`);
    return tf.tidy(() => [tf.reshape(z, [z.shape[0], -1]), tf.zeros([z.shape[0]])]);
  }
}
