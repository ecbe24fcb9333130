/**
 * σ per latent level, chosen on held-out audio (isomorphic: no fs).
 *
 * WaveGlow's latent is several levels: each early output leaves the flow after a few flows, the rest
 * passes through all of them. One σ for all of them is NVIDIA's choice; Glow samples each level at its
 * own temperature. Here each level's σ is σ × scale[level], and the scales are picked by coordinate
 * descent on a copy-synthesis distance, with the same latent seeds for every candidate (common
 * random numbers), so that two candidates differ only in the scale. A decoding choice: the likelihood
 * does not change. A model with a pitch predictor has one more coordinate, its pitch emphasis
 * (`WaveGlow.setPitchEmphasis`), tuned in the same descent after the levels.
 */
import { logMelSpectrogram, type MelConfig, type MelSpectrogram } from '../dsp/mel.js';
import { copySynthesis, distances } from './evaluate.js';
import type { WaveGlow } from './waveglow.js';

export type TuneMetric = 'mr-stft' | 'log-mel';

/** The `TuneScore` field a metric minimises. */
export function metricKey(metric: TuneMetric): 'mrStft' | 'logMelDb' {
  return metric === 'mr-stft' ? 'mrStft' : 'logMelDb';
}

export interface TuneLatentOptions {
  sigma?: number;
  /** Values each level's scale may take (default 0, 0.5, 1, 1.5). */
  candidates?: readonly number[];
  /** Values the pitch emphasis may take, with a pitch predictor (default 1, 1.5, 2, 3, 4, 6; [1]: not tuned). */
  emphasisCandidates?: readonly number[];
  metric?: TuneMetric;
  /** Coordinate-descent sweeps over the levels (default 2; stops early when a sweep changes nothing). */
  sweeps?: number;
  /** Latent seed of clip i is seed + i, as in `flowvox evaluate`. */
  seed?: number;
  /** Mel-envelope matching iterations applied to every candidate's output (the model's setting). */
  envelope?: number;
  /** A change must lower the metric by more than this fraction to be taken (default 0.002: noise). */
  minGain?: number;
  /** Called after each candidate is scored. */
  onTrial?: (trial: TuneTrial, done: number) => void;
}

export interface TuneScore {
  scale: number[];
  /** With a pitch predictor: its pitch emphasis. */
  pitchEmphasis?: number;
  /** Means over the clips. */
  logMelDb: number;
  mrStft: number;
}

export interface TuneTrial extends TuneScore {
  /** The coordinate changed: a latent level, or (= the number of levels) the pitch emphasis. */
  level: number;
  sweep: number;
}

export interface TuneLatentResult {
  /** [start, end) of each level's channels in z (`WaveGlow.latentLevels`). */
  levels: Array<[number, number]>;
  metric: TuneMetric;
  sigma: number;
  /** All ones: σ on every level. */
  start: TuneScore;
  best: TuneScore;
  /** Each scale scored after the start, once. */
  trials: TuneTrial[];
}

export interface TuneClip {
  audio: Float32Array;
  mel: MelSpectrogram;
}

export function tuneClips(audios: readonly Float32Array[], melConfig: MelConfig): TuneClip[] {
  return audios.map((audio) => ({ audio, mel: logMelSpectrogram(audio, melConfig) }));
}

/** Mean copy-synthesis distances over `clips` with the model's current latent scale. */
export function scoreLatentScale(model: WaveGlow, clips: readonly TuneClip[], melConfig: MelConfig, { sigma, seed, envelope = 0 }: { sigma: number; seed: number; envelope?: number }): { logMelDb: number; mrStft: number } {
  let logMelDb = 0;
  let mrStft = 0;
  for (const [i, c] of clips.entries()) {
    const out = copySynthesis(model, c.mel, { sigma, seed: seed + i, length: c.audio.length, envelope, melConfig }).audio;
    const d = distances(c.audio, out, melConfig);
    logMelDb += d.logMelDb;
    mrStft += d.mrStft;
  }
  return { logMelDb: logMelDb / clips.length, mrStft: mrStft / clips.length };
}

/** Values a latent level's scale may take by default. */
export const DEFAULT_SCALE_CANDIDATES: readonly number[] = Object.freeze([0, 0.5, 1, 1.5]);
export const DEFAULT_EMPHASIS_CANDIDATES: readonly number[] = Object.freeze([1, 1.5, 2, 3, 4, 6]);

/**
 * Coordinate descent from all ones over `nLevels` coordinates: for each in turn, try every candidate
 * with the others fixed, and keep the best if it lowers the metric by more than `minGain`.
 * `score` is any function of the vector (the model's copy-synthesis distances in `tuneLatentScale`);
 * `candidatesAt(l)`, when given, replaces `opts.candidates` for coordinate l.
 */
export function coordinateDescent(nLevels: number, score: (scale: number[]) => TuneScore, opts: TuneLatentOptions = {}, candidatesAt?: (level: number) => readonly number[]): Omit<TuneLatentResult, 'levels' | 'sigma'> {
  const check = (values: readonly number[]) => {
    const unique = [...new Set(values)];
    if (unique.length === 0 || unique.some((v) => !Number.isFinite(v) || v < 0)) throw new Error(`candidates must be finite values ≥ 0, got [${values.join(', ')}]`);
    return unique;
  };
  const shared = check(opts.candidates ?? DEFAULT_SCALE_CANDIDATES);
  const perLevel = Array.from({ length: nLevels }, (_, l) => (candidatesAt ? check(candidatesAt(l)) : shared));
  const metric = opts.metric ?? 'mr-stft';
  const sweeps = opts.sweeps ?? 2;
  const minGain = opts.minGain ?? 0.002;
  const key = metricKey(metric);
  const trials: TuneTrial[] = [];
  // Scores are deterministic (the same latent seeds for every candidate), so a scale met again in a
  // later sweep, with the other levels as they were, is not scored twice.
  const seen = new Map<string, TuneScore>();
  const start = score(Array.from({ length: nLevels }, () => 1));
  seen.set(start.scale.join(','), start);
  opts.onTrial?.({ ...start, level: -1, sweep: 0 }, 1);
  let best = start;
  for (let sweep = 1; sweep <= sweeps; sweep++) {
    let changed = false;
    for (let l = 0; l < nLevels; l++) {
      let levelBest = best;
      for (const v of perLevel[l]!) {
        if (v === best.scale[l]) continue;
        const scale = best.scale.map((x, i) => (i === l ? v : x));
        let t = seen.get(scale.join(','));
        if (!t) {
          const fresh: TuneTrial = { ...score(scale), level: l, sweep };
          seen.set(scale.join(','), fresh);
          trials.push(fresh);
          opts.onTrial?.(fresh, trials.length + 1);
          t = fresh;
        }
        if (t[key] < levelBest[key]) levelBest = t;
      }
      if (levelBest !== best && levelBest[key] < best[key] * (1 - minGain)) {
        best = { scale: levelBest.scale, logMelDb: levelBest.logMelDb, mrStft: levelBest.mrStft };
        changed = true;
      }
    }
    if (!changed) break;
  }
  return { metric, start, best, trials };
}

/**
 * `coordinateDescent` on the mean copy-synthesis distances of `clips`, with the same latent seeds for
 * every candidate. The model's latent scale is left as it was found; the result says what to set.
 */
export function tuneLatentScale(model: WaveGlow, clips: readonly TuneClip[], melConfig: MelConfig, opts: TuneLatentOptions = {}): TuneLatentResult {
  if (clips.length === 0) throw new Error('tune-latent needs at least one clip');
  const sigma = opts.sigma ?? 0.6;
  const seed = opts.seed ?? 0;
  const levels = model.latentLevels();
  const n = levels.length;
  const emphasis = model.predictor ? opts.emphasisCandidates ?? DEFAULT_EMPHASIS_CANDIDATES : [1];
  const tuneEmphasis = emphasis.some((v) => v !== 1);
  const before = { scale: model.latentScale, emphasis: model.pitchEmphasis };
  // The vector is the levels' scales, then (when tuned) the pitch emphasis.
  const split = <T extends TuneScore>(t: T): T => (tuneEmphasis ? { ...t, scale: t.scale.slice(0, n), pitchEmphasis: t.scale[n]! } : t);
  try {
    const r = coordinateDescent(n + (tuneEmphasis ? 1 : 0), (vector) => {
      model.setLatentScale(vector.slice(0, n));
      model.setPitchEmphasis(tuneEmphasis ? vector[n]! : 1);
      return { scale: [...vector], ...scoreLatentScale(model, clips, melConfig, { sigma, seed, envelope: opts.envelope }) };
    }, { ...opts, onTrial: opts.onTrial && ((t, done) => opts.onTrial!(split(t), done)) }, (l) => (l < n ? opts.candidates ?? DEFAULT_SCALE_CANDIDATES : emphasis));
    return { levels, sigma, ...r, start: split(r.start), best: split(r.best), trials: r.trials.map(split) };
  } finally {
    model.setLatentScale(before.scale);
    model.setPitchEmphasis(before.emphasis);
  }
}
