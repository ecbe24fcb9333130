import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../flows/module.js';
import { gaussian, mulberry32 } from '../util/random.js';
import type { Conditioner } from './conditioner.js';
import { dense } from './matmul.js';

export interface MLPOptions {
  hidden?: number[];
  activation?: 'relu' | 'tanh' | 'elu' | 'leakyRelu';
  /** Initialise the last layer at zero, so a coupling starts as the identity (Glow, WaveGlow). */
  zeroLast?: boolean;
  /** Width of a context vector concatenated to the input (conditional flows). */
  contextDim?: number;
  seed?: number;
}

/** A fully connected network on the last axis: the default conditioner for vector flows. */
export class MLP extends Module implements Conditioner {
  private readonly layers: { w: tf.Variable; b: tf.Variable }[] = [];
  private readonly act: (t: tf.Tensor) => tf.Tensor;

  constructor(readonly inDim: number, readonly outDim: number, opts: MLPOptions = {}) {
    super();
    const hidden = opts.hidden ?? [64, 64];
    const sizes = [inDim + (opts.contextDim ?? 0), ...hidden, outDim];
    const randn = gaussian(mulberry32(opts.seed ?? 0));
    for (let i = 0; i + 1 < sizes.length; i++) {
      const [n, m] = [sizes[i], sizes[i + 1]];
      const last = i + 2 === sizes.length;
      // He/Glorot-style fan-in scaling keeps activations O(1) through depth.
      const std = last && opts.zeroLast ? 0 : Math.sqrt((opts.activation === 'relu' ? 2 : 1) / n);
      const w = Float32Array.from({ length: n * m }, () => randn() * std);
      this.layers.push({
        w: this.addParameter(`${i}.w`, tf.tensor2d(w, [n, m])),
        b: this.addParameter(`${i}.b`, tf.zeros([m])),
      });
    }
    const a = opts.activation ?? 'relu';
    this.act = a === 'relu' ? tf.relu : a === 'tanh' ? tf.tanh : a === 'elu' ? tf.elu : (t) => tf.leakyRelu(t, 0.01);
  }

  apply(input: tf.Tensor, context?: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let h = context ? tf.concat([input, context], -1) : input;
      this.layers.forEach(({ w, b }, i) => {
        h = dense(h, w as tf.Tensor2D, b as tf.Tensor1D);
        if (i + 1 < this.layers.length) h = this.act(h);
      });
      return h;
    });
  }
}
