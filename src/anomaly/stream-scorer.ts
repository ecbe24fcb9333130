/**
 * Live anomaly scoring: PCM chunks go in as they arrive, and every segment is scored as soon as
 * the audio it needs is in — with the same segments and, up to float rounding, the same scores as
 * `scoreAudio` on the whole signal: bit-identical on the wasm backend for any chunking
 * (test/anomaly.stream.test.ts; input at another rate matches resample() of the whole to < 1e-6).
 *
 * Why the scores match: a segment's scores depend only on
 *   - its dequantised samples: the seeded noise stream is drawn per sample in arrival order, as
 *     `dequantise` draws it over the whole signal;
 *   - the log-mel frames centred inside it, each of which reads nFft/2 samples either side;
 *   - the feature frames centred inside it (1024-sample frames, also ±512).
 * So a segment is scored once `CONTEXT` samples past its end have arrived (or the stream ended,
 * where the whole-signal transform pads the same way), over a window that starts ≥ `CONTEXT`
 * samples before it on the frame grid. Frames near a window's edges are wrong (padded) but lie
 * outside every segment of that window.
 *
 * The work is split so that a server can run the heavy part off its event loop:
 *   `SegmentStream` (cheap, stateful: buffering, resampling, dequantising, planning, dropping
 *   audio no segment needs any more) hands out `ScoreWindow`s; `scoreWindow` (stateless: mel, flow
 *   NLL, LPC background, features) scores one, anywhere a model is loaded. `StreamScorer` joins
 *   the two for in-process use.
 */
import type { MelConfig } from '../dsp/mel.js';
import { resample, resampledLength } from '../dsp/resample.js';
import { mulberry32 } from '../util/random.js';
import type { WaveGlow } from '../vocoder/waveglow.js';
import { FEATURE_HOP, FeatureFlow } from './features-flow.js';
import { dequantise, scoreWindow, type Calibration, type ScoreWindow, type SegmentScores } from './scorer.js';
import { gcd, lcm, planSegments, segmentGrid, type Segment } from './segments.js';

// The stateless half lives in scorer.ts (scoreAudio is one whole-signal window); re-exported for servers.
export { scoreWindow, type ScoreWindow, type WindowScoreOptions } from './scorer.js';

/** frameFeatures' frame size (its default, which featureFrames uses). */
const FEATURE_FRAME = 1024;

/** What the planner needs to know about the model (all plain numbers: it can live without one). */
export interface ScoreGeometry {
  /** The model's sample rate (Hz). */
  sampleRate: number;
  /** Samples per mel frame (segment starts are multiples of it). */
  melHop: number;
  /** The flow's group size (segment lengths are multiples of lcm(nGroup, melHop)). */
  nGroup: number;
  nFft: number;
}

export function scoreGeometry(model: WaveGlow, mel: MelConfig): ScoreGeometry {
  if (model.hop !== mel.hop) throw new Error(`model hop ${model.hop} differs from the mel hop ${mel.hop}`);
  return { sampleRate: mel.sampleRate, melHop: model.hop, nGroup: model.config.n_group, nFft: mel.nFft };
}

/** Why the stream refused input; `kind` lets a server pick its error code. */
export class StreamInputError extends Error {
  constructor(readonly kind: 'bad_audio' | 'backlog' | 'too_short' | 'ended', message: string) {
    super(message);
    this.name = 'StreamInputError';
  }
}

/**
 * Resamples a signal that arrives in chunks, equal (to float rounding) to `resample` of the whole
 * signal: each call resamples a window that starts on the rates' common period (so the output
 * grid lines up) with the kernel's reach of context, and emits only outputs whose kernel support
 * has fully arrived.
 */
export class ChunkResampler {
  private readonly period: number; // input samples per whole number of outputs
  private readonly reach: number; // kernel half-width, input samples (as resample computes it)
  private readonly ratio: number;
  private buf = new Float32Array(0);
  private base = 0; // absolute input index of buf[0]
  private inputs = 0;
  private outNext = 0;

  constructor(readonly fromRate: number, readonly toRate: number) {
    if (!Number.isInteger(fromRate) || !Number.isInteger(toRate) || fromRate <= 0 || toRate <= 0) throw new Error(`sample rates must be positive integers, got ${fromRate} → ${toRate}`);
    const g = gcd(fromRate, toRate);
    this.period = fromRate / g;
    // resample()'s defaults: 64 zeros, rolloff 0.945.
    this.reach = 64 / (0.945 * Math.min(1, toRate / fromRate));
    this.ratio = fromRate / toRate;
  }

  /** Input samples held (bounded by the reach and one period, plus the latest chunk). */
  get held(): number {
    return this.buf.length;
  }

  push(x: Float32Array): Float32Array {
    this.append(x);
    // Outputs whose kernel support [c − reach, c + reach] lies inside what has arrived.
    const last = Math.floor((this.inputs - 1 - this.reach) / this.ratio);
    return this.emit(Math.max(this.outNext, last + 1));
  }

  end(): Float32Array {
    return this.emit(resampledLength(this.inputs, this.fromRate, this.toRate));
  }

  private append(x: Float32Array): void {
    const next = new Float32Array(this.buf.length + x.length);
    next.set(this.buf);
    next.set(x, this.buf.length);
    this.buf = next;
    this.inputs += x.length;
  }

  private emit(upTo: number): Float32Array {
    if (upTo <= this.outNext) return new Float32Array(0);
    const a = this.windowStart(this.outNext);
    const local = resample(this.buf.subarray(a - this.base), this.fromRate, this.toRate);
    const aOut = Math.round(a / this.ratio); // a is a multiple of the period: an exact output index
    const out = local.slice(this.outNext - aOut, upTo - aOut);
    this.outNext = upTo;
    const keep = this.windowStart(this.outNext);
    if (keep > this.base) {
      this.buf = this.buf.slice(keep - this.base);
      this.base = keep;
    }
    return out;
  }

  /** The latest period-aligned input index whose window still covers output n's kernel. */
  private windowStart(n: number): number {
    return Math.max(0, Math.floor((n * this.ratio - this.reach - 1) / this.period) * this.period);
  }
}

export interface SegmentStreamOptions {
  /** Window and hop in seconds (default: the calibration's, else 0.5 and 0.25). */
  segment?: number;
  hop?: number;
  calibration?: Calibration;
  /** Rate of the pushed chunks (default: the model's); others are resampled as they arrive. */
  inputRate?: number;
  /** Refuse input once this many samples (model rate) wait to be scored (default 60 s). */
  maxBufferedSamples?: number;
}

/**
 * The planner: buffers the stream, hands out windows of segments that are ready, and forgets audio
 * that no future segment needs, so an endless stream holds about one segment + hop + 2·context of
 * audio plus whatever has arrived and not been taken yet (capped by maxBufferedSamples).
 */
export class SegmentStream {
  readonly geometry: ScoreGeometry;
  readonly segment: number;
  readonly hop: number;
  /** Segment length and the step between regular segment starts, samples at the model rate. */
  readonly segmentSamples: number;
  readonly stepSamples: number;
  readonly maxBufferedSamples: number;
  private readonly quantum: number;
  private readonly grid: number; // window starts: on both the mel and the feature frame grid
  private readonly context: number;
  private readonly resampler: ChunkResampler | null;
  private raw = new Float32Array(0);
  private deq = new Float32Array(0);
  private base = 0; // absolute index of raw[0]
  private length = 0; // valid samples in raw/deq
  private rand = mulberry32(0); // dequantise()'s stream: one draw per sample, in order
  private inputReceived = 0;
  private lastTaken = -1; // start of the last segment handed out
  private nextRegular = 0;
  private finalPlan: Segment[] | null = null;
  private ended = false;

  constructor(geometry: ScoreGeometry, opts: SegmentStreamOptions = {}) {
    this.geometry = geometry;
    const cal = opts.calibration;
    this.segment = opts.segment ?? cal?.segment ?? 0.5;
    this.hop = opts.hop ?? cal?.hop ?? 0.25;
    const { sampleRate: sr, melHop, nGroup, nFft } = geometry;
    this.quantum = lcm(nGroup, melHop);
    // The grid planSegments uses, so streamed segments are the whole file's.
    const grid = segmentGrid(this.planOptions());
    this.segmentSamples = grid.length;
    this.stepSamples = grid.step;
    this.grid = lcm(melHop, FEATURE_HOP);
    this.context = Math.max(nFft >> 1, FEATURE_FRAME >> 1);
    this.maxBufferedSamples = opts.maxBufferedSamples ?? 60 * sr;
    const least = this.segmentSamples + this.stepSamples + 2 * this.context;
    if (!(this.maxBufferedSamples >= least)) throw new Error(`maxBufferedSamples must be at least ${least} (a segment, a hop and the context), got ${this.maxBufferedSamples}`);
    const inRate = opts.inputRate ?? sr;
    this.resampler = inRate === sr ? null : new ChunkResampler(inRate, sr);
  }

  /** Samples received so far at the model rate (after resampling). */
  get received(): number {
    return this.base + this.length;
  }

  /** Input samples received so far (at the input rate). */
  get inputSamples(): number {
    return this.inputReceived;
  }

  /** Samples held in memory (model rate, plus the resampler's input). */
  get buffered(): number {
    return this.length + (this.resampler?.held ?? 0);
  }

  /** Audio waiting that no handed-out segment covered yet (what the backlog limit counts). */
  get backlog(): number {
    return Math.max(0, this.received - (this.ended ? this.received : this.nextRegular));
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** True once the stream ended and every segment has been handed out. */
  get done(): boolean {
    return this.ended && this.readySegments(1).length === 0;
  }

  /** Appends a chunk (at the input rate). Throws StreamInputError for NaN/Inf, after end, or over the backlog. */
  push(chunk: Float32Array): void {
    if (this.ended) throw new StreamInputError('ended', 'the stream has ended');
    for (let i = 0; i < chunk.length; i++) {
      if (!Number.isFinite(chunk[i]!)) throw new StreamInputError('bad_audio', `chunk holds ${chunk[i]} at sample ${i} (stream sample ${this.inputReceived + i}); only finite samples can be scored`);
    }
    const x = this.resampler ? this.resampler.push(chunk) : chunk;
    if (this.backlog + x.length > this.maxBufferedSamples) {
      throw new StreamInputError('backlog', `audio arrives faster than it is scored: ${((this.backlog + x.length) / this.geometry.sampleRate).toFixed(1)} s would wait, over the limit of ${(this.maxBufferedSamples / this.geometry.sampleRate).toFixed(1)} s`);
    }
    this.inputReceived += chunk.length;
    this.append(x);
  }

  /** No more audio: the tail segments (planned as planSegments plans the whole signal's) become ready. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.resampler) this.append(this.resampler.end());
    try {
      this.finalPlan = planSegments(this.received, this.planOptions());
    } catch (e) {
      this.finalPlan = [];
      throw new StreamInputError('too_short', (e as Error).message);
    }
  }

  /**
   * The next window of ready segments (at most `maxSegments`), or null when none is ready. Audio
   * before what any later segment needs is dropped.
   */
  take(maxSegments = 64): ScoreWindow | null {
    const segs = this.readySegments(maxSegments);
    if (segs.length === 0) return null;
    const first = segs[0]!;
    const last = segs[segs.length - 1]!;
    const w0 = Math.max(0, Math.floor((first.startSample - this.context) / this.grid) * this.grid);
    // Before the end, ready segments have `context` samples after them; at the end, the signal's end pads as in scoreAudio.
    const w1 = Math.min(this.received, last.startSample + last.length + this.context);
    if (w0 < this.base) throw new Error(`internal: window start ${w0} was already dropped (held from ${this.base})`);
    const window: ScoreWindow = {
      offset: w0,
      audio: this.raw.slice(w0 - this.base, w1 - this.base),
      dequantised: this.deq.slice(w0 - this.base, w1 - this.base),
      segments: segs,
    };
    this.lastTaken = last.startSample;
    if (!this.ended) this.nextRegular = last.startSample + this.stepSamples;
    this.drop();
    return window;
  }

  private planOptions() {
    const g = this.geometry;
    return { sampleRate: g.sampleRate, segment: this.segment, hop: this.hop, align: g.melHop, quantum: this.quantum };
  }

  private readySegments(max: number): Segment[] {
    const out: Segment[] = [];
    if (this.ended) {
      for (const s of this.finalPlan ?? []) {
        if (out.length >= max) break;
        if (s.startSample > this.lastTaken) out.push(s);
      }
      return out;
    }
    const sr = this.geometry.sampleRate;
    const L = this.segmentSamples;
    for (let s = this.nextRegular; out.length < max && s + L + this.context <= this.received; s += this.stepSamples) {
      out.push({ start: s / sr, end: (s + L) / sr, startSample: s, length: L });
    }
    return out;
  }

  private append(x: Float32Array): void {
    if (x.length === 0) return;
    if (this.length + x.length > this.raw.length) {
      const cap = Math.max(this.length + x.length, 2 * this.raw.length, 1 << 14);
      const raw = new Float32Array(cap);
      const deq = new Float32Array(cap);
      raw.set(this.raw.subarray(0, this.length));
      deq.set(this.deq.subarray(0, this.length));
      this.raw = raw;
      this.deq = deq;
    }
    this.raw.set(x, this.length);
    this.deq.set(dequantise(x, this.rand), this.length);
    this.length += x.length;
  }

  /** Forgets audio before the earliest window a future segment can need (its start ≥ lastTaken + one mel hop). */
  private drop(): void {
    const nextStart = this.lastTaken + this.geometry.melHop;
    const keep = Math.max(0, Math.floor((nextStart - this.context) / this.grid) * this.grid);
    const cut = Math.min(keep, this.received) - this.base;
    if (cut <= 0) return;
    this.raw.copyWithin(0, cut, this.length);
    this.deq.copyWithin(0, cut, this.length);
    this.length -= cut;
    this.base += cut;
    // Shrink a buffer that grew for a burst, so a long stream's memory follows what it holds.
    if (this.raw.length > 4 * Math.max(this.length, 1 << 14)) {
      this.raw = this.raw.slice(0, 2 * Math.max(this.length, 1 << 13));
      this.deq = this.deq.slice(0, this.raw.length);
    }
  }
}

export interface StreamScorerOptions extends SegmentStreamOptions {
  featureFlow?: FeatureFlow;
  batch?: number;
}

/** The planner and the scoring in one process: push chunks, get the scores of the segments they complete. */
export class StreamScorer {
  readonly stream: SegmentStream;
  private readonly featureFlow: FeatureFlow | undefined;
  private readonly ownsFlow: boolean;

  constructor(private readonly model: WaveGlow, private readonly mel: MelConfig, private readonly opts: StreamScorerOptions = {}) {
    this.stream = new SegmentStream(scoreGeometry(model, mel), opts);
    const ff = opts.featureFlow ?? (opts.calibration?.featureFlow ? FeatureFlow.fromJSON(opts.calibration.featureFlow) : undefined);
    this.featureFlow = ff;
    this.ownsFlow = !opts.featureFlow && ff !== undefined;
  }

  /** Adds a chunk; returns the scores of every segment it completed (often none). */
  push(chunk: Float32Array): SegmentScores[] {
    this.stream.push(chunk);
    return this.drain();
  }

  /** Ends the stream; returns the remaining segments' scores. */
  end(): SegmentScores[] {
    this.stream.end();
    return this.drain();
  }

  private drain(): SegmentScores[] {
    const out: SegmentScores[] = [];
    for (let w = this.stream.take(); w; w = this.stream.take()) {
      out.push(...scoreWindow(this.model, this.mel, w, { calibration: this.opts.calibration, featureFlow: this.featureFlow, batch: this.opts.batch }));
    }
    return out;
  }

  dispose(): void {
    if (this.ownsFlow) this.featureFlow?.dispose();
  }
}
