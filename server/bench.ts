/**
 * Streaming benchmark: K concurrent clients each stream an N-second mel through a running server
 * (or one started here), R times; prints per-client time to first audio and speed, and medians.
 *
 *   npx tsx server/bench.ts [--url http://127.0.0.1:8080/] [--model DIR] [--workers N]
 *                           [--clients 1,2,4] [--seconds 10] [--repeats 3] [--chunk-frames N] [--json]
 *
 * Without --url it starts a server on a free port with --model (default: models/default, else the
 * untrained cpu-realtime fallback — random weights synthesise at the trained model's speed).
 */
import { parseArgs } from 'node:util';
import { writeNpy } from '../src/dsp/npy.js';
import type { DoneMessage, StreamStats } from '../src/stream/protocol.js';
import { StreamClient } from './client.js';
import { chooseModel } from './default-model.js';
import { startServer, type RunningServer } from './index.js';

const { values: o } = parseArgs({
  options: {
    url: { type: 'string' }, model: { type: 'string' }, workers: { type: 'string' }, clients: { type: 'string', default: '1,2,4' },
    seconds: { type: 'string', default: '10' }, repeats: { type: 'string', default: '3' }, 'chunk-frames': { type: 'string' }, json: { type: 'boolean', default: false },
  },
});

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

let server: RunningServer | null = null;
let url = o.url;
if (!url) {
  const chosen = await chooseModel(o.model);
  process.stderr.write(`bench: ${chosen.note}\n`);
  server = await startServer({ modelDir: chosen.dir, modelName: chosen.name, port: 0, workers: o.workers ? Number(o.workers) : undefined, queue: 16 });
  url = server.url;
}
const probe = await StreamClient.connect(url);
const hello = await probe.hello();
await probe.close();
const frames = Math.round((Number(o.seconds) * hello.sampleRate) / hello.hop);
const npy = writeNpy(Float32Array.from({ length: frames * 80 }, (_, i) => -6 + 3 * Math.sin(i / 37) * Math.cos(i / 5000)), [frames, 80]);
process.stderr.write(`bench: ${url} model ${hello.model.name} (${hello.model.nFlows} flows, context ${hello.model.contextFrames} frames), ${hello.workers} workers, ${o.seconds} s per stream\n`);

interface Row { clients: number; ttfaMs: number[]; clientTtfaMs: number[]; xRealTime: number[]; aggregateXRealTime: number[] }
const rows: Row[] = [];
for (const k of o.clients!.split(',').map(Number)) {
  const row: Row = { clients: k, ttfaMs: [], clientTtfaMs: [], xRealTime: [], aggregateXRealTime: [] };
  for (let rep = 0; rep < Number(o.repeats); rep++) {
    const clients = await Promise.all(Array.from({ length: k }, () => StreamClient.connect(url!)));
    await Promise.all(clients.map((c) => c.hello()));
    const t0 = performance.now();
    const outs = await Promise.all(clients.map((c, i) => c.stream({ type: 'start', id: i, source: { kind: 'npy', bytes: npy.length }, seed: rep * 100 + i, ...(o['chunk-frames'] ? { chunkFrames: Number(o['chunk-frames']) } : {}) }, npy, 600_000)));
    const wall = (performance.now() - t0) / 1000;
    for (const r of outs) {
      if (r.end.type !== 'done') throw new Error(`stream ended with ${JSON.stringify(r.end)}`);
      const st: StreamStats = (r.end as DoneMessage).stats;
      row.ttfaMs.push(st.timeToFirstAudioMs);
      row.clientTtfaMs.push(r.firstAudioMs);
      row.xRealTime.push(st.xRealTime);
    }
    row.aggregateXRealTime.push((k * Number(o.seconds)) / wall);
    await Promise.all(clients.map((c) => c.close()));
  }
  rows.push(row);
  const f = (xs: number[], d = 0) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;
  if (!o.json) console.log(`${k} client(s): time to first audio ${f(row.ttfaMs)} ms server / ${f(row.clientTtfaMs)} ms client; speed per stream ${f(row.xRealTime, 2)}× real time; all streams together ${f(row.aggregateXRealTime, 2)}×  [median (min–max) of ${row.ttfaMs.length}]`);
}
if (o.json) console.log(JSON.stringify({ url, model: hello.model.name, workers: hello.workers, seconds: Number(o.seconds), rows: rows.map((r) => ({ clients: r.clients, medianTtfaMs: median(r.ttfaMs), medianClientTtfaMs: median(r.clientTtfaMs), medianXRealTime: median(r.xRealTime), medianAggregateXRealTime: median(r.aggregateXRealTime), raw: r })) }));
await server?.close();
