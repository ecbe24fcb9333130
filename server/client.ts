/**
 * A minimal Node client of the streaming protocol, for the tests and the bench (the full player is
 * `flowvox play`). Collects every message; `stream()` runs one start → accepted → frames → done.
 */
import WebSocket from 'ws';
import {
  WS_PATH, decodeAudioFrame, encodeAudioFrame, encodeMessage, parseServerMessage,
  type AcceptedMessage, type AudioFrame, type BusyMessage, type ClientMessage, type DoneMessage, type ErrorMessage,
  type HelloMessage, type ScoreAcceptedMessage, type ScoreDoneMessage, type ScoreMessage, type ScoreStartMessage, type ServerMessage, type StartMessage,
} from '../src/stream/protocol.js';

export interface ScoreOutcome {
  accepted?: ScoreAcceptedMessage;
  scores: ScoreMessage[];
  end: ScoreDoneMessage | BusyMessage | ErrorMessage | { type: 'cancelled'; id: number };
}

export interface StreamOutcome {
  accepted?: AcceptedMessage;
  end: DoneMessage | BusyMessage | ErrorMessage | { type: 'cancelled'; id: number };
  frames: AudioFrame[];
  /** Frames concatenated (checked to tile without gaps). */
  pcm: Float32Array;
  /** ms from sending start to the first audio frame, measured by the client. */
  firstAudioMs: number;
  totalMs: number;
}

export class StreamClient {
  readonly messages: ServerMessage[] = [];
  readonly frames: AudioFrame[] = [];
  /** performance.now() at each frame's arrival. */
  readonly arrivals: number[] = [];
  closeCode: number | null = null;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? Buffer.from(data) : data;
      if (isBinary) {
        this.frames.push(decodeAudioFrame(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
        this.arrivals.push(performance.now());
      }
      else this.messages.push(parseServerMessage(bytes.toString('utf8')));
      this.wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
    ws.on('error', () => {});
  }

  /** Opens ws://…/ws (base may be the server's http URL). Rejects if the upgrade is refused. */
  static connect(base: string, opts: { token?: string; origin?: string } = {}): Promise<StreamClient> {
    const u = new URL(WS_PATH, base.replace(/^http/, 'ws'));
    if (opts.token !== undefined) u.searchParams.set('token', opts.token);
    const ws = new WebSocket(u, { headers: opts.origin ? { Origin: opts.origin } : {}, maxPayload: 64 << 20 });
    const c = new StreamClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `pred` holds (checked on every message/close), rejects after timeoutMs. */
  until<T>(pred: () => T | undefined | null | false, timeoutMs = 20_000, what = 'condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = pred();
        if (v) {
          clearTimeout(timer);
          resolve(v);
          return true;
        }
        if (this.closeCode !== null) {
          clearTimeout(timer);
          reject(new Error(`socket closed (${this.closeCode}) while waiting for ${what}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const loop = () => {
        if (!check()) this.waiters.push(loop);
      };
      loop();
    });
  }

  /** The next message (after index `from`) matching `pred`. */
  next<M extends ServerMessage>(pred: (m: ServerMessage) => m is M, from = 0, timeoutMs?: number): Promise<M> {
    return this.until(() => this.messages.slice(from).find(pred) as M | undefined, timeoutMs, 'a message');
  }

  hello(timeoutMs?: number): Promise<HelloMessage> {
    return this.next((m): m is HelloMessage => m.type === 'hello', 0, timeoutMs);
  }

  send(msg: ClientMessage | Record<string, unknown>): void {
    this.ws.send(encodeMessage(msg as ClientMessage));
  }

  sendRaw(data: string | Uint8Array): void {
    this.ws.send(data, { binary: typeof data !== 'string' });
  }

  /** Runs one stream to its end (done, busy, error or cancelled for this id). */
  async stream(start: StartMessage, upload?: Uint8Array, timeoutMs = 60_000): Promise<StreamOutcome> {
    const from = this.messages.length;
    const t0 = performance.now();
    this.send(start);
    if (upload) this.sendRaw(upload);
    const id = start.id;
    const end = await this.until(
      () => this.messages.slice(from).find((m) => ('id' in m && m.id === id && (m.type === 'done' || m.type === 'busy' || m.type === 'error' || m.type === 'cancelled'))) as StreamOutcome['end'] | undefined,
      timeoutMs, `the end of stream ${id}`,
    );
    const totalMs = performance.now() - t0;
    const accepted = this.messages.slice(from).find((m): m is AcceptedMessage => m.type === 'accepted' && m.id === id);
    const mine = this.frames.map((f, i) => [f, this.arrivals[i]!] as const).filter(([f, t]) => f.streamId === id && t >= t0);
    const frames = mine.map(([f]) => f);
    return { accepted, end, frames, pcm: concat(frames), firstAudioMs: mine.length ? mine[0]![1] - t0 : Number.NaN, totalMs };
  }

  /** Sends one scoring chunk (an audio frame) of stream `id`. */
  sendChunk(id: number, seq: number, sampleRate: number, sampleOffset: number, samples: Float32Array, last = false): void {
    this.sendRaw(encodeAudioFrame({ streamId: id, seq, sampleRate, sampleOffset, last }, samples));
  }

  /**
   * Runs one scoring stream: score-start, `samples` in chunks of `chunk` samples (keeping at most
   * `aheadSeconds`, and half the server's backlog limit, of audio unscored, so a long file does not
   * overrun), score-end; resolves at its
   * end (score-done, error, busy or cancelled).
   */
  async score(start: ScoreStartMessage, samples: Float32Array, opts: { chunk?: number; aheadSeconds?: number; timeoutMs?: number } = {}): Promise<ScoreOutcome> {
    const from = this.messages.length;
    const id = start.id;
    const mine = () => this.messages.slice(from).filter((m) => 'id' in m && m.id === id);
    const ended = () => mine().find((m) => m.type === 'score-done' || m.type === 'busy' || m.type === 'error' || m.type === 'cancelled') as ScoreOutcome['end'] | undefined;
    this.send(start);
    const first = await this.until(() => mine().find((m) => m.type === 'score-accepted' || m.type === 'error' || m.type === 'busy'), opts.timeoutMs ?? 60_000, `score-accepted of ${id}`);
    if (first.type === 'score-accepted') {
      const chunk = opts.chunk ?? Math.round(start.sampleRate / 4);
      // Half the server's backlog limit at most: scores lag what was taken by a window in flight.
      const ahead = Math.min(opts.aheadSeconds ?? 10, first.maxBacklogSeconds / 2) * start.sampleRate;
      let seq = 0;
      for (let at = 0; at < samples.length && !ended(); at += chunk) {
        const scoredTo = () => (mine().filter((m): m is ScoreMessage => m.type === 'score').at(-1)?.end ?? 0) * start.sampleRate;
        if (at - scoredTo() > ahead) await this.until(() => at - scoredTo() <= ahead || ended(), opts.timeoutMs ?? 60_000, 'scores to catch up');
        this.sendChunk(id, seq++, start.sampleRate, at, samples.subarray(at, at + chunk));
      }
      if (!ended()) this.send({ type: 'score-end', id });
    }
    const end = await this.until(ended, opts.timeoutMs ?? 60_000, `the end of scoring stream ${id}`);
    const all = mine();
    return {
      accepted: all.find((m): m is ScoreAcceptedMessage => m.type === 'score-accepted'),
      scores: all.filter((m): m is ScoreMessage => m.type === 'score'),
      end,
    };
  }

  close(): Promise<void> {
    if (this.closeCode !== null) return Promise.resolve();
    this.ws.close();
    return this.until(() => this.closeCode !== null, 5000, 'close').then(() => {});
  }
}

/** Concatenates a stream's frames, checking that they arrive in order and tile without gaps. */
export function concat(frames: AudioFrame[]): Float32Array {
  const total = frames.reduce((n, f) => n + f.samples.length, 0);
  const out = new Float32Array(total);
  let at = 0;
  frames.forEach((f, i) => {
    if (f.seq !== i || f.sampleOffset !== at) throw new Error(`frame ${i}: seq ${f.seq}, offset ${f.sampleOffset}, expected offset ${at}`);
    out.set(f.samples, at);
    at += f.samples.length;
  });
  return out;
}
