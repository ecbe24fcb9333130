// Probe (docs/recipe-variants.md, follow-up 18): how much one pitch lag per frame predicts, at best.
// Usage: npx tsx src/bench/probes/pitch-oracle.ts   (needs data/speech)
import { loadAudioSplit } from '../../io/audio-dir.js';
import { SegmentSampler } from '../../vocoder/data.js';
import { TACOTRON_MEL } from '../../dsp/mel.js';
const SEG = 8192, HOP = 256, F = 32, LMIN = 48, LMAX = 368;
const data = await loadAudioSplit('data/speech', 22050);
const val = new SegmentSampler(data.validation, SEG, TACOTRON_MEL);
// The same whitening as the training proxy: order-24 LPC per frame (the flow models the envelope already).
const ORDER = 24;
function whiten(audio: Float32Array, b: number): Float32Array {
  const out = new Float32Array(audio.length);
  const win = new Float64Array(1024).map((_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / 1024));
  const r = new Float64Array(ORDER + 1), a = new Float64Array(ORDER + 1), tmp = new Float64Array(ORDER + 1), seg = new Float64Array(1024);
  for (let n = 0; n < b; n++) {
    const x = audio.subarray(n * SEG, (n + 1) * SEG);
    for (let f = 0; f < F; f++) {
      const c = f * HOP + HOP / 2 - 512;
      for (let i = 0; i < 1024; i++) { const t = c + i; seg[i] = t >= 0 && t < SEG ? x[t]! * win[i]! : 0; }
      for (let l = 0; l <= ORDER; l++) { let s = 0; for (let i = l; i < 1024; i++) s += seg[i]! * seg[i - l]!; r[l] = s; }
      r[0] = r[0]! * (1 + 1e-4) + 1e-12;
      a.fill(0); a[0] = 1; let err = r[0]!;
      for (let i = 1; i <= ORDER; i++) {
        let acc = r[i]!; for (let j = 1; j < i; j++) acc += a[j]! * r[i - j]!;
        const k = -acc / err; tmp.set(a);
        for (let j = 1; j < i; j++) a[j] = tmp[j]! + k * tmp[i - j]!;
        a[i] = k; err *= 1 - k * k;
      }
      for (let i = 0; i < HOP; i++) {
        const t = f * HOP + i; let s = x[t]!;
        for (let j = 1; j <= ORDER; j++) if (t - j >= 0) s += a[j]! * x[t - j]!;
        out[n * SEG + t] = s;
      }
    }
  }
  return out;
}
for (const mode of ['raw', 'white']) {
  const gains: number[] = [], gains3: number[] = [];
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
