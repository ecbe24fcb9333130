// Minimal RGBA raster with anti-aliased primitives and bitmap text. Isomorphic:
// no DOM canvas or node APIs, so the same figures render in Node, workers and browsers.
import { encode } from 'fast-png';
import { forEachTextPixel, measureText } from './font.js';

export type RGB = readonly [number, number, number];
/** '#rgb', '#rrggbb' or an [r, g, b] triple with channels in 0–255. */
export type Color = string | RGB;

/** Axis-aligned pixel rectangle; (x, y) is the top-left corner. */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface StrokeOptions {
  /** Line width in pixels (default 1.5). */
  width?: number;
  /** Opacity in [0, 1] (default 1). */
  alpha?: number;
  /** Dash pattern [on, off] in pixels; solid when omitted. */
  dash?: readonly [number, number];
}

export interface TextOptions {
  /** Integer pixel scale of the 5×7 font (default 1; 2 for titles). */
  scale?: number;
  /** Horizontal anchor of the drawn box relative to x. */
  align?: 'left' | 'center' | 'right';
  /** Vertical anchor of the drawn box relative to y. */
  baseline?: 'top' | 'middle' | 'bottom';
  /** Rotate 90° counter-clockwise (reads bottom-to-top), e.g. for y-axis labels. */
  vertical?: boolean;
  alpha?: number;
}

export function parseColor(c: Color): RGB {
  if (typeof c !== 'string') return c;
  const h = c.startsWith('#') ? c.slice(1) : c;
  const full = h.length === 3 ? [...h].map((d) => d + d).join('') : h;
  if (!/^[0-9a-fA-F]{6}$/.test(full)) throw new Error(`bad colour: ${c}`);
  const n = parseInt(full, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

export class Canvas {
  readonly data: Uint8ClampedArray;
  private clip: Rect;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Color = '#ffffff',
  ) {
    if (!(width > 0 && height > 0) || !Number.isInteger(width) || !Number.isInteger(height)) {
      throw new Error(`canvas size must be positive integers, got ${width}×${height}`);
    }
    this.data = new Uint8ClampedArray(width * height * 4);
    this.clip = { x: 0, y: 0, w: width, h: height };
    const [r, g, b] = parseColor(background);
    for (let i = 0; i < this.data.length; i += 4) {
      this.data[i] = r;
      this.data[i + 1] = g;
      this.data[i + 2] = b;
      this.data[i + 3] = 255;
    }
  }

  /** Restrict all drawing to `rect` (intersected with the canvas); no argument resets. */
  setClip(rect?: Rect): void {
    if (!rect) {
      this.clip = { x: 0, y: 0, w: this.width, h: this.height };
      return;
    }
    const x0 = Math.max(0, Math.floor(rect.x));
    const y0 = Math.max(0, Math.floor(rect.y));
    const x1 = Math.min(this.width, Math.ceil(rect.x + rect.w));
    const y1 = Math.min(this.height, Math.ceil(rect.y + rect.h));
    this.clip = { x: x0, y: y0, w: Math.max(0, x1 - x0), h: Math.max(0, y1 - y0) };
  }

  getPixel(x: number, y: number): [number, number, number, number] {
    const i = (y * this.width + x) * 4;
    const d = this.data;
    return [d[i]!, d[i + 1]!, d[i + 2]!, d[i + 3]!];
  }

  /** Source-over blend of an opaque colour with coverage `alpha` into integer pixel (x, y). */
  blend(x: number, y: number, rgb: RGB, alpha: number): void {
    const c = this.clip;
    if (x < c.x || y < c.y || x >= c.x + c.w || y >= c.y + c.h || !(alpha > 0)) return;
    const i = (y * this.width + x) * 4;
    const d = this.data;
    const a = alpha >= 1 ? 1 : alpha;
    d[i] = d[i]! + (rgb[0] - d[i]!) * a;
    d[i + 1] = d[i + 1]! + (rgb[1] - d[i + 1]!) * a;
    d[i + 2] = d[i + 2]! + (rgb[2] - d[i + 2]!) * a;
    d[i + 3] = 255;
  }

  /** Fills pixels whose centres lie inside the rectangle (edges are rounded). */
  fillRect(x: number, y: number, w: number, h: number, color: Color, alpha = 1): void {
    const rgb = parseColor(color);
    const x0 = Math.round(x);
    const y0 = Math.round(y);
    const x1 = Math.round(x + w);
    const y1 = Math.round(y + h);
    for (let py = y0; py < y1; py++) for (let px = x0; px < x1; px++) this.blend(px, py, rgb, alpha);
  }

  /** 1-px (or `width`-px) outline drawn just inside the rectangle. */
  strokeRect(x: number, y: number, w: number, h: number, color: Color, width = 1): void {
    this.fillRect(x, y, w, width, color);
    this.fillRect(x, y + h - width, w, width, color);
    this.fillRect(x, y + width, width, h - 2 * width, color);
    this.fillRect(x + w - width, y + width, width, h - 2 * width, color);
  }

  line(x0: number, y0: number, x1: number, y1: number, color: Color, opts: StrokeOptions = {}): void {
    this.polyline([x0, x1], [y0, y1], color, opts);
  }

  /**
   * Anti-aliased polyline with round joins and caps. Non-finite points break the
   * path. Coverage is accumulated as a max over segments and blended once, so
   * joints of translucent lines do not darken.
   */
  polyline(xs: ArrayLike<number>, ys: ArrayLike<number>, color: Color, opts: StrokeOptions = {}): void {
    const rgb = parseColor(color);
    const hw = (opts.width ?? 1.5) / 2;
    const alpha = opts.alpha ?? 1;
    const segs = toSegments(xs, ys, opts.dash);
    if (segs.length === 0) return;
    const reach = hw + 0.5;
    // Coverage buffer over the path's bounding box, limited to the clip rect.
    let bx0 = Infinity, by0 = Infinity, bx1 = -Infinity, by1 = -Infinity;
    for (const [ax, ay, bx, by] of segs) {
      bx0 = Math.min(bx0, ax, bx); by0 = Math.min(by0, ay, by);
      bx1 = Math.max(bx1, ax, bx); by1 = Math.max(by1, ay, by);
    }
    const c = this.clip;
    const gx0 = Math.max(c.x, Math.floor(bx0 - reach));
    const gy0 = Math.max(c.y, Math.floor(by0 - reach));
    const gx1 = Math.min(c.x + c.w, Math.ceil(bx1 + reach) + 1);
    const gy1 = Math.min(c.y + c.h, Math.ceil(by1 + reach) + 1);
    const gw = gx1 - gx0;
    const gh = gy1 - gy0;
    if (gw <= 0 || gh <= 0) return;
    const cov = new Float32Array(gw * gh);
    const touch = (px: number, py: number, ax: number, ay: number, bx: number, by: number): void => {
      if (px < gx0 || py < gy0 || px >= gx1 || py >= gy1) return;
      const v = clamp01(reach - distToSegment(px + 0.5, py + 0.5, ax, ay, bx, by));
      const k = (py - gy0) * gw + (px - gx0);
      if (v > cov[k]!) cov[k] = v;
    };
    for (const [ax, ay, bx, by] of segs) {
      const dx = bx - ax;
      const dy = by - ay;
      // Walk the major axis and visit a band around the line on the minor axis.
      if (Math.abs(dx) >= Math.abs(dy)) {
        const slope = dx === 0 ? 0 : dy / dx;
        const band = reach * Math.sqrt(1 + slope * slope) + 1;
        const lo = Math.min(ax, bx);
        const hi = Math.max(ax, bx);
        for (let px = Math.floor(lo - reach); px <= Math.ceil(hi + reach); px++) {
          const cx = Math.min(hi, Math.max(lo, px + 0.5));
          const yc = dx === 0 ? ay : ay + (cx - ax) * slope;
          for (let py = Math.floor(yc - band); py <= Math.ceil(yc + band); py++) touch(px, py, ax, ay, bx, by);
        }
      } else {
        const slope = dx / dy;
        const band = reach * Math.sqrt(1 + slope * slope) + 1;
        const lo = Math.min(ay, by);
        const hi = Math.max(ay, by);
        for (let py = Math.floor(lo - reach); py <= Math.ceil(hi + reach); py++) {
          const cy = Math.min(hi, Math.max(lo, py + 0.5));
          const xc = ax + (cy - ay) * slope;
          for (let px = Math.floor(xc - band); px <= Math.ceil(xc + band); px++) touch(px, py, ax, ay, bx, by);
        }
      }
    }
    for (let j = 0; j < gh; j++) {
      for (let i = 0; i < gw; i++) {
        const v = cov[j * gw + i]!;
        if (v > 0) this.blend(gx0 + i, gy0 + j, rgb, v * alpha);
      }
    }
  }

  /** Filled anti-aliased disc of radius r centred at (cx, cy) in continuous pixel coordinates. */
  circle(cx: number, cy: number, r: number, color: Color, alpha = 1): void {
    const rgb = parseColor(color);
    const reach = r + 0.5;
    for (let py = Math.floor(cy - reach); py <= Math.ceil(cy + reach); py++) {
      for (let px = Math.floor(cx - reach); px <= Math.ceil(cx + reach); px++) {
        const ex = px + 0.5 - cx;
        const ey = py + 0.5 - cy;
        const d = Math.sqrt(ex * ex + ey * ey);
        const v = clamp01(reach - d);
        if (v > 0) this.blend(px, py, rgb, v * alpha);
      }
    }
  }

  /** Draws single-line text; returns the drawn box. */
  text(x: number, y: number, text: string, color: Color, opts: TextOptions = {}): Rect {
    const rgb = parseColor(color);
    const scale = Math.max(1, Math.round(opts.scale ?? 1));
    const alpha = opts.alpha ?? 1;
    const m = measureText(text, scale);
    const bw = opts.vertical ? m.height : m.width;
    const bh = opts.vertical ? m.width : m.height;
    const align = opts.align ?? 'left';
    const baseline = opts.baseline ?? 'top';
    const x0 = Math.round(align === 'left' ? x : align === 'center' ? x - bw / 2 : x - bw);
    const y0 = Math.round(baseline === 'top' ? y : baseline === 'middle' ? y - bh / 2 : y - bh);
    forEachTextPixel(text, scale, (gx, gy) => {
      if (opts.vertical) this.blend(x0 + gy, y0 + m.width - 1 - gx, rgb, alpha);
      else this.blend(x0 + gx, y0 + gy, rgb, alpha);
    });
    return { x: x0, y: y0, w: bw, h: bh };
  }

  /** Copies another canvas (opaque) with its top-left at (x, y). */
  drawImage(src: Canvas, x: number, y: number): void {
    const c = this.clip;
    for (let j = 0; j < src.height; j++) {
      const ty = y + j;
      if (ty < c.y || ty >= c.y + c.h) continue;
      const i0 = Math.max(0, c.x - x);
      const i1 = Math.min(src.width, c.x + c.w - x);
      if (i1 <= i0) continue;
      const s = (j * src.width + i0) * 4;
      this.data.set(src.data.subarray(s, (j * src.width + i1) * 4), (ty * this.width + x + i0) * 4);
    }
  }

  toPng(): Uint8Array {
    return encode({ width: this.width, height: this.height, data: this.data, channels: 4, depth: 8 });
  }
}

function distToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : clamp01(((px - ax) * dx + (py - ay) * dy) / len2);
  const ex = px - (ax + t * dx);
  const ey = py - (ay + t * dy);
  return Math.sqrt(ex * ex + ey * ey); // not Math.hypot: this is the hot loop and hypot is slow in V8
}

type Segment = readonly [number, number, number, number];

/** Splits a polyline into drawable segments, breaking at non-finite points and applying a dash. */
function toSegments(xs: ArrayLike<number>, ys: ArrayLike<number>, dash?: readonly [number, number]): Segment[] {
  const out: Segment[] = [];
  const n = Math.min(xs.length, ys.length);
  const period = dash ? dash[0] + dash[1] : 0;
  let phase = 0; // distance travelled along the dash pattern
  for (let i = 0; i + 1 < n; i++) {
    const ax = xs[i]!, ay = ys[i]!, bx = xs[i + 1]!, by = ys[i + 1]!;
    if (!Number.isFinite(ax) || !Number.isFinite(ay) || !Number.isFinite(bx) || !Number.isFinite(by)) {
      phase = 0;
      continue;
    }
    if (!dash || period <= 0) {
      out.push([ax, ay, bx, by]);
      continue;
    }
    const len = Math.hypot(bx - ax, by - ay);
    let s = 0;
    while (s < len) {
      const inPeriod = phase % period;
      const on = inPeriod < dash[0];
      const step = Math.min(len - s, on ? dash[0] - inPeriod : period - inPeriod);
      if (on && step > 0) {
        const t0 = s / len, t1 = (s + step) / len;
        out.push([ax + (bx - ax) * t0, ay + (by - ay) * t0, ax + (bx - ax) * t1, ay + (by - ay) * t1]);
      }
      s += step;
      phase += step;
      if (step <= 0) break;
    }
  }
  return out;
}
