/** Generic numerical checks every bijector must pass (used by test/flows.bijectors.test.ts). */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import type { Bijector, Context } from '../../src/flows/bijector.js';
import type { Module } from '../../src/flows/module.js';
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
      // Outputs are flattened per example: shape-changing bijectors (squeezes) are checked too.
      const sel = tf.reshape(tf.oneHot(i, d), [1, d]);
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.reshape(f(t), [batch, -1]), sel)))(z);
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

/** Gives every trainable parameter non-trivial random values, so identity inits prove nothing. */
export function randomize<B extends Bijector>(b: B, seed = 1, scale = 0.3): B {
  b.trainableVariables().forEach((v, i) => tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, scale, 'float32', seed + i))));
  return b;
}

export interface BijectorCase {
  name: string;
  make: () => Bijector;
  /** A point of the forward (generative) domain. */
  input: () => tf.Tensor;
  context?: () => tf.Tensor;
  /** Tolerances, for bijectors whose inverse is iterative (defaults: 1e-4, 2e-3). */
  roundTripTol?: number;
  logDetTol?: number;
}

/** Registers the generic checks for each case: one line per bijector in a CASES list. */
export function describeBijectors(title: string, cases: BijectorCase[], backend = 'cpu'): void {
  describe(title, () => {
    beforeAll(async () => {
      await initBackend(backend);
    });
    it.each(cases.map((c) => [c.name, c] as const))('%s: round trip, log-det vs numerical Jacobian, inverse = −forward', (_n, c) => {
      const before = tf.memory().numTensors;
      const b = c.make();
      const z = c.input();
      const ctx = c.context?.();
      const r = checkBijector(b, z, ctx);
      expect(r.roundTripErr).toBeLessThan(c.roundTripTol ?? 1e-4);
      expect(r.inverseRoundTripErr).toBeLessThan(c.roundTripTol ?? 1e-4);
      expect(r.logDetErr).toBeLessThan(c.logDetTol ?? 2e-3);
      expect(r.inverseLogDetErr).toBeLessThan(c.logDetTol ?? 1e-4);
      tf.dispose([z, ...(ctx ? [ctx] : [])]);
      (b as unknown as Module).dispose();
      // dispose() frees parameters and constants: nothing may remain.
      expect(tf.memory().numTensors - before).toBe(0);
    });
  });
}
