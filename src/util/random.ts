/** Seeded pseudo-random numbers (mulberry32), so datasets and initialisations are reproducible. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws (Box–Muller) from a uniform source. */
export function gaussian(rand: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = Math.max(rand(), 1e-300);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/**
 * A user's seed as tfjs random ops need it: tfjs takes seed 0 as "no seed" (rand_util.js:
 * `seed ? seed : Math.random()`), so seed 0 would silently give a different draw every call.
 * 0 maps to a fixed non-zero value; every other seed passes through unchanged.
 */
export function tfSeed(seed: number | undefined): number | undefined {
  return seed === 0 ? 0x9e3779b9 : seed;
}

/** Deterministic per-call seeds for tfjs random ops, derived from one seed. */
export class SeedStream {
  private readonly rand: () => number;
  constructor(seed: number) {
    this.rand = mulberry32(seed);
  }
  /** Never 0, which tfjs would take as "unseeded" (see tfSeed). */
  next(): number {
    return tfSeed(Math.floor(this.rand() * 2 ** 31))!;
  }
}
