import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../flows/module.js';
import { matMul } from '../nn/matmul.js';
import { gaussian, mulberry32 } from '../util/random.js';

/**
 * WaveGlow's mel upsampler: ConvTranspose1d(n_mel, n_mel, kernel, stride), written as matMuls
 * because tfjs-wasm has no conv weight gradient. With kernel = q·stride, output block j (samples
 * j·stride … j·stride + stride − 1) is Σ_{p<q} mel[j − p] · W_p, W_p the kernel taps
 * p·stride … (p+1)·stride − 1 laid out as [in, stride·out]. Output length (T − 1)·stride + kernel.
 * Input mel [B, T, n_mel] → [B, (T + q − 1)·stride, n_mel].
 */
export class MelUpsampler extends Module {
  readonly weight: tf.Variable; // [in, kernel, out]
  readonly bias: tf.Variable;
  readonly taps: number;

  constructor(readonly channels: number, readonly kernel = 1024, readonly stride = 256, seed = 0) {
    super();
    if (kernel % stride !== 0) throw new Error(`upsampler kernel ${kernel} must be a multiple of stride ${stride}`);
    this.taps = kernel / stride;
    const randn = gaussian(mulberry32(seed));
    const std = 1 / Math.sqrt(3 * channels * kernel);
    this.weight = this.addParameter('weight', () => tf.tensor3d(Float32Array.from({ length: channels * kernel * channels }, () => randn() * std), [channels, kernel, channels]));
    this.bias = this.addParameter('bias', tf.zeros([channels]));
  }

  apply(mel: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, c] = mel.shape;
      if (c !== this.channels) throw new Error(`upsampler expects ${this.channels} mel channels, got ${c}`);
      const s = this.stride;
      const q = this.taps;
      const flat = tf.reshape(mel, [b * t, c]) as tf.Tensor2D;
      let acc: tf.Tensor | null = null;
      for (let p = 0; p < q; p++) {
        const wp = tf.reshape(tf.slice(this.weight, [0, p * s, 0], [c, s, c]), [c, s * c]) as tf.Tensor2D;
        // mel[j − p] contributes to block j: shift the product p frames later.
        const y = tf.reshape(matMul(flat, wp), [b, t, s * c]);
        const shifted = tf.pad(y, [[0, 0], [p, q - 1 - p], [0, 0]]);
        acc = acc ? tf.add(acc, shifted) : shifted;
      }
      return tf.add(tf.reshape(acc!, [b, (t + q - 1) * s, c]), this.bias) as tf.Tensor3D;
    });
  }
}
