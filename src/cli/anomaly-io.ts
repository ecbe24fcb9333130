/** Shared pieces of the anomaly commands: model + calibration loading, WAV folders. Node only. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkCalibration } from '../anomaly/calibrate.js';
import type { Calibration } from '../anomaly/scorer.js';
import type { Manifest } from '../data/speech.js';
import { listWavs } from '../io/audio-dir.js';
import { loadModelDir, type LoadedModel } from '../io/model-dir.js';
import { CliError } from './common.js';

/** The calibration shipped beside a model, used when --calib is not given. */
export const MODEL_CALIBRATION = 'anomaly-calibration.json';

export async function loadModelOrFail(dir: string): Promise<LoadedModel> {
  return loadModelDir(dir).catch((e: Error) => {
    throw new CliError(e.message);
  });
}

/** Names the model's weights (their file name is unique per save), so a stale calibration is noticed. */
export async function weightsId(dir: string): Promise<string | undefined> {
  try {
    const m = JSON.parse(await readFile(join(dir, 'weights.json'), 'utf8')) as { weightsManifest?: { paths?: string[] }[] };
    return m.weightsManifest?.[0]?.paths?.[0];
  } catch {
    return undefined;
  }
}

/** --calib FILE, else DIR/anomaly-calibration.json when the model ships one, else none. */
export async function loadCalibration(loaded: LoadedModel, path: string | undefined): Promise<Calibration | undefined> {
  const p = path ?? join(loaded.dir, MODEL_CALIBRATION);
  let raw: string;
  try {
    raw = await readFile(p, 'utf8');
  } catch (e) {
    if (path === undefined && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read calibration ${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  let cal: Calibration;
  try {
    cal = checkCalibration(JSON.parse(raw), loaded.model);
  } catch (e) {
    throw new CliError(`${p}: ${(e as Error).message}`);
  }
  const id = await weightsId(loaded.dir);
  if (cal.model.weights && id && cal.model.weights !== id) {
    process.stderr.write(`warning: ${p} was calibrated on other weights of this model (${cal.model.weights}, now ${id}); its thresholds may be off: run "flowvox calibrate" again\n`);
  }
  return cal;
}

export async function wavsIn(dir: string): Promise<string[]> {
  const files = await listWavs(dir).catch((e: Error) => {
    throw new CliError(`cannot list ${dir}: ${e.message}`);
  });
  if (files.length === 0) throw new CliError(`${dir} holds no .wav files`);
  return files;
}

/**
 * The files of one split of a corpus from "flowvox data speech" (at least `minSeconds` long), or
 * null when `dir` holds no manifest.json (a plain folder of WAVs).
 */
export async function corpusSplit(dir: string, split: string, minSeconds = 0): Promise<string[] | null> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  } catch {
    return null;
  }
  if (!Array.isArray(manifest.files)) return null;
  return manifest.files.filter((f) => f.split === split && f.seconds >= minSeconds).map((f) => join(dir, f.path)).sort();
}
