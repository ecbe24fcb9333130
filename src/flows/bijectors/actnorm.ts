import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, perExample, positionsPerExample } from '../bijector.js';

/**
 * Activation normalisation (Glow): a per-channel affine map on the last axis,
 *   forward:  x = z · exp(logScale) + bias          log|det| = P · Σ logScale
 *   inverse:  z = (x − bias) · exp(−logScale)       log|det| = −P · Σ logScale
 * with P the number of positions per example. Data-dependent initialisation: the first inverse
 * call on data sets bias and logScale so that z has zero mean and unit variance per channel.
 * The "initialised" flag is a saved (non-trainable) parameter, so a reloaded model keeps its values.
 */
export class ActNorm extends BaseBijector {
  readonly name = 'ActNorm';
  readonly logScale: tf.Variable;
  readonly bias: tf.Variable;
  private readonly initialised: tf.Variable;

  constructor(readonly channels: number) {
    super();
    this.logScale = this.addParameter('logScale', tf.zeros([channels]));
    this.bias = this.addParameter('bias', tf.zeros([channels]));
    this.initialised = this.addParameter('initialised', tf.scalar(0), false);
  }

  private seenInitialised = false;

  get isInitialised(): boolean {
    // Once set the flag never clears, so one host read suffices.
    if (!this.seenInitialised) this.seenInitialised = this.initialised.dataSync()[0] === 1;
    return this.seenInitialised;
  }

  /** Sets bias/logScale from a batch of data (x-space), as Glow does on the first batch. */
  initialise(x: tf.Tensor): void {
    tf.tidy(() => {
      const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
      const { mean, variance } = tf.moments(x, axes);
      this.bias.assign(mean as tf.Tensor1D);
      this.logScale.assign(tf.mul(tf.log(tf.add(variance, 1e-6)), 0.5) as tf.Tensor1D);
      this.initialised.assign(tf.scalar(1));
    });
  }

  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const x = tf.add(tf.mul(z, tf.exp(this.logScale)), this.bias);
      return [x, perExample(tf.mul(tf.sum(this.logScale), positionsPerExample(z)), z)];
    });
  }

  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    if (!this.isInitialised) this.initialise(x);
    return tf.tidy(() => {
      const z = tf.mul(tf.sub(x, this.bias), tf.exp(tf.neg(this.logScale)));
      return [z, perExample(tf.mul(tf.sum(this.logScale), -positionsPerExample(x)), x)];
    });
  }
}
