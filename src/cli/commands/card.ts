import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Manifest } from '../../data/speech.js';
import { readModelConfig } from '../../io/model-dir.js';
import { writePng } from '../../io/png-file.js';
import { lineChart } from '../../plot/charts.js';
import { envelopeIterationsOf, type ModelConfigFile } from '../../vocoder/model-dir.js';
import { PRESETS } from '../../vocoder/presets.js';
import { latentLevelsOf } from '../../vocoder/waveglow.js';
import { LOG_MEL_TARGET_RATIO, describePeriodicity, qualityTargets, type DistanceMetrics } from '../../vocoder/evaluate.js';
import { CliError, parse, printJson, type Command } from '../common.js';
import type { EvaluateJson } from './evaluate.js';
import type { RunState } from './train.js';

const HELP = `flowvox card --run RUNDIR --model DIR [--eval EVAL.json ...] [--data DIR] [--train-backend NAME]
             [--harmonics TEXT] [--note TEXT] [--out DIR] [--json]
  Writes the model card: OUT/card.md, OUT/learning-curves.png (train NLL, smoothed, and validation
  NLL against hours) and OUT/train-log.csv (a copy of RUNDIR's). OUT defaults to the model DIR.
  --eval: JSON from "flowvox evaluate --json" or "--out" (repeat it for other splits or backends;
    the first test-split one gives the test NLL, the metrics and the quality-target verdict).
  --data: the corpus (for its sources and licence); default: the "data" of the first --eval.
  --train-backend: the backend training ran on, if RUNDIR.log does not say ("flowvox: backend …").
  --harmonics: what the exported spectrograms show, e.g. "no: noise-like, no harmonic lines".
  --note: a paragraph for the Training section (e.g. the run's history).
  JSON (last stdout line): {out, files, iterations, hours, modelStep, bestValNll, testNll, targets}.`;

/** The part of a run's run.json the card quotes. */
type RecipeState = Partial<RunState>;

/** The training recipe in words, from run.json (settings a run did not record are left out). */
export function recipeLine(r: RecipeState | null): string {
  const parts = [`Maximum likelihood on random ${r?.segment ?? '?'}-sample segments, batch ${r?.batch ?? '?'}`];
  if (r?.initFrom) parts.push(`started from ${r.initFrom.source ?? r.initFrom.dir}${r.initFrom.grown ? ', its WN networks grown to this width/depth with the function unchanged' : ''}`);
  if (r?.lr !== undefined) parts.push(`Adam, learning rate ${r.lr}${r.warmup ? ` after ${r.warmup} warm-up steps` : ''}`);
  if (r?.clip) parts.push(`gradient norm clipped at ${r.clip}`);
  if (r?.ema) parts.push(`validated and shipped as an exponential moving average of the parameters (decay ${r.ema.decay} per step, from step ${r.ema.startStep})`);
  if (r?.stftWeight) parts.push(`plus ${r.stftWeight} × a multi-resolution STFT loss on samples (σ ${r.stftSigma}) for ${r.stftBatch} segments of each batch`);
  return `${parts.join('; ')}.`;
}

export interface TrainLogRow {
  step: number;
  hours: number;
  trainNll: number;
  valNll: number;
  audioPerSecond: number;
}

/** train-log.csv → rows (NaN where a column is empty, e.g. val_nll on most rows). */
export function parseTrainLog(csv: string): TrainLogRow[] {
  const [head, ...lines] = csv.trim().split(/\r?\n/);
  const cols = (head ?? '').split(',');
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new CliError(`train-log.csv lacks a "${name}" column (has ${cols.join(', ')})`);
    return i;
  };
  const [iStep, iHours, iTrain, iVal, iSpeed] = [at('step'), at('hours'), at('train_nll'), at('val_nll'), at('audio_s_per_s')];
  const val = (s: string | undefined) => (s === undefined || s.trim() === '' ? NaN : Number(s));
  return lines.filter((l) => l.trim()).map((l) => {
    const c = l.split(',');
    return { step: val(c[iStep]), hours: val(c[iHours]), trainNll: val(c[iTrain]), valNll: val(c[iVal]), audioPerSecond: val(c[iSpeed]) };
  });
}

/**
 * At most `n` validation points spread evenly in time, always with the first, the best and the last:
 * the table the card keeps from session to session.
 */
export function curveRows(val: readonly TrainLogRow[], n = 12): TrainLogRow[] {
  if (val.length <= n) return [...val];
  const best = val.reduce((a, b) => (b.valNll < a.valNll ? b : a));
  const t0 = val[0]!.hours;
  const t1 = val[val.length - 1]!.hours;
  const keep = new Set<TrainLogRow>([val[0]!, best, val[val.length - 1]!]);
  for (let i = 1; i < n - 2; i++) {
    const t = t0 + ((t1 - t0) * i) / (n - 2);
    keep.add(val.reduce((a, b) => (Math.abs(b.hours - t) < Math.abs(a.hours - t) ? b : a)));
  }
  return val.filter((r) => keep.has(r));
}

/** Centred moving average over 2k + 1 rows (shorter at the ends): smooths without the lag of an EMA. */
function movingAverage(xs: readonly number[], k: number): number[] {
  return xs.map((_, i) => {
    const a = Math.max(0, i - k);
    const b = Math.min(xs.length, i + k + 1);
    let s = 0;
    for (let j = a; j < b; j++) s += xs[j]!;
    return s / (b - a);
  });
}

async function readEval(path: string): Promise<EvaluateJson> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read --eval ${path}: ${(e as Error).message}`);
  }
  // A file written by --out, or a captured stdout whose last line is the JSON.
  const tryParse = (s: string): EvaluateJson | null => {
    try {
      return JSON.parse(s) as EvaluateJson;
    } catch {
      return null;
    }
  };
  const obj = tryParse(text) ?? tryParse(text.trim().split('\n').pop() ?? '');
  if (!obj || typeof obj.model !== 'object' || typeof obj.griffinLim !== 'object') throw new CliError(`${path} is not the JSON of "flowvox evaluate"`);
  return obj;
}

/** "flowvox: backend wasm" in the run's log (RUNDIR.log or RUNDIR/*.log), as setupBackend prints it. */
async function trainingBackend(runDir: string): Promise<string | null> {
  const dir = resolve(runDir);
  const logs = [`${dir}.log`, ...(await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.log')).map((f) => join(dir, f))];
  for (const p of logs) {
    const m = /flowvox: backend (\S+)/.exec(await readFile(p, 'utf8').catch(() => ''));
    if (m) return m[1]!;
  }
  return null;
}

function presetName(cfg: ModelConfigFile): string | null {
  const { predictor: _, ...flow } = cfg.waveglow; // a pitch predictor is described on its own line
  const key = JSON.stringify(flow);
  return Object.entries(PRESETS).find(([, p]) => JSON.stringify(p) === key)?.[0] ?? null;
}

/** The pitch predictor, if the model has one, in a sentence. */
function predictorLines(cfg: ModelConfigFile): string[] {
  const p = cfg.waveglow.predictor;
  if (!p) return [];
  const sr = cfg.mel.sampleRate;
  return [`Pitch predictor before the flow: per ${cfg.mel.hop}-sample frame, a net (${p.context.length} mel frames → 2 × ${p.hidden} ReLU) picks a distribution over pitch lags ${p.min_lag}–${p.max_lag} samples (${Math.round(sr / p.max_lag)}–${Math.round(sr / p.min_lag)} Hz) and a gain below ${p.max_gain}; each sample is predicted from one period back and the flow models the rest (src/vocoder/pitch.ts).`];
}

async function parameterCount(modelDir: string): Promise<number | null> {
  try {
    const m = JSON.parse(await readFile(join(modelDir, 'weights.json'), 'utf8')) as { weightsManifest: { weights: { shape: number[] }[] }[] };
    return m.weightsManifest.flatMap((g) => g.weights).reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
  } catch {
    return null;
  }
}

const f = (x: number, d: number): string => (Number.isFinite(x) ? x.toFixed(d) : '—');
const pct = (x: number): string => `${(100 * x).toFixed(0)} %`;

function metricsTable(e: EvaluateJson): string[] {
  // With envelope matching, the flow's own output and the filter's output on noise stand beside it.
  const env = (e as Partial<EvaluateJson>).envelopeIterations ?? 0;
  const extra = env > 0 && e.flowAlone && e.noiseEnvelope ? { flow: e.flowAlone, noise: e.noiseEnvelope } : null;
  const row = (name: string, k: keyof DistanceMetrics, d: number) =>
    `| ${name} | ${f(e.model[k], d)} | ${extra ? `${f(extra.flow[k], d)} | ${f(extra.noise[k], d)} | ` : ''}${f(e.griffinLim[k], d)} | ${f(e.model[k] / e.griffinLim[k], 2)} |`;
  const emphasis = (e as Partial<EvaluateJson>).pitchEmphasis ?? 1;
  const model = `model, copy-synthesis (σ = ${e.sigma ?? 0.6}${e.latentScale ? ` × [${e.latentScale.join(', ')}] per latent level` : ''}${emphasis !== 1 ? `, pitch emphasis ${emphasis}` : ''}${extra ? `, then ${env} iterations of mel-envelope matching` : ''})`;
  return [
    `| metric (lower is better) | ${model} | ${extra ? 'the flow alone (before envelope matching) | random-phase audio with the same mel, same envelope matching | ' : ''}Griffin-Lim (${e.griffinLimIterations ?? 60} it.) | model / GL |`,
    `|---|---|${extra ? '---|---|' : ''}---|---|`,
    row('log-mel distance, dB (80 mels, 0–8 kHz)', 'logMelDb', 2),
    row('mel-cepstral distortion, dB', 'mcd', 2),
    row('multi-resolution STFT distance (FFT 512/1024/2048)', 'mrStft', 3),
    // Evaluations written before this measure existed lack it.
    ...((e as Partial<EvaluateJson>).frameLocked ? ['', `Frame-locked pattern share (a fixed waveform repeated every mel frame, heard as a buzz at the frame rate; the original is at chance level): model ${f(e.frameLocked.model, 3)}, original ${f(e.frameLocked.original, 3)}, Griffin-Lim ${f(e.frameLocked.griffinLim, 3)}.`] : []),
  ];
}

function targetLines(e: EvaluateJson, harmonics: string | undefined): string[] {
  const t = qualityTargets(e.model, e.griffinLim);
  const limit = LOG_MEL_TARGET_RATIO * e.griffinLim.logMelDb;
  const logMel = t.logMelWithin1p5xGL
    ? `**met**: ${f(e.model.logMelDb, 2)} dB ≤ ${f(limit, 2)} dB (1.5 × Griffin-Lim's ${f(e.griffinLim.logMelDb, 2)} dB).`
    : `**not met**: ${f(e.model.logMelDb, 2)} dB against a limit of ${f(limit, 2)} dB (1.5 × Griffin-Lim's ${f(e.griffinLim.logMelDb, 2)} dB), ${f(e.model.logMelDb / e.griffinLim.logMelDb, 2)}× GL; it must fall by ${f(e.model.logMelDb - limit, 2)} dB (${pct(1 - limit / e.model.logMelDb)}).`;
  const mr = t.beatsGLonMrStft
    ? `**met**: ${f(e.model.mrStft, 3)} < Griffin-Lim's ${f(e.griffinLim.mrStft, 3)}.`
    : `**not met**: ${f(e.model.mrStft, 3)} against Griffin-Lim's ${f(e.griffinLim.mrStft, 3)}; it must fall by ${pct(1 - e.griffinLim.mrStft / e.model.mrStft)} to draw level.`;
  const met = Number(t.logMelWithin1p5xGL) + Number(t.beatsGLonMrStft);
  const env = (e as Partial<EvaluateJson>).envelopeIterations ?? 0;
  const flow = e.flowAlone ? qualityTargets(e.flowAlone, e.griffinLim) : null;
  const envNote = env > 0 && e.flowAlone
    ? [`These numbers include the post-filter (${env} iterations of mel-envelope matching, see Use). The flow's own output ${flow && flow.logMelWithin1p5xGL && flow.beatsGLonMrStft ? 'meets both as well' : `meets ${Number(!!flow?.logMelWithin1p5xGL) + Number(!!flow?.beatsGLonMrStft)} of the 2`}: log-mel ${f(e.flowAlone.logMelDb, 2)} dB, MR-STFT ${f(e.flowAlone.mrStft, 3)}.${e.noiseEnvelope ? ` Random-phase audio with the same mel through the same filter scores ${f(e.noiseEnvelope.logMelDb, 2)} dB and ${f(e.noiseEnvelope.mrStft, 3)}, the difference between that column and the model's is what the flow adds.` : ''}`, '']
    : [];
  return [
    ...envNote,
    `Measured on ${e.files} files of the ${e.split ?? 'given'} ${e.split ? 'split' : 'folder'}. ${met === 2 ? `Both measured criteria are met${env > 0 ? ', with the envelope-matching post-filter' : ''}.` : `${met} of the 2 measured criteria ${met === 1 ? 'is' : 'are'} met: the model is **below the quality target**.`}`,
    '',
    `- Copy-synthesis log-mel distance within 1.5× Griffin-Lim's: ${logMel}`,
    `- Beats Griffin-Lim on multi-resolution STFT distance: ${mr}`,
    `- Harmonics visible in spectrograms: ${harmonics === undefined ? 'not judged here; see the spectrograms written by `flowvox export-samples` (original / model / Griffin-Lim).' : sentence(harmonics)}${periodicityNote(e)}`,
  ];
}

/** The model's per-level σ (config.json "synthesis"), as the card's "Use" section states it. */
function latentScaleLines(cfg: ModelConfigFile): string[] {
  const scale = cfg.synthesis?.latent_scale;
  if (!scale) return [];
  const levels = latentLevelsOf(cfg.waveglow);
  const parts = levels.map(([a, b], l) => `${l < levels.length - 1 ? `early output ${l + 1}` : 'final'} (z channels ${a}–${b - 1}) × ${scale[l]}`);
  return [
    `The latent is drawn at σ times a scale per level: ${parts.join(', ')} (config.json "synthesis"${cfg.synthesis?.latent_scale_source ? `, chosen by ${cfg.synthesis.latent_scale_source}` : ''}). \`--latent-scale 1\` draws every level at σ, as NVIDIA's WaveGlow does. The scale changes synthesis only, not the likelihood.`,
    '',
  ];
}

/** The pitch predictor's emphasis at synthesis (config.json "synthesis"), as the card's "Use" section states it. */
function emphasisLines(cfg: ModelConfigFile): string[] {
  const c = cfg.synthesis?.pitch_emphasis;
  const g = cfg.waveglow.predictor?.max_gain;
  if (c === undefined || c === 1 || g === undefined) return [];
  return [
    `The pitch predictor draws at a pitch emphasis of ${c} (config.json "synthesis", tuned with the latent scale): on the frames its pitch net calls voiced, its gain head's pre-activation times ${c}, so the frame's gain is ${g}·tanh(${c}·(w·h + b)) where the likelihood's is ${g}·tanh(w·h + b); frames called unvoiced keep the likelihood's gain (\`flowvox calibrate-voicing\` refits that call). Voiced sounds come out more periodic than the likelihood's own gain draws them, fricatives do not buzz; \`--pitch-emphasis 1\` gives the likelihood's gain everywhere. A decoding choice like σ: the likelihood does not change.`,
    '',
  ];
}

/** The model's mel-envelope matching (config.json "synthesis"), as the card's "Use" section states it. */
function envelopeLines(cfg: ModelConfigFile): string[] {
  const n = envelopeIterationsOf(cfg);
  if (n === 0) return [];
  return [
    `Synthesis ends with ${n} iterations of mel-envelope matching (config.json "synthesis"${cfg.synthesis?.envelope_source ? `, ${cfg.synthesis.envelope_source}` : ''}; \`src/vocoder/envelope.ts\`): each STFT frame of the flow's output is scaled band by band to the mel it was asked for, its phase and its structure within each band kept, and resynthesised, with fast Griffin-Lim's momentum from the second iteration on. It is a post-filter, not part of the flow: the likelihood does not see it, and \`--envelope 0\` gives the flow's output as it is. The streaming server applies it chunk by chunk, with a margin that makes the chunks equal the whole-utterance result.`,
    '',
  ];
}

/** `s` ending in a full stop, so that a sentence can follow it. */
const sentence = (s: string): string => (/[.!?]$/.test(s.trim()) ? s.trim() : `${s.trim()}.`);

/** The measured side of the harmonics criterion (evaluations written before it existed lack it). */
function periodicityNote(e: EvaluateJson): string {
  const p = (e as Partial<EvaluateJson>).periodicity;
  if (!p || !p.voicedFrames) return '';
  return ` ${describePeriodicity(p)}`;
}

function dataLines(manifest: Manifest | null, dataDir: string | null): string[] {
  if (!manifest) {
    return [dataDir ? `Audio from \`${dataDir}\` (a folder of WAVs without a corpus manifest): licence unknown.` : 'The training data is not recorded here: licence unknown. Pass `--data DIR`.'];
  }
  const sources = manifest.source.map((s) => `\`${s.package}\` ${s.version} (${s.licence}, ${s.url})`).join(', ');
  const fillets = manifest.source.some((s) => s.package.startsWith('fillets-ng'));
  const byLang = new Map<string, number>();
  for (const x of manifest.files) byLang.set(x.lang, (byLang.get(x.lang) ?? 0) + x.seconds);
  const licences = [...new Set(manifest.source.map((s) => s.licence))].join(', ');
  const lines = [
    `Corpus \`${dataDir ?? '?'}\` built by \`${manifest.createdBy}\` (seed ${manifest.seed}), ${manifest.sampleRate} Hz, from ${sources}.`,
    `Languages: ${[...byLang].map(([l, s]) => `${l} ${(s / 60).toFixed(0)} min`).join(', ')}. Held-out characters (test-unseen): ${manifest.unseenSpeakers.join(', ') || 'none'}.`,
    '',
    '| split | files | minutes |',
    '|---|---|---|',
    ...Object.entries(manifest.splits).map(([k, v]) => `| ${k} | ${v.files} | ${(v.seconds / 60).toFixed(1)} |`),
    '',
    `**Licence: ${licences}.**`,
  ];
  if (fillets) {
    lines.push(
      '',
      'The voices are the Fish Fillets NG game dialogue (ALTAR interactive), packaged in Debian: acted, often',
      'exaggerated lines by a handful of characters (mostly the small fish, female, and the big fish, male), some',
      'with effects, decoded from lossy Ogg Vorbis; no transcripts. The recordings are GPL-2: treat this model,',
      'and audio generated with it, as possibly derived from GPL-2 material and keep the attribution (Fish Fillets',
      "NG, ALTAR interactive, via Debian). Do not present generated audio as these actors' voices. A vocoder trained",
      'on two languages and a few voices should not be expected to generalise to all voices, rooms or languages.',
    );
  }
  return lines;
}

export const command: Command = {
  summary: 'write a model card (card.md, learning curves, training log)',
  async run(argv) {
    const o = parse(argv, {
      run: { type: 'string' }, model: { type: 'string' }, eval: { type: 'string', multiple: true }, data: { type: 'string' },
      'train-backend': { type: 'string' }, harmonics: { type: 'string' }, note: { type: 'string' }, out: { type: 'string' },
    }, HELP);
    if (!o.run) throw new CliError(`--run RUNDIR is required\n${HELP}`);
    if (!o.model) throw new CliError(`--model DIR is required\n${HELP}`);
    const outDir = o.out ?? o.model;
    const logPath = join(o.run, 'train-log.csv');
    const csv = await readFile(logPath, 'utf8').catch(() => {
      throw new CliError(`no training log ${logPath}`);
    });
    const rows = parseTrainLog(csv);
    let config: ModelConfigFile;
    try {
      config = await readModelConfig(o.model);
    } catch (e) {
      throw new CliError(`${o.model}: ${(e as Error).message}`);
    }
    const runState = await readFile(join(o.run, 'run.json'), 'utf8').then((s) => JSON.parse(s) as RecipeState).catch(() => null);
    const evals = await Promise.all((o.eval ?? []).map(readEval));
    const primary = evals.find((e) => e.split === 'test') ?? evals[0] ?? null;
    const dataDir = o.data ?? primary?.data ?? null;
    const manifest = dataDir ? await readFile(join(dataDir, 'manifest.json'), 'utf8').then((s) => JSON.parse(s) as Manifest).catch(() => null) : null;
    const backend = o['train-backend'] ?? (await trainingBackend(o.run)) ?? 'not recorded';
    const params = await parameterCount(o.model);
    const preset = presetName(config);

    const steps = rows.map((r) => r.step).filter(Number.isFinite);
    const iterations = steps.length ? Math.max(...steps) : 0;
    const hours = Math.max(runState?.elapsedSeconds !== undefined ? runState.elapsedSeconds / 3600 : 0, ...rows.map((r) => r.hours).filter(Number.isFinite));
    const val = rows.filter((r) => Number.isFinite(r.valNll));
    const train = rows.filter((r) => Number.isFinite(r.trainNll) && Number.isFinite(r.hours));
    const best = val.length ? val.reduce((a, b) => (b.valNll < a.valNll ? b : a)) : null;
    const last = val[val.length - 1] ?? null;
    const speeds = rows.map((r) => r.audioPerSecond).filter(Number.isFinite);
    const trainSpeed = speeds.length ? speeds[speeds.length - 1]! : NaN;
    // Training writes "flowvox train step N" as the source of best/ and last/.
    const stepMatch = /train step (\d+)/.exec(config.source ?? '');
    const modelStep = stepMatch ? Number(stepMatch[1]) : null;
    const modelRow = val.find((r) => r.step === modelStep) ?? null;
    const testNll = evals.find((e) => e.split === 'test')?.nllNatsPerSample ?? null;

    // Learning curves: single-batch train NLLs are noisy, so smooth them over ~1/20 of the run.
    const k = Math.min(10, Math.round(train.length / 40));
    const smooth = movingAverage(train.map((r) => r.trainNll), k);
    const all = [...train.map((r) => r.trainNll), ...val.map((r) => r.valNll)];
    const ys = [...smooth, ...val.map((r) => r.valNll)].sort((a, b) => a - b);
    const lo = all.length ? Math.min(...all) : 0;
    const hi = ys.length ? ys[Math.min(ys.length - 1, Math.floor(0.97 * ys.length))]! : 1; // the first minutes would flatten the rest
    const pad = Math.max(0.05 * Math.abs(hi - lo), 0.01);
    const valColor = '#d62728';
    const series = [
      { x: train.map((r) => r.hours), y: train.map((r) => r.trainNll), label: 'train NLL (one batch)', color: '#9ecae1', width: 1, alpha: 0.7 },
      { x: train.map((r) => r.hours), y: smooth, label: k > 0 ? `train NLL (mean of ${2 * k + 1} log rows)` : 'train NLL', color: '#1f77b4', width: 2 },
      { x: val.map((r) => r.hours), y: val.map((r) => r.valNll), label: 'validation NLL', color: valColor, width: 2 },
    ].filter((s, i) => s.x.length > 0 && (i > 0 || k > 0));
    const chart = lineChart(series, { title: `learning curves: ${basename(resolve(o.run))}`, xLabel: 'hours', yLabel: 'NLL (nats/sample)', yRange: [lo - pad, hi + pad], width: 720, height: 420 });
    chart.axes.points(val.map((r) => r.hours), val.map((r) => r.valNll), valColor, 7, 1); // visible even with one validation
    await mkdir(outDir, { recursive: true });
    await writePng(join(outDir, 'learning-curves.png'), chart);
    await copyFile(logPath, join(outDir, 'train-log.csv'));

    const name = basename(resolve(o.run));
    const md: string[] = [
      `# Model card: ${name}`,
      '',
      `A WaveGlow vocoder (flowvox): 80-band log-mel (tacotron2 front end, ${config.mel.sampleRate} Hz, hop ${config.mel.hop}) → audio, one parallel pass.`,
      `Architecture: ${preset ? `preset \`${preset}\`` : 'custom configuration'}${params !== null ? `, ${(params / 1e6).toFixed(2)}M parameters` : ''} (n_flows ${config.waveglow.n_flows}, n_group ${config.waveglow.n_group}, WN ${config.waveglow.WN_config.n_layers} layers × ${config.waveglow.WN_config.n_channels} channels). Weights: ${config.source ?? 'source not recorded'}.`,
      ...predictorLines(config),
      '',
      '## Data',
      '',
      ...dataLines(manifest, dataDir),
      '',
      '## Training',
      '',
      '| iterations (run so far) | wall time | backend | training throughput | best validation NLL | last validation NLL |',
      '|---|---|---|---|---|---|',
      `| ${iterations} | ${hours.toFixed(2)} h | ${backend} | ${f(trainSpeed, 2)} audio-s/s | ${best ? `${f(best.valNll, 4)} (step ${best.step})` : '—'} | ${last ? `${f(last.valNll, 4)} (step ${last.step})` : '—'} |`,
      '',
      `This model: ${modelStep !== null ? `step ${modelStep}${modelRow ? ` (${modelRow.hours.toFixed(2)} h), validation NLL ${f(modelRow.valNll, 4)}` : ''}` : 'step not recorded'}; test NLL ${testNll !== null ? f(testNll, 4) : 'not measured'}.`,
      '',
      `NLL in nats per audio sample (exact, with the Gaussian constant; lower is better). ${recipeLine(runState)}`,
      'Validation NLL is on fixed segments of the validation split; test NLL on whole files (clipped) of the test split, from `flowvox evaluate`.',
      '',
      ...(o.note ? [o.note, ''] : []),
      '![learning curves](learning-curves.png)',
      '',
      '## Copy-synthesis quality against Griffin-Lim',
      '',
    ];
    if (evals.length === 0) {
      md.push('Not evaluated yet: run `flowvox evaluate --model DIR --data DIR --json --out eval.json` and pass `--eval eval.json`.', '');
    }
    for (const e of evals) {
      md.push(
        `### ${e.split ?? 'folder'}: ${e.files} files, ${f(e.audioSeconds, 0)} s of audio (first ${e.clipSeconds} s of each), ${e.backend}${e.denoise ? `, denoiser ${e.denoise}` : ''}`,
        '',
        `NLL ${f(e.nllNatsPerSample, 4)} nats/sample.`,
        '',
        ...metricsTable(e),
        '',
      );
    }
    md.push(
      'Both rebuild the original from its own mel spectrogram; Griffin-Lim inverts the mel by its pseudo-inverse, then 60 iterations.',
      'Per-file values are in the evaluation JSON (`perFile`).',
      '',
      '## Synthesis speed',
      '',
      '| backend | × real time (median over files) | measured on |',
      '|---|---|---|',
      ...(evals.length ? evals.map((e) => `| ${e.backend} | ${f(e.xRealTime, 1)} | ${e.files} files of ${e.split ?? 'a folder'}, one process |`) : ['| — | not measured | |']),
      '',
      '× real time = seconds of audio per wall-clock second (> 1 is faster than real time).',
      '',
      '## Distance from the quality target',
      '',
      ...(primary ? targetLines(primary, o.harmonics) : ['Unknown: no evaluation given.']),
      '',
      '## Use',
      '',
      '```sh',
      `npx flowvox synthesize --model ${o.model} --mel MEL.npy --sigma 0.6 --out out.wav`,
      '```',
      '',
      ...latentScaleLines(config),
      ...emphasisLines(config),
      ...envelopeLines(config),
      '## Reproduce',
      '',
      '```sh',
      'npm run data:speech                                  # the corpus (≈ 90 s)',
      'npm run train:default-voice                          # resume the run in the background (MINUTES=…)',
      'bash scripts/save-default-voice.sh                   # stop it, keep its state in training/default-voice/',
      'HARMONICS="…" bash scripts/publish-default-voice.sh  # float16 model, evaluation, this card, samples, calibration',
      '```',
      '',
      `The weights are stored as float16, the 1x1 convolutions' matrices as float32 (\`flowvox convert --dtype float16\` of the run's ${modelRow && modelRow === best ? 'best ' : modelStep !== null ? `step-${modelStep} ` : ''}float32 model);`,
      'the numbers above were measured on these weights. The run itself (float32 parameters, Adam',
      'state and the 1x1 convolutions\' kept inverses) is in `training/default-voice/`, and resumes exactly.',
      '',
      '## Learning curve (validation NLL, nats/sample)',
      '',
      '| step | hours | validation NLL |',
      '|---|---|---|',
      ...curveRows(val).map((r) => `| ${r.step} | ${r.hours.toFixed(2)} | ${f(r.valNll, 3)}${r === best ? ' (best)' : ''} |`),
      '',
    );
    const cardPath = join(outDir, 'card.md');
    await writeFile(cardPath, md.join('\n'));
    const out = {
      out: outDir, files: [cardPath, join(outDir, 'learning-curves.png'), join(outDir, 'train-log.csv')], iterations, hours: Number(hours.toFixed(4)), modelStep,
      bestValNll: best?.valNll ?? null, testNll, targets: primary ? qualityTargets(primary.model, primary.griffinLim) : null,
    };
    if (o.json) printJson(out);
    else console.log(`wrote ${out.files.join(', ')}`);
  },
};
