/**
 * The model card's metrics (isomorphic: no fs). For one clip: the exact NLL of the audio under the
 * model, and three distances from the original to (a) the model's copy-synthesis from the clip's own
 * mel and (b) Griffin-Lim from the same mel, measured side by side. Then a summary over clips with
 * the quality-target checks of the "trained default voice" issue.
 */
import * as tf from '@tensorflow/tfjs-core';
import { griffinLim } from '../dsp/griffin-lim.js';
import { TACOTRON_MEL, logMelSpectrogram, type MelConfig, type MelSpectrogram } from '../dsp/mel.js';
import { frameLockedShare, logMelDistanceDb, melCepstralDistortion, multiResolutionStftDistance } from '../dsp/metrics.js';
import { stftMagnitude } from '../dsp/stft.js';
import { framePeriodicity, voicedPeriodicity } from '../dsp/periodicity.js';
import { panels, spectrogram } from '../plot/charts.js';
import type { Canvas } from '../plot/canvas.js';
import { matchMelEnvelope } from './envelope.js';
import { applyPostFilters, type PostFilters } from './post-filter.js';
import { WaveGlow } from './waveglow.js';

/** Distances from the original (all ≥ 0, 0 for identical audio). */
export interface DistanceMetrics {
  /** RMS log-mel distance in dB over 80 mels, 0–8 kHz (`logMelDistanceDb`). */
  logMelDb: number;
  /** Mel-cepstral distortion in dB, c1…c12 (`melCepstralDistortion`). */
  mcd: number;
  /** Multi-resolution STFT distance, FFT 512/1024/2048 (`multiResolutionStftDistance`). */
  mrStft: number;
}

/** Griffin-Lim as the issue specifies it: clamped mel pseudo-inverse, then 60 iterations. */
export const GRIFFIN_LIM_ITERATIONS = 60;

/** Quality target: copy-synthesis log-mel distance at most this multiple of Griffin-Lim's. */
export const LOG_MEL_TARGET_RATIO = 1.5;

/** Shortest clip the metrics accept: MR-STFT reflect-pads by 1024 (FFT 2048) and needs more. */
export const MIN_CLIP_SAMPLES = 2048;

export function distances(reference: Float32Array, estimate: Float32Array, mel: Partial<MelConfig> = TACOTRON_MEL): DistanceMetrics {
  return {
    logMelDb: logMelDistanceDb(reference, estimate, mel),
    mcd: melCepstralDistortion(reference, estimate, mel),
    mrStft: multiResolutionStftDistance(reference, estimate),
  };
}

/** The first `seconds` of `audio` (a view, no copy). */
export function clipAudio(audio: Float32Array, seconds: number, sampleRate: number): Float32Array {
  const n = Math.min(audio.length, Math.max(1, Math.round(seconds * sampleRate)));
  return audio.subarray(0, n);
}

/**
 * Griffin-Lim from a log-mel, `length` samples long (default: the length the mel came from, up to hop − 1).
 * `iterations` 0 gives its starting point: the mel's magnitudes with random phases.
 */
export function griffinLimBaseline(mel: MelSpectrogram, melConfig: Partial<MelConfig>, length?: number, iterations = GRIFFIN_LIM_ITERATIONS): Float32Array {
  return griffinLim(mel, melConfig, { iterations, nnlsIterations: 0, length });
}

export interface Likelihood {
  nllNatsPerSample: number;
  /** NVIDIA's WaveGlow loss (no Gaussian constant). */
  waveglowLoss: number;
  /** Samples scored: the audio cut to a whole number of groups the mel can condition. */
  samples: number;
}

/** Exact NLL of `audio` given its mel, as `flowvox likelihood` computes it. */
export function exactNll(model: WaveGlow, audio: Float32Array, mel: MelSpectrogram): Likelihood {
  const g = model.config.n_group;
  // NVIDIA's upsampler yields 3 hops more than T·hop samples; the frame-rate one exactly T·hop.
  const usable = Math.min(audio.length - (audio.length % g), model.samplesFor(mel.frames) + (model.upsample ? 3 * model.hop : 0));
  const length = usable - (usable % g);
  if (length <= 0) throw new Error(`audio too short: needs at least ${g} samples`);
  const loss = tf.tidy(() => {
    const a = tf.tensor2d(audio.subarray(0, length), [1, length]);
    const m = tf.tensor3d(mel.data, [1, mel.frames, mel.nMels]);
    const r = model.inverse(a, m);
    return tf.div(tf.sub(tf.div(tf.sum(tf.square(r.z)), 2), tf.sum(r.logDet)), r.z.size).dataSync()[0]!;
  });
  return { nllNatsPerSample: WaveGlow.nllPerSample(loss), waveglowLoss: loss, samples: length };
}

export interface SynthesisOptions extends PostFilters {
  sigma?: number;
  /** Seed of the latent, for reproducible output. */
  seed?: number;
  /** Crop the output to this many samples (the model returns frames·hop). */
  length?: number;
}

/** The model's audio for `mel` and the wall time it took (post-filters included, as `synthesize` times it). */
export function copySynthesis(model: WaveGlow, mel: MelSpectrogram, opts: SynthesisOptions = {}): { audio: Float32Array; wallSeconds: number; flowAudio: Float32Array } {
  const t0 = performance.now();
  const flow = tf.tidy(() => {
    const m = tf.tensor3d(mel.data, [1, mel.frames, mel.nMels]);
    return model.synthesize(m, { sigma: opts.sigma ?? 0.6, seed: opts.seed }).dataSync() as Float32Array;
  });
  const audio = applyPostFilters(flow, mel, opts);
  const wallSeconds = (performance.now() - t0) / 1000;
  const crop = (x: Float32Array) => (opts.length !== undefined && opts.length < x.length ? x.slice(0, opts.length) : x);
  return { audio: crop(audio), wallSeconds, flowAudio: crop(flow) };
}

export interface ClipEvaluation {
  id: string;
  lang?: string;
  /** Seconds of audio evaluated (after clipping). */
  seconds: number;
  nllNatsPerSample: number;
  /** Samples the NLL was averaged over. */
  nllSamples: number;
  model: DistanceMetrics;
  griffinLim: DistanceMetrics;
  /** Audio seconds per wall second of this clip's synthesis. */
  xRealTime: number;
  /** `frameLockedShare` at the mel hop: a fixed per-frame pattern (buzz); the original's is chance level. */
  frameLocked: FrameLocked;
  /** Periodicity over the original's voiced frames (`voicedPeriodicity`): do harmonics come out? */
  periodicity: Periodicity;
  /** With envelope matching on: the flow's output before it (what `model` was without the post-filter). */
  flowAlone?: DistanceMetrics;
  /**
   * With envelope matching on: the same post-filter applied to random-phase audio with the same mel
   * (Griffin-Lim, 0 iterations). What the filter makes without the flow: the control for `model`.
   */
  noiseEnvelope?: DistanceMetrics;
}

/**
 * Mean NCCF peak over the original's voiced frames, for each signal. `noise` is random-phase noise
 * with the same mel (Griffin-Lim with 0 iterations): the level of "noise whose envelope follows the
 * original", the lower reference. Means are NaN (null in JSON) when no frame is voiced.
 */
export interface Periodicity {
  voicedFrames: number;
  original: number;
  model: number;
  griffinLim: number;
  noise: number;
  /** With envelope matching on: the flow's output before it, and `noise` after it. */
  flowAlone?: number;
  noiseEnvelope?: number;
  /** The same over the original's audible unvoiced frames (r < 0.5), where periodicity is a buzz: near the original's is right. */
  unvoiced?: UnvoicedPeriodicity;
}

export interface UnvoicedPeriodicity {
  frames: number;
  original: number;
  model: number;
  griffinLim: number;
  /** With envelope matching on: the flow's output before it. */
  flowAlone?: number;
}

export interface FrameLocked {
  original: number;
  model: number;
  griffinLim: number;
}

export interface ClipAudio {
  original: Float32Array;
  mel: MelSpectrogram;
  model: Float32Array;
  griffinLim: Float32Array;
  /** With envelope matching on: the flow's output before it (same latent as `model`). */
  flowAlone?: Float32Array;
}

export interface EvaluateClipOptions extends SynthesisOptions {
  id: string;
  lang?: string;
}

/** All metrics for one clip; also returns the three signals (for export-samples). */
export function evaluateClip(model: WaveGlow, audio: Float32Array, opts: EvaluateClipOptions): { result: ClipEvaluation; audio: ClipAudio } {
  const melConfig = opts.melConfig ?? TACOTRON_MEL;
  if (audio.length < MIN_CLIP_SAMPLES) throw new Error(`${opts.id}: ${audio.length} samples is too short to evaluate (needs ${MIN_CLIP_SAMPLES})`);
  const mel = logMelSpectrogram(audio, melConfig);
  const nll = exactNll(model, audio, mel);
  const synth = copySynthesis(model, mel, { ...opts, length: audio.length });
  const gl = griffinLimBaseline(mel, melConfig, audio.length);
  const noise = griffinLimBaseline(mel, melConfig, audio.length, 0); // random phase: the baseline before its first iteration
  const sr = melConfig.sampleRate;
  const envelope = opts.envelope ?? 0;
  const noiseEnv = envelope > 0 ? matchMelEnvelope(noise, mel, envelope, melConfig) : null;
  const perConfig = { sampleRate: sr, window: melConfig.winLength, hop: melConfig.hop };
  const ref = framePeriodicity(audio, perConfig);
  const per = voicedPeriodicity(audio, [synth.audio, gl, noise, ...(noiseEnv ? [noiseEnv, synth.flowAudio] : [])], perConfig, 'voiced', ref);
  const un = voicedPeriodicity(audio, [synth.audio, gl, ...(noiseEnv ? [synth.flowAudio] : [])], perConfig, 'unvoiced', ref);
  const result: ClipEvaluation = {
    id: opts.id,
    ...(opts.lang ? { lang: opts.lang } : {}),
    seconds: audio.length / sr,
    nllNatsPerSample: nll.nllNatsPerSample,
    nllSamples: nll.samples,
    model: distances(audio, synth.audio, melConfig),
    griffinLim: distances(audio, gl, melConfig),
    // Rate of the full synthesis (frames·hop samples), not of the cropped output.
    xRealTime: model.samplesFor(mel.frames) / sr / synth.wallSeconds,
    frameLocked: { original: frameLockedShare(audio, melConfig.hop), model: frameLockedShare(synth.audio, melConfig.hop), griffinLim: frameLockedShare(gl, melConfig.hop) },
    periodicity: {
      voicedFrames: per.voicedFrames, original: per.reference, model: per.means[0]!, griffinLim: per.means[1]!, noise: per.means[2]!, ...(noiseEnv ? { flowAlone: per.means[4]!, noiseEnvelope: per.means[3]! } : {}),
      unvoiced: { frames: un.voicedFrames, original: un.reference, model: un.means[0]!, griffinLim: un.means[1]!, ...(noiseEnv ? { flowAlone: un.means[2]! } : {}) },
    },
    ...(noiseEnv ? { flowAlone: distances(audio, synth.flowAudio, melConfig), noiseEnvelope: distances(audio, noiseEnv, melConfig) } : {}),
  };
  return { result, audio: { original: audio, mel, model: synth.audio, griffinLim: gl, ...(noiseEnv ? { flowAlone: synth.flowAudio } : {}) } };
}

export interface QualityTargets {
  /** Copy-synthesis log-mel distance ≤ 1.5 × Griffin-Lim's. */
  logMelWithin1p5xGL: boolean;
  /** Copy-synthesis multi-resolution STFT distance < Griffin-Lim's. */
  beatsGLonMrStft: boolean;
}

export function qualityTargets(model: DistanceMetrics, gl: DistanceMetrics): QualityTargets {
  return { logMelWithin1p5xGL: model.logMelDb <= LOG_MEL_TARGET_RATIO * gl.logMelDb, beatsGLonMrStft: model.mrStft < gl.mrStft };
}

export interface EvaluationSummary {
  files: number;
  audioSeconds: number;
  /** Total nats over total samples (each sample weighs the same). */
  nllNatsPerSample: number;
  /** Means over files. */
  model: DistanceMetrics;
  griffinLim: DistanceMetrics;
  /** model / griffinLim of the means (< 1: the model is closer to the original). */
  ratio: DistanceMetrics;
  /** Median over files. */
  xRealTime: number;
  /** Means over files. */
  frameLocked: FrameLocked;
  /** Means over all voiced frames of all files (each voiced frame weighs the same). */
  periodicity: Periodicity;
  targets: QualityTargets;
  /** Means over files of `ClipEvaluation.flowAlone` and `.noiseEnvelope`, when every file has them. */
  flowAlone?: DistanceMetrics;
  noiseEnvelope?: DistanceMetrics;
}

const mean = (xs: readonly number[]): number => xs.reduce((s, v) => s + v, 0) / xs.length;

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function meanMetrics(xs: readonly DistanceMetrics[]): DistanceMetrics {
  return { logMelDb: mean(xs.map((x) => x.logMelDb)), mcd: mean(xs.map((x) => x.mcd)), mrStft: mean(xs.map((x) => x.mrStft)) };
}

export function summarize(clips: readonly ClipEvaluation[]): EvaluationSummary {
  if (clips.length === 0) throw new Error('no clips to summarise');
  const model = meanMetrics(clips.map((c) => c.model));
  const griffinLim = meanMetrics(clips.map((c) => c.griffinLim));
  const ratio: DistanceMetrics = { logMelDb: model.logMelDb / griffinLim.logMelDb, mcd: model.mcd / griffinLim.mcd, mrStft: model.mrStft / griffinLim.mrStft };
  const samples = clips.reduce((s, c) => s + c.nllSamples, 0);
  return {
    files: clips.length,
    audioSeconds: clips.reduce((s, c) => s + c.seconds, 0),
    nllNatsPerSample: clips.reduce((s, c) => s + c.nllNatsPerSample * c.nllSamples, 0) / samples,
    model,
    griffinLim,
    ratio,
    xRealTime: median(clips.map((c) => c.xRealTime)),
    frameLocked: { original: mean(clips.map((c) => c.frameLocked.original)), model: mean(clips.map((c) => c.frameLocked.model)), griffinLim: mean(clips.map((c) => c.frameLocked.griffinLim)) },
    periodicity: poolPeriodicity(clips.map((c) => c.periodicity)),
    targets: qualityTargets(model, griffinLim),
    ...(clips.every((c) => c.flowAlone && c.noiseEnvelope) ? { flowAlone: meanMetrics(clips.map((c) => c.flowAlone!)), noiseEnvelope: meanMetrics(clips.map((c) => c.noiseEnvelope!)) } : {}),
  };
}

/** `Periodicity` as one sentence, for people: the card's harmonics line and evaluate's text output. */
export function describePeriodicity(p: Periodicity): string {
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '—');
  return `Measured periodicity (NCCF peak at pitch lags, 1 = periodic) over the original's ${p.voicedFrames} voiced frames: model ${f(p.model)}, original ${f(p.original)}, Griffin-Lim ${f(p.griffinLim)}, random-phase audio with the same mel ${f(p.noise)}${p.noiseEnvelope !== undefined ? ` (${f(p.noiseEnvelope)} after the same envelope matching)` : ''}${p.flowAlone !== undefined ? `; the flow alone, before envelope matching, ${f(p.flowAlone)}` : ''}.${p.unvoiced ? unvoicedSentence(p.unvoiced, f) : ''}`;
}

function unvoicedSentence(u: UnvoicedPeriodicity, f: (x: number) => string): string {
  return ` Over its ${u.frames} audible unvoiced frames, where periodicity is a buzz: model ${f(u.model)}, original ${f(u.original)}, Griffin-Lim ${f(u.griffinLim)}${u.flowAlone !== undefined ? `, the flow alone ${f(u.flowAlone)}` : ''}.`;
}

/** Σ value·frames / Σ frames over clips (a clip without frames adds nothing); NaN when none has any. */
function frameWeighted<T>(xs: readonly T[], frames: (x: T) => number, value: (x: T) => number | undefined): number {
  const total = xs.reduce((s, x) => s + frames(x), 0);
  return total ? xs.reduce((s, x) => s + (frames(x) ? (value(x) ?? NaN) * frames(x) : 0), 0) / total : NaN;
}

function poolPeriodicity(xs: readonly Periodicity[]): Periodicity {
  const voicedFrames = xs.reduce((s, x) => s + x.voicedFrames, 0);
  const pool = (k: Exclude<keyof Periodicity, 'voicedFrames' | 'unvoiced'>): number => frameWeighted(xs, (x) => x.voicedFrames, (x) => x[k]);
  const withEnv = xs.every((x) => x.noiseEnvelope !== undefined && x.flowAlone !== undefined);
  const un = xs.every((x) => x.unvoiced) ? xs.map((x) => x.unvoiced!) : null;
  return { voicedFrames, original: pool('original'), model: pool('model'), griffinLim: pool('griffinLim'), noise: pool('noise'), ...(withEnv ? { flowAlone: pool('flowAlone'), noiseEnvelope: pool('noiseEnvelope') } : {}), ...(un ? { unvoiced: poolUnvoiced(un) } : {}) };
}

function poolUnvoiced(xs: readonly UnvoicedPeriodicity[]): UnvoicedPeriodicity {
  const frames = xs.reduce((s, x) => s + x.frames, 0);
  const pool = (k: Exclude<keyof UnvoicedPeriodicity, 'frames'>): number => frameWeighted(xs, (x) => x.frames, (x) => x[k]);
  return { frames, original: pool('original'), model: pool('model'), griffinLim: pool('griffinLim'), ...(xs.every((x) => x.flowAlone !== undefined) ? { flowAlone: pool('flowAlone') } : {}) };
}

/** `n` items spread evenly over `items` (all of them if n ≥ length): a deterministic, representative subset. */
export function pickEvenly<T>(items: readonly T[], n: number): T[] {
  if (n >= items.length) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]!);
}

/** FNV-1a → [0, 1): a stable pseudo-random order that does not depend on file order or platform. */
export function stableHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h / 2 ** 32;
}

export interface SampleCandidate {
  id: string;
  lang?: string;
  seconds: number;
}

/**
 * `count` clips for listening: prefers 2–5 s, takes languages in turn so each one present appears,
 * and within a language a fixed hash order (deterministic, not biased to one folder).
 */
export function selectSamples<T extends SampleCandidate>(candidates: readonly T[], count: number, preferred: readonly [number, number] = [2, 5]): T[] {
  const inRange = candidates.filter((c) => c.seconds >= preferred[0] && c.seconds <= preferred[1]);
  const pool = inRange.length >= count ? inRange : [...inRange, ...candidates.filter((c) => !inRange.includes(c))];
  const byLang = new Map<string, T[]>();
  for (const c of pool) {
    const k = c.lang ?? '';
    byLang.set(k, [...(byLang.get(k) ?? []), c]);
  }
  const preferredFirst = (a: T, b: T): number => Number(inRange.includes(b)) - Number(inRange.includes(a)) || stableHash(a.id) - stableHash(b.id);
  const queues = [...byLang.keys()].sort().map((k) => byLang.get(k)!.sort(preferredFirst));
  const out: T[] = [];
  for (let i = 0; out.length < count && queues.some((q) => i < q.length); i++) {
    for (const q of queues) if (i < q.length && out.length < count) out.push(q[i]!);
  }
  return out;
}

/**
 * Spectrograms of several signals stacked (dB STFT magnitude, FFT 1024 — 21.5 Hz bins at 22.05 kHz,
 * fine enough to resolve the harmonics of a voice — up to `maxHz`), on one colour scale set by the first.
 */
export function spectrogramStack(rows: readonly { title: string; audio: Float32Array }[], sampleRate: number, opts: { title?: string; maxHz?: number; rangeDb?: number; width?: number; height?: number } = {}): Canvas {
  const nFft = 1024;
  const maxHz = Math.min(opts.maxHz ?? 8000, sampleRate / 2);
  const keep = Math.min(nFft / 2 + 1, Math.floor((maxHz * nFft) / sampleRate) + 1);
  const specs = rows.map((r) => {
    const s = stftMagnitude(r.audio, { nFft, hop: 256, winLength: nFft });
    const db = new Float64Array(s.frames * keep);
    for (let t = 0; t < s.frames; t++) for (let k = 0; k < keep; k++) db[t * keep + k] = 20 * Math.log10(Math.max(s.data[t * s.bins + k]!, 1e-5));
    return { db, frames: s.frames };
  });
  let vmax = -Infinity;
  for (const v of specs[0]?.db ?? []) if (v > vmax) vmax = v;
  if (!Number.isFinite(vmax)) vmax = 0;
  const vmin = vmax - (opts.rangeDb ?? 80);
  const charts = specs.map((s, i) =>
    spectrogram(s.db, s.frames, keep, {
      title: rows[i]!.title, xRange: [0, (s.frames * 256) / sampleRate], yRange: [0, ((keep - 1) * sampleRate) / nFft / 1000],
      xLabel: 'time (s)', yLabel: 'kHz', vmin, vmax, colorbarLabel: 'dB', width: opts.width ?? 760, height: opts.height ?? 250,
    }),
  );
  return panels(charts.map((c) => [c]), { title: opts.title, pad: 6 });
}
