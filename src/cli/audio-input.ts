/** Reading the vocoder commands' inputs (WAV, mel .npy, latent .npy) with clear errors. Node only. */
import { readFile } from 'node:fs/promises';
import { logMelSpectrogram, type MelConfig, type MelSpectrogram } from '../dsp/mel.js';
import { melFromNpy, readNpy } from '../dsp/npy.js';
import { decodeWav } from '../io/wav.js';
import { CliError } from './common.js';

async function read(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new CliError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

export async function readWavFor(path: string, mel: MelConfig, resample: 'convert' | 'reject' = 'convert'): Promise<Float32Array> {
  try {
    return decodeWav(await read(path, 'WAV'), { targetRate: mel.sampleRate, resample }).samples;
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
}

export async function readMelNpy(path: string, nMels: number): Promise<MelSpectrogram> {
  try {
    return melFromNpy(await read(path, 'mel'), nMels);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
}

export function melOf(audio: Float32Array, mel: MelConfig): MelSpectrogram {
  // The centred STFT reflects nFft/2 samples at each end, so shorter audio has no mel at all.
  const need = (mel.nFft >> 1) + 1;
  if (audio.length < need) {
    const ms = (n: number) => `${((1000 * n) / mel.sampleRate).toFixed(1)} ms`;
    throw new CliError(`the audio is ${ms(audio.length)} long (${audio.length} samples); it needs at least ${ms(need)} (${need} samples at ${mel.sampleRate} Hz)`);
  }
  try {
    return logMelSpectrogram(audio, mel);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/** A latent written by `likelihood --z-out`: [n, g] or [1, n, g] float32, flowvox (channels-last) layout. */
export async function readLatentNpy(path: string, n: number, g: number): Promise<Float32Array> {
  const npy = readNpy(await read(path, 'latent'));
  const shape = npy.shape.length === 3 && npy.shape[0] === 1 ? npy.shape.slice(1) : npy.shape;
  if (shape.length !== 2 || shape[0] !== n || shape[1] !== g) {
    throw new CliError(`${path}: latent must have shape [${n}, ${g}] (or [1, ${n}, ${g}]) for this mel and model, got [${npy.shape}]`);
  }
  for (const v of npy.data) if (!Number.isFinite(v)) throw new CliError(`${path}: latent holds NaN or Inf`);
  return Float32Array.from(npy.data);
}
