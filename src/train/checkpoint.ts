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

/** float32 → IEEE half bits (round to nearest even), for shipping weights at half the size. */
function toFloat16Bits(x: Float32Array): Uint16Array {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    f[0] = x[i];
    const b = u[0];
    const sign = (b >>> 16) & 0x8000;
    const exp = (b >>> 23) & 0xff;
    let mant = b & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    let e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00; // overflow → ±Inf
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign; // underflow → ±0
        continue;
      }
      mant = (mant | 0x800000) >>> (1 - e);
      e = 0;
      out[i] = sign | ((mant + 0xfff + ((mant >>> 13) & 1)) >>> 13);
      continue;
    }
    const h = sign | (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    out[i] = h + (rest > 0x1000 || (rest === 0x1000 && (h & 1)) ? 1 : 0);
  }
  return out;
}

/**
 * Parameters stored as IEEE half floats (tfjs's `quantization: {dtype: 'float16'}`), decoded to float32;
 * those named in `keep` stay float32 (tfjs reads a mixed list entry by entry).
 */
async function encodeFloat16(named: tf.NamedTensorMap, keep: ReadonlySet<string>): Promise<{ data: ArrayBuffer; specs: tf.io.WeightsManifestEntry[] }> {
  const parts: Uint8Array[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const [name, t] of Object.entries(named)) {
    const values = (await t.data()) as Float32Array;
    if (keep.has(name)) {
      parts.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      specs.push({ name, shape: t.shape, dtype: 'float32' });
    } else {
      parts.push(new Uint8Array(toFloat16Bits(values).buffer));
      specs.push({ name, shape: t.shape, dtype: 'float32', quantization: { dtype: 'float16' } });
    }
  }
  const all = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.byteLength;
  }
  return { data: all.buffer, specs };
}

export interface SerializeOptions {
  /** 'float16' halves the file (for shipped models); checkpoints stay float32 for exact resume. */
  dtype?: 'float32' | 'float16';
  /** With 'float16': parameters to keep in float32 all the same (see `WaveGlow.precisionSensitive`). */
  float32?: ReadonlySet<string>;
  /** More named tensors to keep in a checkpoint (e.g. a parameter average, `ema.<name>`). */
  extra?: [string, tf.Tensor][];
}

/** Encodes the model's parameters (and, for a checkpoint, the optimizer's moments). */
export async function serialize(model: Module, optimizer?: Adam, meta?: Record<string, unknown>, opts: SerializeOptions = {}): Promise<SerializedWeights> {
  const named: tf.NamedTensorMap = {};
  for (const [n, v] of model.namedParameters()) named[n] = v;
  if (optimizer) for (const [n, t] of optimizer.state()) named[n] = t;
  // Training state beside the parameters (checkpoints only): what makes --resume exact.
  if (optimizer) for (const [n, t] of model.namedState()) named[n] = t;
  for (const [n, t] of opts.extra ?? []) named[n] = t;
  if (opts.dtype === 'float16' && optimizer) throw new Error('checkpoints with optimizer state are stored in float32');
  const { data, specs } = opts.dtype === 'float16' ? await encodeFloat16(named, opts.float32 ?? new Set()) : await tf.io.encodeWeights(named);
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
  const bytesPer = (w: tf.io.WeightsManifestEntry) => (w.quantization?.dtype === 'float16' || w.quantization?.dtype === 'uint16' ? 2 : w.quantization?.dtype === 'uint8' ? 1 : 4);
  const expected = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * bytesPer(w), 0);
  if (data.byteLength !== expected) {
    throw new Error(`weights file has ${data.byteLength} bytes but the manifest describes ${expected}: the file is truncated or does not belong to this manifest`);
  }
  const buf = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  return new Map(Object.entries(tf.io.decodeWeights(buf, specs)));
}

/** Loads parameters (and optimizer state when given) from decoded tensors. */
export function restore(model: Module, tensors: Map<string, tf.Tensor>, optimizer?: Adam, step?: number): void {
  model.loadParameters(tensors);
  if (optimizer) {
    optimizer.loadState(tensors, step ?? 0);
    model.loadState(tensors);
  }
}
