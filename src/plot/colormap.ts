// Colour maps as piecewise-linear interpolation between equally spaced stops.
// viridis/magma: 33 stops sampled from matplotlib's 256-entry tables (van der Walt &
// Smith, CC0); linear interpolation reproduces the full tables to within 2/255.
// diverging: ColorBrewer RdBu (11 classes), reversed so low = blue, high = red.
import type { Color, RGB } from './canvas.js';
import { parseColor } from './canvas.js';

/** Maps t in [0, 1] (clamped; NaN → 0) to an RGB triple. */
export type Colormap = (t: number) => RGB;
export type ColormapName = 'viridis' | 'magma' | 'diverging' | 'gray';

export function fromStops(stops: readonly Color[]): Colormap {
  const rgb = stops.map(parseColor);
  if (rgb.length < 2) throw new Error('a colormap needs at least two stops');
  const n = rgb.length - 1;
  return (t: number): RGB => {
    const u = (Number.isNaN(t) ? 0 : Math.min(1, Math.max(0, t))) * n;
    const k = Math.min(n - 1, Math.floor(u));
    const f = u - k;
    const a = rgb[k]!;
    const b = rgb[k + 1]!;
    return [
      Math.round(a[0] + (b[0] - a[0]) * f),
      Math.round(a[1] + (b[1] - a[1]) * f),
      Math.round(a[2] + (b[2] - a[2]) * f),
    ];
  };
}

const hexStops = (s: string): string[] => s.split(' ').map((h) => `#${h}`);

export const viridis: Colormap = fromStops(
  hexStops(
    '440154 470d60 48186a 482374 472d7b 453781 424086 3e4989 3b528b 375b8d 33638d 2f6b8e 2c728e ' +
      '297a8e 26828e 23898e 21918c 1f978b 1f9f88 21a685 27ad81 31b57b 3dbc74 4cc26c 5cc863 6ece58 ' +
      '81d34d 95d840 aadc32 c0df25 d5e21a eae51a fde725',
  ),
);

export const magma: Colormap = fromStops(
  hexStops(
    '000004 030312 0a0822 130d34 1d1147 29115a 36106b 440f76 51127c 5d177f 6a1c81 762181 832681 ' +
      '902a81 9c2e7f aa337d b73779 c23b75 cf4070 db476a e55064 ee5b5e f4695c f9785d fb8761 fd9668 ' +
      'fea571 feb47b fec287 fed194 fde0a1 fceeb0 fcfdbf',
  ),
);

export const diverging: Colormap = fromStops(
  hexStops('053061 2166ac 4393c3 92c5de d1e5f0 f7f7f7 fddbc7 f4a582 d6604d b2182b 67001f'),
);

export const gray: Colormap = fromStops(['#000000', '#ffffff']);

export const colormaps: Readonly<Record<ColormapName, Colormap>> = { viridis, magma, diverging, gray };

export function getColormap(c: ColormapName | Colormap): Colormap {
  return typeof c === 'function' ? c : colormaps[c];
}

/** Precomputed n-entry RGB table (n*3 bytes) so per-pixel lookups avoid interpolation. */
export function colormapLut(c: ColormapName | Colormap, n = 256): Uint8Array {
  const cm = getColormap(c);
  const lut = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) lut.set(cm(i / (n - 1)), i * 3);
  return lut;
}

/** Qualitative palette for series (Tableau 10, as in matplotlib's tab10). */
export const PALETTE: readonly string[] = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
  '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
];

export function paletteColor(i: number): string {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length]!;
}
