// A 2D data-space frame on (a region of) a Canvas: layout of margins, data→pixel
// mapping, clipped drawing helpers, and decorations (frame, ticks, labels, legend,
// colorbar). Charts are thin conveniences on top of this.
import { Canvas } from './canvas.js';
import type { Color, RGB, Rect, StrokeOptions } from './canvas.js';
import { colormapLut } from './colormap.js';
import type { Colormap, ColormapName } from './colormap.js';
import { measureText } from './font.js';
import { linearTicks, logTicks } from './ticks.js';
import type { Ticks } from './ticks.js';

export const STYLE = {
  background: '#ffffff',
  frame: '#555555',
  text: '#333333',
  title: '#1a1a1a',
  grid: '#ebebeb',
  tick: 4,
} as const;

const FONT_H = 7;

export interface ColorbarSpec {
  range: readonly [number, number];
  label?: string;
  log?: boolean;
}

export interface AxesOptions {
  xRange: readonly [number, number];
  yRange: readonly [number, number];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  logY?: boolean;
  /** Light grid lines at the ticks (default false). */
  grid?: boolean;
  /** Force a square plot area (default false). */
  square?: boolean;
  /** Reserve room on the right for a colorbar; draw it with `drawColorbar`. */
  colorbar?: ColorbarSpec;
  /** Part of the canvas to lay out in (default: the whole canvas). */
  region?: Rect;
}

export interface LegendEntry {
  label: string;
  color: Color;
  kind?: 'line' | 'dot';
  dash?: readonly [number, number];
}

export type LegendPosition = 'top-right' | 'top-left' | 'bottom-right' | 'bottom-left';

export class Axes {
  /** Pixel rectangle of the data area; the frame is drawn just outside it. */
  readonly plot: Rect;
  readonly xRange: readonly [number, number];
  readonly yRange: readonly [number, number];
  readonly logY: boolean;
  private readonly xTicks: Ticks;
  private readonly yTicks: Ticks;
  private readonly cbTicks?: Ticks;
  private readonly region: Rect;

  constructor(
    readonly canvas: Canvas,
    private readonly opts: AxesOptions,
  ) {
    const reg = opts.region ?? { x: 0, y: 0, w: canvas.width, h: canvas.height };
    this.region = reg;
    this.xRange = opts.xRange;
    this.yRange = opts.yRange;
    this.logY = opts.logY ?? false;
    const t = STYLE.tick;

    const top = opts.title ? 8 + 2 * FONT_H + 10 : 12;
    const bottom = t + 4 + FONT_H + (opts.xLabel ? 8 + FONT_H : 0) + 8;
    let h = reg.h - top - bottom - 2;
    const [y0, y1] = opts.yRange;
    this.yTicks = this.logY ? logTicks(y0, y1, Math.max(2, Math.floor(h / 45))) : linearTicks(y0, y1, Math.max(2, Math.floor(h / 45)));
    const yLabW = Math.max(0, ...this.yTicks.labels.map((s) => measureText(s).width));
    const left = 8 + (opts.yLabel ? FONT_H + 8 : 0) + yLabW + 4 + t;

    let right = 18;
    if (opts.colorbar) {
      const [c0, c1] = opts.colorbar.range;
      const target = Math.max(2, Math.floor(h / 45));
      this.cbTicks = opts.colorbar.log ? logTicks(c0, c1, target) : linearTicks(c0, c1, target);
      const cbLabW = Math.max(0, ...this.cbTicks.labels.map((s) => measureText(s).width));
      right = 14 + 12 + t + 3 + cbLabW + (opts.colorbar.label ? 8 + FONT_H : 0) + 10;
    }
    let w = reg.w - left - right - 2;
    if (w < 10 || h < 10) throw new Error(`axes region ${reg.w}×${reg.h} is too small`);
    let x = reg.x + left + 1;
    let y = reg.y + top + 1;
    if (opts.square) {
      const s = Math.min(w, h);
      x += Math.floor((w - s) / 2);
      y += Math.floor((h - s) / 2);
      w = h = s;
    }
    this.plot = { x, y, w, h };

    // Fewer x ticks when labels would collide.
    const [x0, x1] = opts.xRange;
    let target = Math.max(2, Math.floor(w / 60));
    let xt = linearTicks(x0, x1, target);
    while (target > 2 && xt.values.length > 1) {
      const spacing = (w * (xt.values[1]! - xt.values[0]!)) / (x1 - x0);
      const widest = Math.max(...xt.labels.map((s) => measureText(s).width));
      if (widest + 10 <= spacing) break;
      xt = linearTicks(x0, x1, --target);
    }
    this.xTicks = xt;
  }

  /** Data x → continuous pixel x (x = xRange[0] maps to the plot's left edge). */
  px(x: number): number {
    const [a, b] = this.xRange;
    return this.plot.x + ((x - a) / (b - a)) * this.plot.w;
  }

  /** Data y → continuous pixel y (y upward; non-positive values on a log axis → NaN). */
  py(y: number): number {
    const [a, b] = this.yRange;
    const f = this.logY
      ? y > 0
        ? (Math.log10(y) - Math.log10(a)) / (Math.log10(b) - Math.log10(a))
        : NaN
      : (y - a) / (b - a);
    return this.plot.y + this.plot.h - f * this.plot.h;
  }

  /** Runs `draw` with drawing clipped to the plot area. */
  clipped(draw: () => void): void {
    this.canvas.setClip(this.plot);
    try {
      draw();
    } finally {
      this.canvas.setClip();
    }
  }

  drawGrid(): void {
    const { x, y, w, h } = this.plot;
    for (const v of this.xTicks.values) this.canvas.fillRect(this.col(v), y, 1, h, STYLE.grid);
    for (const v of this.yTicks.values) this.canvas.fillRect(x, this.row(v), w, 1, STYLE.grid);
  }

  /** Fills the plot area from an nx×ny cell grid covering it exactly; (0, 0) is bottom-left. */
  drawRaster(nx: number, ny: number, colorAt: (ix: number, iy: number) => RGB | undefined, empty: Color = '#dddddd'): void {
    const { x, y, w, h } = this.plot;
    for (let j = 0; j < h; j++) {
      const iy = Math.min(ny - 1, Math.floor(((h - 1 - j + 0.5) / h) * ny));
      for (let i = 0; i < w; i++) {
        const ix = Math.min(nx - 1, Math.floor(((i + 0.5) / w) * nx));
        const c = colorAt(ix, iy);
        if (c) this.canvas.blend(x + i, y + j, c, 1);
        else this.canvas.fillRect(x + i, y + j, 1, 1, empty);
      }
    }
  }

  points(xs: ArrayLike<number>, ys: ArrayLike<number>, color: Color, size = 3, alpha = 0.7): void {
    this.clipped(() => {
      const n = Math.min(xs.length, ys.length);
      for (let i = 0; i < n; i++) {
        const cx = this.px(xs[i]!);
        const cy = this.py(ys[i]!);
        if (Number.isFinite(cx) && Number.isFinite(cy)) this.canvas.circle(cx, cy, size / 2, color, alpha);
      }
    });
  }

  line(xs: ArrayLike<number>, ys: ArrayLike<number>, color: Color, stroke: StrokeOptions = {}): void {
    const n = Math.min(xs.length, ys.length);
    const pxs = new Float64Array(n);
    const pys = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      pxs[i] = this.px(xs[i]!);
      pys[i] = this.py(ys[i]!);
    }
    this.clipped(() => this.canvas.polyline(pxs, pys, color, stroke));
  }

  /** Frame, ticks, tick labels, axis labels and title; call after drawing data. */
  drawFrame(): void {
    const c = this.canvas;
    const { x, y, w, h } = this.plot;
    const t = STYLE.tick;
    c.strokeRect(x - 1, y - 1, w + 2, h + 2, STYLE.frame);
    this.xTicks.values.forEach((v, i) => {
      const col = this.col(v);
      c.fillRect(col, y + h + 1, 1, t, STYLE.frame);
      c.text(col + 0.5, y + h + 1 + t + 3, this.xTicks.labels[i]!, STYLE.text, { align: 'center' });
    });
    let labelLeft = x;
    this.yTicks.values.forEach((v, i) => {
      const row = this.row(v);
      c.fillRect(x - 1 - t, row, t, 1, STYLE.frame);
      const box = c.text(x - 1 - t - 3, row + 0.5, this.yTicks.labels[i]!, STYLE.text, { align: 'right', baseline: 'middle' });
      labelLeft = Math.min(labelLeft, box.x);
    });
    if (this.opts.xLabel) {
      c.text(x + w / 2, y + h + 1 + t + 4 + FONT_H + 7, this.opts.xLabel, STYLE.text, { align: 'center' });
    }
    if (this.opts.yLabel) {
      c.text(labelLeft - 8, y + h / 2, this.opts.yLabel, STYLE.text, { align: 'right', baseline: 'middle', vertical: true });
    }
    if (this.opts.title) {
      const tw = measureText(this.opts.title, 2).width;
      const reg = this.region;
      const cx = Math.min(Math.max(x + w / 2, reg.x + tw / 2 + 4), reg.x + reg.w - tw / 2 - 4);
      c.text(cx, reg.y + 8, this.opts.title, STYLE.title, { scale: 2, align: 'center' });
    }
  }

  /** Colour scale in the space reserved by `colorbar` (t = 0 at the bottom). */
  drawColorbar(cmap: ColormapName | Colormap): void {
    const spec = this.opts.colorbar;
    const ticks = this.cbTicks;
    if (!spec || !ticks) throw new Error('axes were created without a colorbar');
    const c = this.canvas;
    const { y, h } = this.plot;
    const bx = this.plot.x + this.plot.w + 1 + 14;
    const bw = 12;
    const lut = colormapLut(cmap);
    for (let j = 0; j < h; j++) {
      const k = Math.round((1 - (j + 0.5) / h) * 255) * 3;
      c.fillRect(bx, y + j, bw, 1, [lut[k]!, lut[k + 1]!, lut[k + 2]!]);
    }
    c.strokeRect(bx - 1, y - 1, bw + 2, h + 2, STYLE.frame);
    const [lo, hi] = spec.range;
    const frac = (v: number): number =>
      spec.log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : (v - lo) / (hi - lo);
    let labelRight = bx + bw + 1;
    ticks.values.forEach((v, i) => {
      const f = frac(v);
      if (!(f >= -1e-9 && f <= 1 + 1e-9)) return;
      const row = Math.min(y + h - 1, Math.max(y, Math.floor(y + h - f * h)));
      c.fillRect(bx + bw + 1, row, STYLE.tick, 1, STYLE.frame);
      const box = c.text(bx + bw + 1 + STYLE.tick + 3, row + 0.5, ticks.labels[i]!, STYLE.text, { baseline: 'middle' });
      labelRight = Math.max(labelRight, box.x + box.w);
    });
    if (spec.label) c.text(labelRight + 8, y + h / 2, spec.label, STYLE.text, { baseline: 'middle', vertical: true });
  }

  /** Boxed legend inside the plot area. */
  drawLegend(entries: readonly LegendEntry[], position: LegendPosition = 'top-right'): void {
    if (entries.length === 0) return;
    const c = this.canvas;
    const pad = 5;
    const sw = 16;
    const rowH = FONT_H + 5;
    const textW = Math.max(...entries.map((e) => measureText(e.label).width));
    const bw = pad + sw + 5 + textW + pad;
    const bh = pad + entries.length * rowH - 5 + pad;
    const { x, y, w, h } = this.plot;
    const lx = position.endsWith('right') ? x + w - bw - 6 : x + 6;
    const ly = position.startsWith('top') ? y + 6 : y + h - bh - 6;
    c.fillRect(lx, ly, bw, bh, STYLE.background, 0.88);
    c.strokeRect(lx, ly, bw, bh, '#cccccc');
    entries.forEach((e, i) => {
      const cy = ly + pad + i * rowH + FONT_H / 2;
      const sy = Math.round(cy); // 2-px swatch on whole pixel rows stays crisp
      if (e.kind === 'dot') c.circle(lx + pad + sw / 2, cy, 3, e.color);
      else c.line(lx + pad, sy, lx + pad + sw, sy, e.color, { width: 2, dash: e.dash });
      c.text(lx + pad + sw + 5, cy, e.label, STYLE.text, { baseline: 'middle' });
    });
  }

  /** Pixel column of data x clamped onto the frame, for crisp 1-px ticks and grid lines. */
  private col(v: number): number {
    return Math.min(this.plot.x + this.plot.w, Math.max(this.plot.x - 1, Math.floor(this.px(v))));
  }

  private row(v: number): number {
    return Math.min(this.plot.y + this.plot.h, Math.max(this.plot.y - 1, Math.floor(this.py(v))));
  }
}
