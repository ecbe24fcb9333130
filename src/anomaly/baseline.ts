/**
 * Simple, non-learned detectors to compare against, measured in the same run:
 *  - energy: |segment log-RMS − the clip's median frame log-RMS|, in units of the clip's MAD;
 *  - spectral flux: mean positive log-magnitude flux over the segment's frames ÷ the clip's median.
 * Both look only at the clip itself.
 */
import { stftMagnitude } from '../dsp/stft.js';
import { median } from './metrics.js';
import type { Segment } from './segments.js';

const HOP = 256;

export function baselineScores(audio: Float32Array, segments: readonly Segment[]): { energy: number[]; flux: number[] } {
  const spec = stftMagnitude(audio, { nFft: 1024, hop: HOP });
  const { frames, bins, data } = spec;
  const logE = new Float64Array(frames);
  const flux = new Float64Array(frames);
  let prev: Float64Array | null = null;
  for (let t = 0; t < frames; t++) {
    const row = new Float64Array(bins);
    let e = 0;
    for (let k = 0; k < bins; k++) {
      const m = data[t * bins + k]!;
      e += m * m;
      row[k] = Math.log(m + 1e-5);
    }
    logE[t] = 0.5 * Math.log(e / bins + 1e-12);
    if (prev) {
      let f = 0;
      for (let k = 0; k < bins; k++) f += Math.max(0, row[k]! - prev[k]!);
      flux[t] = f / bins;
    }
    prev = row;
  }
  const eMed = median([...logE]);
  const eMad = median([...logE].map((v) => Math.abs(v - eMed))) + 1e-3;
  const fMed = median([...flux]) + 1e-6;
  const energy: number[] = [];
  const fl: number[] = [];
  for (const s of segments) {
    const a = Math.ceil(s.startSample / HOP);
    const b = Math.min(frames, Math.ceil((s.startSample + s.length) / HOP));
    let se = 0;
    let sf = 0;
    for (let t = a; t < b; t++) {
      se += Math.exp(2 * logE[t]!);
      sf += flux[t]!;
    }
    const n = Math.max(1, b - a);
    energy.push(Math.abs(0.5 * Math.log(se / n + 1e-12) - eMed) / eMad);
    fl.push(sf / n / fMed);
  }
  return { energy, flux: fl };
}
