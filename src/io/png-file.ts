// Node-only file output for plots; kept out of src/plot so that module stays isomorphic.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Canvas } from '../plot/canvas.js';

/** Encodes `canvas` as PNG and writes it to `path`, creating parent folders as needed. */
export async function writePng(path: string, canvas: Canvas): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, canvas.toPng());
}
