// Figure docs/pitch-emphasis.png (test) and docs/pitch-emphasis-unseen.png: one clip, 0–2 kHz: the original, the flow
// and its pitch predictor alone at the pitch emphasis on every frame (the unvoiced class forced off, as before
// follow-up 21), gated on the net's voicing (now), and the shipped chain.
// Usage: [MODEL=models/default] [CLIP=cs/gods/b1-dobre SPLIT=unseen] OUT=docs/pitch-emphasis-unseen.png npx tsx src/bench/probes/pitch-emphasis-figure.ts
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync, writeFileSync } from 'node:fs';
import { initBackend } from '../../backend/index.js';
import { loadModelDir } from '../../io/model-dir.js';
import { decodeWav } from '../../io/wav.js';
import { logMelSpectrogram, TACOTRON_MEL } from '../../dsp/mel.js';
import { copySynthesis, spectrogramStack } from '../../vocoder/evaluate.js';
import type { MelPitchConditioner } from '../../vocoder/pitch.js';

await initBackend('wasm');
const dir = process.env.MODEL ?? 'models/default';
const id = process.env.CLIP ?? 'cs/gods/b1-dobre';
const split = process.env.SPLIT ?? 'unseen';
const { model, config } = await loadModelDir(dir);
const x = decodeWav(readFileSync(`data/speech/${id}.wav`)).samples.slice(0, 6 * 22050);
const mel = logMelSpectrogram(x, TACOTRON_MEL);
const C = model.pitchEmphasis;
const env = config.synthesis?.envelope_iterations ?? 0;
const syn = (envelope: number) => copySynthesis(model, mel, { sigma: 0.6, seed: 0, length: x.length, envelope }).audio;
model.setLatentScale([0, 1, 1, 1]);
const gated = syn(0);
const cond = model.predictor!.conditioner as MelPitchConditioner;
const b = cond.pitchVariables().at(-1)!;
const saved = b.clone();
tf.tidy(() => b.assign(tf.concat([tf.slice(b, [0], [cond.lags]), tf.tensor1d([-100])]))); // every frame voiced
const everywhere = syn(0);
b.assign(saved);
model.setLatentScale(config.synthesis!.latent_scale!);
const shipped = syn(env);
const c = spectrogramStack([
  { title: 'original', audio: x },
  { title: `alone, latent [0,1,1,1], emphasis ${C}, every frame (before)`, audio: everywhere },
  { title: `alone, latent [0,1,1,1], emphasis ${C}, voiced frames (now)`, audio: gated },
  { title: `shipped: [${config.synthesis!.latent_scale!.join(',')}], + ${env} envelope iterations`, audio: shipped },
], 22050, { title: `${id} (${split}), 0-2 kHz`, maxHz: 2000 });
writeFileSync(process.env.OUT ?? 'docs/pitch-emphasis.png', c.toPng());
