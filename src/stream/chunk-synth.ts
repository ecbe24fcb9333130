/**
 * Synthesis of one planned chunk through WaveGlow's public pieces: conditioning() on the chunk's
 * mel slice, flow.forward() on the chunk's slice of the whole-utterance latent, then the context
 * dropped. One parallel pass per chunk, a fixed sequence of standard ops as in synthesize().
 */
import * as tf from '@tensorflow/tfjs-core';
import { TACOTRON_MEL, type MelConfig, type MelSpectrogram } from '../dsp/mel.js';
import { envelopeMarginSamples } from '../vocoder/envelope.js';
import { applyPostFilters, denoises, type PostFilters } from '../vocoder/post-filter.js';
import type { WaveGlow } from '../vocoder/waveglow.js';
import { geometryOf, latentSlice, melSlice, planChunks, type Chunk } from './planner.js';

/**
 * Samples of margin the denoiser needs each side so that a chunk's denoised samples equal the
 * whole-utterance denoise: its STFT (1024-point window, hop 256, centred) makes a sample depend on
 * input ± nFft. Chunk starts are whole mel frames (multiples of 256), so the frame grids align.
 */
export const DENOISE_MARGIN_SAMPLES = 1024;

/**
 * The margin for the post-filters a stream uses: the denoiser's, then the envelope matching's on top,
 * rounded up to whole mel frames so that a chunk's synthesised range starts on the mel's frame grid.
 */
export function postMarginSamples(denoise: boolean, envelopeIterations: number, melConfig: Pick<MelConfig, 'nFft' | 'hop'>): number {
  const margin = (denoise ? DENOISE_MARGIN_SAMPLES : 0) + envelopeMarginSamples(envelopeIterations, melConfig);
  return Math.ceil(margin / melConfig.hop) * melConfig.hop;
}

/**
 * The whole-utterance latent [N·g] (flat, position-major) exactly as `WaveGlow.synthesize` draws
 * it: `drawLatent` (σ·N(0, I), times the model's latent scale) of shape [1, frames·hop/g, g] from `seed`.
 */
export function utteranceLatent(model: WaveGlow, frames: number, sigma: number, seed: number): Float32Array {
  // A copy: the caller may transfer its buffer, and the cpu backend's dataSync is its own storage.
  return (tf.tidy(() => model.drawLatent(1, model.samplesFor(frames), sigma, seed).dataSync()) as Float32Array).slice();
}

/**
 * Audio for chunk `c`'s synthesised range [synthStart, synthEnd), from the mel frames
 * [melStart, melEnd) (channels-last) and the latent positions [ctxStart, ctxEnd).
 */
export function synthesizeRange(model: WaveGlow, c: Chunk, mel: Float32Array, z: Float32Array): Float32Array {
  const g = model.config.n_group;
  const hop = model.hop;
  const nMel = model.config.n_mel_channels;
  const melFrames = c.melEnd - c.melStart;
  const positions = c.ctxEnd - c.ctxStart;
  if (mel.length !== melFrames * nMel) throw new Error(`chunk ${c.index}: mel slice has ${mel.length} values, expected ${melFrames}·${nMel}`);
  if (z.length !== positions * g) throw new Error(`chunk ${c.index}: latent slice has ${z.length} values, expected ${positions}·${g}`);
  return tf.tidy(() => {
    const m = tf.tensor3d(mel, [1, melFrames, nMel]);
    // Conditioning of samples melStart·hop … ctxEnd·g, then the positions from ctxStart on.
    const skip = (c.melStart * hop) / g;
    const cond = model.conditioning(m, (c.ctxEnd - skip) * g);
    const condCtx = tf.slice(cond, [0, c.ctxStart - skip, 0], [1, positions, cond.shape[2]]);
    const audio = model.flow.forward(tf.tensor3d(z, [1, positions, g]), condCtx) as tf.Tensor2D;
    const from = c.synthStart - c.ctxStart * g;
    return tf.slice(audio, [0, from], [1, c.synthEnd - c.synthStart]).dataSync() as Float32Array;
  });
}

/**
 * The chunk's kept samples [keepStart, keepEnd): synthesis, the post-filters (the envelope matched to
 * the chunk's mel slice, aligned by frame), margins cut.
 */
export function synthesizeChunk(model: WaveGlow, c: Chunk, mel: Float32Array, z: Float32Array, post: PostFilters = {}): Float32Array {
  const slice = { data: mel, frames: c.melEnd - c.melStart, nMels: model.config.n_mel_channels };
  const audio = applyPostFilters(synthesizeRange(model, c, mel, z), slice, post, c.synthStart / model.hop - c.melStart);
  const from = c.keepStart - c.synthStart;
  return audio.slice(from, from + (c.keepEnd - c.keepStart));
}

/**
 * The whole utterance, chunk by chunk: at most `chunkFrames` mel frames kept per chunk, each
 * synthesised with its flow context and its post-filter margin, so the result equals one pass with
 * the same latent `z` (flat [N·g]) to float rounding. Memory then grows with the chunk, not with the
 * utterance: `flowvox synthesize` uses it for long inputs. `onChunk(done, total)` reports progress.
 * Throws when the model cannot be chunked (hop not a multiple of n_group).
 */
export function synthesizeChunked(model: WaveGlow, mel: MelSpectrogram, z: Float32Array, post: PostFilters, chunkFrames: number, onChunk?: (done: number, total: number) => void): Float32Array {
  const geom = geometryOf(model);
  const extraSamples = postMarginSamples(denoises(post), post.envelope ?? 0, post.melConfig ?? TACOTRON_MEL);
  const chunks = planChunks(geom, mel.frames, { chunkFrames, extraSamples });
  const out = new Float32Array(model.samplesFor(mel.frames));
  for (const c of chunks) {
    out.set(synthesizeChunk(model, c, melSlice(mel.data, geom.nMel, c), latentSlice(z, geom.nGroup, c), post), c.keepStart);
    onChunk?.(c.index + 1, chunks.length);
  }
  return out;
}
