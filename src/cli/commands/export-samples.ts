import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { melToNpy } from '../../dsp/npy.js';
import { envelopeIterationsOf } from '../../vocoder/model-dir.js';
import { loadModelDir } from '../../io/model-dir.js';
import { encodeWav } from '../../io/wav.js';
import { GRIFFIN_LIM_ITERATIONS, MIN_CLIP_SAMPLES, clipAudio, evaluateClip, pickEvenly, selectSamples, spectrogramStack, type DistanceMetrics } from '../../vocoder/evaluate.js';
import { readWavFor } from '../audio-input.js';
import { CliError, num, parse, printJson, setupBackend, type Command } from '../common.js';
import { listEvalFiles, type EvalFile } from './evaluate.js';

const HELP = `flowvox export-samples --model DIR --data DIR [--split test] [--count 5] [--seconds 4] [--sigma 0.6]
                       [--seed 0] [--out audio/] [--json]
  Picks --count short clips of --split (deterministic; prefers 2–5 s, languages in turn) from a corpus
  with manifest.json, or from any folder of WAVs, cuts each to its first --seconds, and writes per clip:
    <id>.wav       the original (16-bit)
    <id>.npy       its log-mel, [80, T] float32 (NVIDIA/tacotron2 layout)
    <id>.copy.wav  the model's copy-synthesis from that mel at --sigma
    <id>.gl.wav    Griffin-Lim (${GRIFFIN_LIM_ITERATIONS} iterations) from the same mel
    <id>.png       spectrograms (0–8 kHz, one dB scale): original / model / Griffin-Lim
  and index.json: {model, sigma, sampleRate, samples: [{id, seconds, lang, text: null, files: {original,
  mel, copy, griffinLim, spectrogram}, metrics: {model, griffinLim}}]} (file names relative to --out).
  JSON (last stdout line): {out, samples, bytes, files}.`;

export interface SampleEntry {
  id: string;
  seconds: number;
  lang: string | null;
  /** No transcripts in the corpus; kept so the player can show one when a corpus has them. */
  text: string | null;
  files: { original: string; mel: string; copy: string; griffinLim: string; spectrogram: string };
  metrics: { model: DistanceMetrics; griffinLim: DistanceMetrics };
}

export interface SampleIndex {
  model: string;
  sigma: number;
  sampleRate: number;
  createdBy: string;
  samples: SampleEntry[];
}

const safeId = (id: string): string => id.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
const r4 = (m: DistanceMetrics): DistanceMetrics => ({ logMelDb: Number(m.logMelDb.toFixed(4)), mcd: Number(m.mcd.toFixed(4)), mrStft: Number(m.mrStft.toFixed(4)) });

export const command: Command = {
  summary: 'write a few original / copy-synthesis / Griffin-Lim clips with spectrograms',
  async run(argv) {
    const o = parse(argv, {
      model: { type: 'string' }, data: { type: 'string' }, split: { type: 'string' }, count: { type: 'string' },
      seconds: { type: 'string' }, sigma: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' },
    }, HELP);
    if (!o.model) throw new CliError(`--model DIR is required\n${HELP}`);
    if (!o.data) throw new CliError(`--data DIR is required\n${HELP}`);
    const count = num(o.count, 'count', 5, { min: 1, max: 100, int: true });
    const maxSeconds = num(o.seconds, 'seconds', 4, { min: 0.2, max: 60 });
    const sigma = num(o.sigma, 'sigma', 0.6, { min: 0, max: 10 });
    const seed = num(o.seed, 'seed', 0, { min: 0, int: true });
    const outDir = o.out ?? 'audio';
    await setupBackend(o.backend);
    const { model, config } = await loadModelDir(o.model).catch((e: Error) => {
      throw new CliError(e.message);
    });
    const melConfig = config.mel;
    const envelope = envelopeIterationsOf(config);
    const sr = melConfig.sampleRate;
    const { files } = await listEvalFiles(o.data, o.split ?? 'test');

    // A plain folder has no durations: read a bounded, evenly spread set of candidates to learn them.
    const audioCache = new Map<string, Float32Array>();
    const candidates: (EvalFile & { seconds: number })[] = [];
    for (const f of files.some((x) => x.seconds === undefined) ? pickEvenly(files, 200) : files) {
      if (f.seconds !== undefined) {
        candidates.push({ ...f, seconds: f.seconds });
        continue;
      }
      const a = await readWavFor(f.path, melConfig);
      audioCache.set(f.path, a);
      candidates.push({ ...f, seconds: a.length / sr });
    }
    const chosen = selectSamples(candidates.filter((c) => c.seconds * sr >= MIN_CLIP_SAMPLES), count);
    if (chosen.length === 0) throw new CliError(`no clip of at least ${MIN_CLIP_SAMPLES} samples in ${o.data}`);

    await mkdir(outDir, { recursive: true });
    const samples: SampleEntry[] = [];
    const written: string[] = [];
    let bytes = 0;
    const put = async (name: string, data: Uint8Array): Promise<void> => {
      await writeFile(join(outDir, name), data);
      written.push(name);
      bytes += data.length;
    };
    for (const [i, f] of chosen.entries()) {
      const id = safeId(f.id);
      process.stderr.write(`export-samples: ${id} (${i + 1}/${chosen.length})\n`);
      const audio = clipAudio(audioCache.get(f.path) ?? (await readWavFor(f.path, melConfig)), maxSeconds, sr);
      const { result, audio: a } = evaluateClip(model, audio, { id, lang: f.lang, melConfig, sigma, seed: seed + i, envelope });
      const names = { original: `${id}.wav`, mel: `${id}.npy`, copy: `${id}.copy.wav`, griffinLim: `${id}.gl.wav`, spectrogram: `${id}.png` };
      await put(names.original, encodeWav(a.original, sr, { bitDepth: '16' }));
      await put(names.mel, melToNpy(a.mel));
      await put(names.copy, encodeWav(a.model, sr, { bitDepth: '16' }));
      await put(names.griffinLim, encodeWav(a.griffinLim, sr, { bitDepth: '16' }));
      const scaleText = model.latentScale ? ` x [${model.latentScale.join(',')}]` : '';
      const fig = spectrogramStack([
        { title: 'original', audio: a.original },
        // With envelope matching on, the figure also shows what the flow alone made (same latent).
        ...(a.flowAlone && result.flowAlone ? [{ title: `flow alone (sigma ${sigma}${scaleText}): log-mel ${result.flowAlone.logMelDb.toFixed(2)} dB`, audio: a.flowAlone }] : []),
        { title: `${envelope ? `flow + envelope matching x${envelope}` : `model copy-synthesis (sigma ${sigma}${scaleText})`}: log-mel ${result.model.logMelDb.toFixed(2)} dB`, audio: a.model },
        { title: `Griffin-Lim (${GRIFFIN_LIM_ITERATIONS} it.): log-mel ${result.griffinLim.logMelDb.toFixed(2)} dB`, audio: a.griffinLim },
      ], sr, { title: id });
      await put(names.spectrogram, fig.toPng());
      samples.push({ id, seconds: Number(result.seconds.toFixed(3)), lang: f.lang ?? null, text: null, files: names, metrics: { model: r4(result.model), griffinLim: r4(result.griffinLim) } });
    }
    const index: SampleIndex = { model: o.model, sigma, sampleRate: sr, createdBy: 'flowvox export-samples', samples };
    const indexBytes = new TextEncoder().encode(JSON.stringify(index, null, 2) + '\n');
    await put('index.json', indexBytes);
    const out = { out: outDir, samples: samples.length, bytes, files: written };
    if (o.json) printJson(out);
    else console.log(`wrote ${samples.length} samples (${written.length} files, ${(bytes / 1024).toFixed(0)} KB) to ${outDir}`);
  },
};
