import { loadModelDir, writeSynthesisSettings } from '../../io/model-dir.js';
import { pickEvenly } from '../../vocoder/evaluate.js';
import { DEFAULT_EMPHASIS_CANDIDATES, DEFAULT_SCALE_CANDIDATES, metricKey, tuneClips, tuneLatentScale, type TuneMetric, type TuneScore, type TuneTrial } from '../../vocoder/tune-latent.js';
import { CliError, Progress, envelopeOption, num, numList, parse, printJson, setupBackend, type Command } from '../common.js';
import { listEvalFiles, readEvalClip } from './evaluate.js';

const HELP = `flowvox tune-latent --model DIR --data DIR [--split validation] [--max-files 24] [--seconds 6]
                    [--sigma 0.6] [--metric mr-stft|log-mel] [--values 0,0.5,1,1.5] [--sweeps 2] [--seed 0]
                    [--emphasis-values 1,1.5,2,3,4,6] [--envelope N] [--write] [--json]
  Chooses σ per latent level (each early output, then the final channels): level l is drawn at
  σ × scale[l]. Coordinate descent from all ones over --values, scoring the mean copy-synthesis
  distance (--metric) of --max-files files of --split (first --seconds each), with the same latent
  seeds for every candidate. A model with a pitch predictor also gets its pitch emphasis (the gain
  head's pre-activation times C at synthesis; see synthesize --help) tuned in the same descent, over
  --emphasis-values (1 alone: left at 1). --write stores the result in DIR/config.json ("synthesis"), which
  synthesize, evaluate, play and the server then use; the weights and the likelihood are unchanged.
  Candidates are scored as the model synthesises, with its mel-envelope matching
  ("synthesis.envelope_iterations") if it has it, or with --envelope N iterations (which --write then
  stores too; 0 removes it). Tune on validation, then report with "flowvox evaluate --split test".
  JSON: {modelDir, data, split, files, metric, sigma, envelopeIterations, levels, start, best, trials, written, seconds, backend};
  start, best and each trial: {scale, pitchEmphasis (with a predictor), logMelDb, mrStft}.`;

export interface TuneLatentJson {
  modelDir: string;
  data: string;
  split: string | null;
  files: number;
  metric: TuneMetric;
  sigma: number;
  /** The model's mel-envelope matching, applied to every candidate. */
  envelopeIterations: number;
  levels: Array<[number, number]>;
  start: TuneScore;
  best: TuneScore;
  /** Every candidate scored after the start, in order: the level changed, the sweep, the scale and its distances. */
  trials: TuneTrial[];
  written: boolean;
  seconds: number;
  backend: string;
}

export const command: Command = {
  summary: 'choose σ per latent level on held-out audio (a decoding setting stored with the model)',
  async run(argv) {
    const o = parse(argv, {
      model: { type: 'string' }, data: { type: 'string' }, split: { type: 'string' }, 'max-files': { type: 'string' }, seconds: { type: 'string' },
      sigma: { type: 'string' }, metric: { type: 'string' }, values: { type: 'string' }, sweeps: { type: 'string' }, seed: { type: 'string' }, write: { type: 'boolean' },
      envelope: { type: 'string' }, 'emphasis-values': { type: 'string' },
    }, HELP);
    if (!o.model) throw new CliError(`--model DIR is required\n${HELP}`);
    if (!o.data) throw new CliError(`--data DIR is required\n${HELP}`);
    const split = o.split ?? 'validation';
    const maxFiles = num(o['max-files'], 'max-files', 24, { min: 1, int: true });
    const clipSeconds = num(o.seconds, 'seconds', 6, { min: 0.2, max: 600 });
    const sigma = num(o.sigma, 'sigma', 0.6, { min: 0, max: 10 });
    const sweeps = num(o.sweeps, 'sweeps', 2, { min: 1, max: 10, int: true });
    const seed = num(o.seed, 'seed', 0, { min: 0, int: true });
    const metric = (o.metric ?? 'mr-stft') as TuneMetric;
    if (metric !== 'mr-stft' && metric !== 'log-mel') throw new CliError(`--metric must be mr-stft or log-mel, got "${o.metric}"`);
    const candidates = numList(o.values, 'values', [...DEFAULT_SCALE_CANDIDATES], { min: 0, max: 10 });
    const emphasisCandidates = numList(o['emphasis-values'], 'emphasis-values', [...DEFAULT_EMPHASIS_CANDIDATES], { min: 0, max: 100 });
    const t0 = performance.now();
    const listed = await listEvalFiles(o.data, split);
    if (!listed.manifest && o.split) process.stderr.write(`tune-latent: ${o.data} has no manifest.json; --split ignored, using every WAV in it\n`);
    const { backend } = await setupBackend(o.backend);
    const { model, config } = await loadModelDir(o.model).catch((e: Error) => {
      throw new CliError(e.message);
    });
    const envelope = envelopeOption(o.envelope, config);
    const audios: Float32Array[] = [];
    for (const f of pickEvenly(listed.files, maxFiles)) {
      const a = await readEvalClip(f, config.mel, clipSeconds, 'tune-latent');
      if (a instanceof Float32Array) audios.push(a);
    }
    if (audios.length === 0) throw new CliError('no file could be read and was long enough to score');
    const clips = tuneClips(audios, config.mel);
    if (o['emphasis-values'] !== undefined && !model.predictor) throw new CliError('--emphasis-values: the model has no pitch predictor');
    const levels = model.latentLevels();
    const emphasisSteps = model.predictor && emphasisCandidates.some((v) => v !== 1) ? new Set(emphasisCandidates).size : 0;
    // At most: the start, then every candidate for every coordinate in every sweep (fewer when a value is met again).
    const progress = new Progress(1 + sweeps * (levels.length * new Set(candidates).size + emphasisSteps), 'tune-latent ');
    const key = metricKey(metric);
    const describe = (s: TuneScore) => `[${s.scale.join(', ')}]${s.pitchEmphasis !== undefined ? ` emphasis ${s.pitchEmphasis}` : ''}`;
    const r = tuneLatentScale(model, clips, config.mel, {
      sigma, candidates, emphasisCandidates, metric, sweeps, seed, envelope,
      onTrial: (t, done) => progress.update(done, `${describe(t)} ${metric} ${t[key].toFixed(4)}`),
    });
    progress.done();
    const written = !!o.write;
    const fmt = (s: TuneScore) => `${describe(s)}: MR-STFT ${s.mrStft.toFixed(4)}, log-mel ${s.logMelDb.toFixed(3)} dB`;
    if (written) {
      // The stored settings, less what this run decides: the emphasis always, the envelope when given.
      const { pitch_emphasis: _p, ...kept } = config.synthesis ?? {};
      const { envelope_iterations: _e, envelope_source: _s, ...others } = kept;
      const given = o.envelope !== undefined;
      await writeSynthesisSettings(o.model, {
        ...(given ? others : kept),
        latent_scale: r.best.scale,
        ...(r.best.pitchEmphasis !== undefined && r.best.pitchEmphasis !== 1 ? { pitch_emphasis: r.best.pitchEmphasis } : {}),
        latent_scale_source: `flowvox tune-latent --data ${o.data} --split ${split} --max-files ${maxFiles} --seconds ${clipSeconds} --sigma ${sigma} --metric ${metric}${envelope ? ` --envelope ${envelope}` : ''} (${clips.length} files): ` +
          `${metric} ${r.start[key].toFixed(4)} at all ones → ${r.best[key].toFixed(4)}${r.best.pitchEmphasis !== undefined ? ` (pitch emphasis ${r.best.pitchEmphasis} tuned with it over ${emphasisCandidates.join(', ')})` : ''}`,
        ...(given && envelope > 0 ? { envelope_iterations: envelope, envelope_source: `given to flowvox tune-latent --envelope ${envelope}` } : {}),
      });
    }
    const round = (s: TuneScore): TuneScore => ({ scale: s.scale, ...(s.pitchEmphasis !== undefined ? { pitchEmphasis: s.pitchEmphasis } : {}), logMelDb: Number(s.logMelDb.toFixed(4)), mrStft: Number(s.mrStft.toFixed(5)) });
    const out: TuneLatentJson = {
      modelDir: o.model, data: o.data, split: listed.manifest ? split : null, files: clips.length, metric, sigma, envelopeIterations: envelope, levels: r.levels,
      start: round(r.start), best: round(r.best), trials: r.trials.map((t) => ({ ...round(t), level: t.level, sweep: t.sweep })), written, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)), backend,
    };
    if (o.json) {
      printJson(out);
      return;
    }
    console.log([
      `${clips.length} files (${out.split ?? 'folder'}), σ ${sigma}, ${out.trials.length + 1} candidates scored in ${out.seconds} s (${backend})`,
      `levels (z channels): ${r.levels.map(([a, b]) => `${a}–${b - 1}`).join(', ')}`,
      `all ones ${fmt(r.start)}`,
      `best     ${fmt(r.best)}`,
      written ? `wrote the scale${r.best.pitchEmphasis !== undefined ? ' and pitch emphasis' : ''} to ${o.model}/config.json` : 'not written (add --write to store it with the model)',
    ].join('\n'));
  },
};
