/**
 * Multi-resolution STFT loss (Parallel WaveGAN, Yamamoto et al. 2020) as differentiable tfjs ops,
 * for issue 5's auxiliary loss on audio sampled from the flow: per resolution
 *   SC  = ‖|S| − |Ŝ|‖_F / ‖|S|‖_F          (spectral convergence)
 *   LM  = mean |ln|S| − ln|Ŝ||               (log-magnitude L1)
 * averaged over resolutions, with |S| = sqrt(max(re² + im², 1e-7)) — the same terms and floor as
 * `multiResolutionStftDistance` in dsp/metrics.ts, which scores the card.
 *
 * Why by hand: tfjs' FFT has no gradient on any backend and no kernel at all on wasm, so the STFT is
 * a real DFT written as one matMul per resolution: frames [F, N] · [w·cos | −w·sin] [N, 2·(N/2+1)].
 * Frames are uncentred (no reflect padding: reflect-pad gradients are another gap, and the loss does
 * not need centring). With hop = N/r, all frames starting at multiples of the hop are r reshapes of
 * the signal shifted by 0, hop, …, (r−1)·hop; the loss is a sum over frames, so their order is moot.
 */
import * as tf from '@tensorflow/tfjs-core';
import { hannWindow } from '../dsp/window.js';
import { MR_STFT_RESOLUTIONS, type StftResolution } from '../dsp/metrics.js';

const POWER_FLOOR = 1e-7;

interface Plan {
  res: StftResolution;
  /** [N, 2·bins]: windowed cos then −sin columns. */
  basis: tf.Tensor2D;
  /** Its transpose, for the input gradient dA = dY·Bᵀ with untransposed (fast) matMuls. */
  basisT: tf.Tensor2D;
  /** frames [F, N] → [F, 2·bins], differentiable in the frames only (the basis is a constant). */
  dft: (frames: tf.Tensor2D) => tf.Tensor2D;
}

export class MultiResolutionStftLoss {
  private readonly plans: Plan[];

  constructor(readonly resolutions: readonly StftResolution[] = MR_STFT_RESOLUTIONS) {
    if (resolutions.length === 0) throw new Error('need at least one STFT resolution');
    this.plans = resolutions.map((res) => {
      const { nFft: n, hop, winLength } = res;
      if (winLength !== n) throw new Error(`winLength must equal nFft here, got ${winLength} vs ${n}`);
      if (!Number.isInteger(n / hop)) throw new Error(`hop ${hop} must divide nFft ${n}`);
      const bins = n / 2 + 1;
      const w = hannWindow(n);
      const b = new Float32Array(n * 2 * bins);
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < bins; k++) {
          // (i·k) mod n keeps the angle small, so cos/sin stay accurate in float64 for large n.
          const a = (2 * Math.PI * ((i * k) % n)) / n;
          b[i * 2 * bins + k] = w[i]! * Math.cos(a);
          b[i * 2 * bins + bins + k] = -w[i]! * Math.sin(a);
        }
      }
      const basis = tf.keep(tf.tensor2d(b, [n, 2 * bins]));
      const basisT = tf.keep(tf.transpose(basis));
      const dft = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
        value: tf.matMul(args[0] as tf.Tensor2D, basis),
        gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, basisT),
      })) as (frames: tf.Tensor2D) => tf.Tensor2D;
      return { res, basis, basisT, dft };
    });
  }

  /** Shortest signal every resolution can frame. */
  get minLength(): number {
    return Math.max(...this.resolutions.map((r) => r.nFft));
  }

  /** |STFT| of x [B, L] at one resolution: [frames, bins] over all examples (uncentred frames). */
  magnitude(x: tf.Tensor2D, index: number): tf.Tensor2D {
    const p = this.plans[index];
    if (!p) throw new Error(`no resolution ${index}`);
    return tf.tidy(() => {
      const [b, len] = x.shape;
      const { nFft: n, hop } = p.res;
      if (len < n) throw new Error(`signal of ${len} samples is shorter than the ${n}-point frame`);
      const parts: tf.Tensor2D[] = [];
      for (let start = 0; start < n && start + n <= len; start += hop) {
        const count = Math.floor((len - start) / n);
        parts.push(tf.reshape(tf.slice(x, [0, start], [b, count * n]), [b * count, n]) as tf.Tensor2D);
      }
      const frames = parts.length === 1 ? parts[0]! : (tf.concat(parts, 0) as tf.Tensor2D);
      const spec = p.dft(frames);
      const bins = n / 2 + 1;
      const [re, im] = tf.split(spec, [bins, bins], 1) as [tf.Tensor2D, tf.Tensor2D];
      return tf.sqrt(tf.maximum(tf.add(tf.square(re), tf.square(im)), POWER_FLOOR)) as tf.Tensor2D;
    });
  }

  /** Mean over resolutions of SC + LM between `reference` and `estimate` (both [B, L]); a scalar. */
  loss(reference: tf.Tensor2D, estimate: tf.Tensor2D): tf.Scalar {
    if (!tf.util.arraysEqual(reference.shape, estimate.shape)) throw new Error(`shapes differ: [${reference.shape}] vs [${estimate.shape}]`);
    return tf.tidy(() => {
      const terms = this.plans.map((_, i) => {
        const s = this.magnitude(reference, i);
        const e = this.magnitude(estimate, i);
        const sc = tf.div(tf.norm(tf.sub(s, e)), tf.norm(s));
        const lm = tf.mean(tf.abs(tf.sub(tf.log(s), tf.log(e))));
        return tf.add(sc, lm);
      });
      return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
    });
  }

  dispose(): void {
    for (const p of this.plans) tf.dispose([p.basis, p.basisT]);
  }
}
