/**
 * Real FFT for power-of-two sizes, Float64 throughout.
 *
 * Hand-written (iterative radix-2 with precomputed twiddles) because none of our dependencies offers
 * a maintained isomorphic FFT: tfjs-wasm has no FFT kernel, and the CPU backend's is a slow
 * recursive complex transform on float32 tensors. A real transform of size N runs as one complex
 * transform of size N/2 plus an O(N) split step.
 */

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

/** In-place complex FFT of a fixed power-of-two size on split re/im arrays. */
export class ComplexFFT {
  readonly size: number;
  private readonly rev: Uint32Array;
  /** Twiddles per stage, contiguous: for half-length h, cos/sin(2πk/(2h)) at index h + k. */
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;

  constructor(size: number) {
    if (!isPowerOfTwo(size)) throw new Error(`FFT size must be a power of two, got ${size}`);
    this.size = size;
    const bits = Math.round(Math.log2(size));
    this.rev = new Uint32Array(size);
    for (let i = 0; i < size; i++) {
      let r = 0;
      for (let b = 0, x = i; b < bits; b++, x >>= 1) r = (r << 1) | (x & 1);
      this.rev[i] = r;
    }
    this.cos = new Float64Array(Math.max(1, size));
    this.sin = new Float64Array(Math.max(1, size));
    for (let h = 1; h < size; h <<= 1) {
      for (let k = 0; k < h; k++) {
        const a = (Math.PI * k) / h;
        this.cos[h + k] = Math.cos(a);
        this.sin[h + k] = Math.sin(a);
      }
    }
  }

  /** Forward transform X[k] = Σ x[n]·e^{-2πikn/N}, in place. With `inverse`, e^{+…} and no 1/N scaling. */
  transform(re: Float64Array, im: Float64Array, inverse = false): void {
    const n = this.size;
    const rev = this.rev;
    for (let i = 0; i < n; i++) {
      const j = rev[i]!;
      if (j > i) {
        let t = re[i]!;
        re[i] = re[j]!;
        re[j] = t;
        t = im[i]!;
        im[i] = im[j]!;
        im[j] = t;
      }
    }
    // First stage (h = 1) has the trivial twiddle 1.
    for (let a = 0; a + 1 < n; a += 2) {
      const br = re[a + 1]!;
      const bi = im[a + 1]!;
      const ar = re[a]!;
      const ai = im[a]!;
      re[a + 1] = ar - br;
      im[a + 1] = ai - bi;
      re[a] = ar + br;
      im[a] = ai + bi;
    }
    const sgn = inverse ? 1 : -1;
    const cos = this.cos;
    const sin = this.sin;
    for (let h = 2; h < n; h <<= 1) {
      const len = h << 1;
      for (let k = 0; k < h; k++) {
        const wr = cos[h + k]!;
        const wi = sgn * sin[h + k]!;
        for (let a = k; a < n; a += len) {
          const b = a + h;
          const br = re[b]!;
          const bi = im[b]!;
          const xr = br * wr - bi * wi;
          const xi = br * wi + bi * wr;
          const ar = re[a]!;
          const ai = im[a]!;
          re[b] = ar - xr;
          im[b] = ai - xi;
          re[a] = ar + xr;
          im[a] = ai + xi;
        }
      }
    }
  }
}

/**
 * Real FFT of size N (power of two, ≥ 2): N real samples ↔ N/2 + 1 complex bins (numpy's rfft/irfft
 * conventions: forward unscaled, inverse scaled by 1/N).
 */
export class RealFFT {
  readonly size: number;
  readonly bins: number;
  private readonly half: ComplexFFT;
  private readonly zr: Float64Array;
  private readonly zi: Float64Array;
  private readonly wr: Float64Array;
  private readonly wi: Float64Array;

  constructor(size: number) {
    if (!isPowerOfTwo(size) || size < 2) throw new Error(`real FFT size must be a power of two ≥ 2, got ${size}`);
    this.size = size;
    this.bins = size / 2 + 1;
    const m = size / 2;
    this.half = new ComplexFFT(m);
    this.zr = new Float64Array(m);
    this.zi = new Float64Array(m);
    // W^k = e^{-2πik/N}, k = 0 … N/2
    this.wr = new Float64Array(m + 1);
    this.wi = new Float64Array(m + 1);
    for (let k = 0; k <= m; k++) {
      const a = (2 * Math.PI * k) / size;
      this.wr[k] = Math.cos(a);
      this.wi[k] = -Math.sin(a);
    }
  }

  /**
   * Forward: `input` (length ≥ N; the first N values are used) → outRe/outIm (length ≥ N/2 + 1).
   * Packs even/odd samples into one half-size complex transform, then splits:
   * X[k] = E[k] + W^k·O[k], E = (Z[k] + conj Z[M−k])/2, O = (Z[k] − conj Z[M−k])/(2i).
   */
  forward(input: ArrayLike<number>, outRe: Float64Array, outIm: Float64Array): void {
    const m = this.size / 2;
    const zr = this.zr;
    const zi = this.zi;
    for (let n = 0; n < m; n++) {
      zr[n] = input[2 * n]!;
      zi[n] = input[2 * n + 1]!;
    }
    this.half.transform(zr, zi);
    const wr = this.wr;
    const wi = this.wi;
    for (let k = 0; k <= m; k++) {
      const k1 = k === m ? 0 : k;
      const k2 = k === 0 ? 0 : m - k;
      const ar = zr[k1]!;
      const ai = zi[k1]!;
      const br = zr[k2]!;
      const bi = -zi[k2]!; // conj Z[M−k]
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai + bi);
      // (a − b)/(2i) = (ai − bi)/2 − i·(ar − br)/2
      const or = 0.5 * (ai - bi);
      const oi = -0.5 * (ar - br);
      const c = wr[k]!;
      const s = wi[k]!;
      outRe[k] = er + (or * c - oi * s);
      outIm[k] = ei + (or * s + oi * c);
    }
  }

  /**
   * Inverse: N/2 + 1 bins → N real samples (scaled by 1/N, like numpy.fft.irfft). The imaginary parts
   * of the DC and Nyquist bins are ignored, as irfft does.
   */
  inverse(re: ArrayLike<number>, im: ArrayLike<number>, out: Float64Array): void {
    const m = this.size / 2;
    const zr = this.zr;
    const zi = this.zi;
    const wr = this.wr;
    const wi = this.wi;
    for (let k = 0; k < m; k++) {
      const ar = re[k]!;
      const ai = k === 0 ? 0 : im[k]!;
      const j = m - k;
      const br = re[j]!;
      const bi = j === m ? 0 : -im[j]!; // conj X[M−k]
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai + bi);
      // O = (a − b)/2 · W^{−k}
      const dr = 0.5 * (ar - br);
      const di = 0.5 * (ai - bi);
      const c = wr[k]!;
      const s = -wi[k]!;
      const or = dr * c - di * s;
      const oi = dr * s + di * c;
      // Z = E + i·O
      zr[k] = er - oi;
      zi[k] = ei + or;
    }
    this.half.transform(zr, zi, true);
    const scale = 1 / m; // E and O are size-M transforms
    for (let n = 0; n < m; n++) {
      out[2 * n] = zr[n]! * scale;
      out[2 * n + 1] = zi[n]! * scale;
    }
  }
}

const cache = new Map<number, RealFFT>();

/** Shared RealFFT instance per size (they hold scratch buffers, so not for concurrent re-entrant use). */
export function realFFT(size: number): RealFFT {
  let f = cache.get(size);
  if (!f) {
    f = new RealFFT(size);
    cache.set(size, f);
  }
  return f;
}

/** Convenience: rfft of `signal` zero-padded or truncated to `n` (default: its length). */
export function rfft(signal: ArrayLike<number>, n = signal.length): { re: Float64Array; im: Float64Array } {
  const f = realFFT(n);
  const buf = new Float64Array(n);
  for (let i = 0; i < Math.min(n, signal.length); i++) buf[i] = signal[i]!;
  const re = new Float64Array(f.bins);
  const im = new Float64Array(f.bins);
  f.forward(buf, re, im);
  return { re, im };
}

/** Convenience: irfft to `n` real samples from n/2 + 1 bins. */
export function irfft(re: ArrayLike<number>, im: ArrayLike<number>, n: number): Float64Array {
  const f = realFFT(n);
  if (re.length < f.bins || im.length < f.bins) throw new Error(`irfft of size ${n} needs ${f.bins} bins, got ${Math.min(re.length, im.length)}`);
  const out = new Float64Array(n);
  f.inverse(re, im, out);
  return out;
}
