/** Reads and writes flowvox model directories (see src/vocoder/model-dir.ts). Node only. */
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { makeConfigFile, modelFromWeights, parseConfigFile, weightsOf, type ModelConfigFile, type SynthesisSettings } from '../vocoder/model-dir.js';
import type { WaveGlow } from '../vocoder/waveglow.js';
import { loadWeights, saveWeights } from './weights-file.js';

export interface LoadedModel {
  model: WaveGlow;
  config: ModelConfigFile;
  dir: string;
}

/** A model directory's config.json, without loading its weights (no tfjs backend needed). */
export async function readModelConfig(dir: string): Promise<ModelConfigFile> {
  let raw: string;
  try {
    raw = await readFile(join(dir, 'config.json'), 'utf8');
  } catch {
    throw new Error(`${dir} is not a flowvox model directory (no config.json)`);
  }
  return parseConfigFile(JSON.parse(raw));
}

export async function loadModelDir(dir: string): Promise<LoadedModel> {
  const config = await readModelConfig(dir);
  const w = await loadWeights(dir);
  return { model: modelFromWeights(config, w.manifest, w.data), config, dir };
}

/**
 * Writes weights, config.json and (optionally) card.md. `synthesis`: decoding settings to keep (a
 * loaded model's config.synthesis); the latent scale and pitch emphasis are the model's own
 * (`latentScale`, `pitchEmphasis`), the scale's source kept only while the scale is.
 */
export async function saveModelDir(dir: string, model: WaveGlow, opts: { source?: string; card?: string; dtype?: 'float32' | 'float16'; synthesis?: SynthesisSettings } = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  // Weights first (themselves written crash-safely), then the config that names the model.
  await saveWeights(dir, await weightsOf(model, opts.dtype));
  const scale = model.latentScale;
  const { latent_scale: _s, latent_scale_source: source, pitch_emphasis: _e, ...others } = opts.synthesis ?? {};
  const emphasis = model.pitchEmphasis;
  const synthesis: SynthesisSettings = { ...(scale ? { latent_scale: [...scale], ...(source ? { latent_scale_source: source } : {}) } : {}), ...(emphasis !== 1 ? { pitch_emphasis: emphasis } : {}), ...others };
  await writeConfig(dir, makeConfigFile(model.config, opts.source, undefined, Object.keys(synthesis).length > 0 ? synthesis : undefined));
  if (opts.card !== undefined) await writeFile(join(dir, 'card.md'), opts.card);
}

/** Replaces config.json's "synthesis" (null removes it), crash-safely; the weights are not touched. */
export async function writeSynthesisSettings(dir: string, synthesis: SynthesisSettings | null): Promise<ModelConfigFile> {
  const { synthesis: _old, ...rest } = await readModelConfig(dir);
  const cfg: ModelConfigFile = synthesis ? { ...rest, synthesis } : rest;
  await writeConfig(dir, cfg);
  return cfg;
}

/** config.json through a temporary file and a rename, so a crash never leaves half a config. */
async function writeConfig(dir: string, cfg: ModelConfigFile): Promise<void> {
  const tmp = join(dir, `.config.json.tmp-${process.pid}`);
  await writeFile(tmp, JSON.stringify(cfg, null, 2) + '\n');
  await rename(tmp, join(dir, 'config.json'));
}
