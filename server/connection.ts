/**
 * One WebSocket client: authentication, parsing and validating its messages, uploads, per-
 * connection limits (message rate, concurrent streams), and handing streams to the scheduler.
 * Every fault becomes an `error` message to this client only; nothing here throws to the server.
 */
import { readFile } from 'node:fs/promises';
import type { RawData, WebSocket } from 'ws';
import {
  ProtocolError, decodeAudioFrame, encodeMessage, isAudioFrame, parseClientMessage,
  type AudioFrame, type ClientMessage, type ErrorCode, type HelloMessage, type Limits, type ScoreStartMessage, type ServerMessage, type StartMessage,
} from '../src/stream/protocol.js';
import type { SampleCatalog } from './samples.js';
import type { Scheduler, StreamHandle, StreamSink } from './scheduler.js';
import type { ScoreHandle, ScoreStreams } from './score-streams.js';

export interface ConnectionContext {
  scheduler: Scheduler;
  scores: ScoreStreams;
  samples: SampleCatalog;
  limits: Limits;
  hello: HelloMessage;
  /** Shared secret, if the server requires one. */
  token?: string;
  /** True when the upgrade request already carried the right token. */
  authenticated: boolean;
  /** ms to wait for an `auth` message or an announced upload. */
  authTimeoutMs?: number;
  uploadTimeoutMs?: number;
}

interface PendingUpload {
  start: StartMessage | null; // null: the start was refused; the upload is read and dropped
  kind: 'wav' | 'npy';
  bytes: number;
  timer: ReturnType<typeof setTimeout>;
}

export class Connection {
  private authed: boolean;
  private readonly streams = new Map<number, StreamHandle>();
  private readonly scoring = new Map<number, ScoreHandle>();
  /** Scoring streams that failed: their in-flight chunks are dropped without an error each. */
  private readonly failedScoring = new Set<number>();
  private chunkTokens: number;
  private lastChunkRefill = performance.now();
  private pending: PendingUpload | null = null;
  private tokens: number;
  private lastRefill = performance.now();
  private rateErrorSecond = -1;
  private closed = false;
  private authTimer: ReturnType<typeof setTimeout> | null = null;
  readonly sink: StreamSink;

  constructor(private readonly ws: WebSocket, private readonly ctx: ConnectionContext) {
    this.authed = ctx.authenticated || ctx.token === undefined;
    this.tokens = 2 * ctx.limits.maxMessagesPerSecond;
    this.chunkTokens = 2 * ctx.limits.maxScoreChunksPerSecond;
    const sock = ws;
    this.sink = {
      get bufferedAmount() {
        return sock.bufferedAmount;
      },
      get open() {
        return sock.readyState === sock.OPEN;
      },
      sendJson: (m) => this.send(m),
      sendBinary: (b) => {
        if (sock.readyState === sock.OPEN) sock.send(b, { binary: true });
      },
    };
    ws.on('message', (data, isBinary) => {
      try {
        this.onMessage(data, isBinary);
      } catch (e) {
        this.error('internal', `internal error: ${(e as Error).message}`);
      }
    });
    ws.on('close', () => this.onClose());
    // ws reports protocol faults (e.g. over maxPayload: it closes with 1009) as 'error'; never rethrow.
    ws.on('error', () => {});
    if (this.authed) this.send(ctx.hello);
    else this.authTimer = setTimeout(() => this.refuse('no auth message within the time limit'), ctx.authTimeoutMs ?? 5000);
  }

  private send(m: ServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encodeMessage(m));
  }

  /**
   * An error to the client. Other errors answer at most one message each, and messages are rate
   * limited; 'rate_limited' itself is sent at most once a second, so a flood is not echoed back.
   */
  private error(code: ErrorCode, message: string, id?: number): void {
    if (code === 'rate_limited') {
      const now = Math.floor(performance.now() / 1000);
      if (now === this.rateErrorSecond) return;
      this.rateErrorSecond = now;
    }
    this.send(id === undefined ? { type: 'error', code, message } : { type: 'error', id, code, message });
  }

  private refuse(message: string): void {
    this.send({ type: 'error', code: 'unauthorized', message });
    this.ws.close(1008, 'unauthorized');
  }

  private rateOk(): boolean {
    const now = performance.now();
    const rate = this.ctx.limits.maxMessagesPerSecond;
    this.tokens = Math.min(2 * rate, this.tokens + ((now - this.lastRefill) / 1000) * rate);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    const bytes = toBytes(data);
    if (!this.authed) {
      let msg: ClientMessage | null = null;
      try {
        msg = isBinary ? null : parseClientMessage(new TextDecoder().decode(bytes), this.ctx.limits);
      } catch {
        msg = null;
      }
      if (msg?.type === 'auth' && msg.token === this.ctx.token) {
        this.authed = true;
        if (this.authTimer) clearTimeout(this.authTimer);
        this.send(this.ctx.hello);
      } else {
        this.refuse(msg?.type === 'auth' ? 'wrong token' : 'this server needs a token: ?token=… in the URL or {"type":"auth","token":…} first');
      }
      return;
    }
    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      clearTimeout(p.timer);
      if (isBinary) {
        if (!p.start) return; // upload of a refused start: dropped
        if (bytes.length !== p.bytes) return this.error('upload_mismatch', `upload has ${bytes.length} bytes, "start" announced ${p.bytes}`, p.start.id);
        return this.begin(p.start, p.kind, bytes);
      }
      if (p.start) this.error('upload_mismatch', `expected the ${p.kind} upload (${p.bytes} bytes) as a binary message right after "start"`, p.start.id);
      // …and handle this text message normally.
    } else if (isBinary) {
      if (isAudioFrame(bytes)) return this.onScoreChunk(bytes);
      return this.error('unexpected_binary', 'binary message that is neither an announced upload ("start" with source kind wav or npy) nor a scoring chunk (an audio frame after "score-start")');
    }
    if (!this.rateOk()) return this.error('rate_limited', `more than ${this.ctx.limits.maxMessagesPerSecond} messages per second`);
    if (bytes.length > this.ctx.limits.maxMessageBytes) return this.error('too_large', 'message too large');
    const text = new TextDecoder().decode(bytes);
    let msg: ClientMessage;
    try {
      msg = parseClientMessage(text, this.ctx.limits);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.expectRefusedUpload(text);
      return this.error(e.code === 'bad_frame' ? 'bad_field' : e.code, e.message, e.id);
    }
    switch (msg.type) {
      case 'ping':
        return this.send({ type: 'pong', t: msg.t, serverTime: Date.now() });
      case 'auth':
        return; // already authenticated (e.g. by the query parameter): harmless
      case 'cancel': {
        const h = this.streams.get(msg.id) ?? this.scoring.get(msg.id);
        if (!h) return this.error('unknown_stream', `no running stream ${msg.id}`, msg.id);
        return h.cancel('client');
      }
      case 'start':
        return this.onStart(msg);
      case 'score-start':
        return this.onScoreStart(msg);
      case 'score-end': {
        const h = this.scoring.get(msg.id);
        if (!h) return this.error('unknown_stream', `no running scoring stream ${msg.id}`, msg.id);
        return h.end();
      }
    }
  }

  private running(id: number): boolean {
    return this.streams.has(id) || this.scoring.has(id);
  }

  private onScoreStart(msg: ScoreStartMessage): void {
    if (this.running(msg.id)) return this.error('duplicate_id', `stream ${msg.id} is already running on this connection`, msg.id);
    if (this.streams.size + this.scoring.size >= this.ctx.limits.maxStreamsPerConnection) {
      return this.error('too_many_streams', `at most ${this.ctx.limits.maxStreamsPerConnection} streams at once per connection`, msg.id);
    }
    this.failedScoring.delete(msg.id);
    const opened = this.ctx.scores.open({
      id: msg.id, sink: this.sink, inputRate: msg.sampleRate, score: msg.score,
      onEnd: (outcome) => {
        if (this.scoring.get(msg.id) !== handle) return;
        this.scoring.delete(msg.id);
        if (outcome === 'failed') {
          if (this.failedScoring.size >= 64) this.failedScoring.clear();
          this.failedScoring.add(msg.id);
        }
      },
    });
    if (opened.status === 'busy') return this.send({ type: 'busy', id: msg.id, retryAfterMs: opened.retryAfterMs, message: opened.message });
    if (opened.status === 'refused') return this.error(opened.code, opened.message, msg.id);
    const handle = opened.handle;
    this.scoring.set(msg.id, handle);
  }

  /** A binary audio frame from the client: the next chunk of one of its scoring streams. */
  private onScoreChunk(bytes: Uint8Array): void {
    let f: AudioFrame;
    try {
      f = decodeAudioFrame(bytes);
    } catch (e) {
      return this.error('bad_audio', `bad scoring chunk: ${(e as Error).message}`);
    }
    const h = this.scoring.get(f.streamId);
    if (!h) {
      if (this.failedScoring.has(f.streamId)) return; // its error was sent once already
      return this.error('unknown_stream', `no running scoring stream ${f.streamId}; send "score-start" first`, f.streamId);
    }
    if (!this.chunkRateOk()) return h.fail('rate_limited', `more than ${this.ctx.limits.maxScoreChunksPerSecond} scoring chunks per second`);
    h.push(f);
  }

  private chunkRateOk(): boolean {
    const now = performance.now();
    const rate = this.ctx.limits.maxScoreChunksPerSecond;
    this.chunkTokens = Math.min(2 * rate, this.chunkTokens + ((now - this.lastChunkRefill) / 1000) * rate);
    this.lastChunkRefill = now;
    if (this.chunkTokens < 1) return false;
    this.chunkTokens -= 1;
    return true;
  }

  /** A refused `start` that announced an upload: the client sends it anyway; read and drop it. */
  private expectRefusedUpload(text: string): void {
    try {
      const v = JSON.parse(text) as { type?: unknown; source?: { kind?: unknown; bytes?: unknown } };
      const kind = v?.source?.kind;
      if (v?.type === 'start' && (kind === 'wav' || kind === 'npy')) this.awaitUpload(null, kind, Number(v.source?.bytes) || 0);
    } catch {
      // not JSON: nothing announced
    }
  }

  private awaitUpload(start: StartMessage | null, kind: 'wav' | 'npy', bytes: number): void {
    const timer = setTimeout(() => {
      if (this.pending?.timer !== timer) return;
      this.pending = null;
      if (start) this.error('upload_mismatch', `the ${kind} upload did not arrive within ${(this.ctx.uploadTimeoutMs ?? 15000) / 1000} s`, start.id);
    }, this.ctx.uploadTimeoutMs ?? 15000);
    this.pending = { start, kind, bytes, timer };
  }

  private onStart(msg: StartMessage): void {
    const upload = msg.source.kind === 'sample' ? null : msg.source;
    const refuse = (code: ErrorCode, message: string) => {
      if (upload) this.awaitUpload(null, upload.kind, upload.bytes);
      this.error(code, message, msg.id);
    };
    if (this.running(msg.id)) return refuse('duplicate_id', `stream ${msg.id} is already running on this connection`);
    if (this.streams.size + this.scoring.size >= this.ctx.limits.maxStreamsPerConnection) {
      return refuse('too_many_streams', `at most ${this.ctx.limits.maxStreamsPerConnection} streams at once per connection`);
    }
    if (upload) {
      this.awaitUpload(msg, upload.kind, upload.bytes);
      return;
    }
    const src = this.ctx.samples.source((msg.source as { sampleId: string }).sampleId);
    if (!src) return refuse('unknown_sample', `no sample ${JSON.stringify((msg.source as { sampleId: string }).sampleId)}; hello.samples lists them`);
    // Reserve the id now so a second start with it is refused while the file loads.
    const reservation: StreamHandle = { cancel: () => this.streams.delete(msg.id) };
    this.streams.set(msg.id, reservation);
    readFile(src.path).then(
      (buf) => {
        if (this.streams.get(msg.id) !== reservation || this.closed) return;
        this.streams.delete(msg.id);
        this.begin(msg, src.kind, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      },
      (e: Error) => {
        this.streams.delete(msg.id);
        this.error('internal', `cannot read sample: ${e.message}`, msg.id);
      },
    );
  }

  private begin(msg: StartMessage, kind: 'wav' | 'npy', bytes: Uint8Array): void {
    if (this.running(msg.id)) return this.error('duplicate_id', `stream ${msg.id} is already running on this connection`, msg.id);
    if (this.streams.size + this.scoring.size >= this.ctx.limits.maxStreamsPerConnection) return this.error('too_many_streams', `at most ${this.ctx.limits.maxStreamsPerConnection} streams at once per connection`, msg.id);
    const a = this.ctx.scheduler.submit({
      id: msg.id, sink: this.sink, kind, bytes,
      sigma: msg.sigma ?? 0.6, denoise: msg.denoise ?? 0, seed: msg.seed ?? Math.floor(Math.random() * 0x100000000),
      chunkFrames: msg.chunkFrames, receivedAt: performance.now(),
      onEnd: () => {
        if (this.streams.get(msg.id) === handle) this.streams.delete(msg.id);
      },
    });
    if (a.status === 'busy') return this.send({ type: 'busy', id: msg.id, retryAfterMs: a.retryAfterMs, message: a.message });
    const handle = a.handle;
    this.streams.set(msg.id, handle);
  }

  private onClose(): void {
    this.closed = true;
    if (this.authTimer) clearTimeout(this.authTimer);
    if (this.pending) clearTimeout(this.pending.timer);
    for (const h of [...this.streams.values()]) h.cancel('closed');
    this.streams.clear();
    for (const h of [...this.scoring.values()]) h.cancel('closed');
    this.scoring.clear();
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
