/**
 * Growing a trained WaveGlow's WN networks (src/vocoder/grow.ts): the grown model computes the
 * source's function in both directions, its new weights still get gradients, and growth that would
 * change anything else is refused.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { growError, growWaveGlow } from '../src/vocoder/grow.js';
import { WaveGlow, type WaveGlowConfig } from '../src/vocoder/waveglow.js';
import { preset } from '../src/vocoder/presets.js';
import { randomizeCouplings } from './helpers/random-waveglow.js';

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
const withWN = (c: WaveGlowConfig, n_layers: number, n_channels: number): WaveGlowConfig => ({ ...c, WN_config: { ...c.WN_config, n_layers, n_channels } });
// SqueezeWave-style: one 256-sample group per mel frame, early outputs (the default voice's layout, smaller).
const FRAMES: WaveGlowConfig = { ...preset('cpu-small'), n_flows: 4, WN_config: { n_layers: 2, n_channels: 16, kernel_size: 3 } };

describe('growWaveGlow', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  const cases: { name: string; from: WaveGlowConfig; to: WaveGlowConfig; length: number; frames: number }[] = [
    { name: 'wider (frames, early outputs)', from: FRAMES, to: withWN(FRAMES, 2, 40), length: 2048, frames: 8 },
    { name: 'deeper', from: FRAMES, to: withWN(FRAMES, 4, 16), length: 2048, frames: 8 },
    { name: 'wider and deeper', from: FRAMES, to: withWN(FRAMES, 3, 24), length: 2048, frames: 8 },
  ];
  for (const c of cases) {
    it(`${c.name}: same z, log-det and synthesis as the source`, () => {
      const src = new WaveGlow(c.from, 3);
      randomizeCouplings(src, 11);
      const grown = growWaveGlow(src, c.to, 5);
      expect(grown.parameterCount()).toBeGreaterThan(src.parameterCount());
      tf.tidy(() => {
        const audio = tf.mul(tf.randomNormal([2, c.length], 0, 1, 'float32', 7), 0.3) as tf.Tensor2D;
        const mel = tf.randomNormal([2, c.frames, 80], -4, 1, 'float32', 8) as tf.Tensor3D;
        const a = src.inverse(audio, mel);
        const b = grown.inverse(audio, mel);
        // The source's couplings are far from the identity, so a missed block would show at O(0.1).
        expect(maxAbs(a.z, audio.reshape(a.z.shape))).toBeGreaterThan(0.05);
        expect(maxAbs(a.z, b.z)).toBeLessThan(1e-4);
        expect(maxAbs(a.logDet, b.logDet) / tf.max(tf.abs(a.logDet)).dataSync()[0]!).toBeLessThan(1e-5);
        const z = tf.randomNormal(a.z.shape, 0, 0.6, 'float32', 9) as tf.Tensor3D;
        expect(maxAbs(src.synthesize(mel, { z }), grown.synthesize(mel, { z }))).toBeLessThan(1e-4);
      });
      src.dispose();
      grown.dispose();
    });
  }

  it('the new units train: the zero weights into old units get gradients', () => {
    const src = new WaveGlow(FRAMES, 3);
    randomizeCouplings(src, 11);
    const grown = growWaveGlow(src, withWN(FRAMES, 3, 24), 5);
    const wn = grown.wns[0]!;
    const audio = tf.mul(tf.randomNormal([2, 2048], 0, 1, 'float32', 7), 0.3) as tf.Tensor2D;
    const mel = tf.randomNormal([2, 8, 80], -4, 1, 'float32', 8) as tf.Tensor3D;
    const { grads } = tf.variableGrads(() => grown.loss(audio, mel), [wn.end.w, wn.resSkip[2]!.w, wn.inLayers[0]!.w]);
    const newRows = (t: tf.Tensor, axis: number) => tf.slice(t, t.shape.map((_, a) => (a === axis ? 16 : 0)), t.shape.map((s, a) => (a === axis ? s - 16 : s)));
    // Before a step: the end conv's rows for new skip channels, a new layer's res/skip, and the in-layer weights from new channels are zero …
    expect(tf.max(tf.abs(newRows(wn.end.w, 0))).dataSync()[0]).toBe(0);
    expect(tf.max(tf.abs(wn.resSkip[2]!.w)).dataSync()[0]).toBe(0);
    // (in-layer 0 [k, 24, 48]: rows of the new channels 16…23 into the old tanh units 0…15)
    const newIntoOld = (t: tf.Tensor) => tf.slice(t, [0, 16, 0], [-1, -1, 16]);
    expect(tf.max(tf.abs(newIntoOld(wn.inLayers[0]!.w))).dataSync()[0]).toBe(0);
    // … and their gradients are not.
    expect(tf.max(tf.abs(newRows(grads[wn.end.w.name]!, 0))).dataSync()[0]).toBeGreaterThan(1e-6);
    expect(tf.max(tf.abs(grads[wn.resSkip[2]!.w.name]!)).dataSync()[0]).toBeGreaterThan(1e-6);
    expect(tf.max(tf.abs(newIntoOld(grads[wn.inLayers[0]!.w.name]!))).dataSync()[0]).toBeGreaterThan(1e-6);
    tf.dispose([audio, mel, ...Object.values(grads)]);
    src.dispose();
    grown.dispose();
  });

  it('refuses anything but a wider or deeper WN', () => {
    expect(growError(FRAMES, withWN(FRAMES, 2, 16))).toBeNull();
    expect(growError(FRAMES, withWN(FRAMES, 2, 8))).toMatch(/can only grow/);
    expect(growError(FRAMES, withWN(FRAMES, 1, 16))).toMatch(/can only grow/);
    expect(growError(FRAMES, { ...FRAMES, n_flows: 6 })).toMatch(/n_flows differs/);
    expect(growError(FRAMES, { ...FRAMES, WN_config: { ...FRAMES.WN_config, kernel_size: 5 } })).toMatch(/kernel_size/);
    expect(growError(preset('cpu-small'), preset('cpu-realtime'))).toBeNull();
    const src = new WaveGlow(FRAMES, 3);
    expect(() => growWaveGlow(src, preset('tiny'))).toThrow(/cannot grow the model: n_group differs/);
    src.dispose();
  });
});
