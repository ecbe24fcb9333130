/**
 * A synthesis worker: its own TensorFlow.js (one wasm thread) and its own copy of the model. Jobs
 * run one at a time; a chunk is one parallel pass over its positions (src/stream/chunk-synth.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FeatureFlow } from '../src/anomaly/features-flow.js';
import type { Calibration } from '../src/anomaly/scorer.js';
import { scoreWindow } from '../src/anomaly/stream-scorer.js';
import { initBackend } from '../src/backend/index.js';
import { loadCalibration } from '../src/cli/anomaly-io.js';
import { logMelSpectrogram } from '../src/dsp/mel.js';
import { melFromNpy } from '../src/dsp/npy.js';
import { loadModelDir } from '../src/io/model-dir.js';
import { envelopeIterationsOf } from '../src/vocoder/model-dir.js';
import { decodeWav } from '../src/io/wav.js';
import { synthesizeChunkAndRange, utteranceLatent } from '../src/stream/chunk-synth.js';
import { geometryOf } from '../src/stream/planner.js';
import type { ErrorCode } from '../src/stream/protocol.js';
import { Denoiser } from '../src/vocoder/denoiser.js';
import type { CalibrationInfo, WorkerInit, WorkerJob, WorkerReply } from './worker-protocol.js';

const port = parentPort!;
const post = (msg: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

class JobError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

async function main(): Promise<void> {
  const init = workerData as WorkerInit;
  const { backend } = await initBackend(init.backend ?? 'wasm');
  const loaded = await loadModelDir(init.modelDir);
  const { model, config } = loaded;
  const geometry = geometryOf(model);
  let denoiser: Denoiser | null = null;
  // An explicit calibration that does not load stops the server; the model's own file only warns.
  let calibration: Calibration | undefined;
  let calibrationWarning: string | null = null;
  try {
    calibration = await loadCalibration(loaded, init.calibrationPath);
  } catch (e) {
    if (init.calibrationPath !== undefined) throw e;
    calibrationWarning = `${(e as Error).message}; scoring without a calibration`;
  }
  const featureFlow = calibration?.featureFlow ? FeatureFlow.fromJSON(calibration.featureFlow) : undefined;
  let info: CalibrationInfo | null = null;
  if (calibration) {
    const { featureFlow: ff, ...rest } = calibration;
    info = { ...rest, hasFeatureFlow: ff !== undefined };
  }

  const envelopeIterations = init.envelopeIterations ?? envelopeIterationsOf(config);
  post({ type: 'ready', backend, geometry, waveglow: config.waveglow, mel: config.mel, source: config.source ?? null, envelopeIterations, calibration: info, calibrationWarning });

  port.on('message', (job: WorkerJob) => {
    const t0 = performance.now();
    try {
      if (job.type === 'prepare') {
        let mel: { data: Float32Array; frames: number };
        if (job.kind === 'npy') {
          try {
            mel = melFromNpy(job.bytes, config.waveglow.n_mel_channels);
          } catch (e) {
            throw new JobError('bad_npy', (e as Error).message);
          }
        } else {
          let samples: Float32Array;
          try {
            samples = decodeWav(job.bytes, { targetRate: config.mel.sampleRate }).samples;
          } catch (e) {
            throw new JobError('bad_wav', (e as Error).message);
          }
          if (samples.length > job.maxFrames * config.mel.hop) {
            throw new JobError('too_large', `WAV holds ${(samples.length / config.mel.sampleRate).toFixed(1)} s; the limit is ${((job.maxFrames * config.mel.hop) / config.mel.sampleRate).toFixed(1)} s`);
          }
          for (const v of samples) if (!Number.isFinite(v)) throw new JobError('bad_wav', 'WAV holds NaN or Inf samples');
          mel = logMelSpectrogram(samples, config.mel);
        }
        if (mel.frames > job.maxFrames) throw new JobError('too_large', `mel of ${mel.frames} frames is over the limit of ${job.maxFrames}`);
        const z = utteranceLatent(model, mel.frames, job.sigma, job.seed);
        post({ type: 'prepared', job: job.job, mel: mel.data, frames: mel.frames, z, ms: performance.now() - t0 }, [mel.data.buffer as ArrayBuffer, z.buffer as ArrayBuffer]);
      } else if (job.type === 'score') {
        const scores = scoreWindow(model, config.mel, job.window, { calibration, featureFlow: job.features ? featureFlow : undefined });
        post({ type: 'scored', job: job.job, scores, ms: performance.now() - t0 });
      } else {
        if (job.denoise > 0 && !denoiser) denoiser = new Denoiser(model);
        const filters = { denoiser, denoise: job.denoise, envelope: envelopeIterations, melConfig: config.mel };
        const { pcm, range } = synthesizeChunkAndRange(model, job.chunk, job.mel, job.z, filters, job.history);
        if (model.predictor) {
          const r = range.slice(); // its own buffer, to transfer
          post({ type: 'chunk', job: job.job, pcm, range: r, ms: performance.now() - t0 }, [pcm.buffer as ArrayBuffer, r.buffer as ArrayBuffer]);
        } else post({ type: 'chunk', job: job.job, pcm, ms: performance.now() - t0 }, [pcm.buffer as ArrayBuffer]);
      }
    } catch (e) {
      const code = e instanceof JobError ? e.code : 'internal';
      post({ type: 'failed', job: job.job, code, message: (e as Error).message });
    }
  });
}

main().catch((e: unknown) => post({ type: 'fatal', message: e instanceof Error ? e.message : String(e) }));
