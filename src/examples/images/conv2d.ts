/**
 * Trainable 2-D convolution (stride 1, odd k × k kernel, "same" zero padding, channels-last) with a
 * gradient that runs on every backend — tfjs-wasm has no Conv2DBackpropFilter.
 *
 * Forward and dL/dx use the backend's conv2d (XNNPACK on wasm; dx is a convolution of dY with the
 * flipped, transposed kernel). dL/dW is one matMul in a flattened, zero-padded frame: with x padded
 * to [B, H+2p, W+2p, Cin] and flattened to N rows, tap (ky, kx) pairs output row n with input row
 * n + s, s = ky·(W+2p) + kx, so  dW[ky, kx] = Σ_n x_pad[n + s]ᵀ · dY_frame[n]  (dY_frame: dY padded
 * bottom/right into the same frame). The narrow one of the two (Cin or Cout channels) is transposed
 * and its k² shifted copies (slices along its long axis: cheap, as it is narrow) are stacked into
 * the left operand [k²·C_narrow, N]; the wide one is the right operand in its natural layout, so it
 * is never transposed. (tfjs-wasm's matMul is XNNPACK only for untransposed operands; its slices
 * and transposes of wide tensors cost ~9 ns per element.)
 *
 * CPU ms per training pass (forward, dx, dW, dbias; B = 64; median of 7; `process.cpuUsage`, so
 * contention on the shared 2-core machine does not count):
 *   shape                 this   k² matMuls, shifted pads   im2col (slices+concat) + matMul   tf.conv3d stock grad
 *   14×14, 2 → 64         21.5   26.1                       41.8                              154
 *   14×14, 64 → 4         26.6   24.4                       437                               321
 *   7×7,   4 → 64          5.8    8.6                       14.1                               62
 *   7×7,   64 → 8          8.1    8.8                       74.6                              146
 * (wasm has Conv3DBackpropFilter, but as a naive loop.)
 */
import * as tf from '@tensorflow/tfjs-core';

type T4 = tf.Tensor4D;

function convForward(x: T4, w: T4, bias: tf.Tensor1D | null, relu: boolean): T4 {
  return tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias: bias ?? undefined, activation: relu ? 'relu' : 'linear' });
}

/** [dW [k, k, Cin, Cout], dbias [Cout]] from the input x and the upstream gradient dY, as in the header. */
export function conv2dWeightGrads(x: T4, dy: T4, k: number): [T4, tf.Tensor1D] {
  return tf.tidy((): [T4, tf.Tensor1D] => {
    const [b, h, w, cin] = x.shape;
    const cout = dy.shape[3];
    const p = (k - 1) / 2;
    const wp = w + 2 * p;
    const n = b * (h + 2 * p) * wp;
    const maxShift = 2 * p * wp + 2 * p;
    const xRows = tf.reshape(tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]), [n, cin]); // x_pad, frame row n
    const dyRows = tf.reshape(tf.pad(dy, [[0, 0], [0, 2 * p], [0, 2 * p], [0, 0]]), [n, cout]); // dY[i, j] at frame row i·Wp + j
    const shifts = Array.from({ length: k * k }, (_, t) => Math.floor(t / k) * wp + (t % k));
    if (cin <= cout) {
      // Left: the k² shifted copies of x_padᵀ and a row of ones (for dbias), stacked [k²·Cin + 1, N];
      // right: dY_frame [N, Cout]. One matMul gives dW as [k, k, Cin, Cout] rows, then dbias.
      const xT = tf.pad(tf.transpose(xRows), [[0, 0], [0, maxShift]]); // [Cin, N + maxShift]
      const left = tf.concat([...shifts.map((s) => tf.slice(xT, [0, s], [cin, n])), tf.ones([1, n])], 0) as tf.Tensor2D;
      const [dw, db] = tf.split(tf.matMul(left, dyRows as tf.Tensor2D), [k * k * cin, 1], 0);
      return [tf.reshape(dw, [k, k, cin, cout]) as T4, tf.reshape(db, [cout]) as tf.Tensor1D];
    }
    // Left: the k² copies of dY_frameᵀ shifted down by s, stacked [k²·Cout, N]; right: x_pad [N, Cin].
    const dyT = tf.transpose(dyRows) as tf.Tensor2D; // [Cout, N]
    const dyTPadded = tf.pad(dyT, [[0, 0], [maxShift, 0]]);
    const left = tf.concat(shifts.map((s) => tf.slice(dyTPadded, [0, maxShift - s], [cout, n])), 0) as tf.Tensor2D;
    const dw = tf.transpose(tf.reshape(tf.matMul(left, xRows as tf.Tensor2D), [k, k, cout, cin]), [0, 1, 3, 2]) as T4;
    return [dw, tf.sum(dyT, 1) as tf.Tensor1D];
  });
}

function check(cond: boolean, msg: () => string): void {
  if (!cond) throw new Error(`conv2d: ${msg()}`);
}

/**
 * y = act(conv2d(x, w) + bias), stride 1, "same" padding. x [B, H, W, Cin], w [k, k, Cin, Cout]
 * (k odd), bias [Cout] or null; `relu` applies a ReLU inside the op (its gradient masks dY by y > 0,
 * so no separate activation is recorded on the tape).
 * Differentiable in x, w and bias on every backend.
 */
export function conv2d(x: T4, w: T4, bias: tf.Tensor1D | null, relu = false): T4 {
  check(x.rank === 4, () => `input must be [batch, height, width, channels], got [${x.shape}]`);
  check(w.rank === 4 && w.shape[0] === w.shape[1] && w.shape[0] % 2 === 1, () => `kernel must be [k, k, in, out] with k odd, got [${w.shape}]`);
  check(x.shape[3] === w.shape[2], () => `input has ${x.shape[3]} channels but kernel [${w.shape}] expects ${w.shape[2]}`);
  check(bias == null || (bias.rank === 1 && bias.shape[0] === w.shape[3]), () => `bias must be [${w.shape[3]}], got [${bias?.shape}]`);
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xx, ww, bb] = args.slice(0, -1) as [T4, T4, tf.Tensor1D | undefined];
    const y = convForward(xx, ww, bb ?? null, relu);
    save(relu ? [xx, ww, y] : [xx, ww]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw, sy] = saved as [T4, T4, T4 | undefined];
        const g = sy ? (tf.mul(dy, tf.step(sy)) as T4) : (dy as T4);
        const k = sw.shape[0];
        const dx = convForward(g, tf.transpose(tf.reverse(sw, [0, 1]), [0, 1, 3, 2]) as T4, null, false);
        const [dw, db] = conv2dWeightGrads(sx, g, k);
        if (bb) return [dx, dw, db];
        db.dispose();
        return [dx, dw];
      },
    };
  });
  return (bias ? f(x, w, bias) : f(x, w)) as T4;
}
