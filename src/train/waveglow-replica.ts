/** WaveGlow as a ParallelTrainer replica: the batch is [audio [B, L], mel [B, frames, nMels]]. */
import type * as tf from '@tensorflow/tfjs-core';
import { WaveGlow, type WaveGlowConfig } from '../vocoder/waveglow.js';
import type { ParameterTermWeights, Replica, ReplicaFactory } from './parallel.js';

export interface WaveGlowReplicaArgs {
  config: WaveGlowConfig;
  seed: number;
}

/**
 * The 1x1 convolutions' log|det W| is the parameter-only term, counted on the main thread: its
 * gradient W⁻ᵀ from a Newton–Schulz inverse kept between steps (and checkpointed, so resuming stays
 * exact), its value updated from the last step's through that inverse. Workers hold no state across steps.
 */
export function waveglowReplica(model: WaveGlow): Replica {
  return {
    model,
    loss: ([audio, mel]: tf.Tensor[]) => model.loss(audio as tf.Tensor2D, mel as tf.Tensor3D),
    setParameterTermWeights: (weights: ParameterTermWeights) => {
      for (const c of model.convs) c.logDetWeight = { ...weights };
    },
  };
}

/** The worker-side factory (parameters are overwritten by the main thread's before every step). */
export function createWaveGlowReplica(args: WaveGlowReplicaArgs): Replica {
  return waveglowReplica(new WaveGlow(args.config, args.seed));
}

export function waveglowFactory(args: WaveGlowReplicaArgs): ReplicaFactory<WaveGlowReplicaArgs> {
  return { module: import.meta.url, exportName: 'createWaveGlowReplica', args };
}
