import { readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { SPLITS, type Manifest } from '../../data/speech.js';
import { logMelSpectrogram, type MelConfig } from '../../dsp/mel.js';
import { loadModelDir } from '../../io/model-dir.js';
import { Denoiser } from '../../vocoder/denoiser.js';
import {
  GRIFFIN_LIM_ITERATIONS, MIN_CLIP_SAMPLES, clipAudio, copySynthesis, describePeriodicity, evaluateClip, pickEvenly, summarize,
  type ClipEvaluation, type DistanceMetrics, type EvaluationSummary, type FrameLocked, type Periodicity,
} from '../../vocoder/evaluate.js';
import { readWavFor } from '../audio-input.js';
import { listWavs } from '../../io/audio-dir.js';
import { CliError, Progress, checkOutputFile, envelopeOption, num, parse, printJson, setLatentScaleOption, setPitchEmphasisOption, setupBackend, type Command } from '../common.js';

const HELP = `flowvox evaluate --model DIR --data DIR [--split test] [--max-files N] [--seconds 6] [--sigma 0.6]
                 [--latent-scale LIST|1] [--pitch-emphasis C] [--envelope N] [--denoise 0] [--seed 0] [--out EVAL.json] [--json]
  The model card's metrics on a folder of WAVs, or on the --split (train, validation, test,
  test-unseen; default test) of a corpus from "flowvox data speech" (a folder with manifest.json).
  Each file is cut to its first --seconds; --max-files N takes N files spread evenly over the list.
  Per file: the exact NLL (as "flowvox likelihood"), and distances from the original to the model's
  copy-synthesis from the file's own mel at --sigma (seed --seed + file index; each latent level times
  the model's latent scale, or --latent-scale's, "1" for none: see tune-latent; --pitch-emphasis as
  synthesize's) and to Griffin-Lim
  (mel → linear by the clamped pseudo-inverse, then ${GRIFFIN_LIM_ITERATIONS} iterations) from the same mel.
  --envelope N: iterations of mel-envelope matching after synthesis (default: the model's
  config.json "synthesis.envelope_iterations", else 0; see synthesize --help).
  --out also writes the JSON object (pretty-printed) to a file, e.g. for "flowvox card --eval".
  JSON (last stdout line):
    modelDir, data, split, files, audioSeconds, seconds (wall time of the whole run), backend, sigma, latentScale, pitchEmphasis, envelopeIterations,
    denoise, clipSeconds, griffinLimIterations,
    nllNatsPerSample   exact NLL, total nats / total samples
    model              means over files of the copy-synthesis distances: {logMelDb, mcd, mrStft}
                         logMelDb  RMS log-mel distance in dB (80 mels, 0–8 kHz)
                         mcd       mel-cepstral distortion in dB (c1–c12 of the log-mel)
                         mrStft    multi-resolution STFT distance (FFT 512/1024/2048; SC + log-mag L1)
    griffinLim         the same for Griffin-Lim
    ratio              model / griffinLim per metric (< 1: the model is closer to the original)
    xRealTime          audio seconds per wall second of synthesis on this backend, median over files
    frameLocked        share of a fixed waveform repeated every mel frame (buzz): {original, model, griffinLim}
    periodicity        harmonics: mean NCCF peak (pitch 70–400 Hz, 0…1) over the original's voiced frames,
                         {voicedFrames, original, model, griffinLim, noise}; noise = random-phase audio with
                         the same mel (Griffin-Lim, 0 iterations), the level of noise that only follows the envelope;
                         unvoiced: {frames, original, model, griffinLim, flowAlone?} the same over the original's
                         audible unvoiced frames (r < 0.5), where periodicity above the original's is a buzz
    flowAlone          with --envelope N > 0: the distances of the flow's output before envelope matching
    noiseEnvelope      with --envelope N > 0: the distances of random-phase audio with the same mel after the
                         same envelope matching (the filter without the flow); periodicity has both too
    targets            {logMelWithin1p5xGL: model logMelDb ≤ 1.5 × GL's, beatsGLonMrStft: model mrStft < GL's}
    perFile            [{id, lang?, seconds, nllNatsPerSample, nllSamples, model, griffinLim, xRealTime, frameLocked, periodicity}]
    skipped            [{id, reason}]: files that could not be read or were too short (also said on stderr)`;

export interface EvalFile {
  path: string;
  /** Path relative to the data folder, without .wav. */
  id: string;
  lang?: string;
  /** From the manifest when known. */
  seconds?: number;
}

/** The files of `split` in a corpus with manifest.json, else every WAV under `dir` (split ignored). */
export async function listEvalFiles(dir: string, split: string): Promise<{ files: EvalFile[]; manifest: Manifest | null }> {
  if (!(await stat(dir).catch(() => null))?.isDirectory()) throw new CliError(`--data ${dir} is not a directory`);
  const manifest = await readFile(join(dir, 'manifest.json'), 'utf8').then((s) => JSON.parse(s) as Manifest).catch(() => null);
  const id = (rel: string) => rel.split('\\').join('/').replace(/\.wav$/i, '');
  if (manifest?.files) {
    if (!(SPLITS as readonly string[]).includes(split)) throw new CliError(`--split must be one of ${SPLITS.join(', ')}, got "${split}"`);
    const files = manifest.files.filter((f) => f.split === split).map((f) => ({ path: join(dir, f.path), id: id(f.path), lang: f.lang, seconds: f.seconds }));
    if (files.length === 0) throw new CliError(`${dir}/manifest.json has no files in split "${split}"`);
    return { files, manifest };
  }
  const files = (await listWavs(dir)).map((p) => ({ path: p, id: id(relative(dir, p)) }));
  if (files.length === 0) throw new CliError(`no .wav files in ${dir}`);
  return { files, manifest: null };
}

/** A file left out of an evaluation, and why. */
export interface SkippedFile {
  id: string;
  reason: string;
}

/**
 * The first `seconds` of one listed file, or why it was skipped (said on stderr as `tool: skipping …`):
 * a broken or too-short WAV in a folder costs its own score, not the other files' work.
 */
export async function readEvalClip(f: EvalFile, mel: MelConfig, seconds: number, tool: string): Promise<Float32Array | SkippedFile> {
  let reason: string;
  try {
    const audio = clipAudio(await readWavFor(f.path, mel), seconds, mel.sampleRate);
    if (audio.length >= MIN_CLIP_SAMPLES) return audio;
    reason = `${audio.length} samples, needs ${MIN_CLIP_SAMPLES}`;
  } catch (e) {
    reason = (e as Error).message;
  }
  process.stderr.write(`${tool}: skipping ${f.id} (${reason})\n`);
  return { id: f.id, reason };
}

export interface EvaluateJson extends EvaluationSummary {
  modelDir: string;
  data: string;
  split: string | null;
  seconds: number;
  backend: string;
  sigma: number;
  /** σ's multiplier per latent level (the model's "synthesis.latent_scale" or --latent-scale); null: σ everywhere. */
  latentScale: number[] | null;
  /** The pitch predictor's gain multiplier at synthesis (the model's "synthesis.pitch_emphasis" or --pitch-emphasis; 1 without a predictor). */
  pitchEmphasis: number;
  /** Mel-envelope matching iterations after synthesis (0: the flow's output as it is). */
  envelopeIterations: number;
  denoise: number;
  clipSeconds: number;
  griffinLimIterations: number;
  perFile: ClipEvaluation[];
  /** Files that could not be read or were too short. */
  skipped: SkippedFile[];
}

const round = (x: number, d = 4): number => Number(x.toFixed(d));
const roundMetrics = (m: DistanceMetrics): DistanceMetrics => ({ logMelDb: round(m.logMelDb), mcd: round(m.mcd), mrStft: round(m.mrStft) });

export const command: Command = {
  summary: 'model card metrics: NLL, copy-synthesis vs Griffin-Lim, speed',
  async run(argv) {
    const o = parse(argv, {
      model: { type: 'string' }, data: { type: 'string' }, split: { type: 'string' }, 'max-files': { type: 'string' },
      seconds: { type: 'string' }, sigma: { type: 'string' }, denoise: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, 'latent-scale': { type: 'string' }, 'pitch-emphasis': { type: 'string' }, envelope: { type: 'string' },
    }, HELP);
    if (!o.model) throw new CliError(`--model DIR is required\n${HELP}`);
    if (!o.data) throw new CliError(`--data DIR is required\n${HELP}`);
    checkOutputFile(o.out, 'out');
    const split = o.split ?? 'test';
    const maxFiles = num(o['max-files'], 'max-files', Infinity, { min: 1, int: true });
    const clipSeconds = num(o.seconds, 'seconds', 6, { min: 0.2, max: 600 });
    const sigma = num(o.sigma, 'sigma', 0.6, { min: 0, max: 10 });
    const denoise = num(o.denoise, 'denoise', 0, { min: 0, max: 10 });
    const seed = num(o.seed, 'seed', 0, { min: 0, int: true });
    const t0 = performance.now();
    const listed = await listEvalFiles(o.data, split);
    const { backend } = await setupBackend(o.backend);
    const { model, config } = await loadModelDir(o.model).catch((e: Error) => {
      throw new CliError(e.message);
    });
    if (o['latent-scale'] !== undefined) setLatentScaleOption(model, o['latent-scale']);
    if (o['pitch-emphasis'] !== undefined) setPitchEmphasisOption(model, o['pitch-emphasis']);
    const envelope = envelopeOption(o.envelope, config);
    if (!listed.manifest && o.split) process.stderr.write(`evaluate: ${o.data} has no manifest.json; --split ignored, using every WAV in it\n`);
    const files = pickEvenly(listed.files, maxFiles);
    const melConfig = config.mel;
    const sr = melConfig.sampleRate;
    const denoiser = denoise > 0 ? new Denoiser(model) : null;

    const perFile: ClipEvaluation[] = [];
    const skipped: SkippedFile[] = [];
    const progress = new Progress(files.length, 'evaluate ');
    for (const [i, f] of files.entries()) {
      const audio = await readEvalClip(f, melConfig, clipSeconds, 'evaluate');
      if (!(audio instanceof Float32Array)) {
        skipped.push(audio);
        continue;
      }
      // Warm-up (kernel compilation, weight packing) so the first file's speed is not an outlier.
      if (perFile.length === 0) copySynthesis(model, logMelSpectrogram(audio.subarray(0, Math.max(MIN_CLIP_SAMPLES, sr)), melConfig), { sigma, seed, envelope, melConfig });
      const { result } = evaluateClip(model, audio, { id: f.id, lang: f.lang, melConfig, sigma, seed: seed + i, denoiser, denoise, envelope });
      perFile.push(result);
      const s = summarize(perFile);
      progress.update(i + 1, `log-mel ${s.model.logMelDb.toFixed(2)} dB (GL ${s.griffinLim.logMelDb.toFixed(2)}) NLL ${s.nllNatsPerSample.toFixed(3)}`);
    }
    progress.done();
    if (perFile.length === 0) throw new CliError(`none of the ${files.length} files could be evaluated (first: ${skipped[0]?.id}: ${skipped[0]?.reason})`);
    const s = summarize(perFile);
    const out: EvaluateJson = {
      modelDir: o.model, data: o.data, split: listed.manifest ? split : null, files: s.files, audioSeconds: round(s.audioSeconds, 3),
      seconds: round((performance.now() - t0) / 1000, 1), backend, sigma, latentScale: model.latentScale ? [...model.latentScale] : null, pitchEmphasis: model.pitchEmphasis, envelopeIterations: envelope, denoise, clipSeconds, griffinLimIterations: GRIFFIN_LIM_ITERATIONS,
      nllNatsPerSample: round(s.nllNatsPerSample, 5), model: roundMetrics(s.model), griffinLim: roundMetrics(s.griffinLim), ratio: roundMetrics(s.ratio),
      xRealTime: round(s.xRealTime, 2), frameLocked: roundFrameLocked(s.frameLocked), periodicity: roundPeriodicity(s.periodicity), targets: s.targets,
      perFile: perFile.map((c) => ({ ...c, seconds: round(c.seconds, 3), nllNatsPerSample: round(c.nllNatsPerSample, 5), model: roundMetrics(c.model), griffinLim: roundMetrics(c.griffinLim), xRealTime: round(c.xRealTime, 2), frameLocked: roundFrameLocked(c.frameLocked), periodicity: roundPeriodicity(c.periodicity), ...(c.flowAlone && c.noiseEnvelope ? { flowAlone: roundMetrics(c.flowAlone), noiseEnvelope: roundMetrics(c.noiseEnvelope) } : {}) })),
      ...(s.flowAlone && s.noiseEnvelope ? { flowAlone: roundMetrics(s.flowAlone), noiseEnvelope: roundMetrics(s.noiseEnvelope) } : {}),
      skipped,
    };
    if (o.out) await writeFile(o.out, JSON.stringify(out, null, 2) + '\n');
    if (o.json) {
      printJson(out);
      return;
    }
    const row = (name: string, k: keyof DistanceMetrics, d: number) => `| ${name} | ${out.model[k].toFixed(d)} | ${out.griffinLim[k].toFixed(d)} | ${out.ratio[k].toFixed(2)} |`;
    console.log([
      `${out.files} files, ${out.audioSeconds.toFixed(1)} s of audio (${out.split ?? 'folder'}), ${out.seconds} s wall, ${backend}`,
      `NLL ${out.nllNatsPerSample} nats/sample; synthesis ${out.xRealTime}× real time (median)`,
      '', `| metric | model (σ=${sigma}${out.latentScale ? ` × [${out.latentScale.join(', ')}] per latent level` : ''}${out.pitchEmphasis !== 1 ? `, pitch emphasis ${out.pitchEmphasis}` : ''}${envelope ? `, envelope matching ×${envelope}` : ''}) | Griffin-Lim (${GRIFFIN_LIM_ITERATIONS} it.) | model / GL |`, '|---|---|---|---|',
      row('log-mel distance (dB)', 'logMelDb', 2), row('MCD (dB)', 'mcd', 2), row('MR-STFT distance', 'mrStft', 3), '',
      ...(out.flowAlone ? [`the flow alone, before envelope matching: log-mel ${out.flowAlone.logMelDb.toFixed(2)} dB, MCD ${out.flowAlone.mcd.toFixed(2)}, MR-STFT ${out.flowAlone.mrStft.toFixed(3)}`] : []),
      ...(out.noiseEnvelope ? [`control, random-phase audio with the same mel through the same envelope matching: log-mel ${out.noiseEnvelope.logMelDb.toFixed(2)} dB, MCD ${out.noiseEnvelope.mcd.toFixed(2)}, MR-STFT ${out.noiseEnvelope.mrStft.toFixed(3)}`] : []),
      `frame-locked pattern share (buzz at ${(sr / melConfig.hop).toFixed(1)} Hz): model ${out.frameLocked.model.toFixed(3)}, original ${out.frameLocked.original.toFixed(3)} (chance), Griffin-Lim ${out.frameLocked.griffinLim.toFixed(3)}`,
      describePeriodicity(out.periodicity),
      `targets: log-mel within 1.5× GL: ${out.targets.logMelWithin1p5xGL ? 'yes' : 'no'}; beats GL on MR-STFT: ${out.targets.beatsGLonMrStft ? 'yes' : 'no'}`,
    ].join('\n'));
  },
};

/** NaN (no voiced frame) stays NaN, which JSON writes as null. */
function roundPeriodicity(x: Periodicity): Periodicity {
  const u = x.unvoiced;
  return {
    voicedFrames: x.voicedFrames, original: round(x.original), model: round(x.model), griffinLim: round(x.griffinLim), noise: round(x.noise), ...(x.noiseEnvelope !== undefined ? { flowAlone: round(x.flowAlone ?? NaN), noiseEnvelope: round(x.noiseEnvelope) } : {}),
    ...(u ? { unvoiced: { frames: u.frames, original: round(u.original), model: round(u.model), griffinLim: round(u.griffinLim), ...(u.flowAlone !== undefined ? { flowAlone: round(u.flowAlone) } : {}) } } : {}),
  };
}

function roundFrameLocked(x: FrameLocked): FrameLocked {
  return { original: round(x.original, 4), model: round(x.model, 4), griffinLim: round(x.griffinLim, 4) };
}
