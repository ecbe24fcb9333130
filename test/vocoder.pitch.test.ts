/**
 * The vocoder's pitch predictor (src/vocoder/pitch.ts) inside WaveGlow: the likelihood is the flow's
 * on the predictor's residual, synthesis inverts it (also at a pitch emphasis), a new predictor changes
 * nothing, model directories keep it, and its pitch net learns lags from the labels that NCCF gives.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { loadModelDir, saveModelDir } from '../src/io/model-dir.js';
import { calibrateVoicing, pretrainPitchNet } from '../src/train/pitch-pretrain.js';
import { SegmentSampler } from '../src/vocoder/data.js';
import { TACOTRON_MEL } from '../src/dsp/mel.js';
import { growError, growWaveGlow } from '../src/vocoder/grow.js';
import { parseConfigFile } from '../src/vocoder/model-dir.js';
import { DEFAULT_PITCH_PREDICTOR, MelPitchConditioner, pitchTargets, type PitchPredictorConfig } from '../src/vocoder/pitch.js';
import { preset } from '../src/vocoder/presets.js';
import { mulberry32 } from '../src/util/random.js';
import { WaveGlow, type WaveGlowConfig } from '../src/vocoder/waveglow.js';
import { halfVoiced, randomizeCouplings } from './helpers/random-waveglow.js';

const SR = 22050;
const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
const SMALL_PITCH: PitchPredictorConfig = { ...DEFAULT_PITCH_PREDICTOR, hidden: 32 };
const FRAMES: WaveGlowConfig = { ...preset('cpu-small'), n_flows: 4, WN_config: { n_layers: 2, n_channels: 16, kernel_size: 3 } };
const WITH_PITCH: WaveGlowConfig = { ...FRAMES, predictor: SMALL_PITCH };

/** A harmonic tone of `period` samples (five harmonics, random phases from `seed`). */
function harmonic(period: number, length: number, seed: number): Float32Array {
  const phases = [0.3, 1.1, 2.0, 0.7, 2.9].map((p) => p + seed);
  return Float32Array.from({ length }, (_, i) => 0.1 * phases.reduce((s, ph, h) => s + Math.sin((2 * Math.PI * (h + 1) * i) / period + ph) / (h + 1), 0));
}

/** Sets the gain head so that g ≈ max_gain · tanh(bias) on every frame (the pitch net decides the lags). */
function setGain(model: WaveGlow, bias: number): void {
  const gainB = model.namedParameters().find(([n]) => n === 'predictor.net.gain.b')![1];
  gainB.assign(tf.tensor1d([bias]));
}

describe('WaveGlow with a pitch predictor', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('scores the residual with the flow, and synthesis inverts it (z → audio → z)', () => {
    const model = new WaveGlow(WITH_PITCH, 3);
    randomizeCouplings(model, 11);
    setGain(model, 1.5);
    tf.tidy(() => {
      const mel = tf.randomNormal([2, 9, 80], -4, 1, 'float32', 8) as tf.Tensor3D;
      const audio = tf.mul(tf.randomNormal([2, 2048], 0, 1, 'float32', 7), 0.3) as tf.Tensor2D;
      const residual = model.predictor!.inverse(audio, mel) as tf.Tensor2D;
      // The predictor does act (|g| ≈ 0.86, spread over all lags while the net is untrained), and the likelihood is the flow's on its residual.
      expect(maxAbs(residual, audio)).toBeGreaterThan(0.01);
      const { z, logDet } = model.inverse(audio, mel);
      const [z2, logDet2] = model.flow.inverseAndLogDet(residual, model.conditioning(mel, 2048));
      expect(maxAbs(z, z2)).toBeLessThan(1e-6);
      expect(maxAbs(logDet, logDet2)).toBeLessThan(1e-4);
      // Generation runs the flow, then the predictor's recursion: the inverse gives back z.
      const out = model.synthesize(tf.slice(mel, [0, 0, 0], [2, 8, 80]) as tf.Tensor3D, { z: z as tf.Tensor3D });
      expect(maxAbs(out, audio)).toBeLessThan(1e-4);
    });
  });

  it('trains the gain head by likelihood, and the pitch net only with learn_pitch', () => {
    for (const learn of [false, true]) {
      const model = new WaveGlow({ ...FRAMES, predictor: { ...SMALL_PITCH, learn_pitch: learn } }, 3);
      const trainable = model.namedParameters().filter(([n, v]) => n.startsWith('predictor.') && v.trainable).map(([n]) => n);
      expect(trainable.includes('predictor.net.gain.w')).toBe(true);
      expect(trainable.includes('predictor.net.pitch.0.w')).toBe(learn);
      const audio = tf.tensor2d(harmonic(147, 2048, 1), [1, 2048]);
      const mel = tf.randomNormal([1, 9, 80], -4, 1, 'float32', 8) as tf.Tensor3D;
      const vars = model.namedParameters().filter(([n, v]) => n.startsWith('predictor.') && v.trainable);
      const { value, grads } = tf.variableGrads(() => model.loss(audio, mel), vars.map(([, v]) => v));
      // The gain starts at 0 but its gradient does not (a periodic signal is predictable).
      const gw = grads[vars.find(([n]) => n === 'predictor.net.gain.w')![1].name]!;
      expect(tf.max(tf.abs(gw)).dataSync()[0]).toBeGreaterThan(0);
      tf.dispose([value, ...Object.values(grads), audio, mel]);
      model.dispose();
    }
  });

  it('a predictor added to a trained model (growWaveGlow) starts as the identity', () => {
    const src = new WaveGlow(FRAMES, 3);
    randomizeCouplings(src, 11);
    const grown = growWaveGlow(src, WITH_PITCH, 5);
    tf.tidy(() => {
      const audio = tf.mul(tf.randomNormal([2, 2048], 0, 1, 'float32', 7), 0.3) as tf.Tensor2D;
      const mel = tf.randomNormal([2, 9, 80], -4, 1, 'float32', 8) as tf.Tensor3D;
      expect(maxAbs(src.logProb(audio, mel), grown.logProb(audio, mel))).toBeLessThan(1e-3);
    });
    expect(growError(WITH_PITCH, FRAMES)).toMatch(/cannot be removed/);
    expect(growError(WITH_PITCH, { ...WITH_PITCH, predictor: { ...SMALL_PITCH, max_lag: 300 } })).toMatch(/settings differ/);
    expect(() => new WaveGlow({ ...FRAMES, predictor: { ...SMALL_PITCH, max_gain: 1 } })).toThrow(/max_gain must lie in \(0, 1\)/);
  });

  it('pitch emphasis: synthesis draws with the gain pre-activation × C, the likelihood is unchanged', () => {
    const model = new WaveGlow(WITH_PITCH, 3);
    randomizeCouplings(model, 11);
    setGain(model, 0.4); // g ≈ 0.95·tanh(0.4) = 0.36; × 3 → 0.95·tanh(1.2) = 0.79
    tf.tidy(() => {
      const mel = tf.randomNormal([1, 9, 80], -4, 1, 'float32', 8) as tf.Tensor3D;
      const audio = tf.mul(tf.randomNormal([1, 2048], 0, 1, 'float32', 7), 0.3) as tf.Tensor2D;
      const lp = model.logProb(audio, mel);
      const z = model.inverse(audio, mel).z as tf.Tensor3D;
      const m8 = tf.slice(mel, [0, 0, 0], [1, 8, 80]) as tf.Tensor3D;
      const plain = model.synthesize(m8, { z });
      model.setPitchEmphasis(3);
      expect(model.pitchEmphasis).toBe(3);
      expect(maxAbs(model.logProb(audio, mel), lp)).toBe(0);
      const a = model.synthesisCoefficients(m8);
      const gains = tf.sum(a, 2);
      expect(tf.min(gains).dataSync()[0]).toBeCloseTo(0.95 * Math.tanh(1.2), 4);
      const loud = model.synthesize(m8, { z });
      // The audio differs, and its residual under the emphasised coefficients is the flow's output for z.
      expect(maxAbs(loud, plain)).toBeGreaterThan(1e-2);
      const residual = model.recursion!.inverse(loud, a) as tf.Tensor2D;
      const flowOut = model.flow.forward(z, model.conditioning(m8, 2048));
      expect(maxAbs(residual, flowOut)).toBeLessThan(1e-4);
      model.setPitchEmphasis(1);
      expect(maxAbs(model.synthesize(m8, { z }), plain)).toBe(0);
    });
    expect(() => model.setPitchEmphasis(-1)).toThrow(/finite and ≥ 0/);
    expect(() => model.setPitchEmphasis(Number.NaN)).toThrow(/finite and ≥ 0/);
    expect(() => new WaveGlow(FRAMES, 3).setPitchEmphasis(2)).toThrow(/needs a model with a pitch predictor/);
    model.dispose();
  });

  it('pitch emphasis acts only on the frames the net calls voiced', () => {
    const model = new WaveGlow(WITH_PITCH, 3);
    setGain(model, 0.4);
    const cond = model.predictor!.conditioner as MelPitchConditioner;
    tf.tidy(() => {
      const mel = tf.randomNormal([1, 24, 80], -4, 1.5, 'float32', 8) as tf.Tensor3D;
      halfVoiced(cond, mel, 4);
      const pv = cond.voicedProbability(mel).dataSync();
      const plain = tf.sum(cond.coefficients(mel, 1), 2).dataSync();
      const loud = tf.sum(cond.coefficients(mel, 3), 2).dataSync();
      let voiced = 0;
      for (let f = 0; f < 24; f++) {
        const pre = Math.atanh(plain[f]! / 0.95);
        if (pv[f]! > 0.5) {
          voiced++;
          expect(loud[f]).toBeCloseTo(0.95 * Math.tanh(3 * pre), 4);
        } else expect(loud[f]).toBe(plain[f]);
      }
      expect(voiced).toBeGreaterThan(2);
      expect(voiced).toBeLessThan(22);
    });
    model.dispose();
  });

  it('a model directory keeps the predictor (config and weights)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowvox-pitch-'));
    try {
      const model = new WaveGlow(WITH_PITCH, 3);
      randomizeCouplings(model, 11);
      setGain(model, 0.8);
      await saveModelDir(dir, model, { source: 'test' });
      const loaded = (await loadModelDir(dir)).model;
      expect(loaded.config.predictor).toEqual(SMALL_PITCH);
      expect(loaded.pitchEmphasis).toBe(1);
      // The pitch emphasis is a synthesis setting in config.json, checked on load.
      model.setPitchEmphasis(2.5);
      await saveModelDir(dir, model, { source: 'test' });
      const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      expect(cfg.synthesis).toEqual({ pitch_emphasis: 2.5 });
      expect((await loadModelDir(dir)).model.pitchEmphasis).toBe(2.5);
      expect(() => parseConfigFile({ ...cfg, synthesis: { pitch_emphasis: -2 } })).toThrow(/pitch_emphasis" must be a number ≥ 0/);
      expect(() => parseConfigFile({ ...cfg, waveglow: FRAMES, synthesis: { pitch_emphasis: 2 } })).toThrow(/needs a pitch predictor/);
      tf.tidy(() => {
        const audio = tf.mul(tf.randomNormal([1, 2048], 0, 1, 'float32', 7), 0.3) as tf.Tensor2D;
        const mel = tf.randomNormal([1, 9, 80], -4, 1, 'float32', 8) as tf.Tensor3D;
        expect(maxAbs(model.logProb(audio, mel), loaded.logProb(audio, mel))).toBeLessThan(1e-4);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pitch labels and pretraining', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterAll(async () => {
    await initBackend('cpu');
  });

  it('labels a periodic segment with its period and noise as unvoiced', () => {
    const K = DEFAULT_PITCH_PREDICTOR.max_lag - DEFAULT_PITCH_PREDICTOR.min_lag + 1;
    let s = 1;
    const noise = Float32Array.from({ length: 4096 }, () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2);
    const audio = new Float32Array(8192);
    audio.set(harmonic(200, 4096, 0));
    audio.set(noise, 4096);
    const y = pitchTargets(audio, 2, 16, 256, SR, DEFAULT_PITCH_PREDICTOR);
    const argmax = (f: number) => { let b = 0; for (let k = 1; k <= K; k++) if (y[f * (K + 1) + k]! > y[f * (K + 1) + b]!) b = k; return b; };
    for (let f = 2; f < 14; f++) expect(DEFAULT_PITCH_PREDICTOR.min_lag + argmax(f)).toBe(200);
    for (let f = 18; f < 30; f++) expect(argmax(f)).toBe(K);
  });

  it('pretraining teaches the net to read the lag from the mel', () => {
    // Tones at 12 pitches (lags 60–300), one per clip; the net must tell them apart from their mels.
    const lags = [60, 70, 82, 95, 110, 128, 148, 170, 196, 225, 260, 300];
    const clips = lags.map((l, i) => harmonic(l, SR, i));
    const sampler = new SegmentSampler(clips, 4096, TACOTRON_MEL);
    const cond = new MelPitchConditioner(80, { ...DEFAULT_PITCH_PREDICTOR, hidden: 64 }, 1);
    const r = pretrainPitchNet(cond, 256, sampler, sampler, { steps: 160, batch: 8, valBatches: 3 });
    expect(r.steps).toBe(160);
    expect(r.before.voicedShare).toBeGreaterThan(0.9);
    expect(r.before.within3pct).toBeLessThan(0.2);
    expect(r.after.within3pct).toBeGreaterThan(0.8);
    expect(r.after.vuError).toBeLessThan(0.1);
    cond.dispose();
  });

  it('calibrateVoicing refits the voiced/unvoiced call and leaves the coefficients as they were', () => {
    // Tones and noise; a new net calls every frame voiced (the unvoiced logit starts at 0 < log K).
    const rand = mulberry32(7);
    const noise = (n: number) => Float32Array.from({ length: n }, () => (rand() - 0.5) * 0.3);
    const clips = [0, 1, 2, 3].flatMap((i) => [harmonic(90 + 40 * i, SR, i), noise(SR)]);
    const sampler = new SegmentSampler(clips, 4096, TACOTRON_MEL);
    const cond = new MelPitchConditioner(80, { ...DEFAULT_PITCH_PREDICTOR, hidden: 64 }, 1);
    tf.tidy(() => {
      const mel = tf.tensor3d(sampler.draw(4, 99).mel, [4, 17, 80]);
      const before = cond.apply(mel);
      const r = calibrateVoicing(cond, 256, sampler, sampler, { batches: 8, batch: 8, steps: 200 });
      expect(r.frames).toBe(8 * 8 * 16);
      expect(r.before).toBeGreaterThan(0.3);
      expect(r.after).toBeLessThan(0.1);
      expect(r.lossAfter).toBeLessThan(r.lossBefore / 2);
      // The likelihood's coefficients do not read the unvoiced class: unchanged to the bit.
      expect(maxAbs(cond.apply(mel), before)).toBe(0);
    });
    cond.dispose();
  });
});
