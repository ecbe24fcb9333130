import type * as tf from '@tensorflow/tfjs-core';
import type { Module } from '../flows/module.js';

/**
 * A conditioner network for coupling and autoregressive flows: any Module that maps the
 * conditioning half of the input (and an optional context) to transform parameters.
 */
export interface Conditioner extends Module {
  apply(input: tf.Tensor, context?: tf.Tensor): tf.Tensor;
}
