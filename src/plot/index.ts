// Public entry of the plotting module (isomorphic; file output lives in src/io/png-file.ts).
export { Canvas, parseColor } from './canvas.js';
export type { Color, RGB, Rect, StrokeOptions, TextOptions } from './canvas.js';
export { measureText } from './font.js';
export { colormaps, colormapLut, diverging, fromStops, getColormap, gray, magma, PALETTE, paletteColor, viridis } from './colormap.js';
export type { Colormap, ColormapName } from './colormap.js';
export { formatTick, linearTicks, logTicks, niceStep } from './ticks.js';
export type { Ticks } from './ticks.js';
export { Axes, STYLE } from './axes.js';
export type { AxesOptions, ColorbarSpec, LegendEntry, LegendPosition } from './axes.js';
export {
  gridLines,
  heatmap,
  imageGrid,
  lineChart,
  panels,
  regularGrid,
  scatter,
  spectrogram,
  timeline,
  TITLE_BAND,
  waveform,
} from './charts.js';
export type {
  BaseOptions,
  Chart,
  GridLinesOptions,
  ImageGridOptions,
  LineChartOptions,
  LineSeries,
  PanelsOptions,
  Polyline,
  RasterOptions,
  ScatterOptions,
  ScatterSeries,
  TimelineOptions,
  WaveformOptions,
} from './charts.js';
