/**
 * Segment planning for scoring: fixed-length windows every `hop` seconds, snapped so that every
 * window starts on a mel frame (the model's conditioning stays aligned with the whole-file mel)
 * and holds a whole number of the model's groups.
 */

export interface Segment {
  /** Seconds. */
  start: number;
  end: number;
  /** Samples. */
  startSample: number;
  length: number;
}

export interface SegmentPlanOptions {
  sampleRate: number;
  /** Window and hop, seconds. */
  segment: number;
  hop: number;
  /** Start positions are multiples of this (the mel hop, samples). */
  align: number;
  /** Lengths are multiples of this (lcm of the group size and the mel hop). */
  quantum: number;
}

export function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/** Window length and hop in samples, snapped to the grid (before fitting a signal shorter than a window). */
export function segmentGrid(o: SegmentPlanOptions): { length: number; step: number } {
  if (!(o.segment > 0) || !(o.hop > 0)) throw new Error(`segment and hop must be positive, got ${o.segment} and ${o.hop}`);
  return {
    length: Math.max(o.quantum, Math.round((o.segment * o.sampleRate) / o.quantum) * o.quantum),
    step: Math.max(o.align, Math.round((o.hop * o.sampleRate) / o.align) * o.align),
  };
}

/** Windows covering the signal; the last one ends at the signal's end (as near as the grid allows). */
export function planSegments(totalSamples: number, o: SegmentPlanOptions): Segment[] {
  const q = o.quantum;
  let { length, step } = segmentGrid(o);
  if (totalSamples < q) throw new Error(`audio of ${totalSamples} samples is too short to score: it needs at least ${q} (${(q / o.sampleRate).toFixed(3)} s)`);
  if (length > totalSamples) length = Math.floor(totalSamples / q) * q;
  const starts: number[] = [];
  for (let s = 0; s + length <= totalSamples; s += step) starts.push(s);
  const lastStart = Math.floor((totalSamples - length) / o.align) * o.align;
  if (starts[starts.length - 1]! < lastStart) starts.push(lastStart);
  return starts.map((s) => ({ start: s / o.sampleRate, end: (s + length) / o.sampleRate, startSample: s, length }));
}

/** Merges overlapping or touching [start, end] intervals (seconds). */
export function mergeIntervals(intervals: readonly (readonly [number, number])[]): [number, number][] {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1e-9) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}
