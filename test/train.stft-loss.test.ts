/**
 * The auxiliary loss of issue 5: the DFT-as-matMul multi-resolution STFT loss against the Float64
 * STFT in dsp/, its gradient against finite differences, and the differentiable generative
 * direction it trains through (the 1x1 convolution's d(W⁻¹) and WaveGlow.sampleForTraining).
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { stftMagnitude } from '../src/dsp/stft.js';
import { Invertible1x1Conv } from '../src/flows/bijectors/invertible-1x1-conv.js';
import { MultiResolutionStftLoss } from '../src/train/stft-loss.js';
import { WaveGlow } from '../src/vocoder/waveglow.js';
import { gaussian, mulberry32 } from '../src/util/random.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const noise = (n: number, seed: number, scale = 0.3) => {
  const g = gaussian(mulberry32(seed));
  return Float32Array.from({ length: n }, () => scale * g());
};

/** Host magnitudes, uncentred, reordered as the loss frames them (start offsets j·hop first). */
function hostFrames(x: Float32Array, nFft: number, hop: number): number[][] {
  const m = stftMagnitude(x, { nFft, hop, center: false });
  const r = nFft / hop;
  const rows: number[][] = [];
  for (let j = 0; j < r; j++) {
    for (let f = j; f < m.frames; f += r) rows.push(Array.from(m.data.subarray(f * m.bins, (f + 1) * m.bins)));
  }
  return rows;
}

describe('MultiResolutionStftLoss', () => {
  const res = [{ nFft: 64, hop: 16, winLength: 64 }, { nFft: 128, hop: 32, winLength: 128 }];

  it('magnitudes equal the Float64 STFT (uncentred), every frame', () => {
    const loss = new MultiResolutionStftLoss(res);
    const x = noise(600, 1);
    for (let i = 0; i < res.length; i++) {
      const got = loss.magnitude(tf.tensor2d(x, [1, x.length]), i);
      const want = hostFrames(x, res[i]!.nFft, res[i]!.hop);
      expect(got.shape).toEqual([want.length, res[i]!.nFft / 2 + 1]);
      const g = got.arraySync();
      let maxErr = 0;
      for (let f = 0; f < want.length; f++) for (let k = 0; k < want[f]!.length; k++) maxErr = Math.max(maxErr, Math.abs(g[f]![k]! - Math.max(want[f]![k]!, Math.sqrt(1e-7))));
      expect(maxErr).toBeLessThan(2e-5);
    }
    loss.dispose();
  });

  it('is spectral convergence + log-magnitude L1, averaged over resolutions; 0 for identical input', () => {
    const loss = new MultiResolutionStftLoss(res);
    const a = noise(512, 2);
    const b = noise(512, 3, 0.1);
    const at = tf.tensor2d(a, [1, 512]);
    expect(loss.loss(at, at).dataSync()[0]).toBeCloseTo(0, 6);
    let want = 0;
    for (const r of res) {
      const s = hostFrames(a, r.nFft, r.hop).flat().map((v) => Math.max(v, Math.sqrt(1e-7)));
      const e = hostFrames(b, r.nFft, r.hop).flat().map((v) => Math.max(v, Math.sqrt(1e-7)));
      let num = 0;
      let den = 0;
      let l1 = 0;
      s.forEach((v, i) => {
        num += (v - e[i]!) ** 2;
        den += v * v;
        l1 += Math.abs(Math.log(v) - Math.log(e[i]!));
      });
      want += Math.sqrt(num / den) + l1 / s.length;
    }
    expect(loss.loss(at, tf.tensor2d(b, [1, 512])).dataSync()[0]).toBeCloseTo(want / res.length, 4);
    expect(() => loss.loss(at, tf.tensor2d(b.subarray(0, 256), [1, 256]))).toThrow(/shapes differ/);
    expect(() => loss.magnitude(tf.zeros([1, 100]) as tf.Tensor2D, 1)).toThrow(/shorter than the 128-point frame/);
    loss.dispose();
  });

  it('gradient wrt the estimate equals central finite differences', () => {
    const loss = new MultiResolutionStftLoss(res);
    const r0 = noise(2 * 256, 4);
    const ref = tf.tensor2d(r0, [2, 256]);
    // 2.5 × the reference plus a little noise: |Ŝ| > |S| in every bin, so no |·| kink lies within
    // a finite-difference step (near one, central differences average two slopes).
    const n5 = noise(2 * 256, 5, 0.02);
    const est = Float32Array.from(r0, (v, i) => 2.5 * v + n5[i]!);
    const f = (x: tf.Tensor) => loss.loss(ref, x as tf.Tensor2D);
    const g = tf.grad(f)(tf.tensor2d(est, [2, 256])).dataSync();
    const eps = 1e-2; // float32 loss of ~1: smaller steps drown in rounding
    const value = (v: Float32Array) => tf.tidy(() => f(tf.tensor2d(v, [2, 256])).dataSync()[0]!);
    for (const i of [17, 100, 140, 300, 400]) {
      const p = Float32Array.from(est);
      const m = Float32Array.from(est);
      p[i]! += eps;
      m[i]! -= eps;
      const fd = (value(p) - value(m)) / (2 * eps);
      expect(Math.abs(g[i]! - fd)).toBeLessThan(1e-2 * Math.abs(fd) + 1e-5);
    }
    loss.dispose();
  });
});

describe('differentiable generative direction', () => {
  for (const c of [4, 64]) {
    it(`Invertible1x1Conv (${c} channels): x = W⁻¹z with d(W⁻¹) = −W⁻¹·dW·W⁻¹ reaching W`, () => {
      const conv = new Invertible1x1Conv(c, { seed: 3 });
      const w0 = Float32Array.from(conv.weight.dataSync(), (v, i) => v + 0.05 * Math.sin(i));
      conv.weight.assign(tf.tensor2d(w0, [c, c]));
      const z = tf.tensor3d(noise(2 * 3 * c, 6, 1), [2, 3, c]);
      const r = tf.tensor3d(noise(2 * 3 * c, 7, 1), [2, 3, c]);
      const plain = conv.forward(z).dataSync();
      conv.generativeGradient = true;
      const f = () => tf.sum(tf.mul(conv.forward(z), r)) as tf.Scalar;
      const withGrad = tf.tidy(() => conv.forward(z).dataSync());
      withGrad.forEach((v, i) => expect(v).toBeCloseTo(plain[i]!, 4));
      const { grads } = tf.variableGrads(f, [conv.weight]);
      const g = grads[conv.weight.name]!.dataSync();
      const eps = 1e-3;
      const at = (v: Float32Array) => {
        conv.weight.assign(tf.tensor2d(v, [c, c]));
        return tf.tidy(() => f().dataSync()[0]!);
      };
      for (const i of [0, 1, c + 2, c * c - 1, Math.floor((c * c) / 2)]) {
        const p = Float32Array.from(w0);
        const m = Float32Array.from(w0);
        p[i]! += eps;
        m[i]! -= eps;
        const fd = (at(p) - at(m)) / (2 * eps);
        expect(Math.abs(g[i]! - fd)).toBeLessThan(2e-2 * Math.max(Math.abs(fd), 0.1));
      }
      conv.dispose();
    });
  }

  it('WaveGlow.sampleForTraining equals synthesize and trains every parameter', () => {
    // cpu-small's layout (one group per mel frame, early outputs), scaled down to run in a second.
    const model = new WaveGlow({
      n_mel_channels: 8, n_flows: 4, n_group: 16, n_early_every: 2, n_early_size: 4,
      WN_config: { n_layers: 2, n_channels: 8, kernel_size: 3 }, hop_length: 16, upsampler: 'frames',
    }, 1);
    const mel = tf.randomNormal([2, 8, 8], -4, 1, 'float32', 9) as tf.Tensor3D;
    const length = 8 * 16;
    const a = model.sampleForTraining(mel, length, { sigma: 0.6, seed: 11 }).dataSync();
    const b = model.synthesize(mel, { sigma: 0.6, seed: 11 }).dataSync();
    expect(a.length).toBe(b.length);
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 4));
    const params = model.namedParameters().filter(([, v]) => v.trainable);
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(model.sampleForTraining(mel, length, { seed: 11 }))) as tf.Scalar, params.map(([, v]) => v));
    for (const [name, v] of params) expect(grads[v.name]?.dataSync().every(Number.isFinite), name).toBe(true);
    // W reaches the loss through W⁻¹ only: its gradient is the custom one.
    for (const c of model.convs) expect(grads[c.weight.name]!.dataSync().some((x) => x !== 0)).toBe(true);
    // NVIDIA zero-initialises each WN's last layer, so at init only it gets a gradient.
    for (const wn of model.wns) {
      const own = new Set(wn.namedParameters().map(([, v]) => v.name));
      expect(params.some(([, v]) => own.has(v.name) && grads[v.name]!.dataSync().some((x) => x !== 0))).toBe(true);
    }
    expect(model.convs.every((c) => !c.generativeGradient)).toBe(true);
    // Seed 0 is a seed (tfjs alone would draw afresh each call; the first training step uses it).
    const s0 = () => Array.from(model.sampleForTraining(mel, length, { seed: 0 }).dataSync());
    expect(s0()).toEqual(s0());
    expect(Array.from(model.synthesize(mel, { seed: 0 }).dataSync())).toEqual(s0());
    model.dispose();
  });
});
