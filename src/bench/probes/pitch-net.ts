// Usage: MINUTES=12 npx tsx src/bench/probes/pitch-net.ts   (needs data/speech; writes runs/ltp/pitchnet.json)
// Probe (follow-up 18): can a small MLP read the pitch lag from the mel? Labels: NCCF argmax lag of the audio per frame.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend/index.js';
import { loadAudioSplit } from '../../io/audio-dir.js';
import { SegmentSampler } from '../../vocoder/data.js';
import { TACOTRON_MEL } from '../../dsp/mel.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { matMul as mm } from '../../nn/matmul.js';
import { F, HOP, K, LMAX, LMIN, NET_INPUT, SEG, melInput } from './pitch-common.js';

const B = Number(process.env.B ?? 16), MINUTES = Number(process.env.MINUTES ?? 10), HID = 512;
await initBackend('wasm');
const data = await loadAudioSplit('data/speech', 22050);
const train = new SegmentSampler(data.train, SEG, TACOTRON_MEL), val = new SegmentSampler(data.validation, SEG, TACOTRON_MEL);

/** Per frame (samples f·HOP … +HOP, window 768 centred there): best lag and its NCCF, or -1 if unvoiced. */
function labels(audio: Float32Array, b: number): { lag: Int32Array; r: Float32Array } {
  const lag = new Int32Array(b * F).fill(-1), rr = new Float32Array(b * F);
  const W = 512;
  const P = LMAX + W;
  const xp = new Float64Array(P + SEG + W);
  for (let n = 0; n < b; n++) {
    xp.fill(0); for (let t = 0; t < SEG; t++) xp[P + t] = audio[n * SEG + t]!;
    for (let f = 0; f < F; f++) {
      const s = P + f * HOP + HOP / 2 - W / 2;
      let e0 = 0; for (let i = 0; i < W; i++) e0 += xp[s + i]! * xp[s + i]!;
      if (e0 < 1e-6) continue;
      let el = 0; for (let i = 0; i < W; i++) el += xp[s - LMIN + i]! ** 2;
      let best = 0, bl = -1;
      for (let L = LMIN; L <= LMAX; L++) {
        if (L > LMIN) el += xp[s - L]! ** 2 - xp[s - L + W]! ** 2;
        let dot = 0;
        for (let i = 0; i < W; i++) dot += xp[s + i]! * xp[s - L + i]!;
        if (el <= 1e-12) continue;
        const r = dot / Math.sqrt(e0 * el);
        if (r > best) { best = r; bl = L; }
      }
      rr[n * F + f] = best;
      if (best >= 0.6) lag[n * F + f] = bl;
    }
  }
  return { lag, r: rr };
}
/** Soft targets: Gaussian in log-lag (σ 2 %) around the label; class K = unvoiced. */
function targets(lag: Int32Array): Float32Array {
  const out = new Float32Array(lag.length * (K + 1));
  for (let i = 0; i < lag.length; i++) {
    const L = lag[i]!;
    if (L < 0) { out[i * (K + 1) + K] = 1; continue; }
    let s = 0;
    for (let k = 0; k < K; k++) { const d = Math.log((LMIN + k) / L) / 0.02; const v = d * d < 20 ? Math.exp(-0.5 * d * d) : 0; out[i * (K + 1) + k] = v; s += v; }
    for (let k = 0; k < K; k++) out[i * (K + 1) + k] /= s;
  }
  return out;
}
const init = (r: number, c: number) => tf.variable(tf.randomNormal([r, c], 0, Math.sqrt(2 / r))) as tf.Variable<tf.Rank.R2>;
const W1 = init(NET_INPUT, HID), b1 = tf.variable(tf.zeros([HID])), W2 = init(HID, HID), b2 = tf.variable(tf.zeros([HID]));
const W3 = tf.variable(tf.zeros([HID, K + 1])) as tf.Variable<tf.Rank.R2>, b3 = tf.variable(tf.zeros([K + 1]));
const logits = (m: tf.Tensor2D) => tf.add(mm(tf.relu(tf.add(mm(tf.relu(tf.add(mm(m, W1), b1)) as tf.Tensor2D, W2), b2)) as tf.Tensor2D, W3), b3) as tf.Tensor2D;
const opt = tf.train.adam(1e-3);
const valSets = Array.from({ length: 6 }, (_, i) => { const d = val.draw(B, 1_000_000 + i); return { m: melInput(d.mel, B, d.frames), l: labels(d.audio, B).lag }; });
function evaluate() {
  let voiced = 0, hit = 0, vuErr = 0, n = 0;
  for (const v of valSets) {
    const p = tf.tidy(() => tf.argMax(logits(tf.tensor2d(v.m, [B * F, NET_INPUT])), 1).dataSync());
    for (let i = 0; i < v.l.length; i++) {
      n++;
      const L = v.l[i]!, k = p[i]!;
      if ((L < 0) !== (k === K)) vuErr++;
      if (L >= 0) { voiced++; if (k < K && Math.abs(Math.log((LMIN + k) / L)) < 0.03) hit++; }
    }
  }
  return { voicedShare: voiced / n, within3pct: hit / voiced, vuError: vuErr / n };
}
const t0 = Date.now(); let step = 0;
console.log(JSON.stringify({ step, ...evaluate() }));
while (Date.now() - t0 < MINUTES * 60_000) {
  const d = train.draw(B, step + 1);
  const lab = labels(d.audio, B);
  const m = tf.tensor2d(melInput(d.mel, B, d.frames), [B * F, NET_INPUT]), y = tf.tensor2d(targets(lab.lag), [B * F, K + 1]);
  const loss = opt.minimize(() => tf.mean(tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(logits(m))), 1))) as tf.Scalar, true)!;
  const l = loss.dataSync()[0]; tf.dispose([loss, m, y]);
  step++;
  if (step % 100 === 0) console.log(JSON.stringify({ step, min: +((Date.now() - t0) / 60000).toFixed(1), loss: l, ...evaluate() }));
}
console.log(JSON.stringify({ final: true, step, ...evaluate() }));
const w = await Promise.all([W1, b1, W2, b2, W3, b3].map((v) => v.data()));
mkdirSync('runs/ltp', { recursive: true });
writeFileSync('runs/ltp/pitchnet.json', JSON.stringify(w.map((a) => Array.from(a))));
