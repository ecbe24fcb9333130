import * as tf from '@tensorflow/tfjs-core';
import { writeFile } from 'node:fs/promises';
import { loadModelDir } from '../../io/model-dir.js';
import { encodeWav } from '../../io/wav.js';
import { Denoiser } from '../../vocoder/denoiser.js';
import { applyPostFilters } from '../../vocoder/post-filter.js';
import { readLatentNpy, readMelNpy, readWavFor, melOf } from '../audio-input.js';
import { synthesizeChunked, utteranceLatent } from '../../stream/chunk-synth.js';
import { CliError, Progress, checkOutputFile, envelopeOption, num, parse, printJson, setLatentScaleOption, setPitchEmphasisOption, setupBackend, type Command } from '../common.js';

/** Mel frames above which synthesize works chunk by chunk (see synthesizeChunked). */
export const DEFAULT_CHUNK_FRAMES = 2048;

const HELP = `flowvox synthesize --model DIR (--mel FILE.npy | --wav FILE.wav) [--sigma 0.6] [--latent-scale LIST|1] [--pitch-emphasis C] [--envelope N] [--denoise 0] [--z FILE.npy] [--seed S]
                   [--chunk-frames 2048] --out OUT.wav [--json]
  Vocodes a mel spectrogram (.npy [80, T] or [1, 80, T], as Python TTS models write them), or a WAV
  file through its own mel (copy-synthesis), into 16-bit audio. --z gives the latent explicitly
  (from "flowvox likelihood --z-out") for reproducible output; --denoise S subtracts S × the
  model's bias spectrum (NVIDIA's denoiser, e.g. 0.01–0.1). The latent's levels are drawn at σ times
  the model's latent scale (config.json "synthesis", from "flowvox tune-latent"); --latent-scale
  a,b,… overrides it, --latent-scale 1 draws every level at σ. With a pitch predictor, --pitch-emphasis C
  multiplies its gain head's pre-activation at synthesis on the frames its pitch net calls voiced (default:
  the model's "synthesis.pitch_emphasis", else 1, the likelihood's; above 1 voiced sounds are more periodic;
  see calibrate-voicing). --envelope N runs N iterations of
  mel-envelope matching on the output (STFT, each band's magnitudes scaled to the mel, phase kept,
  inverse STFT, with fast Griffin-Lim's momentum; src/vocoder/envelope.ts); the default is the model's config.json
  "synthesis.envelope_iterations", else 0 (the flow's output as it is).
  A mel longer than --chunk-frames frames (default ${DEFAULT_CHUNK_FRAMES}, about 24 s at hop 256) is synthesised
  chunk by chunk, as the streaming server does: the same audio as one pass, with the flow and the
  filters working on one chunk at a time (less memory), and progress on stderr; 0: always one pass.
  JSON: {samples, sampleRate, seconds, xRealTime, chunks, backend} (xRealTime = audio seconds per wall second).`;

export const command: Command = {
  summary: 'vocode a mel spectrogram (or a WAV, by copy-synthesis) to audio',
  async run(argv) {
    const o = parse(argv, {
      model: { type: 'string' }, mel: { type: 'string' }, wav: { type: 'string' }, sigma: { type: 'string' },
      denoise: { type: 'string' }, z: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' }, 'latent-scale': { type: 'string' }, 'pitch-emphasis': { type: 'string' }, envelope: { type: 'string' },
      'chunk-frames': { type: 'string' },
    }, HELP);
    if (!o.model) throw new CliError(`--model DIR is required\n${HELP}`);
    if (!o.out) throw new CliError(`--out OUT.wav is required\n${HELP}`);
    if (!!o.mel === !!o.wav) throw new CliError(`give exactly one of --mel and --wav\n${HELP}`);
    checkOutputFile(o.out, 'out');
    const sigma = num(o.sigma, 'sigma', 0.6, { min: 0, max: 10 });
    const strength = num(o.denoise, 'denoise', 0, { min: 0, max: 10 });
    const chunkFrames = num(o['chunk-frames'], 'chunk-frames', DEFAULT_CHUNK_FRAMES, { min: 0, max: 1 << 20, int: true });
    const seed = o.seed === undefined ? undefined : num(o.seed, 'seed', 0, { int: true });
    const { backend } = await setupBackend(o.backend);
    const { model, config } = await loadModelDir(o.model).catch((e: Error) => {
      throw new CliError(e.message);
    });
    if (o['latent-scale'] !== undefined) setLatentScaleOption(model, o['latent-scale']);
    if (o['pitch-emphasis'] !== undefined) setPitchEmphasisOption(model, o['pitch-emphasis']);
    const envelope = envelopeOption(o.envelope, config);
    const nMels = config.waveglow.n_mel_channels;
    const mel = o.mel ? await readMelNpy(o.mel, nMels) : melOf(await readWavFor(o.wav!, config.mel), config.mel);
    const g = config.waveglow.n_group;
    const n = model.samplesFor(mel.frames) / g;
    const zData = o.z ? await readLatentNpy(o.z, n, g) : null;
    const denoiser = strength > 0 ? new Denoiser(model) : null;

    const post = { denoiser, denoise: strength, envelope, melConfig: config.mel };
    // Chunked when the mel is long and the model can be chunked (hop a multiple of n_group).
    const chunked = chunkFrames > 0 && mel.frames > chunkFrames && config.mel.hop % g === 0;
    const t0 = performance.now();
    const chunks = chunked ? Math.ceil(mel.frames / chunkFrames) : 1;
    let audio: Float32Array;
    if (chunked) {
      // The whole-utterance latent, drawn as one pass would draw it (a seed is needed to draw it once).
      const z = zData ?? utteranceLatent(model, mel.frames, sigma, seed ?? Math.floor(Math.random() * 2 ** 31));
      const progress = new Progress(chunks, 'synthesize ');
      audio = synthesizeChunked(model, mel, z, post, chunkFrames, (done) => progress.update(done, 'chunks'));
      progress.done();
    } else {
      audio = tf.tidy(() => {
        const m = tf.tensor3d(mel.data, [1, mel.frames, mel.nMels]);
        const z = zData ? (tf.tensor3d(zData, [1, n, g])) : undefined;
        return model.synthesize(m, { sigma, z, seed }).dataSync() as Float32Array;
      });
      audio = applyPostFilters(audio, mel, post);
    }
    const seconds = (performance.now() - t0) / 1000;
    await writeFile(o.out, encodeWav(audio, config.mel.sampleRate, { bitDepth: '16' }));
    const out = { samples: audio.length, sampleRate: config.mel.sampleRate, seconds: Number(seconds.toFixed(3)), xRealTime: Number((audio.length / config.mel.sampleRate / seconds).toFixed(3)), chunks, backend, out: o.out };
    if (o.json) printJson(out);
    else console.log(`wrote ${o.out}: ${(audio.length / out.sampleRate).toFixed(2)} s of audio in ${out.seconds} s (${out.xRealTime}× real time, ${backend})`);
  },
};
