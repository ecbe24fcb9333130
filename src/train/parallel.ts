/**
 * Data-parallel training across worker_threads. tfjs-wasm runs one thread per process, so each
 * worker holds its own tfjs and a model replica; the main thread computes one share of the batch
 * itself (N participants = N − 1 worker threads), averages the gradients, clips, applies Adam to
 * the main model and broadcasts the new parameters at the start of the next step.
 *
 * Exactness: a batch of B items is split along its leading axis into contiguous shares; share k
 * with B_k items gets weight B_k / B, so for a loss that is a mean over equally sized items (all
 * of flowvox's) the weighted sum of share gradients is the full-batch gradient up to float32
 * rounding. Gradient norm, clipping, Adam and NonFiniteError behave as in Trainer.
 *
 * Replicas cannot be sent to a thread, so a worker builds its own from a factory module
 * (`ReplicaFactory`): a module URL, an export name and structured-cloneable arguments.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '../flows/module.js';
import { Adam } from './adam.js';
import type { Schedule } from './schedule.js';
import { NonFiniteError, type StepInfo } from './trainer.js';

/** A host array with its shape; in a batch, shape[0] is the item axis. */
export interface HostTensor {
  data: Float32Array;
  shape: number[];
}

/** One batch as host arrays sharing the leading (item) dimension, e.g. [audio, mel]. */
export type HostBatch = HostTensor[];

/** A model and the mean loss of a batch given as tensors (in HostBatch order). */
export interface Replica {
  model: Module;
  loss(batch: tf.Tensor[]): tf.Scalar;
  /**
   * Optional: weight the value and the gradient of the loss terms that depend on the parameters
   * alone, the same for every item (WaveGlow: log|det W|). The trainer counts them once, on the main
   * thread (weight 1/w₀ for its share's weight w₀), which keeps state across steps, and not on the
   * workers (0); the weighted sum of the shares' losses and gradients is unchanged. `trainingStep`
   * marks the training step's loss (WaveGlow then updates log|det W| from the last step's).
   */
  setParameterTermWeights?(weights: ParameterTermWeights): void;
}

/** Multipliers of a replica's parameter-only loss terms: their value and their gradient. */
export interface ParameterTermWeights {
  value: number;
  gradient: number;
  /** The loss is a training step's (not an evaluation's): state kept across steps may be used. */
  trainingStep?: boolean;
}

/** How a worker builds its replica: `module` exports `exportName: (args: A) => Replica | Promise<Replica>`. */
export interface ReplicaFactory<A = unknown> {
  module: string | URL;
  exportName: string;
  /** Structured-cloneable. */
  args: A;
}

/**
 * How new parameters reach the workers: 'shared' writes them once into a SharedArrayBuffer all
 * workers read; 'transfer' posts a transferred copy to each worker.
 */
export type ParamTransport = 'shared' | 'transfer';

export interface ParallelTrainerOptions<A> {
  /** Participants including the main thread (≥ 1); N − 1 worker threads are started. */
  participants: number;
  /** The main thread's replica: its model is the one trained, validated and checkpointed. */
  main: Replica;
  factory: ReplicaFactory<A>;
  /** Shared with a Trainer so checkpoints and `--resume` see the same optimizer state. */
  optimizer: Adam;
  schedule: Schedule;
  /** tfjs backend for the workers (default: FLOWVOX_BACKEND or the best available). */
  backend?: string;
  transport?: ParamTransport;
}

/** Wall seconds of the parts of one step, to see where time goes. */
export interface StepTiming {
  /** Main thread: publishing parameters (read out of tfjs, copy / post) and slicing the batch. */
  broadcast: number;
  /** Main thread: forward + backward of its own share. */
  mainCompute: number;
  /** Slowest worker: forward + backward of its share. */
  workerCompute: number;
  /** Slowest worker: loading the parameters and packing its gradients. */
  workerTransfer: number;
  /** Main thread: idle, waiting for workers after its own share. */
  wait: number;
  /** Main thread: weighted average of the gradients. */
  reduce: number;
  /** Main thread: global norm, clip and Adam. */
  optimizer: number;
}

export interface ParallelStepInfo extends StepInfo {
  timing: StepTiming;
}

// ---- messages between the main thread and a worker (shared with grad-worker.ts) ----

export interface WorkerInit {
  factory: { module: string; exportName: string; args: unknown };
  backend?: string;
  /** Parameters in namedParameters order (transport 'shared'). */
  sharedParams: SharedArrayBuffer | null;
}

export interface ParamSpec {
  name: string;
  shape: number[];
  trainable: boolean;
}

export type ToWorker =
  | {
      type: 'step';
      id: number;
      /** Flat parameters (transport 'transfer'); null: read the shared buffer. */
      params: Float32Array | null;
      batch: HostBatch;
      /** The previous gradient buffer, handed back for reuse. */
      gradBuffer: ArrayBuffer | null;
      parameterTerms: ParameterTermWeights;
    }
  | { type: 'memory'; id: number };

export type FromWorker =
  | { type: 'ready'; layout: ParamSpec[] }
  | {
      type: 'result';
      id: number;
      loss: number;
      /** Gradients in namedParameters order, zeros where `present` is 0. */
      grads: Float32Array;
      present: Uint8Array;
      seconds: { load: number; compute: number; pack: number };
    }
  | { type: 'memory'; id: number; numTensors: number; numBytes: number }
  | { type: 'error'; id: number | null; message: string; stack?: string };

type Result = Extract<FromWorker, { type: 'result' }>;

/** Item bounds of each participant's share: contiguous, sizes differ by at most one. */
export function shareBounds(items: number, participants: number): number[] {
  return Array.from({ length: participants + 1 }, (_, k) => Math.floor((k * items) / participants));
}

/** Items [start, end) of every tensor of a batch, as fresh (transferable) arrays. */
export function sliceBatch(batch: HostBatch, start: number, end: number): HostBatch {
  return batch.map(({ data, shape }) => {
    const per = shape.slice(1).reduce((a, b) => a * b, 1);
    return { data: data.slice(start * per, end * per), shape: [end - start, ...shape.slice(1)] };
  });
}

class WorkerHandle {
  private readonly pending = new Map<number, { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>();
  private failure: Error | null = null;
  private nextId = 0;
  readonly ready: Promise<ParamSpec[]>;
  /** Gradient buffer from the last result, sent back for reuse. */
  spare: ArrayBuffer | null = null;

  constructor(readonly index: number, readonly worker: Worker) {
    let onReady!: (l: ParamSpec[]) => void;
    let onFail!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    this.ready.catch(() => {}); // also surfaced through the pending requests
    const failed = (m: { message: string; stack?: string }) => {
      const cause = Object.assign(new Error(m.message), { stack: m.stack ?? m.message });
      return new Error(`parallel training: worker ${index} failed: ${m.message}`, { cause });
    };
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ready') return onReady(m.layout);
      if (m.type === 'error' && m.id === null) return this.fail(failed(m), onFail); // startup error
      if (m.id === null) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'error') p.reject(failed(m));
      else p.resolve(m);
    });
    worker.on('error', (e) => this.fail(new Error(`parallel training: worker ${index} crashed: ${e.message}`), onFail));
    worker.on('exit', (code) => this.fail(new Error(`parallel training: worker ${index} exited (code ${code})`), onFail));
  }

  private fail(e: Error, onFail: (e: Error) => void): void {
    this.failure ??= e;
    onFail(this.failure);
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  request(msg: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    if (this.failure) return Promise.reject(this.failure);
    const p = new Promise<FromWorker>((resolve, reject) => this.pending.set(msg.id, { resolve, reject }));
    p.catch(() => {}); // a failure while the main thread is busy must not count as unhandled
    this.worker.postMessage(msg, transfer);
    return p;
  }

  id(): number {
    return this.nextId++;
  }
}

export class ParallelTrainer {
  readonly model: Module;
  readonly optimizer: Adam;
  readonly schedule: Schedule;
  readonly participants: number;
  readonly transport: ParamTransport;
  private lastLoss: number | null = null;
  private disposed = false;
  private busy = false;
  private readonly params: [string, tf.Variable][];
  private readonly offsets: number[];
  private readonly total: number;

  private constructor(
    private readonly main: Replica,
    private readonly workers: WorkerHandle[],
    private readonly shared: Float32Array | null,
    opts: ParallelTrainerOptions<unknown>,
  ) {
    this.model = main.model;
    this.optimizer = opts.optimizer;
    this.schedule = opts.schedule;
    this.participants = workers.length + 1;
    this.transport = opts.transport ?? 'shared';
    this.params = main.model.namedParameters();
    let acc = 0;
    this.offsets = this.params.map(([, v]) => ((acc += v.size), acc - v.size));
    this.total = acc;
  }

  /** Starts `participants − 1` workers, each building its replica, and checks their parameter layout. */
  static async create<A>(opts: ParallelTrainerOptions<A>): Promise<ParallelTrainer> {
    if (!Number.isInteger(opts.participants) || opts.participants < 1) throw new Error(`participants must be an integer ≥ 1, got ${opts.participants}`);
    const layout: ParamSpec[] = opts.main.model.namedParameters().map(([name, v]) => ({ name, shape: v.shape, trainable: v.trainable }));
    const size = layout.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    const transport = opts.transport ?? 'shared';
    const sab = transport === 'shared' && opts.participants > 1 ? new SharedArrayBuffer(size * 4) : null;
    const init: WorkerInit = {
      factory: { module: String(opts.factory.module), exportName: opts.factory.exportName, args: opts.factory.args },
      backend: opts.backend,
      sharedParams: sab,
    };
    const handles: WorkerHandle[] = [];
    for (let k = 1; k < opts.participants; k++) {
      // A plain .mjs entry registers tsx itself, so this works under bin/flowvox.mjs and vitest alike.
      const w = new Worker(new URL('./grad-worker.mjs', import.meta.url), { workerData: init, name: `flowvox-grad-${k}` });
      w.unref(); // idle workers never keep the process alive; trainStep refs them while it waits
      handles.push(new WorkerHandle(k, w));
    }
    const t = new ParallelTrainer(opts.main, handles, sab ? new Float32Array(sab) : null, opts as ParallelTrainerOptions<unknown>);
    try {
      for (const h of handles) h.worker.ref();
      const layouts = await Promise.all(handles.map((h) => h.ready));
      for (const [k, l] of layouts.entries()) {
        const same = l.length === layout.length && l.every((p, i) => p.name === layout[i].name && tf.util.arraysEqual(p.shape, layout[i].shape));
        if (!same) throw new Error(`parallel training: worker ${k + 1}'s replica has a different parameter layout from the main model`);
      }
    } catch (e) {
      await t.dispose();
      throw e;
    } finally {
      for (const h of handles) h.worker.unref();
    }
    return t;
  }

  /** Steps taken so far (the optimizer's count, as Trainer). */
  get step(): number {
    return this.optimizer.step;
  }

  /** One optimisation step on a batch (mean loss over its items), split across the participants. */
  async trainStep(batch: HostBatch): Promise<ParallelStepInfo> {
    if (this.disposed) throw new Error('ParallelTrainer was disposed');
    if (this.busy) throw new Error('ParallelTrainer.trainStep called again before the previous step finished');
    this.busy = true;
    try {
      return await this.runStep(batch);
    } finally {
      this.busy = false;
    }
  }

  private async runStep(batch: HostBatch): Promise<ParallelStepInfo> {
    const t0 = performance.now();
    const items = batch[0]?.shape[0] ?? 0;
    if (items < 1) throw new Error('empty batch');
    for (const t of batch) {
      if (t.shape[0] !== items) throw new Error(`batch tensors disagree on the item count (${t.shape[0]} vs ${items})`);
      if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) throw new Error(`batch array of ${t.data.length} values does not match shape [${t.shape}]`);
    }
    // Fewer items than participants: the surplus workers sit this step out.
    const n = Math.min(this.participants, items);
    const bounds = shareBounds(items, n);
    const weight = (k: number) => (bounds[k + 1] - bounds[k]) / items;

    const flat = this.publishParams(n);
    const requests: Promise<FromWorker>[] = [];
    try {
      for (const h of this.workers) h.worker.ref();
      for (let k = 1; k < n; k++) {
        const h = this.workers[k - 1];
        const shard = sliceBatch(batch, bounds[k], bounds[k + 1]);
        const params = flat ? (k === n - 1 ? flat : flat.slice()) : null;
        const transfer = shard.map((s) => s.data.buffer as ArrayBuffer);
        if (params) transfer.push(params.buffer as ArrayBuffer);
        const spare = h.spare;
        h.spare = null;
        if (spare) transfer.push(spare);
        const parameterTerms = { value: 0, gradient: 0 };
        requests.push(h.request({ type: 'step', id: h.id(), params, batch: shard, gradBuffer: spare, parameterTerms }, transfer));
      }
      const t1 = performance.now();

      // The main thread's own share, while the workers compute theirs. It carries the parameter-only
      // terms whole (weighted by w₀ below, so by 1/w₀ here).
      const trainable = this.params.filter(([, v]) => v.trainable).map(([, v]) => v);
      this.main.setParameterTermWeights?.({ value: 1 / weight(0), gradient: 1 / weight(0), trainingStep: true });
      let own: { value: tf.Scalar; grads: tf.NamedTensorMap };
      try {
        own = tf.tidy(() => {
          const ts = sliceBatch(batch, bounds[0], bounds[1]).map((s) => tf.tensor(s.data, s.shape));
          return tf.variableGrads(() => this.main.loss(ts), trainable);
        });
      } finally {
        this.main.setParameterTermWeights?.({ value: 1, gradient: 1 });
      }
      let mainLoss: number;
      try {
        mainLoss = own.value.dataSync()[0];
      } catch (e) {
        tf.dispose([own.value, ...Object.values(own.grads)]);
        throw e;
      }
      const t2 = performance.now();
      let results: Result[];
      try {
        results = (await Promise.all(requests)) as Result[];
      } catch (e) {
        tf.dispose([own.value, ...Object.values(own.grads)]);
        throw e;
      }
      const t3 = performance.now();
      const loss = weight(0) * mainLoss + results.reduce((s, r, i) => s + weight(i + 1) * r.loss, 0);
      const grads = this.reduce(own.grads, results, weight);
      tf.dispose([own.value, ...Object.values(own.grads)]);
      results.forEach((r, i) => (this.workers[i].spare = r.grads.buffer as ArrayBuffer));
      const t4 = performance.now();
      try {
        const normT = Adam.globalNorm([...grads.values()]);
        const gradNorm = normT.dataSync()[0];
        normT.dispose();
        if (!Number.isFinite(loss)) throw new NonFiniteError(this.step + 1, 'the loss', this.lastLoss);
        if (!Number.isFinite(gradNorm)) throw new NonFiniteError(this.step + 1, 'the gradient', this.lastLoss);
        const lr = this.schedule(this.step);
        this.optimizer.apply(this.params.filter(([, v]) => v.trainable), grads, lr, gradNorm);
        this.lastLoss = loss;
        const t5 = performance.now();
        const maxOf = (f: (r: Result) => number) => results.reduce((m, r) => Math.max(m, f(r)), 0);
        return {
          step: this.step, loss, gradNorm, lr, seconds: (t5 - t0) / 1000,
          timing: {
            broadcast: (t1 - t0) / 1000,
            mainCompute: (t2 - t1) / 1000,
            workerCompute: maxOf((r) => r.seconds.compute),
            workerTransfer: maxOf((r) => r.seconds.load + r.seconds.pack),
            wait: (t3 - t2) / 1000,
            reduce: (t4 - t3) / 1000,
            optimizer: (t5 - t4) / 1000,
          },
        };
      } finally {
        tf.dispose([...grads.values()]);
      }
    } finally {
      for (const h of this.workers) h.worker.unref();
    }
  }

  /** Writes the main model's parameters where the workers read them; returns the copy to post, if any. */
  private publishParams(n: number): Float32Array | null {
    if (n < 2) return null;
    const dst = this.shared ?? new Float32Array(this.total);
    this.params.forEach(([, v], i) => dst.set(v.dataSync() as Float32Array, this.offsets[i]));
    return this.shared ? null : dst;
  }

  /**
   * Σ_k weight_k · grad_k per parameter, in tfjs (SIMD in wasm; one copy in per worker gradient).
   * With two equal shares the weights are ½: exact products, one rounding in the add.
   */
  private reduce(own: tf.NamedTensorMap, results: Result[], weight: (k: number) => number): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    this.params.forEach(([name, v], i) => {
      if (!v.trainable) return;
      const off = this.offsets[i];
      const g = own[v.name];
      const from = results.map((r, k) => k).filter((k) => results[k].present[i]);
      if (!g && from.length === 0) return; // no gradient anywhere: Adam skips it, as in Trainer
      out.set(name, tf.tidy(() => {
        // A view suffices even on the cpu backend (which keeps the array): mul reads it at once.
        const parts = from.map((k) => tf.mul(tf.tensor(results[k].grads.subarray(off, off + v.size), v.shape), weight(k + 1)));
        if (g) parts.unshift(tf.mul(g, weight(0)));
        return parts.length === 1 ? parts[0] : tf.addN(parts);
      }));
    });
    return out;
  }

  /** tf.memory() of each worker (for leak checks). */
  async workerMemory(): Promise<{ numTensors: number; numBytes: number }[]> {
    try {
      for (const h of this.workers) h.worker.ref();
      const replies = await Promise.all(this.workers.map((h) => h.request({ type: 'memory', id: h.id() })));
      return replies.map((m) => (m.type === 'memory' ? { numTensors: m.numTensors, numBytes: m.numBytes } : { numTensors: NaN, numBytes: NaN }));
    } finally {
      for (const h of this.workers) h.worker.unref();
    }
  }

  /** Terminates the workers (the main model and optimizer stay usable). Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(this.workers.map((h) => h.worker.terminate()));
  }
}
