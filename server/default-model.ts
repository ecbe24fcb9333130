/**
 * Which model `flowvox start` / `flowvox serve` run when none is given: the bundled voice in
 * models/default, else an untrained cpu-realtime model (random weights — it streams noise, at the
 * real model's speed) written once to out/fallback-model.
 */
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../', import.meta.url));
export const BUNDLED_MODEL_DIR = resolve(REPO, 'models/default');
export const FALLBACK_MODEL_DIR = resolve(REPO, 'out/fallback-model');
export const FALLBACK_SOURCE = 'untrained cpu-realtime (random weights, created by flowvox serve as a fallback)';

const exists = (p: string) => access(p).then(() => true, () => false);

export interface ChosenModel {
  dir: string;
  name: string;
  fallback: boolean;
  /** One line for the startup message. */
  note: string;
}

export async function chooseModel(explicit?: string): Promise<ChosenModel> {
  if (explicit) return { dir: resolve(explicit), name: explicit, fallback: false, note: `model ${explicit}` };
  if (await exists(resolve(BUNDLED_MODEL_DIR, 'config.json'))) return { dir: BUNDLED_MODEL_DIR, name: 'models/default', fallback: false, note: 'the bundled voice (models/default)' };
  if (!(await exists(resolve(FALLBACK_MODEL_DIR, 'config.json')))) {
    // Only here does the main thread need TensorFlow.js: to create and save the model once.
    const [{ initBackend }, { WaveGlow }, { preset }, { saveModelDir }] = await Promise.all([
      import('../src/backend/index.js'), import('../src/vocoder/waveglow.js'), import('../src/vocoder/presets.js'), import('../src/io/model-dir.js'),
    ]);
    await initBackend('cpu');
    const model = new WaveGlow(preset('cpu-realtime'));
    await saveModelDir(FALLBACK_MODEL_DIR, model, { source: FALLBACK_SOURCE, card: `# Fallback model\n\n${FALLBACK_SOURCE}. It exists so that \`npm start\` works before a trained voice is in models/default; it outputs noise.\n` });
    model.dispose();
  }
  return {
    dir: FALLBACK_MODEL_DIR,
    name: 'fallback (untrained cpu-realtime)',
    fallback: true,
    note: 'NO TRAINED VOICE: models/default does not exist, so this serves an UNTRAINED cpu-realtime model (random weights: it streams noise at the real model\'s speed) from out/fallback-model. Train one with "flowvox train --preset cpu-realtime …" and pass --model DIR, or wait for models/default.',
  };
}
