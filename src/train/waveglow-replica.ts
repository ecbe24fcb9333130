/** WaveGlow as a ParallelTrainer replica: the batch is [audio [B, L], mel [B, frames, nMels]]. */
import type * as tf from '@tensorflow/tfjs-core';
import { WaveGlow, type WaveGlowConfig } from '../vocoder/waveglow.js';
import type { Replica, ReplicaFactory } from './parallel.js';

export interface WaveGlowReplicaArgs {
  config: WaveGlowConfig;
  seed: number;
}

export function waveglowReplica(model: WaveGlow): Replica {
  return { model, loss: ([audio, mel]: tf.Tensor[]) => model.loss(audio as tf.Tensor2D, mel as tf.Tensor3D) };
}

/**
 * Data-parallel training inverts W on the host for the log-det gradient in every participant: the
 * Newton–Schulz inverse kept between steps lives per thread, and only the main thread's would reach
 * a checkpoint, so exact resumption needs the history-free path here.
 */
export function hostLogDetGradients(model: WaveGlow): void {
  for (const c of model.convs) c.logDetGradient = 'host';
}

/** The worker-side factory (parameters are overwritten by the main thread's before every step). */
export function createWaveGlowReplica(args: WaveGlowReplicaArgs): Replica {
  const model = new WaveGlow(args.config, args.seed);
  hostLogDetGradients(model);
  return waveglowReplica(model);
}

export function waveglowFactory(args: WaveGlowReplicaArgs): ReplicaFactory<WaveGlowReplicaArgs> {
  return { module: import.meta.url, exportName: 'createWaveGlowReplica', args };
}
