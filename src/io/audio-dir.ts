/** Loads training audio: a corpus built by `flowvox data speech` (manifest.json) or any folder of WAVs. */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { decodeWav } from './wav.js';

export interface AudioSplit {
  train: Float32Array[];
  validation: Float32Array[];
  files: { train: number; validation: number };
  seconds: { train: number; validation: number };
}

/** Every .wav below `dir` (recursively, hidden entries skipped), sorted. */
export async function listWavs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listWavs(p)));
    else if (e.name.toLowerCase().endsWith('.wav')) out.push(p);
  }
  return out.sort();
}

/** FNV-1a hash → [0, 1): a stable split of plain folders by file name. */
function unitHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h / 2 ** 32;
}

export async function loadAudioSplit(dir: string, sampleRate: number, onFile?: (done: number, total: number) => void): Promise<AudioSplit> {
  if (!(await stat(dir).catch(() => null))?.isDirectory()) throw new Error(`--data ${dir} is not a directory`);
  let entries: { path: string; split: string }[];
  const manifestPath = join(dir, 'manifest.json');
  const manifest = await readFile(manifestPath, 'utf8').then((s) => JSON.parse(s) as { files?: { path: string; split: string }[] }).catch(() => null);
  if (manifest?.files) {
    entries = manifest.files.filter((f) => f.split === 'train' || f.split === 'validation').map((f) => ({ path: join(dir, f.path), split: f.split }));
  } else {
    // A plain folder: about 5% of files (by name hash) validate, the rest train.
    const wavs = await listWavs(dir);
    entries = wavs.map((p) => ({ path: p, split: unitHash(relative(dir, p)) < 0.05 && wavs.length > 1 ? 'validation' : 'train' }));
    if (entries.length > 1 && !entries.some((e) => e.split === 'validation')) entries[entries.length - 1].split = 'validation';
  }
  if (entries.length === 0) throw new Error(`no .wav files in ${dir}`);
  const out: AudioSplit = { train: [], validation: [], files: { train: 0, validation: 0 }, seconds: { train: 0, validation: 0 } };
  let done = 0;
  for (const e of entries) {
    let w;
    try {
      w = decodeWav(new Uint8Array(await readFile(e.path)), { targetRate: sampleRate, resample: 'convert' });
    } catch (err) {
      throw new Error(`${e.path}: ${(err as Error).message}`);
    }
    const key = e.split === 'validation' ? 'validation' : 'train';
    out[key].push(w.samples);
    out.files[key] += 1;
    out.seconds[key] += w.samples.length / sampleRate;
    onFile?.(++done, entries.length);
  }
  if (out.validation.length === 0) out.validation = out.train.slice(0, 1);
  return out;
}
