/**
 * The decoding post-filters after the flow, in the order every synthesis path applies them: NVIDIA's
 * denoiser, then mel-envelope matching. One function, so that copy-synthesis, `flowvox synthesize`
 * and the streaming chunks cannot drift apart (`postMarginSamples` sizes the chunks' margin for it).
 */
import { TACOTRON_MEL, type MelConfig, type MelSpectrogram } from '../dsp/mel.js';
import type { Denoiser } from './denoiser.js';
import { matchMelEnvelope } from './envelope.js';

export interface PostFilters {
  denoiser?: Denoiser | null;
  /** Denoiser strength (0 or absent: off). */
  denoise?: number;
  /** Iterations of mel-envelope matching (0 or absent: off). */
  envelope?: number;
  /** The mel's framing, for the envelope matching (default TACOTRON_MEL). */
  melConfig?: MelConfig;
}

/** Whether the denoiser runs (a chunk then needs its margin too). */
export function denoises(p: PostFilters): p is PostFilters & { denoiser: Denoiser; denoise: number } {
  return !!p.denoiser && (p.denoise ?? 0) > 0;
}

/** `audio` after the post-filters; `frameOffset` is the mel frame at audio sample 0 (a chunk's, else 0). */
export function applyPostFilters(audio: Float32Array, mel: MelSpectrogram, p: PostFilters, frameOffset = 0): Float32Array {
  let out = audio;
  if (denoises(p)) out = p.denoiser.apply(out, p.denoise);
  if ((p.envelope ?? 0) > 0) out = matchMelEnvelope(out, mel, p.envelope!, p.melConfig ?? TACOTRON_MEL, frameOffset);
  return out;
}
