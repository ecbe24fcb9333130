import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, asModule, type Bijector, type Context } from '../bijector.js';

/** The identity map (log|det| = 0). */
export class Identity extends BaseBijector {
  readonly name = 'Identity';
  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return [tf.clone(z), tf.zeros([z.shape[0]])];
  }
  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return [tf.clone(x), tf.zeros([x.shape[0]])];
  }
}

/**
 * Applies bijector i to block i of the last axis (TFP's `tfb.Blockwise`); log-dets add. With
 * [Identity, f] it is the "factor-out" of multiscale flows: the first channels are left as they are
 * (already emitted to the latent) and later flows act on the rest, as WaveGlow's early outputs do.
 */
export class Blockwise extends BaseBijector {
  readonly name = 'Blockwise';
  constructor(readonly bijectors: Bijector[], readonly blockSizes: number[]) {
    super();
    if (bijectors.length !== blockSizes.length) throw new Error('Blockwise needs one block size per bijector');
    bijectors.forEach((b, i) => this.addModule(String(i), asModule(b)));
  }

  forwardAndLogDet(z: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return this.run(z, (b, t) => b.forwardAndLogDet(t, context));
  }
  inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return this.run(x, (b, t) => b.inverseAndLogDet(t, context));
  }

  private run(input: tf.Tensor, step: (b: Bijector, t: tf.Tensor) => [tf.Tensor, tf.Tensor]): [tf.Tensor, tf.Tensor] {
    const total = this.blockSizes.reduce((a, b) => a + b, 0);
    if (input.shape[input.rank - 1] !== total) throw new Error(`Blockwise expects ${total} channels, got [${input.shape}]`);
    return tf.tidy(() => {
      const blocks = tf.split(input, this.blockSizes, input.rank - 1);
      let logDet: tf.Tensor = tf.zeros([input.shape[0]]);
      const outs = blocks.map((blk, i) => {
        if (this.bijectors[i] instanceof Identity) return blk;
        const [y, ld] = step(this.bijectors[i], blk);
        logDet = tf.add(logDet, ld);
        return y;
      });
      return [outs.length === 1 ? outs[0] : tf.concat(outs, input.rank - 1), logDet];
    });
  }
}
