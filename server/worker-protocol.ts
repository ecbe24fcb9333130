/** Messages between the server's main thread and its synthesis workers (internal, not on the wire). */
import type { MelConfig } from '../src/dsp/mel.js';
import type { Chunk, ModelGeometry } from '../src/stream/planner.js';
import type { WaveGlowConfig } from '../src/vocoder/waveglow.js';
import type { ErrorCode } from '../src/stream/protocol.js';

export interface WorkerInit {
  modelDir: string;
  /** tfjs backend for the worker ('wasm' by default: one thread per worker). */
  backend?: string;
}

export interface WorkerReady {
  type: 'ready';
  backend: string;
  geometry: ModelGeometry;
  waveglow: WaveGlowConfig;
  mel: MelConfig;
  source: string | null;
}

/** Turn an upload (or a sample's file) into a validated mel and the whole-utterance latent. */
export interface PrepareJob {
  type: 'prepare';
  job: number;
  kind: 'wav' | 'npy';
  bytes: Uint8Array;
  sigma: number;
  seed: number;
  maxFrames: number;
}

export interface ChunkJob {
  type: 'chunk';
  job: number;
  chunk: Chunk;
  /** Mel frames [melStart, melEnd), channels-last. */
  mel: Float32Array;
  /** Latent positions [ctxStart, ctxEnd). */
  z: Float32Array;
  denoise: number;
}

export type WorkerJob = PrepareJob | ChunkJob;

export interface PreparedResult {
  type: 'prepared';
  job: number;
  mel: Float32Array;
  frames: number;
  z: Float32Array;
  ms: number;
}

export interface ChunkResult {
  type: 'chunk';
  job: number;
  pcm: Float32Array;
  ms: number;
}

export interface JobFailed {
  type: 'failed';
  job: number;
  code: ErrorCode;
  message: string;
}

export type WorkerReply = WorkerReady | PreparedResult | ChunkResult | JobFailed | { type: 'fatal'; message: string };
