/**
 * The vocoder's pitch predictor: a `LongTermPredictor` whose coefficients a mel-reading net computes,
 * so that the flow only has to model what one pitch period back does not predict
 * (docs/recipe-variants.md, follow-up 18). Per frame f of `hop` samples:
 *
 *   p_f = softmax(pitch logits_f)[lags]      a distribution over the lags min_lag … max_lag
 *   g_f = max_gain · tanh(w·h_f + b)         the gain; w, b start at 0, so a new predictor is the identity
 *   a_f = g_f · p_f                          Σ_k |a_f,k| = |g_f| < 1: the generative recursion is stable
 *
 * h_f is the pitch net's last hidden layer (an MLP over the log-mel frames f + context). The net is
 * first trained as a classifier on the pitch lags that the audio's own NCCF finds (`pitchTargets`,
 * class K = unvoiced), then kept fixed (`learn_pitch` false) while the gain trains by likelihood.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../flows/module.js';
import { LongTermPredictor, type PredictorConditioner } from '../flows/bijectors/long-term-predictor.js';
import { framePeriodicity } from '../dsp/periodicity.js';
import { dense } from '../nn/matmul.js';
import { gaussian, mulberry32 } from '../util/random.js';

export interface PitchPredictorConfig {
  /** Shortest and longest lag in samples (48–368: 60–460 Hz at 22.05 kHz). */
  min_lag: number;
  max_lag: number;
  /** Mel frames the net reads around frame f, as offsets (frame f's samples f·hop … f·hop + hop − 1 lie between mel frames f and f + 1). */
  context: number[];
  /** Width of the net's two hidden layers. */
  hidden: number;
  /** |g_f| < max_gain < 1. */
  max_gain: number;
  /** Whether likelihood training also moves the pitch net (false: only the gain head). */
  learn_pitch?: boolean;
}

export const DEFAULT_PITCH_PREDICTOR: Readonly<PitchPredictorConfig> = Object.freeze({
  min_lag: 48, max_lag: 368, context: [-2, -1, 0, 1, 2, 3], hidden: 512, max_gain: 0.95,
});

/** Why `c` is not a usable predictor config (for `n_mel` channels and frames of `hop`), or null. */
export function pitchConfigError(c: PitchPredictorConfig): string | null {
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
  if (!int(c.min_lag) || !int(c.max_lag) || c.min_lag < 1 || c.max_lag < c.min_lag) return `min_lag and max_lag must be integers with 1 ≤ min_lag ≤ max_lag, got ${c.min_lag} and ${c.max_lag}`;
  if (!Array.isArray(c.context) || c.context.length === 0 || !c.context.every(int)) return `context must be a non-empty list of integer frame offsets, got ${JSON.stringify(c.context)}`;
  if (!int(c.hidden) || c.hidden < 1) return `hidden must be a positive integer, got ${c.hidden}`;
  if (!(c.max_gain > 0 && c.max_gain < 1)) return `max_gain must lie in (0, 1) for the recursion to stay stable, got ${c.max_gain}`;
  return null;
}

/** Mel frames the net reads before and after a frame (its context's reach; the edges repeat frames). */
export function pitchContextReach(config: Pick<PitchPredictorConfig, 'context'>): { back: number; ahead: number } {
  return { back: Math.max(0, -Math.min(...config.context)), ahead: Math.max(0, ...config.context) };
}

/** Log-mels (natural log, floor log 1e-5 ≈ −11.5; speech mostly −11 … 1) to about ±1 for the net. */
const MEL_OFFSET = 5;
const MEL_SCALE = 1 / 3;

/** The pitch net and gain head: mel [B, T, n_mel] → coefficients [B, T, K], one row per frame. */
export class MelPitchConditioner extends Module implements PredictorConditioner {
  readonly lags: number;
  private readonly layers: { w: tf.Variable; b: tf.Variable }[] = [];
  private readonly gain: { w: tf.Variable; b: tf.Variable };

  constructor(readonly nMel: number, readonly config: PitchPredictorConfig, seed = 0) {
    super();
    const why = pitchConfigError(config);
    if (why) throw new Error(`pitch predictor: ${why}`);
    this.lags = config.max_lag - config.min_lag + 1;
    const learn = config.learn_pitch ?? false;
    const randn = gaussian(mulberry32(seed + 7919));
    const sizes = [nMel * config.context.length, config.hidden, config.hidden, this.lags + 1];
    for (let i = 0; i + 1 < sizes.length; i++) {
      const [n, m] = [sizes[i]!, sizes[i + 1]!];
      // He init for the ReLU layers; the logits start at 0 (a uniform guess) as in the classifier's pretraining.
      const std = i + 2 === sizes.length ? 0 : Math.sqrt(2 / n);
      this.layers.push({
        w: this.addParameter(`pitch.${i}.w`, tf.tensor2d(Float32Array.from({ length: n * m }, () => randn() * std), [n, m]), learn),
        b: this.addParameter(`pitch.${i}.b`, tf.zeros([m]), learn),
      });
    }
    this.gain = { w: this.addParameter('gain.w', tf.zeros([config.hidden, 1])), b: this.addParameter('gain.b', tf.zeros([1])) };
  }

  /** The pitch net's variables (the classifier), which pretraining moves. */
  pitchVariables(): tf.Variable[] {
    return this.layers.flatMap((l) => [l.w, l.b]);
  }

  /** Mel [B, T, n_mel] → the net's input [B·T, n_mel·C]: frames f + context (edge frames repeated), scaled. */
  private input(mel: tf.Tensor3D): tf.Tensor2D {
    const [b, t, n] = mel.shape;
    if (n !== this.nMel) throw new Error(`pitch predictor: mel has ${n} channels, expected ${this.nMel}`);
    const ctx = this.config.context;
    const { back: before, ahead: after } = pitchContextReach(this.config);
    const edge = (at: number, times: number) => tf.tile(tf.slice(mel, [0, at, 0], [b, 1, n]), [1, times, 1]);
    const padded = tf.concat([...(before ? [edge(0, before)] : []), mel, ...(after ? [edge(t - 1, after)] : [])], 1);
    const stacked = tf.concat(ctx.map((c) => tf.slice(padded, [0, before + c, 0], [b, t, n])), 2);
    return tf.reshape(tf.mul(tf.add(stacked, MEL_OFFSET), MEL_SCALE), [b * t, n * ctx.length]) as tf.Tensor2D;
  }

  /** The last hidden layer h [B·T, hidden] and the logits [B·T, K + 1] (class K: unvoiced). */
  features(mel: tf.Tensor3D): { h: tf.Tensor2D; logits: tf.Tensor2D } {
    return tf.tidy(() => {
      let h = this.input(mel);
      const last = this.layers.length - 1;
      for (let i = 0; i < last; i++) h = tf.relu(dense(h, this.layers[i]!.w as tf.Tensor2D, this.layers[i]!.b as tf.Tensor1D));
      return { h, logits: dense(h, this.layers[last]!.w as tf.Tensor2D, this.layers[last]!.b as tf.Tensor1D) };
    });
  }

  /** The coefficients the likelihood scores with (emphasis 1). */
  apply(context: tf.Tensor): tf.Tensor {
    if (context.rank !== 3) throw new Error(`pitch predictor: expects a mel [batch, frames, ${this.nMel}], got shape [${context.shape}]`);
    return this.coefficients(context as tf.Tensor3D);
  }

  /**
   * Coefficients [B, T, K] with the gain head's pre-activation times `emphasis` on the frames the net
   * calls voiced (P(voiced) > ½, i.e. the unvoiced logit below the voiced logits' log-sum-exp):
   * g_f = max_gain · tanh(e_f · (w·h_f + b)), e_f = emphasis there and 1 elsewhere. A decoding choice, as σ
   * is (`WaveGlow.setPitchEmphasis`): above 1 it draws the periodicity that the likelihood's gain, averaging
   * over frames where the pitch net is unsure, holds back (follow-up 20); the gate keeps it out of
   * fricatives and breath, where it would buzz (follow-up 21; `calibrateVoicing` keeps the call calibrated).
   * |g_f| stays below max_gain, so the recursion stays stable.
   */
  coefficients(mel: tf.Tensor3D, emphasis = 1): tf.Tensor3D {
    if (!(Number.isFinite(emphasis) && emphasis >= 0)) throw new Error(`pitch emphasis must be finite and ≥ 0, got ${emphasis}`);
    return tf.tidy(() => {
      const [b, t] = mel.shape;
      const { h, logits } = this.features(mel);
      // The voiced classes only, renormalised: the gain, not p, says how much to predict.
      const voicedLogits = tf.slice(logits, [0, 0], [-1, this.lags]);
      const p = tf.softmax(voicedLogits);
      let pre = dense(h, this.gain.w as tf.Tensor2D, this.gain.b as tf.Tensor1D);
      if (emphasis !== 1) {
        const voiced = tf.less(tf.slice(logits, [0, this.lags], [-1, 1]), tf.logSumExp(voicedLogits, 1, true));
        pre = tf.mul(pre, tf.where(voiced, tf.fill(pre.shape, emphasis), tf.onesLike(pre)));
      }
      const g = tf.mul(tf.tanh(pre), this.config.max_gain);
      return tf.reshape(tf.mul(g, p), [b, t, this.lags]) as tf.Tensor3D;
    });
  }

  /** P(voiced) per frame [B·T]: 1 − the unvoiced class's probability (what the pitch emphasis is gated on). */
  voicedProbability(mel: tf.Tensor3D): tf.Tensor1D {
    return tf.tidy(() => tf.sub(1, tf.reshape(tf.slice(tf.softmax(this.features(mel).logits), [0, this.lags], [-1, 1]), [-1])) as tf.Tensor1D);
  }
}

/** A `LongTermPredictor` for frames of `hop` samples, its coefficients from the mel. */
export function melPitchPredictor(nMel: number, hop: number, config: PitchPredictorConfig, seed = 0): LongTermPredictor {
  return new LongTermPredictor(new MelPitchConditioner(nMel, config, seed), { minLag: config.min_lag, frame: hop });
}

/** NCCF peak at or above this counts a frame as voiced in the pitch net's labels. */
export const VOICED_LABEL_PERIODICITY = 0.6;
/** Width of the soft labels around the NCCF lag, in log-lag (2 %): lags that close predict about as well. */
const LABEL_WIDTH = 0.02;

/**
 * Soft classification targets [B·F, K + 1] for the pitch net, from B audio segments of F·hop
 * samples each: per frame, a Gaussian in log-lag around the NCCF peak's lag (window 2·hop, lags
 * min_lag … max_lag) where the peak is ≥ VOICED_LABEL_PERIODICITY, else class K (unvoiced).
 * NCCF's peak is at a multiple of the period now and then (octave errors); `lagTolerance` > 0 takes the
 * shortest lag that comes within that fraction of the peak instead (`framePeriodicity`).
 */
export function pitchTargets(audio: Float32Array, batch: number, frames: number, hop: number, sampleRate: number, config: PitchPredictorConfig, lagTolerance = 0): Float32Array {
  const len = audio.length / batch;
  const K = config.max_lag - config.min_lag + 1;
  const out = new Float32Array(batch * frames * (K + 1));
  // ±0.25 keeps the float round trip sr/(sr/L) on the right side of floor/ceil.
  const range = { sampleRate, window: 2 * hop, hop, fmax: sampleRate / (config.min_lag + 0.25), fmin: sampleRate / (config.max_lag - 0.25), lagTolerance };
  const which = Array.from({ length: frames }, (_, f) => f);
  for (let n = 0; n < batch; n++) {
    const r = framePeriodicity(audio.subarray(n * len, (n + 1) * len), range, which);
    for (let f = 0; f < frames; f++) {
      const row = (n * frames + f) * (K + 1);
      const lag = r.lag[f]!;
      if (r.periodicity[f]! < VOICED_LABEL_PERIODICITY || lag === 0) {
        out[row + K] = 1;
        continue;
      }
      let s = 0;
      for (let k = 0; k < K; k++) {
        const d = Math.log((config.min_lag + k) / lag) / LABEL_WIDTH;
        const v = d * d < 20 ? Math.exp(-0.5 * d * d) : 0;
        out[row + k] = v;
        s += v;
      }
      for (let k = 0; k < K; k++) out[row + k]! /= s;
    }
  }
  return out;
}
