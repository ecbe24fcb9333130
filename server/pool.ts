/**
 * A pool of synthesis workers (worker_threads), each with its own TensorFlow.js and model copy.
 * One job per worker at a time; the caller (the scheduler) decides what runs next, so the pool
 * only reports idleness. A worker that dies fails its job and is replaced.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ChunkResult, JobFailed, PreparedResult, ScoredResult, WorkerInit, WorkerJob, WorkerReady, WorkerReply } from './worker-protocol.js';

/**
 * The worker entry is TypeScript. Loader hooks are per thread, and a worker's `--import tsx`
 * comes too late for its own entry file, so a tiny eval'd bootstrap registers tsx (resolved from
 * here, not from the cwd) and then imports the entry. Works under bin/flowvox.mjs and vitest.
 */
const TSX_API = tsxEsmApi();

const WORKER_URL = new URL('./synth-worker.ts', import.meta.url).href;
const BOOTSTRAP = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL)}); })
  .catch((e) => require('node:worker_threads').parentPort.postMessage({ type: 'fatal', message: String(e && e.stack || e) }));`;

export type Result = PreparedResult | ChunkResult | ScoredResult | JobFailed;

interface Slot {
  worker: Worker;
  busy: boolean;
  job: { id: number; resolve: (r: Result) => void } | null;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private nextJob = 1;
  private closed = false;
  /** Called whenever a worker becomes idle. */
  onIdle: () => void = () => {};
  info: WorkerReady | null = null;

  private constructor(private readonly init: WorkerInit) {}

  /** Starts `size` workers and resolves once all have loaded the model. */
  static async start(size: number, init: WorkerInit): Promise<WorkerPool> {
    const pool = new WorkerPool(init);
    try {
      const infos = await Promise.all(Array.from({ length: size }, () => pool.spawn()));
      pool.info = infos[0]!;
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  get idle(): number {
    return this.slots.filter((s) => !s.busy).length;
  }

  private spawn(): Promise<WorkerReady> {
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: this.init });
    const slot: Slot = { worker, busy: true, job: null };
    this.slots.push(slot);
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (msg: WorkerReply) => {
        if (msg.type === 'ready') {
          ready = true;
          slot.busy = false;
          resolve(msg);
          this.onIdle();
        } else if (msg.type === 'fatal') {
          if (!ready) reject(new Error(`synthesis worker failed to start: ${msg.message}`));
        } else if (slot.job && msg.job === slot.job.id) {
          const { resolve: done } = slot.job;
          slot.job = null;
          slot.busy = false;
          done(msg);
          this.onIdle();
        }
      });
      const die = (why: string) => {
        const i = this.slots.indexOf(slot);
        if (i < 0) return;
        this.slots.splice(i, 1);
        if (!ready) reject(new Error(`synthesis worker failed to start: ${why}`));
        if (slot.job) slot.job.resolve({ type: 'failed', job: slot.job.id, code: 'internal', message: `synthesis worker died: ${why}` });
        slot.job = null;
        if (ready && !this.closed) void this.spawn().catch(() => {}); // keep the pool at size
      };
      worker.on('error', (e) => die(e.message));
      worker.on('exit', (code) => die(`exit code ${code}`));
    });
  }

  /**
   * Runs a job on an idle worker; returns null if none is idle. The typed arrays in `transfer`
   * move to the worker.
   */
  run(job: Omit<PrepareJobIn, 'job'> | Omit<ChunkJobIn, 'job'> | Omit<ScoreJobIn, 'job'>, transfer: ArrayBuffer[] = []): Promise<Result> | null {
    const slot = this.slots.find((s) => !s.busy);
    if (!slot || this.closed) return null;
    const id = this.nextJob++;
    slot.busy = true;
    return new Promise((resolve) => {
      slot.job = { id, resolve };
      slot.worker.postMessage({ ...job, job: id } as WorkerJob, transfer);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}

/** tsx's ESM register API (its `import` export: the CommonJS one registers a path that breaks in workers). */
function tsxEsmApi(): string {
  const pkgPath = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import?: { default?: string } } | string> };
  const entry = pkg.exports['./esm/api'];
  const rel = typeof entry === 'object' ? entry.import?.default : undefined;
  if (!rel) throw new Error('cannot find tsx/esm/api (is tsx installed?)');
  return pathToFileURL(join(dirname(pkgPath), rel)).href;
}

type PrepareJobIn = Extract<WorkerJob, { type: 'prepare' }>;
type ChunkJobIn = Extract<WorkerJob, { type: 'chunk' }>;
type ScoreJobIn = Extract<WorkerJob, { type: 'score' }>;
