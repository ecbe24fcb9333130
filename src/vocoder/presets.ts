import type { WaveGlowConfig } from './waveglow.js';

/**
 * Named model configurations.
 * - waveglow-256: NVIDIA's released WaveGlow (87.9M parameters): studio quality on a GPU.
 * - cpu-realtime: built for 2 CPU cores. As SqueezeWave (Zhai et al. 2020) does, audio is grouped
 *   into 256-sample vectors — one per mel frame — so the WN networks run at the frame rate (86/s)
 *   instead of 2 756/s, and the mel conditions each group directly (no 6.5M-parameter
 *   ConvTranspose upsampler). Early outputs shrink the later flows. ≈ 0.9 GFLOP per second of audio.
 * - cpu-small: cpu-realtime with WN 4 × 64 channels (1.87M parameters): 2.3–2.5× the training steps
 *   per hour; in 12-minute runs it (with lr 1e-3, batch 16 × 8192) converged fastest of the recipes
 *   compared in docs/recipe-variants.md.
 * - tiny: for tests and smoke runs (seconds of CPU).
 */
export const PRESETS: Record<string, WaveGlowConfig> = {
  'waveglow-256': {
    n_mel_channels: 80, n_flows: 12, n_group: 8, n_early_every: 4, n_early_size: 2,
    WN_config: { n_layers: 8, n_channels: 256, kernel_size: 3 }, hop_length: 256, upsampler: 'convtranspose', sampling_rate: 22050,
  },
  'cpu-realtime': {
    n_mel_channels: 80, n_flows: 8, n_group: 256, n_early_every: 2, n_early_size: 32,
    WN_config: { n_layers: 4, n_channels: 128, kernel_size: 3 }, hop_length: 256, upsampler: 'frames', sampling_rate: 22050,
  },
  'cpu-small': {
    n_mel_channels: 80, n_flows: 8, n_group: 256, n_early_every: 2, n_early_size: 32,
    WN_config: { n_layers: 4, n_channels: 64, kernel_size: 3 }, hop_length: 256, upsampler: 'frames', sampling_rate: 22050,
  },
  tiny: {
    n_mel_channels: 80, n_flows: 4, n_group: 8, n_early_every: 2, n_early_size: 2,
    WN_config: { n_layers: 2, n_channels: 16, kernel_size: 3 }, hop_length: 256, upsampler: 'convtranspose', sampling_rate: 22050,
  },
};

export function preset(name: string): WaveGlowConfig {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}"; choose one of ${Object.keys(PRESETS).join(', ')}`);
  return structuredClone(p);
}
