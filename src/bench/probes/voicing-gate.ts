// Probe (docs/recipe-variants.md, follow-up 21): which frames should the pitch emphasis act on? The flow and
// its pitch predictor alone (no envelope matching), 12 test / 6 test-unseen files (first 6 s, σ 0.6, the
// model's latent scale or SCALE), per variant of the per-frame emphasis e_f (gain 0.95·tanh(e_f·pre)):
//   cN: N on every frame; softN: 1 + (N − 1)·P(voiced); tT: 6 where P(voiced) > T/100, else 1.
// Reports periodicity over the original's voiced / unvoiced frames (evaluate's), log-mel dB and MR-STFT.
// CALIBRATE=train first refits the voicing call (calibrateVoicing, BATCHES × 16 training segments).
// Usage: [MODEL=models/default] [CALIBRATE=train] VARIANTS=c1,c6,soft6,t50 npx tsx src/bench/probes/voicing-gate.ts
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { initBackend } from '../../backend/index.js';
import { loadModelDir } from '../../io/model-dir.js';
import { decodeWav } from '../../io/wav.js';
import { logMelSpectrogram, TACOTRON_MEL } from '../../dsp/mel.js';
import { framePeriodicity, voicedPeriodicity } from '../../dsp/periodicity.js';
import { dense } from '../../nn/matmul.js';
import { copySynthesis, distances, pickEvenly } from '../../vocoder/evaluate.js';
import type { MelPitchConditioner } from '../../vocoder/pitch.js';

await initBackend('wasm');
const { model } = await loadModelDir(process.env.MODEL ?? 'models/default');
const scale = process.env.SCALE ? process.env.SCALE.split(',').map(Number) : null;
if (scale) model.setLatentScale(scale);
model.setPitchEmphasis(1);
const cond = model.predictor!.conditioner as MelPitchConditioner;
if (process.env.CALIBRATE) {
  const { calibrateVoicing } = await import('../../train/pitch-pretrain.js');
  const { SegmentSampler } = await import('../../vocoder/data.js');
  const { loadAudioSplit } = await import('../../io/audio-dir.js');
  const split = await loadAudioSplit('data/speech', 22050);
  const t0 = performance.now();
  const r = calibrateVoicing(cond, 256, new SegmentSampler(process.env.CALIBRATE === 'val' ? split.validation : split.train, 8192, TACOTRON_MEL), new SegmentSampler(split.validation, 8192, TACOTRON_MEL), { batches: Number(process.env.BATCHES ?? 32) });
  console.log('calibrated', JSON.stringify(r), ((performance.now() - t0) / 1000).toFixed(1), 's');
}
const K = cond.lags, maxGain = cond.config.max_gain;
const gain = (cond as unknown as { gain: { w: tf.Tensor2D; b: tf.Tensor1D } }).gain;
type Gate = (pv: tf.Tensor2D) => tf.Tensor2D; // P(voiced) [N,1] → emphasis [N,1]
const variants: Record<string, Gate> = {};
for (const spec of (process.env.VARIANTS ?? 'c1,c6,soft6,t50').split(',')) {
  const C = Number(spec.replace(/^\D+/, ''));
  if (spec.startsWith('c')) variants[spec] = (pv) => tf.fill(pv.shape, C) as tf.Tensor2D;
  else if (spec.startsWith('soft')) variants[spec] = (pv) => tf.add(1, tf.mul(pv, C - 1));
  else if (spec.startsWith('t')) { const thr = Number(spec.slice(1)) / 100; variants[spec] = (pv) => tf.add(1, tf.mul(tf.cast(tf.greater(pv, thr), 'float32'), 5)); }
}
let gate: Gate = variants.c1!;
(cond as unknown as { coefficients: (mel: tf.Tensor3D) => tf.Tensor3D }).coefficients = (mel) => tf.tidy(() => {
  const [b, t] = mel.shape;
  const { h, logits } = cond.features(mel);
  const p = tf.softmax(tf.slice(logits, [0, 0], [-1, K]));
  const pv = tf.sub(1, tf.slice(tf.softmax(logits), [0, K], [-1, 1])) as tf.Tensor2D;
  const pre = dense(h, gain.w, gain.b);
  const g = tf.mul(tf.tanh(tf.mul(pre, gate(pv))), maxGain);
  return tf.reshape(tf.mul(g, p), [b, t, K]) as tf.Tensor3D;
});
const m = JSON.parse(readFileSync('data/speech/manifest.json', 'utf8')) as { files: { path: string; split: string }[] };
const out: Record<string, unknown> = {};
for (const split of ['test', 'test-unseen']) {
  const files = pickEvenly(m.files.filter((f) => f.split === split), split === 'test' ? 12 : 6);
  const clips = files.map((f) => {
    const x = decodeWav(readFileSync(`data/speech/${f.path}`)).samples.slice(0, 6 * 22050);
    return { x, mel: logMelSpectrogram(x, TACOTRON_MEL), ref: framePeriodicity(x) };
  });
  for (const [name, g] of Object.entries(variants)) {
    gate = g;
    let vs = 0, vn = 0, us = 0, un = 0, lm = 0, mr = 0, vo = 0, uo = 0;
    clips.forEach((c, i) => {
      const y = copySynthesis(model, c.mel, { sigma: 0.6, seed: i, length: c.x.length }).audio;
      const v = voicedPeriodicity(c.x, [y], {}, 'voiced', c.ref), u = voicedPeriodicity(c.x, [y], {}, 'unvoiced', c.ref);
      if (v.voicedFrames) { vs += v.means[0]! * v.voicedFrames; vn += v.voicedFrames; vo += v.reference * v.voicedFrames; }
      if (u.voicedFrames) { us += u.means[0]! * u.voicedFrames; un += u.voicedFrames; uo += u.reference * u.voicedFrames; }
      const d = distances(c.x, y);
      lm += d.logMelDb / clips.length; mr += d.mrStft / clips.length;
    });
    const r = { voiced: +(vs / vn).toFixed(3), unvoiced: +(us / un).toFixed(3), origV: +(vo / vn).toFixed(3), origU: +(uo / un).toFixed(3), logMel: +lm.toFixed(2), mrStft: +mr.toFixed(3) };
    out[`${split}/${name}`] = r;
    console.log(split, name, JSON.stringify(r));
  }
}
console.log(JSON.stringify(out));
