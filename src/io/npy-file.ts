/** .npy files on disk (Node only); the format itself lives in src/dsp/npy.ts. */
import { readFileSync, writeFileSync } from 'node:fs';
import { readNpy, writeNpy, type NpyArray } from '../dsp/npy.js';

export function readNpyFile(path: string): NpyArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return readNpy(bytes);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

export function writeNpyFile(path: string, data: ArrayLike<number>, shape: readonly number[], dtype: '<f4' | '<f8' = '<f4'): void {
  writeFileSync(path, writeNpy(data, shape, dtype));
}
