import { calibrate, DEFAULT_SCORE } from '../../anomaly/calibrate.js';
import { writeJson } from '../../io/weights-file.js';
import { corpusSplit, loadModelOrFail, wavsIn, weightsId } from '../anomaly-io.js';
import { readWavFor } from '../audio-input.js';
import { CliError, Progress, num, parse, printJson, setupBackend, type Command } from '../common.js';
import { parseScoreName } from './score.js';

const HELP = `flowvox calibrate --model DIR --normal DIR_OF_WAVS --out calib.json [--fpr 0.05] [--segment 0.5] [--hop 0.25]
    [--default-score NAME] [--feature-steps 1500] [--max-files 40] [--max-seconds 8] [--json]
  --normal: a folder of WAVs (searched recursively), or a corpus from "flowvox data speech", whose
  validation split is used (never the files the model trained on).
  Learns what normal sounds like: fits the feature flow (meyda features) on the normal WAVs, scores
  every normal segment, and stores for each score the threshold that flags --fpr of them, with the
  normal NLL statistics the typicality scores need. Default score: ${DEFAULT_SCORE}.
  JSON: {out, fpr, defaultScore, thresholds, files, segments, seconds}.`;

/** A corpus (manifest.json from "flowvox data speech") gives its validation split; a folder, its WAVs. */
async function normalFiles(dir: string): Promise<string[]> {
  const files = await corpusSplit(dir, 'validation');
  if (files === null) return wavsIn(dir);
  if (files.length === 0) throw new CliError(`${dir}/manifest.json lists no validation files`);
  return files;
}

export const command: Command = {
  summary: 'thresholds for a target false-positive rate on normal audio',
  async run(argv) {
    const o = parse(argv, {
      model: { type: 'string' }, normal: { type: 'string' }, out: { type: 'string' }, fpr: { type: 'string' }, segment: { type: 'string' }, hop: { type: 'string' },
      'default-score': { type: 'string' }, 'feature-steps': { type: 'string' }, 'max-files': { type: 'string' }, 'max-seconds': { type: 'string' },
    }, HELP);
    if (!o.model || !o.normal || !o.out) throw new CliError(`--model, --normal and --out are required\n${HELP}`);
    const fpr = num(o.fpr, 'fpr', 0.05, { min: 1e-4, max: 0.5 });
    const segment = num(o.segment, 'segment', 0.5, { min: 0.05, max: 30 });
    const hop = num(o.hop, 'hop', 0.25, { min: 0.01, max: 30 });
    const featureSteps = num(o['feature-steps'], 'feature-steps', 1500, { min: 0, max: 100_000, int: true });
    const maxFiles = num(o['max-files'], 'max-files', 40, { min: 1, int: true });
    const maxSeconds = num(o['max-seconds'], 'max-seconds', 8, { min: 0.1 });
    const defaultScore = parseScoreName(o['default-score']);
    await setupBackend(o.backend);
    const loaded = await loadModelOrFail(o.model);
    const files = await normalFiles(o.normal);
    // Evenly spread over the folder, so a sorted folder's first speaker does not make up all of it.
    const picked = files.length <= maxFiles ? files : Array.from({ length: maxFiles }, (_, i) => files[Math.floor((i * files.length) / maxFiles)]!);
    const sr = loaded.config.mel.sampleRate;
    const normal: Float32Array[] = [];
    for (const f of picked) {
      const a = await readWavFor(f, loaded.config.mel);
      normal.push(a.subarray(0, Math.round(maxSeconds * sr)));
    }
    const bars = new Map<string, Progress>();
    let result;
    try {
      result = calibrate(loaded.model, loaded.config.mel, normal, {
        fpr, segment, hop, featureSteps, defaultScore, modelSource: loaded.config.source, modelWeights: await weightsId(loaded.dir),
        onProgress: (stage, d, t) => {
          if (!bars.has(stage)) bars.set(stage, new Progress(t, `${stage} `));
          bars.get(stage)!.update(d);
        },
      });
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    const { calibration: cal } = result;
    await writeJson(o.out, cal);
    const out = { out: o.out, fpr, defaultScore: cal.defaultScore, thresholds: cal.thresholds, files: cal.normal.files, segments: cal.normal.segments, seconds: Number(cal.normal.seconds.toFixed(2)) };
    if (o.json) printJson(out);
    else console.log(`calibrated on ${out.files} files (${out.seconds} s, ${out.segments} segments) for FPR ${fpr}: ${o.out}`);
  },
};
