// Probe (docs/recipe-variants.md, follow-up 18): how much one pitch lag per frame predicts, at best.
// Usage: npx tsx src/bench/probes/pitch-oracle.ts   (needs data/speech)
import { loadAudioSplit } from '../../io/audio-dir.js';
import { SegmentSampler } from '../../vocoder/data.js';
import { TACOTRON_MEL } from '../../dsp/mel.js';
import { lpc } from '../../anomaly/background.js';
import { hannWindow } from '../../dsp/window.js';
/** Lags 48–368 samples (60–460 Hz, the pitch predictor's default range), frames of 256 in segments of 8192. */
const LMIN = 48, LMAX = 368, HOP = 256, SEG = 8192, F = SEG / HOP;
const data = await loadAudioSplit('data/speech', 22050);
const val = new SegmentSampler(data.validation, SEG, TACOTRON_MEL);

/**
 * Each frame through its own order-24 LPC inverse filter (fitted on a 1024-sample Hann window centred on
 * the frame): what is left once a short-term model of the spectral envelope, which the flow has, is taken out.
 */
const ORDER = 24;
function whiten(audio: Float32Array, b: number): Float32Array {
  const out = new Float32Array(audio.length);
  const win = hannWindow(1024);
  const seg = new Float64Array(1024);
  for (let n = 0; n < b; n++) {
    const x = audio.subarray(n * SEG, (n + 1) * SEG);
    for (let f = 0; f < F; f++) {
      const c = f * HOP + HOP / 2 - 512;
      for (let i = 0; i < 1024; i++) { const t = c + i; seg[i] = t >= 0 && t < SEG ? x[t]! * win[i]! : 0; }
      const a = lpc(seg, ORDER); // x̂_t = Σ_j a_j x_{t−1−j}
      for (let i = 0; i < HOP; i++) {
        const t = f * HOP + i; let s = x[t]!;
        for (let j = 0; j < ORDER; j++) if (t - 1 - j >= 0) s -= a[j]! * x[t - 1 - j]!;
        out[n * SEG + t] = s;
      }
    }
  }
  return out;
}
for (const mode of ['raw', 'white']) {
  const gains: number[] = [];
  for (let i = 0; i < 8; i++) {
    const d = val.draw(8, 1_000_000 + i);
    const w = mode === 'raw' ? d.audio : whiten(d.audio, 8);
    for (let n = 0; n < 8; n++) for (let f = 2; f < F; f++) {
      const o = n * SEG + f * HOP;
      let ee = 0; for (let i = 0; i < HOP; i++) ee += w[o + i]! ** 2;
      let best = 0;
      for (let L = LMIN; L <= LMAX; L++) {
        let c = 0, ll = 0; for (let i = 0; i < HOP; i++) { const p = w[o + i - L]!; c += w[o + i]! * p; ll += p * p; }
        const r2 = (c * c) / (ee * ll + 1e-30);
        if (r2 > best) best = r2;
      }
      gains.push(-0.5 * Math.log(1 - Math.min(best, 0.999)));
    }
  }
  gains.sort((a, b) => a - b);
  const mean = gains.reduce((s, v) => s + v, 0) / gains.length;
  console.log(mode, 'oracle single-lag gain nats/sample mean', mean.toFixed(4), 'median', gains[gains.length >> 1]!.toFixed(4), 'p90', gains[Math.floor(gains.length * 0.9)]!.toFixed(4));
}
