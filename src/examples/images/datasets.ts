/**
 * Grey-image datasets held as raw bytes, and deterministic dequantised batches. Isomorphic (the
 * Node loader for MNIST / Fashion-MNIST files is ./files.ts).
 *
 * Batches are a pure function of (seed, step): the epoch's shuffle comes from (seed, epoch) and the
 * dequantisation noise from (seed, step), so a resumed run sees exactly the batches a straight run
 * would have seen.
 */
import { mulberry32 } from '../../util/random.js';
import { dequantize } from './preprocess.js';

export const IMAGE_DATASETS = ['mnist', 'fashion-mnist'] as const;
export type ImageDatasetName = (typeof IMAGE_DATASETS)[number];

export interface ImageSet {
  name: string;
  count: number;
  height: number;
  width: number;
  channels: number;
  /** count·H·W·C bytes, image-major, channels last. */
  pixels: Uint8Array;
  labels?: Uint8Array;
}

/** Pixels per image (D). */
export const imageSize = (s: ImageSet): number => s.height * s.width * s.channels;

/** The first n images of a set (a view, no copy). */
export function takeImages(s: ImageSet, n: number): ImageSet {
  const m = Math.min(n, s.count);
  const d = imageSize(s);
  return { ...s, count: m, pixels: s.pixels.subarray(0, m * d), labels: s.labels?.subarray(0, m) };
}

/** Integer seed mixing (splitmix-style), so nearby (seed, step) pairs give unrelated streams. */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** Fisher–Yates permutation of 0..n−1 from a seed. */
export function permutation(n: number, seed: number): Uint32Array {
  const p = Uint32Array.from({ length: n }, (_, i) => i);
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Copies the listed images' pixels and dequantises them: (pixel + u)/256, u ~ U[0, 1). */
export function dequantizedImages(s: ImageSet, indices: ArrayLike<number>, noiseSeed: number): Float32Array {
  const d = imageSize(s);
  const out = new Float32Array(indices.length * d);
  const rand = mulberry32(noiseSeed);
  for (let i = 0; i < indices.length; i++) {
    const idx = indices[i];
    dequantize(s.pixels.subarray(idx * d, (idx + 1) * d), rand, out.subarray(i * d, (i + 1) * d));
  }
  return out;
}

/**
 * Training batches: epoch e visits the images in permutation(seed, e); batch `step` holds stream
 * positions step·B … step·B + B − 1 (running across epoch boundaries), with fresh noise per step.
 */
export class BatchStream {
  private cached: { epoch: number; perm: Uint32Array } | null = null;
  constructor(readonly set: ImageSet, readonly batch: number, readonly seed: number) {
    if (!(batch >= 1 && Number.isInteger(batch))) throw new Error(`batch must be a positive integer, got ${batch}`);
    if (set.count < 1) throw new Error('the dataset is empty');
  }

  private order(epoch: number): Uint32Array {
    if (this.cached?.epoch !== epoch) this.cached = { epoch, perm: permutation(this.set.count, mixSeed(this.seed, epoch, 1)) };
    return this.cached.perm;
  }

  /** Indices of the images in batch `step`. */
  indices(step: number): Uint32Array {
    const out = new Uint32Array(this.batch);
    const n = this.set.count;
    for (let i = 0; i < this.batch; i++) {
      const pos = step * this.batch + i;
      out[i] = this.order(Math.floor(pos / n))[pos % n];
    }
    return out;
  }

  /** Batch `step` as dequantised pixels [B·H·W·C] in [0, 1). */
  next(step: number): Float32Array {
    return dequantizedImages(this.set, this.indices(step), mixSeed(this.seed, step, 2));
  }

  /** Epochs completed after `step` steps. */
  epochs(steps: number): number {
    return (steps * this.batch) / this.set.count;
  }
}
