/** Generic numerical checks every bijector must pass (used by test/flows.bijectors.test.ts). */
import * as tf from '@tensorflow/tfjs-core';
import type { Bijector, Context } from '../../src/flows/bijector.js';
import { slogdetHost } from '../../src/nn/linalg.js';

/**
 * Per-example Jacobian of f at z by reverse-mode autodiff, one output coordinate at a time.
 * Examples are independent, so d(Σ_b y[b, i])/dz[b, :] is row i of example b's Jacobian.
 */
export function jacobians(f: (z: tf.Tensor) => tf.Tensor, z: tf.Tensor): Float64Array[] {
  const batch = z.shape[0];
  const d = z.size / batch;
  const jac = Array.from({ length: batch }, () => new Float64Array(d * d));
  for (let i = 0; i < d; i++) {
    const g = tf.tidy(() => {
      const sel = tf.reshape(tf.oneHot(i, d), [1, ...z.shape.slice(1)]);
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), sel)))(z);
    });
    const gd = g.dataSync();
    g.dispose();
    for (let b = 0; b < batch; b++) for (let k = 0; k < d; k++) jac[b][i * d + k] = gd[b * d + k];
  }
  return jac;
}

export function numericLogDets(f: (z: tf.Tensor) => tf.Tensor, z: tf.Tensor): number[] {
  const d = z.size / z.shape[0];
  return jacobians(f, z).map((j) => slogdetHost(j, d).logAbsDet);
}

export interface CheckResult {
  roundTripErr: number;
  inverseRoundTripErr: number;
  logDetErr: number;
  inverseLogDetErr: number;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Runs the round-trip and log-det checks at z (a point of the forward domain). */
export function checkBijector(b: Bijector, z: tf.Tensor, context?: Context): CheckResult {
  return tf.tidy(() => {
    const [x, fld] = b.forwardAndLogDet(z, context);
    const [zBack, ild] = b.inverseAndLogDet(x, context);
    const xBack = b.forward(zBack, context);
    const num = numericLogDets((t) => b.forward(t, context), z);
    const numInv = numericLogDets((t) => b.inverse(t, context), x);
    return {
      roundTripErr: maxAbsDiff(zBack.dataSync(), z.dataSync()),
      inverseRoundTripErr: maxAbsDiff(xBack.dataSync(), x.dataSync()),
      logDetErr: Math.max(maxAbsDiff(fld.dataSync(), num), maxAbsDiff(ild.dataSync(), numInv)),
      inverseLogDetErr: maxAbsDiff(ild.dataSync(), Array.from(fld.dataSync(), (v) => -v)),
    };
  });
}
