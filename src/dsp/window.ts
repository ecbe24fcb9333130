/** Analysis windows (Float64). */

/**
 * Hann window w[n] = 0.5 − 0.5·cos(2πn/D), D = n for the periodic ("fftbins") form used by STFTs
 * (scipy `get_window('hann', N)`, torch `hann_window(N)`), D = n − 1 for the symmetric one.
 */
export function hannWindow(length: number, periodic = true): Float64Array {
  if (!Number.isInteger(length) || length < 1) throw new Error(`window length must be a positive integer, got ${length}`);
  const w = new Float64Array(length);
  if (length === 1) {
    w[0] = 1;
    return w;
  }
  const d = periodic ? length : length - 1;
  for (let i = 0; i < length; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / d);
  return w;
}

/**
 * Zero-pads `window` symmetrically to `size` (librosa `pad_center`), so a win_length < n_fft window
 * sits in the middle of the FFT frame, as tacotron2's STFT does.
 */
export function padCenter(window: Float64Array, size: number): Float64Array {
  if (window.length > size) throw new Error(`window length ${window.length} exceeds frame size ${size}`);
  if (window.length === size) return window;
  const out = new Float64Array(size);
  out.set(window, Math.floor((size - window.length) / 2));
  return out;
}
