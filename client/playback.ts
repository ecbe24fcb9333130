/**
 * Main-thread side of the playback worklet: one AudioWorkletNode per stream, fed with PCM chunks,
 * reporting the worklet's stats. Works with the browser's Web Audio and with node-web-audio-api
 * (which reuses lib.dom's types), so `flowvox play` and the page share it.
 */
import { PROCESSOR_NAME, type FromWorklet, type PlayerProcessorOptions, type ToWorklet, type WorkletStats } from './worklet-messages.js';

/** Creates the AudioContext's worklet node (the browser's and Node's constructors differ). */
export type NodeFactory = (ctx: BaseAudioContext, name: string, options: AudioWorkletNodeOptions) => AudioWorkletNode;

export const browserNodeFactory: NodeFactory = (ctx, name, options) => new AudioWorkletNode(ctx, name, options);

/** What the page and `flowvox play` need from a player (the worklet's or ScheduledPlayback). */
export interface Player {
  /** The latest stats (reset per stream). */
  stats: WorkletStats;
  onStats: ((s: WorkletStats) => void) | null;
  /** Begins a stream of `sourceRate` audio; playback starts once `prebuffer` samples are queued. */
  begin(opts: PlayerProcessorOptions): void;
  /** Queues samples (copied: the caller keeps its array). */
  push(samples: Float32Array): void;
  /** Changes how much to collect before (re)starting. */
  setPrebuffer(samples: number): void;
  /** No more samples: play out what is queued, then report ended. */
  end(): void;
  /** Resolves with the final stats once everything queued has been played (or on stop). */
  whenEnded(): Promise<WorkletStats>;
  /** Silences and drops the current stream. */
  stop(): void;
}

const EMPTY: WorkletStats = { type: 'stats', state: 'idle', buffered: 0, played: 0, underruns: 0, quanta: 0, ended: false };

export class Playback implements Player {
  private node: AudioWorkletNode | null = null;
  private ended: Promise<WorkletStats> | null = null;
  private resolveEnded: ((s: WorkletStats) => void) | null = null;
  /** The latest stats from the worklet (reset per stream). */
  stats: WorkletStats = EMPTY;
  onStats: ((s: WorkletStats) => void) | null = null;

  constructor(
    readonly ctx: BaseAudioContext,
    private readonly makeNode: NodeFactory = browserNodeFactory,
  ) {}

  /** Begins a stream of `sourceRate` audio; playback starts once `prebuffer` samples are queued. */
  begin(opts: PlayerProcessorOptions): void {
    this.stop();
    this.stats = EMPTY;
    const node = this.makeNode(this.ctx, PROCESSOR_NAME, {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: opts,
    });
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
    node.port.onmessage = (e: MessageEvent<FromWorklet>) => {
      if (node !== this.node) return;
      this.stats = e.data;
      this.onStats?.(e.data);
      if (e.data.ended) this.resolveEnded?.(e.data);
    };
    node.connect(this.ctx.destination);
    this.node = node;
  }

  /** Queues samples; they are copied, so the caller keeps its array. */
  push(samples: Float32Array): void {
    const copy = samples.slice();
    this.post({ type: 'push', samples: copy }, [copy.buffer]);
  }

  /** Changes how much the worklet collects before (re)starting. */
  setPrebuffer(samples: number): void {
    this.post({ type: 'prebuffer', samples: Math.round(samples) });
  }

  /** No more samples: the worklet plays out its buffer, then reports ended. */
  end(): void {
    this.post({ type: 'end' });
  }

  whenEnded(): Promise<WorkletStats> {
    return this.ended ?? Promise.resolve(this.stats);
  }

  /** Silences and drops the current stream's node. */
  stop(): void {
    if (!this.node) return;
    this.post({ type: 'reset' });
    this.node.port.onmessage = null;
    this.node.disconnect();
    this.node = null;
    this.resolveEnded?.(this.stats);
    this.resolveEnded = null;
  }

  private post(m: ToWorklet, transfer: Transferable[] = []): void {
    this.node?.port.postMessage(m, transfer);
  }
}

/**
 * How much audio to hold before starting so that playback need not stop again. With audio arriving
 * at r samples/s (r below the playback rate sr) and R samples still to come, starting with B
 * buffered never starves iff B ≥ R·(sr/r − 1). r is measured from the request on (so it includes
 * the first-chunk latency and errs on the safe side). Arrivals are bursty, not smooth (chunks that
 * run in parallel on the server's workers come out together, and a busy machine stalls one now and
 * then), so on top of that the plan holds 1.5× the longest gap seen between frames, and never less
 * than `base`. Nothing starts before a second frame gives a rate, unless the stream has ended.
 */
export class BufferPlan {
  private frames = 0;
  private lastMs = 0;
  private maxGapMs = 0;

  /**
   * @param sampleRate playback rate (samples/s)
   * @param total samples in the utterance
   * @param base the least to hold (covers arrival jitter), e.g. max(0.3 s, one chunk)
   */
  constructor(
    private readonly sampleRate: number,
    private readonly total: number,
    private readonly base: number,
  ) {}

  /** Before any audio: wait for the plan. */
  get initial(): number {
    return this.total;
  }

  /** After a frame: `received` samples in all, `elapsedMs` since the request. Returns the samples to hold. */
  update(received: number, elapsedMs: number): number {
    this.frames++;
    if (this.frames > 1) this.maxGapMs = Math.max(this.maxGapMs, elapsedMs - this.lastMs);
    this.lastMs = elapsedMs;
    if (received >= this.total) return 0;
    if (this.frames < 2) return this.total;
    const rate = received / Math.max(elapsedMs / 1000, 1e-3);
    const need = rate >= this.sampleRate ? 0 : (this.total - received) * (this.sampleRate / rate - 1);
    const jitter = Math.max(this.base, 1.5 * (this.maxGapMs / 1000) * this.sampleRate);
    return Math.min(this.total, Math.ceil(need * 1.2 + jitter));
  }

  /** Arrival speed as a multiple of real time (for messages), from the same estimate. */
  speed(received: number, elapsedMs: number): number {
    return received / Math.max(elapsedMs / 1000, 1e-3) / this.sampleRate;
  }
}
