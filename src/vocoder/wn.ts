import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../flows/module.js';
import type { Conditioner } from '../nn/conditioner.js';
import { conv1d } from '../nn/conv1d.js';
import { dense } from '../nn/matmul.js';
import { gaussian, mulberry32 } from '../util/random.js';

export interface WNConfig {
  n_layers: number;
  n_channels: number;
  kernel_size: number;
}

/**
 * WaveGlow's coupling network (NVIDIA glow.py `WN`), a non-causal WaveNet: start 1x1 conv; per
 * layer i a dilated conv (dilation 2^i) plus the mel conditioning, a gated tanh·sigmoid unit, and
 * res/skip 1x1 convs; a zero-initialised end conv so every coupling starts as the identity.
 * Input a0 [B, n, nIn] and the grouped mel [B, n, melChannels] → [B, n, 2·nOut] = (t, log s).
 */
export class WN extends Module implements Conditioner {
  readonly start: { w: tf.Variable; b: tf.Variable };
  readonly cond: { w: tf.Variable; b: tf.Variable };
  readonly inLayers: { w: tf.Variable; b: tf.Variable }[] = [];
  readonly resSkip: { w: tf.Variable; b: tf.Variable }[] = [];
  readonly end: { w: tf.Variable; b: tf.Variable };

  constructor(readonly nIn: number, readonly melChannels: number, readonly cfg: WNConfig, readonly nOut = nIn, seed = 0) {
    super();
    const { n_layers: L, n_channels: C, kernel_size: k } = cfg;
    if (k % 2 !== 1) throw new Error(`WN kernel_size must be odd, got ${k}`);
    const randn = gaussian(mulberry32(seed));
    // PyTorch's default conv init scale (uniform ±1/√fan_in has std 1/√(3·fan_in)).
    const init = (shape: number[], fanIn: number) => () => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => randn() / Math.sqrt(3 * fanIn)), shape);
    const layer = (name: string, shape: number[], fanIn: number, zero = false) => ({
      w: this.addParameter(`${name}.w`, zero ? tf.zeros(shape) : init(shape, fanIn)),
      b: this.addParameter(`${name}.b`, zero ? tf.zeros([shape[shape.length - 1]]) : init([shape[shape.length - 1]], fanIn)),
    });
    this.start = layer('start', [nIn, C], nIn);
    this.cond = layer('cond', [melChannels, 2 * C * L], melChannels);
    for (let i = 0; i < L; i++) {
      this.inLayers.push(layer(`in.${i}`, [k, C, 2 * C], C * k));
      this.resSkip.push(layer(`resSkip.${i}`, [C, i < L - 1 ? 2 * C : C], C));
    }
    this.end = layer('end', [C, 2 * nOut], C, true);
  }

  apply(a0: tf.Tensor, spect?: tf.Tensor): tf.Tensor {
    if (!spect) throw new Error('WN needs the grouped mel spectrogram as context');
    return tf.tidy(() => {
      const { n_layers: L, n_channels: C } = this.cfg;
      let h = dense(a0, this.start.w as tf.Tensor2D, this.start.b as tf.Tensor1D) as tf.Tensor3D;
      const cond = dense(spect, this.cond.w as tf.Tensor2D, this.cond.b as tf.Tensor1D);
      const condParts = tf.split(cond, L, -1);
      let output: tf.Tensor | null = null;
      for (let i = 0; i < L; i++) {
        const x = tf.add(conv1d(h, this.inLayers[i].w as tf.Tensor3D, this.inLayers[i].b as tf.Tensor1D, 2 ** i), condParts[i]);
        const [xt, xs] = tf.split(x, 2, -1);
        const acts = tf.mul(tf.tanh(xt), tf.sigmoid(xs));
        const rs = dense(acts, this.resSkip[i].w as tf.Tensor2D, this.resSkip[i].b as tf.Tensor1D);
        if (i < L - 1) {
          const [res, skip] = tf.split(rs, [C, C], -1);
          h = tf.add(h, res) as tf.Tensor3D;
          output = output ? tf.add(output, skip) : skip;
        } else {
          output = output ? tf.add(output, rs) : rs;
        }
      }
      return dense(output!, this.end.w as tf.Tensor2D, this.end.b as tf.Tensor1D);
    });
  }

  /** Samples of context each side that one output position depends on: Σ_i (k−1)/2 · 2^i. */
  receptiveHalfWidth(): number {
    let r = 0;
    for (let i = 0; i < this.cfg.n_layers; i++) r += ((this.cfg.kernel_size - 1) / 2) * 2 ** i;
    return r;
  }
}
