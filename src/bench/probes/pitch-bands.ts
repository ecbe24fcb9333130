// Probe (docs/recipe-variants.md, follow-up 20): is one gain per frame enough for the pitch predictor, or
// would a gain per frequency band predict more? And how far is the trained gain from the best one?
// Usage: [MODEL=models/default] npx tsx src/bench/probes/pitch-bands.ts   (needs data/speech; one wasm thread)
// On 48 fixed validation segments, per 256-sample frame that the model's predictor acts on (|g_f| ≥ 0.05):
// ŷ = Σ_k p_k x_{t−L₀−k} (the pitch net's lag distribution at unit gain), x and ŷ split into bands by
// linear-phase low-pass FIRs (63-tap Hann-windowed sinc, so band sums give back the signal).
// Per band b, summed over frames: the residual energy ratio r_b(g) = ‖x_b − g·ŷ_b‖² / ‖x_b‖² at the
// model's own g_f, at the best single gain, and at each band's best gain. "Whitened" weighs each band's
// −½ log r_b by its bandwidth instead of its energy: roughly what a flow that models the spectral
// envelope gains (the raw figure is dominated by the loud low band).
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend/index.js';
import { loadAudioSplit } from '../../io/audio-dir.js';
import { loadModelDir } from '../../io/model-dir.js';
import { SegmentSampler } from '../../vocoder/data.js';
import { TACOTRON_MEL } from '../../dsp/mel.js';
import type { MelPitchConditioner } from '../../vocoder/pitch.js';

const SEG = 8192, HOP = 256, F = SEG / HOP, B = 8, BATCHES = 6, TAPS = 31, SR = 22050;
const EDGES = [0, 500, 1000, 2000, 4000, SR / 2];
await initBackend('wasm');
const { model } = await loadModelDir(process.env.MODEL ?? 'models/default');
if (!model.predictor) throw new Error('the model has no pitch predictor');
const cond = model.predictor.conditioner as MelPitchConditioner;
const { min_lag: L0, max_lag } = cond.config, K = max_lag - L0 + 1;
const val = new SegmentSampler((await loadAudioSplit('data/speech', SR)).validation, SEG, TACOTRON_MEL);

function lowpass(cut: number): Float64Array {
  const h = new Float64Array(2 * TAPS + 1), wc = (2 * Math.PI * cut) / SR;
  for (let j = -TAPS; j <= TAPS; j++) h[j + TAPS] = (j === 0 ? wc / Math.PI : Math.sin(wc * j) / (Math.PI * j)) * (0.5 + 0.5 * Math.cos((Math.PI * j) / (TAPS + 1)));
  const s = h.reduce((a, v) => a + v, 0);
  return h.map((v) => v / s); // unit gain at DC
}
const filters = EDGES.slice(1, -1).map(lowpass);
/** x (length SEG) → one signal per band: low-pass differences, the last band x minus the top low-pass. */
function bands(x: Float32Array): Float64Array[] {
  const out: Float64Array[] = [];
  let prev = new Float64Array(SEG);
  for (const h of filters) {
    const y = new Float64Array(SEG);
    for (let t = 0; t < SEG; t++) {
      let s = 0;
      for (let j = -TAPS; j <= TAPS; j++) if (t - j >= 0 && t - j < SEG) s += h[j + TAPS]! * x[t - j]!;
      y[t] = s;
    }
    out.push(y.map((v, t) => v - prev[t]!));
    prev = y;
  }
  out.push(Float64Array.from(x, (v, t) => v - prev[t]!));
  return out;
}

const NB = EDGES.length - 1;
const acc = Array.from({ length: NB }, () => ({ xx: 0, xy: 0, yy: 0, own: 0 }));
const gains: number[] = [];
for (let i = 0; i < BATCHES; i++) {
  const d = val.draw(B, 1_000_000 + i);
  const [p, a] = tf.tidy(() => {
    const mel = tf.tensor3d(d.mel, [B, d.frames, TACOTRON_MEL.nMels]);
    return [tf.softmax(tf.slice(cond.features(mel).logits, [0, 0], [-1, K])).dataSync(), cond.apply(mel).dataSync()];
  });
  for (let n = 0; n < B; n++) {
    const x = d.audio.subarray(n * SEG, (n + 1) * SEG), y = new Float32Array(SEG);
    for (let t = L0; t < SEG; t++) {
      const row = (n * d.frames + Math.floor(t / HOP)) * K;
      let s = 0;
      for (let k = 0; k < K && t - L0 - k >= 0; k++) s += p[row + k]! * x[t - L0 - k]!;
      y[t] = s;
    }
    const [xb, yb] = [bands(x), bands(y)];
    // Frames from the 4th on: the lags reach back into the segment; the last frame's filters see its end.
    for (let f = 4; f < F - 1; f++) {
      const row = (n * d.frames + f) * K;
      let g = 0;
      for (let k = 0; k < K; k++) g += a[row + k]!;
      if (Math.abs(g) < 0.05) continue;
      gains.push(g);
      for (let b = 0; b < NB; b++) for (let t = f * HOP; t < (f + 1) * HOP; t++) {
        const [u, v] = [xb[b]![t]!, yb[b]![t]!];
        acc[b]!.xx += u * u; acc[b]!.xy += u * v; acc[b]!.yy += v * v; acc[b]!.own += (u - g * v) ** 2;
      }
    }
  }
}
const ratio = (b: number, g: number) => (acc[b]!.xx - 2 * g * acc[b]!.xy + g * g * acc[b]!.yy) / acc[b]!.xx;
const whitened = (r: (b: number) => number) => acc.reduce((s, _, b) => s + ((EDGES[b + 1]! - EDGES[b]!) / (SR / 2)) * -0.5 * Math.log(r(b)), 0);
const bandBest = (b: number) => acc[b]!.xy / acc[b]!.yy;
let single = { gain: 0, nats: 0 };
for (let g = 0; g <= 1.2; g += 0.01) {
  const v = whitened((b) => ratio(b, g));
  if (v > single.nats) single = { gain: +g.toFixed(2), nats: +v.toFixed(4) };
}
const round = (v: number) => +v.toFixed(4);
gains.sort((u, v) => u - v);
console.log(JSON.stringify({
  model: process.env.MODEL ?? 'models/default',
  frames: gains.length,
  medianOwnGain: round(gains[gains.length >> 1]!),
  perBand: acc.map((s, b) => ({ hz: [EDGES[b], EDGES[b + 1]], energyShare: round(s.xx / acc.reduce((t, c) => t + c.xx, 0)), bestGain: round(bandBest(b)), natsAtBest: round(-0.5 * Math.log(ratio(b, bandBest(b)))), natsAtOwn: round(-0.5 * Math.log(s.own / s.xx)) })),
  whitenedNats: { own: round(whitened((b) => acc[b]!.own / acc[b]!.xx)), bestSingleGain: single, bestGainPerBand: round(whitened((b) => ratio(b, bandBest(b)))) },
}));
