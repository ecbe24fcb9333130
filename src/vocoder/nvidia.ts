/**
 * NVIDIA's WaveGlow parameter names and layouts (glow.py state_dict) ↔ flowvox's WaveGlow.
 * Conv weights are (out, in, k) there and [k, in, out] here; ConvTranspose1d is (in, out, k) there
 * and [in, k, out] here. Layouts are converted once, at load time.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WaveGlow, WaveGlowConfig } from './waveglow.js';

export interface HostTensor {
  shape: number[];
  data: Float32Array | Float64Array;
}

/** NVIDIA's config.json holds `waveglow_config` (and train/data configs) — accept either. */
export function configFromNvidia(json: unknown): WaveGlowConfig {
  const o = json as Record<string, unknown>;
  const wg = (o.waveglow_config ?? o) as Partial<WaveGlowConfig>;
  const need = ['n_mel_channels', 'n_flows', 'n_group', 'n_early_every', 'n_early_size', 'WN_config'] as const;
  for (const k of need) if (wg[k] === undefined) throw new Error(`config has no "${k}" (expected NVIDIA's waveglow_config)`);
  const wn = wg.WN_config!;
  return {
    n_mel_channels: wg.n_mel_channels!, n_flows: wg.n_flows!, n_group: wg.n_group!, n_early_every: wg.n_early_every!, n_early_size: wg.n_early_size!,
    WN_config: { n_layers: wn.n_layers, n_channels: wn.n_channels, kernel_size: wn.kernel_size },
    hop_length: 256, upsampler: 'convtranspose',
  };
}

/** Copies NVIDIA-named tensors into the model; every expected name must be present with its shape. */
export function loadNvidiaStateDict(model: WaveGlow, dict: Map<string, HostTensor>): void {
  const used = new Set<string>();
  const get = (name: string, shape: number[]): tf.Tensor => {
    const t = dict.get(name);
    if (!t) throw new Error(`checkpoint has no "${name}"`);
    if (!tf.util.arraysEqual(t.shape, shape)) throw new Error(`"${name}" has shape [${t.shape}], expected [${shape}] for this config`);
    used.add(name);
    return tf.tensor(Float32Array.from(t.data), t.shape);
  };
  const set = (v: tf.Variable, make: () => tf.Tensor) => tf.tidy(() => v.assign(make()));
  const conv1x1 = (v: tf.Variable, name: string) => set(v, () => tf.transpose(tf.squeeze(get(name, [v.shape[1]!, v.shape[0]!, 1]), [2])));
  const bias = (v: tf.Variable, name: string) => set(v, () => get(name, v.shape));

  if (model.upsample) {
    const [cin, k, cout] = model.upsample.weight.shape;
    set(model.upsample.weight, () => tf.transpose(get('upsample.weight', [cin!, cout!, k!]), [0, 2, 1]));
    bias(model.upsample.bias, 'upsample.bias');
  }
  model.wns.forEach((wn, k) => {
    const p = `WN.${k}`;
    conv1x1(wn.start.w, `${p}.start.weight`);
    bias(wn.start.b, `${p}.start.bias`);
    conv1x1(wn.cond.w, `${p}.cond_layer.weight`);
    bias(wn.cond.b, `${p}.cond_layer.bias`);
    wn.inLayers.forEach((l, i) => {
      const [ks, cin, cout] = l.w.shape;
      set(l.w, () => tf.transpose(get(`${p}.in_layers.${i}.weight`, [cout!, cin!, ks!]), [2, 1, 0]));
      bias(l.b, `${p}.in_layers.${i}.bias`);
    });
    wn.resSkip.forEach((l, i) => {
      conv1x1(l.w, `${p}.res_skip_layers.${i}.weight`);
      bias(l.b, `${p}.res_skip_layers.${i}.bias`);
    });
    conv1x1(wn.end.w, `${p}.end.weight`);
    bias(wn.end.b, `${p}.end.bias`);
  });
  model.convs.forEach((c, k) => set(c.weight, () => tf.squeeze(get(`convinv.${k}.conv.weight`, [c.channels, c.channels, 1]), [2])));
  const unused = [...dict.keys()].filter((k) => !used.has(k));
  if (unused.length) throw new Error(`checkpoint has tensors this config does not use: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', …' : ''}`);
}
