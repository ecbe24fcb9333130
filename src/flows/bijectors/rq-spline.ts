/**
 * Monotonic rational-quadratic spline (Durkan et al. 2019, "Neural Spline Flows"; Gregory &
 * Delbourgo 1982), as nflows' `unconstrained_rational_quadratic_spline` with linear tails: a
 * pure function of the inputs and unnormalised bin widths, heights and knot derivatives.
 *
 * On [−B, B] there are K bins with knots (x_k, y_k), k = 0..K, x_0 = y_0 = −B, x_K = y_K = B and
 * positive knot derivatives d_k (d_0 = d_K = 1, so the spline joins the identity tails with a
 * continuous slope). In bin k, with w = x_{k+1} − x_k, h = y_{k+1} − y_k, δ = h / w,
 * θ = (x − x_k) / w ∈ [0, 1]:
 *   forward:   y = y_k + h (δθ² + d_k θ(1−θ)) / (δ + (d_k + d_{k+1} − 2δ) θ(1−θ))
 *   log|dy/dx| = log δ² (d_{k+1}θ² + 2δθ(1−θ) + d_k(1−θ)²) − 2 log(δ + (d_k + d_{k+1} − 2δ) θ(1−θ))
 *   inverse:   θ is the root in [0, 1] of aθ² + bθ + c = 0, with Δ = y − y_k, s = d_k + d_{k+1} − 2δ,
 *              a = h(δ − d_k) + Δs,  b = h d_k − Δs,  c = −δΔ,
 *              θ = 2c / (−b − √(b² − 4ac))   (the stable form; (−b + √(b² − 4ac)) / 2a when b < 0)
 *              x = x_k + θw,  log|dx/dy| = −(forward log-derivative at θ)
 * Outside [−B, B]: y = x, log-derivative 0.
 *
 * Parameterisation (nflows): widths = m_w + (1 − m_w K)·softmax(u_w) (fractions of 2B), same for
 * heights, interior d_k = m_d + softplus(u_d + c₀) with m_w = m_h = m_d = 1e-3 and
 * c₀ = log(e^{1−m_d} − 1), so m_d + softplus(c₀) = 1. nflows uses c₀ only as the padded boundary
 * parameter (d_0 = d_K = 1), so its zero parameters give interior slopes log 2 + m_d ≈ 0.69;
 * shifting the interior ones by c₀ as well (ours(u) = nflows(u + c₀)) makes all-zero parameters
 * the exact identity, so zero-initialised conditioners start as the identity.
 *
 * NaN safety: tfjs propagates NaN/Inf gradients from the unselected branch of a where (0·Inf =
 * NaN), so the spline branch only ever sees inputs clipped into [−B, B], every division has a
 * denominator bounded away from zero, and the two branches are blended with step() masks
 * (comparisons have no gradient in tfjs). Bins are selected by one-hot products, not gather.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ElementwiseTransformer } from './maf.js';
import { matMul } from '../../nn/matmul.js';
import { lastAxisMatMul } from './util.js';

export interface RQSplineOptions {
  /** Half-width B of the spline interval [−B, B]; identity outside. Default 3. */
  bound?: number;
  minBinWidth?: number;
  minBinHeight?: number;
  minDerivative?: number;
}

/** Unnormalised parameters per transformed scalar: K widths, K heights, K − 1 interior derivatives. */
export function rqSplineParamCount(bins: number): number {
  return 3 * bins - 1;
}

interface Resolved {
  bound: number;
  minW: number;
  minH: number;
  minD: number;
}

function resolve(o: RQSplineOptions): Resolved {
  const r = { bound: o.bound ?? 3, minW: o.minBinWidth ?? 1e-3, minH: o.minBinHeight ?? 1e-3, minD: o.minDerivative ?? 1e-3 };
  if (!(r.bound > 0)) throw new Error(`spline bound must be > 0, got ${r.bound}`);
  return r;
}

/** A constant rows × cols matrix with entries f(j, k). */
function matrix(rows: number, cols: number, f: (j: number, k: number) => number): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from({ length: rows * cols }, (_, i) => f(Math.floor(i / cols), i % cols)), [rows, cols]);
}

function row(n: number, f: (k: number) => number): tf.Tensor1D {
  return tf.tensor1d(Float32Array.from({ length: n }, (_, k) => f(k)));
}

/**
 * t[..., from : from + n] as a product with a 0/1 selection matrix (exact): tfjs-cpu slices a
 * non-leading axis element by element (11 of 12 columns of [1024, 1, 12]: 14 ms, this 1.1 ms).
 */
export function lastColumns(t: tf.Tensor, from: number, n: number): tf.Tensor {
  return lastAxisMatMul(t, matrix(t.shape[t.rank - 1]!, n, (j, k) => (j === k + from ? 1 : 0)));
}

/**
 * Per-bin tables, each [...P, K] (P = the parameters' leading shape): bin k spans
 * [xLeft_k, xRight_k] → [yLeft_k, yRight_k] with end derivatives dLeft_k, dRight_k.
 */
export interface RQSplineBins {
  xLeft: tf.Tensor;
  xRight: tf.Tensor;
  yLeft: tf.Tensor;
  yRight: tf.Tensor;
  dLeft: tf.Tensor;
  dRight: tf.Tensor;
}

/** Bin edges from fractions p [..., K]: left_k = −B + 2B·Σ_{j<k} p_j, right_k = left_{k+1}, right_{K−1} = B. */
function binEdges(p: tf.Tensor, bound: number): [tf.Tensor, tf.Tensor] {
  const K = p.shape[p.rank - 1]!;
  // Prefix sums as a matmul (differentiable, fast gradient); left_0 = −B exactly (an empty sum).
  const left = tf.add(tf.mul(lastAxisMatMul(p, matrix(K, K, (j, k) => (j < k ? 1 : 0))), 2 * bound), -bound);
  // right_k is left_{k+1} copied by a 0/1 matmul, so neighbouring bins share their edge bit for
  // bit and the bin search can never fall between them.
  const right = tf.add(lastAxisMatMul(left, matrix(K, K, (j, k) => (j === k + 1 ? 1 : 0))), row(K, (k) => (k === K - 1 ? bound : 0)));
  return [left, right];
}

/** The spline's bins for the given unnormalised parameters (exposed for tests and plots). */
export function rqSplineBins(
  unnormalizedWidths: tf.Tensor,
  unnormalizedHeights: tf.Tensor,
  unnormalizedDerivatives: tf.Tensor,
  opts: RQSplineOptions = {},
): RQSplineBins {
  const o = resolve(opts);
  const K = unnormalizedWidths.shape[unnormalizedWidths.rank - 1]!;
  if (K < 2) throw new Error(`a rational-quadratic spline needs at least 2 bins, got ${K}`);
  if (unnormalizedHeights.shape[unnormalizedHeights.rank - 1] !== K || unnormalizedDerivatives.shape[unnormalizedDerivatives.rank - 1] !== K - 1) {
    throw new Error(`spline parameters need last axes K, K, K−1; got [${unnormalizedWidths.shape}], [${unnormalizedHeights.shape}], [${unnormalizedDerivatives.shape}]`);
  }
  if (o.minW * K >= 1 || o.minH * K >= 1) throw new Error(`minimal bin width/height × ${K} bins must be < 1`);
  return tf.tidy(() => {
    const frac = (u: tf.Tensor, m: number) => tf.add(tf.mul(tf.softmax(u), 1 - m * K), m);
    const [xLeft, xRight] = binEdges(frac(unnormalizedWidths, o.minW), o.bound);
    const [yLeft, yRight] = binEdges(frac(unnormalizedHeights, o.minH), o.bound);
    const c0 = Math.log(Math.expm1(1 - o.minD));
    const inner = tf.add(tf.softplus(tf.add(unnormalizedDerivatives, c0)), o.minD); // d_1 … d_{K−1}
    // d_0 = d_K = 1: slopes match the identity tails.
    const dLeft = tf.add(lastAxisMatMul(inner, matrix(K - 1, K, (j, k) => (k === j + 1 ? 1 : 0))), row(K, (k) => (k === 0 ? 1 : 0)));
    const dRight = tf.add(lastAxisMatMul(inner, matrix(K - 1, K, (j, k) => (k === j ? 1 : 0))), row(K, (k) => (k === K - 1 ? 1 : 0)));
    return { xLeft, xRight, yLeft, yRight, dLeft, dRight };
  });
}

/**
 * A table [...P, K] laid out as [...S, K] for inputs of shape S: as is when P = S, or repeated
 * over S's leading axes when P is a suffix of S (per-feature parameters shared by the batch) —
 * by a ones-matmul, whose gradient is a matmul too (broadcasting ops are slow on tfjs-cpu).
 */
function alignTo(table: tf.Tensor, S: number[]): tf.Tensor {
  const Pshape = table.shape.slice(0, -1);
  if (tf.util.arraysEqual(Pshape, S)) return table;
  const lead = S.length - Pshape.length;
  if (lead < 0 || !tf.util.arraysEqual(S.slice(lead), Pshape)) {
    throw new Error(`spline parameters [${table.shape.slice(0, -1)}, K] do not match inputs [${S}]: need the inputs' shape or a suffix of it`);
  }
  const n = S.slice(0, lead).reduce((a, b) => a * b, 1);
  return tf.reshape(matMul(tf.ones([n, 1]), tf.reshape(table, [1, -1]) as tf.Tensor2D), [...S, table.shape[table.rank - 1]!]);
}

/** Per-element quantities of the selected bin, each shaped like the inputs. */
interface Bin {
  x0: tf.Tensor;
  w: tf.Tensor;
  y0: tf.Tensor;
  h: tf.Tensor;
  delta: tf.Tensor;
  d0: tf.Tensor;
  d1: tf.Tensor;
}

/**
 * Selects, for each v ∈ [−B, B], the bin with left ≤ v < right (the first bin also takes v below
 * its left edge, the last v = B) as a one-hot [..., K] built from step() — comparisons have no
 * gradient in tfjs, and gather none on wasm — then reads every table at it with a product.
 */
function selectBin(v: tf.Tensor, t: RQSplineBins, inverse: boolean): Bin {
  const K = t.xLeft.shape[t.xLeft.rank - 1]!;
  const S = v.shape;
  const vK = lastAxisMatMul(tf.expandDims(v, -1), tf.ones([1, K]) as tf.Tensor2D); // v repeated over the K bins
  const [left, right] = inverse ? [t.yLeft, t.yRight] : [t.xLeft, t.xRight];
  const geLeft = tf.sub(1, tf.mul(tf.step(tf.sub(left, vK)), row(K, (k) => (k === 0 ? 0 : 1)))); // v ≥ left (always, k = 0)
  const ltRight = tf.sub(1, tf.mul(tf.sub(1, tf.step(tf.sub(right, vK))), row(K, (k) => (k === K - 1 ? 0 : 1)))); // v < right (always, k = K−1)
  const onehot = tf.mul(geLeft, ltRight);
  const ones = tf.ones([K, 1]) as tf.Tensor2D;
  const pick = (table: tf.Tensor) => tf.reshape(lastAxisMatMul(tf.mul(onehot, table), ones), S);
  const w = pick(tf.sub(t.xRight, t.xLeft));
  const h = pick(tf.sub(t.yRight, t.yLeft));
  return { x0: pick(t.xLeft), w, y0: pick(t.yLeft), h, delta: tf.div(h, w), d0: pick(t.dLeft), d1: pick(t.dRight) };
}

/**
 * log dy/dx at θ ∈ [0, 1]: 2 log δ + log(d₁θ² + 2δθ(1−θ) + d₀(1−θ)²) − 2 log(denominator). The
 * denominator δ + (d₀ + d₁ − 2δ)θ(1−θ) is written as δ(θ² + (1−θ)²) + (d₀ + d₁)θ(1−θ): a sum of
 * non-negative terms, so rounding cannot make it cross zero.
 */
function logDerivative(b: Bin, theta: tf.Tensor): { logDeriv: tf.Tensor; denominator: tf.Tensor } {
  const omt = tf.sub(1, theta);
  const t1 = tf.mul(theta, omt);
  const sq = tf.add(tf.square(theta), tf.square(omt));
  const denominator = tf.add(tf.mul(b.delta, sq), tf.mul(tf.add(b.d0, b.d1), t1));
  const numer = tf.add(tf.add(tf.mul(b.d1, tf.square(theta)), tf.mul(tf.mul(b.delta, t1), 2)), tf.mul(b.d0, tf.square(omt)));
  const logDeriv = tf.sub(tf.add(tf.mul(tf.log(b.delta), 2), tf.log(numer)), tf.mul(tf.log(denominator), 2));
  return { logDeriv, denominator };
}

/** Forward inside the interval; x must already lie in [−B, B]. */
function splineForward(x: tf.Tensor, t: RQSplineBins): [tf.Tensor, tf.Tensor] {
  const b = selectBin(x, t, false);
  const theta = tf.clipByValue(tf.div(tf.sub(x, b.x0), b.w), 0, 1);
  const { logDeriv, denominator } = logDerivative(b, theta);
  const numer = tf.mul(b.h, tf.add(tf.mul(b.delta, tf.square(theta)), tf.mul(b.d0, tf.mul(theta, tf.sub(1, theta)))));
  return [tf.add(b.y0, tf.div(numer, denominator)), logDeriv];
}

// Floors that only bind where rounding has already destroyed the true value; chosen so that
// 1/floor² stays finite in float32 (the unselected branch's gradient is multiplied by 0, and
// 0·finite = 0, whereas 0·Inf = NaN).
const DISC_FLOOR = 1e-20;
const A_FLOOR = 1e-12;

/** Inverse inside the interval; y must already lie in [−B, B]. */
function splineInverse(y: tf.Tensor, t: RQSplineBins): [tf.Tensor, tf.Tensor] {
  const b = selectBin(y, t, true);
  const dy = tf.relu(tf.sub(y, b.y0)); // Δ ≥ 0 (the bin search guarantees it up to rounding)
  const s = tf.sub(tf.add(b.d0, b.d1), tf.mul(b.delta, 2));
  const a = tf.add(tf.mul(b.h, tf.sub(b.delta, b.d0)), tf.mul(dy, s));
  const bq = tf.sub(tf.mul(b.h, b.d0), tf.mul(dy, s));
  const c = tf.neg(tf.mul(b.delta, dy));
  const sqrtDisc = tf.sqrt(tf.maximum(tf.sub(tf.square(bq), tf.mul(tf.mul(a, c), 4)), DISC_FLOOR));
  const absB = tf.abs(bq);
  // Both forms avoid cancellation in their own half (b ≥ 0 | b < 0) and are finite everywhere.
  const rootPos = tf.div(tf.mul(c, 2), tf.neg(tf.add(absB, sqrtDisc))); // 2c / (−b − √disc)
  const rootNeg = tf.div(tf.add(absB, sqrtDisc), tf.mul(tf.maximum(a, A_FLOOR), 2)); // (−b + √disc) / 2a; b < 0 ⇒ a > hδ > 0
  const bNonNeg = tf.sub(1, tf.step(tf.neg(bq)));
  const theta = tf.clipByValue(tf.add(tf.mul(bNonNeg, rootPos), tf.mul(tf.sub(1, bNonNeg), rootNeg)), 0, 1);
  const { logDeriv } = logDerivative(b, theta);
  return [tf.add(b.x0, tf.mul(theta, b.w)), tf.neg(logDeriv)];
}

/**
 * The spline with identity tails (nflows' `unconstrained_rational_quadratic_spline`, tails='linear').
 * inputs [...S]; parameters [...P, K], [...P, K], [...P, K − 1] with P = S (one spline per
 * element) or a suffix of S (per-feature splines shared over the leading axes). Returns the
 * outputs and the elementwise log|derivative| of the direction computed, both of shape S.
 */
export function rationalQuadraticSpline(
  inputs: tf.Tensor,
  unnormalizedWidths: tf.Tensor,
  unnormalizedHeights: tf.Tensor,
  unnormalizedDerivatives: tf.Tensor,
  inverse = false,
  opts: RQSplineOptions = {},
): [tf.Tensor, tf.Tensor] {
  const B = resolve(opts).bound;
  return tf.tidy(() => {
    const S = inputs.shape;
    const raw = rqSplineBins(unnormalizedWidths, unnormalizedHeights, unnormalizedDerivatives, opts);
    const bins: RQSplineBins = {
      xLeft: alignTo(raw.xLeft, S), xRight: alignTo(raw.xRight, S), yLeft: alignTo(raw.yLeft, S),
      yRight: alignTo(raw.yRight, S), dLeft: alignTo(raw.dLeft, S), dRight: alignTo(raw.dRight, S),
    };
    const inside = tf.sub(1, tf.step(tf.sub(tf.abs(inputs), B))); // 1 on [−B, B]
    // Double where: the spline only ever sees inputs clipped into the interval.
    const clipped = tf.clipByValue(inputs, -B, B);
    const [out, logDeriv] = inverse ? splineInverse(clipped, bins) : splineForward(clipped, bins);
    const outputs = tf.add(tf.mul(inside, out), tf.mul(tf.sub(1, inside), inputs));
    return [outputs, tf.mul(inside, logDeriv)];
  });
}

/** Splits per-scalar parameters θ [..., 3K − 1] into (widths, heights, derivatives), nflows' order. */
export function splitSplineParams(theta: tf.Tensor, bins: number): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const P = theta.shape[theta.rank - 1]!;
  if (P !== rqSplineParamCount(bins)) throw new Error(`spline with ${bins} bins needs ${rqSplineParamCount(bins)} parameters per scalar, got ${P}`);
  return [lastColumns(theta, 0, bins), lastColumns(theta, bins, bins), lastColumns(theta, 2 * bins, bins - 1)];
}

/**
 * The spline as an elementwise transformer for coupling and autoregressive flows: θ [..., D, 3K − 1]
 * holds (widths, heights, derivatives) per scalar. Zero θ is the identity.
 */
export function rqSplineTransformer(bins: number, opts: RQSplineOptions = {}): ElementwiseTransformer {
  resolve(opts);
  const run = (v: tf.Tensor, theta: tf.Tensor, inverse: boolean): [tf.Tensor, tf.Tensor] =>
    tf.tidy(() => {
      const [w, h, d] = splitSplineParams(theta, bins);
      return rationalQuadraticSpline(v, w, h, d, inverse, opts);
    });
  return {
    paramsPerDim: rqSplineParamCount(bins),
    forward: (z, theta) => run(z, theta, false),
    inverse: (x, theta) => run(x, theta, true),
  };
}
