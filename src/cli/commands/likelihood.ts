import * as tf from '@tensorflow/tfjs-core';
import { writeFile } from 'node:fs/promises';
import { readNpy, writeNpy } from '../../dsp/npy.js';
import { loadModelDir } from '../../io/model-dir.js';
import { WaveGlow } from '../../vocoder/waveglow.js';
import { melOf, readMelNpy, readWavFor } from '../audio-input.js';
import { CliError, checkOutputFile, parse, printJson, setupBackend, type Command } from '../common.js';

const HELP = `flowvox likelihood --model DIR (--wav FILE.wav | --mel M.npy --audio A.npy) [--z-out Z.npy] [--json]
  Exact negative log-likelihood of audio under the model (conditioned on its mel), in nats per
  sample, and NVIDIA's WaveGlow loss. Audio is cut to a whole number of groups.
  JSON: {nllNatsPerSample, waveglowLoss, samples}.`;

export const command: Command = {
  summary: 'exact log-likelihood of audio under a model',
  async run(argv) {
    const o = parse(argv, { model: { type: 'string' }, wav: { type: 'string' }, mel: { type: 'string' }, audio: { type: 'string' }, 'z-out': { type: 'string' } }, HELP);
    if (!o.model) throw new CliError(`--model DIR is required\n${HELP}`);
    checkOutputFile(o['z-out'], 'z-out');
    if (!o.wav && !(o.mel && o.audio)) throw new CliError(`give --wav, or --mel and --audio\n${HELP}`);
    await setupBackend(o.backend);
    const { model, config } = await loadModelDir(o.model).catch((e: Error) => {
      throw new CliError(e.message);
    });
    let audio: Float32Array;
    let mel;
    if (o.wav) {
      audio = await readWavFor(o.wav, config.mel);
      mel = melOf(audio, config.mel);
    } else {
      mel = await readMelNpy(o.mel!, config.waveglow.n_mel_channels);
      const a = readNpy(new Uint8Array(await import('node:fs/promises').then((f) => f.readFile(o.audio!))));
      audio = Float32Array.from(a.data);
    }
    const g = config.waveglow.n_group;
    const usable = Math.min(audio.length - (audio.length % g), model.samplesFor(mel.frames) + (model.upsample ? 3 * model.hop : 0));
    const length = usable - (usable % g);
    if (length <= 0) throw new CliError(`audio too short: needs at least ${g} samples`);
    const { loss, z } = tf.tidy(() => {
      const a = tf.tensor2d(audio.subarray(0, length), [1, length]);
      const m = tf.tensor3d(mel.data, [1, mel.frames, mel.nMels]);
      const r = model.inverse(a, m);
      const l = tf.div(tf.sub(tf.div(tf.sum(tf.square(r.z)), 2), tf.sum(r.logDet)), r.z.size);
      return { loss: l.dataSync()[0], z: r.z.dataSync() as Float32Array };
    });
    if (o['z-out']) await writeFile(o['z-out'], writeNpy(z, [length / g, g]));
    const out = { nllNatsPerSample: Number(WaveGlow.nllPerSample(loss).toFixed(6)), waveglowLoss: Number(loss.toFixed(6)), samples: length };
    if (o.json) printJson(out);
    else console.log(`NLL ${out.nllNatsPerSample} nats/sample (WaveGlow loss ${out.waveglowLoss}) over ${length} samples`);
  },
};
