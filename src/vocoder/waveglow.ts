/**
 * WaveGlow (Prenger, Valle & Catanzaro 2019), composed from flowvox bijectors. It reads like
 * NVIDIA's glow.py; one difference in words: NVIDIA's `forward` (audio → z) is our *inverse*
 * (the normalizing direction) and its `infer` is our *forward* (generative), as in TFP.
 *
 *   audio [B, L] ──Squeeze1D(g)──▶ [B, L/g, g] ──flow 0 … flow K−1──▶ z [B, L/g, g]
 *   flow k  = on the channels not yet emitted: Invertible1x1Conv, then an affine coupling whose
 *             WN network sees the first half of the channels and the grouped, upsampled mel.
 *   early outputs: before flow k (k % n_early_every = 0, k > 0) the first n_early_size remaining
 *             channels are left alone from then on (Blockwise([Identity, flow])), so z is
 *             NVIDIA's cat(early outputs…, final) in channel order.
 *   predictor (optional, not in NVIDIA's WaveGlow): a mel-conditioned pitch predictor on the audio
 *             itself, before the squeeze: audio ──LongTermPredictor⁻¹──▶ residual ──flow──▶ z, so the
 *             flow models what one pitch period back does not predict (src/vocoder/pitch.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../flows/module.js';
import type { Bijector } from '../flows/bijector.js';
import { Chain } from '../flows/bijectors/chain.js';
import { Invert } from '../flows/bijectors/invert.js';
import { AffineCoupling } from '../flows/bijectors/affine-coupling.js';
import { Invertible1x1Conv } from '../flows/bijectors/invertible-1x1-conv.js';
import { Squeeze1D } from '../flows/bijectors/squeeze1d.js';
import { Blockwise, Identity } from '../flows/bijectors/blockwise.js';
import { StandardNormal } from '../flows/distributions.js';
import { MelUpsampler } from './upsample.js';
import { WN, type WNConfig } from './wn.js';
import { tfSeed } from '../util/random.js';
import { ContextCoefficients, LongTermPredictor } from '../flows/bijectors/long-term-predictor.js';
import { melPitchPredictor, type MelPitchConditioner, type PitchPredictorConfig } from './pitch.js';

/** NVIDIA's constructor arguments, plus how the mel reaches the audio rate. */
export interface WaveGlowConfig {
  n_mel_channels: number;
  n_flows: number;
  n_group: number;
  n_early_every: number;
  n_early_size: number;
  WN_config: WNConfig;
  /** Mel hop in samples (256 for the tacotron2 front end). */
  hop_length?: number;
  /**
   * 'convtranspose' (NVIDIA: ConvTranspose1d kernel 4·hop, then grouping: n_mel·g conditioning
   * channels), or 'frames' (the mel itself conditions, no upsampler at all: with n_group = hop one
   * group per mel frame, as SqueezeWave does; with a smaller n_group dividing hop, each frame
   * conditions its hop/n_group groups, nearest-neighbour).
   */
  upsampler?: 'convtranspose' | 'frames';
  sampling_rate?: number;
  /** A pitch predictor on the audio, per mel frame (absent: none, as NVIDIA's). */
  predictor?: PitchPredictorConfig;
}

export interface Likelihood {
  /** Latent [B, L/g, g]. */
  z: tf.Tensor3D;
  /** Σ log s + Σ log|det W| per example [B]. */
  logDet: tf.Tensor1D;
}

export class WaveGlow extends Module {
  readonly upsample: MelUpsampler | null;
  readonly convs: Invertible1x1Conv[] = [];
  readonly wns: WN[] = [];
  readonly couplings: AffineCoupling[] = [];
  /** The flow residual → z (our Bijector; its inverse is NVIDIA's forward); the residual is the audio when there is no predictor. */
  readonly flow: Chain;
  /** Audio ↔ residual, conditioned on the mel (`config.predictor`), or null. */
  readonly predictor: LongTermPredictor | null;
  readonly hop: number;
  readonly condChannels: number;

  constructor(readonly config: WaveGlowConfig, seed = 0) {
    super();
    const c = config;
    const g = c.n_group;
    this.hop = c.hop_length ?? 256;
    const mode = c.upsampler ?? 'convtranspose';
    if (mode === 'frames' && this.hop % g !== 0) throw new Error(`upsampler 'frames' needs n_group to divide hop_length (${this.hop}), got ${g}`);
    this.upsample = mode === 'convtranspose' ? this.addModule('upsample', new MelUpsampler(c.n_mel_channels, 4 * this.hop, this.hop, seed)) : null;
    this.condChannels = mode === 'convtranspose' ? c.n_mel_channels * g : c.n_mel_channels;

    const steps: Bijector[] = [new Squeeze1D(g)];
    for (let k = 0; k < c.n_flows; k++) {
      const emitted = emittedBefore(c, k);
      const ch = g - emitted;
      if (ch < 2) throw new Error(`config leaves ${ch} channels for flow ${k}; reduce n_early_size`);
      const nHalf = Math.floor(ch / 2);
      const conv = new Invertible1x1Conv(ch, { seed: seed * 1000 + k });
      const wn = new WN(nHalf, this.condChannels, c.WN_config, ch - nHalf, seed * 1000 + 500 + k);
      // NVIDIA's coupling a1 ← exp(log s)·a1 + t runs in the normalizing direction: our inverse.
      const coupling = new AffineCoupling({ split: nHalf }, wn);
      this.convs.push(conv);
      this.wns.push(wn);
      this.couplings.push(coupling);
      const flowK = new Chain([conv, new Invert(coupling)]);
      steps.push(emitted === 0 ? flowK : new Blockwise([new Identity(), flowK], [emitted, ch]));
    }
    this.flow = this.addModule('flow', new Chain(steps));
    this.predictor = c.predictor ? this.addModule('predictor', melPitchPredictor(c.n_mel_channels, this.hop, c.predictor, seed)) : null;
    // Not a module: no parameters, the same recursion as the predictor's, fed coefficients directly.
    this.recursion = this.predictor ? new LongTermPredictor(new ContextCoefficients(), { minLag: this.predictor.minLag, frame: this.predictor.frame }) : null;
  }

  /** Conditioning for L samples: upsample (or take) the mel, crop to L, group as NVIDIA does. */
  conditioning(mel: tf.Tensor3D, length: number): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, nMel] = mel.shape;
      const g = this.config.n_group;
      if (nMel !== this.config.n_mel_channels) throw new Error(`mel has ${nMel} channels, the model expects ${this.config.n_mel_channels}`);
      if (length % g !== 0) throw new Error(`audio length ${length} is not a multiple of n_group ${g}`);
      const n = length / g;
      if (!this.upsample) {
        const per = this.hop / g;
        const frames = Math.ceil(n / per);
        if (t < frames) throw new Error(`${t} mel frames cannot condition ${length} samples (needs ${frames})`);
        const m = tf.slice(mel, [0, 0, 0], [b, frames, nMel]);
        if (per === 1) return m;
        // Frame f conditions groups f·per … f·per + per − 1.
        const rep = tf.reshape(tf.tile(tf.expandDims(m, 2), [1, 1, per, 1]), [b, frames * per, nMel]) as tf.Tensor3D;
        return tf.slice(rep, [0, 0, 0], [b, n, nMel]);
      }
      const up = this.upsample.apply(mel);
      if (up.shape[1] < length) throw new Error(`${t} mel frames upsample to ${up.shape[1]} samples, fewer than ${length}`);
      const cropped = tf.slice(up, [0, 0, 0], [b, length, nMel]);
      // [B, n, g, mel] → [B, n, mel, g]: channel index c·g + j, as NVIDIA's unfold/permute.
      return tf.reshape(tf.transpose(tf.reshape(cropped, [b, n, g, nMel]), [0, 1, 3, 2]), [b, n, nMel * g]) as tf.Tensor3D;
    });
  }

  /** Audio [B, L] → latent and log-det (NVIDIA's forward; with a predictor, of its residual, whose log-det is 0). */
  inverse(audio: tf.Tensor2D, mel: tf.Tensor3D): Likelihood {
    return tf.tidy(() => {
      const spect = this.conditioning(mel, audio.shape[1]);
      const residual = this.predictor ? this.predictor.inverse(audio, mel) : audio;
      const [z, logDet] = this.flow.inverseAndLogDet(residual, spect);
      return { z: z as tf.Tensor3D, logDet: logDet as tf.Tensor1D };
    }) as Likelihood;
  }

  /** log p(audio | mel) per example, in nats, with the base N(0, σ²). */
  logProb(audio: tf.Tensor2D, mel: tf.Tensor3D, sigma = 1): tf.Tensor1D {
    return tf.tidy(() => {
      const { z, logDet } = this.inverse(audio, mel);
      return tf.add(new StandardNormal([], sigma).logProb(z), logDet) as tf.Tensor1D;
    });
  }

  /** NVIDIA's WaveGlowLoss: [Σ z²/(2σ²) − Σ log s − Σ log|det W|] / N over the whole batch (no Gaussian constant). */
  loss(audio: tf.Tensor2D, mel: tf.Tensor3D, sigma = 1): tf.Scalar {
    return tf.tidy(() => {
      const { z, logDet } = this.inverse(audio, mel);
      const total = tf.sub(tf.div(tf.sum(tf.square(z)), 2 * sigma * sigma), tf.sum(logDet));
      return tf.div(total, z.size) as tf.Scalar;
    });
  }

  /** Exact negative log-likelihood per audio sample in nats: loss + ½ log(2πσ²). */
  static nllPerSample(loss: number, sigma = 1): number {
    return loss + 0.5 * Math.log(2 * Math.PI * sigma * sigma);
  }

  /**
   * Parameter names that a float16 model file keeps in float32: the 1x1 convolutions' W. The flow
   * inverts them and takes their log-determinants, which amplify rounding: on the default voice,
   * rounding only these 8 matrices to half precision cost 0.036 nats/sample of validation NLL,
   * rounding all the other parameters less than 0.0001 (docs/recipe-variants.md, follow-up 18).
   */
  precisionSensitive(): Set<string> {
    const convVars = new Set(this.convs.flatMap((c) => c.trainableVariables()));
    return new Set(this.namedParameters().filter(([, v]) => convVars.has(v)).map(([n]) => n));
  }

  /** Number of audio samples `frames` mel frames synthesise (NVIDIA's infer: T·hop). */
  samplesFor(frames: number): number {
    return frames * this.hop;
  }

  /**
   * A sample of `length` samples from the flow given the mel, differentiable in every parameter
   * (the 1x1 convolutions' W⁻¹ included): what an auxiliary loss on generated audio trains through.
   * Latent σ·N(0, I) from `seed`.
   */
  sampleForTraining(mel: tf.Tensor3D, length: number, opts: { sigma?: number; seed?: number } = {}): tf.Tensor2D {
    for (const c of this.convs) c.generativeGradient = true;
    try {
      return this.generate(mel, length, opts);
    } finally {
      for (const c of this.convs) c.generativeGradient = false;
    }
  }

  /**
   * Mel [B, T, n_mel] → audio [B, T·hop] (NVIDIA's infer). The latent is `z` [B, T·hop/g, g] if
   * given (already scaled), else σ·N(0, I) from `seed` (times `latentScale` per level). One parallel pass over time.
   */
  synthesize(mel: tf.Tensor3D, opts: { sigma?: number; z?: tf.Tensor3D; seed?: number } = {}): tf.Tensor2D {
    return this.generate(mel, this.samplesFor(mel.shape[1]), opts);
  }

  /**
   * z's channel range [start, end) per level: one per early output, in the order they leave the flow
   * (fewest flows first), then the channels that pass through every flow.
   */
  latentLevels(): Array<[number, number]> {
    return latentLevelsOf(this.config);
  }

  /** Per-level multipliers of σ (`setLatentScale`); null: σ on every channel, as NVIDIA's infer. */
  get latentScale(): readonly number[] | null {
    return this.scale;
  }

  /**
   * Draw each level's part of the latent at σ·scale[level] instead of σ (one value per
   * `latentLevels()` entry; null restores σ everywhere). A decoding choice, like σ itself (Glow's
   * temperature, per level): the likelihood does not see it. `flowvox tune-latent` picks it
   * on held-out audio; a model directory keeps it in config.json's "synthesis".
   */
  setLatentScale(scale: readonly number[] | null): void {
    if (scale !== null) {
      const n = this.latentLevels().length;
      if (scale.length !== n) throw new Error(`latent scale needs ${n} values (one per latent level: ${this.config.n_flows} flows, an early output every ${this.config.n_early_every}), got ${scale.length}`);
      if (scale.some((v) => !Number.isFinite(v) || v < 0)) throw new Error(`latent scale values must be finite and ≥ 0, got [${scale.join(', ')}]`);
    }
    this.scale = scale === null || scale.every((v) => v === 1) ? null : [...scale];
  }

  private scale: number[] | null = null;

  /** The latent for `length` samples: σ·N(0, I) [b, length/g, g] from `seed`, each level times its scale. */
  drawLatent(b: number, length: number, sigma: number, seed?: number): tf.Tensor3D {
    return tf.tidy(() => {
      const g = this.config.n_group;
      const z = tf.randomNormal([b, length / g, g], 0, sigma, 'float32', tfSeed(seed)) as tf.Tensor3D;
      if (!this.scale) return z;
      const perChannel = new Float32Array(g);
      this.latentLevels().forEach(([from, to], l) => perChannel.fill(this.scale![l]!, from, to));
      return tf.mul(z, tf.tensor1d(perChannel)) as tf.Tensor3D;
    });
  }

  /** The pitch predictor's gain multiplier at synthesis (`setPitchEmphasis`); 1: the likelihood's. */
  get pitchEmphasis(): number {
    return this.emphasis;
  }

  /**
   * Synthesise with the pitch predictor's gain head pre-activation times `emphasis`
   * (`MelPitchConditioner.coefficients`). A decoding choice, like σ and the latent scale: the likelihood
   * (`inverse`, `logProb`, training) always uses 1. `flowvox tune-latent` picks it beside the latent scale;
   * a model directory keeps it in config.json's "synthesis". Models without a predictor take only 1.
   */
  setPitchEmphasis(emphasis: number): void {
    if (!(Number.isFinite(emphasis) && emphasis >= 0)) throw new Error(`pitch emphasis must be finite and ≥ 0, got ${emphasis}`);
    if (!this.predictor && emphasis !== 1) throw new Error('pitch emphasis needs a model with a pitch predictor');
    this.emphasis = emphasis;
  }

  private emphasis = 1;

  /** The synthesis recursion x = r + Σ a·x(past), fed `synthesisCoefficients` (null without a predictor). */
  readonly recursion: LongTermPredictor | null;

  /** The pitch predictor's coefficients for synthesis [B, frames, lags], at the pitch emphasis. */
  synthesisCoefficients(mel: tf.Tensor3D): tf.Tensor3D {
    if (!this.predictor) throw new Error('the model has no pitch predictor');
    return (this.predictor.conditioner as MelPitchConditioner).coefficients(mel, this.emphasis);
  }

  /** `length` samples from the flow given the mel: latent `z`, or `drawLatent` from σ and `seed`, then the forward pass. */
  private generate(mel: tf.Tensor3D, length: number, opts: { sigma?: number; z?: tf.Tensor3D; seed?: number }): tf.Tensor2D {
    return tf.tidy(() => {
      const b = mel.shape[0];
      const g = this.config.n_group;
      const z = opts.z ?? this.drawLatent(b, length, opts.sigma ?? 0.6, opts.seed);
      if (z.shape[1] * g !== length || z.shape[2] !== g) throw new Error(`latent must be [${b}, ${length / g}, ${g}], got [${z.shape}]`);
      const residual = this.flow.forward(z, this.conditioning(mel, length)) as tf.Tensor2D;
      return this.recursion ? (this.recursion.forward(residual, this.synthesisCoefficients(mel)) as tf.Tensor2D) : residual;
    });
  }
}

/** Channels that have left through early outputs before flow k: n_early_size at every n_early_every-th flow (k > 0), as NVIDIA's glow.py. */
function emittedBefore(c: WaveGlowConfig, k: number): number {
  return Math.floor(k / c.n_early_every) * c.n_early_size;
}

/** `WaveGlow.latentLevels` from the config alone (no tensors): early outputs in order, then the rest. */
export function latentLevelsOf(c: WaveGlowConfig): Array<[number, number]> {
  const levels: Array<[number, number]> = [];
  for (let k = 1; k < c.n_flows; k++) {
    const [from, to] = [emittedBefore(c, k - 1), emittedBefore(c, k)];
    if (to > from) levels.push([from, to]);
  }
  levels.push([emittedBefore(c, c.n_flows - 1), c.n_group]);
  return levels;
}
