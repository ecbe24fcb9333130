// What the pitch probes share (follow-up 18): the lag range, the framing and the pitch net's input, so
// that pitch-finetune.ts feeds the net exactly what pitch-net.ts trained it on.
/** Lags 48–368 samples: 60–460 Hz at 22.05 kHz; K coefficients per frame. */
export const LMIN = 48, LMAX = 368, K = LMAX - LMIN + 1;
/** Frames of 256 samples (the mel's hop) in training segments of 8192. */
export const HOP = 256, SEG = 8192, F = SEG / HOP;
/** The mel frames the net sees around frame f (samples f·HOP … f·HOP + HOP − 1). */
export const CTX = [-2, -1, 0, 1, 2, 3];
export const NET_INPUT = 80 * CTX.length;

/** The net's input for `nf` frames from `f0` of each of `b` log-mels [b, frames, 80] (edges repeated), scaled to about ±1. */
export function melInput(mel: Float32Array, b: number, frames: number, f0 = 0, nf = F): Float32Array {
  const out = new Float32Array(b * nf * NET_INPUT);
  let o = 0;
  for (let n = 0; n < b; n++) for (let f = f0; f < f0 + nf; f++) for (const c of CTX) {
    const j = Math.min(frames - 1, Math.max(0, f + c));
    for (let m = 0; m < 80; m++) out[o++] = (mel[(n * frames + j) * 80 + m]! + 5) / 3;
  }
  return out;
}
