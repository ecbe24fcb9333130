/**
 * Base distributions. Each has an event shape (everything after the batch axis), `logProb`
 * returning one value per example ([batch]) and seeded `sample`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import { sumEvent } from './bijector.js';
import { tfSeed } from '../util/random.js';

export interface SampleOptions {
  /** Scales the standard deviation (WaveGlow's sigma, Glow's temperature). Default 1. */
  temperature?: number;
  seed?: number;
}

export interface Distribution extends Module {
  readonly eventShape: number[];
  logProb(x: tf.Tensor): tf.Tensor;
  sample(n: number, opts?: SampleOptions): tf.Tensor;
}

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * N(0, σ² I) with σ = temperature (default 1). WaveGlow trains at σ = 1 and samples at σ ≈ 0.6;
 * logProb uses the σ it is given so likelihoods at a temperature are exact too.
 */
export class StandardNormal extends Module implements Distribution {
  constructor(readonly eventShape: number[], readonly temperature = 1) {
    super();
  }
  logProb(x: tf.Tensor, temperature = this.temperature): tf.Tensor {
    return tf.tidy(() => {
      const s = temperature;
      const quad = tf.div(tf.square(x), 2 * s * s);
      return tf.neg(sumEvent(tf.add(quad, HALF_LOG_2PI + Math.log(s))));
    });
  }
  sample(n: number, opts: SampleOptions = {}): tf.Tensor {
    return tf.randomNormal([n, ...this.eventShape], 0, opts.temperature ?? this.temperature, 'float32', tfSeed(opts.seed));
  }
}

/** N(μ, diag σ²) with learnable μ and log σ. */
export class DiagonalNormal extends Module implements Distribution {
  readonly loc: tf.Variable;
  readonly logScale: tf.Variable;
  constructor(readonly eventShape: number[], loc?: tf.Tensor, logScale?: tf.Tensor) {
    super();
    this.loc = this.addParameter('loc', loc ?? tf.zeros(eventShape));
    this.logScale = this.addParameter('logScale', logScale ?? tf.zeros(eventShape));
  }
  logProb(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const z = tf.mul(tf.sub(x, this.loc), tf.exp(tf.neg(this.logScale)));
      return tf.neg(sumEvent(tf.add(tf.add(tf.mul(tf.square(z), 0.5), this.logScale), HALF_LOG_2PI)));
    });
  }
  sample(n: number, opts: SampleOptions = {}): tf.Tensor {
    return tf.tidy(() => {
      const eps = tf.randomNormal([n, ...this.eventShape], 0, opts.temperature ?? 1, 'float32', tfSeed(opts.seed));
      return tf.add(tf.mul(eps, tf.exp(this.logScale)), this.loc);
    });
  }
}

/** Uniform on the box [low, high]^d; logProb is −∞ outside it. */
export class Uniform extends Module implements Distribution {
  private readonly logVolume: number;
  constructor(readonly eventShape: number[], readonly low = 0, readonly high = 1) {
    super();
    if (!(high > low)) throw new Error(`Uniform needs high > low, got [${low}, ${high}]`);
    const d = eventShape.reduce((a, b) => a * b, 1);
    this.logVolume = d * Math.log(high - low);
  }
  logProb(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const inside = tf.logicalAnd(tf.greaterEqual(x, this.low), tf.lessEqual(x, this.high));
      const axes = Array.from({ length: x.rank - 1 }, (_, i) => i + 1);
      const all = axes.length ? tf.all(inside, axes) : inside;
      return tf.where(all, tf.fill([x.shape[0]], -this.logVolume), tf.fill([x.shape[0]], -Infinity));
    });
  }
  sample(n: number, opts: SampleOptions = {}): tf.Tensor {
    return tf.randomUniform([n, ...this.eventShape], this.low, this.high, 'float32', tfSeed(opts.seed));
  }
}
