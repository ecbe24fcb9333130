import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, asModule, type Bijector, type Context } from '../bijector.js';
import type { Conditioner } from '../../nn/conditioner.js';
import { SeedStream } from '../../util/random.js';
import { AffineCoupling, type AffineCouplingOptions } from './affine-coupling.js';
import { Squeeze2D } from './squeeze2d.js';

export interface SplitOptions extends AffineCouplingOptions {
  /** Channels kept for the next level; the other C − keep are factored out. Default ⌈C/2⌉. */
  keep?: number;
  /**
   * Glow's learned split prior: a network from the kept channels to [mean, log-scale] of the
   * factored ones (2·(C − keep) outputs, mean first). Absent: the factored part is N(0, I)
   * (RealNVP). Zero-initialise its last layer to start from the standard normal.
   */
  prior?: Conditioner;
}

/**
 * The prior of a multiscale factor-out (RealNVP, Dinh et al. 2017; Glow), on [batch, ..., C] split
 * into kept x₁ (first `keep` channels) and factored x₂. Glow's x₂ ~ N(μ(x₁), σ(x₁)²) is written
 * as x₂ = μ + σ ⊙ ε with ε standard normal, i.e. an affine coupling:
 *   forward:  x₂ = μ(x₁) + exp(log σ(x₁)) ⊙ ε        log|det| = Σ log σ
 *   inverse:  ε = (x₂ − μ(x₁)) ⊙ exp(−log σ(x₁))      log|det| = −Σ log σ
 * so log N(ε; 0, I) − Σ log σ = log N(x₂; μ, σ²): the prior's log-prob enters through the log-det,
 * and the factored latent ε is standard normal like the rest. Without a prior it is the identity.
 * `MultiscaleFlow` routes ε to the latent and continues with x₁ only.
 */
export class Split extends BaseBijector {
  readonly name = 'Split';
  readonly keep: number;
  private readonly coupling: AffineCoupling | null;

  constructor(readonly channels: number, opts: SplitOptions = {}) {
    super();
    this.keep = opts.keep ?? Math.ceil(channels / 2);
    if (!(this.keep >= 1 && this.keep < channels)) throw new Error(`Split keeps 1..${channels - 1} of ${channels} channels, got keep = ${this.keep}`);
    this.coupling = opts.prior ? this.addModule('prior', new AffineCoupling({ split: this.keep }, opts.prior, opts)) : null;
  }

  get factored(): number {
    return this.channels - this.keep;
  }

  private check(t: tf.Tensor): void {
    if (t.shape[t.rank - 1] !== this.channels) throw new Error(`Split expects ${this.channels} channels, got [${t.shape}]`);
  }

  forwardAndLogDet(z: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    this.check(z);
    return this.coupling ? this.coupling.forwardAndLogDet(z, context) : [tf.clone(z), tf.zeros([z.shape[0]])];
  }

  inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    this.check(x);
    return this.coupling ? this.coupling.inverseAndLogDet(x, context) : [tf.clone(x), tf.zeros([x.shape[0]])];
  }
}

export interface MultiscaleLevel {
  /** Space-to-depth factor applied first (normalizing direction); 1 for none. Default 2. */
  squeeze?: number;
  /** The level's steps: any shape-preserving bijector (Glow: K × Chain([ActNorm, 1x1 conv, coupling])). */
  flow: Bijector;
  /** Factor out channels after the steps (usually every level but the last). */
  split?: Split;
}

export interface LatentSampleOptions {
  /** One temperature for all latent parts, or one per part (`latentShapes` order). Default 1. */
  temperature?: number | number[];
  seed?: number;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * A multiscale flow (RealNVP's multiscale architecture, Glow's L levels; seed 000 "Multiscale
 * flows") as one bijector between a flat latent z [batch, D] and data [batch, ...inputShape].
 * Normalizing direction, per level: squeeze → flow → split: the factored channels (already
 * Gaussianised by the Split's prior) go to the latent and later levels only see the kept ones:
 *   inverse:  x → [ε₁ (level 1's factored part), ε₂, …, z_L (last level's output)], flattened
 *             and concatenated; log|det| = Σ levels (flow + split prior)
 *   forward:  the reverse, unflattening z by `latentShapes`
 * Every latent part is standard normal, so with D = `latentSize`
 *   new TransformedDistribution(new StandardNormal([D]), multiscale)
 * gives exact logProb(x) and sample(n, ctx, { temperature }) (Glow's temperature scales all
 * levels). `sampleLatent` draws with one temperature per level; `splitLatent`/`joinLatent`
 * convert between the flat z and per-level tensors. Cost: the levels' flows, on ever fewer
 * channels — the point of factoring out.
 */
export class MultiscaleFlow extends BaseBijector {
  readonly name = 'MultiscaleFlow';
  /** Event shape each level's flow acts on (after its squeeze). */
  readonly levelShapes: number[][] = [];
  /** Shapes of the latent parts: each split's factored channels in level order, then the last level's output. */
  readonly latentShapes: number[][] = [];
  readonly latentSize: number;
  private readonly squeezes: (Squeeze2D | null)[] = [];
  private readonly seeds = new SeedStream(0x5eed);

  constructor(readonly inputShape: number[], readonly levels: MultiscaleLevel[]) {
    super();
    if (levels.length === 0) throw new Error('MultiscaleFlow needs at least one level');
    let shape = [...inputShape];
    levels.forEach((lvl, i) => {
      const f = lvl.squeeze ?? 2;
      const sq = f > 1 ? new Squeeze2D(f) : null;
      if (sq) {
        if (shape.length !== 3) throw new Error(`level ${i}: squeezing needs an image event shape [H, W, C], got [${shape}]`);
        shape = sq.inverseEventShape(shape);
      }
      this.squeezes.push(sq);
      this.levelShapes.push(shape);
      this.addModule(`${i}.flow`, asModule(lvl.flow));
      if (lvl.split) {
        const c = shape[shape.length - 1];
        if (lvl.split.channels !== c) throw new Error(`level ${i}: its Split is for ${lvl.split.channels} channels but the level has ${c} (shape [${shape}])`);
        this.addModule(`${i}.split`, lvl.split);
        this.latentShapes.push([...shape.slice(0, -1), lvl.split.factored]);
        shape = [...shape.slice(0, -1), lvl.split.keep];
      }
    });
    this.latentShapes.push(shape);
    this.latentSize = this.latentShapes.reduce((s, sh) => s + sizeOf(sh), 0);
    if (this.latentSize !== sizeOf(inputShape)) throw new Error('MultiscaleFlow: latent size differs from the data size (internal error)');
  }

  /**
   * Glow's recipe: `levels` levels, each squeezing by `squeeze`; `make` gets the level's shape
   * (after the squeeze) and returns its flow and, for all but the last level, its Split.
   */
  static build(
    inputShape: number[],
    levels: number,
    make: (shape: number[], level: number, last: boolean) => { flow: Bijector; split?: Split },
    squeeze = 2,
  ): MultiscaleFlow {
    const specs: MultiscaleLevel[] = [];
    let shape = [...inputShape];
    for (let i = 0; i < levels; i++) {
      if (squeeze > 1) shape = new Squeeze2D(squeeze).inverseEventShape(shape);
      const spec = make(shape, i, i + 1 === levels);
      specs.push({ squeeze, ...spec });
      if (spec.split) shape = [...shape.slice(0, -1), spec.split.keep];
    }
    return new MultiscaleFlow(inputShape, specs);
  }

  inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    if (!sameShape(x.shape.slice(1), this.inputShape)) throw new Error(`MultiscaleFlow expects [batch, ${this.inputShape}], got [${x.shape}]`);
    return tf.tidy(() => {
      const batch = x.shape[0];
      let h = x;
      let logDet: tf.Tensor = tf.zeros([batch]);
      const parts: tf.Tensor[] = [];
      this.levels.forEach((lvl, i) => {
        const sq = this.squeezes[i];
        if (sq) h = sq.inverseAndLogDet(h)[0];
        const [y, ld] = lvl.flow.inverseAndLogDet(h, context);
        if (!sameShape(y.shape, h.shape)) throw new Error(`level ${i}: its flow changed the shape [${h.shape}] → [${y.shape}]; level flows must preserve it`);
        logDet = tf.add(logDet, ld);
        h = y;
        if (lvl.split) {
          const [e, lds] = lvl.split.inverseAndLogDet(h, context);
          logDet = tf.add(logDet, lds);
          const [kept, factored] = tf.split(e, [lvl.split.keep, lvl.split.factored], e.rank - 1);
          parts.push(factored);
          h = kept;
        }
      });
      parts.push(h);
      return [this.joinLatent(parts), logDet];
    });
  }

  forwardAndLogDet(z: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    if (z.rank !== 2 || z.shape[1] !== this.latentSize) throw new Error(`MultiscaleFlow expects a flat latent [batch, ${this.latentSize}], got [${z.shape}]`);
    return tf.tidy(() => {
      const parts = this.splitLatent(z);
      let h = parts[parts.length - 1];
      let next = parts.length - 2;
      let logDet: tf.Tensor = tf.zeros([z.shape[0]]);
      for (let i = this.levels.length - 1; i >= 0; i--) {
        const lvl = this.levels[i];
        if (lvl.split) {
          const [y, lds] = lvl.split.forwardAndLogDet(tf.concat([h, parts[next--]], h.rank - 1), context);
          logDet = tf.add(logDet, lds);
          h = y;
        }
        const [y, ld] = lvl.flow.forwardAndLogDet(h, context);
        logDet = tf.add(logDet, ld);
        h = y;
        const sq = this.squeezes[i];
        if (sq) h = sq.forwardAndLogDet(h)[0];
      }
      return [h, logDet];
    });
  }

  /** Flat latent [batch, D] → one tensor per part, [batch, ...latentShapes[i]]. */
  splitLatent(z: tf.Tensor): tf.Tensor[] {
    return tf.tidy(() => {
      const pieces = tf.split(z, this.latentShapes.map(sizeOf), 1);
      return pieces.map((p, i) => tf.reshape(p, [z.shape[0], ...this.latentShapes[i]]));
    });
  }

  /** Per-part latents (`latentShapes` order) → flat [batch, D]. */
  joinLatent(parts: tf.Tensor[]): tf.Tensor {
    if (parts.length !== this.latentShapes.length) throw new Error(`joinLatent needs ${this.latentShapes.length} parts, got ${parts.length}`);
    return tf.tidy(() => tf.concat(parts.map((p) => tf.reshape(p, [p.shape[0], -1])), 1));
  }

  /** n flat latents with each part drawn from N(0, T_i²). */
  sampleLatent(n: number, opts: LatentSampleOptions = {}): tf.Tensor {
    const t = opts.temperature ?? 1;
    const temps = Array.isArray(t) ? t : this.latentShapes.map(() => t);
    if (temps.length !== this.latentShapes.length) throw new Error(`sampleLatent needs ${this.latentShapes.length} temperatures, got ${temps.length}`);
    const seeds = opts.seed === undefined ? this.seeds : new SeedStream(opts.seed);
    return tf.tidy(() => this.joinLatent(this.latentShapes.map((s, i) => tf.randomNormal([n, ...s], 0, temps[i], 'float32', seeds.next()))));
  }
}
