/** Messages between the server's main thread and its synthesis workers (internal, not on the wire). */
import type { Calibration, SegmentScores } from '../src/anomaly/scorer.js';
import type { ScoreWindow } from '../src/anomaly/stream-scorer.js';
import type { MelConfig } from '../src/dsp/mel.js';
import type { Chunk, ModelGeometry } from '../src/stream/planner.js';
import type { WaveGlowConfig } from '../src/vocoder/waveglow.js';
import type { ErrorCode } from '../src/stream/protocol.js';

export interface WorkerInit {
  modelDir: string;
  /** tfjs backend for the worker ('wasm' by default: one thread per worker). */
  backend?: string;
  /** Anomaly calibration file (default: the model's anomaly-calibration.json when it ships one). */
  calibrationPath?: string;
  /** Iterations of mel-envelope matching per chunk, overriding the model's config.json "synthesis". */
  envelopeIterations?: number;
}

/** The calibration as the main thread needs it (the feature flow's weights stay in the workers). */
export type CalibrationInfo = Omit<Calibration, 'featureFlow'> & { hasFeatureFlow: boolean };

export interface WorkerReady {
  type: 'ready';
  backend: string;
  geometry: ModelGeometry;
  waveglow: WaveGlowConfig;
  mel: MelConfig;
  source: string | null;
  /** The model's mel-envelope matching iterations (config.json "synthesis"), applied to every chunk. */
  envelopeIterations: number;
  calibration: CalibrationInfo | null;
  /** Why the model's own calibration file was not used (it did not fit, or did not parse). */
  calibrationWarning: string | null;
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
  /** A pitch predictor's history: the audio [historyStart, synthStart) before post-filters (models with one). */
  history?: Float32Array;
}

/** Score one window of a scoring stream (stateless: the stream's state stays on the main thread). */
export interface ScoreJob {
  type: 'score';
  job: number;
  window: ScoreWindow;
  /** Compute the feature-flow score (the calibration has one). */
  features: boolean;
}

export type WorkerJob = PrepareJob | ChunkJob | ScoreJob;

export interface ScoredResult {
  type: 'scored';
  job: number;
  scores: SegmentScores[];
  ms: number;
}

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
  /** With a pitch predictor: the synthesised range before post-filters, the next chunk's history. */
  range?: Float32Array;
  ms: number;
}

export interface JobFailed {
  type: 'failed';
  job: number;
  code: ErrorCode;
  message: string;
}

export type WorkerReply = WorkerReady | PreparedResult | ChunkResult | ScoredResult | JobFailed | { type: 'fatal'; message: string };
