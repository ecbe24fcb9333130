/**
 * Seamless chunking by construction (DESIGN.md "Seamless chunking"). Isomorphic, no tensors.
 *
 * WaveGlow's generative pass works on group positions n (g samples each). Per coupling, the WN's
 * dilated convs see Σ_i (k−1)/2·2^i positions each side; the 1x1 convs and the early-output
 * identities are pointwise. So after K couplings an output position depends on the latent and the
 * conditioning at positions n − R … n + R with R = Σ_k r_k. The conditioning at sample s comes
 * from mel frames ⌊s/hop⌋ − (q−1) … ⌊s/hop⌋ (ConvTranspose with kernel q·hop), or is the mel frame
 * itself ('frames' mode, one group per frame).
 *
 * A chunk keeps samples [keepStart, keepEnd) (whole mel frames). It is synthesised over the
 * positions [ctxStart, ctxEnd) = keep ± R (clipped at the utterance ends, where the whole pass
 * zero-pads too), from the same slice of the one whole-utterance latent, and the context is cut off
 * again. Inside the kept range every value then sees exactly the inputs it sees in the whole pass.
 * An optional `extraSamples` margin (for the denoiser's STFT) widens the synthesised range before
 * the context is added; it is cut off after post-processing.
 *
 * A pitch predictor (WaveGlow's optional LongTermPredictor) is a recursion with unbounded memory:
 * x over the synthesised range needs x over the `historySamples` before it, which the previous
 * chunks computed, so a stream's chunks run in order and pass that history on ([historyStart,
 * synthStart)). Its coefficients read mel frames around each frame: the mel slice covers those too.
 */
import type { WaveGlow } from '../vocoder/waveglow.js';
import { pitchContextReach, type PitchPredictorConfig } from '../vocoder/pitch.js';

/** What the planner needs to know about a model, read from its structure. */
export interface ModelGeometry {
  /** Samples per mel frame. */
  hop: number;
  /** Samples per group position (n_group). */
  nGroup: number;
  nMel: number;
  /** Positions of context each side: Σ over couplings of the WN's receptive half-width. */
  contextPositions: number;
  /**
   * Mel frames before ⌊s/hop⌋ that sample s depends on through the upsampler (q − 1 for a
   * ConvTranspose of kernel q·hop; 0 in 'frames' mode).
   */
  upsamplerBackFrames: number;
  /** The pitch predictor's needs (null: none): x history in samples (whole frames ≥ its longest lag), mel frames read before and after a frame. */
  predictor: { historySamples: number; backFrames: number; aheadFrames: number } | null;
}

export function geometryOf(model: WaveGlow): ModelGeometry {
  const { hop } = model;
  const g = model.config.n_group;
  if (hop % g !== 0) throw new Error(`chunked synthesis needs hop (${hop}) to be a multiple of n_group (${g})`);
  return {
    hop,
    nGroup: g,
    nMel: model.config.n_mel_channels,
    contextPositions: model.wns.reduce((r, wn) => r + wn.receptiveHalfWidth(), 0),
    upsamplerBackFrames: model.upsample ? model.upsample.taps - 1 : 0,
    predictor: model.config.predictor ? predictorGeometry(model.config.predictor, hop) : null,
  };
}

/** A pitch predictor's needs: its longest lag in whole frames of history, and its pitch net's mel context. */
export function predictorGeometry(p: PitchPredictorConfig, hop: number): NonNullable<ModelGeometry['predictor']> {
  const { back, ahead } = pitchContextReach(p);
  return { historySamples: Math.ceil(p.max_lag / hop) * hop, backFrames: back, aheadFrames: ahead };
}

/** Context each side in mel frames (rounded up), for reporting and chunk-size defaults. */
export function contextFrames(geom: ModelGeometry): number {
  return Math.ceil((geom.contextPositions * geom.nGroup) / geom.hop) + geom.upsamplerBackFrames;
}

export interface Chunk {
  index: number;
  /** Output mel frames [frameStart, frameEnd). */
  frameStart: number;
  frameEnd: number;
  /** Output samples kept: [keepStart, keepEnd) = frames · hop. */
  keepStart: number;
  keepEnd: number;
  /** Samples synthesised and post-processed: keep ± extraSamples, clipped. */
  synthStart: number;
  synthEnd: number;
  /** Group positions run through the flow: synth ± context, clipped to [0, N). */
  ctxStart: number;
  ctxEnd: number;
  /** Mel frames the conditioning of [ctxStart, ctxEnd) (and a pitch predictor's coefficients) read: [melStart, melEnd). */
  melStart: number;
  melEnd: number;
  /** Start of the pitch predictor's history [historyStart, synthStart) (= synthStart without a predictor). */
  historyStart: number;
}

export interface PlanOptions {
  /** Output frames per chunk (≥ 1). */
  chunkFrames: number;
  /** Size of the first chunk (default chunkFrames); later chunks double until chunkFrames (low latency first, efficiency later). */
  firstChunkFrames?: number;
  /** Post-processing margin in samples each side (multiple of n_group), e.g. the denoiser's STFT. */
  extraSamples?: number;
  /** Override the context in positions (tests: show that R − 1 is not enough). */
  contextPositions?: number;
}

/** Chunk sizes: first, 2·first, 4·first, … capped at chunkFrames, covering `frames`. */
export function chunkSizes(frames: number, chunkFrames: number, firstChunkFrames = chunkFrames): number[] {
  if (!Number.isInteger(frames) || frames < 1) throw new Error(`frames must be a positive integer, got ${frames}`);
  if (!Number.isInteger(chunkFrames) || chunkFrames < 1) throw new Error(`chunkFrames must be a positive integer, got ${chunkFrames}`);
  let size = Math.max(1, Math.min(Math.floor(firstChunkFrames), chunkFrames));
  const out: number[] = [];
  for (let f = 0; f < frames; ) {
    const n = Math.min(size, frames - f);
    out.push(n);
    f += n;
    size = Math.min(size * 2, chunkFrames);
  }
  return out;
}

/** Plans the chunks of an utterance of `frames` mel frames. */
export function planChunks(geom: ModelGeometry, frames: number, opts: PlanOptions): Chunk[] {
  const { hop, nGroup: g, upsamplerBackFrames: back } = geom;
  const R = opts.contextPositions ?? geom.contextPositions;
  const extra = opts.extraSamples ?? 0;
  if (extra % g !== 0 || extra < 0) throw new Error(`extraSamples (${extra}) must be a non-negative multiple of n_group (${g})`);
  const total = frames * hop;
  const N = total / g;
  const chunks: Chunk[] = [];
  let f = 0;
  for (const size of chunkSizes(frames, opts.chunkFrames, opts.firstChunkFrames)) {
    const keepStart = f * hop;
    const keepEnd = (f + size) * hop;
    const synthStart = Math.max(0, keepStart - extra);
    const synthEnd = Math.min(total, keepEnd + extra);
    const ctxStart = Math.max(0, synthStart / g - R);
    const ctxEnd = Math.min(N, synthEnd / g + R);
    let melStart = Math.max(0, Math.floor((ctxStart * g) / hop) - back);
    let melEnd = Math.min(frames, Math.floor((ctxEnd * g - 1) / hop) + 1);
    let historyStart = synthStart;
    if (geom.predictor) {
      const p = geom.predictor;
      historyStart = Math.max(0, synthStart - p.historySamples);
      // Coefficient rows for frames historyStart/hop … ⌈synthEnd/hop⌉ − 1, each reading its context frames.
      melStart = Math.min(melStart, Math.max(0, historyStart / hop - p.backFrames));
      melEnd = Math.max(melEnd, Math.min(frames, Math.ceil(synthEnd / hop) + p.aheadFrames));
    }
    chunks.push({
      index: chunks.length,
      frameStart: f,
      frameEnd: f + size,
      keepStart,
      keepEnd,
      synthStart,
      synthEnd,
      ctxStart,
      ctxEnd,
      melStart,
      melEnd,
      historyStart,
    });
    f += size;
  }
  return chunks;
}

/** The chunk's mel frames [melStart, melEnd) of a channels-last mel (a view, no copy). */
export function melSlice(mel: Float32Array, nMel: number, c: Chunk): Float32Array {
  return mel.subarray(c.melStart * nMel, c.melEnd * nMel);
}

/** The chunk's latent positions [ctxStart, ctxEnd) of a whole-utterance latent [N, g] (a view). */
export function latentSlice(z: Float32Array, nGroup: number, c: Chunk): Float32Array {
  return z.subarray(c.ctxStart * nGroup, c.ctxEnd * nGroup);
}

/** Compute per kept sample, relative to whole-utterance synthesis (≥ 1; for choosing chunk sizes). */
export function planOverhead(chunks: Chunk[], nGroup: number): number {
  let work = 0;
  let kept = 0;
  for (const c of chunks) {
    work += (c.ctxEnd - c.ctxStart) * nGroup;
    kept += c.keepEnd - c.keepStart;
  }
  return kept > 0 ? work / kept : 1;
}
