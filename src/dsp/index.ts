/** Audio front end: FFT, STFT, mel spectrograms, Griffin-Lim, metrics, .npy, resampling, features. */
export { ComplexFFT, RealFFT, realFFT, rfft, irfft, isPowerOfTwo } from './fft.js';
export { hannWindow, padCenter } from './window.js';
export {
  StftPlan,
  stft,
  stftMagnitude,
  istft,
  numFrames,
  reflectPad,
  checkSignal,
  type StftConfig,
  type Spectrogram,
  type ComplexSpectrogram,
} from './stft.js';
export {
  TACOTRON_MEL,
  hzToMel,
  melToHz,
  melFilterbank,
  melFromMagnitude,
  melStftMagnitude,
  logMelSpectrogram,
  logMelFloat64,
  melPseudoInverse,
  melToLinearMagnitude,
  type MelConfig,
  type MelBasisConfig,
  type MelSpectrogram,
  type MelInversionOptions,
} from './mel.js';
export { griffinLim, griffinLimFromMagnitude, type GriffinLimOptions } from './griffin-lim.js';
export {
  logMelDistanceDb,
  melCepstralDistortion,
  multiResolutionStftDistance,
  stftDistanceTerms,
  MR_STFT_RESOLUTIONS,
  type AudioOrLogMel,
  type StftResolution,
  type StftDistanceTerms,
} from './metrics.js';
export { readNpy, writeNpy, melFromNpy, melToNpy, type NpyArray, type NpyDtype } from './npy.js';
export { resample, resampledLength, type ResampleOptions } from './resample.js';
export { frameFeatures, type FeatureOptions, type FrameFeatures } from './features.js';
