/**
 * Band-limited resampling with a Kaiser-windowed sinc (the resampy / libsamplerate approach),
 * for arbitrary rate ratios.
 *
 * y[n] = Σ_i x[i]·s·h(s·(i − n·fin/fout)),  h(u) = sinc(u)·kaiser(u / zeros),  s = rolloff·min(1, fout/fin)
 *
 * h is tabulated at `TABLE_RES` points per zero crossing and linearly interpolated. Outside the
 * signal x is taken as 0.
 */

export interface ResampleOptions {
  /** Zero crossings of the sinc on each side (default 64, like resampy's kaiser_best). */
  zeros?: number;
  /** Kaiser β (default 12.9: ≈ 120 dB stop band). */
  beta?: number;
  /** Cutoff as a fraction of the lower Nyquist (default 0.945). */
  rolloff?: number;
}

const TABLE_RES = 512;

/** Modified Bessel function of the first kind, order 0 (power series; converges for all x). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

const tables = new Map<string, Float64Array>();

function kernelTable(zeros: number, beta: number): Float64Array {
  const key = `${zeros}/${beta}`;
  let t = tables.get(key);
  if (t) return t;
  const n = zeros * TABLE_RES + 2;
  t = new Float64Array(n);
  const i0b = besselI0(beta);
  for (let i = 0; i < n; i++) {
    const u = i / TABLE_RES;
    if (u >= zeros) break; // zero beyond the support
    const r = u / zeros;
    const win = besselI0(beta * Math.sqrt(1 - r * r)) / i0b;
    t[i] = (u === 0 ? 1 : Math.sin(Math.PI * u) / (Math.PI * u)) * win;
  }
  tables.set(key, t);
  return t;
}

/** Output length for `length` input samples: round(length·toRate/fromRate). */
export function resampledLength(length: number, fromRate: number, toRate: number): number {
  return Math.round((length * toRate) / fromRate);
}

/** Resamples `signal` from `fromRate` to `toRate` (Hz). Returns a copy when the rates are equal. */
export function resample(signal: Float32Array, fromRate: number, toRate: number, options: ResampleOptions = {}): Float32Array {
  if (!(fromRate > 0) || !(toRate > 0) || !Number.isFinite(fromRate) || !Number.isFinite(toRate)) {
    throw new Error(`sample rates must be positive and finite, got ${fromRate} → ${toRate}`);
  }
  if (fromRate === toRate) return signal.slice();
  const { zeros = 64, beta = 12.9, rolloff = 0.945 } = options;
  if (!Number.isInteger(zeros) || zeros < 1) throw new Error(`zeros must be a positive integer, got ${zeros}`);
  if (!(rolloff > 0 && rolloff <= 1)) throw new Error(`rolloff must be in (0, 1], got ${rolloff}`);
  const table = kernelTable(zeros, beta);
  const scale = rolloff * Math.min(1, toRate / fromRate);
  const reach = zeros / scale; // kernel half-width in input samples
  const ratio = fromRate / toRate;
  const len = signal.length;
  const outLen = resampledLength(len, fromRate, toRate);
  const out = new Float32Array(outLen);
  const step = scale * TABLE_RES; // table index per input sample
  for (let n = 0; n < outLen; n++) {
    const c = n * ratio;
    const i0 = Math.max(0, Math.ceil(c - reach));
    const i1 = Math.min(len - 1, Math.floor(c + reach));
    let acc = 0;
    for (let i = i0; i <= i1; i++) {
      const pos = Math.abs(i - c) * step;
      const j = Math.floor(pos);
      const f = pos - j;
      const h = table[j]! + f * (table[j + 1]! - table[j]!);
      acc += signal[i]! * h;
    }
    out[n] = acc * scale;
  }
  return out;
}
