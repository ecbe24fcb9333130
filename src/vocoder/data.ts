/**
 * Training batches for the vocoder, as NVIDIA's mel2samp does: a random fixed-length segment of a
 * random clip (zero-padded if the clip is shorter) and the log-mel of that segment. The sampler is
 * seeded per step, so a resumed run sees exactly the batches an uninterrupted one would.
 */
import * as tf from '@tensorflow/tfjs-core';
import { logMelSpectrogram, type MelConfig } from '../dsp/mel.js';
import { mulberry32 } from '../util/random.js';

export interface Batch {
  audio: tf.Tensor2D; // [B, L]
  mel: tf.Tensor3D; // [B, frames, nMels]
}

export interface SamplerOptions {
  /**
   * Width q of a quantiser step to dequantise by (0 = off): each sample gets uniform noise in
   * [−q/2, q/2) after its segment's mel is taken. 16-bit audio is a lattice of step 2⁻¹⁵, and a flow
   * fitted to it can pile density onto lattice points: where a segment is digital silence (TTS output,
   * a short clip's zero padding) the scales shrink without bound and training diverges. With the noise
   * the likelihood is of a continuous density again (Theis et al. 2016; Ho et al. 2019, Flow++).
   */
  dequantize?: number;
}

/** The quantiser step of `bits`-bit audio in [−1, 1): 2^(1 − bits); 0 bits = no dequantisation. */
export function quantizerStep(bits: number): number {
  return bits > 0 ? 2 ** (1 - bits) : 0;
}

export class SegmentSampler {
  private readonly cumulative: number[];
  readonly dequantize: number;
  constructor(readonly clips: Float32Array[], readonly segment: number, readonly mel: MelConfig, opts: SamplerOptions = {}) {
    if (clips.length === 0) throw new Error('no training audio');
    this.dequantize = opts.dequantize ?? 0;
    if (!(Number.isFinite(this.dequantize) && this.dequantize >= 0)) throw new Error(`dequantize must be a finite step ≥ 0, got ${this.dequantize}`);
    let acc = 0;
    // Clips are picked in proportion to their length, so every second of audio is equally likely.
    this.cumulative = clips.map((c) => (acc += Math.max(c.length, 1)));
  }

  /** Host arrays for `batch` segments drawn with `seed` (deterministic). */
  draw(batch: number, seed: number): { audio: Float32Array; mel: Float32Array; frames: number } {
    const rand = mulberry32(seed);
    const L = this.segment;
    const audio = new Float32Array(batch * L);
    let melData: Float32Array | null = null;
    let frames = 0;
    for (let b = 0; b < batch; b++) {
      const r = rand() * this.cumulative[this.cumulative.length - 1];
      let i = this.cumulative.findIndex((c) => c > r);
      if (i < 0) i = this.clips.length - 1;
      const clip = this.clips[i];
      const start = clip.length > L ? Math.floor(rand() * (clip.length - L)) : 0;
      const seg = audio.subarray(b * L, (b + 1) * L);
      seg.set(clip.subarray(start, start + L));
      const m = logMelSpectrogram(seg, this.mel);
      if (!melData) {
        frames = m.frames;
        melData = new Float32Array(batch * frames * m.nMels);
      }
      melData.set(m.data, b * frames * m.nMels);
    }
    if (this.dequantize > 0) {
      // Its own stream, so the segments drawn are the same with or without it.
      const noise = mulberry32((seed ^ 0x5bd1e995) >>> 0);
      for (let i = 0; i < audio.length; i++) audio[i] += this.dequantize * (noise() - 0.5);
    }
    return { audio, mel: melData!, frames };
  }

  batch(batch: number, seed: number): Batch {
    const d = this.draw(batch, seed);
    return {
      audio: tf.tensor2d(d.audio, [batch, this.segment]),
      mel: tf.tensor3d(d.mel, [batch, d.frames, this.mel.nMels]),
    };
  }
}
