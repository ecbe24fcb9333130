// "Nice" axis ticks (1/2/5 × 10^k steps) and compact labels that fit the 5×7 font.

export interface Ticks {
  values: number[];
  labels: string[];
}

/** The 1/2/5 × 10^k step giving closest to `target` intervals over `span`. */
export function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10) * mag;
}

/** Number of decimals needed to print multiples of `step` exactly (capped at 8). */
function decimalsFor(step: number): number {
  for (let d = 0; d < 8; d++) {
    const s = step * 10 ** d;
    if (Math.abs(s - Math.round(s)) < 1e-6 * Math.max(1, s)) return d;
  }
  return 8;
}

/** Label for tick value v on an axis whose tick spacing is `step`. */
export function formatTick(v: number, step: number): string {
  const av = Math.abs(v);
  const zero = av < Math.abs(step) * 1e-6;
  if (zero && (Math.abs(step) >= 1e5 || Math.abs(step) < 1e-3)) return '0';
  if (zero) return (0).toFixed(decimalsFor(Math.abs(step)));
  if (av >= 1e5 || av < 1e-3) {
    let e = Math.floor(Math.log10(av));
    let d = Math.min(3, decimalsFor(Math.abs(step) / 10 ** e));
    let mant = (v / 10 ** e).toFixed(d);
    if (Math.abs(Number(mant)) >= 10) {
      e += 1;
      d = Math.max(0, d - 1);
      mant = (v / 10 ** e).toFixed(d);
    }
    return `${mant.replace(/\.?0+$/, '')}e${e}`;
  }
  return v.toFixed(decimalsFor(Math.abs(step)));
}

export function linearTicks(lo: number, hi: number, target = 5): Ticks {
  if (!(hi > lo)) return { values: [lo], labels: [formatTick(lo, Math.abs(lo) || 1)] };
  const step = niceStep(hi - lo, target);
  const eps = step * 1e-9;
  const values: number[] = [];
  for (let k = Math.ceil((lo - eps) / step); k * step <= hi + eps; k++) values.push(k * step);
  return { values, labels: values.map((v) => formatTick(v, step)) };
}

/** Decade ticks for a log axis; falls back to 1-2-5 multiples, then linear, for narrow ranges. */
export function logTicks(lo: number, hi: number, target = 5): Ticks {
  if (!(lo > 0) || !(hi > lo)) return linearTicks(lo, hi, target);
  const e0 = Math.ceil(Math.log10(lo) - 1e-9);
  const e1 = Math.floor(Math.log10(hi) + 1e-9);
  const values: number[] = [];
  if (e1 - e0 + 1 >= 2) {
    const every = Math.max(1, Math.ceil((e1 - e0 + 1) / (target + 2)));
    for (let e = e0; e <= e1; e++) if ((e - e0) % every === 0) values.push(10 ** e);
  } else {
    for (let e = e0 - 1; e <= e1; e++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** e;
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) values.push(v);
      }
    }
    if (values.length < 2) return linearTicks(lo, hi, target);
  }
  return { values, labels: values.map((v) => formatTick(v, v)) };
}

/** Finite min/max of the given arrays, or undefined when there is no finite value. */
export function extent(arrays: Iterable<ArrayLike<number>>, positiveOnly = false): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (!Number.isFinite(v) || (positiveOnly && v <= 0)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : undefined;
}

/** Widens [lo, hi] by a fraction of its span (multiplicatively on log axes); degenerate ranges get a unit span. */
export function padRange(r: readonly [number, number], frac: number, log = false): [number, number] {
  let [lo, hi] = r;
  if (log) {
    if (hi <= lo) return [lo / 2, hi * 2];
    const f = (hi / lo) ** frac;
    return [lo / f, hi * f];
  }
  if (hi <= lo) {
    const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.5 : 0.5;
    return [lo - d, hi + d];
  }
  const p = (hi - lo) * frac;
  lo -= p;
  hi += p;
  return [lo, hi];
}
