/**
 * 2D toy densities, as FFJORD's `toy_data.py` defines them (the versions papers report NLLs on).
 * Each call draws fresh samples from a seeded generator. Entropies are given where they are
 * known in closed form, so a model's KL = NLL − H can be reported.
 */
import { gaussian, mulberry32 } from '../../util/random.js';

export const DATASETS = ['moons', 'circles', '8gaussians', 'checkerboard', 'pinwheel'] as const;
export type DatasetName = (typeof DATASETS)[number];

export interface Toy2D {
  name: DatasetName;
  /** n points as [x0, y0, x1, y1, …]. */
  sample(n: number): Float32Array;
  /** True differential entropy in nats, or null when not known in closed form. */
  entropy: number | null;
  /** A square plotting window that holds nearly all the mass. */
  range: [number, number];
}

const GAUSS8_STD = 0.5 / 1.414;

export function toyDataset(name: string, seed: number): Toy2D {
  const rand = mulberry32(seed);
  const randn = gaussian(rand);
  const fill = (n: number, f: (out: Float32Array, i: number) => void) => {
    const out = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) f(out, i);
    return out;
  };
  switch (name) {
    case 'moons':
      // sklearn make_moons(noise=0.1), then ·2 + (−1, −0.2).
      return {
        name, entropy: null, range: [-4, 4],
        sample: (n) => fill(n, (o, i) => {
          const t = Math.PI * rand();
          const upper = i % 2 === 0;
          const x = upper ? Math.cos(t) : 1 - Math.cos(t);
          const y = upper ? Math.sin(t) : 0.5 - Math.sin(t);
          o[2 * i] = (x + 0.1 * randn()) * 2 - 1;
          o[2 * i + 1] = (y + 0.1 * randn()) * 2 - 0.2;
        }),
      };
    case 'circles':
      // sklearn make_circles(factor=0.5, noise=0.08), then ·3.
      return {
        name, entropy: null, range: [-4, 4],
        sample: (n) => fill(n, (o, i) => {
          const t = 2 * Math.PI * rand();
          const r = i % 2 === 0 ? 1 : 0.5;
          o[2 * i] = (r * Math.cos(t) + 0.08 * randn()) * 3;
          o[2 * i + 1] = (r * Math.sin(t) + 0.08 * randn()) * 3;
        }),
      };
    case '8gaussians': {
      const s = Math.SQRT1_2;
      const centers = [[1, 0], [-1, 0], [0, 1], [0, -1], [s, s], [s, -s], [-s, s], [-s, -s]];
      return {
        name, range: [-4, 4],
        // Components are > 6σ apart, so H = log 8 + log(2πe σ²) to well within 1e-3 nats.
        entropy: Math.log(8) + Math.log(2 * Math.PI * Math.E * GAUSS8_STD ** 2),
        sample: (n) => fill(n, (o, i) => {
          const c = centers[Math.floor(rand() * 8)];
          o[2 * i] = (randn() * 0.5 + 4 * c[0]) / 1.414;
          o[2 * i + 1] = (randn() * 0.5 + 4 * c[1]) / 1.414;
        }),
      };
    }
    case 'checkerboard':
      // Uniform on 8 of the 16 unit squares of [−2, 2]², then ·2: support area 32, H = log 32.
      return {
        name, entropy: Math.log(32), range: [-4, 4],
        sample: (n) => fill(n, (o, i) => {
          const x1 = rand() * 4 - 2;
          const x2 = rand() - Math.floor(rand() * 2) * 2 + (((Math.floor(x1) % 2) + 2) % 2);
          o[2 * i] = x1 * 2;
          o[2 * i + 1] = x2 * 2;
        }),
      };
    case 'pinwheel': {
      const classes = 5;
      return {
        name, entropy: null, range: [-4, 4],
        sample: (n) => fill(n, (o, i) => {
          const f0 = randn() * 0.3 + 1;
          const f1 = randn() * 0.1;
          const angle = ((i % classes) * 2 * Math.PI) / classes + 0.25 * Math.exp(f0);
          const c = Math.cos(angle);
          const s = Math.sin(angle);
          o[2 * i] = 2 * (f0 * c + f1 * s);
          o[2 * i + 1] = 2 * (-f0 * s + f1 * c);
        }),
      };
    }
    default:
      throw new Error(`unknown dataset "${name}"; choose one of ${DATASETS.join(', ')}`);
  }
}
