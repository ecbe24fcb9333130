// High-level figures for flowvox: densities, samples, losses, flow-warped grids,
// image grids and audio views. Hand-written on our own raster because no
// maintained plotting library is isomorphic (Node + browser), dependency-light and
// able to emit PNGs without a DOM canvas or native modules.
import { Axes } from './axes.js';
import type { AxesOptions, LegendEntry, LegendPosition } from './axes.js';
import { Canvas } from './canvas.js';
import type { Color, RGB } from './canvas.js';
import { colormapLut, paletteColor, PALETTE } from './colormap.js';
import type { Colormap, ColormapName } from './colormap.js';
import { extent, padRange } from './ticks.js';

/** A rendered chart; `axes` maps data to pixels so callers can overlay more marks. */
export type Chart = Canvas & { readonly axes: Axes };

export interface BaseOptions {
  width?: number;
  height?: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
}

type Range = readonly [number, number];

function makeChart(width: number, height: number, opts: AxesOptions): Chart {
  const canvas = new Canvas(width, height);
  return Object.assign(canvas, { axes: new Axes(canvas, opts) });
}

// ---------------------------------------------------------------- rasters

export interface RasterOptions extends BaseOptions {
  xRange?: Range;
  yRange?: Range;
  colormap?: ColormapName | Colormap;
  /** Colour by log10(value); values ≤ 0 get the lowest colour. */
  logScale?: boolean;
  vmin?: number;
  vmax?: number;
  /** Show a colorbar (default true). */
  colorbar?: boolean;
  colorbarLabel?: string;
  /** Square plot area (default true for heatmap, false for spectrogram). */
  square?: boolean;
}

/** Colour range: explicit, else data extent; a diverging map is centred on 0. */
function valueRange(get: (i: number) => number, n: number, opts: RasterOptions): [number, number] {
  const log = opts.logScale ?? false;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = get(i);
    if (!Number.isFinite(v) || (log && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(lo <= hi)) [lo, hi] = log ? [1, 10] : [0, 1];
  if (opts.colormap === 'diverging' && !log && opts.vmin === undefined && opts.vmax === undefined) {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    return [-m, m];
  }
  lo = opts.vmin ?? lo;
  hi = opts.vmax ?? hi;
  if (!(hi > lo)) hi = log ? lo * 10 : lo + 1;
  return [lo, hi];
}

function rasterChart(
  get: (ix: number, iy: number) => number,
  nx: number,
  ny: number,
  opts: RasterOptions,
  defaults: { width: number; height: number; colormap: ColormapName; square: boolean; xLabel?: string; yLabel?: string },
): Chart {
  if (!(nx > 0 && ny > 0)) throw new Error('raster needs nx, ny > 0');
  const log = opts.logScale ?? false;
  const [lo, hi] = valueRange((i) => get(i % nx, Math.floor(i / nx)), nx * ny, opts);
  const cmap = opts.colormap ?? defaults.colormap;
  const showBar = opts.colorbar ?? true;
  const chart = makeChart(opts.width ?? defaults.width, opts.height ?? defaults.height, {
    xRange: opts.xRange ?? [0, nx],
    yRange: opts.yRange ?? [0, ny],
    title: opts.title,
    xLabel: opts.xLabel ?? defaults.xLabel,
    yLabel: opts.yLabel ?? defaults.yLabel,
    square: opts.square ?? defaults.square,
    colorbar: showBar ? { range: [lo, hi], log, label: opts.colorbarLabel } : undefined,
  });
  const lut = colormapLut(cmap);
  const llo = Math.log10(lo);
  const lspan = Math.log10(hi) - llo;
  chart.axes.drawRaster(nx, ny, (ix, iy) => {
    const v = get(ix, iy);
    if (Number.isNaN(v)) return undefined;
    const t = log ? (v > 0 ? (Math.log10(v) - llo) / lspan : 0) : (v - lo) / (hi - lo);
    const k = Math.round(Math.min(1, Math.max(0, t)) * 255) * 3;
    return [lut[k]!, lut[k + 1]!, lut[k + 2]!] as RGB;
  });
  chart.axes.drawFrame();
  if (showBar) chart.axes.drawColorbar(cmap);
  return chart;
}

/**
 * Density-style heat map of an nx×ny grid, values[iy * nx + ix]. Row iy = 0 is at
 * the bottom (y = yRange[0]), like a math plot; cells span xRange × yRange exactly.
 */
export function heatmap(values: ArrayLike<number>, nx: number, ny: number, opts: RasterOptions = {}): Chart {
  if (values.length < nx * ny) throw new Error(`heatmap: need ${nx * ny} values, got ${values.length}`);
  return rasterChart((ix, iy) => values[iy * nx + ix]!, nx, ny, opts, {
    width: 420,
    height: 380,
    colormap: 'viridis',
    square: true,
  });
}

/**
 * Spectrogram, values[frame * bins + bin] (dB or log magnitude), time to the right
 * and bins upward. Pass xRange/yRange (e.g. seconds, Hz) and labels to relabel axes.
 */
export function spectrogram(values: ArrayLike<number>, frames: number, bins: number, opts: RasterOptions = {}): Chart {
  if (values.length < frames * bins) throw new Error(`spectrogram: need ${frames * bins} values, got ${values.length}`);
  return rasterChart((ix, iy) => values[ix * bins + iy]!, frames, bins, opts, {
    width: 640,
    height: 280,
    colormap: 'magma',
    square: false,
    xLabel: 'frame',
    yLabel: 'bin',
  });
}

// ---------------------------------------------------------------- scatter / lines

export interface ScatterSeries {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  color?: Color;
  label?: string;
  /** Point diameter in pixels; overrides the chart's pointSize. */
  size?: number;
}

export interface ScatterOptions extends BaseOptions {
  xRange?: Range;
  yRange?: Range;
  /** Point diameter in pixels (default 3). */
  pointSize?: number;
  /** Point opacity (default 0.6) so dense regions read darker. */
  alpha?: number;
  square?: boolean;
  legend?: LegendPosition | false;
}

export function scatter(series: readonly ScatterSeries[], opts: ScatterOptions = {}): Chart {
  const xr = opts.xRange ?? padRange(extent(series.map((s) => s.x)) ?? [0, 1], 0.05);
  const yr = opts.yRange ?? padRange(extent(series.map((s) => s.y)) ?? [0, 1], 0.05);
  const chart = makeChart(opts.width ?? 380, opts.height ?? 380, {
    xRange: xr,
    yRange: yr,
    title: opts.title,
    xLabel: opts.xLabel,
    yLabel: opts.yLabel,
    square: opts.square ?? true,
    grid: true,
  });
  const ax = chart.axes;
  ax.drawGrid();
  series.forEach((s, i) => ax.points(s.x, s.y, s.color ?? paletteColor(i), s.size ?? opts.pointSize ?? 3, opts.alpha ?? 0.6));
  ax.drawFrame();
  const entries: LegendEntry[] = series.flatMap((s, i) =>
    s.label ? [{ label: s.label, color: s.color ?? paletteColor(i), kind: 'dot' as const }] : [],
  );
  if (opts.legend !== false) ax.drawLegend(entries, opts.legend ?? 'top-right');
  return chart;
}

export interface LineSeries {
  /** Defaults to 0, 1, 2, … */
  x?: ArrayLike<number>;
  y: ArrayLike<number>;
  color?: Color;
  label?: string;
  width?: number;
  alpha?: number;
  dash?: readonly [number, number];
}

export interface LineChartOptions extends BaseOptions {
  xRange?: Range;
  yRange?: Range;
  logY?: boolean;
  legend?: LegendPosition | false;
}

const indices = (n: number): Float64Array => Float64Array.from({ length: n }, (_, i) => i);

/** Line chart (e.g. loss curves) with light grid and a legend for labelled series. */
export function lineChart(series: readonly LineSeries[], opts: LineChartOptions = {}): Chart {
  const logY = opts.logY ?? false;
  const xs = series.map((s) => s.x ?? indices(s.y.length));
  const xr = opts.xRange ?? extent(xs) ?? [0, 1];
  const yr = opts.yRange ?? padRange(extent(series.map((s) => s.y), logY) ?? (logY ? [1, 10] : [0, 1]), 0.05, logY);
  const chart = makeChart(opts.width ?? 480, opts.height ?? 320, {
    xRange: xr[1] > xr[0] ? xr : padRange(xr, 0),
    yRange: yr,
    title: opts.title,
    xLabel: opts.xLabel,
    yLabel: opts.yLabel,
    logY,
  });
  const ax = chart.axes;
  ax.drawGrid();
  series.forEach((s, i) =>
    ax.line(xs[i]!, s.y, s.color ?? paletteColor(i), { width: s.width ?? 1.75, alpha: s.alpha, dash: s.dash }),
  );
  ax.drawFrame();
  const entries: LegendEntry[] = series.flatMap((s, i) =>
    s.label ? [{ label: s.label, color: s.color ?? paletteColor(i), dash: s.dash }] : [],
  );
  if (opts.legend !== false) ax.drawLegend(entries, opts.legend ?? 'top-right');
  return chart;
}

// ---------------------------------------------------------------- flow grids

export interface Polyline {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
}

/**
 * `lines` horizontal then `lines` vertical polylines, each with `samples` points,
 * covering xRange × yRange: push them through a flow to see how it warps space.
 */
export function regularGrid(xRange: Range, yRange: Range, lines = 11, samples = 100): Polyline[] {
  const lerp = (r: Range, t: number): number => r[0] + (r[1] - r[0]) * t;
  const out: Polyline[] = [];
  for (const horizontal of [true, false]) {
    for (let i = 0; i < lines; i++) {
      const fixed = lerp(horizontal ? yRange : xRange, lines === 1 ? 0.5 : i / (lines - 1));
      const x = new Float32Array(samples);
      const y = new Float32Array(samples);
      for (let k = 0; k < samples; k++) {
        const free = lerp(horizontal ? xRange : yRange, samples === 1 ? 0.5 : k / (samples - 1));
        x[k] = horizontal ? free : fixed;
        y[k] = horizontal ? fixed : free;
      }
      out.push({ x, y });
    }
  }
  return out;
}

export interface GridLinesOptions extends BaseOptions {
  xRange?: Range;
  yRange?: Range;
  /**
   * One colour per line (cycled). Default: first half blue, second half orange,
   * matching the horizontal/vertical families of `regularGrid`.
   */
  colors?: readonly Color[];
  lineWidth?: number;
  alpha?: number;
  square?: boolean;
}

/** Draws a (possibly deformed) coordinate grid, for before/after views of a flow map. */
export function gridLines(lines: readonly Polyline[], opts: GridLinesOptions = {}): Chart {
  const xr = opts.xRange ?? padRange(extent(lines.map((l) => l.x)) ?? [0, 1], 0.05);
  const yr = opts.yRange ?? padRange(extent(lines.map((l) => l.y)) ?? [0, 1], 0.05);
  const chart = makeChart(opts.width ?? 380, opts.height ?? 380, {
    xRange: xr,
    yRange: yr,
    title: opts.title,
    xLabel: opts.xLabel,
    yLabel: opts.yLabel,
    square: opts.square ?? true,
  });
  const half = Math.ceil(lines.length / 2);
  lines.forEach((l, i) => {
    const color = opts.colors?.length ? opts.colors[i % opts.colors.length]! : i < half ? PALETTE[0]! : PALETTE[1]!;
    chart.axes.line(l.x, l.y, color, { width: opts.lineWidth ?? 1.25, alpha: opts.alpha ?? 0.9 });
  });
  chart.axes.drawFrame();
  return chart;
}

// ---------------------------------------------------------------- images

export interface ImageGridOptions {
  cols?: number;
  title?: string;
  /** Gap between and around images in pixels (default 2). */
  pad?: number;
  /** Integer upscale per image (default: 2 for images up to 32 px, else 1). */
  scale?: number;
  background?: Color;
}

/** Title band height used by imageGrid and panels when a title is given. */
export const TITLE_BAND = 30;

/** Grayscale images (each h×w, row 0 at the top, values in [0, 1], 0 = black) in a grid. */
export function imageGrid(images: readonly ArrayLike<number>[], h: number, w: number, opts: ImageGridOptions = {}): Canvas {
  const n = images.length;
  const cols = Math.max(1, Math.min(n, opts.cols ?? Math.ceil(Math.sqrt(n))));
  const rows = Math.max(1, Math.ceil(n / cols));
  const pad = opts.pad ?? 2;
  const s = Math.max(1, Math.round(opts.scale ?? (Math.max(h, w) <= 32 ? 2 : 1)));
  const top = opts.title ? TITLE_BAND : 0;
  const width = cols * w * s + (cols + 1) * pad;
  const canvas = new Canvas(Math.max(width, opts.title ? titleWidth(opts.title) : 1), top + rows * h * s + (rows + 1) * pad, opts.background ?? '#ffffff');
  const x0 = Math.floor((canvas.width - width) / 2);
  images.forEach((img, k) => {
    const ox = x0 + pad + (k % cols) * (w * s + pad);
    const oy = top + pad + Math.floor(k / cols) * (h * s + pad);
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        const v = img[r * w + c]!;
        const g = Math.round(Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * 255);
        canvas.fillRect(ox + c * s, oy + r * s, s, s, [g, g, g]);
      }
    }
  });
  if (opts.title) drawTitle(canvas, opts.title);
  return canvas;
}

const titleWidth = (title: string): number => [...title].length * 12 + 16;

function drawTitle(canvas: Canvas, title: string): void {
  canvas.text(canvas.width / 2, 8, title, '#1a1a1a', { scale: 2, align: 'center' });
}

// ---------------------------------------------------------------- audio

export interface WaveformOptions extends BaseOptions {
  color?: Color;
  yRange?: Range;
}

/** Waveform against time in seconds; min/max envelope per pixel column for long signals. */
export function waveform(samples: ArrayLike<number>, sampleRate: number, opts: WaveformOptions = {}): Chart {
  const n = samples.length;
  const dur = Math.max(n, 1) / sampleRate;
  const peak = (extent([samples]) ?? [0, 0]).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const lim = peak > 1 ? peak * 1.05 : 1;
  const chart = makeChart(opts.width ?? 640, opts.height ?? 200, {
    xRange: [0, dur],
    yRange: opts.yRange ?? [-lim, lim],
    title: opts.title,
    xLabel: opts.xLabel ?? 'time (s)',
    yLabel: opts.yLabel,
  });
  const ax = chart.axes;
  const color = opts.color ?? PALETTE[0]!;
  ax.drawGrid();
  const { x, w } = ax.plot;
  if (n > 2 * w) {
    ax.clipped(() => {
      for (let i = 0; i < w; i++) {
        const a = Math.floor((i * n) / w);
        const b = Math.max(a + 1, Math.floor(((i + 1) * n) / w));
        let lo = Infinity;
        let hi = -Infinity;
        for (let k = a; k < b; k++) {
          const v = samples[k]!;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        if (!(lo <= hi)) continue;
        const top = Math.floor(ax.py(hi));
        const bot = Math.floor(ax.py(lo));
        chart.fillRect(x + i, top, 1, Math.max(1, bot - top + 1), color);
      }
    });
  } else {
    ax.line(Float64Array.from({ length: n }, (_, i) => i / sampleRate), samples, color, { width: 1.25 });
  }
  ax.drawFrame();
  return chart;
}

export interface TimelineOptions extends BaseOptions {
  /** Intervals [start, end] (x units) to shade, e.g. detected events. */
  shade?: readonly (readonly [number, number])[];
  /** Horizontal dashed reference line, e.g. a detection threshold. */
  threshold?: number;
  color?: Color;
  shadeColor?: Color;
  xRange?: Range;
  yRange?: Range;
  /** Legend label for the curve; adds a legend with the threshold too. */
  label?: string;
}

/** A score over time with shaded intervals and an optional threshold line. */
export function timeline(times: ArrayLike<number>, values: ArrayLike<number>, opts: TimelineOptions = {}): Chart {
  const xr = opts.xRange ?? extent([times]) ?? [0, 1];
  const ys = opts.threshold === undefined ? [values] : [values, [opts.threshold]];
  const yr = opts.yRange ?? padRange(extent(ys) ?? [0, 1], 0.08);
  const chart = makeChart(opts.width ?? 640, opts.height ?? 200, {
    xRange: xr[1] > xr[0] ? xr : padRange(xr, 0),
    yRange: yr,
    title: opts.title,
    xLabel: opts.xLabel ?? 'time (s)',
    yLabel: opts.yLabel,
  });
  const ax = chart.axes;
  const color = opts.color ?? PALETTE[0]!;
  ax.drawGrid();
  const { y, h } = ax.plot;
  ax.clipped(() => {
    for (const [a, b] of opts.shade ?? []) {
      const x0 = ax.px(Math.min(a, b));
      const x1 = ax.px(Math.max(a, b));
      chart.fillRect(x0, y, Math.max(1, x1 - x0), h, opts.shadeColor ?? PALETTE[3]!, 0.16);
    }
  });
  if (opts.threshold !== undefined) {
    ax.line([xr[0], xr[1]], [opts.threshold, opts.threshold], '#555555', { width: 1, dash: [5, 4] });
  }
  ax.line(times, values, color, { width: 1.5 });
  ax.drawFrame();
  if (opts.label) {
    const entries: LegendEntry[] = [{ label: opts.label, color }];
    if (opts.threshold !== undefined) entries.push({ label: 'threshold', color: '#555555', dash: [5, 4] });
    ax.drawLegend(entries);
  }
  return chart;
}

// ---------------------------------------------------------------- composition

export interface PanelsOptions {
  title?: string;
  /** Gap between and around panels (default 10). */
  pad?: number;
  background?: Color;
}

/**
 * Composes rows of canvases into one figure. Width = widest row (sum of widths +
 * pad × (n + 1)); height = TITLE_BAND (if titled) + sum of row heights + pad × (rows + 1).
 * Rows are centred horizontally; panels are top-aligned within a row.
 */
export function panels(rows: readonly (readonly Canvas[])[], opts: PanelsOptions = {}): Canvas {
  const pad = opts.pad ?? 10;
  const rowW = rows.map((r) => r.reduce((s, c) => s + c.width, 0) + pad * (r.length + 1));
  const rowH = rows.map((r) => r.reduce((m, c) => Math.max(m, c.height), 0));
  const top = opts.title ? TITLE_BAND : 0;
  const width = Math.max(1, ...rowW);
  const height = top + rowH.reduce((s, v) => s + v, 0) + pad * (rows.length + 1);
  const out = new Canvas(width, Math.max(1, height), opts.background ?? '#ffffff');
  let y = top + pad;
  rows.forEach((r, i) => {
    let x = Math.floor((width - rowW[i]!) / 2) + pad;
    for (const c of r) {
      out.drawImage(c, x, y);
      x += c.width + pad;
    }
    y += rowH[i]! + pad;
  });
  if (opts.title) drawTitle(out, opts.title);
  return out;
}
