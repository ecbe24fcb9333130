/**
 * Training throughput with 1 and more threads: `flowvox train --workers N` for a fixed time each, one
 * after another in fresh processes, on the same data and settings (docs/recipe-variants.md, follow-up 7).
 *
 *   npm run bench:train -- [--preset cpu-small] [--batch 16] [--segment 8192] [--minutes 1.5]
 *                          [--workers 1,2] [--data DIR] [--json]
 *
 * Without --data it writes two minutes of synthetic voiced audio to a temporary folder: speed does not
 * depend on what is said. Reports audio-seconds trained per wall-clock second (after the first
 * step), the median step and its parts, and each count's ratio to the first. The machine's speed
 * drifts over tens of minutes, so compare only rows of one run.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runFlowvoxJson } from '../cli/common.js';
import { encodeWav } from '../io/wav.js';

interface TrainJson {
  backend: string;
  workers: number;
  stepsThisRun: number;
  audioSecondsPerSecond: number;
  stepSecondsMedian?: Record<string, number>;
}

/** Harmonic voices with vibrato, syllable envelopes and a little noise, 22.05 kHz. */
function writeSyntheticVoices(dir: string, files = 12, seconds = 10): void {
  const sr = 22050;
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
  for (let f = 0; f < files; f++) {
    const x = new Float32Array(seconds * sr);
    let ph = 0;
    for (let i = 0; i < x.length; i++) {
      const t = i / sr;
      ph += (2 * Math.PI * (100 + 15 * f + 20 * Math.sin(2 * Math.PI * 0.7 * t))) / sr;
      let v = 0;
      for (let h = 1; h <= 10; h++) v += Math.sin(h * ph) / h;
      x[i] = 0.2 * Math.max(0, Math.sin(Math.PI * 3 * t)) * v + 0.01 * rand();
    }
    const sub = join(dir, `speaker${f % 4}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `clip${f}.wav`), encodeWav(x, sr, { bitDepth: '16' }));
  }
}

async function main(): Promise<void> {
  const { values: o } = parseArgs({
    options: {
      preset: { type: 'string', default: 'cpu-small' }, batch: { type: 'string', default: '16' }, segment: { type: 'string', default: '8192' },
      minutes: { type: 'string', default: '1.5' }, workers: { type: 'string', default: `1,${availableParallelism()}` },
      data: { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean', default: false },
    },
  });
  const counts = o.workers!.split(',').map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--workers takes a comma-separated list of integers ≥ 1, got "${o.workers}"`);
  const tmp = mkdtempSync(join(tmpdir(), 'flowvox-bench-train-'));
  try {
    const data = o.data ?? join(tmp, 'data');
    if (!o.data) writeSyntheticVoices(data);
    const rows: (TrainJson & { ratio: number })[] = [];
    for (const [i, n] of counts.entries()) {
      process.stderr.write(`--workers ${n}: training ${o.minutes} min…\n`);
      const r = await runFlowvoxJson<TrainJson>('train', [
        '--preset', o.preset!, '--batch', o.batch!, '--segment', o.segment!, '--minutes', o.minutes!, '--workers', String(n),
        '--data', data, '--out', join(tmp, `w${n}-${i}`), '--val-batches', '1', ...(o.backend ? ['--backend', o.backend] : []),
      ]);
      const row = { ...r, ratio: rows.length ? r.audioSecondsPerSecond / rows[0]!.audioSecondsPerSecond : 1 };
      rows.push(row);
      process.stderr.write(`  ${r.audioSecondsPerSecond.toFixed(2)} audio-s/s, median step ${r.stepSecondsMedian?.total ?? NaN} s, ${row.ratio.toFixed(2)}× --workers ${counts[0]}\n`);
    }
    const out = {
      preset: o.preset, batch: Number(o.batch), segment: Number(o.segment), minutes: Number(o.minutes), data: o.data ?? 'synthetic',
      backend: rows[0]?.backend, cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown', date: new Date().toISOString(),
      runs: rows.map((r) => ({ workers: r.workers, steps: r.stepsThisRun, audioSecondsPerSecond: r.audioSecondsPerSecond, ratio: Number(r.ratio.toFixed(3)), stepSecondsMedian: r.stepSecondsMedian })),
    };
    if (o.json) console.log(JSON.stringify(out));
    else for (const r of out.runs) console.log(`--workers ${r.workers}: ${r.audioSecondsPerSecond} audio-s/s (${r.ratio}×)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
