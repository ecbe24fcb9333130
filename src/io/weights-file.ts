/**
 * Writes and reads a weights manifest + binary (src/train/checkpoint.ts) in a directory.
 * Crash-safe: the binary goes to a fresh name first, then the manifest that points at it is
 * renamed into place (an atomic step on POSIX), and only then are stale binaries removed.
 * A reader therefore always sees a complete pair, whenever the writer is interrupted.
 */
import { mkdir, readFile, readdir, rename, rm, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { SerializedWeights, WeightsManifest } from '../train/checkpoint.js';

async function writeDurable(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function saveWeights(dir: string, w: SerializedWeights, manifestName = 'weights.json'): Promise<void> {
  await mkdir(dir, { recursive: true });
  const stem = manifestName.replace(/\.json$/, '');
  const binName = `${stem}-${Date.now().toString(36)}-${process.pid}.bin`;
  await writeDurable(join(dir, binName), w.data);
  const manifest: WeightsManifest = { ...w.manifest, weightsManifest: w.manifest.weightsManifest.map((g) => ({ ...g, paths: [binName] })) };
  const tmp = join(dir, `.${manifestName}.tmp-${process.pid}`);
  await writeDurable(tmp, JSON.stringify(manifest, null, 1));
  await rename(tmp, join(dir, manifestName));
  for (const f of await readdir(dir)) {
    if (f !== binName && f.startsWith(`${stem}-`) && f.endsWith('.bin')) await rm(join(dir, f), { force: true });
  }
}

export async function loadWeights(dir: string, manifestName = 'weights.json'): Promise<SerializedWeights> {
  let manifest: WeightsManifest;
  const path = join(dir, manifestName);
  try {
    manifest = JSON.parse(await readFile(path, 'utf8')) as WeightsManifest;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(err.code === 'ENOENT' ? `no ${manifestName} in ${dir}` : `cannot read ${path}: ${err.message}`);
  }
  const paths = manifest.weightsManifest?.flatMap((g) => g.paths) ?? [];
  const parts = await Promise.all(paths.map((p) => readFile(join(dir, p))));
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const data = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.byteLength;
  }
  return { manifest, data };
}

export async function writeJson(path: string, obj: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(obj, null, 2) + '\n');
}
