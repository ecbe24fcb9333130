/**
 * Parity with NVIDIA tacotron2's TacotronSTFT (fixture: shared/fixtures/mel-parity, see its README),
 * plus Griffin-Lim and the distance metrics.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hannWindow } from '../src/dsp/window.js';
import { TACOTRON_MEL, logMelSpectrogram, melFilterbank, melStftMagnitude, melPseudoInverse, hzToMel, melToHz } from '../src/dsp/mel.js';
import { griffinLim } from '../src/dsp/griffin-lim.js';
import { logMelDistanceDb, melCepstralDistortion, multiResolutionStftDistance, stftDistanceTerms } from '../src/dsp/metrics.js';

const FIXTURES = new URL('../../shared/fixtures/mel-parity/', import.meta.url);

interface Entry {
  shape: number[];
  file: string;
  dtype: 'float32' | 'float64';
}
const index = JSON.parse(readFileSync(new URL('io.json', FIXTURES), 'utf8')) as Record<string, Entry>;

function load(name: string): { data: Float32Array | Float64Array; shape: number[] } {
  const e = index[name];
  if (!e) throw new Error(`fixture ${name} missing from io.json`);
  const buf = readFileSync(new URL(e.file, FIXTURES));
  const bytes = e.dtype === 'float32' ? 4 : 8;
  const n = e.shape.reduce((a, b) => a * b, 1);
  expect(buf.byteLength).toBe(n * bytes);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const data = e.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = bytes === 4 ? dv.getFloat32(i * 4, true) : dv.getFloat64(i * 8, true);
  return { data, shape: e.shape };
}

/** (rows, cols) fixture vs channels-last ours[col·rows + row]: max |Δ| over entries passing `where`. */
function maxDiffTransposed(ref: ArrayLike<number>, rows: number, cols: number, ours: ArrayLike<number>, where: (refValue: number, r: number, c: number) => boolean = () => true): number {
  let m = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = ref[r * cols + c]!;
      if (!where(v, r, c)) continue;
      const d = Math.abs(v - ours[c * rows + r]!);
      if (!(d <= m)) m = d; // NaN propagates as a failure
    }
  }
  return m;
}

const report: string[] = [];
function note(line: string): void {
  report.push(line);
}

describe('mel parity with tacotron2 TacotronSTFT', () => {
  it('mel scale round-trips and matches the Slaney break point', () => {
    expect(hzToMel(1000)).toBeCloseTo(15, 12);
    expect(hzToMel(500)).toBeCloseTo(7.5, 12);
    for (const f of [0, 100, 999, 1000, 4000, 8000]) expect(melToHz(hzToMel(f))).toBeCloseTo(f, 8);
  });

  it('periodic Hann window equals the fixture', () => {
    const ref = load('window_hann_1024').data;
    const w = hannWindow(1024);
    let maxDiff = 0;
    let identical = 0;
    for (let i = 0; i < 1024; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(w[i]! - ref[i]!));
      if (Math.fround(w[i]!) === ref[i]) identical++;
    }
    note(`window: max|Δ| ${maxDiff.toExponential(2)}, float32-identical ${identical}/1024`);
    expect(maxDiff).toBeLessThan(1e-7);
    expect(identical).toBe(1024);
  });

  it('mel basis equals librosa 0.6 filters.mel (float64 and float32)', () => {
    const ours = melFilterbank(TACOTRON_MEL);
    const ref64 = load('mel_basis_float64');
    const ref32 = load('mel_basis');
    expect(ref64.shape).toEqual([80, 513]);
    let d64 = 0;
    let d32 = 0;
    for (let i = 0; i < ours.length; i++) {
      d64 = Math.max(d64, Math.abs(ours[i]! - ref64.data[i]!));
      d32 = Math.max(d32, Math.abs(ours[i]! - ref32.data[i]!));
    }
    note(`mel basis: max|Δ| vs float64 ${d64.toExponential(2)}, vs float32 ${d32.toExponential(2)}`);
    expect(d64).toBeLessThan(1e-12);
    expect(d32).toBeLessThan(1e-7);
    // README: band 0 covers bins 1–3, band 79 bins 345–371, nothing above 8 kHz.
    const nz = (m: number) => [...Array(513).keys()].filter((k) => ours[m * 513 + k]! > 0);
    expect(nz(0)).toEqual([1, 2, 3]);
    expect(nz(79)[0]).toBe(345);
    expect(nz(79).at(-1)).toBe(371);
  });

  for (const name of ['synth', 'noise'] as const) {
    it(`magnitude and log-mel match for the ${name} signal`, () => {
      const signal = load(`signal_${name}`).data as Float32Array;
      const magRef = load(`magnitude_${name}`);
      const [bins, frames] = magRef.shape as [number, number];
      const mag = melStftMagnitude(signal, TACOTRON_MEL);
      expect(mag.frames).toBe(frames);
      expect(mag.bins).toBe(bins);
      const magAbs = maxDiffTransposed(magRef.data, bins, frames, mag.data);
      let magRel = 0;
      for (let k = 0; k < bins; k++) {
        for (let t = 0; t < frames; t++) {
          const v = magRef.data[k * frames + t]!;
          if (v > 1e-2) magRel = Math.max(magRel, Math.abs(v - mag.data[t * bins + k]!) / v);
        }
      }
      // README: tacotron2 float32 vs float64 math differs by ≤ 8.0e-5 abs, 2.6e-4 rel (synth).
      expect(magAbs).toBeLessThan(2e-4);
      expect(magRel).toBeLessThan(1e-3);

      const ref = load(`logmel_${name}`);
      const ref64 = load(`logmel_${name}_ref64`);
      expect(ref.shape).toEqual([80, frames]);
      const mel = logMelSpectrogram(signal);
      expect(mel.frames).toBe(frames);
      expect(mel.nMels).toBe(80);
      const all = maxDiffTransposed(ref.data, 80, frames, mel.data);
      const above = maxDiffTransposed(ref.data, 80, frames, mel.data, (v) => v >= Math.log(1e-3));
      const vs64 = maxDiffTransposed(ref64.data, 80, frames, mel.data);
      let meanAbs = 0;
      for (let m = 0; m < 80; m++) for (let t = 0; t < frames; t++) meanAbs += Math.abs(ref.data[m * frames + t]! - mel.data[t * 80 + m]!);
      meanAbs /= 80 * frames;
      note(
        `${name}: magnitude max|Δ| ${magAbs.toExponential(2)} (rel ${magRel.toExponential(2)} where >1e-2); ` +
          `log-mel max|Δ| all ${all.toExponential(2)}, where mel≥1e-3 ${above.toExponential(2)}, mean ${meanAbs.toExponential(2)}; vs float64 ref ${vs64.toExponential(2)}`,
      );
      // README's suggested tolerances.
      expect(all).toBeLessThanOrEqual(5e-3);
      expect(above).toBeLessThanOrEqual(1e-4);
      // Same math in float64: only our final float32 rounding remains.
      expect(vs64).toBeLessThan(1e-5);
    });
  }

  it('rejects NaN/Inf and too-short signals', () => {
    const x = new Float32Array(2000);
    x[700] = Number.NaN;
    expect(() => logMelSpectrogram(x)).toThrow(/NaN.*sample 700|sample 700/);
    x[700] = Number.POSITIVE_INFINITY;
    expect(() => logMelSpectrogram(x)).toThrow(/Infinity at sample 700/);
    expect(() => logMelSpectrogram(new Float32Array(512))).toThrow(/512 samples.*more than 512/);
    expect(logMelSpectrogram(new Float32Array(513)).frames).toBe(3);
    expect(() => logMelSpectrogram(new Float32Array(4000), { fmax: 20000 })).toThrow(/fmax/);
  });

  it('mel pseudo-inverse is a right inverse of the basis', () => {
    const m = melFilterbank(TACOTRON_MEL);
    const p = melPseudoInverse(TACOTRON_MEL);
    let maxErr = 0;
    for (let i = 0; i < 80; i++) {
      for (let j = 0; j < 80; j++) {
        let s = 0;
        for (let k = 0; k < 513; k++) s += m[i * 513 + k]! * p[k * 80 + j]!;
        maxErr = Math.max(maxErr, Math.abs(s - (i === j ? 1 : 0)));
      }
    }
    expect(maxErr).toBeLessThan(1e-6);
  });
});

describe('Griffin-Lim', () => {
  it('reconstructs the synthetic signal far better than noise does', () => {
    const signal = load('signal_synth').data as Float32Array;
    const mel = logMelSpectrogram(signal);
    const t0 = performance.now();
    const audio = griffinLim(mel, TACOTRON_MEL, { iterations: 60 });
    const ms = performance.now() - t0;
    expect(audio.length).toBe(256 * (mel.frames - 1));
    // Noise of the same RMS as the signal, deterministic.
    let rms = 0;
    for (const v of signal) rms += v * v;
    rms = Math.sqrt(rms / signal.length);
    let s = 12345;
    const noise = new Float32Array(signal.length);
    for (let i = 0; i < noise.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      noise[i] = rms * Math.sqrt(3) * (2 * (s / 2 ** 32) - 1);
    }
    const dGl = logMelDistanceDb(mel, audio);
    const dNoise = logMelDistanceDb(mel, noise);
    const ref = signal.subarray(0, audio.length);
    const mr60 = multiResolutionStftDistance(ref, audio);
    const mr1 = multiResolutionStftDistance(ref, griffinLim(mel, TACOTRON_MEL, { iterations: 1 }));
    const refined = griffinLim(mel, TACOTRON_MEL, { iterations: 60, nnlsIterations: 50 });
    const dRefined = logMelDistanceDb(mel, refined);
    note(
      `Griffin-Lim (60 it, 1.5 s) ${ms.toFixed(0)} ms; log-mel distance GL60 ${dGl.toFixed(2)} dB (with 50 NNLS steps ${dRefined.toFixed(2)} dB), ` +
        `noise ${dNoise.toFixed(2)} dB; MR-STFT GL60 ${mr60.toFixed(3)}, GL1 ${mr1.toFixed(3)}`,
    );
    expect(dGl).toBeLessThan(0.25 * dNoise);
    expect(mr60).toBeLessThan(0.9 * mr1); // iterating helps
    expect(dRefined).toBeLessThan(0.8 * dGl); // NNLS refinement of the pinv helps on this sparse spectrum
    const mcdGl = melCepstralDistortion(mel, audio);
    const mcdNoise = melCepstralDistortion(mel, noise);
    expect(mcdGl).toBeLessThan(0.5 * mcdNoise);
  });
});

describe('metrics', () => {
  const noise = load('signal_noise').data as Float32Array;
  const twice = noise.map((v) => 2 * v);
  const synth = load('signal_synth').data as Float32Array;

  it('are zero for identical signals', () => {
    expect(logMelDistanceDb(noise, noise)).toBe(0);
    expect(melCepstralDistortion(noise, noise)).toBe(0);
    expect(multiResolutionStftDistance(noise, noise)).toBe(0);
  });

  it('a gain of 2 gives 6.02 dB log-mel distance, zero MCD, SC 1 + L1 ln 2', () => {
    // Noise has no bins near the 1e-5 floor, so the gain shifts every log-mel value by ln 2.
    expect(logMelDistanceDb(noise, twice)).toBeCloseTo(20 * Math.log10(2), 4);
    expect(melCepstralDistortion(noise, twice)).toBeLessThan(1e-4); // level lives in c0 only
    const t = stftDistanceTerms(noise, twice, { nFft: 1024, hop: 256, winLength: 1024 });
    expect(t.spectralConvergence).toBeCloseTo(1, 6);
    expect(t.logMagnitudeL1).toBeCloseTo(Math.LN2, 4);
    expect(multiResolutionStftDistance(noise, twice)).toBeCloseTo(1 + Math.LN2, 3);
  });

  it('are positive for different signals and truncate to the shorter one', () => {
    const a = synth;
    const b = noise.subarray(0, synth.length);
    expect(logMelDistanceDb(a, b)).toBeGreaterThan(5);
    expect(melCepstralDistortion(a, b)).toBeGreaterThan(1);
    expect(multiResolutionStftDistance(a, b)).toBeGreaterThan(1);
    // Length mismatch: the extra frames of the longer signal are ignored.
    expect(logMelDistanceDb(noise.subarray(0, 30000), noise)).toBeLessThan(0.5);
  });

  it('prints the measured numbers', () => {
    console.log(report.join('\n'));
    expect(report.length).toBeGreaterThan(0);
  });
});
