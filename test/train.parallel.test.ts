/** Data-parallel training over worker_threads: exactness against the single-thread Trainer, errors, leaks, CLI. */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { command as train } from '../src/cli/commands/train.js';
import { TACOTRON_MEL } from '../src/dsp/mel.js';
import type { Module } from '../src/flows/module.js';
import { encodeWav } from '../src/io/wav.js';
import { loadWeights } from '../src/io/weights-file.js';
import { Adam } from '../src/train/adam.js';
import { ParallelTrainer, shareBounds, sliceBatch, type HostBatch } from '../src/train/parallel.js';
import { NonFiniteError, Trainer } from '../src/train/trainer.js';
import { waveglowFactory, waveglowReplica } from '../src/train/waveglow-replica.js';
import { SegmentSampler } from '../src/vocoder/data.js';
import { preset } from '../src/vocoder/presets.js';
import { WaveGlow } from '../src/vocoder/waveglow.js';
import { createToyReplica, toyFactory } from './helpers/parallel-toy.js';

const SR = 22050;
const dir = mkdtempSync(join(tmpdir(), 'flowvox-parallel-'));
const open: ParallelTrainer[] = [];

beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(async () => {
  await Promise.all(open.map((p) => p.dispose()));
});

async function start(...args: Parameters<typeof ParallelTrainer.create>): Promise<ParallelTrainer> {
  const p = await ParallelTrainer.create(...args);
  open.push(p);
  return p;
}

function snapshot(m: Module): Map<string, Float32Array> {
  return new Map(m.namedParameters().map(([n, v]) => [n, v.dataSync().slice() as Float32Array]));
}

/** Largest |a − b| over all parameters, relative to the largest |b|. */
function relDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let diff = 0;
  let scale = 0;
  for (const [n, x] of a) {
    const y = b.get(n)!;
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i] - y[i]));
      scale = Math.max(scale, Math.abs(y[i]));
    }
  }
  return diff / scale;
}

/** A toy regression batch of `items` rows; `marker` replaces x[first item of `at`][0]. */
function toyBatch(items: number, dim: number, seed: number, mark?: { at: number; value: number }): HostBatch {
  const x = new Float32Array(items * dim).map((_, i) => Math.sin(i * 0.37 + seed));
  const y = new Float32Array(items).map((_, i) => Math.cos(i + seed));
  if (mark) x[mark.at * dim] = mark.value;
  return [{ data: x, shape: [items, dim] }, { data: y, shape: [items, 1] }];
}

describe('batch splitting', () => {
  it('splits items into contiguous shares that differ by at most one', () => {
    expect(shareBounds(8, 2)).toEqual([0, 4, 8]);
    expect(shareBounds(5, 3)).toEqual([0, 1, 3, 5]);
    const [x] = sliceBatch(toyBatch(4, 3, 0), 1, 3);
    expect(x.shape).toEqual([2, 3]);
    expect(Array.from(x.data)).toEqual(Array.from(toyBatch(4, 3, 0)[0].data.subarray(3, 9)));
  });
});

describe('ParallelTrainer (toy regression)', () => {
  const dim = 6;

  it('matches the single-thread Trainer on uneven shares and leaks no tensors', async () => {
    const ref = createToyReplica({ dim });
    const trainer = new Trainer(ref.model, { clipNorm: 1, schedule: { lr: 0.05 } });
    const main = createToyReplica({ dim });
    const p = await start({ participants: 3, main, factory: toyFactory({ dim }), optimizer: new Adam({ clipNorm: 1 }), schedule: () => 0.05 });
    let workerTensors: number[] = [];
    let mainTensors = 0;
    for (let s = 0; s < 5; s++) {
      const batch = toyBatch(7, dim, s); // shares of 2, 2, 3 items
      const a = trainer.trainStep(() => ref.loss(batch.map((t) => tf.tensor(t.data, t.shape))));
      const b = await p.trainStep(batch);
      expect(b.step).toBe(a.step);
      expect(b.loss).toBeCloseTo(a.loss, 5);
      expect(b.gradNorm).toBeCloseTo(a.gradNorm, 5);
      if (s === 1) {
        workerTensors = (await p.workerMemory()).map((m) => m.numTensors);
        mainTensors = tf.memory().numTensors;
      }
    }
    expect(relDiff(snapshot(main.model), snapshot(ref.model))).toBeLessThan(1e-6);
    expect((await p.workerMemory()).map((m) => m.numTensors)).toEqual(workerTensors);
    expect(tf.memory().numTensors).toBe(mainTensors);
  });

  it('runs a batch smaller than the number of participants', async () => {
    const main = createToyReplica({ dim });
    const p = await start({ participants: 3, main, factory: toyFactory({ dim }), optimizer: new Adam(), schedule: () => 0.01 });
    const info = await p.trainStep(toyBatch(1, dim, 0));
    expect(Number.isFinite(info.loss)).toBe(true);
  });

  it('surfaces a worker error and leaves the parameters and optimizer untouched', async () => {
    const main = createToyReplica({ dim });
    const opt = new Adam();
    const p = await start({ participants: 2, main, factory: toyFactory({ dim, throwOn: 99 }), optimizer: opt, schedule: () => 0.01 });
    await p.trainStep(toyBatch(4, dim, 0));
    const before = snapshot(main.model);
    await expect(p.trainStep(toyBatch(4, dim, 1, { at: 2, value: 99 }))).rejects.toThrow(/worker 1 failed: toy replica: bad batch/);
    expect(relDiff(snapshot(main.model), before)).toBe(0);
    expect(opt.step).toBe(1);
    // The worker survives a failed step.
    expect((await p.trainStep(toyBatch(4, dim, 2))).step).toBe(2);
  });

  it('turns a NaN gradient from a worker into a NonFiniteError before touching the parameters', async () => {
    const main = createToyReplica({ dim });
    const p = await start({ participants: 2, main, factory: toyFactory({ dim, nanOn: 42 }), optimizer: new Adam(), schedule: () => 0.01 });
    await p.trainStep(toyBatch(4, dim, 0));
    const before = snapshot(main.model);
    const err = await p.trainStep(toyBatch(4, dim, 1, { at: 2, value: 42 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(relDiff(snapshot(main.model), before)).toBe(0);
    expect(p.step).toBe(1);
  });

  it('fails clearly when a worker cannot build its replica, and refuses steps after dispose', async () => {
    const main = createToyReplica({ dim });
    const factory = { ...toyFactory({ dim }), exportName: 'noSuchFactory' };
    await expect(ParallelTrainer.create({ participants: 2, main, factory, optimizer: new Adam(), schedule: () => 0.01 })).rejects.toThrow(/worker 1 failed: .*noSuchFactory/);
    const wrong = await ParallelTrainer.create({ participants: 2, main, factory: toyFactory({ dim: dim + 1 }), optimizer: new Adam(), schedule: () => 0.01 }).catch((e: unknown) => e);
    expect(String(wrong)).toMatch(/different parameter layout/);
    const p = await ParallelTrainer.create({ participants: 2, main, factory: toyFactory({ dim }), optimizer: new Adam(), schedule: () => 0.01 });
    await p.dispose();
    await expect(p.trainStep(toyBatch(2, dim, 0))).rejects.toThrow(/disposed/);
  });
});

/** Short harmonic "voices" at 22.05 kHz. */
function voices(n: number, seconds: number): Float32Array[] {
  return Array.from({ length: n }, (_, v) => {
    const x = new Float32Array(Math.round(seconds * SR));
    for (let i = 0; i < x.length; i++) {
      const t = i / SR;
      const f0 = 120 + 40 * v + 5 * Math.sin(2 * Math.PI * 5 * t);
      let s = 0;
      for (let h = 1; h <= 6; h++) s += Math.sin(2 * Math.PI * f0 * h * t) / h;
      x[i] = 0.15 * s * Math.sin((Math.PI * i) / x.length);
    }
    return x;
  });
}

describe('ParallelTrainer (WaveGlow tiny)', () => {
  it('gives the single-thread parameters after a few steps, to float32 rounding', async () => {
    const cfg = preset('tiny');
    const B = 4;
    const seg = 2048;
    const sampler = new SegmentSampler(voices(3, 1), seg, { ...TACOTRON_MEL, sampleRate: SR });
    const opts = { clipNorm: 10, schedule: { lr: 1e-3 } };
    const ref = new WaveGlow(cfg, 0);
    const single = new Trainer(ref, opts);
    const losses: number[] = [];
    for (let s = 0; s < 3; s++) {
      losses.push(single.trainStep(() => {
        const b = sampler.batch(B, 10 + s);
        return ref.loss(b.audio, b.mel);
      }).loss);
    }
    for (const participants of [2, 3]) {
      const model = new WaveGlow(cfg, 0);
      const t = new Trainer(model, opts);
      const p = await start({
        participants, main: waveglowReplica(model), factory: waveglowFactory({ config: cfg, seed: 0 }), optimizer: t.optimizer, schedule: t.schedule,
      });
      let tensors: number[] = [];
      for (let s = 0; s < 3; s++) {
        const d = sampler.draw(B, 10 + s);
        const info = await p.trainStep([{ data: d.audio, shape: [B, seg] }, { data: d.mel, shape: [B, d.frames, cfg.n_mel_channels] }]);
        expect(info.loss).toBeCloseTo(losses[s], 5);
        if (s === 0) tensors = (await p.workerMemory()).map((m) => m.numTensors);
      }
      expect(t.step).toBe(3);
      expect((await p.workerMemory()).map((m) => m.numTensors)).toEqual(tensors);
      expect(relDiff(snapshot(model), snapshot(ref))).toBeLessThan(2e-6);
      await p.dispose();
    }
  });
});

describe('flowvox train --workers', () => {
  const data = join(dir, 'wavs');
  beforeAll(() => {
    voices(4, 1.5).forEach((x, v) => {
      mkdirSync(join(data, `v${v}`), { recursive: true });
      writeFileSync(join(data, `v${v}`, `clip${v}.wav`), encodeWav(x, SR, { bitDepth: '16' }));
    });
  });

  async function runJson(args: string[]): Promise<Record<string, unknown>> {
    const lines: string[] = [];
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (lines.push(String(s)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await train.run([...args, '--json', '--backend', 'wasm']);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    return JSON.parse(lines.join('').trim().split('\n').pop()!) as Record<string, unknown>;
  }

  it('trains with 2 workers, resumes exactly, and stays within rounding of --workers 1', async () => {
    const common = ['--preset', 'tiny', '--data', data, '--batch', '4', '--segment', '2048', '--lr', '1e-3', '--warmup', '2', '--val-batches', '1'];
    const resumeArgs = ['--data', data, '--lr', '1e-3', '--warmup', '2', '--val-batches', '1'];
    const straight = await runJson([...common, '--out', join(dir, 'w2'), '--steps', '4', '--workers', '2']);
    expect(straight).toMatchObject({ step: 4, workers: 2 });
    expect((straight.stepSecondsMedian as Record<string, number>).workerCompute).toBeGreaterThan(0);
    await runJson([...common, '--out', join(dir, 'w2r'), '--steps', '2', '--workers', '2']);
    expect(await runJson([...resumeArgs, '--out', join(dir, 'w2r'), '--steps', '2', '--resume', '--workers', '2'])).toMatchObject({ step: 4 });
    await runJson([...common, '--out', join(dir, 'w1'), '--steps', '4', '--workers', '1']);

    const [a, b, c] = await Promise.all(['w2', 'w2r', 'w1'].map((d) => loadWeights(join(dir, d, 'checkpoint'))));
    expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
    expect(a.manifest.weightsManifest[0].weights).toEqual(c.manifest.weightsManifest[0].weights);
    const x = new Float32Array(a.data.buffer, a.data.byteOffset, a.data.byteLength / 4);
    const y = new Float32Array(c.data.buffer, c.data.byteOffset, c.data.byteLength / 4);
    // Parameters and Adam moments of the two paths agree to float32 rounding.
    const specs = a.manifest.weightsManifest[0].weights;
    let off = 0;
    for (const s of specs) {
      const n = s.shape.reduce((p, q) => p * q, 1);
      if (!s.name.startsWith('adam.')) {
        let d = 0;
        let m = 0;
        for (let i = off; i < off + n; i++) {
          d = Math.max(d, Math.abs(x[i] - y[i]));
          m = Math.max(m, Math.abs(y[i]));
        }
        expect(d, s.name).toBeLessThanOrEqual(2e-6 * Math.max(m, 1));
      }
      off += n;
    }
  });
});
