/**
 * A ParallelTrainer worker: builds a replica from the factory, then per step loads the broadcast
 * parameters, computes the loss and gradients of its share and returns them as one flat,
 * transferred Float32Array in namedParameters order. Started through grad-worker.mjs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import type { FromWorker, ParamSpec, Replica, ToWorker, WorkerInit } from './parallel.js';

const port = parentPort;
if (!port) throw new Error('grad-worker must run in a worker thread');
const init = workerData as WorkerInit;

function post(m: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(m, transfer);
}

function errorMessage(e: unknown): { message: string; stack?: string } {
  return e instanceof Error ? { message: e.message, stack: e.stack } : { message: String(e) };
}

async function start(): Promise<void> {
  await initBackend(init.backend);
  const mod = (await import(init.factory.module)) as Record<string, unknown>;
  const make = mod[init.factory.exportName];
  if (typeof make !== 'function') throw new Error(`${init.factory.module} has no function export "${init.factory.exportName}"`);
  const replica = (await (make as (a: unknown) => Replica | Promise<Replica>)(init.factory.args)) as Replica;
  const params = replica.model.namedParameters();
  const offsets: number[] = [];
  let total = 0;
  for (const [, v] of params) {
    offsets.push(total);
    total += v.size;
  }
  const trainable = params.filter(([, v]) => v.trainable).map(([, v]) => v);
  const shared = init.sharedParams ? new Float32Array(init.sharedParams) : null;

  const step = (m: Extract<ToWorker, { type: 'step' }>): void => {
    const t0 = performance.now();
    const src = m.params ?? shared;
    if (!src || src.length !== total) throw new Error(`expected ${total} parameters, got ${src?.length ?? 'none'}`);
    // slice(): the cpu backend keeps the array it is given, and the shared one is rewritten next step.
    params.forEach(([, v], i) => tf.tidy(() => v.assign(tf.tensor(src.slice(offsets[i], offsets[i] + v.size), v.shape))));
    const t1 = performance.now();
    replica.setParameterTermWeights?.(m.parameterTerms);
    const { value, grads } = tf.tidy(() => {
      const batch = m.batch.map((b) => tf.tensor(b.data, b.shape));
      return tf.variableGrads(() => replica.loss(batch), trainable);
    });
    let loss: number;
    const out = m.gradBuffer && m.gradBuffer.byteLength === total * 4 ? new Float32Array(m.gradBuffer) : new Float32Array(total);
    const present = new Uint8Array(params.length);
    let t2: number;
    try {
      loss = value.dataSync()[0];
      t2 = performance.now();
      params.forEach(([, v], i) => {
        const g = grads[v.name];
        if (g) {
          out.set(g.dataSync() as Float32Array, offsets[i]);
          present[i] = 1;
        } else out.fill(0, offsets[i], offsets[i] + v.size);
      });
    } finally {
      tf.dispose([value, ...Object.values(grads)]);
    }
    const t3 = performance.now();
    post(
      { type: 'result', id: m.id, loss, grads: out, present, seconds: { load: (t1 - t0) / 1000, compute: (t2 - t1) / 1000, pack: (t3 - t2) / 1000 } },
      [out.buffer as ArrayBuffer],
    );
  };

  port!.on('message', (m: ToWorker) => {
    try {
      if (m.type === 'step') step(m);
      else {
        const mem = tf.memory();
        post({ type: 'memory', id: m.id, numTensors: mem.numTensors, numBytes: mem.numBytes });
      }
    } catch (e) {
      post({ type: 'error', id: m.id, ...errorMessage(e) });
    }
  });
  const layout: ParamSpec[] = params.map(([name, v]) => ({ name, shape: v.shape, trainable: v.trainable }));
  post({ type: 'ready', layout });
}

start().catch((e: unknown) => post({ type: 'error', id: null, ...errorMessage(e) }));
