/** Test models whose every layer matters. */
import * as tf from '@tensorflow/tfjs-core';
import { gaussian, mulberry32 } from '../../src/util/random.js';
import type { MelPitchConditioner } from '../../src/vocoder/pitch.js';
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

/**
 * Makes a pitch net call about half of `mel`'s frames voiced (the pitch emphasis acts on those only): a
 * random unvoiced-class column, its bias shifted by the median margin (the unvoiced logit minus the voiced
 * logits' log-sum-exp). The coefficients at emphasis 1, and so the likelihood, never read that class.
 */
export function halfVoiced(cond: MelPitchConditioner, mel: tf.Tensor3D, seed: number): void {
  const K = cond.lags;
  const [w, b] = cond.pitchVariables().slice(-2) as [tf.Variable, tf.Variable];
  tf.tidy(() => {
    w.assign(tf.concat([tf.slice(w, [0, 0], [-1, K]), tf.randomNormal([w.shape[0]!, 1], 0, 1, 'float32', seed)], 1));
    const { logits } = cond.features(mel);
    const margin = [...tf.sub(tf.slice(logits, [0, K], [-1, 1]), tf.logSumExp(tf.slice(logits, [0, 0], [-1, K]), 1, true)).dataSync()].sort((u, v) => u - v);
    const n = margin.length;
    b.assign(tf.concat([tf.slice(b, [0], [K]), tf.sub(tf.slice(b, [K], [1]), (margin[(n - 1) >> 1]! + margin[n >> 1]!) / 2)]));
  });
}
