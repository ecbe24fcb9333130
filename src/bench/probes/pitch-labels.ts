// Usage: MINUTES=10 [TOL=0,0.05] npx tsx src/bench/probes/pitch-labels.ts   (needs data/speech; one wasm thread)
// Probe (docs/recipe-variants.md, follow-up 19): do octave-robust labels make a better pitch predictor?
// For each label tolerance, pretrains the product's pitch net (flowvox train --predictor's, src/train/pitch-pretrain.ts)
// for MINUTES, then measures on fixed validation segments how much its lag distribution p predicts:
// per 256-sample frame, ŷ_t = Σ_k p_k x_{t−L₀−k}, the best gain g = ⟨x, ŷ⟩/⟨ŷ, ŷ⟩, and the gain
// −½ log(1 − ρ²) in nats/sample (as the oracle of pitch-oracle.ts, which picks the best single lag per frame).
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend/index.js';
import { loadAudioSplit } from '../../io/audio-dir.js';
import { SegmentSampler } from '../../vocoder/data.js';
import { TACOTRON_MEL } from '../../dsp/mel.js';
import { DEFAULT_PITCH_PREDICTOR, MelPitchConditioner } from '../../vocoder/pitch.js';
import { pretrainPitchNet } from '../../train/pitch-pretrain.js';

const MINUTES = Number(process.env.MINUTES ?? 10), SEG = 8192, HOP = 256, B = 16;
const TOLS = (process.env.TOL ?? '0,0.05').split(',').map(Number);
await initBackend('wasm');
const data = await loadAudioSplit('data/speech', 22050);
const train = new SegmentSampler(data.train, SEG, TACOTRON_MEL), val = new SegmentSampler(data.validation, SEG, TACOTRON_MEL);
const cfg = DEFAULT_PITCH_PREDICTOR, K = cfg.max_lag - cfg.min_lag + 1, F = SEG / HOP;

function predictionGain(cond: MelPitchConditioner): { mean: number; median: number } {
  const gains: number[] = [];
  for (let i = 0; i < 8; i++) {
    const d = val.draw(8, 1_000_000 + i);
    const p = tf.tidy(() => tf.softmax(tf.slice(cond.features(tf.tensor3d(d.mel, [8, d.frames, 80])).logits, [0, 0], [-1, K])).dataSync());
    for (let n = 0; n < 8; n++) for (let f = 2; f < F; f++) {
      const o = n * SEG + f * HOP, row = (n * d.frames + f) * K;
      let xx = 0, xy = 0, yy = 0;
      for (let t = 0; t < HOP; t++) {
        let y = 0;
        for (let k = 0; k < K; k++) y += p[row + k]! * d.audio[o + t - cfg.min_lag - k]!;
        const x = d.audio[o + t]!;
        xx += x * x; xy += x * y; yy += y * y;
      }
      if (xx <= 0 || yy <= 0) continue;
      gains.push(-0.5 * Math.log(1 - Math.min((xy * xy) / (xx * yy), 0.999)));
    }
  }
  gains.sort((a, b) => a - b);
  return { mean: gains.reduce((s, v) => s + v, 0) / gains.length, median: gains[gains.length >> 1]! };
}

for (const tol of TOLS) {
  const cond = new MelPitchConditioner(80, cfg, 0);
  const r = pretrainPitchNet(cond, HOP, train, val, { minutes: MINUTES, batch: B, lagTolerance: tol });
  console.log(JSON.stringify({ lagTolerance: tol, steps: r.steps, accuracy: r.after, predictionGain: predictionGain(cond) }));
  cond.dispose();
}
