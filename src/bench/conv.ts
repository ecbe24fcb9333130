/**
 * Throughput of the training ground of the vocoder: conv1d and matMul, forward and gradients.
 *
 *   npx tsx src/bench/conv.ts [--backend wasm] [--json] [--reps 5] [--channels 64,128,256]
 *                             [--dilations 1,8] [--rows 8192]
 *
 * GFLOP/s = useful multiply-adds × 2 / median seconds. Variants of one shape are timed round-robin
 * (one call of each per round, after one warm-up round), so load from other processes spreads over
 * all of them instead of biasing one; each call gets fresh copies of its inputs, as in training.
 * convFwd is ours with a bias (fused); tfConv1dFwd has no bias,
 * tfConv1dAddFwd adds it with tf.add; im2colFwd and sumTapsFwd are the matMul-only forwards that
 * src/nn/conv1d.ts compares against. "Grad" rows time dA and dB only (2× the forward FLOPs); "Train"
 * rows time tf.grads, i.e. forward and all gradients (3×).
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { conv1d, matMul, matMulGrads } from '../nn/index.js';

export interface ConvBenchOptions {
  backend?: string;
  reps?: number;
  channels?: number[];
  dilations?: number[];
  /** B·T; split as B = 2. */
  rows?: number;
  k?: number;
  log?: (line: string) => void;
}

export interface ConvBenchRow {
  channels: number;
  dilation: number | null; // null for matMul rows (no dilation)
  /** Variant name → GFLOP/s (median). */
  gflops: Record<string, number>;
}

export interface ConvBenchResult {
  backend: string;
  rows: ConvBenchRow[];
  /** Geometric means over shapes of the ratios that matter. */
  ratios: Record<string, number>;
  reps: number;
  shape: { batch: number; time: number; k: number };
}

type Variant = (...inputs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

/**
 * Median milliseconds per variant, timed round-robin. Every call gets fresh copies of `inputs`
 * (made outside the timing): in training, activations and weights are new tensors each step, and
 * wasm's XNNPACK would otherwise reuse the right operand it packed on an earlier call.
 */
function timeRoundRobin(inputs: tf.Tensor[], variants: Record<string, Variant>, reps: number): Record<string, number> {
  const names = Object.keys(variants);
  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = -1; round < reps; round++) {
    for (const name of names) {
      const fresh = inputs.map((t) => tf.mul(t, 1));
      for (const t of fresh) t.dataSync();
      const t0 = performance.now();
      const out = variants[name](...fresh);
      for (const t of Array.isArray(out) ? out : [out]) t.dataSync(); // wait for the result
      const dt = performance.now() - t0;
      tf.dispose([out, fresh]);
      if (round >= 0) times[name].push(dt);
    }
  }
  return Object.fromEntries(names.map((n) => {
    const s = times[n].sort((a, b) => a - b);
    return [n, s[s.length >> 1]];
  }));
}

/** im2col by pad + k slices + concat, then one matMul: the alternative the conv1d header compares. */
function im2colConv(x: tf.Tensor3D, w: tf.Tensor3D, d: number): tf.Tensor {
  return tf.tidy(() => {
    const [B, T, cin] = x.shape;
    const [k, , cout] = w.shape;
    const p = ((k - 1) * d) / 2;
    const xp = tf.reshape(tf.pad(x, [[0, 0], [p, p], [0, 0]]), [B, -1]); // rows of a batch are contiguous
    const taps = Array.from({ length: k }, (_, j) => tf.reshape(tf.slice(xp, [0, j * d * cin], [B, T * cin]), [B * T, cin]));
    return tf.matMul(tf.concat(taps, 1) as tf.Tensor2D, tf.reshape(w, [k * cin, cout]) as tf.Tensor2D);
  });
}

/** Σ_j slice_j · W_j: the other matMul-only alternative. */
function sumTapsConv(x: tf.Tensor3D, w: tf.Tensor3D, d: number): tf.Tensor {
  return tf.tidy(() => {
    const [B, T, cin] = x.shape;
    const [k] = w.shape;
    const p = ((k - 1) * d) / 2;
    const xp = tf.reshape(tf.pad(x, [[0, 0], [p, p], [0, 0]]), [B, -1]);
    const ws = tf.unstack(w) as tf.Tensor2D[];
    return tf.addN(ws.map((wj, j) =>
      tf.matMul(tf.reshape(tf.slice(xp, [0, j * d * cin], [B, T * cin]), [B * T, cin]) as tf.Tensor2D, wj)));
  });
}

function geomean(xs: number[]): number {
  return Math.exp(xs.reduce((s, v) => s + Math.log(v), 0) / xs.length);
}

export async function benchConv(opts: ConvBenchOptions = {}): Promise<ConvBenchResult> {
  const info = await initBackend(opts.backend);
  const reps = opts.reps ?? 5;
  const rows = opts.rows ?? 8192;
  const k = opts.k ?? 3;
  const batch = 2;
  const time = Math.floor(rows / batch);
  const log = opts.log ?? (() => {});
  const out: ConvBenchRow[] = [];
  const tensorsBefore = tf.memory().numTensors;

  for (const c of opts.channels ?? [64, 128, 256]) {
    // matMul on the im2col shape of this layer: [B·T, k·C] · [k·C, C].
    {
      const a = tf.randomNormal([batch * time, k * c]) as tf.Tensor2D;
      const b = tf.randomNormal([k * c, c]) as tf.Tensor2D;
      const dy = tf.randomNormal([batch * time, c]) as tf.Tensor2D;
      const flops = 2 * batch * time * k * c * c;
      // The stock gradient is these two transposed-flag products (tfjs-core's BatchMatMul grad).
      const ms = timeRoundRobin([a, b, dy], {
        matMulFwd: (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
        matMulGradStock: (a, b, dy) => [tf.matMul(dy, b, false, true), tf.matMul(a, dy, true, false)],
        matMulGradOurs: (a, b, dy) => matMulGrads(a as tf.Tensor2D, b as tf.Tensor2D, dy as tf.Tensor2D),
        matMulTrainOurs: (a, b, dy) =>
          tf.grads((p: tf.Tensor, q: tf.Tensor) => matMul(p as tf.Tensor2D, q as tf.Tensor2D))([a, b], dy),
      }, reps);
      const gflops = {
        matMulFwd: flops / ms.matMulFwd / 1e6,
        matMulGradStock: (2 * flops) / ms.matMulGradStock / 1e6,
        matMulGradOurs: (2 * flops) / ms.matMulGradOurs / 1e6,
        matMulTrainOurs: (3 * flops) / ms.matMulTrainOurs / 1e6,
      };
      out.push({ channels: c, dilation: null, gflops });
      log(`matMul [${batch * time}x${k * c}]·[${k * c}x${c}] done`);
      tf.dispose([a, b, dy]);
    }
    for (const d of opts.dilations ?? [1, 8]) {
      const x = tf.randomNormal([batch, time, c]) as tf.Tensor3D;
      const w = tf.tidy(() => tf.mul(tf.randomNormal([k, c, c]), 1 / Math.sqrt(k * c))) as tf.Tensor3D;
      const bias = tf.zeros([c]) as tf.Tensor1D;
      const dy = tf.randomNormal([batch, time, c]) as tf.Tensor3D;
      const flops = 2 * batch * time * k * c * c;
      type T3 = tf.Tensor3D;
      const ms = timeRoundRobin([x, w, bias, dy], {
        convFwd: (x, w, b) => conv1d(x as T3, w as T3, b as tf.Tensor1D, d),
        tfConv1dFwd: (x, w) => tf.conv1d(x as T3, w as T3, 1, 'same', 'NWC', d),
        tfConv1dAddFwd: (x, w, b) => tf.tidy(() => tf.add(tf.conv1d(x as T3, w as T3, 1, 'same', 'NWC', d), b)),
        im2colFwd: (x, w) => im2colConv(x as T3, w as T3, d),
        sumTapsFwd: (x, w) => sumTapsConv(x as T3, w as T3, d),
        convTrain: (x, w, b, dy) =>
          tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => conv1d(xx as T3, ww as T3, bb as tf.Tensor1D, d))([x, w, b], dy),
      }, reps);
      const gflops = {
        convFwd: flops / ms.convFwd / 1e6,
        tfConv1dFwd: flops / ms.tfConv1dFwd / 1e6,
        tfConv1dAddFwd: flops / ms.tfConv1dAddFwd / 1e6,
        im2colFwd: flops / ms.im2colFwd / 1e6,
        sumTapsFwd: flops / ms.sumTapsFwd / 1e6,
        convTrain: (3 * flops) / ms.convTrain / 1e6,
      };
      out.push({ channels: c, dilation: d, gflops });
      log(`conv1d C=${c} k=${k} d=${d} done`);
      tf.dispose([x, w, bias, dy]);
    }
  }
  const leaked = tf.memory().numTensors - tensorsBefore;
  if (leaked !== 0) throw new Error(`bench leaked ${leaked} tensors`);

  const convRows = out.filter((r) => r.dilation !== null);
  const mmRows = out.filter((r) => r.dilation === null);
  const ratio = (rs: ConvBenchRow[], a: string, b: string) => geomean(rs.map((r) => r.gflops[a] / r.gflops[b]));
  return {
    backend: info.backend,
    rows: out,
    ratios: {
      convFwdOverTfConv1dAdd: ratio(convRows, 'convFwd', 'tfConv1dAddFwd'),
      convFwdOverTfConv1d: ratio(convRows, 'convFwd', 'tfConv1dFwd'),
      convFwdOverIm2col: ratio(convRows, 'convFwd', 'im2colFwd'),
      convTrainOverConvFwd: ratio(convRows, 'convTrain', 'convFwd'),
      matMulGradOursOverStock: ratio(mmRows, 'matMulGradOurs', 'matMulGradStock'),
      matMulGradOursOverFwd: ratio(mmRows, 'matMulGradOurs', 'matMulFwd'),
    },
    reps,
    shape: { batch, time, k },
  };
}

/** Fixed-width table: one line per row, one column per variant (GFLOP/s). */
function table(rows: ConvBenchRow[], label: (r: ConvBenchRow) => string): string[] {
  const cols = Object.keys(rows[0]?.gflops ?? {});
  const lines = [['shape'.padEnd(16), ...cols.map((c) => c.padStart(16))].join('')];
  for (const r of rows) lines.push([label(r).padEnd(16), ...cols.map((c) => r.gflops[c].toFixed(1).padStart(16))].join(''));
  return lines;
}

function list(s: string | undefined, name: string): number[] | undefined {
  if (s === undefined) return undefined;
  const v = s.split(',').map(Number);
  if (v.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--${name} takes positive integers, e.g. 64,128`);
  return v;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string' },
      json: { type: 'boolean', default: false },
      reps: { type: 'string' },
      channels: { type: 'string' },
      dilations: { type: 'string' },
      rows: { type: 'string' },
    },
    strict: true,
  });
  const reps = values.reps === undefined ? 5 : Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps must be a positive integer');
  const rows = values.rows === undefined ? undefined : Number(values.rows);
  if (rows !== undefined && (!Number.isInteger(rows) || rows < 2)) throw new Error('--rows must be an integer ≥ 2');
  const res = await benchConv({
    backend: values.backend,
    reps,
    rows,
    channels: list(values.channels, 'channels'),
    dilations: list(values.dilations, 'dilations'),
    log: (line) => console.error(line),
  });
  const { batch, time, k } = res.shape;
  console.log(`backend ${res.backend}; GFLOP/s, median of ${res.reps} after a warm-up; B=${batch} T=${time} k=${k}`);
  console.log(`\nmatMul [B·T, k·C]·[k·C, C] (the im2col shape of the conv layer)`);
  for (const l of table(res.rows.filter((r) => r.dilation === null), (r) => `C=${r.channels}`)) console.log(l);
  console.log(`\nconv1d [B, T, C] * [k, C, C] + bias`);
  for (const l of table(res.rows.filter((r) => r.dilation !== null), (r) => `C=${r.channels} d=${r.dilation}`)) console.log(l);
  console.log('\nratios (geometric mean over shapes)');
  for (const [n, v] of Object.entries(res.ratios)) console.log(`  ${n.padEnd(26)} ${v.toFixed(2)}x`);
  if (values.json) console.log(JSON.stringify(res));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
