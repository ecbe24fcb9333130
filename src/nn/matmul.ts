/**
 * matMul and dense layers whose gradients stay on fast kernels on every backend.
 *
 * Why: the wasm backend sends BatchMatMul to XNNPACK only when neither operand is transposed and the
 * batch is 1; with transposeA or transposeB it falls back to a naive blocked loop
 * (tfjs-backend-wasm batch_mat_mul_impl.cc). tfjs' stock matMul gradient uses exactly those flags.
 * Here every product is a plain matMul of explicitly transposed operands: one extra memory pass,
 * but XNNPACK throughout. Measured on wasm, [8192, 3C]·[3C, C], C = 64/128/256, fresh inputs per
 * call (`npx tsx src/bench/conv.ts --backend wasm --reps 7`), GFLOP/s:
 *   forward 17–25; stock gradient 1.4–1.9; this gradient 9.7–18 (8× the stock one).
 * On the cpu backend both gradients run at the same speed (~0.5 GFLOP/s).
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Gradients of Y = A·B (+ bias) using untransposed matMuls only: dA = dY·Bᵀ, dB = Aᵀ·dY and, with
 * `bias`, dbias = Σ_rows dY. For dB one of A [M,K] or dY [M,N] must be transposed (both have the
 * long axis M first). Transposes, and XNNPACK packing the right operand, cost ~8–9 ns per element
 * on wasm, so: transpose A when K ≤ N, else compute (dYᵀ·A)ᵀ, whose last transpose is only K×N.
 * With a bias, dYᵀ is always made: dbias is then a sum over its contiguous rows, while tf.sum over
 * axis 0 would transpose dY once more internally.
 */
function linearGrads(a: tf.Tensor2D, b: tf.Tensor2D, dy: tf.Tensor2D, bias: boolean): tf.Tensor[] {
  return tf.tidy(() => {
    const da = tf.matMul(dy, tf.transpose(b));
    if (!bias && a.shape[1] <= dy.shape[1]) return [da, tf.matMul(tf.transpose(a), dy)];
    const dyT = tf.transpose(dy);
    const grads = [da, tf.transpose(tf.matMul(dyT, a))];
    if (bias) grads.push(tf.sum(dyT, 1));
    return grads;
  });
}

/** [dA, dB] for Y = A·B and upstream gradient dY, computed as described above. */
export function matMulGrads(a: tf.Tensor2D, b: tf.Tensor2D, dy: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] {
  return linearGrads(a, b, dy, false) as [tf.Tensor2D, tf.Tensor2D];
}

const matMulNoBias = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      linearGrads(saved[0] as tf.Tensor2D, saved[1] as tf.Tensor2D, dy as tf.Tensor2D, false),
  };
});

// A·B + bias in one customGrad so the forward can use the fused kernel (bias added inside XNNPACK
// on wasm: one memory pass fewer than matMul followed by add).
const matMulBias = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [a, b, bias, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.fused.matMul({ a, b, bias }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      linearGrads(saved[0] as tf.Tensor2D, saved[1] as tf.Tensor2D, dy as tf.Tensor2D, true),
  };
});

function check(cond: boolean, msg: () => string): void {
  if (!cond) throw new Error(msg());
}

/** A [M,K] · B [K,N] → [M,N], differentiable in both, with the fast gradient described above. */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  check(a.rank === 2 && b.rank === 2, () => `matMul: expected two rank-2 tensors, got shapes [${a.shape}] and [${b.shape}]`);
  check(a.shape[1] === b.shape[0], () => `matMul: inner dimensions differ: [${a.shape}] · [${b.shape}]`);
  return matMulNoBias(a, b) as tf.Tensor2D;
}

/**
 * Channels-last dense layer: x [..., in] · w [in, out] (+ b [out]) → [..., out], for x of any rank
 * ≥ 1. The leading axes are folded into the rows of one 2-D matMul (never a batched matMul, which
 * wasm runs on its slow path).
 */
export function dense<R extends tf.Rank>(x: tf.Tensor<R>, w: tf.Tensor2D, b?: tf.Tensor1D | null): tf.Tensor<R> {
  check(w.rank === 2, () => `dense: weights must be [in, out], got [${w.shape}]`);
  const [nIn, nOut] = w.shape;
  check(x.rank >= 1 && x.shape[x.rank - 1] === nIn,
    () => `dense: input's last axis must be ${nIn} (weights [${w.shape}]), got input [${x.shape}]`);
  check(b == null || (b.rank === 1 && b.shape[0] === nOut), () => `dense: bias must be [${nOut}], got [${b?.shape}]`);
  return tf.tidy(() => {
    const x2 = tf.reshape(x, [-1, nIn]) as tf.Tensor2D;
    const y2 = b ? (matMulBias(x2, w, b) as tf.Tensor2D) : matMul(x2, w);
    return tf.reshape(y2, [...x.shape.slice(0, -1), nOut]) as tf.Tensor as tf.Tensor<R>;
  });
}
