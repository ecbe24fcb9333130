/**
 * The flowvox model directory, loadable in Node and in the browser:
 *   config.json   {format: 'flowvox-waveglow', version, waveglow: WaveGlowConfig, mel: MelConfig, …}
 *   weights.json  tfjs weights manifest (src/train/checkpoint.ts) → weights-*.bin
 *   card.md       the model card
 * This module is isomorphic: it turns bytes into a model and back; src/io reads the files.
 */
import * as tf from '@tensorflow/tfjs-core';
import { TACOTRON_MEL, type MelConfig } from '../dsp/mel.js';
import { decode, serialize, type SerializedWeights, type WeightsManifest } from '../train/checkpoint.js';
import { checkEnvelopeIterations } from './envelope.js';
import { WaveGlow, type WaveGlowConfig } from './waveglow.js';

export interface ModelConfigFile {
  format: 'flowvox-waveglow';
  version: 1;
  waveglow: WaveGlowConfig;
  mel: MelConfig;
  /** Where the weights came from (preset name, import source, training run). */
  source?: string;
  /** Decoding defaults that are not part of the architecture. */
  synthesis?: SynthesisSettings;
}

export interface SynthesisSettings {
  /** σ's multiplier per latent level, early outputs first (`WaveGlow.setLatentScale`, `flowvox tune-latent`). */
  latent_scale?: number[];
  /** How latent_scale was chosen (data, split, files, metric before and after). */
  latent_scale_source?: string;
  /** Iterations of mel-envelope matching after synthesis (`matchMelEnvelope`); absent or 0: none. */
  envelope_iterations?: number;
  /** How envelope_iterations was chosen. */
  envelope_source?: string;
  /** The pitch predictor's gain multiplier at synthesis (`WaveGlow.setPitchEmphasis`, tuned with latent_scale); absent: 1. */
  pitch_emphasis?: number;
}

/** The model's mel-envelope matching iterations (0: the flow's output as it is). */
export function envelopeIterationsOf(cfg: Pick<ModelConfigFile, 'synthesis'>): number {
  return cfg.synthesis?.envelope_iterations ?? 0;
}

export function makeConfigFile(waveglow: WaveGlowConfig, source?: string, mel: MelConfig = { ...TACOTRON_MEL }, synthesis?: SynthesisSettings): ModelConfigFile {
  return { format: 'flowvox-waveglow', version: 1, waveglow, mel, ...(source ? { source } : {}), ...(synthesis ? { synthesis } : {}) };
}

export function parseConfigFile(json: unknown): ModelConfigFile {
  const c = json as Partial<ModelConfigFile>;
  if (c?.format !== 'flowvox-waveglow') throw new Error(`not a flowvox model config (format: ${String(c?.format)}); NVIDIA configs are imported with "flowvox import"`);
  if (!c.waveglow || !c.mel) throw new Error('model config lacks "waveglow" or "mel"');
  const scale = c.synthesis?.latent_scale;
  if (scale !== undefined && !(Array.isArray(scale) && scale.every((v) => typeof v === 'number'))) {
    throw new Error(`model config's "synthesis.latent_scale" must be an array of numbers, got ${JSON.stringify(scale)}`);
  }
  const env = c.synthesis?.envelope_iterations;
  if (env !== undefined) {
    try {
      checkEnvelopeIterations(env);
    } catch (e) {
      throw new Error(`model config's "synthesis.envelope_iterations": ${(e as Error).message}`);
    }
  }
  const emphasis = c.synthesis?.pitch_emphasis;
  if (emphasis !== undefined && !(typeof emphasis === 'number' && Number.isFinite(emphasis) && emphasis >= 0)) {
    throw new Error(`model config's "synthesis.pitch_emphasis" must be a number ≥ 0, got ${JSON.stringify(emphasis)}`);
  }
  if (emphasis !== undefined && emphasis !== 1 && !c.waveglow.predictor) throw new Error('model config\'s "synthesis.pitch_emphasis" needs a pitch predictor ("waveglow.predictor")');
  return c as ModelConfigFile;
}

export function modelFromWeights(cfg: ModelConfigFile, manifest: WeightsManifest, data: Uint8Array): WaveGlow {
  const model = new WaveGlow(cfg.waveglow);
  try {
    model.setLatentScale(cfg.synthesis?.latent_scale ?? null);
  } catch (e) {
    throw new Error(`model config's "synthesis.latent_scale": ${(e as Error).message}`);
  }
  model.setPitchEmphasis(cfg.synthesis?.pitch_emphasis ?? 1); // checked by parseConfigFile
  const tensors = decode(manifest, data);
  try {
    model.loadParameters(tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
  return model;
}

export function weightsOf(model: WaveGlow, dtype: 'float32' | 'float16' = 'float32'): Promise<SerializedWeights> {
  return serialize(model, undefined, undefined, { dtype, float32: model.precisionSensitive() });
}
