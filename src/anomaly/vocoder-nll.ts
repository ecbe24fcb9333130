/**
 * Exact NLL of audio segments under a WaveGlow, each segment conditioned on its own stretch of the
 * whole file's mel: p(x_seg | mel_seg). Segments are batched (one parallel pass per batch).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MelSpectrogram } from '../dsp/mel.js';
import { WaveGlow } from '../vocoder/waveglow.js';
import type { Segment } from './segments.js';

/**
 * NLL in nats per sample (with the Gaussian constant, σ = 1) of each segment. `mel` is the log-mel
 * of the whole signal (frame t centred on sample t·hop), `audio` the signal itself.
 */
export function segmentNll(model: WaveGlow, audio: Float32Array, mel: MelSpectrogram, segments: readonly Segment[], opts: { batch?: number; onProgress?: (done: number, total: number) => void } = {}): number[] {
  const hop = model.hop;
  const g = model.config.n_group;
  const batch = Math.max(1, opts.batch ?? 8);
  const out: number[] = [];
  for (let i = 0; i < segments.length; i += batch) {
    const group = segments.slice(i, i + batch);
    const length = group[0]!.length;
    if (group.some((s) => s.length !== length)) throw new Error('segments of one batch must have the same length');
    if (length % g !== 0 || length % hop !== 0) throw new Error(`segment length ${length} must be a multiple of the group ${g} and the hop ${hop}`);
    const frames = length / hop;
    const a = new Float32Array(group.length * length);
    const m = new Float32Array(group.length * frames * mel.nMels);
    group.forEach((s, b) => {
      if (s.startSample % hop !== 0) throw new Error(`segment start ${s.startSample} is not on a mel frame`);
      a.set(audio.subarray(s.startSample, s.startSample + length), b * length);
      const f0 = s.startSample / hop;
      const avail = Math.max(0, Math.min(frames, mel.frames - f0));
      m.set(mel.data.subarray(f0 * mel.nMels, (f0 + avail) * mel.nMels), b * frames * mel.nMels);
      // Past the mel's end (never with a whole-file mel): repeat its last frame.
      for (let f = avail; f < frames; f++) m.copyWithin(b * frames * mel.nMels + f * mel.nMels, b * frames * mel.nMels + (avail - 1) * mel.nMels, b * frames * mel.nMels + avail * mel.nMels);
    });
    const nll = tf.tidy(() => {
      const r = model.inverse(tf.tensor2d(a, [group.length, length]), tf.tensor3d(m, [group.length, frames, mel.nMels]));
      const half = tf.div(tf.sum(tf.square(r.z), [1, 2]), 2);
      return tf.div(tf.sub(half, r.logDet), length).dataSync() as Float32Array;
    });
    for (const v of nll) out.push(WaveGlow.nllPerSample(v));
    opts.onProgress?.(Math.min(segments.length, i + batch), segments.length);
  }
  return out;
}
