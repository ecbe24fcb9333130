/**
 * NVIDIA's WaveGlow denoiser (denoiser.py): the model's own bias — what it outputs for an all-zero
 * mel at σ = 0 — is measured once as a magnitude spectrum and subtracted, scaled by `strength`,
 * from every STFT frame of the output; the phase is kept and the signal resynthesised.
 */
import * as tf from '@tensorflow/tfjs-core';
import { istft, stft, type StftConfig } from '../dsp/stft.js';
import type { WaveGlow } from './waveglow.js';

const DENOISE_STFT: StftConfig = { nFft: 1024, hop: 256, winLength: 1024 };

export class Denoiser {
  /** Bias magnitude per frequency bin (first frame of the zero-mel synthesis, as NVIDIA does). */
  readonly bias: Float64Array;

  constructor(model: WaveGlow, frames = 88) {
    const nMel = model.config.n_mel_channels;
    const g = model.config.n_group;
    const audio = tf.tidy(() => {
      const mel = tf.zeros([1, frames, nMel]) as tf.Tensor3D;
      const z = tf.zeros([1, model.samplesFor(frames) / g, g]) as tf.Tensor3D; // σ = 0
      return model.synthesize(mel, { z }).dataSync() as Float32Array;
    });
    const spec = stft(audio, DENOISE_STFT);
    this.bias = new Float64Array(spec.bins);
    for (let k = 0; k < spec.bins; k++) this.bias[k] = Math.hypot(spec.re[k], spec.im[k]);
  }

  /** Subtracts strength × bias from each frame's magnitude (floored at 0), keeping the phase. */
  apply(audio: Float32Array, strength = 0.1): Float32Array {
    if (strength <= 0) return audio;
    const spec = stft(audio, DENOISE_STFT);
    for (let f = 0; f < spec.frames; f++) {
      for (let k = 0; k < spec.bins; k++) {
        const i = f * spec.bins + k;
        const mag = Math.hypot(spec.re[i], spec.im[i]);
        if (mag === 0) continue;
        const scale = Math.max(mag - strength * this.bias[k], 0) / mag;
        spec.re[i] *= scale;
        spec.im[i] *= scale;
      }
    }
    return istft(spec, DENOISE_STFT, audio.length);
  }
}
