import { readFileSync, writeFileSync } from 'node:fs';
import { CliError, checkOutputFile, parse, printJson, type Command } from '../common.js';
import { decodeWav } from '../../io/wav.js';
import { TACOTRON_MEL, logMelSpectrogram, type MelSpectrogram } from '../../dsp/mel.js';
import { melToNpy } from '../../dsp/npy.js';

const HELP = `flowvox mel --in x.wav --out x.npy [--resample convert|reject] [--json]
  Computes the tacotron2/WaveGlow log-mel spectrogram (22050 Hz, 80 mels, hop 256) of a WAV file and
  writes it as float32 .npy of shape [80, T] (the Python TTS layout).
  --resample  what to do when the file is not at 22050 Hz: convert (default) or reject`;

export interface WavToMelResult {
  mel: MelSpectrogram;
  /** The [nMels, frames] float32 .npy bytes. */
  npy: Uint8Array;
  sampleRate: number;
  originalSampleRate: number;
  seconds: number;
}

/** WAV bytes → log-mel and its .npy encoding (the pure part of the command). */
export function wavToMel(wav: Uint8Array, resample: 'convert' | 'reject' = 'convert'): WavToMelResult {
  const d = decodeWav(wav, { targetRate: TACOTRON_MEL.sampleRate, resample });
  const mel = logMelSpectrogram(d.samples, TACOTRON_MEL);
  return { mel, npy: melToNpy(mel), sampleRate: d.sampleRate, originalSampleRate: d.originalSampleRate, seconds: d.samples.length / d.sampleRate };
}

export const command: Command = {
  summary: 'log-mel spectrogram of a WAV file as .npy [80, T]',
  async run(argv) {
    const opts = parse(argv, { in: { type: 'string' }, out: { type: 'string' }, resample: { type: 'string', default: 'convert' } }, HELP);
    if (!opts.in) throw new CliError(`--in is required\n${HELP}`);
    if (!opts.out) throw new CliError(`--out is required\n${HELP}`);
    checkOutputFile(opts.out, 'out');
    const mode = opts.resample;
    if (mode !== 'convert' && mode !== 'reject') throw new CliError(`--resample must be convert or reject, got "${mode}"`);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(opts.in);
    } catch (e) {
      throw new CliError(`cannot read ${opts.in}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let r: WavToMelResult;
    try {
      r = wavToMel(bytes, mode);
    } catch (e) {
      throw new CliError(`${opts.in}: ${(e as Error).message}`);
    }
    try {
      writeFileSync(opts.out, r.npy);
    } catch (e) {
      throw new CliError(`cannot write ${opts.out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (r.originalSampleRate !== r.sampleRate) process.stderr.write(`flowvox mel: resampled ${r.originalSampleRate} → ${r.sampleRate} Hz\n`);
    const out = { frames: r.mel.frames, nMels: r.mel.nMels, sampleRate: r.sampleRate, seconds: r.seconds, out: opts.out };
    if (opts.json) printJson(out);
    else console.log(`wrote ${opts.out}: [${out.nMels}, ${out.frames}] float32 log-mel (${out.seconds.toFixed(2)} s at ${out.sampleRate} Hz)`);
  },
};
