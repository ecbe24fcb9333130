/**
 * Scoring streams: audio chunks in, segment scores out (see src/stream/protocol.ts). The main
 * thread keeps each stream's SegmentStream (buffering, resampling, planning, dropping old audio:
 * cheap); the pool's workers score its windows (log-mel, flow NLL, background, features: the heavy
 * part). At most one window per stream is in flight, so scores go out in order, and a stream whose
 * audio arrives faster than a window is scored gets more segments in its next window.
 */
import type { SegmentScores } from '../src/anomaly/scorer.js';
import { SegmentStream, StreamInputError, type ScoreGeometry } from '../src/anomaly/stream-scorer.js';
import type { AudioFrame, ErrorCode, Limits, ScoreName } from '../src/stream/protocol.js';
import { Backpressure } from './backpressure.js';
import type { WorkerPool } from './pool.js';
import type { JobSource, StreamSink } from './scheduler.js';
import type { CalibrationInfo } from './worker-protocol.js';

export interface ScoreStreamsOptions {
  geometry: ScoreGeometry;
  calibration: CalibrationInfo | null;
  limits: Limits;
  /** Scoring streams at once, server-wide; beyond: `busy`. */
  maxStreams: number;
  /** Pause a stream's scoring while its socket buffers more than this (bytes)… */
  highWaterMark: number;
  /** …and resume below this. */
  lowWaterMark: number;
  /** Asks the scheduler to hand out work (audio arrived, a window finished, a socket drained). */
  pump: () => void;
}

export interface ScoreRequest {
  id: number;
  sink: StreamSink;
  inputRate: number;
  score?: ScoreName;
  /** Called once when the stream ends for any reason. */
  onEnd?: (outcome: 'done' | 'cancelled' | 'failed') => void;
}

export interface ScoreHandle {
  /** A validated-on-arrival chunk (rate, order, size, values); a bad one fails the stream. */
  push(frame: AudioFrame): void;
  /** `score-end`: score the tail, then `score-done`. */
  end(): void;
  fail(code: ErrorCode, message: string): void;
  cancel(reason: 'client' | 'server' | 'closed'): void;
}

export type ScoreOpen =
  | { status: 'accepted'; handle: ScoreHandle }
  | { status: 'refused'; code: ErrorCode; message: string }
  | { status: 'busy'; retryAfterMs: number; message: string };

class ScoreStream {
  seq = 0;
  index = 0;
  flagged = 0;
  inflight = false;
  endRequested = false;
  finished = false;
  paused = false;
  constructor(
    readonly req: ScoreRequest,
    readonly segs: SegmentStream,
    readonly scoreName: ScoreName,
    readonly threshold: number | null,
  ) {}
}

/** The scores a server can give: lr and nll always, the rest with a calibration. */
export function availableScores(cal: CalibrationInfo | null): ScoreName[] {
  if (!cal) return ['lr', 'nll'];
  return ['lr', 'nll', 'typicality', 'complexity', ...(cal.hasFeatureFlow ? (['features'] as const) : []), ...(cal.hasFeatureFlow && cal.featureStats ? (['combined'] as const) : [])];
}

export class ScoreStreams implements JobSource {
  private readonly streams: ScoreStream[] = [];
  private next = 0; // round-robin position
  readonly counters = { completed: 0, cancelled: 0, failed: 0, busy: 0 };
  private readonly backpressure: Backpressure<ScoreStream>;

  constructor(private readonly pool: WorkerPool, readonly opts: ScoreStreamsOptions) {
    this.backpressure = new Backpressure(opts, () => this.streams, opts.pump);
  }

  get active(): number {
    return this.streams.length;
  }

  open(req: ScoreRequest): ScoreOpen {
    const cal = this.opts.calibration;
    const scores = availableScores(cal);
    const name = req.score ?? cal?.defaultScore ?? 'lr';
    if (!scores.includes(name)) {
      return { status: 'refused', code: 'bad_field', message: `score "${name}" needs ${cal ? 'a calibration with a feature flow' : 'a calibration'}; this server has ${cal ? 'none with one' : 'none'} (available: ${scores.join(', ')})` };
    }
    if (this.streams.length >= this.opts.maxStreams) {
      this.counters.busy++;
      return { status: 'busy', retryAfterMs: 2000, message: `all ${this.opts.maxStreams} scoring slots are taken` };
    }
    const sr = this.opts.geometry.sampleRate;
    const segs = new SegmentStream(this.opts.geometry, {
      segment: cal?.segment, hop: cal?.hop, inputRate: req.inputRate,
      maxBufferedSamples: Math.round(this.opts.limits.maxScoreBacklogSeconds * sr),
    });
    const s = new ScoreStream(req, segs, name, cal?.thresholds[name] ?? null);
    this.streams.push(s);
    req.sink.sendJson({
      type: 'score-accepted', id: req.id, inputRate: req.inputRate, sampleRate: sr,
      segment: segs.segmentSamples / sr, hop: segs.stepSamples / sr, scoreName: name, threshold: s.threshold,
      calibrated: cal !== null, scores, maxBacklogSeconds: this.opts.limits.maxScoreBacklogSeconds,
    });
    return {
      status: 'accepted',
      handle: {
        push: (f) => this.push(s, f),
        end: () => this.end(s),
        fail: (code, message) => this.fail(s, code, message),
        cancel: (reason) => this.cancel(s, reason),
      },
    };
  }

  private push(s: ScoreStream, f: AudioFrame): void {
    if (s.finished) return;
    const id = s.req.id;
    if (s.endRequested) return this.fail(s, 'bad_audio', `chunk ${f.seq} of scoring stream ${id} came after its end`);
    if (f.sampleRate !== s.req.inputRate) return this.fail(s, 'bad_audio', `chunk ${f.seq} is at ${f.sampleRate} Hz; scoring stream ${id} was started at ${s.req.inputRate} Hz`);
    if (f.seq !== s.seq) return this.fail(s, 'bad_audio', `chunk seq ${f.seq}, expected ${s.seq}: chunks must arrive in order, without gaps or repeats`);
    const offset = s.segs.inputSamples % 2 ** 32;
    if (f.sampleOffset !== offset) return this.fail(s, 'bad_audio', `chunk ${f.seq} says sampleOffset ${f.sampleOffset}, but ${offset} samples came before it`);
    const max = this.opts.limits.maxScoreChunkSamples;
    if (f.samples.length > max) return this.fail(s, 'too_large', `chunk of ${f.samples.length} samples is over the limit of ${max}`);
    try {
      s.segs.push(f.samples);
    } catch (e) {
      if (!(e instanceof StreamInputError)) throw e;
      return this.fail(s, e.kind === 'backlog' ? 'overrun' : 'bad_audio', e.message);
    }
    s.seq++;
    if (f.last) return this.end(s);
    this.opts.pump();
  }

  private end(s: ScoreStream): void {
    if (s.finished || s.endRequested) return;
    s.endRequested = true;
    try {
      s.segs.end();
    } catch (e) {
      if (!(e instanceof StreamInputError)) throw e;
      return this.fail(s, 'bad_audio', e.message);
    }
    this.maybeDone(s);
    this.opts.pump();
  }

  /** Dispatches one window of the next stream (round robin) that has one ready; false when none. */
  dispatchOne(): boolean {
    if (this.pool.idle === 0) return false;
    const n = this.streams.length;
    for (let k = 0; k < n; k++) {
      const s = this.streams[(this.next + k) % n]!;
      if (s.finished || s.inflight || this.backpressure.held(s)) continue;
      const w = s.segs.take(32);
      if (!w) continue;
      this.next = (this.next + k + 1) % n;
      const p = this.pool.run({ type: 'score', window: w, features: this.opts.calibration?.hasFeatureFlow ?? false }, [w.audio.buffer as ArrayBuffer, w.dequantised.buffer as ArrayBuffer]);
      if (!p) {
        this.fail(s, 'internal', 'no worker took the scoring job');
        return false;
      }
      s.inflight = true;
      void p.then((res) => {
        s.inflight = false;
        if (s.finished) return this.opts.pump();
        if (res.type === 'failed') return this.fail(s, res.code, res.message);
        if (res.type !== 'scored') return this.fail(s, 'internal', 'unexpected worker reply');
        this.send(s, res.scores);
        this.maybeDone(s);
        this.opts.pump();
      });
      return true;
    }
    return false;
  }

  private send(s: ScoreStream, scores: SegmentScores[]): void {
    const names = availableScores(this.opts.calibration);
    for (const seg of scores) {
      const values: Partial<Record<ScoreName, number>> = {};
      for (const n of names) {
        const v = seg[n];
        if (v !== undefined && Number.isFinite(v)) values[n] = v;
      }
      const score = seg[s.scoreName] ?? Number.NaN;
      const flagged = s.threshold !== null && score > s.threshold;
      if (flagged) s.flagged++;
      s.req.sink.sendJson({ type: 'score', id: s.req.id, index: s.index++, start: seg.start, end: seg.end, score, scores: values, flagged });
    }
  }

  private maybeDone(s: ScoreStream): void {
    if (s.finished || s.inflight || !s.endRequested || !s.segs.done) return;
    s.req.sink.sendJson({ type: 'score-done', id: s.req.id, segments: s.index, flagged: s.flagged, seconds: s.segs.received / this.opts.geometry.sampleRate });
    this.finish(s, 'done');
  }

  private finish(s: ScoreStream, outcome: 'done' | 'cancelled' | 'failed'): void {
    if (s.finished) return;
    s.finished = true;
    const i = this.streams.indexOf(s);
    if (i >= 0) this.streams.splice(i, 1);
    this.counters[outcome === 'done' ? 'completed' : outcome]++;
    s.req.onEnd?.(outcome);
  }

  private fail(s: ScoreStream, code: ErrorCode, message: string): void {
    if (s.finished) return;
    if (s.req.sink.open) s.req.sink.sendJson({ type: 'error', id: s.req.id, code, message });
    this.finish(s, 'failed');
  }

  private cancel(s: ScoreStream, reason: 'client' | 'server' | 'closed'): void {
    if (s.finished) return;
    if (reason !== 'closed' && s.req.sink.open) s.req.sink.sendJson({ type: 'cancelled', id: s.req.id, reason });
    this.finish(s, 'cancelled');
  }

  shutdown(): void {
    for (const s of [...this.streams]) this.cancel(s, 'server');
    this.backpressure.stop();
  }
}
