/**
 * A simple background model for likelihood-ratio scores: a Gaussian autoregressive (LPC) model of
 * order p fitted to the segment itself. Its NLL measures how predictable — how *simple* — the
 * segment is, in the same units as the flow's NLL (nats per sample of a continuous density), like
 * the lossless-compressor complexity of Serrà et al. 2020 (FLAC is LPC + entropy coding).
 *
 *   x̂[n] = Σ_k a_k x[n−k]  (Levinson–Durbin on the autocorrelation)
 *   NLL  = ½ log(2π σ²) + ½,  σ² = mean (x − x̂)² + Δ²/12   (Δ = one 16-bit step: quantisation noise)
 *
 * score_lr = NLL_flow − NLL_background: silence and pure tones, which the flow "likes", are just as
 * easy for the background, so the ratio cancels their simplicity and keeps what the flow alone
 * finds unlikely.
 */

export const QUANT_VAR = (1 / 32768) ** 2 / 12;

/** LPC coefficients a[1..p] by Levinson–Durbin (a[0] = 1 implied); a near-singular r stops early. */
export function lpc(x: ArrayLike<number>, order: number): Float64Array {
  const n = x.length;
  const r = new Float64Array(order + 1);
  for (let k = 0; k <= order; k++) {
    let s = 0;
    for (let i = k; i < n; i++) s += x[i]! * x[i - k]!;
    r[k] = s;
  }
  r[0] = r[0]! * (1 + 1e-9) + n * QUANT_VAR; // white-noise floor keeps the recursion stable
  const a = new Float64Array(order + 1);
  let err = r[0]!;
  for (let i = 1; i <= order; i++) {
    let acc = r[i]!;
    for (let j = 1; j < i; j++) acc -= a[j]! * r[i - j]!;
    const k = acc / err;
    if (!Number.isFinite(k) || Math.abs(k) >= 1) break;
    const prev = a.slice();
    a[i] = k;
    for (let j = 1; j < i; j++) a[j] = prev[j]! - k * prev[i - j]!;
    err *= 1 - k * k;
  }
  return a.subarray(1);
}

/** NLL (nats/sample) of x under an order-p Gaussian AR model fitted to x (see the module comment). */
export function lpcNll(x: ArrayLike<number>, order = 16): number {
  const n = x.length;
  if (n <= order) throw new Error(`segment of ${n} samples is too short for LPC order ${order}`);
  const a = lpc(x, order);
  let e2 = 0;
  for (let i = order; i < n; i++) {
    let pred = 0;
    for (let k = 0; k < a.length; k++) pred += a[k]! * x[i - 1 - k]!;
    const e = x[i]! - pred;
    e2 += e * e;
  }
  const v = e2 / (n - order) + QUANT_VAR;
  return 0.5 * Math.log(2 * Math.PI * v) + 0.5;
}
