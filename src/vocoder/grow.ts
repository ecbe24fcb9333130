/**
 * Function-preserving growth of a trained WaveGlow into one with wider and/or deeper WN networks
 * (Net2Net, Chen, Goodfellow & Shlens 2016, in its "zero the new outgoing weights" form), so a
 * long CPU run's capacity can be raised without starting over. Why: with n_group 256 each
 * coupling's shift t for 128 samples is a linear map of the WN's C-channel skip sum, so C bounds
 * the rank of the waveform shapes one coupling can add per frame.
 *
 * The grown model computes exactly the source's function (to float rounding): every new hidden
 * unit gets fresh random incoming weights, but its weights *into* old units, and the end conv's
 * rows for new skip channels, are zero; a new layer's res/skip conv is zero. Gradients on those
 * zero weights are not zero (the new units' activations are not), so the new capacity trains.
 * Everything outside the WNs (1x1 convolutions, upsampler) is copied unchanged. A pitch predictor
 * may be added too: its gain starts at 0, so it passes the audio through unchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import { WaveGlow, type WaveGlowConfig } from './waveglow.js';
import type { WN } from './wn.js';

/** Why `to` cannot be grown from `from`, or null when it can. */
export function growError(from: WaveGlowConfig, to: WaveGlowConfig): string | null {
  const keys = ['n_mel_channels', 'n_flows', 'n_group', 'n_early_every', 'n_early_size', 'hop_length', 'upsampler'] as const;
  for (const k of keys) if (from[k] !== to[k]) return `${k} differs (${String(from[k])} → ${String(to[k])}); only the WN's n_channels and n_layers can grow`;
  // learn_pitch says what training moves, not what the model computes.
  const shape = (p: WaveGlowConfig['predictor']) => (p ? JSON.stringify({ ...p, learn_pitch: undefined }) : undefined);
  if (from.predictor && shape(from.predictor) !== shape(to.predictor)) {
    return to.predictor ? 'the pitch predictor\'s settings differ' : 'the model has a pitch predictor, which cannot be removed';
  }
  const a = from.WN_config;
  const b = to.WN_config;
  if (a.kernel_size !== b.kernel_size) return `WN kernel_size differs (${a.kernel_size} → ${b.kernel_size})`;
  if (b.n_channels < a.n_channels || b.n_layers < a.n_layers) {
    return `the WN can only grow: n_channels ${a.n_channels} → ${b.n_channels}, n_layers ${a.n_layers} → ${b.n_layers}`;
  }
  return null;
}

/**
 * A new WaveGlow with `config` (seed for the new units' initialisation) that computes what `from`
 * computes. Throws if `config` changes anything but the WN's width and depth.
 */
export function growWaveGlow(from: WaveGlow, config: WaveGlowConfig, seed = 0): WaveGlow {
  const to = new WaveGlow(config, seed);
  growInto(from, to);
  return to;
}

/**
 * Makes `to`, a freshly initialised WaveGlow (its random init is what the new units keep), compute
 * what `from` computes. Throws if `to`'s config changes anything but the WN's width and depth.
 */
export function growInto(from: WaveGlow, to: WaveGlow): void {
  const why = growError(from.config, to.config);
  if (why) throw new Error(`cannot grow the model: ${why}`);
  const inWn = new Set(to.wns.flatMap((w) => w.namedParameters().map(([, v]) => v)));
  const source = new Map(from.namedParameters());
  for (const [name, v] of to.namedParameters()) {
    // A predictor new in `to` keeps its initialisation (gain 0: the identity).
    if (!inWn.has(v) && !(to.predictor && !from.predictor && name.startsWith('predictor.'))) v.assign(source.get(name)!);
  }
  from.wns.forEach((w, k) => growWN(w, to.wns[k]!));
}

/** Copies `src` into the (wider/deeper, freshly initialised) `dst` as described above. */
function growWN(src: WN, dst: WN): void {
  const { n_layers: L, n_channels: C } = src.cfg;
  const { n_layers: L2, n_channels: C2 } = dst.cfg;
  tf.tidy(() => {
    /**
     * `fresh` with the source's consecutive column blocks of `colWidth` moved to `colOffsets` (e.g.
     * the gated unit's [tanh C | sigmoid C] to [0, C2)) and zeros on the new rows of those columns.
     */
    const place = (fresh: tf.Tensor, old: tf.Tensor, rowAxis: number | null, colOffsets: number[], colWidth: number): tf.Tensor => {
      const rank = fresh.rank;
      const colAxis = rank - 1;
      let out = fresh;
      colOffsets.forEach((off, j) => {
        let block = tf.slice(old, Array(rank).fill(0).map((_, a) => (a === colAxis ? j * colWidth : 0)), old.shape.map((s, a) => (a === colAxis ? colWidth : s)));
        // Zeros on the new rows: new units must not reach old ones.
        if (rowAxis !== null && fresh.shape[rowAxis]! > old.shape[rowAxis]!) {
          const padding = fresh.shape.map((): [number, number] => [0, 0]);
          padding[rowAxis] = [0, fresh.shape[rowAxis]! - old.shape[rowAxis]!];
          block = tf.pad(block, padding);
        }
        const before = tf.slice(out, Array(rank).fill(0), out.shape.map((s, a) => (a === colAxis ? off : s)));
        const after = tf.slice(out, Array(rank).fill(0).map((_, a) => (a === colAxis ? off + colWidth : 0)), out.shape.map((s, a) => (a === colAxis ? s - off - colWidth : s)));
        out = tf.concat([before, block, after], colAxis);
      });
      return out;
    };
    const copy = (d: { w: tf.Variable; b: tf.Variable }, s: { w: tf.Variable; b: tf.Variable }, rowAxis: number | null, offsets: number[], width: number) => {
      d.w.assign(place(d.w, s.w, rowAxis, offsets, width));
      d.b.assign(place(d.b, s.b, null, offsets, width));
    };
    const gated = [0, C2];
    // start: nIn → C; the old channels first, the new ones keep their fresh init.
    copy(dst.start, src.start, null, [0], C);
    // cond: L blocks of [tanh C | sigmoid C] → L2 blocks of [tanh C2 | sigmoid C2].
    const condW = tf.split(dst.cond.w, L2, 1);
    const condB = tf.split(dst.cond.b, L2, 0);
    const srcW = tf.split(src.cond.w, L, 1);
    const srcB = tf.split(src.cond.b, L, 0);
    for (let i = 0; i < L; i++) {
      condW[i] = place(condW[i]!, srcW[i]!, null, gated, C);
      condB[i] = place(condB[i]!, srcB[i]!, null, gated, C);
    }
    dst.cond.w.assign(tf.concat(condW, 1));
    dst.cond.b.assign(tf.concat(condB, 0));
    for (let i = 0; i < L2; i++) {
      if (i >= L) {
        // A new layer adds nothing until its res/skip conv learns to.
        dst.resSkip[i]!.w.assign(tf.zerosLike(dst.resSkip[i]!.w));
        dst.resSkip[i]!.b.assign(tf.zerosLike(dst.resSkip[i]!.b));
        continue;
      }
      copy(dst.inLayers[i]!, src.inLayers[i]!, 1, gated, C);
      const srcLast = i === L - 1;
      const dstLast = i === L2 - 1;
      if (!srcLast) copy(dst.resSkip[i]!, src.resSkip[i]!, 0, [0, C2], C);
      else if (dstLast) copy(dst.resSkip[i]!, src.resSkip[i]!, 0, [0], C);
      else {
        // The source's last layer (skip only) becomes an inner one: its skip goes to the skip half;
        // its new res half only feeds the new layers, whose outputs start at zero.
        copy(dst.resSkip[i]!, src.resSkip[i]!, 0, [C2], C);
      }
    }
    // end: the new skip channels' rows are zero.
    dst.end.w.assign(tf.pad(src.end.w, [[0, C2 - C], [0, 0]]));
    dst.end.b.assign(src.end.b);
  });
}
