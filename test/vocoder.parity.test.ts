/**
 * WaveGlow parity with NVIDIA's reference (shared/fixtures/waveglow-parity): same weights, same
 * inputs → same z, log_s, log_det_W, loss and inferred audio, within the fixture README's tolerances.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { readBinManifest } from '../src/io/fixtures.js';
import { WaveGlow } from '../src/vocoder/waveglow.js';
import { configFromNvidia, loadNvidiaStateDict } from '../src/vocoder/nvidia.js';
import { loadTorchStateDict } from '../src/vocoder/import/index.js';

const FIX = new URL('../../shared/fixtures/waveglow-parity/', import.meta.url);

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** NVIDIA (B, C, T) → flowvox channels-last (B, T, C). */
const toChannelsLast = (t: { shape: number[]; data: ArrayLike<number> }) => tf.transpose(tf.tensor3d(Float32Array.from(t.data), t.shape as [number, number, number]), [0, 2, 1]) as tf.Tensor3D;

describe.each(['cpu', 'wasm'])('WaveGlow parity with NVIDIA glow.py (%s)', (backend) => {
  let model: WaveGlow;
  const io = readBinManifest(FIX, 'io.json');
  const weights = readBinManifest(FIX, 'weights.json');
  const cfgJson = JSON.parse(readFileSync(new URL('config.json', FIX), 'utf8')) as unknown;

  beforeAll(async () => {
    await initBackend(backend);
    model = new WaveGlow(configFromNvidia(cfgJson));
    loadNvidiaStateDict(model, weights);
  });

  it('forward (audio → z): z, every log_s and log_det_W, loss and NLL', () => {
    const audio = tf.tensor2d(Float32Array.from(io.get('audio')!.data), io.get('audio')!.shape as [number, number]);
    const mel = toChannelsLast(io.get('mel')!);
    // Step through the flow to read each coupling's log s, as glow.py returns them.
    const spect = model.conditioning(mel, audio.shape[1]);
    const steps = model.flow.bijectors;
    let state = steps[0].inverse(audio);
    let emitted = 0;
    const cfg = model.config;
    for (let k = 0; k < cfg.n_flows; k++) {
      if (k % cfg.n_early_every === 0 && k > 0) emitted += cfg.n_early_size;
      const ch = cfg.n_group - emitted;
      const active = tf.slice(state, [0, 0, emitted], [-1, -1, ch]);
      const afterConv = model.convs[k].inverse(active);
      const ldW = model.convs[k].inverseLogDet(active).dataSync()[0];
      const refLdW = io.get(`log_det_W.${k}`)!.value!;
      expect(Math.abs(ldW - refLdW) / Math.abs(refLdW)).toBeLessThan(1e-5);
      const { logScale } = model.couplings[k].transformParams(afterConv, spect);
      const refLogS = toChannelsLast(io.get(`log_s.${k}`)!);
      expect(maxAbs(logScale.dataSync(), refLogS.dataSync())).toBeLessThan(1e-5);
      state = steps[k + 1].inverse(state, spect);
    }
    const { z, logDet } = model.inverse(audio, mel);
    expect(maxAbs(z.dataSync(), state.dataSync())).toBe(0);
    expect(maxAbs(z.dataSync(), toChannelsLast(io.get('z')!).dataSync())).toBeLessThan(1e-5);
    const loss = model.loss(audio, mel).dataSync()[0];
    expect(Math.abs(loss - io.get('loss')!.value!)).toBeLessThan(1e-5);
    expect(Math.abs(WaveGlow.nllPerSample(loss) - io.get('nll_per_dim_nats')!.value!)).toBeLessThan(1e-5);
    const nllTotal = -model.logProb(audio, mel).dataSync()[0];
    expect(Math.abs(nllTotal - io.get('nll_total_nats')!.value!) / io.get('nll_total_nats')!.value!).toBeLessThan(1e-6);
    expect(logDet.shape).toEqual([1]);
  });

  it('inverse (mel + noise → audio), and the round trip back to the noise', () => {
    const mel = toChannelsLast(io.get('infer_mel')!);
    const sigma = 0.6;
    const n0 = toChannelsLast(io.get('infer_noise.0')!);
    const n1 = toChannelsLast(io.get('infer_noise.1')!);
    // Our z is NVIDIA's cat(early outputs…, final): the early noise first.
    const z = tf.mul(tf.concat([n1, n0], 2), sigma) as tf.Tensor3D;
    const audio = model.synthesize(mel, { z });
    expect(maxAbs(audio.dataSync(), io.get('infer_audio')!.data)).toBeLessThan(1e-4);
    const back = model.inverse(audio, mel).z;
    expect(maxAbs(back.dataSync(), toChannelsLast(io.get('infer_roundtrip_z')!).dataSync())).toBeLessThan(1e-5);
  });

  it.runIf(backend === 'wasm')('both NVIDIA .pt files import to the same outputs', () => {
    const audio = tf.tensor2d(Float32Array.from(io.get('audio')!.data), io.get('audio')!.shape as [number, number]);
    const mel = toChannelsLast(io.get('mel')!);
    const ref = model.inverse(audio, mel).z.dataSync();
    for (const file of ['state_dict.pt', 'nvidia_checkpoint_weightnorm.pt']) {
      const m = new WaveGlow(configFromNvidia(cfgJson));
      loadNvidiaStateDict(m, loadTorchStateDict(new Uint8Array(readFileSync(new URL(file, FIX)))));
      expect(maxAbs(m.inverse(audio, mel).z.dataSync(), ref)).toBeLessThan(1e-6);
      m.dispose();
    }
  });
});
