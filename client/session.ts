/**
 * A streaming-synthesis session over one WebSocket, shared by the browser page and `flowvox play`
 * (isomorphic: the caller supplies the socket, so Node can use `ws` and the browser its own).
 * It speaks the wire format only through src/stream/protocol.ts.
 */
import {
  WS_PATH,
  decodeAudioFrame,
  encodeAudioFrame,
  encodeMessage,
  isAudioFrame,
  parseServerMessage,
  type AcceptedMessage,
  type AudioFrame,
  type BusyMessage,
  type DoneMessage,
  type ErrorMessage,
  type HelloMessage,
  type ScoreAcceptedMessage,
  type ScoreDoneMessage,
  type ScoreMessage,
  type ScoreName,
  type Source,
  type StartMessage,
} from '../src/stream/protocol.js';

export interface ScoreHandlers {
  accepted?(m: ScoreAcceptedMessage): void;
  score?(m: ScoreMessage): void;
}

/** A running scoring stream: push PCM at its rate, then end(); `result` settles at score-done. */
export interface ScoreRun {
  id: number;
  /** Input seconds sent so far. */
  readonly sentSeconds: number;
  push(samples: Float32Array): void;
  end(): void;
  result: Promise<ScoreDoneMessage>;
}

interface PendingScore {
  handlers: ScoreHandlers;
  resolve(m: ScoreDoneMessage): void;
  reject(e: StreamError): void;
}

/** What a socket implementation must offer; events come back through SocketEvents. */
export interface WireSocket {
  send(data: string | Uint8Array): void;
  close(): void;
}

export interface SocketEvents {
  open(): void;
  text(data: string): void;
  binary(data: Uint8Array): void;
  /** The socket closed (code, reason as the close frame gave them). */
  close(code: number, reason: string): void;
  /** A transport failure before or instead of a close (e.g. connection refused). */
  error(message: string): void;
}

export type OpenSocket = (url: string, events: SocketEvents) => WireSocket;

/** Why a session or stream failed; `code` is the server's error code or a client-side one. */
export class StreamError extends Error {
  constructor(
    message: string,
    readonly code: ErrorMessage['code'] | 'busy' | 'closed' | 'connect' | 'bad_frame' | 'cancelled',
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'StreamError';
  }
}

export interface StreamRequest {
  /** A bundled sample, or a file's bytes ('wav' or 'npy'). */
  source: { kind: 'sample'; sampleId: string } | { kind: 'wav' | 'npy'; bytes: Uint8Array };
  sigma?: number;
  denoise?: number;
  seed?: number;
  chunkFrames?: number;
}

export interface StreamHandlers {
  accepted?(m: AcceptedMessage): void;
  audio?(f: AudioFrame): void;
}

export interface StreamResult {
  accepted: AcceptedMessage;
  done: DoneMessage;
  /** The whole utterance, assembled from the frames by their sampleOffset. */
  pcm: Float32Array;
  chunks: number;
}

interface Pending {
  handlers: StreamHandlers;
  accepted?: AcceptedMessage;
  pcm?: Float32Array;
  chunks: number;
  resolve(r: StreamResult): void;
  reject(e: StreamError): void;
}

/** The ws:// URL of a server given as http(s)://host:port, ws(s)://host:port or host:port (adds /ws and ?token). */
export function socketUrl(base: string, token?: string): string {
  let u: URL;
  try {
    u = new URL(/^[a-z]+:\/\//i.test(base) ? base : `ws://${base}`);
  } catch {
    throw new StreamError(`not a server URL: "${base}" (expected e.g. ws://127.0.0.1:8080)`, 'connect');
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new StreamError(`unsupported URL scheme ${u.protocol} in "${base}"`, 'connect');
  if (u.pathname === '/' || u.pathname === '') u.pathname = WS_PATH;
  if (token) u.searchParams.set('token', token);
  return u.toString();
}

/** Describes a server `error` or `busy` for people. */
export function describeServerError(m: ErrorMessage | BusyMessage): string {
  if (m.type === 'busy') return `server busy: ${m.message} (retry in ${(m.retryAfterMs / 1000).toFixed(1)} s)`;
  if (m.code === 'unauthorized') return `unauthorized: ${m.message} (pass the server's token)`;
  return `server error (${m.code}): ${m.message}`;
}

export class Session {
  readonly hello: HelloMessage;
  private readonly socket: WireSocket;
  private readonly streams = new Map<number, Pending>();
  private readonly scoring = new Map<number, PendingScore>();
  private nextId = 1;
  private closedWith: StreamError | null = null;
  /** Called when the connection ends (after open), e.g. to show it in the UI. */
  onClose: ((e: StreamError) => void) | null = null;

  private constructor(socket: WireSocket, hello: HelloMessage) {
    this.socket = socket;
    this.hello = hello;
  }

  /** Connects and waits for `hello`; rejects with a StreamError on refusal, auth failure or close. */
  static open(url: string, openSocket: OpenSocket, timeoutMs = 15_000): Promise<Session> {
    return new Promise<Session>((resolve, reject) => {
      let session: Session | null = null;
      let opened = false;
      const fail = (e: StreamError) => {
        clearTimeout(timer);
        if (session) session.fail(e);
        else reject(e);
      };
      const timer = setTimeout(() => {
        fail(new StreamError(`no hello from ${url} within ${timeoutMs / 1000} s`, 'connect'));
        socket.close();
      }, timeoutMs);
      const socket = openSocket(url, {
        open: () => {
          opened = true;
        },
        text: (data) => {
          let msg;
          try {
            msg = parseServerMessage(data);
          } catch (e) {
            return fail(new StreamError((e as Error).message, 'bad_frame'));
          }
          if (!session) {
            if (msg.type === 'hello') {
              clearTimeout(timer);
              session = new Session(socket, msg);
              resolve(session);
            } else if (msg.type === 'error' || msg.type === 'busy') {
              fail(new StreamError(describeServerError(msg), msg.type === 'busy' ? 'busy' : msg.code));
            }
            return;
          }
          session.onMessage(msg);
        },
        binary: (data) => session?.onBinary(data),
        close: (code, reason) => {
          const why = reason ? `: ${reason}` : '';
          const msg = opened ? `connection to ${url} closed (code ${code}${why})` : `cannot connect to ${url} (code ${code}${why})`;
          fail(new StreamError(msg, opened ? 'closed' : 'connect'));
        },
        error: (message) => {
          if (!opened) fail(new StreamError(`cannot connect to ${url}: ${message}`, 'connect'));
        },
      });
    });
  }

  /**
   * Starts a stream; resolves when the server says `done`, with the assembled PCM. `handlers`
   * see `accepted` and each audio frame as they arrive (for live playback and drawing).
   */
  stream(req: StreamRequest, handlers: StreamHandlers = {}): { id: number; result: Promise<StreamResult> } {
    const id = this.nextId++;
    const result = new Promise<StreamResult>((resolve, reject) => {
      if (this.closedWith) return reject(this.closedWith);
      this.streams.set(id, { handlers, chunks: 0, resolve, reject });
      const source: Source = req.source.kind === 'sample' ? req.source : { kind: req.source.kind, bytes: req.source.bytes.byteLength };
      const start: StartMessage = { type: 'start', id, source };
      if (req.sigma !== undefined) start.sigma = req.sigma;
      if (req.denoise !== undefined) start.denoise = req.denoise;
      if (req.seed !== undefined) start.seed = req.seed;
      if (req.chunkFrames !== undefined) start.chunkFrames = req.chunkFrames;
      this.socket.send(encodeMessage(start));
      // The upload must follow its `start` immediately, as one binary message.
      if (req.source.kind !== 'sample') this.socket.send(req.source.bytes);
    });
    return { id, result };
  }

  /**
   * Opens a scoring stream: chunks pushed at `sampleRate` go to the server as audio frames; the
   * handlers see `score-accepted` and each `score` as it comes.
   */
  score(req: { sampleRate: number; score?: ScoreName }, handlers: ScoreHandlers = {}): ScoreRun {
    const id = this.nextId++;
    let seq = 0;
    let sent = 0;
    let ended = false;
    const result = new Promise<ScoreDoneMessage>((resolve, reject) => {
      if (this.closedWith) return reject(this.closedWith);
      this.scoring.set(id, { handlers, resolve, reject });
      this.socket.send(encodeMessage({ type: 'score-start', id, sampleRate: req.sampleRate, ...(req.score ? { score: req.score } : {}) }));
    });
    const live = () => !ended && !this.closedWith && this.scoring.has(id);
    return {
      id,
      get sentSeconds() {
        return sent / req.sampleRate;
      },
      push: (samples) => {
        if (!live() || samples.length === 0) return;
        this.socket.send(encodeAudioFrame({ streamId: id, seq: seq++, sampleRate: req.sampleRate, sampleOffset: sent % 2 ** 32, last: false }, samples));
        sent += samples.length;
      },
      end: () => {
        if (!live()) return;
        ended = true;
        this.socket.send(encodeMessage({ type: 'score-end', id }));
      },
      result,
    };
  }

  /** Asks the server to stop stream `id`; its promise rejects with code 'cancelled'. */
  cancel(id: number): void {
    const sc = this.scoring.get(id);
    if (sc) {
      this.scoring.delete(id);
      sc.reject(new StreamError('stopped', 'cancelled'));
      if (!this.closedWith) this.socket.send(encodeMessage({ type: 'cancel', id }));
      return;
    }
    const p = this.streams.get(id);
    if (!p) return;
    this.streams.delete(id);
    p.reject(new StreamError('stopped', 'cancelled'));
    if (!this.closedWith) this.socket.send(encodeMessage({ type: 'cancel', id }));
  }

  close(): void {
    this.fail(new StreamError('session closed', 'closed'));
    this.socket.close();
  }

  private fail(e: StreamError): void {
    if (this.closedWith) return;
    this.closedWith = e;
    for (const p of this.streams.values()) p.reject(e);
    this.streams.clear();
    for (const p of this.scoring.values()) p.reject(e);
    this.scoring.clear();
    this.onClose?.(e);
  }

  private onMessage(msg: ReturnType<typeof parseServerMessage>): void {
    if ('id' in msg && msg.id !== undefined && this.scoring.has(msg.id)) return this.onScoreMessage(this.scoring.get(msg.id)!, msg);
    switch (msg.type) {
      case 'accepted': {
        const p = this.streams.get(msg.id);
        if (!p) return;
        p.accepted = msg;
        p.pcm = new Float32Array(msg.totalSamples);
        p.handlers.accepted?.(msg);
        return;
      }
      case 'done': {
        const p = this.streams.get(msg.id);
        if (!p) return;
        this.streams.delete(msg.id);
        if (!p.accepted || !p.pcm) return p.reject(new StreamError(`stream ${msg.id} finished without "accepted"`, 'bad_frame'));
        p.resolve({ accepted: p.accepted, done: msg, pcm: p.pcm, chunks: p.chunks });
        return;
      }
      case 'cancelled': {
        const p = this.streams.get(msg.id);
        if (!p) return;
        this.streams.delete(msg.id);
        p.reject(new StreamError(msg.reason === 'server' ? 'the server stopped the stream (shutting down)' : 'stopped', 'cancelled'));
        return;
      }
      case 'busy':
      case 'error': {
        const e = new StreamError(describeServerError(msg), msg.type === 'busy' ? 'busy' : msg.code, msg.type === 'busy' ? msg.retryAfterMs : undefined);
        const id = msg.id;
        if (id !== undefined && this.streams.has(id)) {
          const p = this.streams.get(id)!;
          this.streams.delete(id);
          p.reject(e);
        } else if (msg.type === 'error') {
          // An error about no particular stream (bad message, rate limit) fails them all.
          for (const p of this.streams.values()) p.reject(e);
          this.streams.clear();
        }
        return;
      }
      default:
        return; // hello again, pong: nothing to do
    }
  }

  private onScoreMessage(p: PendingScore, msg: ReturnType<typeof parseServerMessage>): void {
    switch (msg.type) {
      case 'score-accepted':
        return p.handlers.accepted?.(msg);
      case 'score':
        return p.handlers.score?.(msg);
      case 'score-done':
        this.scoring.delete(msg.id);
        return p.resolve(msg);
      case 'cancelled':
      case 'busy':
      case 'error':
        this.scoring.delete(msg.id!);
        return p.reject(msg.type === 'cancelled' ? new StreamError('stopped', 'cancelled') : new StreamError(describeServerError(msg), msg.type === 'busy' ? 'busy' : msg.code, msg.type === 'busy' ? msg.retryAfterMs : undefined));
      default:
        return;
    }
  }

  private onBinary(data: Uint8Array): void {
    if (!isAudioFrame(data)) return;
    let f: AudioFrame;
    try {
      f = decodeAudioFrame(data);
    } catch (e) {
      return this.fail(new StreamError((e as Error).message, 'bad_frame'));
    }
    const p = this.streams.get(f.streamId);
    if (!p?.pcm) return; // a frame of a stream we stopped
    if (f.sampleOffset + f.samples.length > p.pcm.length) {
      const e = new StreamError(`audio frame ${f.seq} runs past the announced ${p.pcm.length} samples`, 'bad_frame');
      this.streams.delete(f.streamId);
      return p.reject(e);
    }
    p.pcm.set(f.samples, f.sampleOffset);
    p.chunks++;
    p.handlers.audio?.(f);
  }
}
