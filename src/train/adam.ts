import * as tf from '@tensorflow/tfjs-core';

/**
 * Adam (Kingma & Ba 2015) with global-norm gradient clipping.
 * Hand-written rather than tf.train.adam because we need a learning rate that changes every
 * step (schedules), optimizer state saved and restored by our parameter names (exact resume),
 * and the clip computed from all gradients at once.
 */
export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Clip the global L2 norm of all gradients to this value (off when undefined). */
  clipNorm?: number;
}

export class Adam {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly clipNorm?: number;
  /** Number of updates applied so far (bias correction uses it). */
  step = 0;
  /**
   * A parameter's rate as a multiple of the scheduled one (default 1), e.g. a new layer in a long
   * run whose rate has decayed: the vocoder's pitch predictor trains at 5e-5 beside a flow at 2.5e-6.
   */
  rateScale: ((name: string) => number) | null = null;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(opts: AdamOptions = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.epsilon = opts.epsilon ?? 1e-8;
    this.clipNorm = opts.clipNorm;
  }

  /** Global L2 norm of the gradients (a scalar tensor). */
  static globalNorm(grads: tf.Tensor[]): tf.Scalar {
    return tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
  }

  /** Applies one update; `gradNorm` is the norm before clipping. */
  apply(params: [string, tf.Variable][], grads: Map<string, tf.Tensor>, lr: number, gradNorm: number): void {
    this.step += 1;
    const t = this.step;
    const scale = this.clipNorm && gradNorm > this.clipNorm ? this.clipNorm / gradNorm : 1;
    const c1 = 1 - this.beta1 ** t;
    const c2 = 1 - this.beta2 ** t;
    for (const [name, p] of params) {
      const g0 = grads.get(name);
      if (!g0) continue;
      tf.tidy(() => {
        const g = scale === 1 ? g0 : tf.mul(g0, scale);
        const m = this.slot(this.m, name, p);
        const v = this.slot(this.v, name, p);
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.epsilon));
        p.assign(tf.sub(p, tf.mul(update, lr * (this.rateScale?.(name) ?? 1))));
      });
    }
  }

  private slot(map: Map<string, tf.Variable>, name: string, like: tf.Variable): tf.Variable {
    let s = map.get(name);
    if (!s) {
      s = tf.variable(tf.zerosLike(like), false);
      map.set(name, s);
    }
    return s;
  }

  /** Moment tensors by name (`adam.m.<param>`, `adam.v.<param>`), for checkpoints; `step` is separate. */
  state(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [n, t] of this.m) out.set(`adam.m.${n}`, t);
    for (const [n, t] of this.v) out.set(`adam.v.${n}`, t);
    return out;
  }

  /** Restores moments (keys as produced by `state()`) and the update count. */
  loadState(state: Map<string, tf.Tensor>, step: number): void {
    this.step = step;
    for (const [k, t] of state) {
      const match = /^adam\.(m|v)\.(.+)$/.exec(k);
      if (!match) continue;
      const map = match[1] === 'm' ? this.m : this.v;
      map.get(match[2])?.dispose();
      map.set(match[2], tf.variable(t.clone(), false));
    }
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
