/**
 * Model and checkpoint serialisation in tfjs's weights convention: a JSON manifest
 * (`weightsManifest: [{paths: ['weights.bin'], weights: [{name, shape, dtype}]}]`) plus one binary
 * file. Isomorphic: produces/consumes bytes; src/io writes them atomically.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '../flows/module.js';
import type { Adam } from './adam.js';

export interface WeightsManifest {
  format: 'flowvox-weights';
  version: 1;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  /** Training state, present in checkpoints. */
  step?: number;
  meta?: Record<string, unknown>;
}

export interface SerializedWeights {
  manifest: WeightsManifest;
  data: Uint8Array;
}

/** Encodes the model's parameters (and, for a checkpoint, the optimizer's moments). */
export async function serialize(model: Module, optimizer?: Adam, meta?: Record<string, unknown>): Promise<SerializedWeights> {
  const named: tf.NamedTensorMap = {};
  for (const [n, v] of model.namedParameters()) named[n] = v;
  if (optimizer) for (const [n, t] of optimizer.state()) named[n] = t;
  const { data, specs } = await tf.io.encodeWeights(named);
  return {
    manifest: {
      format: 'flowvox-weights',
      version: 1,
      weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
      ...(optimizer ? { step: optimizer.step } : {}),
      ...(meta ? { meta } : {}),
    },
    data: new Uint8Array(data),
  };
}

/** Decodes bytes into named tensors (the caller disposes them). */
export function decode(manifest: WeightsManifest, data: Uint8Array): Map<string, tf.Tensor> {
  if (manifest.format !== 'flowvox-weights') throw new Error(`not a flowvox weights manifest (format: ${String(manifest.format)})`);
  const specs = manifest.weightsManifest.flatMap((g) => g.weights);
  const expected = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (data.byteLength !== expected) {
    throw new Error(`weights file has ${data.byteLength} bytes but the manifest describes ${expected}: the file is truncated or does not belong to this manifest`);
  }
  const buf = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  return new Map(Object.entries(tf.io.decodeWeights(buf, specs)));
}

/** Loads parameters (and optimizer state when given) from decoded tensors. */
export function restore(model: Module, tensors: Map<string, tf.Tensor>, optimizer?: Adam, step?: number): void {
  model.loadParameters(tensors);
  if (optimizer) optimizer.loadState(tensors, step ?? 0);
}
