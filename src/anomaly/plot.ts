/** The score PNG: waveform, spectrogram, and the score timeline with flagged segments shaded. */
import type { Canvas } from '../plot/canvas.js';
import { panels, timeline, waveform } from '../plot/charts.js';
import { spectrogramStack } from '../vocoder/evaluate.js';

export function scoreFigure(audio: Float32Array, sampleRate: number, times: readonly number[], values: readonly number[], opts: { title: string; scoreName: string; threshold?: number; flagged: readonly (readonly [number, number])[] }): Canvas {
  const dur = audio.length / sampleRate;
  const width = 760;
  const wave = waveform(audio, sampleRate, { width, height: 170, title: 'waveform' });
  const spec = spectrogramStack([{ title: 'spectrogram', audio }], sampleRate, { width, height: 230 });
  const line = timeline(times, values, {
    width, height: 210, xRange: [0, dur], title: `${opts.scoreName} score per segment (higher = more anomalous)`,
    yLabel: opts.scoreName, label: opts.scoreName, shade: opts.flagged, ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}),
  });
  return panels([[wave], [spec], [line]], { title: opts.title, pad: 6 });
}
