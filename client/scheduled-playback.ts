/**
 * Gapless playback without an AudioWorklet: each chunk becomes an AudioBufferSourceNode started at
 * the exact time the previous one ends (times computed from integer sample counts, so they never
 * drift). Nothing runs in JavaScript on the audio thread, which matters in two places:
 *  - Node: node-web-audio-api's AudioWorklet keeps about half a core busy even while idle, which
 *    would starve a server on the same 2-core machine (`flowvox play` uses this by default);
 *  - browsers without AudioWorklet (pages over plain http on a LAN address are not a secure context).
 * Same contract and stats as the worklet's Playback: pre-buffer, underrun counting, played samples.
 */
import type { Player } from './playback.js';
import type { PlayerProcessorOptions, WorkletState, WorkletStats } from './worklet-messages.js';

const LEAD_S = 0.05; // schedule this far ahead of "now" when (re)starting
const TICK_MS = 25; // how often starvation, progress and the end are checked

export class ScheduledPlayback implements Player {
  stats: WorkletStats = { type: 'stats', state: 'idle', buffered: 0, played: 0, underruns: 0, quanta: 0, ended: false };
  onStats: ((s: WorkletStats) => void) | null = null;
  private rate = 0;
  private prebuffer = 0;
  private state: WorkletState = 'idle';
  private endOfStream = false;
  private queue: Float32Array[] = [];
  private queued = 0;
  /** The current run of back-to-back buffers: its start time and the samples scheduled in it. */
  private segStart = 0;
  private segSamples = 0;
  private playedBefore = 0;
  private underruns = 0;
  private sources = new Set<AudioBufferSourceNode>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private resolveEnded: ((s: WorkletStats) => void) | null = null;
  private ended: Promise<WorkletStats> | null = null;

  constructor(readonly ctx: BaseAudioContext) {}

  begin(opts: PlayerProcessorOptions): void {
    this.stop();
    this.rate = opts.sourceRate;
    this.prebuffer = opts.prebuffer;
    this.state = 'buffering';
    this.endOfStream = false;
    this.queue = [];
    this.queued = 0;
    this.segSamples = 0;
    this.playedBefore = 0;
    this.underruns = 0;
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.report();
  }

  push(samples: Float32Array): void {
    if (this.state === 'idle' || this.state === 'ended') return;
    if (this.state === 'playing' && this.ctx.currentTime >= this.segEnd()) this.starved();
    if (this.state === 'playing') this.schedule(samples);
    else {
      this.queue.push(samples.slice());
      this.queued += samples.length;
      this.maybeStart();
    }
  }

  setPrebuffer(samples: number): void {
    this.prebuffer = Math.max(0, samples);
    if (this.state === 'buffering') this.maybeStart();
  }

  end(): void {
    this.endOfStream = true;
    if (this.state === 'buffering') this.maybeStart();
  }

  whenEnded(): Promise<WorkletStats> {
    return this.ended ?? Promise.resolve(this.stats);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const s of this.sources) {
      s.onended = null;
      s.stop();
      s.disconnect();
    }
    this.sources.clear();
    if (this.state !== 'idle') {
      this.state = 'idle';
      this.report();
    }
    this.resolveEnded?.(this.stats);
    this.resolveEnded = null;
  }

  private segEnd(): number {
    return this.segStart + this.segSamples / this.rate;
  }

  private maybeStart(): void {
    if (this.state !== 'buffering' || (this.queued < this.prebuffer && !this.endOfStream) || this.queued === 0) return;
    this.state = 'playing';
    this.segStart = this.ctx.currentTime + LEAD_S;
    this.segSamples = 0;
    const q = this.queue;
    this.queue = [];
    this.queued = 0;
    for (const x of q) this.schedule(x);
    this.report();
  }

  private schedule(x: Float32Array): void {
    const buf = this.ctx.createBuffer(1, x.length, this.rate);
    buf.getChannelData(0).set(x);
    const src = this.ctx.createBufferSource();
    src.buffer = buf;
    src.connect(this.ctx.destination);
    src.onended = () => {
      this.sources.delete(src);
      src.disconnect();
    };
    src.start(this.segStart + this.segSamples / this.rate);
    this.sources.add(src);
    this.segSamples += x.length;
  }

  /** The scheduled audio ran out before more arrived: count it, and re-buffer before going on. */
  private starved(): void {
    this.underruns++;
    this.playedBefore += this.segSamples;
    this.segSamples = 0;
    this.state = 'buffering';
    this.report();
  }

  private playedInSegment(): number {
    if (this.state !== 'playing' && this.state !== 'ended') return 0;
    return Math.max(0, Math.min(this.segSamples, Math.floor((this.ctx.currentTime - this.segStart) * this.rate)));
  }

  private tick(): void {
    const drained = this.state === 'playing' ? this.ctx.currentTime >= this.segEnd() : this.state === 'buffering' && this.queued === 0;
    if (drained && this.endOfStream && this.queued === 0) return this.finish();
    if (drained && this.state === 'playing') this.starved();
    this.report();
  }

  private finish(): void {
    this.state = 'ended';
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.report();
    this.resolveEnded?.(this.stats);
    this.resolveEnded = null;
  }

  private report(): void {
    const inSeg = this.playedInSegment();
    this.stats = {
      type: 'stats',
      state: this.state,
      buffered: this.queued + (this.state === 'playing' ? this.segSamples - inSeg : 0),
      played: this.playedBefore + (this.state === 'ended' ? this.segSamples : inSeg),
      underruns: this.underruns,
      quanta: Math.floor((this.playedBefore + inSeg) / 128),
      ended: this.state === 'ended',
    };
    this.onStats?.(this.stats);
  }
}
