/**
 * Per-frame audio features through meyda: 13 MFCCs, spectral centroid (Hz), spectral flatness, RMS
 * and zero-crossing rate, channels-last {names, frames, data[frame·names.length + j]}.
 *
 * Frames follow the STFT convention (frameSize 1024, hop 256, centred: frame t is centred on sample
 * t·hop, the signal zero-padded by frameSize/2), so there are ⌊L/hop⌋ + 1 frames, aligned with
 * the mel frames. Spectral features and MFCCs see a Hann-windowed frame (meyda's default); RMS and
 * ZCR are computed by meyda on the raw (rectangular) frame, the usual definition.
 */
import meydaModule from 'meyda';
import type { MeydaAudioFeature, MeydaFeaturesObject } from 'meyda';

/** The meyda singleton: Node's CJS build exports it as module.exports, the ESM build as default. */
interface MeydaLike {
  bufferSize: number;
  sampleRate: number;
  numberOfMFCCCoefficients: number;
  windowingFunction: string;
  extract(feature: MeydaAudioFeature[], signal: Float32Array): Partial<MeydaFeaturesObject> | null;
}
const Meyda: MeydaLike = ((meydaModule as unknown as { default?: MeydaLike }).default ?? meydaModule) as unknown as MeydaLike;

export interface FeatureOptions {
  sampleRate: number;
  /** Frame size, a power of two (default 1024). */
  frameSize?: number;
  /** Hop in samples (default 256). */
  hop?: number;
  /** Number of MFCCs (default 13). */
  mfccCount?: number;
}

export interface FrameFeatures {
  /** Column names: mfcc_0 … mfcc_{n−1}, spectralCentroid (Hz), spectralFlatness, rms, zcr. */
  names: string[];
  frames: number;
  /** Channels-last: data[frame·names.length + j]. */
  data: Float32Array;
}

/** Extracts per-frame features (see the module comment for framing and definitions). */
export function frameFeatures(signal: Float32Array, options: FeatureOptions): FrameFeatures {
  const { sampleRate, frameSize = 1024, hop = 256, mfccCount = 13 } = options;
  if (!(sampleRate > 0)) throw new Error(`sampleRate must be positive, got ${sampleRate}`);
  if (!Number.isInteger(frameSize) || frameSize < 2 || (frameSize & (frameSize - 1)) !== 0) {
    throw new Error(`frameSize must be a power of two, got ${frameSize}`);
  }
  if (!Number.isInteger(hop) || hop < 1) throw new Error(`hop must be a positive integer, got ${hop}`);
  if (!Number.isInteger(mfccCount) || mfccCount < 1 || mfccCount > 26) throw new Error(`mfccCount must be in [1, 26], got ${mfccCount}`);
  if (signal.length === 0) throw new Error('signal is empty');
  for (let i = 0; i < signal.length; i++) {
    if (!Number.isFinite(signal[i]!)) throw new Error(`signal contains ${signal[i]} at sample ${i}; NaN/Inf are not allowed`);
  }
  const names = [...Array.from({ length: mfccCount }, (_, i) => `mfcc_${i}`), 'spectralCentroid', 'spectralFlatness', 'rms', 'zcr'];
  const width = names.length;
  const frames = Math.floor(signal.length / hop) + 1;
  const data = new Float32Array(frames * width);
  const pad = frameSize >> 1;
  const frame = new Float32Array(frameSize);
  const binHz = sampleRate / frameSize;

  // meyda is configured through its global object; set everything we rely on for each call.
  Meyda.bufferSize = frameSize;
  Meyda.sampleRate = sampleRate;
  Meyda.numberOfMFCCCoefficients = mfccCount;
  for (let t = 0; t < frames; t++) {
    const start = t * hop - pad;
    for (let n = 0; n < frameSize; n++) {
      const i = start + n;
      frame[n] = i >= 0 && i < signal.length ? signal[i]! : 0;
    }
    Meyda.windowingFunction = 'hanning';
    const spec = Meyda.extract(['mfcc', 'spectralCentroid', 'spectralFlatness'], frame);
    Meyda.windowingFunction = 'rect';
    const time = Meyda.extract(['rms', 'zcr'], frame);
    if (!spec || !time) throw new Error('meyda returned no features');
    const row = t * width;
    const mfcc = spec.mfcc ?? [];
    for (let j = 0; j < mfccCount; j++) data[row + j] = mfcc[j] ?? Number.NaN;
    // meyda gives the centroid in FFT bins; NaN (a silent frame) becomes 0.
    const centroid = spec.spectralCentroid ?? Number.NaN;
    data[row + mfccCount] = Number.isFinite(centroid) ? centroid * binHz : 0;
    const flat = spec.spectralFlatness ?? Number.NaN;
    data[row + mfccCount + 1] = Number.isFinite(flat) ? flat : 0;
    data[row + mfccCount + 2] = time.rms ?? Number.NaN;
    data[row + mfccCount + 3] = time.zcr ?? Number.NaN;
  }
  Meyda.windowingFunction = 'hanning';
  return { names, frames, data };
}
