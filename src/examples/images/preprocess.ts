/**
 * Dequantisation and bits/dim arithmetic, and the fixed map between pixel space [0, 1]^D and the
 * flow's real-valued input. Isomorphic.
 *
 * Uniform dequantisation (Theis et al. 2016; RealNVP, Glow): x = (pixel + u) / 256, u ~ U[0, 1).
 * A continuous density p on [0, 1]^D defines P(k) = ∫ p((k + u)/256)·256^−D du over the pixel's
 * cell, and by Jensen −log P(k) ≤ E_u[−log p(x)] + D·ln 256. Hence the standard figure
 *   bits/dim = (NLL_nats + D·ln 256) / (D·ln 2),   NLL of the continuous density on [0, 1]^D,
 * an upper bound on the discrete model's code length.
 * A uniform density on [0, 1]^D has NLL 0 → exactly 8 bits/dim.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, sumEvent } from '../../flows/bijector.js';

/** Bits per dimension of a mean continuous NLL (nats, density on [0, 1]^D) over D pixels. */
export function bitsPerDim(nllNats: number, dims: number): number {
  // = (NLL + D·ln 256) / (D·ln 2), written so that NLL = 0 gives exactly 8.
  return nllNats / (dims * Math.LN2) + 8;
}

/** Inverse of bitsPerDim: the continuous NLL in nats that a bits/dim figure corresponds to. */
export function nllFromBitsPerDim(bpd: number, dims: number): number {
  return (bpd - 8) * dims * Math.LN2;
}

/** Uniformly dequantised pixels: (pixel + u) / 256 with u ~ U[0, 1) from `rand`. */
export function dequantize(pixels: ArrayLike<number>, rand: () => number, out = new Float32Array(pixels.length)): Float32Array {
  for (let i = 0; i < pixels.length; i++) out[i] = (pixels[i] + rand()) / 256;
  return out;
}

export type PreprocessKind = 'logit' | 'shift';

/**
 * The fixed elementwise bijection between data x ∈ [0, 1]^D and the flow's input y (normalizing
 * direction x → y), its log-det included so NLLs stay densities on [0, 1]^D:
 *  - 'logit' (RealNVP): y = logit(α + (1 − 2α)·x), log|dy/dx| = log(1 − 2α) − log s − log(1 − s),
 *    s = α + (1 − 2α)x. Spreads the many pixels at 0 and 1 away from a hard boundary.
 *  - 'shift' (Glow): y = x − ½, log-det 0.
 * Forward (generative) maps y back to x; samples can leave [0, 1] slightly and are clipped for display.
 */
export class PixelPreprocess extends BaseBijector {
  readonly name = 'PixelPreprocess';
  constructor(readonly kind: PreprocessKind = 'logit', readonly alpha = 0.05) {
    super();
    if (kind === 'logit' && !(alpha > 0 && alpha < 0.5)) throw new Error(`logit preprocessing needs 0 < alpha < 0.5, got ${alpha}`);
  }

  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      if (this.kind === 'shift') return [tf.sub(x, 0.5), tf.zeros([x.shape[0]])];
      const s = tf.add(tf.mul(x, 1 - 2 * this.alpha), this.alpha);
      const logS = tf.log(s);
      const log1mS = tf.log1p(tf.neg(s));
      const ld = tf.sub(Math.log(1 - 2 * this.alpha), tf.add(logS, log1mS));
      return [tf.sub(logS, log1mS), sumEvent(ld)];
    });
  }

  forwardAndLogDet(y: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      if (this.kind === 'shift') return [tf.add(y, 0.5), tf.zeros([y.shape[0]])];
      const s = tf.sigmoid(y);
      // log dσ/dy = −softplus(−y) − softplus(y); dx/ds = 1/(1 − 2α)
      const ld = tf.sub(tf.neg(tf.add(tf.softplus(y), tf.softplus(tf.neg(y)))), Math.log(1 - 2 * this.alpha));
      return [tf.div(tf.sub(s, this.alpha), 1 - 2 * this.alpha), sumEvent(ld)];
    });
  }
}
