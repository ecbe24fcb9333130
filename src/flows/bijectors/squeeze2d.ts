import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector } from '../bijector.js';

/**
 * Glow's squeeze (space-to-depth; RealNVP's "squeezing operation"), for images [batch, H, W, C]
 * with f = factor (default 2). Each f×f patch becomes f² channels, in Glow's order (channel index
 * c·f² + dy·f + dx, as openai/glow's squeeze2d). A permutation, so log|det| = 0:
 *   inverse:  x [B, H, W, C] → z [B, H/f, W/f, C·f²]        (space-to-depth, the normalizing side)
 *   forward:  z [B, H/f, W/f, C·f²] → x [B, H, W, C]        (depth-to-space)
 * Built from reshape and a rank-5 transpose only, so its gradient exists on every backend.
 */
export class Squeeze2D extends BaseBijector {
  readonly name = 'Squeeze2D';
  constructor(readonly factor = 2) {
    super();
    if (!(Number.isInteger(factor) && factor >= 1)) throw new Error(`Squeeze2D factor must be a positive integer, got ${factor}`);
  }

  inverseAndLogDet(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    const f = this.factor;
    const [b, h, w, c] = x.shape;
    if (x.rank !== 4 || h! % f !== 0 || w! % f !== 0) {
      throw new Error(`Squeeze2D(${f}) needs images [batch, H, W, C] with H and W multiples of ${f}, got [${x.shape}]`);
    }
    return tf.tidy(() => {
      // [B·H/f, dy, W/f, dx, C] → [B·H/f, W/f, C, dy, dx]
      const t = tf.transpose(tf.reshape(x, [b! * (h! / f), f, w! / f, f, c!]), [0, 2, 4, 1, 3]);
      return [tf.reshape(t, [b!, h! / f, w! / f, c! * f * f]), tf.zeros([b!])];
    });
  }

  forwardAndLogDet(z: tf.Tensor): [tf.Tensor, tf.Tensor] {
    const f = this.factor;
    const [b, h, w, cf] = z.shape;
    if (z.rank !== 4 || cf! % (f * f) !== 0) {
      throw new Error(`Squeeze2D(${f}) needs [batch, h, w, C·${f * f}] in the forward direction, got [${z.shape}]`);
    }
    return tf.tidy(() => {
      const c = cf! / (f * f);
      // [B·h, w, C, dy, dx] → [B·h, dy, w, dx, C]
      const t = tf.transpose(tf.reshape(z, [b! * h!, w!, c, f, f]), [0, 3, 1, 4, 2]);
      return [tf.reshape(t, [b!, h! * f, w! * f, c]), tf.zeros([b!])];
    });
  }

  /** Event shape after the inverse (space-to-depth): [H, W, C] → [H/f, W/f, C·f²]. */
  inverseEventShape(shape: number[]): number[] {
    const f = this.factor;
    if (shape.length !== 3) throw new Error(`Squeeze2D(${f}) needs an image event shape [H, W, C], got [${shape}]`);
    const [h, w, c] = shape;
    if (h % f !== 0 || w % f !== 0) throw new Error(`Squeeze2D(${f}) cannot squeeze an image of ${h}×${w}: H and W must be multiples of ${f}`);
    return [h / f, w / f, c * f * f];
  }
}
