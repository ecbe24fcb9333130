import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAudioSplit } from '../../io/audio-dir.js';
import { loadModelDir, saveModelDir } from '../../io/model-dir.js';
import { calibrateVoicing } from '../../train/pitch-pretrain.js';
import { SegmentSampler } from '../../vocoder/data.js';
import type { MelPitchConditioner } from '../../vocoder/pitch.js';
import { CliError, Progress, num, parse, printJson, setupBackend, type Command } from '../common.js';

const HELP = `flowvox calibrate-voicing --model DIR --data DIR [--batches 64] [--seed 0] [--json]
  Refits a pitch-predictor model's voiced/unvoiced call (the pitch net's "unvoiced" class) to the
  audio's own NCCF voicing, on --batches × 16 segments of 8192 samples from the training part of
  --data (a corpus from "flowvox data speech", or a folder of WAVs), and rewrites DIR's weights in
  their precision. Synthesis applies the pitch emphasis only on frames called voiced (see synthesize
  --help); likelihood training of the pitch net (train --learn-pitch) moves the features that call
  reads and leaves the call behind. The likelihood never reads the unvoiced class, so every NLL
  stays the same. The anomaly calibration names the weights file: run "flowvox calibrate" after it.
  JSON: {modelDir, data, frames, vuErrorBefore, vuErrorAfter (on 6 fixed validation batches),
         logLossBefore, logLossAfter (on the fit frames), seconds, backend}`;

export interface CalibrateVoicingJson {
  modelDir: string;
  data: string;
  frames: number;
  vuErrorBefore: number;
  vuErrorAfter: number;
  logLossBefore: number;
  logLossAfter: number;
  seconds: number;
  backend: string;
}

/** Segment length of the fit, as pitch pretraining and training use. */
const SEGMENT = 8192;

export const command: Command = {
  summary: "refit a pitch-predictor model's voiced/unvoiced call (where synthesis applies the pitch emphasis)",
  async run(argv) {
    const o = parse(argv, { model: { type: 'string' }, data: { type: 'string' }, batches: { type: 'string' }, seed: { type: 'string' } }, HELP);
    if (!o.model) throw new CliError(`--model DIR is required\n${HELP}`);
    if (!o.data) throw new CliError(`--data DIR is required\n${HELP}`);
    const batches = num(o.batches, 'batches', 64, { min: 1, max: 10_000, int: true });
    const seed = num(o.seed, 'seed', 0, { min: 0, int: true });
    const t0 = performance.now();
    const { backend } = await setupBackend(o.backend);
    const { model, config } = await loadModelDir(o.model).catch((e: Error) => {
      throw new CliError(e.message);
    });
    if (!model.predictor) throw new CliError(`${o.model} has no pitch predictor: there is no voicing call to calibrate`);
    // Keep the precision the directory was written in (a shipped model is float16).
    const half = (await readFile(join(o.model, 'weights.json'), 'utf8')).includes('"float16"');
    let load: Progress | undefined;
    const split = await loadAudioSplit(o.data, config.mel.sampleRate, (done, total) => (load ??= new Progress(total, 'reading audio ')).update(done)).catch((e: Error) => {
      throw new CliError(e.message);
    });
    load?.done();
    if (split.train.length === 0 || split.validation.length === 0) throw new CliError(`${o.data} needs audio for both a training and a validation part`);
    let fit: Progress | undefined;
    const r = calibrateVoicing(model.predictor.conditioner as MelPitchConditioner, model.hop,
      new SegmentSampler(split.train, SEGMENT, config.mel), new SegmentSampler(split.validation, SEGMENT, config.mel),
      { batches, seed, onProgress: (done, total) => (fit ??= new Progress(total, 'calibrate-voicing ')).update(done) });
    fit?.done();
    await saveModelDir(o.model, model, { source: config.source, dtype: half ? 'float16' : 'float32', synthesis: config.synthesis });
    const round = (v: number) => Number(v.toFixed(4));
    const out: CalibrateVoicingJson = {
      modelDir: o.model, data: o.data, frames: r.frames, vuErrorBefore: round(r.before), vuErrorAfter: round(r.after),
      logLossBefore: round(r.lossBefore), logLossAfter: round(r.lossAfter), seconds: Number(((performance.now() - t0) / 1000).toFixed(1)), backend,
    };
    if (o.json) printJson(out);
    else {
      console.log(`voiced/unvoiced errors on validation: ${(100 * r.before).toFixed(1)} % → ${(100 * r.after).toFixed(1)} % (fit on ${r.frames} frames, ${out.seconds} s, ${backend})`);
      console.log(`rewrote the weights of ${o.model}${half ? ' (float16)' : ''}`);
    }
  },
};
