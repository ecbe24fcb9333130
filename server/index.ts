/**
 * The flowvox streaming server: one node:http server on one port for the player (dist/client/),
 * the samples (/audio/), a status endpoint (/api/status) and the WebSocket endpoint (/ws), with a
 * pool of synthesis workers behind a scheduler. Binds 127.0.0.1 unless told otherwise.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { postMarginSamples } from '../src/stream/chunk-synth.js';
import { contextFrames } from '../src/stream/planner.js';
import { DEFAULT_LIMITS, PROTOCOL_VERSION, WS_PATH, type HelloMessage, type Limits, type ModelInfo } from '../src/stream/protocol.js';
import { Connection } from './connection.js';
import { WorkerPool } from './pool.js';
import { loadSamples } from './samples.js';
import { Scheduler, type SchedulerStats } from './scheduler.js';
import { ScoreStreams, availableScores } from './score-streams.js';
import { serveStatic, type StaticRoot } from './static.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));

/** Shown at / when the player has not been built. */
const NO_CLIENT_PAGE = `<!doctype html><meta charset="utf-8"><title>flowvox</title>
<p>The flowvox streaming server is running, but the browser player is not built: run <code>npm run build</code> (it writes dist/client/) and reload.</p>
<p>The WebSocket endpoint is <code>${WS_PATH}</code>; <a href="/api/status">/api/status</a> shows the model and the load.</p>`;

export interface ServerOptions {
  modelDir: string;
  /** Shown in `hello.model.name` (default: the directory's name). */
  modelName?: string;
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** Synthesis workers (default: the number of cores). */
  workers?: number;
  /** Admitted streams waiting behind the active ones (default: workers). */
  queue?: number;
  /** Allowed browser origins ('*' for any); default: this server's host, localhost and 127.0.0.1. */
  origins?: string[];
  token?: string;
  clientDir?: string;
  audioDir?: string;
  limits?: Partial<Limits>;
  /** Socket buffer above which a stream pauses (default 1 MiB). */
  highWaterMark?: number;
  /** tfjs backend in the workers (default wasm). */
  backend?: string;
  /** Default chunk size in frames (default: about twice the context plus the post-filter margin, see defaultChunking). */
  chunkFrames?: number;
  /** WebSocket connections at once (default 64); more get HTTP 503 at the upgrade. */
  maxConnections?: number;
  /** Anomaly calibration for scoring streams (default: the model's anomaly-calibration.json, if any). */
  calibration?: string;
  /** Iterations of mel-envelope matching per chunk (default: the model's config.json "synthesis"). */
  envelopeIterations?: number;
  /** Scoring streams at once, server-wide (default 4 per worker). */
  maxScoreStreams?: number;
}

export interface RunningServer {
  url: string;
  host: string;
  port: number;
  model: ModelInfo;
  workers: number;
  backend: string;
  stats(): SchedulerStats & { connections: number; scoring: number };
  /** Whether scoring streams have a calibration (thresholds, typicality and feature scores). */
  calibrated: boolean;
  close(): Promise<void>;
}

/**
 * Steady chunk size ≈ 2 × what a chunk computes beyond what it keeps on each side (the flow's context
 * plus the post-filter margin), so compute per kept sample stays ≤ ~2×; and a small first chunk for latency.
 */
export function defaultChunking(ctxFrames: number, maxChunkFrames: number): { chunkFrames: number; firstChunkFrames: number } {
  const chunkFrames = Math.min(maxChunkFrames, Math.max(16, Math.ceil((2 * ctxFrames) / 8) * 8));
  return { chunkFrames, firstChunkFrames: Math.max(4, Math.ceil(chunkFrames / 8)) };
}

function originAllowed(origin: string | undefined, req: IncomingMessage, allow: string[] | undefined): boolean {
  if (!origin) return true; // not a browser (browsers always send Origin on WebSocket upgrades)
  if (allow?.includes('*')) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (allow && allow.length > 0) return allow.some((a) => a.replace(/\/$/, '') === url.origin);
  const host = (req.headers.host ?? '').replace(/:\d+$/, '');
  return ['localhost', '127.0.0.1', '[::1]', host].includes(url.hostname === '::1' ? '[::1]' : url.hostname);
}

function reject(socket: Duplex, status: number, reason: string): void {
  socket.write(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length + 1}\r\n\r\n${reason}\n`);
  socket.destroy();
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  const limits: Limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const workers = Math.max(1, opts.workers ?? availableParallelism());
  const cfgJson = JSON.parse(await readFile(resolve(opts.modelDir, 'config.json'), 'utf8')) as { source?: string };
  const pool = await WorkerPool.start(workers, { modelDir: resolve(opts.modelDir), backend: opts.backend ?? 'wasm', ...(opts.calibration ? { calibrationPath: resolve(opts.calibration) } : {}), ...(opts.envelopeIterations !== undefined ? { envelopeIterations: opts.envelopeIterations } : {}) });
  const info = pool.info!;
  if (info.calibrationWarning) process.stderr.write(`flowvox: ${info.calibrationWarning}\n`);
  const geom = info.geometry;
  const ctxFrames = contextFrames(geom);
  // The envelope matching's margin is paid by every chunk (the denoiser's only by streams that ask for it).
  const postFrames = postMarginSamples(false, info.envelopeIterations, info.mel) / geom.hop;
  const chunking = opts.chunkFrames ? { chunkFrames: opts.chunkFrames, firstChunkFrames: opts.chunkFrames } : defaultChunking(ctxFrames + postFrames, limits.maxChunkFrames);
  const hwm = opts.highWaterMark ?? 1 << 20;
  const scheduler = new Scheduler(pool, {
    sampleRate: info.mel.sampleRate, geometry: geom, maxFrames: limits.maxFrames,
    maxActive: workers, maxQueued: opts.queue ?? workers,
    defaultChunkFrames: chunking.chunkFrames, firstChunkFrames: chunking.firstChunkFrames,
    envelopeIterations: info.envelopeIterations, melFraming: info.mel,
    highWaterMark: hwm, lowWaterMark: hwm / 2,
  });
  const scores = new ScoreStreams(pool, {
    geometry: { sampleRate: info.mel.sampleRate, melHop: geom.hop, nGroup: info.waveglow.n_group, nFft: info.mel.nFft },
    calibration: info.calibration, limits, maxStreams: opts.maxScoreStreams ?? 4 * workers,
    highWaterMark: hwm, lowWaterMark: hwm / 2, pump: () => scheduler.pump(),
  });
  scheduler.addSource(scores);
  const samples = await loadSamples(opts.audioDir ?? resolve(REPO, 'audio'));
  const model: ModelInfo = {
    name: opts.modelName ?? basename(resolve(opts.modelDir)),
    source: cfgJson.source ?? info.source,
    nMelChannels: info.waveglow.n_mel_channels,
    nGroup: info.waveglow.n_group,
    nFlows: info.waveglow.n_flows,
    upsampler: info.waveglow.upsampler ?? 'convtranspose',
    contextFrames: ctxFrames,
    envelopeIterations: info.envelopeIterations,
  };
  const hello: HelloMessage = {
    type: 'hello', version: PROTOCOL_VERSION, sampleRate: info.mel.sampleRate, hop: geom.hop, model,
    samples: samples.samples, limits, defaultChunkFrames: chunking.chunkFrames, workers,
    anomaly: {
      calibrated: info.calibration !== null, scores: availableScores(info.calibration), defaultScore: info.calibration?.defaultScore ?? 'lr',
      segment: info.calibration?.segment ?? 0.5, hop: info.calibration?.hop ?? 0.25,
    },
  };
  const roots: StaticRoot[] = [
    { prefix: '/audio/', dir: opts.audioDir ?? resolve(REPO, 'audio') },
    { prefix: '/', dir: opts.clientDir ?? resolve(REPO, 'dist/client') },
  ];
  const connections = new Set<Connection>();

  const http = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/api/status') {
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify({ model, workers, ...scheduler.stats(), connections: connections.size, scoring: scores.active }));
      return;
    }
    if ((path === '/' || path === '/index.html') && !existsSync(resolve(roots[1]!.dir, 'index.html'))) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(NO_CLIENT_PAGE);
      return;
    }
    serveStatic(req, res, roots).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes });
  http.on('upgrade', (req, socket, head) => {
    socket.on('error', () => {});
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== WS_PATH) return reject(socket, 404, `no WebSocket endpoint here; use ${WS_PATH}`);
    if (!originAllowed(req.headers.origin, req, opts.origins)) return reject(socket, 403, `origin ${req.headers.origin} is not allowed (server --origin)`);
    if (connections.size >= (opts.maxConnections ?? 64)) return reject(socket, 503, 'too many connections; try again later');
    const given = url.searchParams.get('token');
    if (opts.token !== undefined && given !== null && given !== opts.token) return reject(socket, 401, 'wrong token');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new Connection(ws, { scheduler, scores, samples, limits, hello, token: opts.token, authenticated: opts.token === undefined || given === opts.token });
      connections.add(conn);
      ws.on('close', () => connections.delete(conn));
    });
  });
  http.on('clientError', (_e, socket) => socket.destroy());

  await new Promise<void>((ok, fail) => {
    http.once('error', fail);
    http.listen(opts.port ?? 8080, host, () => ok());
  });
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 8080);
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${shownHost}:${port}/`,
    host,
    port,
    model,
    workers,
    backend: info.backend,
    stats: () => ({ ...scheduler.stats(), connections: connections.size, scoring: scores.active }),
    calibrated: info.calibration !== null,
    async close() {
      scheduler.shutdown();
      scores.shutdown();
      for (const c of wss.clients) c.close(1001, 'server shutting down');
      const closed = new Promise<void>((ok) => http.close(() => ok()));
      http.closeAllConnections();
      for (const c of wss.clients) c.terminate();
      await closed;
      await pool.close();
    },
  };
}
