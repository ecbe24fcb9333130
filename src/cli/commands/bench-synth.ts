import * as tf from '@tensorflow/tfjs-core';
import { loadModelDir } from '../../io/model-dir.js';
import { PRESETS, preset } from '../../vocoder/presets.js';
import { WaveGlow } from '../../vocoder/waveglow.js';
import { CliError, num, parse, printJson, setupBackend, type Command } from '../common.js';

const HELP = `flowvox bench-synth [--presets cpu-realtime,tiny] [--model DIR] [--seconds 4] [--reps 3] [--json]
  Measures synthesis speed (xRealTime = seconds of audio per wall-clock second, median of --reps
  runs after one warm-up) for each preset (random weights: the cost does not depend on them) or
  a model directory, on the backend in use (--backend to choose). One thread per process.`;

interface Row {
  model: string;
  params: number;
  seconds: number;
  medianWallSeconds: number;
  xRealTime: number;
  backend: string;
}

function timeSynthesis(model: WaveGlow, seconds: number, reps: number): number {
  const frames = Math.ceil((seconds * (model.config.sampling_rate ?? 22050)) / model.hop);
  const run = () => {
    const t0 = performance.now();
    tf.tidy(() => {
      const mel = tf.randomNormal([1, frames, model.config.n_mel_channels], -5, 2, 'float32', 1) as tf.Tensor3D;
      model.synthesize(mel, { sigma: 0.6, seed: 2 }).dataSync();
    });
    return (performance.now() - t0) / 1000;
  };
  run(); // warm-up: kernel compilation, weight packing
  const times = Array.from({ length: reps }, run).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export const command: Command = {
  summary: 'measure synthesis speed (× real time) per preset or model',
  async run(argv) {
    const o = parse(argv, { presets: { type: 'string' }, model: { type: 'string' }, seconds: { type: 'string' }, reps: { type: 'string' } }, HELP);
    const seconds = num(o.seconds, 'seconds', 4, { min: 0.1, max: 600 });
    const reps = num(o.reps, 'reps', 3, { min: 1, int: true });
    const { backend } = await setupBackend(o.backend);
    const targets: { name: string; make: () => Promise<WaveGlow> }[] = [];
    if (o.model) targets.push({ name: o.model, make: async () => (await loadModelDir(o.model!)).model });
    const names = o.presets ? o.presets.split(',') : o.model ? [] : ['cpu-realtime', 'tiny'];
    for (const n of names) {
      if (!PRESETS[n]) throw new CliError(`unknown preset "${n}"; choose from ${Object.keys(PRESETS).join(', ')}`);
      targets.push({ name: n, make: async () => new WaveGlow(preset(n)) });
    }
    const rows: Row[] = [];
    for (const t of targets) {
      process.stderr.write(`bench-synth: ${t.name}…\n`);
      const model = await t.make();
      const wall = timeSynthesis(model, seconds, reps);
      const audioSeconds = model.samplesFor(Math.ceil((seconds * (model.config.sampling_rate ?? 22050)) / model.hop)) / (model.config.sampling_rate ?? 22050);
      rows.push({ model: t.name, params: model.parameterCount(), seconds: Number(audioSeconds.toFixed(3)), medianWallSeconds: Number(wall.toFixed(3)), xRealTime: Number((audioSeconds / wall).toFixed(2)), backend });
      model.dispose();
    }
    console.log(['| model | parameters | audio s | wall s (median) | × real time | backend |', '|---|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.model} | ${(r.params / 1e6).toFixed(2)}M | ${r.seconds} | ${r.medianWallSeconds} | ${r.xRealTime} | ${r.backend} |`)].join('\n'));
    if (o.json) printJson({ reps, rows });
  },
};
