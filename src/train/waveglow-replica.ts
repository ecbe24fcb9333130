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

/** The worker-side factory (parameters are overwritten by the main thread's before every step). */
export function createWaveGlowReplica(args: WaveGlowReplicaArgs): Replica {
  return waveglowReplica(new WaveGlow(args.config, args.seed));
}

export function waveglowFactory(args: WaveGlowReplicaArgs): ReplicaFactory<WaveGlowReplicaArgs> {
  return { module: import.meta.url, exportName: 'createWaveGlowReplica', args };
}
