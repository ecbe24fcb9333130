import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { writePng } from '../src/io/png-file.js';
import {
  Canvas,
  diverging,
  formatTick,
  heatmap,
  imageGrid,
  lineChart,
  linearTicks,
  logTicks,
  magma,
  measureText,
  panels,
  scatter,
  spectrogram,
  TITLE_BAND,
  viridis,
} from '../src/plot/index.js';

const rgbAt = (c: Canvas, x: number, y: number): number[] => c.getPixel(x, y).slice(0, 3);
const isWhite = (c: Canvas, x: number, y: number): boolean => rgbAt(c, x, y).every((v) => v === 255);

describe('canvas', () => {
  it('round-trips through PNG with the right size and pixels', () => {
    const c = new Canvas(7, 5, '#102030');
    c.fillRect(2, 1, 3, 2, '#ff8000');
    const png = decode(c.toPng());
    expect([png.width, png.height, png.channels, png.depth]).toEqual([7, 5, 4, 8]);
    expect(Array.from(png.data)).toEqual(Array.from(c.data));
    expect(Array.from(png.data.slice(0, 4))).toEqual([16, 32, 48, 255]);
    const i = (1 * 7 + 2) * 4;
    expect(Array.from(png.data.slice(i, i + 4))).toEqual([255, 128, 0, 255]);
  });

  it('draws a crisp 1-px horizontal line on a pixel row and breaks paths at NaN', () => {
    const c = new Canvas(20, 20);
    c.line(2, 10.5, 17, 10.5, '#000000', { width: 1 });
    expect(rgbAt(c, 10, 10)).toEqual([0, 0, 0]);
    expect(isWhite(c, 10, 9)).toBe(true);
    expect(isWhite(c, 10, 11)).toBe(true);
    const d = new Canvas(20, 20);
    d.polyline([1, 8, NaN, 12, 19], [5.5, 5.5, 5.5, 5.5, 5.5], '#000000', { width: 1 });
    expect(rgbAt(d, 4, 5)).toEqual([0, 0, 0]);
    expect(isWhite(d, 10, 5)).toBe(true); // the gap around the NaN point
    expect(rgbAt(d, 15, 5)).toEqual([0, 0, 0]);
  });

  it('alpha-blends discs', () => {
    const c = new Canvas(10, 10);
    c.circle(5, 5, 3, '#000000', 0.5);
    const [r] = rgbAt(c, 5, 5);
    expect(r).toBeGreaterThan(120);
    expect(r).toBeLessThan(135);
    expect(isWhite(c, 0, 0)).toBe(true);
  });

  it('renders text only inside its reported box', () => {
    const c = new Canvas(60, 30);
    const box = c.text(10, 5, 'A1-e', '#000000');
    expect(box).toEqual({ x: 10, y: 5, w: measureText('A1-e').width, h: 7 });
    expect(box.w).toBe(4 * 6 - 1);
    let inside = 0;
    let outside = 0;
    for (let y = 0; y < c.height; y++) {
      for (let x = 0; x < c.width; x++) {
        if (isWhite(c, x, y)) continue;
        const inBox = x >= box.x && x < box.x + box.w && y >= box.y && y < box.y + box.h;
        if (inBox) inside++;
        else outside++;
      }
    }
    expect(inside).toBeGreaterThan(20);
    expect(outside).toBe(0);
    const v = new Canvas(30, 60);
    const vbox = v.text(15, 30, 'abc', '#000000', { vertical: true, align: 'center', baseline: 'middle', scale: 2 });
    expect([vbox.w, vbox.h]).toEqual([14, (3 * 6 - 1) * 2]);
  });
});

describe('colormaps and ticks', () => {
  it('matches published colormap endpoints', () => {
    expect(viridis(0)).toEqual([68, 1, 84]);
    expect(viridis(1)).toEqual([253, 231, 37]);
    expect(magma(1)).toEqual([252, 253, 191]);
    expect(diverging(0.5)).toEqual([247, 247, 247]);
    expect(viridis(2)).toEqual(viridis(1));
  });

  it('picks nice ticks and compact labels', () => {
    expect(linearTicks(0, 1, 5).labels).toEqual(['0.0', '0.2', '0.4', '0.6', '0.8', '1.0']);
    expect(linearTicks(-2.7, 2.7, 5).values).toEqual([-2, -1, 0, 1, 2]);
    expect(logTicks(1e-3, 10).labels).toEqual(['0.001', '0.01', '0.1', '1', '10']);
    expect(formatTick(2.5e-5, 5e-6)).toBe('2.5e-5');
    expect(formatTick(2e-5, 1e-5)).toBe('2e-5');
    expect(formatTick(300000, 100000)).toBe('3e5');
  });
});

describe('charts', () => {
  it('heatmap puts the top colour exactly in the max cell, with y upward', () => {
    const nx = 10;
    const ny = 8;
    const values = new Float32Array(nx * ny).map((_, i) => (i % 7) / 10);
    const [mx, my] = [7, 2];
    values[my * nx + mx] = 5;
    const chart = heatmap(values, nx, ny, { xRange: [-1, 1], yRange: [0, 4], title: 'density' });
    const { x, y, w, h } = chart.axes.plot;
    const top = viridis(1);
    // Centre of cell (mx, my): row 0 is at the bottom of the plot.
    const cx = x + Math.floor(((mx + 0.5) / nx) * w);
    const cy = y + h - 1 - Math.floor(((my + 0.5) / ny) * h);
    expect(rgbAt(chart, cx, cy)).toEqual([...top]);
    // Every top-coloured pixel lies within that cell's pixel block.
    for (let j = y; j < y + h; j++) {
      for (let i = x; i < x + w; i++) {
        const p = rgbAt(chart, i, j);
        if (p[0] === top[0] && p[1] === top[1] && p[2] === top[2]) {
          expect(Math.abs(i + 0.5 - (x + ((mx + 0.5) / nx) * w))).toBeLessThanOrEqual(w / nx / 2 + 1);
          expect(Math.abs(j + 0.5 - (y + h - ((my + 0.5) / ny) * h))).toBeLessThanOrEqual(h / ny / 2 + 1);
        }
      }
    }
    // The cell with the smallest value gets the bottom colour.
    const lx = x + Math.floor((0.5 / nx) * w);
    const ly = y + h - 1 - Math.floor((0.5 / ny) * h);
    expect(rgbAt(chart, lx, ly)).toEqual([...viridis(0)]);
  });

  it('spectrogram indexes values[frame * bins + bin] with bins upward', () => {
    const frames = 6;
    const bins = 4;
    const v = new Float32Array(frames * bins).fill(-80);
    v[4 * bins + 3] = 0; // frame 4, highest bin
    const chart = spectrogram(v, frames, bins, { colormap: 'magma', colorbar: false });
    const { x, y, w, h } = chart.axes.plot;
    const px = x + Math.floor((4.5 / frames) * w);
    const py = y + Math.floor((0.5 / bins) * h);
    expect(rgbAt(chart, px, py)).toEqual([...magma(1)]);
    expect(rgbAt(chart, px, y + h - 2)).toEqual([...magma(0)]);
  });

  it('scatter draws a point at the expected pixel', () => {
    const chart = scatter([{ x: new Float32Array([0.25]), y: new Float32Array([0.75]), color: '#d62728' }], {
      xRange: [0, 1],
      yRange: [0, 1],
      pointSize: 6,
      alpha: 1,
    });
    const { x, y, w, h } = chart.axes.plot;
    const px = Math.floor(x + 0.25 * w);
    const py = Math.floor(y + h - 0.75 * h);
    expect(rgbAt(chart, px, py)).toEqual([214, 39, 40]);
    // Mirror position (y flipped) stays background/grid, not the point colour.
    expect(rgbAt(chart, px, Math.floor(y + 0.75 * h))).not.toEqual([214, 39, 40]);
  });

  it('lineChart maps a log axis by decades', () => {
    const chart = lineChart([{ x: [0, 1], y: [1, 100], label: 'loss' }], { yRange: [1, 100], logY: true });
    const a = chart.axes;
    expect(a.py(10)).toBeCloseTo((a.py(1) + a.py(100)) / 2, 6);
    expect(Number.isNaN(a.py(0))).toBe(true);
  });

  it('panels sizes add up and panels land where expected', () => {
    const red = new Canvas(30, 20, '#ff0000');
    const green = new Canvas(40, 25, '#00ff00');
    const blue = new Canvas(50, 10, '#0000ff');
    const pad = 5;
    const fig = panels([[red, green], [blue]], { title: 'fig', pad });
    expect(fig.width).toBe(30 + 40 + 3 * pad);
    expect(fig.height).toBe(TITLE_BAND + 25 + 10 + 3 * pad);
    expect(rgbAt(fig, pad, TITLE_BAND + pad)).toEqual([255, 0, 0]);
    expect(rgbAt(fig, pad + 30 + pad, TITLE_BAND + pad)).toEqual([0, 255, 0]);
    const blueX = Math.floor((fig.width - (50 + 2 * pad)) / 2) + pad;
    expect(rgbAt(fig, blueX, TITLE_BAND + 25 + 2 * pad)).toEqual([0, 0, 255]);
    expect(panels([[red]], { pad: 0 })).toMatchObject({ width: 30, height: 20 });
  });

  it('imageGrid lays out grayscale images with padding', () => {
    const img = (v: number): Float32Array => new Float32Array(4 * 3).fill(v);
    const grid = imageGrid([img(1), img(0), img(0.5), img(1), img(0)], 4, 3, { cols: 3, pad: 1, scale: 1 });
    expect([grid.width, grid.height]).toEqual([3 * 3 + 4, 2 * 4 + 3]);
    expect(rgbAt(grid, 1, 1)).toEqual([255, 255, 255]);
    expect(rgbAt(grid, 5, 1)).toEqual([0, 0, 0]);
    expect(rgbAt(grid, 9, 1)).toEqual([128, 128, 128]);
  });
});

describe('writePng', () => {
  it('creates folders and writes a decodable PNG', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flowvox-plot-'));
    try {
      const path = join(dir, 'a', 'b', 'x.png');
      await writePng(path, new Canvas(3, 2, '#abcdef'));
      const png = decode(await readFile(path));
      expect([png.width, png.height]).toEqual([3, 2]);
      expect(Array.from(png.data.slice(0, 3))).toEqual([0xab, 0xcd, 0xef]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
