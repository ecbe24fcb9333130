/**
 * Cost of the invertible 1x1 convolution's log-det gradient in WaveGlow training, host inverse
 * (the stateless logAbsDet) against the warm-started Newton–Schulz inverse (LogAbsDetTracker).
 *
 *   npx tsx src/bench/logdet.ts [--backend wasm] [--json] [--reps 7] [--step-reps 5]
 *                               [--batch 8] [--segment 16384] [--model models/default] [--lr 3e-4]
 *
 * (a) log|det W| forward + gradient for the eight cpu-realtime matrices (256², 256², 224², …, 160²),
 *     from --model's trained W when it exists (else random rotations), moved every repeat by an
 *     Adam-sized step (each entry ±lr·U(0.5, 1)), as in training; both variants see the same W.
 * (b) one full cpu-realtime training step (sampler + forward + backward + Adam) with the convs in
 *     each mode, alternating step by step on one model so load from other processes hits both.
 * Medians over repeats, after one warm-up of each; --json prints one JSON object as the last line.
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { TACOTRON_MEL } from '../dsp/mel.js';
import type { LogDetGradient } from '../flows/bijectors/invertible-1x1-conv.js';
import { loadModelDir } from '../io/model-dir.js';
import { LogAbsDetTracker, logAbsDet, randomRotationHost, slogdetHost } from '../nn/linalg.js';
import { Trainer } from '../train/trainer.js';
import { gaussian, mulberry32 } from '../util/random.js';
import { SegmentSampler } from '../vocoder/data.js';
import { preset } from '../vocoder/presets.js';
import { WaveGlow } from '../vocoder/waveglow.js';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export interface LogDetBenchResult {
  backend: string;
  /** (a): milliseconds per training step for all eight matrices. */
  logdet: {
    sizes: number[];
    source: string;
    reps: number;
    hostMs: number;
    newtonSchulzMs: number;
    /** Host LU of the value alone (both variants pay it). */
    luMs: number;
    speedup: number;
    /** max over repeats and matrices of ‖G_ns − G_host‖_F / ‖G_host‖_F. */
    maxRelError: number;
    stats: { host: number; refined: number; iterations: number };
  };
  /** (b): seconds per training step. */
  step: {
    batch: number;
    segment: number;
    reps: number;
    hostS: number;
    newtonSchulzS: number;
    speedup: number;
    audioSecondsPerSecond: { host: number; newtonSchulz: number };
    /** tf.memory().numTensors after each timed step (must not grow). */
    numTensors: number[];
  } | null;
}

export interface LogDetBenchOptions {
  backend?: string;
  reps?: number;
  stepReps?: number;
  batch?: number;
  segment?: number;
  model?: string;
  lr?: number;
  log?: (line: string) => void;
}

/** The eight 1x1-conv matrices of cpu-realtime: trained ones from a model dir, else rotations. */
async function matrices(model: string | undefined): Promise<{ ws: Float32Array[]; sizes: number[]; source: string }> {
  const sizes = [256, 256, 224, 224, 192, 192, 160, 160];
  if (model && existsSync(model)) {
    const m = (await loadModelDir(model)).model;
    const ws = m.convs.map((c) => Float32Array.from(c.weight.dataSync()));
    const got = m.convs.map((c) => c.channels);
    m.dispose();
    if (got.join() === sizes.join()) return { ws, sizes, source: model };
  }
  return { ws: sizes.map((n, i) => Float32Array.from(randomRotationHost(n, gaussian(mulberry32(i + 1))))), sizes, source: 'random rotations' };
}

export async function benchLogDet(opts: LogDetBenchOptions = {}): Promise<LogDetBenchResult> {
  const info = await initBackend(opts.backend ?? 'wasm');
  const log = opts.log ?? (() => {});
  const reps = opts.reps ?? 7;
  const lr = opts.lr ?? 3e-4;
  const before = tf.memory().numTensors;

  // (a) log-det forward + gradient alone.
  const { ws, sizes, source } = await matrices(opts.model ?? 'models/default');
  const rand = mulberry32(7);
  const trackers = sizes.map(() => new LogAbsDetTracker());
  const grad = (f: (w: tf.Tensor2D) => tf.Scalar) => tf.grad((w: tf.Tensor) => f(w as tf.Tensor2D));
  const times = { host: [] as number[], ns: [] as number[], lu: [] as number[] };
  let maxRel = 0;
  for (let r = -1; r < reps; r++) {
    for (const w of ws) for (let i = 0; i < w.length; i++) w[i] -= lr * (rand() < 0.5 ? -1 : 1) * (0.5 + 0.5 * rand());
    const wt = ws.map((w, k) => tf.tensor2d(w, [sizes[k], sizes[k]]));
    let t0 = performance.now();
    for (const w of wt) slogdetHost(w.dataSync() as Float32Array, w.shape[0]);
    const lu = performance.now() - t0;
    t0 = performance.now();
    const gh = wt.map((w) => grad(logAbsDet)(w));
    for (const g of gh) g.dataSync();
    const host = performance.now() - t0;
    t0 = performance.now();
    const gn = wt.map((w, k) => grad(trackers[k].logAbsDet)(w));
    for (const g of gn) g.dataSync();
    const ns = performance.now() - t0;
    for (let k = 0; k < wt.length; k++) {
      maxRel = Math.max(maxRel, tf.tidy(() => tf.div(tf.norm(tf.sub(gn[k], gh[k])), tf.norm(gh[k])).dataSync()[0]));
    }
    tf.dispose([wt, gh, gn]);
    if (r >= 0) {
      times.host.push(host);
      times.ns.push(ns);
      times.lu.push(lu);
    }
  }
  const stats = trackers.reduce((s, t) => ({ host: s.host + t.stats.host, refined: s.refined + t.stats.refined, iterations: s.iterations + t.stats.iterations }), { host: 0, refined: 0, iterations: 0 });
  for (const t of trackers) t.dispose();
  const logdet = {
    sizes, source, reps, hostMs: median(times.host), newtonSchulzMs: median(times.ns), luMs: median(times.lu),
    speedup: median(times.host) / median(times.ns), maxRelError: maxRel, stats,
  };
  log(`(a) logdet fwd+grad, 8 matrices (${source}): host ${logdet.hostMs.toFixed(1)} ms, Newton–Schulz ${logdet.newtonSchulzMs.toFixed(1)} ms ` +
    `(${logdet.speedup.toFixed(1)}x; value LU alone ${logdet.luMs.toFixed(1)} ms); max rel. grad error ${maxRel.toExponential(1)}; ` +
    `${stats.host} host inversions, ${stats.refined} refinements, ${stats.iterations} NS steps`);

  // (b) full training steps, alternating modes on one model.
  const stepReps = opts.stepReps ?? 5;
  let step: LogDetBenchResult['step'] = null;
  if (stepReps > 0) {
    const batch = opts.batch ?? 8;
    const segment = opts.segment ?? 16384;
    const config = preset('cpu-realtime');
    const rate = config.sampling_rate ?? 22050;
    // Four 4 s synthetic "voices" (harmonics + noise): the sampler computes log-mels as training does.
    const g = gaussian(mulberry32(3));
    const clips = Array.from({ length: 4 }, (_, v) => Float32Array.from({ length: 4 * rate }, (_, i) => {
      const t = i / rate;
      let s = 0;
      for (let h = 1; h <= 6; h++) s += Math.sin(2 * Math.PI * (110 + 30 * v) * h * t) / h;
      return 0.1 * s + 0.01 * g();
    }));
    const sampler = new SegmentSampler(clips, segment, { ...TACOTRON_MEL, sampleRate: rate });
    const model = new WaveGlow(config, 0);
    const trainer = new Trainer(model, { clipNorm: 10, schedule: { lr, warmupSteps: 0 } });
    const modes: LogDetGradient[] = ['host', 'newton-schulz'];
    const secs: Record<LogDetGradient, number[]> = { host: [], 'newton-schulz': [] };
    const numTensors: number[] = [];
    for (let r = -1; r < stepReps; r++) {
      for (const mode of modes) {
        for (const c of model.convs) c.logDetGradient = mode;
        const seed = trainer.step;
        const t0 = performance.now();
        trainer.trainStep(() => {
          const b = sampler.batch(batch, seed);
          return model.loss(b.audio, b.mel);
        });
        const dt = (performance.now() - t0) / 1000;
        if (r >= 0) {
          secs[mode].push(dt);
          numTensors.push(tf.memory().numTensors);
        }
        log(`(b) step ${trainer.step} ${mode}: ${dt.toFixed(3)} s${r < 0 ? ' (warm-up)' : ''}`);
      }
    }
    const ns = model.convs.reduce((s, c) => ({ host: s.host + c.logDet.stats.host, refined: s.refined + c.logDet.stats.refined, it: s.it + c.logDet.stats.iterations }), { host: 0, refined: 0, it: 0 });
    log(`(b) Newton–Schulz steps: ${ns.host} host inversions, ${ns.refined} refinements, ${ns.it} NS steps`);
    trainer.optimizer.dispose();
    model.dispose();
    const audio = (batch * segment) / rate;
    const h = median(secs.host);
    const n = median(secs['newton-schulz']);
    step = { batch, segment, reps: stepReps, hostS: h, newtonSchulzS: n, speedup: h / n, audioSecondsPerSecond: { host: audio / h, newtonSchulz: audio / n }, numTensors };
    log(`(b) training step ${batch}×${segment}: host ${h.toFixed(3)} s, Newton–Schulz ${n.toFixed(3)} s (${step.speedup.toFixed(3)}x; ` +
      `${step.audioSecondsPerSecond.host.toFixed(2)} → ${step.audioSecondsPerSecond.newtonSchulz.toFixed(2)} audio-s/s)`);
  }
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) throw new Error(`bench leaked ${leaked} tensors`);
  return { backend: info.backend, logdet, step };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string' }, json: { type: 'boolean', default: false }, reps: { type: 'string' },
      'step-reps': { type: 'string' }, batch: { type: 'string' }, segment: { type: 'string' },
      model: { type: 'string' }, lr: { type: 'string' },
    },
    strict: true,
  });
  const int = (s: string | undefined, name: string, min: number) => {
    if (s === undefined) return undefined;
    const v = Number(s);
    if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
    return v;
  };
  const res = await benchLogDet({
    backend: values.backend, reps: int(values.reps, 'reps', 1), stepReps: int(values['step-reps'], 'step-reps', 0),
    batch: int(values.batch, 'batch', 1), segment: int(values.segment, 'segment', 256), model: values.model,
    lr: values.lr === undefined ? undefined : Number(values.lr),
    log: (line) => console.log(line),
  });
  if (values.json) console.log(JSON.stringify(res));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
