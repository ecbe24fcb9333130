// Probe (follow-up 18): validation NLL with one parameter group at a time rounded to half precision.
// Usage: npx tsx src/bench/probes/float16-groups.ts [MODEL_DIR, default runs/default-voice/best]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend/index.js';
import { loadAudioSplit } from '../../io/audio-dir.js';
import { loadModelDir } from '../../io/model-dir.js';
import { SegmentSampler } from '../../vocoder/data.js';
import { TACOTRON_MEL } from '../../dsp/mel.js';
import { WaveGlow } from '../../vocoder/waveglow.js';
await initBackend('wasm');
const data = await loadAudioSplit('data/speech', 22050);
const val = new SegmentSampler(data.validation, 8192, TACOTRON_MEL);
const batches = Array.from({ length: 8 }, (_, i) => val.draw(16, 1_000_000 + i));
const { model } = await loadModelDir(process.argv[2] ?? 'runs/default-voice/best');
const params = model.namedParameters();
const orig = new Map(params.map(([n, v]) => [n, v.dataSync().slice() as Float32Array]));
function f16(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -14);
  const q = 2 ** (e - 10);
  return Math.round(x / q) * q;
}
const nll = () => { let t = 0; for (const d of batches) t += tf.tidy(() => WaveGlow.nllPerSample(model.loss(tf.tensor2d(d.audio, [16, 8192]), tf.tensor3d(d.mel, [16, d.frames, 80])).dataSync()[0]!)); return t / batches.length; };
const groups: Record<string, RegExp> = { all: /./, conv1x1: /\.0\.weight$/, start: /net\.start/, cond: /net\.cond/, in: /net\.in\./, resSkip: /net\.resSkip/, end: /net\.end/ };
console.log('float32', nll().toFixed(5));
for (const [g, re] of Object.entries(groups)) {
  for (const [n, v] of params) if (re.test(n)) v.assign(tf.tensor(orig.get(n)!.map(f16), v.shape));
  console.log(g, nll().toFixed(5));
  for (const [n, v] of params) v.assign(tf.tensor(orig.get(n)!, v.shape));
}
