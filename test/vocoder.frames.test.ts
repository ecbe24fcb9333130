/**
 * 'frames' conditioning with n_group < hop: each mel frame conditions its hop/n_group group
 * positions (nearest-neighbour), so the WN networks can run below the frame rate without
 * NVIDIA's ConvTranspose upsampler. Checks the repetition, the refusals, the round trip and the
 * gradient that flows back through the repetition (tile) on both backends.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { WaveGlow, type WaveGlowConfig } from '../src/vocoder/waveglow.js';
import { randomizeCouplings } from './helpers/random-waveglow.js';

const CFG: WaveGlowConfig = {
  n_mel_channels: 80, n_flows: 4, n_group: 64, n_early_every: 2, n_early_size: 8,
  WN_config: { n_layers: 2, n_channels: 16, kernel_size: 3 }, hop_length: 256, upsampler: 'frames', sampling_rate: 22050,
};

describe.each(['cpu', 'wasm'] as const)("'frames' conditioning below the frame rate (%s)", (backend) => {
  it('each frame conditions its hop/n_group positions, and a partial last frame is read', async () => {
    await initBackend(backend);
    const m = new WaveGlow(CFG, 1);
    tf.tidy(() => {
      const mel = tf.randomNormal([2, 3, 80], -4, 1, 'float32', 3) as tf.Tensor3D;
      // 9 positions of 64 samples: frames 0 and 1 four times each, then one position of frame 2.
      const cond = m.conditioning(mel, 9 * 64);
      expect(cond.shape).toEqual([2, 9, 80]);
      const c = cond.arraySync();
      const f = mel.arraySync();
      for (let b = 0; b < 2; b++) for (let p = 0; p < 9; p++) expect(c[b]![p]).toEqual(f[b]![Math.floor(p / 4)]);
      expect(() => m.conditioning(tf.slice(mel, [0, 0, 0], [2, 2, 80]), 9 * 64)).toThrow(/2 mel frames cannot condition 576 samples \(needs 3\)/);
    });
    m.dispose();
  });

  it('n_group must divide the hop', async () => {
    await initBackend(backend);
    expect(() => new WaveGlow({ ...CFG, n_group: 96 })).toThrow(/n_group to divide hop_length \(256\), got 96/);
    expect(() => new WaveGlow({ ...CFG, n_group: 512 })).toThrow(/got 512/);
  });

  it('synthesis and likelihood invert each other', async () => {
    await initBackend(backend);
    const m = new WaveGlow(CFG, 2);
    randomizeCouplings(m, 5);
    tf.tidy(() => {
      const mel = tf.randomNormal([1, 6, 80], -4, 1, 'float32', 4) as tf.Tensor3D;
      const z = tf.randomNormal([1, 24, 64], 0, 0.6, 'float32', 6) as tf.Tensor3D;
      const audio = m.synthesize(mel, { z });
      expect(audio.shape).toEqual([1, 6 * 256]);
      const back = m.inverse(audio, mel).z;
      expect(tf.max(tf.abs(tf.sub(back, z))).dataSync()[0]!).toBeLessThan(1e-4);
    });
    m.dispose();
  });

  it("the loss's gradient in a mel value matches finite differences (it reaches every repeated position)", async () => {
    await initBackend(backend);
    const m = new WaveGlow(CFG, 3);
    randomizeCouplings(m, 9);
    tf.tidy(() => {
      const audio = tf.mul(tf.randomNormal([1, 6 * 256], 0, 1, 'float32', 7), 0.3) as tf.Tensor2D;
      const mel = tf.randomNormal([1, 6, 80], -4, 1, 'float32', 8) as tf.Tensor3D;
      const g = tf.grad((x: tf.Tensor) => m.loss(audio, x as tf.Tensor3D))(mel);
      // Frame 2, channel 17: its four positions all feed the loss.
      const at = 2 * 80 + 17;
      const analytic = g.dataSync()[at]!;
      const eps = 0.05;
      const bump = (d: number) => {
        const v = mel.dataSync().slice();
        v[at]! += d;
        return m.loss(audio, tf.tensor3d(v, [1, 6, 80])).dataSync()[0]!;
      };
      const numeric = (bump(eps) - bump(-eps)) / (2 * eps);
      expect(Math.abs(analytic)).toBeGreaterThan(1e-5);
      expect(Math.abs(analytic - numeric)).toBeLessThan(0.05 * Math.abs(analytic) + 1e-6);
    });
    m.dispose();
  });
});
