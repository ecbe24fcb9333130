import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { DATASETS } from '../../examples/density2d/datasets.js';
import { FLOWS_2D } from '../../examples/density2d/flows.js';
import { densityGrid, trainDensity2D } from '../../examples/density2d/train.js';
import { writePng } from '../../io/png-file.js';
import { saveWeights, writeJson } from '../../io/weights-file.js';
import { gridLines, heatmap, lineChart, panels, regularGrid, scatter, type Canvas } from '../../plot/index.js';
import { serialize } from '../../train/checkpoint.js';
import type { TransformedDistribution } from '../../flows/index.js';
import { CliError, Progress, num, parse, printJson, setupBackend, type Command } from '../common.js';

const HELP = `flowvox density2d --dataset NAME --flow NAME [--steps 3000] [--minutes M] [--seed 0] [--batch 512] [--lr 0.002] --out DIR [--json] [--backend B]
  Fits a normalizing flow to a 2D toy density by maximum likelihood, reports the test NLL on
  20 000 held-out samples (and KL = NLL − entropy where the entropy is known), and writes PNGs.
  datasets: ${DATASETS.join(', ')}
  flows:    ${FLOWS_2D.join(', ')}`;

interface Mapping {
  grid: { x: Float32Array; y: Float32Array }[];
  latent: { x: Float32Array; y: Float32Array };
}

/** The seed's before/after view: a z-space grid pushed forward, and data pulled back to z. */
function mapping(model: TransformedDistribution, data: Float32Array): Mapping {
  const grid = regularGrid([-3, 3], [-3, 3], 13, 120).map((l) => {
    const n = l.x.length;
    const pts = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      pts[2 * i] = l.x[i];
      pts[2 * i + 1] = l.y[i];
    }
    const out = tf.tidy(() => model.bijector.forward(tf.tensor2d(pts, [n, 2])).dataSync() as Float32Array);
    return split(out);
  });
  const z = tf.tidy(() => model.bijector.inverse(tf.tensor2d(data, [data.length / 2, 2])).dataSync() as Float32Array);
  return { grid, latent: split(z) };
}

function split(xy: Float32Array): { x: Float32Array; y: Float32Array } {
  const n = xy.length / 2;
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = xy[2 * i];
    y[i] = xy[2 * i + 1];
  }
  return { x, y };
}

function mappingRow(m: Mapping, when: string, range: [number, number]): Canvas[] {
  return [
    gridLines(m.grid, { xRange: range, yRange: range, title: `z -> x, ${when}` }),
    scatter([{ ...m.latent, color: '#4e79a7' }], { xRange: [-4, 4], yRange: [-4, 4], title: `x -> z, ${when}`, pointSize: 2, alpha: 0.35 }),
  ];
}

export const command: Command = {
  summary: 'fit a flow to a 2D toy density and draw it',
  async run(argv) {
    const o = parse(argv, {
      dataset: { type: 'string' }, flow: { type: 'string', default: 'realnvp' }, steps: { type: 'string' },
      seed: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, out: { type: 'string' }, minutes: { type: 'string' },
    }, HELP);
    if (!o.dataset || !(DATASETS as readonly string[]).includes(o.dataset)) throw new CliError(`--dataset must be one of ${DATASETS.join(', ')}\n${HELP}`);
    if (!(FLOWS_2D as readonly string[]).includes(o.flow)) throw new CliError(`--flow must be one of ${FLOWS_2D.join(', ')}`);
    if (!o.out) throw new CliError(`--out DIR is required\n${HELP}`);
    const steps = num(o.steps, 'steps', 3000, { min: 1, int: true });
    const seed = num(o.seed, 'seed', 0, { min: 0, int: true });
    const batch = num(o.batch, 'batch', 512, { min: 2, max: 65536, int: true });
    const lr = num(o.lr, 'lr', 2e-3, { min: 1e-7, max: 1 });
    const minutes = o.minutes === undefined ? undefined : num(o.minutes, 'minutes', 0, { min: 0.01 });
    const { backend } = await setupBackend(o.backend);

    const progress = new Progress(steps, `${o.dataset}/${o.flow} `);
    let before: Mapping | null = null;
    let smooth = NaN;
    const result = trainDensity2D({
      dataset: o.dataset, flow: o.flow, steps, seed, batch, lr, minutes,
      onStep: (s) => {
        smooth = Number.isNaN(smooth) ? s.loss : 0.98 * smooth + 0.02 * s.loss;
        progress.update(s.step, `loss ${smooth.toFixed(3)} lr ${s.lr.toExponential(1)}`);
      },
      onStart: (model, data) => {
        before = mapping(model, data.sample(1500));
      },
    });
    progress.done();

    const { model, data } = result;
    const range = data.range;
    const real = split(data.sample(3000));
    const gen = split(tf.tidy(() => model.sample(3000, undefined, { seed: seed + 7 }).dataSync() as Float32Array));
    const files = {
      density: join(o.out, 'density.png'),
      samples: join(o.out, 'samples.png'),
      loss: join(o.out, 'loss.png'),
      mappings: join(o.out, 'mappings.png'),
    };
    const n = 200;
    const dens = densityGrid(model, range[0], range[1], n);
    await writePng(files.density, heatmap(dens, n, n, { xRange: range, yRange: range, title: `learned density: ${o.flow} on ${o.dataset}`, colorbar: true, colorbarLabel: 'p(x)', square: true, width: 460, height: 400 }));
    await writePng(files.samples, panels([[
      scatter([{ ...real, color: '#4e79a7' }], { xRange: range, yRange: range, title: 'data', pointSize: 2, alpha: 0.4 }),
      scatter([{ ...gen, color: '#e15759' }], { xRange: range, yRange: range, title: 'samples from the flow', pointSize: 2, alpha: 0.4 }),
    ]], { title: `${o.dataset}: data vs model samples` }));
    const ema: number[] = [];
    result.losses.forEach((l, i) => ema.push(i === 0 ? l : 0.98 * ema[i - 1] + 0.02 * l));
    const series = [
      { y: result.losses, label: 'batch NLL', alpha: 0.3 },
      { y: ema, label: 'smoothed' },
      ...(result.entropy !== null ? [{ y: [result.entropy, result.entropy], x: [0, result.losses.length - 1], label: 'true entropy', dash: [6, 4] as [number, number] }] : []),
    ];
    // Rare outlier batches would flatten the curve; frame the bulk of it.
    const sorted = [...result.losses].sort((a, b) => a - b);
    const lo = Math.min(sorted[0], result.entropy ?? Infinity);
    const hi = sorted[Math.floor(0.95 * (sorted.length - 1))];
    await writePng(files.loss, lineChart(series, { title: 'training loss (nats)', xLabel: 'step', yLabel: 'NLL', width: 640, height: 360, yRange: [lo - 0.05 * (hi - lo), hi] }));
    const after = mapping(model, data.sample(1500));
    await writePng(files.mappings, panels([mappingRow(before!, 'untrained', range), mappingRow(after, 'trained', range)], { title: 'forward (grid z -> x) and inverse (data x -> z) mappings' }));
    await saveWeights(join(o.out, 'model'), await serialize(model, undefined, { dataset: o.dataset, flow: o.flow, seed }));

    const out = {
      dataset: o.dataset, flow: o.flow, steps: result.losses.length, seconds: Number(result.seconds.toFixed(2)), backend,
      testNll: Number(result.testNll.toFixed(4)),
      entropy: result.entropy === null ? null : Number(result.entropy.toFixed(4)),
      kl: result.kl === null ? null : Number(result.kl.toFixed(4)),
      files: Object.values(files),
    };
    await writeJson(join(o.out, 'result.json'), out);
    if (o.json) printJson(out);
    else console.log(`test NLL ${out.testNll} nats${out.kl === null ? '' : ` (entropy ${out.entropy}, KL ${out.kl})`} in ${out.seconds}s on ${backend}\nwrote ${out.files.join(', ')}`);
  },
};
