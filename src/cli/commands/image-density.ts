import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_DATASETS, type ImageDatasetName, type ImageSet } from '../../examples/images/datasets.js';
import { loadImageSet } from '../../examples/images/files.js';
import { defaultTrainConfig, evaluateBitsPerDim, ImageDensityRun, interpolateImages, sampleImages, type ImageTrainConfig } from '../../examples/images/train.js';
import { writePng } from '../../io/png-file.js';
import { loadWeights, saveWeights, writeJson } from '../../io/weights-file.js';
import { imageGrid, lineChart, panels, type LineSeries } from '../../plot/index.js';
import { CliError, Progress, num, parse, printJson, setupBackend, type Command } from '../common.js';

const HELP = `flowvox image-density --dataset mnist|fashion-mnist --minutes M --out DIR [--batch 64] [--lr 1e-3]
    [--levels 2] [--steps-per-level 8] [--hidden 64] [--seed 0] [--preprocess logit|shift] [--warmup 200]
    [--coupling-scale sigmoid|softclamp]
    [--eval-every 5] [--eval-images 1000] [--test-images 10000] [--ckpt-every 5] [--json] [--backend B]
  Trains a multiscale Glow (L levels × K steps of ActNorm, 1x1 conv, affine coupling with a CNN
  conditioner; learned split priors) on 28×28 grey images by maximum likelihood with uniform
  dequantisation, and reports bits/dim = (NLL + D·ln 256) / (D·ln 2) over the D = 784 pixels.
  Re-running with the same --out continues the run in DIR/checkpoint exactly (parameters, Adam
  state, data order), training --minutes more; minutes accumulate. During training the first
  --eval-images test images are scored every --eval-every minutes (the curve); at the end the first
  --test-images test images (default: the whole 10 000-image test set). Writes samples.png
  (temperatures 0.7 and 1.0), interpolation.png, loss.png and result.json to DIR.
  Fashion-MNIST needs: apt-get install -y dataset-fashion-mnist`;

/** Flags that fix the model or the data stream: on resume they must match the checkpoint. */
const FIXED = ['batch', 'levels', 'steps-per-level', 'hidden', 'seed', 'preprocess', 'coupling-scale'] as const;

function fixedValue(cfg: ImageTrainConfig, flag: (typeof FIXED)[number]): string {
  switch (flag) {
    case 'batch': return String(cfg.batch);
    case 'levels': return String(cfg.model.levels);
    case 'steps-per-level': return String(cfg.model.steps);
    case 'hidden': return String(cfg.model.hidden);
    case 'seed': return String(cfg.seed);
    case 'preprocess': return cfg.model.preprocess;
    case 'coupling-scale': return cfg.model.couplingScale ?? 'softclamp';
  }
}

/** Test pairs for the interpolation figure: the first images of distinct labels, paired up. */
function pickPairs(set: ImageSet, n: number): [number, number][] {
  const firstOf = new Map<number, number>();
  for (let i = 0; i < set.count && firstOf.size < 2 * n; i++) {
    const l = set.labels?.[i] ?? i;
    if (!firstOf.has(l)) firstOf.set(l, i);
  }
  const idx = [...firstOf.values()];
  return Array.from({ length: Math.min(n, idx.length >> 1) }, (_, k) => [idx[2 * k], idx[2 * k + 1]]);
}

export const command: Command = {
  summary: 'train a multiscale Glow on MNIST / Fashion-MNIST and report test bits/dim',
  async run(argv) {
    const o = parse(argv, {
      dataset: { type: 'string' }, minutes: { type: 'string' }, out: { type: 'string' },
      batch: { type: 'string' }, lr: { type: 'string' }, levels: { type: 'string' }, 'steps-per-level': { type: 'string' },
      hidden: { type: 'string' }, seed: { type: 'string' }, preprocess: { type: 'string' }, warmup: { type: 'string' }, 'coupling-scale': { type: 'string' },
      'eval-every': { type: 'string' }, 'eval-images': { type: 'string' }, 'test-images': { type: 'string' }, 'ckpt-every': { type: 'string' },
    }, HELP);
    if (!o.dataset || !(IMAGE_DATASETS as readonly string[]).includes(o.dataset)) throw new CliError(`--dataset must be one of ${IMAGE_DATASETS.join(', ')}\n${HELP}`);
    if (!o.out) throw new CliError(`--out DIR is required\n${HELP}`);
    if (o.minutes === undefined) throw new CliError(`--minutes M is required\n${HELP}`);
    if (o.preprocess !== undefined && o.preprocess !== 'logit' && o.preprocess !== 'shift') throw new CliError('--preprocess must be logit or shift');
    if (o['coupling-scale'] !== undefined && o['coupling-scale'] !== 'sigmoid' && o['coupling-scale'] !== 'softclamp') throw new CliError('--coupling-scale must be sigmoid or softclamp');
    const dataset = o.dataset as ImageDatasetName;
    const minutes = num(o.minutes, 'minutes', 0, { min: 0 });
    const evalEvery = num(o['eval-every'], 'eval-every', 5, { min: 0.01 });
    const evalImages = num(o['eval-images'], 'eval-images', 1000, { min: 1, int: true });
    const testImages = num(o['test-images'], 'test-images', 10_000, { min: 1, int: true });
    const ckptEvery = num(o['ckpt-every'], 'ckpt-every', 5, { min: 0.01 });
    const { backend } = await setupBackend(o.backend);

    let train: ImageSet;
    let test: ImageSet;
    try {
      [train, test] = await Promise.all([loadImageSet(dataset, 'train'), loadImageSet(dataset, 't10k')]);
    } catch (e) {
      throw new CliError((e as Error).message);
    }

    const ckptDir = join(o.out, 'checkpoint');
    let run: ImageDensityRun;
    if (existsSync(join(ckptDir, 'weights.json'))) {
      run = ImageDensityRun.restore(train, await loadWeights(ckptDir));
      const cfg = run.config;
      if (cfg.dataset !== dataset) throw new CliError(`${o.out} holds a ${cfg.dataset} run; use another --out for ${dataset}`);
      for (const flag of FIXED) {
        const given = o[flag];
        if (given !== undefined && String(Number.isNaN(Number(given)) ? given : Number(given)) !== fixedValue(cfg, flag)) {
          throw new CliError(`--${flag} ${given} differs from the run in ${o.out} (${fixedValue(cfg, flag)}); omit it to resume, or use another --out`);
        }
      }
      if (o.lr !== undefined && Number(o.lr) !== cfg.lr) throw new CliError(`--lr ${o.lr} differs from the run in ${o.out} (${cfg.lr}); omit it to resume exactly`);
      if (o.warmup !== undefined && Number(o.warmup) !== cfg.warmupSteps) throw new CliError(`--warmup ${o.warmup} differs from the run in ${o.out} (${cfg.warmupSteps}); omit it to resume exactly`);
      process.stderr.write(`resuming ${o.out}: step ${run.step}, ${(run.state.seconds / 60).toFixed(1)} min trained\n`);
    } else {
      const cfg = defaultTrainConfig(dataset, [train.height, train.width, train.channels], {
        batch: num(o.batch, 'batch', 64, { min: 2, max: 4096, int: true }),
        lr: num(o.lr, 'lr', 1e-3, { min: 1e-7, max: 1 }),
        warmupSteps: num(o.warmup, 'warmup', 200, { min: 0, int: true }),
        seed: num(o.seed, 'seed', 0, { min: 0, int: true }),
        model: {
          levels: num(o.levels, 'levels', 2, { min: 1, max: 4, int: true }),
          steps: num(o['steps-per-level'], 'steps-per-level', 8, { min: 1, max: 64, int: true }),
          hidden: num(o.hidden, 'hidden', 64, { min: 4, max: 1024, int: true }),
          preprocess: (o.preprocess as 'logit' | 'shift' | undefined) ?? 'logit',
          couplingScale: (o['coupling-scale'] as 'sigmoid' | 'softclamp' | undefined) ?? 'sigmoid',
        },
      });
      cfg.model.seed = cfg.seed;
      try {
        run = ImageDensityRun.create(train, cfg);
      } catch (e) {
        throw new CliError((e as Error).message);
      }
    }
    const params = run.flow.dist.trainableVariables().reduce((s, v) => s + v.size, 0);
    process.stderr.write(`image-density: ${dataset}, Glow L=${run.config.model.levels} K=${run.config.model.steps} hidden=${run.config.model.hidden}, ${params} parameters, batch ${run.config.batch}\n`);

    const save = async () => saveWeights(ckptDir, await run.serialize());
    // Ctrl-C: finish the current step, checkpoint and write the figures, as at the end of --minutes.
    let stop = false;
    const onSigint = () => {
      if (stop) process.exit(130);
      stop = true;
      process.stderr.write('\nimage-density: stopping after this step (Ctrl-C again to abort)\n');
    };
    process.on('SIGINT', onSigint);

    // The run's clock counts all wall time in this loop (steps, evaluations, checkpoints).
    const budget = minutes * 60_000;
    const t0 = performance.now();
    const base = run.state.seconds;
    const tick = () => {
      run.state.seconds = base + (performance.now() - t0) / 1000;
    };
    let lastEval = t0;
    let lastCkpt = t0;
    let smooth = NaN;
    // CPU seconds inside this invocation's steps: images per CPU-second is what one free core would
    // give, which wall-clock images/s on a shared machine understates.
    const cpu = { seconds: 0, steps: 0 };
    const progress = new Progress(Math.round(minutes * 60), `${dataset} `);
    if (run.state.evals.length === 0) {
      run.evaluate(test, evalImages);
      tick();
    }
    try {
      while (!stop && performance.now() - t0 < budget) {
        const c0 = process.cpuUsage();
        const info = run.trainStep();
        const c = process.cpuUsage(c0);
        cpu.seconds += (c.user + c.system) / 1e6;
        cpu.steps += 1;
        tick();
        if (info.skipped) process.stderr.write(`  step ${info.step}: batch loss ${info.loss.toFixed(2)} bits/dim is a spike; its update was skipped\n`);
        else smooth = Number.isNaN(smooth) ? info.loss : 0.98 * smooth + 0.02 * info.loss;
        progress.update(Math.round((performance.now() - t0) / 1000), `step ${info.step} bpd ${smooth.toFixed(3)} ${run.imagesPerSecond().toFixed(1)} img/s`);
        if (performance.now() - lastEval >= evalEvery * 60_000) {
          const e = run.evaluate(test, evalImages);
          tick();
          process.stderr.write(`  step ${e.step}: test bpd ${e.bitsPerDim.toFixed(4)} (first ${e.images} test images) at ${e.minutes.toFixed(1)} min\n`);
          lastEval = performance.now();
        }
        if (performance.now() - lastCkpt >= ckptEvery * 60_000) {
          await save();
          tick();
          lastCkpt = performance.now();
        }
      }
    } finally {
      process.off('SIGINT', onSigint);
    }
    progress.done();
    const last = run.state.evals[run.state.evals.length - 1];
    if (!last || last.step !== run.step) {
      run.evaluate(test, evalImages);
      tick();
    }
    await save();

    process.stderr.write(`evaluating test bits/dim on ${Math.min(testImages, test.count)} test images…\n`);
    const testBpd = evaluateBitsPerDim(run.flow, test, testImages);

    const [h, w] = [train.height, train.width];
    const files = {
      samples: join(o.out, 'samples.png'),
      interpolation: join(o.out, 'interpolation.png'),
      loss: join(o.out, 'loss.png'),
      result: join(o.out, 'result.json'),
    };
    const grid = (t: number) => imageGrid(sampleImages(run.flow, 64, t, 1000 + run.config.seed), h, w, { cols: 8, title: `T = ${t}`, scale: 3 });
    await writePng(files.samples, panels([[grid(0.7), grid(1.0)]], { title: `${dataset}: Glow samples after ${(run.state.seconds / 60).toFixed(0)} min` }));
    const interp = interpolateImages(run.flow, test, pickPairs(test, 4), 8);
    await writePng(files.interpolation, imageGrid(interp.rows.flat(), h, w, { cols: interp.rows[0].length, scale: 3, title: 'test image | decode(z_a) ... slerp ... decode(z_b) | test image' }));
    const s = run.state;
    const ema: number[] = [];
    // ~20-step horizon: at ~1 step/s a longer one lags the curve by minutes.
    const skipped = new Set(s.skipped ?? []);
    s.trainBpd.forEach((v, i) => ema.push(i === 0 ? v : skipped.has(i) ? ema[i - 1] : 0.95 * ema[i - 1] + 0.05 * v));
    const series: LineSeries[] = [
      { x: s.trainMinutes, y: s.trainBpd, label: 'train batch', alpha: 0.25 },
      { x: s.trainMinutes, y: ema, label: 'train (smoothed)' },
      { x: s.evals.map((e) => e.minutes), y: s.evals.map((e) => e.bitsPerDim), label: `test (first ${evalImages})`, width: 2.5 },
    ];
    const sorted = [...s.trainBpd].sort((a, b) => a - b);
    const lo = Math.min(sorted[0] ?? 1, ...s.evals.map((e) => e.bitsPerDim), testBpd);
    // Frame the slow part of the curve: the first minutes fall from ~6 bits/dim and would flatten it.
    const hi = Math.max(Math.min(sorted[Math.floor(0.97 * (sorted.length - 1))] ?? 2, lo + 2), lo + 0.1);
    await writePng(files.loss, lineChart(series, {
      title: `${dataset}: bits/dim (final test ${testBpd.toFixed(3)} on ${Math.min(testImages, test.count)} images)`,
      xLabel: 'training minutes', yLabel: 'bits/dim', width: 720, height: 400, yRange: [lo - 0.05 * (hi - lo), hi],
    }));

    const result = {
      dataset,
      params,
      minutes: Number((s.seconds / 60).toFixed(2)),
      backend,
      trainBitsPerDim: Number(run.recentTrainBpd(100).toFixed(4)),
      testBitsPerDim: Number(testBpd.toFixed(4)),
      testImages: Math.min(testImages, test.count),
      steps: run.step,
      epochs: Number(run.stream.epochs(run.step).toFixed(3)),
      imagesPerSecond: Number(run.imagesPerSecond().toFixed(1)),
      skippedSteps: s.skipped?.length ?? 0,
      imagesPerCpuSecond: cpu.seconds > 0 ? Number(((cpu.steps * run.config.batch) / cpu.seconds).toFixed(1)) : null,
      reconstructionError: interp.reconstructionError,
      curve: s.evals.map((e) => ({ minutes: e.minutes, step: e.step, testBitsPerDim: e.bitsPerDim, images: e.images })),
      files: Object.values(files),
    };
    await writeJson(files.result, result);
    run.dispose();
    if (o.json) printJson(result);
    else console.log(`test ${result.testBitsPerDim} bits/dim (train ${result.trainBitsPerDim}) after ${result.minutes} min, ${result.steps} steps, ${result.imagesPerSecond} images/s on ${backend}\nwrote ${result.files.join(', ')}`);
  },
};
