/**
 * Canvas drawing for the page: the input mel (magma, from `accepted.mel`) and the generated
 * waveform, which fills in as chunks arrive. Both share one time axis and the playhead.
 */
import type { DisplayMel } from '../src/stream/protocol.js';

// matplotlib's magma, 33 stops (the same table as src/plot/colormap.ts, copied to keep the page bundle small).
const MAGMA = (
  '000004 030312 0a0822 130d34 1d1147 29115a 36106b 440f76 51127c 5d177f 6a1c81 762181 832681 ' +
  '902a81 9c2e7f aa337d b73779 c23b75 cf4070 db476a e55064 ee5b5e f4695c f9785d fb8761 fd9668 ' +
  'fea571 feb47b fec287 fed194 fde0a1 fceeb0 fcfdbf'
).split(' ').map((h) => [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)] as const);

function magma(t: number): readonly [number, number, number] {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (MAGMA.length - 1);
  const k = Math.min(MAGMA.length - 2, Math.floor(u));
  const f = u - k;
  const a = MAGMA[k]!;
  const b = MAGMA[k + 1]!;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

const FONT = '11px ui-monospace, "SF Mono", Menlo, Consolas, monospace';
const AXIS = 20; // CSS px reserved under the waveform for the time axis

/** Sizes the canvas backing store to its CSS box × devicePixelRatio; returns the CSS size. */
export function fitCanvas(c: HTMLCanvasElement): { w: number; h: number; dpr: number } {
  const dpr = Math.min(3, window.devicePixelRatio || 1);
  const w = Math.max(1, c.clientWidth);
  const h = Math.max(1, c.clientHeight);
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
  }
  return { w, h, dpr };
}

function placeholder(ctx: CanvasRenderingContext2D, w: number, h: number, text: string): void {
  ctx.fillStyle = '#5d667b';
  ctx.font = '13px ui-sans-serif, system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, w / 2, h / 2);
}

/** Renders a DisplayMel to an offscreen image (one pixel per column and band, low bands at the bottom). */
export function melImage(mel: DisplayMel): HTMLCanvasElement {
  const img = document.createElement('canvas');
  img.width = mel.columns;
  img.height = mel.bands;
  const ctx = img.getContext('2d')!;
  const data = ctx.createImageData(mel.columns, mel.bands);
  // Compress the floor: log-mels bottom out at log(1e-5) ≈ −11.5, which would wash the image dark.
  const lo = Math.max(mel.min, mel.max - 10);
  const span = Math.max(1e-6, mel.max - lo);
  for (let c = 0; c < mel.columns; c++) {
    for (let b = 0; b < mel.bands; b++) {
      const [r, g, bl] = magma((mel.data[c * mel.bands + b]! - lo) / span);
      const p = ((mel.bands - 1 - b) * mel.columns + c) * 4;
      data.data[p] = r;
      data.data[p + 1] = g;
      data.data[p + 2] = bl;
      data.data[p + 3] = 255;
    }
  }
  ctx.putImageData(data, 0, 0);
  return img;
}

export interface Progress {
  /** Fractions of the utterance generated (received) and played, in [0, 1]. */
  received: number;
  played: number;
  /** Whether to draw the playhead. */
  playing: boolean;
}

export function drawMel(c: HTMLCanvasElement, img: HTMLCanvasElement | null, p: Progress, empty: string): void {
  const { w, h, dpr } = fitCanvas(c);
  const ctx = c.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  if (!img) return placeholder(ctx, w, h, empty);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(img, 0, 0, w, h);
  // Not yet vocoded: veiled, so the mel shows how far synthesis has come.
  const x = p.received * w;
  if (x < w) {
    ctx.fillStyle = 'rgba(11, 13, 19, 0.55)';
    ctx.fillRect(x, 0, w - x, h);
  }
  if (p.playing) playhead(ctx, p.played * w, h);
}

function playhead(ctx: CanvasRenderingContext2D, x: number, h: number): void {
  ctx.fillStyle = '#ffffff';
  ctx.globalAlpha = 0.9;
  ctx.fillRect(Math.round(x) - 1, 0, 2, h);
  ctx.globalAlpha = 1;
}

/**
 * Per-pixel-column min/max of the waveform, filled incrementally as frames arrive, so a redraw
 * costs O(width) however long the utterance is.
 */
export class WavePeaks {
  min = new Float32Array(0);
  max = new Float32Array(0);
  private filled = new Uint8Array(0);

  constructor(
    private readonly pcm: Float32Array,
    private columns = 0,
  ) {
    this.resize(columns);
  }

  /** Re-derives the peaks for a new width from the samples received so far (`have` marks them). */
  resize(columns: number, have?: (from: number, to: number) => boolean): void {
    this.columns = Math.max(1, Math.floor(columns));
    this.min = new Float32Array(this.columns);
    this.max = new Float32Array(this.columns);
    this.filled = new Uint8Array(this.columns);
    if (!have) return;
    for (let col = 0; col < this.columns; col++) {
      const [a, b] = this.range(col);
      if (b > a && have(a, b)) this.scan(col, a, b);
    }
  }

  get width(): number {
    return this.columns;
  }

  /** Samples [from, to) just arrived. */
  add(from: number, to: number): void {
    const n = this.pcm.length;
    if (n === 0) return;
    const c0 = Math.floor((from / n) * this.columns);
    const c1 = Math.min(this.columns - 1, Math.floor(((to - 1) / n) * this.columns));
    for (let col = c0; col <= c1; col++) {
      const [a, b] = this.range(col);
      this.scan(col, Math.max(a, from), Math.min(b, to));
    }
  }

  isFilled(col: number): boolean {
    return this.filled[col] === 1;
  }

  private range(col: number): [number, number] {
    const n = this.pcm.length;
    return [Math.floor((col * n) / this.columns), Math.floor(((col + 1) * n) / this.columns)];
  }

  private scan(col: number, a: number, b: number): void {
    let lo = this.filled[col] ? this.min[col]! : Infinity;
    let hi = this.filled[col] ? this.max[col]! : -Infinity;
    for (let i = a; i < b; i++) {
      const v = this.pcm[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (b > a) {
      this.min[col] = lo;
      this.max[col] = hi;
      this.filled[col] = 1;
    }
  }
}

export function drawWave(c: HTMLCanvasElement, peaks: WavePeaks | null, seconds: number, p: Progress, empty: string): void {
  const { w, h, dpr } = fitCanvas(c);
  const ctx = c.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const plotH = h - AXIS;
  const mid = plotH / 2;
  if (!peaks || seconds <= 0) return placeholder(ctx, w, h, empty);
  ctx.fillStyle = '#1c2130';
  ctx.fillRect(0, Math.round(mid), w, 1);

  // Peak-normalised so quiet (e.g. random-weight) models still read, but never magnified past 4×.
  let peak = 0;
  for (let i = 0; i < peaks.width; i++) if (peaks.isFilled(i)) peak = Math.max(peak, -peaks.min[i]!, peaks.max[i]!);
  const gain = (mid - 6) / Math.max(peak, 0.25);
  const colW = w / peaks.width;
  const playedX = p.played * w;
  const grad = ctx.createLinearGradient(0, 0, 0, plotH);
  grad.addColorStop(0, '#c4b5fd');
  grad.addColorStop(0.5, '#8b5cf6');
  grad.addColorStop(1, '#c4b5fd');
  const gradPlayed = ctx.createLinearGradient(0, 0, 0, plotH);
  gradPlayed.addColorStop(0, '#fde68a');
  gradPlayed.addColorStop(0.5, '#f59e0b');
  gradPlayed.addColorStop(1, '#fde68a');
  for (let i = 0; i < peaks.width; i++) {
    if (!peaks.isFilled(i)) continue;
    const x = i * colW;
    const top = mid - peaks.max[i]! * gain;
    const bot = mid - peaks.min[i]! * gain;
    ctx.fillStyle = p.playing || p.played > 0 ? (x < playedX ? gradPlayed : grad) : gradPlayed;
    ctx.fillRect(x, top, Math.max(colW, 1), Math.max(1, bot - top));
  }
  if (p.playing) playhead(ctx, playedX, plotH);

  // Time axis: a tick per second (or per 5 / 10 s when long).
  ctx.fillStyle = '#5d667b';
  ctx.font = FONT;
  ctx.textBaseline = 'top';
  ctx.fillRect(0, plotH, w, 1);
  const step = seconds > 40 ? 10 : seconds > 12 ? 5 : seconds > 2.5 ? 1 : 0.5;
  for (let t = 0; t <= seconds + 1e-9; t += step) {
    const x = (t / seconds) * w;
    ctx.fillRect(Math.min(w - 1, Math.round(x)), plotH, 1, 4);
    const label = `${step < 1 ? t.toFixed(1) : t.toFixed(0)} s`;
    ctx.textAlign = x < 20 ? 'left' : x > w - 20 ? 'right' : 'center';
    ctx.fillText(label, Math.min(w - 4, Math.max(4, x)), plotH + 6);
  }
}

/** One scored segment as the score timeline draws it. */
export interface ScorePoint {
  start: number;
  end: number;
  score: number;
  flagged: boolean;
}

/**
 * The live score timeline: flagged segments shaded, the score at each segment's centre as a line,
 * the threshold dashed. Shows the last `windowSeconds` (a microphone runs forever).
 */
export function drawScores(c: HTMLCanvasElement, points: readonly ScorePoint[], threshold: number | null, scoreName: string, empty: string, windowSeconds = 30): void {
  const { w, h, dpr } = fitCanvas(c);
  const ctx = c.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  if (points.length === 0) return placeholder(ctx, w, h, empty);
  const t1 = Math.max(points[points.length - 1]!.end, windowSeconds);
  const t0 = t1 - windowSeconds;
  const shown = points.filter((p) => p.end > t0);
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of shown) {
    if (!Number.isFinite(p.score)) continue;
    lo = Math.min(lo, p.score);
    hi = Math.max(hi, p.score);
  }
  if (threshold !== null) {
    lo = Math.min(lo, threshold);
    hi = Math.max(hi, threshold);
  }
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  const pad = Math.max(1e-6, (hi - lo) * 0.1);
  lo -= pad;
  hi += pad;
  const plotH = h - AXIS;
  const x = (t: number) => ((t - t0) / (t1 - t0)) * w;
  const y = (v: number) => plotH - ((v - lo) / (hi - lo)) * plotH;
  ctx.fillStyle = 'rgba(248, 113, 113, 0.22)';
  for (const p of shown) if (p.flagged) ctx.fillRect(x(p.start), 0, Math.max(1, x(p.end) - x(p.start)), plotH);
  if (threshold !== null) {
    ctx.strokeStyle = '#f87171';
    ctx.setLineDash([6, 4]);
    ctx.beginPath();
    ctx.moveTo(0, y(threshold));
    ctx.lineTo(w, y(threshold));
    ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.strokeStyle = '#fbbf24';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  shown.forEach((p, i) => {
    const px = x((p.start + p.end) / 2);
    const py = y(Number.isFinite(p.score) ? p.score : lo);
    if (i === 0) ctx.moveTo(px, py);
    else ctx.lineTo(px, py);
  });
  ctx.stroke();
  ctx.fillStyle = '#fbbf24';
  for (const p of shown) {
    if (!p.flagged) continue;
    ctx.beginPath();
    ctx.arc(x((p.start + p.end) / 2), y(p.score), 3, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.fillStyle = '#8b93a7';
  ctx.font = FONT;
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  ctx.fillText(`${scoreName} ${hi.toFixed(2)}`, 4, 4);
  ctx.textBaseline = 'bottom';
  ctx.fillText(lo.toFixed(2), 4, plotH - 2);
  ctx.textBaseline = 'top';
  const step = t1 - t0 > 10 ? Math.round((t1 - t0) / 10) : t1 - t0 > 2 ? 1 : 0.25;
  for (let s = Math.ceil(Math.max(0, t0) / step) * step; s <= t1; s += step) ctx.fillText(`${+s.toFixed(2)}s`, x(s) + 2, plotH + 4);
}
