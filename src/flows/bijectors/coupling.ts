/**
 * Shared partition logic of coupling layers (seed 002, NICE and RealNVP): one part of the input
 * passes through unchanged and conditions an invertible elementwise map of the other part.
 *  - mask:  a binary mask m over the last axis; the conditioner sees m ⊙ x, the map acts on (1 − m).
 *  - split: the first `split` channels condition the rest (WaveGlow's channel halves).
 */
import * as tf from '@tensorflow/tfjs-core';
import { splitLast } from './util.js';

export type Partition = { mask: number[] } | { split: number };

export interface Parts {
  /** What the conditioner sees. */
  conditionerInput: tf.Tensor;
  /** The part the elementwise map transforms. */
  active: tf.Tensor;
  /** Reassembles the full tensor from the (unchanged) passive part and the new active part. */
  combine(newActive: tf.Tensor): tf.Tensor;
  /** Width of the active part (per position) — the conditioner's output width per parameter. */
  activeWidth: number;
  /** Zero the parameters on passive coordinates (mask partitions) before summing log-dets. */
  restrict(param: tf.Tensor): tf.Tensor;
}

/** Mask tensors (m, 1 − m), built once per coupling layer. */
export type MaskTensors = [tf.Tensor1D, tf.Tensor1D] | null;

export function maskTensors(p: Partition): [tf.Tensor1D, tf.Tensor1D] | null {
  return 'mask' in p ? [tf.tensor1d(p.mask), tf.tensor1d(p.mask.map((v) => 1 - v))] : null;
}

export function partition(x: tf.Tensor, p: Partition, masks: MaskTensors): Parts {
  const d = x.shape[x.rank - 1]!;
  if ('mask' in p) {
    if (p.mask.length !== d) throw new Error(`coupling mask has ${p.mask.length} entries for ${d} features`);
    const [m, inv] = masks!;
    return {
      conditionerInput: tf.mul(x, m),
      active: x,
      combine: (a) => tf.add(tf.mul(x, m), tf.mul(a, inv)),
      activeWidth: d,
      restrict: (param) => tf.mul(param, inv),
    };
  }
  if (!(p.split > 0 && p.split < d)) throw new Error(`coupling split ${p.split} must lie in 1..${d - 1}`);
  const [a, b] = splitLast(x, p.split);
  return {
    conditionerInput: a,
    active: b,
    combine: (nb) => tf.concat([a, nb], -1),
    activeWidth: d - p.split,
    restrict: (param) => param,
  };
}

/** Alternating binary masks [1,0,1,0…] / [0,1,0,1…], as RealNVP alternates which half is fixed. */
export function alternatingMask(dim: number, parity: 0 | 1): number[] {
  return Array.from({ length: dim }, (_, i) => ((i + parity) % 2 === 0 ? 1 : 0));
}
