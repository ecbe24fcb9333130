import { basename } from 'node:path';
import { scoreFigure } from '../../anomaly/plot.js';
import { flaggedEvents, scoreAudio, scoreOf, type ScoreName } from '../../anomaly/scorer.js';
import { writePng } from '../../io/png-file.js';
import { loadCalibration, loadModelOrFail } from '../anomaly-io.js';
import { readWavFor } from '../audio-input.js';
import { CliError, parse, printJson, setupBackend, type Command } from '../common.js';
import { parseScoreName, segmentJson } from './score.js';

const HELP = `flowvox detect --model DIR --calib calib.json --in FILE.wav [--score NAME] [--png OUT.png] [--json]
  Flags the segments whose score exceeds the calibrated threshold (set by "flowvox calibrate" for a
  target false-positive rate on normal audio) and merges them into events.
  JSON: {scoreName, threshold, fpr, anomalous, events: [{start, end, peakScore}], segments, png}.`;

export const command: Command = {
  summary: 'flag anomalous stretches of a recording with a calibrated threshold',
  async run(argv) {
    const o = parse(argv, { model: { type: 'string' }, calib: { type: 'string' }, in: { type: 'string' }, score: { type: 'string' }, png: { type: 'string' } }, HELP);
    if (!o.model) throw new CliError(`--model DIR is required\n${HELP}`);
    if (!o.in) throw new CliError(`--in FILE.wav is required\n${HELP}`);
    const wanted = parseScoreName(o.score);
    await setupBackend(o.backend);
    const loaded = await loadModelOrFail(o.model);
    const cal = await loadCalibration(loaded, o.calib);
    if (!cal) throw new CliError(`--calib calib.json is required (make one with "flowvox calibrate"); ${o.model} ships none\n${HELP}`);
    const name: ScoreName = wanted ?? cal.defaultScore;
    const threshold = cal.thresholds[name];
    if (threshold === undefined) throw new CliError(`the calibration has no threshold for ${name}`);
    const audio = await readWavFor(o.in, loaded.config.mel);
    let segs;
    try {
      segs = scoreAudio(loaded.model, loaded.config.mel, audio, { calibration: cal });
    } catch (e) {
      throw new CliError(`${o.in}: ${(e as Error).message}`);
    }
    const events = flaggedEvents(segs, name, threshold).map((e) => ({ ...e, peakScore: Number(e.peakScore.toFixed(5)) }));
    const png = o.png ?? `${basename(o.in).replace(/\.wav$/i, '')}.detect.png`;
    await writePng(png, scoreFigure(audio, loaded.config.mel.sampleRate, segs.map((s) => (s.start + s.end) / 2), segs.map((s) => scoreOf(s, name)), { title: `${basename(o.in)}: ${events.length} event(s)`, scoreName: name, threshold, flagged: events.map((e) => [e.start, e.end] as const) }));
    const out = { scoreName: name, threshold, fpr: cal.fpr, anomalous: events.length > 0, events, segments: segs.map((s) => segmentJson(s, name)), png };
    if (o.json) printJson(out);
    else {
      console.log(events.length ? events.map((e) => `anomalous ${e.start.toFixed(2)}–${e.end.toFixed(2)} s (peak ${name} ${e.peakScore})`).join('\n') : 'no anomaly found');
      console.log(`figure: ${png}`);
    }
  },
};
