import * as tf from '@tensorflow/tfjs-core';
import { BaseBijector, type Context } from '../bijector.js';
import { Module } from '../module.js';

/** Maps the context to predictor coefficients [B, frames, lags] (one row per frame of samples). */
export interface PredictorConditioner extends Module {
  apply(context: tf.Tensor): tf.Tensor;
}

/** The context is the coefficients themselves, computed elsewhere (no parameters). */
export class ContextCoefficients extends Module implements PredictorConditioner {
  apply(context: tf.Tensor): tf.Tensor {
    return tf.clone(context);
  }
}

export interface LongTermPredictorOptions {
  /** Shortest lag L₀ ≥ 1, in samples; coefficient k acts at lag L₀ + k. */
  minLag: number;
  /** Samples per frame: sample t uses the coefficients of frame ⌊t / frame⌋. */
  frame: number;
}

/**
 * Long-term (pitch) prediction, as speech codecs' adaptive codebook (Atal 1982): each sample is
 * predicted from the signal one or more pitch periods back, with coefficients per frame from the
 * conditioner (e.g. a net that reads the pitch from a mel spectrogram). On [B, T] signals:
 *   forward  (generative):  x_t = z_t + Σ_k a_{f(t),k} · x_{t−L₀−k}     (a recursion: one pass over t)
 *   inverse  (normalizing): z_t = x_t − Σ_k a_{f(t),k} · x_{t−L₀−k}     (all t at once)
 * Samples before the start count as zeros. ∂z/∂x is lower triangular with a unit diagonal (every lag
 * is ≥ 1), so log|det| = 0 both ways. The forward recursion is stable when Σ_k |a_{f,k}| < 1.
 *
 * Both directions run on the host, by hand: the sums are B·T·K multiply-adds, which plain loops do
 * faster than K shifted tensors would, and the recursion has no tensor form at all. Both are
 * differentiable in their input and in a (tf.customGrad with the transposed sums; the forward's
 * adjoint is the same recursion run backwards in time).
 */
export class LongTermPredictor extends BaseBijector {
  readonly name = 'LongTermPredictor';
  readonly minLag: number;
  readonly frame: number;

  constructor(readonly conditioner: PredictorConditioner, opts: LongTermPredictorOptions) {
    super();
    if (!(Number.isInteger(opts.minLag) && opts.minLag >= 1)) throw new Error(`minLag must be an integer ≥ 1, got ${opts.minLag}`);
    if (!(Number.isInteger(opts.frame) && opts.frame >= 1)) throw new Error(`frame must be an integer ≥ 1, got ${opts.frame}`);
    this.minLag = opts.minLag;
    this.frame = opts.frame;
    this.addModule('net', conditioner);
  }

  /** The coefficients for a [B, T] signal: [B, ≥ ⌈T / frame⌉, K], checked. */
  coefficients(x: tf.Tensor, context?: Context): tf.Tensor3D {
    if (x.rank !== 2) throw new Error(`LongTermPredictor acts on [batch, time] signals, got shape [${x.shape}]`);
    if (context === undefined) throw new Error('LongTermPredictor needs a context to compute its coefficients from');
    const a = this.conditioner.apply(context);
    const [b, t] = x.shape as [number, number];
    const frames = Math.ceil(t / this.frame);
    if (a.rank !== 3 || a.shape[0] !== b || a.shape[1]! < frames || a.shape[2]! < 1) {
      const shape = a.shape;
      a.dispose();
      throw new Error(`predictor coefficients must be [${b}, ≥ ${frames}, lags], got [${shape}]`);
    }
    return a as tf.Tensor3D;
  }

  forwardAndLogDet(z: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const a = this.coefficients(z, context);
      const [b, t] = z.shape as [number, number];
      return [synthesis(z as tf.Tensor2D, a, this.geometry(b, t, a)), tf.zeros([b])];
    });
  }

  inverseAndLogDet(x: tf.Tensor, context?: Context): [tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const a = this.coefficients(x, context);
      const [b, t] = x.shape as [number, number];
      return [analysis(x as tf.Tensor2D, a, this.geometry(b, t, a)), tf.zeros([b])];
    });
  }

  private geometry(batch: number, length: number, a: tf.Tensor3D): Geometry {
    return { batch, length, frames: a.shape[1], lags: a.shape[2], minLag: this.minLag, frame: this.frame };
  }
}

interface Geometry {
  batch: number;
  length: number;
  /** Rows of the coefficient tensor per example (≥ the frames the signal spans). */
  frames: number;
  lags: number;
  minLag: number;
  frame: number;
}

/** x_t = z_t + Σ_k a_{f(t),k} x_{t−L₀−k}, one example after another. */
function synthesize(z: Float32Array, a: Float32Array, g: Geometry): Float32Array {
  const x = new Float32Array(z.length);
  for (let n = 0; n < g.batch; n++) {
    const o = n * g.length;
    for (let t = 0; t < g.length; t++) {
      const row = (n * g.frames + Math.floor(t / g.frame)) * g.lags;
      let s = z[o + t]!;
      const kMax = Math.min(g.lags, t - g.minLag + 1); // lags reaching back no further than the start
      for (let k = 0; k < kMax; k++) s += a[row + k]! * x[o + t - g.minLag - k]!;
      x[o + t] = s;
    }
  }
  return x;
}

/** z_t = x_t − Σ_k a_{f(t),k} x_{t−L₀−k}. */
function analyse(x: Float32Array, a: Float32Array, g: Geometry): Float32Array {
  const z = new Float32Array(x.length);
  for (let n = 0; n < g.batch; n++) {
    const o = n * g.length;
    for (let t = 0; t < g.length; t++) {
      const row = (n * g.frames + Math.floor(t / g.frame)) * g.lags;
      let s = x[o + t]!;
      const kMax = Math.min(g.lags, t - g.minLag + 1);
      for (let k = 0; k < kMax; k++) s -= a[row + k]! * x[o + t - g.minLag - k]!;
      z[o + t] = s;
    }
  }
  return z;
}

/**
 * The inverse's vector-Jacobian products, for dz = ∂loss/∂z:
 *   ∂loss/∂x_s = dz_s − Σ_k a_{f(s+L₀+k),k} · dz_{s+L₀+k}      ∂loss/∂a_{f,k} = −Σ_{t ∈ f} dz_t · x_{t−L₀−k}
 */
function analyseGrads(x: Float32Array, a: Float32Array, dz: Float32Array, g: Geometry): [Float32Array, Float32Array] {
  const dx = Float32Array.from(dz);
  const da = new Float32Array(a.length);
  for (let n = 0; n < g.batch; n++) {
    const o = n * g.length;
    for (let t = 0; t < g.length; t++) {
      const row = (n * g.frames + Math.floor(t / g.frame)) * g.lags;
      const d = dz[o + t]!;
      if (d === 0) continue;
      const kMax = Math.min(g.lags, t - g.minLag + 1);
      for (let k = 0; k < kMax; k++) {
        const s = o + t - g.minLag - k;
        dx[s] -= a[row + k]! * d;
        da[row + k] -= d * x[s]!;
      }
    }
  }
  return [dx, da];
}

/**
 * The forward's vector-Jacobian products, for dx = ∂loss/∂x: x = (I − A)⁻¹ z, so ∂loss/∂z = w = (I − A)⁻ᵀ dx,
 *   w_s = dx_s + Σ_k a_{f(s+L₀+k),k} · w_{s+L₀+k}   (backwards in time)      ∂loss/∂a_{f,k} = Σ_{t ∈ f} w_t · x_{t−L₀−k}
 */
function synthesizeGrads(x: Float32Array, a: Float32Array, dx: Float32Array, g: Geometry): [Float32Array, Float32Array] {
  const w = Float32Array.from(dx);
  const da = new Float32Array(a.length);
  for (let n = 0; n < g.batch; n++) {
    const o = n * g.length;
    for (let t = g.length - 1; t >= 0; t--) {
      const row = (n * g.frames + Math.floor(t / g.frame)) * g.lags;
      const d = w[o + t]!; // final: every later sample has already pushed its share back
      if (d === 0) continue;
      const kMax = Math.min(g.lags, t - g.minLag + 1);
      for (let k = 0; k < kMax; k++) {
        const s = o + t - g.minLag - k;
        w[s] += a[row + k]! * d;
        da[row + k] += d * x[s]!;
      }
    }
  }
  return [w, da];
}

type Kernel = (signal: Float32Array, a: Float32Array, g: Geometry) => Float32Array;
type Vjp = (x: Float32Array, a: Float32Array, dy: Float32Array, g: Geometry) => [Float32Array, Float32Array];

/**
 * `kernel` on (signal [B, T], a) as a tf op whose gradient is `vjp`. Both vector-Jacobian products above
 * need x, the time-domain signal: the forward's output (synthesis) or the inverse's input (analysis).
 */
function hostOp(kernel: Kernel, vjp: Vjp, xIs: 'output' | 'input', g: Geometry): (signal: tf.Tensor2D, a: tf.Tensor3D) => tf.Tensor2D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [signal, a, save] = args as [tf.Tensor2D, tf.Tensor3D, tf.GradSaveFunc];
    const out = tf.tensor2d(kernel(signal.dataSync() as Float32Array, a.dataSync() as Float32Array, g), signal.shape);
    save([xIs === 'output' ? out : signal, a]);
    return {
      value: out as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [x, coeffs] = saved as [tf.Tensor2D, tf.Tensor3D];
        const [dSignal, da] = vjp(x.dataSync() as Float32Array, coeffs.dataSync() as Float32Array, dy.dataSync() as Float32Array, g);
        return [tf.tensor(dSignal, x.shape), tf.tensor(da, coeffs.shape)];
      },
    };
  });
  return (signal, a) => op(signal, a) as tf.Tensor2D;
}

const synthesis = (z: tf.Tensor2D, a: tf.Tensor3D, g: Geometry) => hostOp(synthesize, synthesizeGrads, 'output', g)(z, a);
const analysis = (x: tf.Tensor2D, a: tf.Tensor3D, g: Geometry) => hostOp(analyse, analyseGrads, 'input', g)(x, a);
