/** A tiny least-squares replica for ParallelTrainer tests, with switches that make a worker misbehave. */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../src/flows/module.js';
import type { Replica, ReplicaFactory } from '../../src/train/parallel.js';

export interface ToyArgs {
  dim: number;
  /** A share whose first x value equals this throws. */
  throwOn?: number;
  /** A share whose first x value equals this gives a NaN loss. */
  nanOn?: number;
}

class Linear extends Module {
  readonly w: tf.Variable;
  readonly b: tf.Variable;
  constructor(dim: number) {
    super();
    this.w = this.addParameter('w', () => tf.randomNormal([dim, 1], 0, 1, 'float32', 7));
    this.b = this.addParameter('b', () => tf.zeros([1]));
  }
}

/** Batch: [x [B, dim], y [B, 1]]; loss: mean squared error. */
export function createToyReplica(args: ToyArgs): Replica {
  const model = new Linear(args.dim);
  return {
    model,
    loss: ([x, y]) => {
      const first = x.dataSync()[0];
      if (first === args.throwOn) throw new Error('toy replica: bad batch');
      const mse = tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x as tf.Tensor2D, model.w as tf.Tensor2D), model.b), y))) as tf.Scalar;
      return first === args.nanOn ? (tf.mul(mse, NaN) as tf.Scalar) : mse;
    },
  };
}

export function toyFactory(args: ToyArgs): ReplicaFactory<ToyArgs> {
  return { module: import.meta.url, exportName: 'createToyReplica', args };
}
