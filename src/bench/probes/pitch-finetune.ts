// Usage: MODEL=DIR MINUTES=40 [LR_HEAD=0] [OUT=runs/ltp/ft] npx tsx src/bench/probes/pitch-finetune.ts
// (after pitch-net.ts; follow-up 18 of docs/recipe-variants.md)
// Probe (follow-up 18): the default voice + a mel-conditioned long-term (pitch) predictor at its output, fine-tuned by likelihood.
//   generative:   x_t = e_t + Σ_k a_f[k]·x_{t−L_k}   (IIR, sequential; log|det| = 0, unit triangular)
//   normalizing:  e_t = x_t − Σ_k a_f[k]·x_{t−L_k}   (parallel)
//   a_f = g_f·p_f: p_f the frozen pitch net's lag distribution, g_f = 0.95·tanh(head(h_f)) (starts at 0: the voice unchanged).
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync, writeFileSync } from 'node:fs';
import { initBackend } from '../../backend/index.js';
import { loadAudioSplit } from '../../io/audio-dir.js';
import { loadModelDir } from '../../io/model-dir.js';
import { SegmentSampler } from '../../vocoder/data.js';
import { TACOTRON_MEL, logMelSpectrogram } from '../../dsp/mel.js';
import { WaveGlow } from '../../vocoder/waveglow.js';
import { matMul as mm } from '../../nn/matmul.js';
import { voicedPeriodicity } from '../../dsp/periodicity.js';
import { decodeWav, encodeWav } from '../../io/wav.js';
import { ContextCoefficients, LongTermPredictor } from '../../flows/index.js';
import { spectrogramStack } from '../../vocoder/evaluate.js';
import { F, HOP, K, LMIN, NET_INPUT, SEG, melInput } from './pitch-common.js';

const B = 16, MINUTES = Number(process.env.MINUTES ?? 50), LR_FLOW = Number(process.env.LR_FLOW ?? 2.5e-6), LR_HEAD = Number(process.env.LR_HEAD ?? 1e-3);
const OUT = process.env.OUT ?? 'runs/ltp/ft';
await initBackend('wasm');
const { model } = await loadModelDir(process.env.MODEL ?? 'models/default');
const data = await loadAudioSplit('data/speech', 22050);
const train = new SegmentSampler(data.train, SEG, TACOTRON_MEL), val = new SegmentSampler(data.validation, SEG, TACOTRON_MEL);

const pw = (JSON.parse(readFileSync(process.env.PITCH ?? 'runs/ltp/pitchnet.json', 'utf8')) as number[][]).map((a) => new Float32Array(a));
const [W1, b1, W2, b2, W3, b3] = [tf.tensor2d(pw[0]!, [NET_INPUT, 512]), tf.tensor1d(pw[1]!), tf.tensor2d(pw[2]!, [512, 512]), tf.tensor1d(pw[3]!), tf.tensor2d(pw[4]!, [512, K + 1]), tf.tensor1d(pw[5]!)];
const wg = tf.variable(tf.zeros([512, 1]), true, 'ltp_wg') as tf.Variable<tf.Rank.R2>, bg = tf.variable(tf.zeros([1]), true, 'ltp_bg');

/** Frozen pitch features for frames: hidden h [N, 512] and the lag distribution p [N, K] (voiced part, renormalised). */
function pitchFeatures(m: tf.Tensor2D): { h: tf.Tensor2D; p: tf.Tensor2D } {
  return tf.tidy(() => {
    const h = tf.relu(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(m, W1), b1)), W2), b2)) as tf.Tensor2D;
    const logits = tf.slice(tf.add(tf.matMul(h, W3), b3), [0, 0], [-1, K]);
    return { h, p: tf.softmax(logits) as tf.Tensor2D };
  }) as { h: tf.Tensor2D; p: tf.Tensor2D };
}
const coeffs = (h: tf.Tensor2D, p: tf.Tensor2D) => tf.mul(tf.mul(0.95, tf.tanh(tf.add(mm(h, wg), bg))), p) as tf.Tensor2D;

/** The predictor itself; its coefficients are computed here, so they come in as the context. */
const ltp = new LongTermPredictor(new ContextCoefficients(), { minLag: LMIN, frame: HOP });
function residual(d: { audio: Float32Array; mel: Float32Array; frames: number }, b: number) {
  const m = tf.tensor2d(melInput(d.mel, b, d.frames), [b * F, NET_INPUT]);
  const { h, p } = pitchFeatures(m);
  const x = tf.tensor2d(d.audio, [b, SEG]);
  const mel = tf.tensor3d(d.mel, [b, d.frames, 80]);
  tf.dispose(m);
  return { h, p, x, mel };
}
const residualLoss = (r: ReturnType<typeof residual>, useLtp = true) => {
  const e = useLtp ? ltp.inverse(r.x, tf.reshape(coeffs(r.h, r.p), [B, F, K])) : r.x;
  return model.loss(e as tf.Tensor2D, r.mel);
};
const valSets = Array.from({ length: 8 }, (_, i) => val.draw(B, 1_000_000 + i));
function validate(useLtp = true): { nll: number; meanG: number } {
  let tot = 0, g = 0;
  for (const d of valSets) {
    const r = residual(d, B);
    tot += tf.tidy(() => WaveGlow.nllPerSample(residualLoss(r, useLtp).dataSync()[0]!));
    g += tf.tidy(() => tf.mean(tf.sum(coeffs(r.h, r.p), 1)).dataSync()[0]!);
    tf.dispose(Object.values(r));
  }
  return { nll: tot / valSets.length, meanG: g / valSets.length };
}

const flowParams = model.namedParameters().filter(([, v]) => v.trainable).map(([, v]) => v);
const optFlow = tf.train.adam(LR_FLOW), optHead = tf.train.adam(LR_HEAD);
const log = (o: object) => { const s = JSON.stringify(o); console.log(s); writeFileSync(`${OUT}.log`, s + '\n', { flag: 'a' }); };
log({ step: 0, start: validate(false), ...validate() });
const t0 = Date.now(); let step = 0;
while (Date.now() - t0 < MINUTES * 60_000) {
  const r = residual(train.draw(B, 5_000_000 + step), B);
  const { value, grads } = tf.variableGrads(() => residualLoss(r) as tf.Scalar, [...flowParams, wg, bg]);
  const l = value.dataSync()[0]!;
  if (!Number.isFinite(l)) throw new Error(`non-finite loss at ${step}`);
  optHead.applyGradients([{ name: wg.name, tensor: grads[wg.name]! }, { name: bg.name, tensor: grads[bg.name]! }]);
  if (LR_FLOW > 0) optFlow.applyGradients(Object.fromEntries(flowParams.map((v) => [v.name, grads[v.name]!]).filter(([, g]) => g)));
  tf.dispose([value, ...Object.values(grads), ...Object.values(r)]);
  step++;
  if (step % Number(process.env.EVERY ?? 250) === 0) log({ step, min: +((Date.now() - t0) / 60000).toFixed(1), loss: l, ...validate() });
}
log({ final: true, step, ...validate() });
writeFileSync(`${OUT}-head.json`, JSON.stringify([Array.from(wg.dataSync()), Array.from(bg.dataSync())]));

// Generation: flow sample e, then the predictor's recursion. Periodicity over the original's voiced frames.
const manifest = JSON.parse(readFileSync('data/speech/manifest.json', 'utf8')) as { files: { path: string; split: string }[] };
const files = manifest.files.filter((f) => f.split === 'validation').slice(0, Number(process.env.NFILES ?? 24));
const res: number[][] = [];
for (const [i, f] of files.entries()) {
  const audio = decodeWav(new Uint8Array(readFileSync(`data/speech/${f.path}`))).samples.slice(0, 6 * 22050);
  const lm = logMelSpectrogram(audio);
  const T = lm.frames, nf = T; // T·HOP samples
  const [eArr, aArr] = tf.tidy(() => {
    const mel = tf.tensor3d(lm.data, [1, T, 80]);
    const e = model.synthesize(mel, { sigma: 0.6, seed: i });
    const { h, p } = pitchFeatures(tf.tensor2d(melInput(lm.data, 1, T, 0, nf), [nf, NET_INPUT]));
    return [e.dataSync() as Float32Array, coeffs(h, p).dataSync() as Float32Array];
  });
  const x = tf.tidy(() => ltp.forward(tf.tensor2d(eArr, [1, eArr.length]), tf.tensor3d(aArr, [1, nf, K]))).dataSync() as Float32Array;
  const ref = audio.subarray(0, Math.min(audio.length, x.length));
  const pr = voicedPeriodicity(ref, [x.subarray(0, ref.length), eArr.subarray(0, ref.length)]);
  res.push([pr.reference, ...pr.means]);
  if (i < 3) {
    writeFileSync(`${OUT}-${i}-ltp.wav`, encodeWav(x, 22050));
    writeFileSync(`${OUT}-${i}-flow.wav`, encodeWav(eArr, 22050));
    writeFileSync(`${OUT}-${i}-orig.wav`, encodeWav(ref, 22050));
    const rows = [{ title: 'original', audio: ref }, { title: 'flow alone (residual e, sigma 0.6)', audio: eArr }, { title: 'flow + pitch predictor (x)', audio: x }];
    writeFileSync(`${OUT}-${i}.png`, spectrogramStack(rows, 22050, { title: `validation file ${i}`, maxHz: 2000 }).toPng());
  }
}
const mean = (j: number) => res.reduce((s, r) => s + (Number.isNaN(r[j]!) ? 0 : r[j]!), 0) / res.filter((r) => !Number.isNaN(r[j]!)).length;
log({ periodicity: { original: mean(0), withPredictor: mean(1), flowOnly: mean(2) } });
