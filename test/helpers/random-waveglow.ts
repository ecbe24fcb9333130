/** Test models whose every layer matters. */
import * as tf from '@tensorflow/tfjs-core';
import { gaussian, mulberry32 } from '../../src/util/random.js';
import type { WaveGlow } from '../../src/vocoder/waveglow.js';

/**
 * Random weights in every coupling network (a fresh WaveGlow's zero-initialised ends would ignore
 * the mel), fan-in scaled, with the log-scale half of each end layer kept small so outputs stay finite.
 */
export function randomizeCouplings(m: WaveGlow, seed: number): void {
  const randn = gaussian(mulberry32(seed));
  const values = new Map<string, tf.Tensor>();
  for (const [name, v] of m.namedParameters()) {
    // A pitch predictor keeps its own initialisation (tests set its gain).
    if (!name.includes('.net.') || name.startsWith('predictor.')) {
      values.set(name, v.clone());
      continue;
    }
    const fanIn = v.shape.length === 3 ? v.shape[0]! * v.shape[1]! : v.shape.length === 2 ? v.shape[0]! : 16;
    const cols = v.shape[v.shape.length - 1]!;
    const end = name.includes('.end.');
    values.set(name, tf.tensor(Float32Array.from({ length: v.size }, (_, i) => (randn() * (end && i % cols >= cols / 2 ? 0.05 : 1)) / Math.sqrt(fanIn)), v.shape));
  }
  m.loadParameters(values);
  tf.dispose([...values.values()]);
}
