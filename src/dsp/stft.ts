/**
 * Short-time Fourier transform (forward, magnitude, inverse by weighted overlap-add), Float64.
 *
 * Framing follows torch.stft / librosa with center=True: the signal is reflect-padded by nFft/2 on
 * both sides and frame t covers padded[t·hop, t·hop + nFft), i.e. it is centred on sample t·hop;
 * there are ⌊L/hop⌋ + 1 frames. All spectrogram layouts are channels-last: data[frame·bins + k].
 */
import { realFFT, isPowerOfTwo, type RealFFT } from './fft.js';
import { hannWindow, padCenter } from './window.js';

export interface StftConfig {
  /** FFT size (power of two). */
  nFft: number;
  /** Hop between frames, in samples. */
  hop: number;
  /** Window length ≤ nFft (default nFft); a shorter window is zero-padded to the centre. */
  winLength?: number;
  /** Reflect-pad by nFft/2 so frames are centred on t·hop (default true). */
  center?: boolean;
  /** Custom analysis window of length winLength (default: periodic Hann). */
  window?: Float64Array;
}

/** Real spectrogram (e.g. magnitude), channels-last: data[frame·bins + k]. */
export interface Spectrogram {
  data: Float64Array;
  frames: number;
  bins: number;
}

/** Complex spectrogram, channels-last: re/im[frame·bins + k], bins = nFft/2 + 1. */
export interface ComplexSpectrogram {
  re: Float64Array;
  im: Float64Array;
  frames: number;
  bins: number;
}

/** Throws a clear error for NaN/Inf samples or a signal too short for the framing. */
export function checkSignal(signal: ArrayLike<number>, nFft: number, center = true): void {
  const n = signal.length;
  if (center) {
    const pad = nFft >> 1;
    if (n <= pad) {
      throw new Error(`signal has ${n} samples; centred STFT (reflect padding by ${pad}) needs more than ${pad}`);
    }
  } else if (n < nFft) {
    throw new Error(`signal has ${n} samples; an uncentred STFT needs at least nFft = ${nFft}`);
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(signal[i]!)) throw new Error(`signal contains ${signal[i]} at sample ${i}; NaN/Inf are not allowed`);
  }
}

/** Number of STFT frames for a signal of `length` samples. */
export function numFrames(length: number, cfg: StftConfig): number {
  return cfg.center === false ? Math.floor((length - cfg.nFft) / cfg.hop) + 1 : Math.floor(length / cfg.hop) + 1;
}

/** Reflect padding without repeating the edge sample (numpy/torch 'reflect'). */
export function reflectPad(signal: ArrayLike<number>, pad: number): Float64Array {
  const n = signal.length;
  if (pad >= n) throw new Error(`reflect padding by ${pad} needs more than ${pad} samples, got ${n}`);
  const out = new Float64Array(n + 2 * pad);
  for (let i = 0; i < n; i++) out[pad + i] = signal[i]!;
  for (let i = 1; i <= pad; i++) {
    out[pad - i] = signal[i]!;
    out[pad + n - 1 + i] = signal[n - 1 - i]!;
  }
  return out;
}

/**
 * A reusable STFT plan: window, FFT and scratch buffers for one configuration. Used directly by
 * iterative algorithms (Griffin-Lim) to avoid reallocating per iteration.
 */
export class StftPlan {
  readonly nFft: number;
  readonly hop: number;
  readonly bins: number;
  readonly center: boolean;
  /** Analysis/synthesis window, zero-padded to nFft. */
  readonly window: Float64Array;
  private readonly fft: RealFFT;
  private readonly frame: Float64Array;

  constructor(cfg: StftConfig) {
    const { nFft, hop } = cfg;
    if (!isPowerOfTwo(nFft) || nFft < 2) throw new Error(`nFft must be a power of two ≥ 2, got ${nFft}`);
    if (!Number.isInteger(hop) || hop < 1) throw new Error(`hop must be a positive integer, got ${hop}`);
    const winLength = cfg.winLength ?? nFft;
    if (!Number.isInteger(winLength) || winLength < 1 || winLength > nFft) {
      throw new Error(`winLength must be an integer in [1, nFft = ${nFft}], got ${winLength}`);
    }
    const win = cfg.window ?? hannWindow(winLength, true);
    if (win.length !== winLength) throw new Error(`window has length ${win.length}, expected winLength = ${winLength}`);
    this.nFft = nFft;
    this.hop = hop;
    this.bins = nFft / 2 + 1;
    this.center = cfg.center ?? true;
    this.window = padCenter(win, nFft);
    this.fft = realFFT(nFft);
    this.frame = new Float64Array(nFft);
  }

  frames(length: number): number {
    return numFrames(length, { nFft: this.nFft, hop: this.hop, center: this.center });
  }

  /** Forward STFT into preallocated re/im (frames·bins each). Returns the number of frames. */
  forwardInto(signal: ArrayLike<number>, re: Float64Array, im: Float64Array): number {
    const padded = this.center ? reflectPad(signal, this.nFft >> 1) : signal;
    const frames = Math.floor((padded.length - this.nFft) / this.hop) + 1;
    if (frames < 1) throw new Error(`signal has ${signal.length} samples, fewer than one frame of ${this.nFft}`);
    const { nFft, hop, bins, window, frame, fft } = this;
    const fr = new Float64Array(bins);
    const fi = new Float64Array(bins);
    for (let t = 0; t < frames; t++) {
      const off = t * hop;
      for (let n = 0; n < nFft; n++) frame[n] = padded[off + n]! * window[n]!;
      fft.forward(frame, fr, fi);
      re.set(fr, t * bins);
      im.set(fi, t * bins);
    }
    return frames;
  }

  forward(signal: ArrayLike<number>): ComplexSpectrogram {
    checkSignal(signal, this.nFft, this.center);
    const frames = this.frames(signal.length);
    const re = new Float64Array(frames * this.bins);
    const im = new Float64Array(frames * this.bins);
    this.forwardInto(signal, re, im);
    return { re, im, frames, bins: this.bins };
  }

  /** Σ_t w²[n − t·hop] over the (padded) output, the overlap-add normaliser. */
  windowSumSquare(frames: number): Float64Array {
    const total = this.nFft + this.hop * (frames - 1);
    const out = new Float64Array(total);
    for (let t = 0; t < frames; t++) {
      const off = t * this.hop;
      for (let n = 0; n < this.nFft; n++) out[off + n] += this.window[n]! * this.window[n]!;
    }
    return out;
  }

  /**
   * Inverse STFT by weighted overlap-add (librosa's istft): y = Σ_t w·irfft(X_t) / Σ_t w², dividing
   * only where the window sum is non-negligible, then the centre padding is trimmed. `out` receives
   * `length` samples (zero beyond the frames' reach). `wss` may be passed precomputed.
   */
  inverseInto(re: Float64Array, im: Float64Array, frames: number, out: Float64Array, wss?: Float64Array): void {
    const { nFft, hop, bins, window, frame, fft } = this;
    const total = nFft + hop * (frames - 1);
    const acc = new Float64Array(total);
    for (let t = 0; t < frames; t++) {
      fft.inverse(re.subarray(t * bins, (t + 1) * bins), im.subarray(t * bins, (t + 1) * bins), frame);
      const off = t * hop;
      for (let n = 0; n < nFft; n++) acc[off + n] += frame[n]! * window[n]!;
    }
    const norm = wss ?? this.windowSumSquare(frames);
    const start = this.center ? nFft >> 1 : 0;
    out.fill(0);
    const n = Math.min(out.length, total - start);
    for (let i = 0; i < n; i++) {
      const w = norm[start + i]!;
      out[i] = w > 1e-10 ? acc[start + i]! / w : acc[start + i]!;
    }
  }

  /** Default output length of the inverse: hop·(frames − 1) when centred, else nFft + hop·(frames − 1). */
  inverseLength(frames: number): number {
    return this.center ? this.hop * (frames - 1) : this.nFft + this.hop * (frames - 1);
  }
}

/** Complex STFT of a real signal. */
export function stft(signal: ArrayLike<number>, cfg: StftConfig): ComplexSpectrogram {
  return new StftPlan(cfg).forward(signal);
}

/** Magnitude |X| (not power) of the STFT, channels-last. Works for any power-of-two nFft. */
export function stftMagnitude(signal: ArrayLike<number>, cfg: StftConfig): Spectrogram {
  const { re, im, frames, bins } = stft(signal, cfg);
  const data = new Float64Array(frames * bins);
  for (let i = 0; i < data.length; i++) data[i] = Math.sqrt(re[i]! * re[i]! + im[i]! * im[i]!);
  return { data, frames, bins };
}

/**
 * Inverse STFT (overlap-add with the same window) of a complex spectrogram. `length` defaults to
 * hop·(frames − 1) for centred framing, the length that produced `frames` frames up to hop − 1.
 */
export function istft(spec: ComplexSpectrogram, cfg: StftConfig, length?: number): Float32Array {
  const plan = new StftPlan(cfg);
  if (spec.bins !== plan.bins) throw new Error(`spectrogram has ${spec.bins} bins, nFft = ${plan.nFft} needs ${plan.bins}`);
  if (spec.frames < 1) throw new Error('spectrogram has no frames');
  if (spec.re.length < spec.frames * spec.bins || spec.im.length < spec.frames * spec.bins) {
    throw new Error(`spectrogram arrays hold fewer than frames·bins = ${spec.frames * spec.bins} values`);
  }
  const out = new Float64Array(length ?? plan.inverseLength(spec.frames));
  plan.inverseInto(spec.re, spec.im, spec.frames, out);
  return Float32Array.from(out);
}
