/**
 * Trainable dilated conv1d (stride 1, "same" zero padding, channels-last) on every tfjs backend.
 *
 * Why not tf.conv1d: its gradient throws for dilation > 1 on every backend, and wasm has no
 * Conv2DBackpropFilter at all. Its *forward* works everywhere, though, and on wasm it is XNNPACK's
 * convolution, which never materialises im2col. Measured on wasm with `npx tsx src/bench/conv.ts
 * --backend wasm --reps 7` (B·T = 8192, k = 3, C = 64/128/256, dilation 1 and 8; GFLOP/s, two runs
 * on a shared 2-core machine):
 *   backend conv2d (what we use)            20–25
 *   pad + k slices + concat, one matMul     10–20   (tfjs-wasm slices copy their whole input first)
 *   pad + k slices, sum of k matMuls         9–21
 * so the forward and dx (a convolution of dY with the flipped, transposed kernel) use the backend's
 * conv2d, and only dW is built from matMuls:
 *   dW_j = Σ_{b,t} x_pad[b, t + j·d]ᵀ · dY[b, t]
 *        = (dYᵀ placed at time offset j·d, zero padded to the padded length) · x_pad,
 * i.e. k plain matMuls [Cout, B·Tp]·[B·Tp, Cin] sharing x_pad as the right operand, which XNNPACK
 * then packs once. That needs one transpose of dY and k pads but no slices: 12–18 GFLOP/s against
 * 7–11 for slices + matMul. A whole training step (forward, dx, dW, dbias) runs at 10–22 GFLOP/s,
 * 0.75–0.8× the forward rate.
 */
import * as tf from '@tensorflow/tfjs-core';
import { dense } from './matmul.js';

/** "same" convolution through the backend's conv2d on a height-1 image; bias fused when given. */
function convSame(x: tf.Tensor3D, w: tf.Tensor3D, bias: tf.Tensor1D | null, dilation: number): tf.Tensor3D {
  const y = tf.fused.conv2d({
    x: tf.expandDims(x, 1) as tf.Tensor4D, // [B, 1, T, Cin]
    filter: tf.expandDims(w, 0) as tf.Tensor4D, // [1, k, Cin, Cout]
    strides: 1,
    pad: 'same',
    dilations: [1, dilation],
    bias: bias ?? undefined,
  });
  return tf.squeeze(y, [1]) as tf.Tensor3D;
}

/** dL/dx: correlate dY with W'_j = W_{k-1-j}ᵀ, same padding and dilation. */
function convInputGrad(dy: tf.Tensor3D, w: tf.Tensor3D, dilation: number): tf.Tensor3D {
  // Flip the taps by unstack/stack: tf.reverse on axis 0 runs ≈ 4× slower on wasm (measured, k = 3).
  return tf.tidy(() => convSame(dy, tf.transpose(tf.stack(tf.unstack(w).reverse()), [0, 2, 1]) as tf.Tensor3D, null, dilation));
}

/**
 * [dL/dW [k, Cin, Cout], dL/dbias [Cout]] as derived in the header. dbias sums the contiguous rows
 * of dYᵀ, which exists anyway (tf.sum over axes 0 and 1 of dY would transpose it internally).
 */
function convWeightGrads(x: tf.Tensor3D, dy: tf.Tensor3D, k: number, dilation: number): [tf.Tensor3D, tf.Tensor1D] {
  return tf.tidy((): [tf.Tensor3D, tf.Tensor1D] => {
    const cin = x.shape[2];
    const cout = dy.shape[2];
    const pad = ((k - 1) * dilation) / 2;
    const xp = tf.reshape(tf.pad(x, [[0, 0], [pad, pad], [0, 0]]), [-1, cin]) as tf.Tensor2D; // [B·Tp, Cin]
    const dyT = tf.transpose(dy, [2, 0, 1]); // [Cout, B, T]
    const taps: tf.Tensor2D[] = [];
    for (let j = 0; j < k; j++) {
      const shifted = tf.pad(dyT, [[0, 0], [0, 0], [j * dilation, (k - 1 - j) * dilation]]);
      taps.push(tf.matMul(tf.reshape(shifted, [cout, -1]) as tf.Tensor2D, xp)); // [Cout, Cin]
    }
    return [tf.transpose(tf.stack(taps), [0, 2, 1]) as tf.Tensor3D, tf.sum(dyT, [1, 2]) as tf.Tensor1D];
  });
}

function check(cond: boolean, msg: () => string): void {
  if (!cond) throw new Error(`conv1d: ${msg()}`);
}

/**
 * y = conv1d(x, w) + bias with stride 1 and "same" zero padding ((k−1)·dilation/2 on each side).
 * x [B, T, Cin], w [k, Cin, Cout] (k odd), bias [Cout] or null → y [B, T, Cout].
 * Differentiable in x, w and bias on every backend. k = 1 is exactly `dense` (dilation is then moot).
 */
export function conv1d(x: tf.Tensor3D, w: tf.Tensor3D, bias: tf.Tensor1D | null, dilation = 1): tf.Tensor3D {
  check(x.rank === 3, () => `input must be [batch, time, channels], got [${x.shape}]`);
  check(w.rank === 3, () => `kernel must be [k, in, out], got [${w.shape}]`);
  const [k, cin, cout] = w.shape;
  check(k % 2 === 1, () => `kernel size must be odd for symmetric "same" padding, got k = ${k}`);
  check(x.shape[2] === cin, () => `input has ${x.shape[2]} channels but kernel [${w.shape}] expects ${cin}`);
  check(bias == null || (bias.rank === 1 && bias.shape[0] === cout), () => `bias must be [${cout}], got [${bias?.shape}]`);
  check(Number.isInteger(dilation) && dilation >= 1, () => `dilation must be a positive integer, got ${dilation}`);
  check(x.dtype === 'float32' && w.dtype === 'float32', () => `expected float32 tensors, got ${x.dtype} and ${w.dtype}`);

  if (k === 1) return tf.tidy(() => dense(x, tf.reshape(w, [cin, cout]) as tf.Tensor2D, bias));

  // The dilation is not a tensor, so the customGrad closes over it (built per call; cheap).
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const xs = args.slice(0, -1) as tf.Tensor[];
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xx, ww, bb] = xs as [tf.Tensor3D, tf.Tensor3D, tf.Tensor1D | undefined];
    save([xx, ww]);
    return {
      value: convSame(xx, ww, bb ?? null, dilation),
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor3D, tf.Tensor3D];
        const [dw, db] = convWeightGrads(sx, dy, k, dilation);
        const dx = convInputGrad(dy, sw, dilation);
        if (bb) return [dx, dw, db];
        db.dispose();
        return [dx, dw];
      },
    };
  });
  return (bias ? f(x, w, bias) : f(x, w)) as tf.Tensor3D;
}
