import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DATASETS } from '../../examples/density2d/datasets.js';
import { FLOWS_2D } from '../../examples/density2d/flows.js';
import { writeJson } from '../../io/weights-file.js';
import { CliError, num, parse, printJson, runFlowvoxJson, type Command } from '../common.js';

const HELP = `flowvox bench-density2d [--datasets 8gaussians,checkerboard] [--flows realnvp] [--minutes 2] [--batch 1024] [--jobs N] [--out DIR] [--json]
  Trains each flow on each dataset with a wall-clock budget and prints one comparison table
  (test NLL, KL where the entropy is known, steps, seconds, backend). Runs N trainings at once
  (default: one per core; each tfjs-wasm process uses one core).`;

interface Row {
  dataset: string;
  flow: string;
  steps: number;
  seconds: number;
  backend: string;
  testNll: number;
  entropy: number | null;
  kl: number | null;
}

export const command: Command = {
  summary: 'benchmark 2D flows on toy densities (comparison table)',
  async run(argv) {
    const o = parse(argv, {
      datasets: { type: 'string', default: '8gaussians,checkerboard' }, flows: { type: 'string', default: 'realnvp' },
      minutes: { type: 'string' }, batch: { type: 'string' }, jobs: { type: 'string' }, out: { type: 'string', default: 'out/bench-density2d' },
      seed: { type: 'string' },
    }, HELP);
    const datasets = o.datasets.split(',');
    const flows = o.flows.split(',');
    for (const d of datasets) if (!(DATASETS as readonly string[]).includes(d)) throw new CliError(`unknown dataset "${d}"`);
    for (const f of flows) if (!(FLOWS_2D as readonly string[]).includes(f)) throw new CliError(`unknown flow "${f}"`);
    const minutes = num(o.minutes, 'minutes', 2, { min: 0.05 });
    const batch = num(o.batch, 'batch', 1024, { min: 2, int: true });
    const jobs = num(o.jobs, 'jobs', availableParallelism(), { min: 1, int: true });
    const seed = num(o.seed, 'seed', 0, { min: 0, int: true });
    const tasks = datasets.flatMap((d) => flows.map((f) => ({ d, f })));
    const rows: Row[] = [];
    let next = 0;
    const worker = async () => {
      while (next < tasks.length) {
        const { d, f } = tasks[next++];
        process.stderr.write(`bench: ${f} on ${d} for ${minutes} min…\n`);
        const extra = o.backend ? ['--backend', o.backend] : [];
        rows.push(await runFlowvoxJson<Row>('density2d', ['--dataset', d, '--flow', f, '--minutes', String(minutes), '--steps', '1000000', '--batch', String(batch), '--seed', String(seed), '--out', join(o.out, `${d}-${f}`), ...extra]));
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
    rows.sort((a, b) => a.dataset.localeCompare(b.dataset) || a.flow.localeCompare(b.flow));
    const table = [
      '| dataset | flow | test NLL (nats) | entropy | KL | steps | seconds | backend |',
      '|---|---|---|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.dataset} | ${r.flow} | ${r.testNll.toFixed(3)} | ${r.entropy?.toFixed(3) ?? '–'} | ${r.kl?.toFixed(3) ?? '–'} | ${r.steps} | ${r.seconds.toFixed(0)} | ${r.backend} |`),
    ].join('\n');
    await writeJson(join(o.out, 'bench.json'), { minutes, batch, jobs, rows });
    console.log(table);
    if (o.json) printJson({ minutes, batch, jobs, rows });
  },
};
