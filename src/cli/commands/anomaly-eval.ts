import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calibrate } from '../../anomaly/calibrate.js';
import { DETECTORS, evalTable, evaluateAnomalies } from '../../anomaly/evaluate.js';
import { ANOMALY_KINDS, type AnomalyKind } from '../../anomaly/inject.js';
import { corpusSplit, loadModelOrFail, wavsIn, weightsId } from '../anomaly-io.js';
import { readWavFor } from '../audio-input.js';
import { CliError, Progress, num, parse, printJson, setupBackend, type Command } from '../common.js';

const HELP = `flowvox anomaly-eval --model DIR --data DIR [--clips 16] [--seconds 4] [--calib-files 24] [--kinds LIST]
    [--feature-steps 1500] [--seed 0] [--out DIR] [--json]
  Builds a labelled test set from held-out normal speech with anomalies injected at known times
  (${ANOMALY_KINDS.join(', ')}), calibrates on other normal files, and reports segment-level AUROC and
  pAUC (FPR ≤ 0.1, divided by 0.1: 1 perfect, 0.05 chance) per kind and score, beside energy and
  spectral-flux baselines measured on the same segments.
  --data: a corpus from "flowvox data speech" (calibrates on validation, tests on test) or a folder of WAVs
  (alternate files). --out writes eval.json and eval.md there.
  JSON: {model, clips, seconds, segmentSeconds, kinds, detectors, rows: [{kind, positives, negatives, auroc, pauc}], table}.`;

async function splitData(dir: string): Promise<{ calib: string[]; test: string[] }> {
  const calib = await corpusSplit(dir, 'validation', 1);
  const test = await corpusSplit(dir, 'test', 2);
  if (calib !== null && test !== null) return { calib, test };
  const all = await wavsIn(dir);
  return { calib: all.filter((_, i) => i % 2 === 0), test: all.filter((_, i) => i % 2 === 1) };
}

function spread<T>(xs: readonly T[], n: number): T[] {
  return xs.length <= n ? [...xs] : Array.from({ length: n }, (_, i) => xs[Math.floor((i * xs.length) / n)]!);
}

export const command: Command = {
  summary: 'AUROC of the anomaly scores on speech with injected anomalies, against baselines',
  async run(argv) {
    const o = parse(argv, {
      model: { type: 'string' }, data: { type: 'string' }, clips: { type: 'string' }, seconds: { type: 'string' }, 'calib-files': { type: 'string' },
      kinds: { type: 'string' }, 'feature-steps': { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' },
    }, HELP);
    if (!o.model || !o.data) throw new CliError(`--model and --data are required\n${HELP}`);
    const nClips = num(o.clips, 'clips', 16, { min: 1, int: true });
    const seconds = num(o.seconds, 'seconds', 4, { min: 1 });
    const nCalib = num(o['calib-files'], 'calib-files', 24, { min: 1, int: true });
    const featureSteps = num(o['feature-steps'], 'feature-steps', 1500, { min: 0, int: true });
    const seed = num(o.seed, 'seed', 0, { int: true });
    let kinds: AnomalyKind[] = [...ANOMALY_KINDS];
    if (o.kinds) {
      kinds = o.kinds.split(',').map((k) => k.trim()) as AnomalyKind[];
      const bad = kinds.filter((k) => !(ANOMALY_KINDS as readonly string[]).includes(k));
      if (bad.length) throw new CliError(`unknown anomaly kind(s) ${bad.join(', ')}; known: ${ANOMALY_KINDS.join(', ')}`);
    }
    const info = await setupBackend(o.backend);
    const loaded = await loadModelOrFail(o.model);
    const sr = loaded.config.mel.sampleRate;
    const split = await splitData(o.data);
    if (split.test.length === 0 || split.calib.length === 0) throw new CliError(`${o.data}: needs held-out files (≥ 2 s) for testing and others for calibration`);
    const read = async (files: string[]) => Promise.all(files.map(async (f) => (await readWavFor(f, loaded.config.mel)).subarray(0, Math.round(seconds * sr))));
    const calibAudio = await read(spread(split.calib, nCalib));
    const clips = await read(spread(split.test, nClips));
    const t0 = performance.now();
    const bars = new Map<string, Progress>();
    const bar = (stage: string, d: number, t: number) => {
      if (!bars.has(stage)) bars.set(stage, new Progress(t, `${stage} `));
      bars.get(stage)!.update(d);
    };
    const { calibration } = calibrate(loaded.model, loaded.config.mel, calibAudio, { featureSteps, modelSource: loaded.config.source, modelWeights: await weightsId(loaded.dir), onProgress: bar });
    const { rows, segmentSeconds } = evaluateAnomalies(loaded.model, loaded.config.mel, clips, calibration, { kinds, seed, onProgress: (d, t) => bar('evaluate', d, t) });
    const table = evalTable(rows);
    const r4 = (v: number) => (Number.isFinite(v) ? Number(v.toFixed(4)) : null);
    const out = {
      model: o.model, backend: info.backend, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
      clips: clips.length, clipSeconds: seconds, calibrationFiles: calibAudio.length, segmentSeconds: Number(segmentSeconds.toFixed(3)),
      kinds, detectors: DETECTORS,
      rows: rows.map((r) => ({ kind: r.kind, positives: r.positives, negatives: r.negatives, auroc: Object.fromEntries(DETECTORS.map((d) => [d, r4(r.auroc[d])])), pauc: Object.fromEntries(DETECTORS.map((d) => [d, r4(r.pauc[d])])) })),
      table,
    };
    if (o.out) {
      await mkdir(o.out, { recursive: true });
      await writeFile(join(o.out, 'eval.json'), JSON.stringify(out, null, 2) + '\n');
      await writeFile(join(o.out, 'eval.md'), table + '\n');
    }
    if (o.json) printJson(out);
    else console.log(table);
  },
};
