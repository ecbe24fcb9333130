/**
 * Maximum-likelihood training: minimise the mean negative log-likelihood of batches with Adam,
 * gradient clipping and a learning-rate schedule. Stops with a clear error at the first
 * non-finite loss or gradient, before touching the parameters, so no broken checkpoint is written.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '../flows/module.js';
import { Adam, type AdamOptions } from './adam.js';
import { makeSchedule, type Schedule, type ScheduleOptions } from './schedule.js';

export class NonFiniteError extends Error {
  constructor(readonly step: number, what: string, lastLoss: number | null) {
    super(
      `${what} became non-finite at step ${step}` +
        (lastLoss === null ? '' : ` (last finite loss ${lastLoss.toFixed(4)})`) +
        '; parameters were left at the previous step and no checkpoint was written. ' +
        'Try a lower learning rate, gradient clipping (clipNorm), or check the data for NaN/Inf.',
    );
    this.name = 'NonFiniteError';
  }
}

export interface StepInfo {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
  /** Wall seconds of this step. */
  seconds: number;
}

export interface TrainerOptions extends AdamOptions {
  schedule?: ScheduleOptions | Schedule;
}

export class Trainer {
  readonly optimizer: Adam;
  readonly schedule: Schedule;
  private lastLoss: number | null = null;

  constructor(readonly model: Module, opts: TrainerOptions = {}) {
    this.optimizer = new Adam(opts);
    const s = opts.schedule ?? { lr: 1e-3 };
    this.schedule = typeof s === 'function' ? s : makeSchedule(s);
  }

  /** Steps taken so far (restored with the optimizer state on resume). */
  get step(): number {
    return this.optimizer.step;
  }

  /** One optimisation step on the scalar returned by `loss` (e.g. mean NLL of a batch). */
  trainStep(loss: () => tf.Scalar): StepInfo {
    const t0 = performance.now();
    const params = this.model.namedParameters().filter(([, v]) => v.trainable);
    const { value, grads } = tf.variableGrads(loss, params.map(([, v]) => v));
    const lossValue = value.dataSync()[0];
    const byName = new Map<string, tf.Tensor>();
    for (const [n, v] of params) {
      const g = grads[v.name];
      if (g) byName.set(n, g);
    }
    const normT = Adam.globalNorm([...byName.values()]);
    const gradNorm = normT.dataSync()[0];
    normT.dispose();
    value.dispose();
    try {
      if (!Number.isFinite(lossValue)) throw new NonFiniteError(this.step + 1, 'the loss', this.lastLoss);
      if (!Number.isFinite(gradNorm)) throw new NonFiniteError(this.step + 1, 'the gradient', this.lastLoss);
      const lr = this.schedule(this.step);
      this.optimizer.apply(params, byName, lr, gradNorm);
      this.lastLoss = lossValue;
      return { step: this.step, loss: lossValue, gradNorm, lr, seconds: (performance.now() - t0) / 1000 };
    } finally {
      tf.dispose(Object.values(grads));
    }
  }

  /** Runs `steps` steps, calling `onStep` after each; returns the per-step losses. */
  fit(steps: number, batchLoss: (step: number) => tf.Scalar, onStep?: (info: StepInfo) => void | boolean): number[] {
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) {
      const info = this.trainStep(() => batchLoss(this.step));
      losses.push(info.loss);
      if (onStep?.(info) === false) break;
    }
    return losses;
  }
}

/** Mean negative log-likelihood of a batch under any model with logProb. */
export function meanNll(model: { logProb(x: tf.Tensor, context?: tf.Tensor): tf.Tensor }, x: tf.Tensor, context?: tf.Tensor): tf.Scalar {
  return tf.neg(tf.mean(model.logProb(x, context))) as tf.Scalar;
}
