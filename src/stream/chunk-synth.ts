/**
 * Synthesis of one planned chunk through WaveGlow's public pieces: conditioning() on the chunk's
 * mel slice, flow.forward() on the chunk's slice of the whole-utterance latent, then the context
 * dropped. One parallel pass per chunk, a fixed sequence of standard ops as in synthesize().
 * With a pitch predictor, its recursion then runs over the range, continuing from the history that
 * the previous chunks computed (`PredictorHistory`), so chunks of one utterance run in order.
 */
import * as tf from '@tensorflow/tfjs-core';
import { TACOTRON_MEL, type MelConfig, type MelSpectrogram } from '../dsp/mel.js';
import { envelopeMarginSamples } from '../vocoder/envelope.js';
import { applyPostFilters, denoises, type PostFilters } from '../vocoder/post-filter.js';
import type { WaveGlow } from '../vocoder/waveglow.js';
import { predictorGeometry, geometryOf, latentSlice, melSlice, planChunks, type Chunk } from './planner.js';

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
 * [melStart, melEnd) (channels-last) and the latent positions [ctxStart, ctxEnd); with a pitch
 * predictor also from `history`, the audio [historyStart, synthStart) before its post-filters.
 */
export function synthesizeRange(model: WaveGlow, c: Chunk, mel: Float32Array, z: Float32Array, history: Float32Array = new Float32Array(0)): Float32Array {
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
    const range = tf.slice(audio, [0, from], [1, c.synthEnd - c.synthStart]);
    return (model.predictor ? continuePredictor(model, c, m, range, history) : range).dataSync() as Float32Array;
  });
}

/**
 * x over [synthStart, synthEnd) from the flow's residual there and x over [historyStart, synthStart):
 * the history's own residual (the inverse, with zeros before it) followed by the chunk's, run through
 * the recursion, gives the history back and then x exactly as the whole-utterance pass does.
 */
function continuePredictor(model: WaveGlow, c: Chunk, mel: tf.Tensor3D, residual: tf.Tensor, history: Float32Array): tf.Tensor {
  const p = model.predictor!;
  if (history.length !== c.synthStart - c.historyStart) {
    throw new Error(`chunk ${c.index}: the pitch predictor needs the ${c.synthStart - c.historyStart} samples before it, got ${history.length}`);
  }
  const lt = model.recursion!;
  // Coefficient rows from the frame at historyStart on (the mel slice starts at melStart). The pitch net
  // runs only on those frames and the context they read, not on the whole slice, which is as wide as the
  // flow's receptive field (±120 frames for cpu-small); the planner put that context inside the slice.
  const rows = Math.ceil((c.synthEnd - c.historyStart) / p.frame);
  const first = c.historyStart / p.frame - c.melStart;
  const { backFrames, aheadFrames } = predictorGeometry(model.config.predictor!, model.hop);
  const from = Math.max(0, first - backFrames);
  const to = Math.min(mel.shape[1], first + rows + aheadFrames);
  // At the model's pitch emphasis, as the whole-utterance pass; the history's residual is inverted with the
  // same coefficients that drew it.
  const coeffs = model.synthesisCoefficients(tf.slice(mel, [0, from, 0], [1, to - from, mel.shape[2]]));
  const a = tf.slice(coeffs, [0, first - from, 0], [1, rows, coeffs.shape[2]]);
  const h = tf.tensor2d(history, [1, history.length]);
  const x = lt.forward(tf.concat([lt.inverse(h, a), residual], 1), a);
  return tf.slice(x, [0, history.length], [1, c.synthEnd - c.synthStart]);
}

/**
 * What a stream's next chunk needs as pitch-predictor history: the audio before post-filters over
 * [historyStart, synthEnd) of the last chunk done (chunks in order; each needs less than one chunk back).
 */
export class PredictorHistory {
  private start = 0;
  private data = new Float32Array(0);

  /** x over [c.historyStart, c.synthStart) (empty at the utterance's start or without a predictor). */
  for(c: Chunk): Float32Array {
    if (c.historyStart === c.synthStart) return new Float32Array(0);
    const [from, to] = [c.historyStart - this.start, c.synthStart - this.start];
    if (from < 0 || to > this.data.length) throw new Error(`chunk ${c.index}: its pitch-predictor history [${c.historyStart}, ${c.synthStart}) is not known yet; a stream's chunks must run in order`);
    return this.data.slice(from, to);
  }

  /** Keeps chunk `c`'s history and its synthesised range (before post-filters). */
  record(c: Chunk, history: Float32Array, range: Float32Array): void {
    const data = new Float32Array(history.length + range.length);
    data.set(history);
    data.set(range, history.length);
    this.start = c.historyStart;
    this.data = data;
  }
}

/**
 * The chunk's kept samples [keepStart, keepEnd): synthesis, the post-filters (the envelope matched to
 * the chunk's mel slice, aligned by frame), margins cut.
 */
export function synthesizeChunk(model: WaveGlow, c: Chunk, mel: Float32Array, z: Float32Array, post: PostFilters = {}, history?: Float32Array): Float32Array {
  return synthesizeChunkAndRange(model, c, mel, z, post, history).pcm;
}

/** `synthesizeChunk`, and the synthesised range before post-filters (`range`: a pitch predictor's next history). */
export function synthesizeChunkAndRange(model: WaveGlow, c: Chunk, mel: Float32Array, z: Float32Array, post: PostFilters = {}, history?: Float32Array): { pcm: Float32Array; range: Float32Array } {
  const slice = { data: mel, frames: c.melEnd - c.melStart, nMels: model.config.n_mel_channels };
  const range = synthesizeRange(model, c, mel, z, history);
  // The post-filters return new arrays and the kept part is sliced below: `range` stays as synthesised.
  const audio = applyPostFilters(range, slice, post, c.synthStart / model.hop - c.melStart);
  const from = c.keepStart - c.synthStart;
  return { pcm: audio.slice(from, from + (c.keepEnd - c.keepStart)), range };
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
  const history = new PredictorHistory();
  for (const c of chunks) {
    const before = history.for(c);
    const r = synthesizeChunkAndRange(model, c, melSlice(mel.data, geom.nMel, c), latentSlice(z, geom.nGroup, c), post, before);
    if (geom.predictor) history.record(c, before, r.range);
    out.set(r.pcm, c.keepStart);
    onChunk?.(c.index + 1, chunks.length);
  }
  return out;
}
