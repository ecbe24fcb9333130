import { basename } from 'node:path';
import { scoreFigure } from '../../anomaly/plot.js';
import { SCORE_NAMES, flaggedEvents, scoreAudio, scoreOf, type ScoreName, type SegmentScores } from '../../anomaly/scorer.js';
import { writePng } from '../../io/png-file.js';
import { loadCalibration, loadModelOrFail } from '../anomaly-io.js';
import { readWavFor } from '../audio-input.js';
import { CliError, Progress, num, parse, printJson, setupBackend, type Command } from '../common.js';

const HELP = `flowvox score --model DIR --in FILE.wav [--segment 0.5] [--hop 0.25] [--calib calib.json]
    [--score ${SCORE_NAMES.join('|')}] [--png OUT.png] [--json]
  Scores every segment of a recording by its likelihood under the model; higher = more anomalous.
  Scores: nll (raw), lr (flow NLL − the segment's own LPC background NLL: a likelihood ratio),
  typicality (|NLL − normal mean| / σ), complexity (the same on the NLL corrected for the segment's
  LPC complexity by a fit on normal audio), features (a flow on meyda features) and combined (the
  larger of complexity and standardised features). All but nll and lr need a calibration: --calib,
  or the model's own anomaly-calibration.json when it ships one. Default: the calibration's
  default score, else lr.
  Writes a PNG (waveform, spectrogram, score timeline; segments over the calibrated threshold shaded).
  JSON: {scoreName, threshold, segments: [{start, end, score, nllNatsPerSample, bitsPerSample, scores}], flagged, png}.`;

export function segmentJson(s: SegmentScores, name: ScoreName) {
  const r = (v: number) => Number(v.toFixed(5));
  const scores: Record<string, number> = {};
  for (const n of SCORE_NAMES) {
    const v = scoreOf(s, n);
    if (Number.isFinite(v)) scores[n] = r(v);
  }
  return { start: r(s.start), end: r(s.end), score: r(scoreOf(s, name)), nllNatsPerSample: r(s.nll), bitsPerSample: r(s.nll / Math.LN2), scores };
}

export function parseScoreName(v: string | undefined): ScoreName | undefined {
  if (v === undefined) return undefined;
  if (!(SCORE_NAMES as readonly string[]).includes(v)) throw new CliError(`--score must be one of ${SCORE_NAMES.join(', ')}`);
  return v as ScoreName;
}

export const command: Command = {
  summary: 'per-segment anomaly scores of a recording (likelihood-based), with a PNG',
  async run(argv) {
    const o = parse(argv, { model: { type: 'string' }, in: { type: 'string' }, segment: { type: 'string' }, hop: { type: 'string' }, calib: { type: 'string' }, score: { type: 'string' }, png: { type: 'string' } }, HELP);
    if (!o.model) throw new CliError(`--model DIR is required\n${HELP}`);
    if (!o.in) throw new CliError(`--in FILE.wav is required\n${HELP}`);
    const wanted = parseScoreName(o.score);
    await setupBackend(o.backend);
    const loaded = await loadModelOrFail(o.model);
    const cal = await loadCalibration(loaded, o.calib);
    const segment = num(o.segment, 'segment', cal?.segment ?? 0.5, { min: 0.05, max: 30 });
    const hop = num(o.hop, 'hop', cal?.hop ?? 0.25, { min: 0.01, max: 30 });
    const name: ScoreName = wanted ?? cal?.defaultScore ?? 'lr';
    if (!cal && name !== 'lr' && name !== 'nll') throw new CliError(`--score ${name} needs a calibration (--calib, from "flowvox calibrate")`);
    const audio = await readWavFor(o.in, loaded.config.mel);
    const progress = new Progress(100, 'score ');
    let segs: SegmentScores[];
    try {
      segs = scoreAudio(loaded.model, loaded.config.mel, audio, { segment, hop, calibration: cal, onProgress: (d, t) => progress.update(Math.round((100 * d) / t), '%') });
    } catch (e) {
      throw new CliError(`${o.in}: ${(e as Error).message}`);
    }
    progress.done();
    const threshold = cal?.thresholds[name];
    const flagged = threshold === undefined ? [] : flaggedEvents(segs, name, threshold).map((e) => [e.start, e.end] as const);
    const png = o.png ?? `${basename(o.in).replace(/\.wav$/i, '')}.score.png`;
    const sr = loaded.config.mel.sampleRate;
    await writePng(png, scoreFigure(audio, sr, segs.map((s) => (s.start + s.end) / 2), segs.map((s) => scoreOf(s, name)), { title: `${basename(o.in)}: ${name}`, scoreName: name, threshold, flagged }));
    const out = { scoreName: name, threshold: threshold ?? null, segments: segs.map((s) => segmentJson(s, name)), flagged: flagged.map(([a, b]) => ({ start: a, end: b })), png };
    if (o.json) printJson(out);
    else {
      for (const s of out.segments) console.log(`${s.start.toFixed(2)}–${s.end.toFixed(2)} s  ${name} ${s.score.toFixed(3)}  NLL ${s.nllNatsPerSample.toFixed(3)} nats/sample`);
      console.log(`${flagged.length} flagged interval(s); figure: ${png}`);
    }
  },
};
