/**
 * Messages between the page (or `flowvox play`) and the playback AudioWorklet, over the node's
 * MessagePort. Internal to the player: the wire format lives in src/stream/protocol.ts.
 */

/** Page → worklet. */
export type ToWorklet =
  /** PCM at the source (model) rate; send the Float32Array's buffer as a transferable. */
  | { type: 'push'; samples: Float32Array }
  /** Samples to collect before starting (or restarting after an underrun); see BufferPlan. */
  | { type: 'prebuffer'; samples: number }
  /** No more samples will come: play out what is buffered, then report 'ended'. */
  | { type: 'end' }
  /** Drop everything buffered and wait for a new stream (Stop). */
  | { type: 'reset' };

export type WorkletState = 'idle' | 'buffering' | 'playing' | 'ended';

export interface WorkletStats {
  type: 'stats';
  state: WorkletState;
  /** Source-rate samples waiting in the ring buffer. */
  buffered: number;
  /** Source-rate samples played so far in this stream. */
  played: number;
  /** Times playback starved (a render quantum found too few samples before the stream ended). */
  underruns: number;
  /** Render quanta processed since the stream started (for rate checks). */
  quanta: number;
  /** True once the stream's 'end' arrived and every buffered sample has been played. */
  ended: boolean;
}

/** Worklet → page. */
export type FromWorklet = WorkletStats;

export interface PlayerProcessorOptions {
  /** Rate of the pushed samples (the model's); the worklet resamples when the context differs. */
  sourceRate: number;
  /** Samples (at sourceRate) to collect before starting, and again after an underrun (updatable). */
  prebuffer: number;
}

export const PROCESSOR_NAME = 'flowvox-player';
