/**
 * Streams → worker jobs. Admission control (a fixed number of streams synthesise at once, a short
 * queue behind them, `busy` beyond), fair dispatch of chunks over the workers, in-order delivery
 * with a bounded reorder buffer, and backpressure on each client's socket buffer.
 *
 * Memory per stream is bounded: its mel and latent (≈ the audio's size), at most `maxAhead`
 * finished chunks waiting for order, and a socket buffer that stops growing at about
 * highWaterMark + maxAhead chunks, because no chunk is dispatched while the buffer is above it.
 */
import { TACOTRON_MEL } from '../src/dsp/mel.js';
import { PredictorHistory, postMarginSamples } from '../src/stream/chunk-synth.js';
import { latentSlice, melSlice, planChunks, type Chunk, type ModelGeometry } from '../src/stream/planner.js';
import { displayMel, encodeAudioFrame, type ErrorCode, type ServerMessage, type StreamStats } from '../src/stream/protocol.js';
import { Backpressure } from './backpressure.js';
import type { WorkerPool } from './pool.js';

/** Where a stream's messages go (a WebSocket in the server, a fake in tests). */
export interface StreamSink {
  /** Bytes accepted for sending but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  readonly open: boolean;
  sendJson(msg: ServerMessage): void;
  sendBinary(bytes: Uint8Array): void;
}

export interface StreamRequest {
  id: number;
  sink: StreamSink;
  kind: 'wav' | 'npy';
  bytes: Uint8Array;
  sigma: number;
  denoise: number;
  seed: number;
  /** Fixed chunk size; omitted: the server's growing default. */
  chunkFrames?: number;
  /** performance.now() when the request was complete (start received, upload in). */
  receivedAt: number;
  /** Called once when the stream ends for any reason (frees the connection's slot). */
  onEnd?: (outcome: 'done' | 'cancelled' | 'failed') => void;
}

export interface SchedulerOptions {
  sampleRate: number;
  geometry: ModelGeometry;
  maxFrames: number;
  /** Streams synthesising at once (default: one per worker). */
  maxActive: number;
  /** Admitted streams waiting behind the active ones. */
  maxQueued: number;
  defaultChunkFrames: number;
  firstChunkFrames: number;
  /** The model's mel-envelope matching (the workers apply it; chunks need its margin) and the mel framing. */
  envelopeIterations?: number;
  melFraming?: { nFft: number; hop: number };
  /** Pause a stream while its socket buffers more than this many bytes. */
  highWaterMark: number;
  /** …and resume below this. */
  lowWaterMark: number;
}

type State = 'preparing' | 'ready' | 'finished';

class Stream {
  state: State = 'preparing';
  prepareDispatched = false;
  plan: Chunk[] = [];
  mel: Float32Array = new Float32Array(0);
  z: Float32Array = new Float32Array(0);
  frames = 0;
  nextDispatch = 0;
  nextSend = 0;
  inflight = 0;
  /** A pitch predictor's history for the next chunk (models with one run a stream's chunks one at a time). */
  readonly history = new PredictorHistory();
  readonly done = new Map<number, Float32Array>();
  paused = false;
  pauses = 0;
  firstAudioAt = 0;
  computeMs = 0;
  samplesSent = 0;
  constructor(readonly req: StreamRequest, readonly seq: number) {}
}

export interface SchedulerStats {
  active: number;
  queued: number;
  paused: number;
  /** Largest socket buffer seen on a paused stream (bytes), for the backpressure test. */
  maxBufferedSeen: number;
  completed: number;
  cancelled: number;
  failed: number;
  busy: number;
}

export type Admission = { status: 'admitted'; queuePosition: number; handle: StreamHandle } | { status: 'busy'; retryAfterMs: number; message: string };

export interface StreamHandle {
  cancel(reason: 'client' | 'server' | 'closed'): void;
}

/** Another kind of work sharing the pool (scoring streams): dispatches one job if it has one ready. */
export interface JobSource {
  dispatchOne(): boolean;
}

export class Scheduler {
  private readonly streams: Stream[] = []; // admission order
  private readonly sources: JobSource[] = [];
  private turn = 0;
  private seq = 0;
  private msPerPosition = 0; // EMA of worker ms per latent position, for retryAfterMs
  private readonly counters = { completed: 0, cancelled: 0, failed: 0, busy: 0 };
  private readonly backpressure: Backpressure<Stream>;

  constructor(private readonly pool: WorkerPool, readonly opts: SchedulerOptions) {
    pool.onIdle = () => this.pump();
    this.backpressure = new Backpressure(opts, () => this.streams, () => this.pump(), (s) => s.pauses++);
  }

  stats(): SchedulerStats {
    const live = this.streams.filter((s) => s.state !== 'finished');
    return {
      active: Math.min(live.length, this.opts.maxActive),
      queued: Math.max(0, live.length - this.opts.maxActive),
      paused: live.filter((s) => s.paused).length,
      maxBufferedSeen: this.backpressure.maxBufferedSeen,
      ...this.counters,
    };
  }

  submit(req: StreamRequest): Admission {
    if (this.streams.length >= this.opts.maxActive + this.opts.maxQueued) {
      this.counters.busy++;
      return { status: 'busy', retryAfterMs: this.retryAfter(), message: `all ${this.opts.maxActive} synthesis slots and ${this.opts.maxQueued} queue places are taken` };
    }
    const s = new Stream(req, this.seq++);
    this.streams.push(s);
    const position = this.streams.length - this.opts.maxActive;
    this.pump();
    return { status: 'admitted', queuePosition: Math.max(0, position), handle: { cancel: (reason) => this.cancel(s, reason) } };
  }

  /** Estimated ms until a slot frees: the stream closest to done, at the measured speed. */
  private retryAfter(): number {
    let best = Infinity;
    for (const s of this.streams) {
      if (s.state !== 'ready' || this.msPerPosition === 0) continue;
      let positions = 0;
      for (let i = s.nextDispatch; i < s.plan.length; i++) positions += s.plan[i]!.ctxEnd - s.plan[i]!.ctxStart;
      best = Math.min(best, positions * this.msPerPosition);
    }
    return Math.round(Math.min(30_000, Math.max(250, Number.isFinite(best) ? best : 1000)));
  }

  private isActive(s: Stream): boolean {
    return this.streams.indexOf(s) < this.opts.maxActive;
  }

  private finish(s: Stream, outcome: 'done' | 'cancelled' | 'failed'): void {
    if (s.state === 'finished') return;
    s.state = 'finished';
    s.done.clear();
    s.mel = new Float32Array(0);
    s.z = new Float32Array(0);
    const i = this.streams.indexOf(s);
    if (i >= 0) this.streams.splice(i, 1);
    this.counters[outcome === 'done' ? 'completed' : outcome]++;
    s.req.onEnd?.(outcome);
    this.pump();
  }

  private fail(s: Stream, code: ErrorCode, message: string): void {
    if (s.state === 'finished') return;
    if (s.req.sink.open) s.req.sink.sendJson({ type: 'error', id: s.req.id, code, message });
    this.finish(s, 'failed');
  }

  private cancel(s: Stream, reason: 'client' | 'server' | 'closed'): void {
    if (s.state === 'finished') return;
    if (reason !== 'closed' && s.req.sink.open) s.req.sink.sendJson({ type: 'cancelled', id: s.req.id, reason });
    this.finish(s, 'cancelled');
  }

  /** Cancels everything (server shutdown). */
  shutdown(): void {
    for (const s of [...this.streams]) this.cancel(s, 'server');
    this.backpressure.stop();
  }

  /** Adds another source of jobs; pump() takes turns between it and the synthesis chunks. */
  addSource(src: JobSource): void {
    this.sources.push(src);
  }

  /**
   * Hands jobs to idle workers: uploads to prepare first, then, taking turns so neither starves
   * the other, chunks of the active streams (the least-served first) and the other sources' jobs.
   */
  pump(): void {
    while (this.pool.idle > 0) {
      const prep = this.streams.find((s) => s.state === 'preparing' && !s.prepareDispatched);
      if (prep) {
        this.dispatchPrepare(prep);
        continue;
      }
      const order = [() => this.dispatchNextChunk(), ...this.sources.map((src) => () => src.dispatchOne())];
      const first = this.turn++ % order.length;
      let any = false;
      for (let k = 0; k < order.length && !any; k++) any = order[(first + k) % order.length]!();
      if (!any) return;
    }
  }

  /** Dispatches the next chunk of the least-served active stream; false when none can go. */
  private dispatchNextChunk(): boolean {
    // A pitch predictor is a recursion: a chunk needs the audio of the one before (src/stream/chunk-synth.ts).
    const maxInflight = this.opts.geometry.predictor ? 1 : this.pool.size;
    const maxAhead = this.pool.size + 1;
    let pick: Stream | null = null;
    for (const s of this.streams) {
      if (s.state !== 'ready' || !this.isActive(s)) continue;
      if (s.nextDispatch >= s.plan.length || s.inflight >= maxInflight || s.nextDispatch - s.nextSend >= maxAhead) continue;
      if (this.backpressure.held(s)) continue;
      if (!pick || s.inflight < pick.inflight) pick = s;
    }
    if (!pick) return false;
    this.dispatchChunk(pick);
    return true;
  }

  private dispatchPrepare(s: Stream): void {
    const r = s.req;
    const p = this.pool.run({ type: 'prepare', kind: r.kind, bytes: r.bytes, sigma: r.sigma, seed: r.seed, maxFrames: this.opts.maxFrames });
    if (!p) return;
    s.prepareDispatched = true;
    void p.then((res) => {
      if (s.state === 'finished') return;
      if (res.type === 'failed') return this.fail(s, res.code, res.message);
      if (res.type !== 'prepared') return this.fail(s, 'internal', 'unexpected worker reply');
      this.onPrepared(s, res.mel, res.frames, res.z);
    });
  }

  private onPrepared(s: Stream, mel: Float32Array, frames: number, z: Float32Array): void {
    const { geometry: geom, sampleRate } = this.opts;
    const r = s.req;
    s.mel = mel;
    s.z = z;
    s.frames = frames;
    const chunkFrames = r.chunkFrames ?? this.opts.defaultChunkFrames;
    s.plan = planChunks(geom, frames, {
      chunkFrames,
      firstChunkFrames: r.chunkFrames ?? this.opts.firstChunkFrames,
      extraSamples: postMarginSamples(r.denoise > 0, this.opts.envelopeIterations ?? 0, this.opts.melFraming ?? TACOTRON_MEL),
    });
    s.state = 'ready';
    r.sink.sendJson({
      type: 'accepted', id: r.id, sampleRate, totalSamples: frames * geom.hop, frames, chunks: s.plan.length, chunkFrames,
      sigma: r.sigma, denoise: r.denoise, seed: r.seed, queuePosition: Math.max(0, this.streams.indexOf(s) - this.opts.maxActive + 1),
      mel: displayMel(mel, frames, geom.nMel),
    });
    this.pump();
  }

  private dispatchChunk(s: Stream): void {
    const c = s.plan[s.nextDispatch]!;
    const { nMel, nGroup } = this.opts.geometry;
    // slice(): copies just this chunk's part (posting a view would copy its whole buffer).
    const mel = melSlice(s.mel, nMel, c).slice();
    const z = latentSlice(s.z, nGroup, c).slice();
    const predictor = this.opts.geometry.predictor !== null;
    const history = predictor ? s.history.for(c) : undefined;
    const p = this.pool.run({ type: 'chunk', chunk: c, mel, z, denoise: s.req.denoise, ...(history ? { history } : {}) }, [mel.buffer, z.buffer]);
    if (!p) return;
    s.nextDispatch++;
    s.inflight++;
    void p.then((res) => {
      s.inflight--;
      if (s.state === 'finished') return;
      if (res.type === 'failed') return this.fail(s, res.code, res.message);
      if (res.type !== 'chunk') return this.fail(s, 'internal', 'unexpected worker reply');
      if (predictor) {
        if (!res.range) return this.fail(s, 'internal', 'the worker sent no pitch-predictor history');
        s.history.record(c, history!, res.range);
      }
      s.computeMs += res.ms;
      const per = res.ms / (c.ctxEnd - c.ctxStart);
      this.msPerPosition = this.msPerPosition === 0 ? per : 0.8 * this.msPerPosition + 0.2 * per;
      s.done.set(c.index, res.pcm);
      this.flush(s);
    });
  }

  /** Sends finished chunks in order; after the last, `done`. */
  private flush(s: Stream): void {
    const r = s.req;
    if (!r.sink.open) return this.cancel(s, 'closed');
    while (s.done.has(s.nextSend)) {
      const pcm = s.done.get(s.nextSend)!;
      s.done.delete(s.nextSend);
      const c = s.plan[s.nextSend]!;
      const last = s.nextSend === s.plan.length - 1;
      r.sink.sendBinary(encodeAudioFrame({ streamId: r.id, seq: s.nextSend, sampleRate: this.opts.sampleRate, sampleOffset: c.keepStart, last }, pcm));
      if (s.nextSend === 0) s.firstAudioAt = performance.now();
      s.samplesSent += pcm.length;
      s.nextSend++;
    }
    if (s.nextSend === s.plan.length) {
      const wallMs = performance.now() - r.receivedAt;
      const seconds = s.samplesSent / this.opts.sampleRate;
      const stats: StreamStats = {
        timeToFirstAudioMs: round(s.firstAudioAt - r.receivedAt, 1),
        xRealTime: round(seconds / (wallMs / 1000), 3),
        chunks: s.plan.length,
        samples: s.samplesSent,
        seconds: round(seconds, 3),
        wallMs: round(wallMs, 1),
        computeMs: round(s.computeMs, 1),
        pauses: s.pauses,
      };
      r.sink.sendJson({ type: 'done', id: r.id, stats });
      this.finish(s, 'done');
      return;
    }
    this.backpressure.held(s);
    this.pump();
  }
}

const round = (v: number, d: number) => Number(v.toFixed(d));
