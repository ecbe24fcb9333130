import * as tf from '@tensorflow/tfjs-core';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { TACOTRON_MEL } from '../../dsp/mel.js';
import { loadAudioSplit } from '../../io/audio-dir.js';
import { loadModelDir, readModelConfig, saveModelDir } from '../../io/model-dir.js';
import { loadWeights, saveWeights } from '../../io/weights-file.js';
import { decode, restore, serialize } from '../../train/checkpoint.js';
import { ParameterAverage } from '../../train/ema.js';
import { ParallelTrainer, type ParallelStepInfo, type StepTiming } from '../../train/parallel.js';
import { makeSchedule, PlateauDecay, type PlateauState } from '../../train/schedule.js';
import { NonFiniteError, Trainer, type StepInfo } from '../../train/trainer.js';
import { waveglowFactory, waveglowReplica } from '../../train/waveglow-replica.js';
import { MultiResolutionStftLoss } from '../../train/stft-loss.js';
import { SegmentSampler, quantizerStep } from '../../vocoder/data.js';
import { growError, growInto } from '../../vocoder/grow.js';
import type { ModelConfigFile } from '../../vocoder/model-dir.js';
import { PRESETS, preset } from '../../vocoder/presets.js';
import { WaveGlow, type WaveGlowConfig } from '../../vocoder/waveglow.js';
import { DEFAULT_PITCH_PREDICTOR, type MelPitchConditioner, type PitchPredictorConfig } from '../../vocoder/pitch.js';
import { pretrainPitchNet, type PitchPretrainResult } from '../../train/pitch-pretrain.js';
import { CliError, Progress, num, parse, printJson, setupBackend, type Command } from '../common.js';

const HELP = `flowvox train (--preset NAME | --config FILE) --data DIR --out DIR [--resume] [--minutes M] [--steps N]
              [--batch 4] [--segment 16384] [--lr 3e-4] [--warmup 500] [--clip 10] [--seed 0]
              [--val-every 5] [--ckpt-every 5] [--workers N] [--stft-weight 0] [--stft-batch 4]
              [--stft-sigma 0.6] [--stft-pair | --no-stft-pair] [--lr-patience 0] [--lr-factor 0.5]
              [--lr-min 1e-5] [--ema 0] [--init-from MODEL_DIR] [--dequantize 16]
              [--predictor] [--pitch-minutes 12] [--predictor-lr 5e-5] [--learn-pitch | --no-learn-pitch] [--json]
  Trains a WaveGlow by maximum likelihood on random audio segments (NVIDIA's recipe: random
  segments, log-mel of each, Adam). Validation NLL (nats/sample) on held-out audio every
  --val-every minutes; checkpoints (parameters + optimizer) written atomically every --ckpt-every
  minutes and at the end to DIR/checkpoint, with the model alone (for synthesize/evaluate) in DIR/last;
  the best model by validation NLL to DIR/best;
  a CSV log to DIR/train-log.csv. --resume continues exactly where the last checkpoint stopped.
  --lr-patience P > 0 multiplies the learning rate by --lr-factor (not below --lr-min) whenever P
  validations in a row have not beaten the best validation NLL by more than 0.001 nats/sample
  (ReduceLROnPlateau); kept in run.json, so --resume continues it. --lr on a resume sets the rate
  and restarts the count; --lr-patience 0 turns it off.
  --ema D in (0, 1) keeps an exponential moving average of the parameters (decay D per step, e.g.
  0.9995 ≈ the last 2000 steps) and validates, keeps as DIR/best and writes as DIR/last the averaged
  model instead of the raw one; the average is checkpointed, so --resume continues it. Turned on in
  a resumed run, it starts from the current parameters; --ema 0 turns it off.
  --init-from MODEL_DIR starts a new run from a trained model instead of random weights. The
  --preset/--config (default: the model's own) may have wider or deeper WN networks (n_channels,
  n_layers); the model then grows into it computing the same function (new units start with zero
  weights into the old ones, src/vocoder/grow.ts), so capacity rises without starting over.
  --predictor (a new run) adds a pitch predictor in front of the flow: per mel frame, a net reads
  the pitch lag from the mel and predicts each sample from one period back; the flow models the
  rest (src/vocoder/pitch.ts). With --init-from it starts as the identity, so the trained flow is
  kept. Its pitch net is first trained for --pitch-minutes as a classifier of the audio's own pitch
  lags (default 12; 0 skips it), then fixed; its gain trains by likelihood at --predictor-lr
  (default 5e-5, constant, beside the flow's scheduled rate; kept in run.json).
  --learn-pitch (a new run with a predictor, or a resumed one) lets the likelihood move the pitch
  net as well, at --predictor-lr, from its pretrained state; --no-learn-pitch fixes it again. Kept in
  the model's config ("predictor.learn_pitch"), so --resume continues it. It leaves the net's
  voiced/unvoiced call behind, which gates the pitch emphasis: run calibrate-voicing on the model after.
  --dequantize BITS adds uniform noise of one step of a BITS-bit quantiser to every training and
  validation sample (default 16 for a new run; a resumed run keeps its setting, off for runs from
  before it existed; 0 = off). Without it a flow can fit the 16-bit lattice itself: on digital
  silence (TTS output, a short clip's zero padding) its scales shrink without bound and training
  diverges. The NLL is then that of the dequantised audio.
  --workers N: data-parallel over N threads (this one + N−1 workers, each with its own tfjs),
  splitting every batch; default: one per core (1 with --stft-weight). Exact: the same result as one
  thread to float32 rounding, and --workers may change across --resume.
  --stft-weight λ > 0 adds λ × a multi-resolution STFT loss (FFT 512/1024/2048) between the first
  --stft-batch segments of each batch and samples the flow draws (σ --stft-sigma) from their mels.
  The likelihood stays exact (validation NLL is the likelihood alone); the extra term only guides
  training towards audio whose spectra match. Single-threaded only (--workers 1).
  --stft-pair compares (x₁ − x₂)/√2 of two samples instead of one sample, so that any part of the
  output that does not depend on the latent (e.g. a fixed per-frame waveform) cancels. Measured: it
  does not stop such a pattern from growing (docs/recipe-variants.md, follow-up 2). --no-stft-pair
  turns it off again on --resume.
  --lr, --warmup, --clip and the --stft-* settings are saved in DIR/run.json; --resume reuses them
  unless given again.
  presets: ${Object.keys(PRESETS).join(', ')}
  --data: a corpus from "flowvox data speech" (uses its train/validation splits) or any folder of WAVs.`;

/** DIR/run.json: what --resume needs besides the checkpoint. */
export interface RunState {
  elapsedSeconds: number;
  bestVal: number | null;
  config: WaveGlowConfig;
  segment: number;
  batch: number;
  seed: number;
  /** Optimiser settings of the run (absent in runs started before they were recorded). */
  lr?: number;
  warmup?: number;
  clip?: number;
  /** Auxiliary MR-STFT loss on samples: weight (0 = off), examples per batch, latent σ. */
  stftWeight?: number;
  stftBatch?: number;
  stftSigma?: number;
  stftPair?: boolean;
  /** Learning-rate drops on a validation plateau (absent: off). */
  lrPlateau?: PlateauState;
  /** Parameter average (absent: off): decay per step, and the step at which it started. */
  ema?: { decay: number; startStep: number };
  /** Dequantisation noise of one step of a quantiser of this many bits (0 or absent: off; runs before it existed). */
  dequantizeBits?: number;
  /** The trained model a run started from (--init-from): its directory and its config's source. */
  initFrom?: { dir: string; source?: string; grown: boolean };
  /** The pitch predictor's gain rate (runs with a predictor). */
  predictorLr?: number;
  /** How the predictor's pitch net was pretrained (runs with a predictor). */
  pitchPretrain?: PitchPretrainResult;
}

export const command: Command = {
  summary: 'train a WaveGlow vocoder on a folder of WAVs',
  async run(argv) {
    const o = parse(argv, {
      preset: { type: 'string' }, config: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' },
      resume: { type: 'boolean', default: false }, minutes: { type: 'string' }, steps: { type: 'string' },
      batch: { type: 'string' }, segment: { type: 'string' }, lr: { type: 'string' }, warmup: { type: 'string' },
      clip: { type: 'string' }, seed: { type: 'string' }, 'val-every': { type: 'string' }, 'ckpt-every': { type: 'string' },
      'val-batches': { type: 'string' }, workers: { type: 'string' },
      'lr-patience': { type: 'string' }, ema: { type: 'string' }, 'lr-factor': { type: 'string' }, 'lr-min': { type: 'string' },
      'stft-weight': { type: 'string' }, 'stft-batch': { type: 'string' }, 'stft-sigma': { type: 'string' }, 'stft-pair': { type: 'boolean' }, 'no-stft-pair': { type: 'boolean' },
      'init-from': { type: 'string' }, dequantize: { type: 'string' },
      predictor: { type: 'boolean', default: false }, 'pitch-minutes': { type: 'string' }, 'predictor-lr': { type: 'string' },
      'learn-pitch': { type: 'boolean' }, 'no-learn-pitch': { type: 'boolean' },
    }, HELP);
    if (!o.data) throw new CliError(`--data DIR is required\n${HELP}`);
    if (!o.out) throw new CliError(`--out DIR is required\n${HELP}`);
    const ckptDir = join(o.out, 'checkpoint');
    const lastDir = join(o.out, 'last');
    const bestDir = join(o.out, 'best');
    const statePath = join(o.out, 'run.json');
    let state: RunState;
    let initConfig: ModelConfigFile | null = null;
    if (o.resume) {
      if (o['init-from']) throw new CliError('--init-from starts a new run; it cannot be combined with --resume');
      if (o.predictor || o['pitch-minutes'] !== undefined) throw new CliError('--predictor and --pitch-minutes start a new run (e.g. --init-from a trained model); they cannot be combined with --resume');
      if (!existsSync(statePath)) throw new CliError(`--resume: no run in ${o.out} (missing run.json)`);
      state = JSON.parse(await readFile(statePath, 'utf8')) as RunState;
    } else {
      if (existsSync(statePath)) throw new CliError(`${o.out} already holds a training run; pass --resume to continue it or choose another --out`);
      if (o['init-from']) {
        try {
          initConfig = await readModelConfig(o['init-from']);
        } catch (e) {
          throw new CliError(`--init-from: ${(e as Error).message}`);
        }
      }
      let config: WaveGlowConfig;
      if (o.config) config = JSON.parse(await readFile(o.config, 'utf8')) as WaveGlowConfig;
      else if (o.preset) config = preset(o.preset);
      else if (initConfig) config = structuredClone(initConfig.waveglow);
      else throw new CliError(`--preset NAME or --config FILE is required\n${HELP}`);
      if (o.predictor) config.predictor ??= structuredClone(DEFAULT_PITCH_PREDICTOR) as PitchPredictorConfig;
      const why = initConfig ? growError(initConfig.waveglow, config) : null;
      if (why) throw new CliError(`--init-from ${o['init-from']}: cannot start this model from it: ${why}`);
      const g = config.n_group;
      const segment = num(o.segment, 'segment', 16384, { min: 1024, int: true });
      if (segment % g !== 0 || segment % (config.hop_length ?? 256) !== 0) throw new CliError(`--segment must be a multiple of n_group (${g}) and the hop (${config.hop_length ?? 256})`);
      state = { elapsedSeconds: 0, bestVal: null, config, segment, batch: num(o.batch, 'batch', 4, { min: 1, int: true }), seed: num(o.seed, 'seed', 0, { min: 0, int: true }) };
      if (initConfig) state.initFrom = { dir: o['init-from']!, source: initConfig.source, grown: config.WN_config.n_channels > initConfig.waveglow.WN_config.n_channels || config.WN_config.n_layers > initConfig.waveglow.WN_config.n_layers };
    }
    if (o['learn-pitch'] || o['no-learn-pitch']) {
      const flag = o['learn-pitch'] ? '--learn-pitch' : '--no-learn-pitch';
      if (o['learn-pitch'] && o['no-learn-pitch']) throw new CliError('give --learn-pitch or --no-learn-pitch, not both');
      if (!state.config.predictor) throw new CliError(`${flag}: the model has no pitch predictor (add one with --predictor)`);
      if (o['learn-pitch']) state.config.predictor.learn_pitch = true;
      else delete state.config.predictor.learn_pitch;
    }
    const minutes = o.minutes === undefined ? Infinity : num(o.minutes, 'minutes', 0, { min: 0 });
    const maxSteps = num(o.steps, 'steps', Infinity, { min: 1, int: true });
    if (!Number.isFinite(minutes) && !Number.isFinite(maxSteps)) throw new CliError('give --minutes or --steps');
    const lr = num(o.lr, 'lr', state.lr ?? 3e-4, { min: 1e-7, max: 1 });
    const patience = num(o['lr-patience'], 'lr-patience', state.lrPlateau?.patience ?? 0, { min: 0, int: true });
    const lrPlateau: PlateauState | undefined = patience > 0
      ? {
        patience,
        factor: num(o['lr-factor'], 'lr-factor', state.lrPlateau?.factor ?? 0.5, { min: 0.01, max: 0.99 }),
        minLr: num(o['lr-min'], 'lr-min', state.lrPlateau?.minLr ?? 1e-5, { min: 0, max: 1 }),
        threshold: state.lrPlateau?.threshold ?? 1e-3,
        // A rate set by hand starts a new count.
        bad: o.lr === undefined ? (state.lrPlateau?.bad ?? 0) : 0,
      }
      : undefined;
    if (!lrPlateau && (o['lr-factor'] !== undefined || o['lr-min'] !== undefined)) throw new CliError('--lr-factor and --lr-min need --lr-patience P > 0');
    const emaDecay = num(o.ema, 'ema', state.ema?.decay ?? 0, { min: 0, max: 0.999999 });
    // New runs dequantise as 16-bit audio; a resumed run keeps what it had (absent: off).
    const dequantizeBits = num(o.dequantize, 'dequantize', state.dequantizeBits ?? (o.resume ? 0 : 16), { min: 0, max: 32, int: true });
    const warmup = num(o.warmup, 'warmup', state.warmup ?? 500, { min: 0, int: true });
    const clip = num(o.clip, 'clip', state.clip ?? 10, { min: 0 });
    if (o['predictor-lr'] !== undefined && !state.config.predictor) throw new CliError('--predictor-lr: the model has no pitch predictor (add one with --predictor)');
    const predictorLr = state.config.predictor ? num(o['predictor-lr'], 'predictor-lr', state.predictorLr ?? 5e-5, { min: 0, max: 1 }) : undefined;
    const pitchMinutes = num(o['pitch-minutes'], 'pitch-minutes', 12, { min: 0 });
    const stftWeight = num(o['stft-weight'], 'stft-weight', state.stftWeight ?? 0, { min: 0 });
    const stftBatch = num(o['stft-batch'], 'stft-batch', state.stftBatch ?? Math.min(4, state.batch), { min: 1, max: state.batch, int: true });
    const stftSigma = num(o['stft-sigma'], 'stft-sigma', state.stftSigma ?? 0.6, { min: 0.01, max: 2 });
    if (o['stft-pair'] && o['no-stft-pair']) throw new CliError('give --stft-pair or --no-stft-pair, not both');
    const stftPair = o['no-stft-pair'] ? false : (o['stft-pair'] ?? state.stftPair ?? false);
    Object.assign(state, { lr, warmup, clip, lrPlateau, predictorLr, dequantizeBits: dequantizeBits > 0 ? dequantizeBits : undefined }, stftWeight > 0 ? { stftWeight, stftBatch, stftSigma, stftPair } : { stftWeight: undefined, stftBatch: undefined, stftSigma: undefined, stftPair: undefined });
    if (stftWeight > 0 && state.segment < 2048) throw new CliError(`--stft-weight needs --segment ≥ 2048 (the longest STFT frame), got ${state.segment}`);
    const valEvery = num(o['val-every'], 'val-every', 5, { min: 0.05 }) * 60;
    const ckptEvery = num(o['ckpt-every'], 'ckpt-every', 5, { min: 0.05 }) * 60;
    const valBatches = num(o['val-batches'], 'val-batches', 8, { min: 1, int: true });
    // Default: one thread per core (at most one item each). On the 2-core machine 2 threads train
    // 1.4× as fast as one (cpu-small 16 × 8192: 16.5 vs 11.9 audio-s/s; docs/recipe-variants.md
    // follow-up 7). The extra spectral loss runs single-threaded, so with it the default is 1.
    const workers = Math.min(num(o.workers, 'workers', stftWeight > 0 ? 1 : availableParallelism(), { min: 1, max: availableParallelism() * 4, int: true }), state.batch);
    if (workers > 1 && stftWeight > 0) throw new CliError('--stft-weight runs single-threaded: use --workers 1 (or --stft-weight 0)');
    const { backend } = await setupBackend(o.backend);

    const rate = state.config.sampling_rate ?? 22050;
    const mel = { ...TACOTRON_MEL, sampleRate: rate };
    const load: { bar: Progress | null } = { bar: null };
    const data = await loadAudioSplit(o.data, rate, (d, t) => (load.bar ??= new Progress(t, 'loading audio ')).update(d));
    load.bar?.done();
    process.stderr.write(`data: ${data.files.train} train files (${(data.seconds.train / 60).toFixed(1)} min), ${data.files.validation} validation (${(data.seconds.validation / 60).toFixed(1)} min)\n`);
    const sampling = { dequantize: quantizerStep(dequantizeBits) };
    const trainSampler = new SegmentSampler(data.train, state.segment, mel, sampling);
    const valSampler = new SegmentSampler(data.validation, state.segment, mel, sampling);

    const model = new WaveGlow(state.config, state.seed);
    if (initConfig) {
      const from = (await loadModelDir(state.initFrom!.dir)).model;
      growInto(from, model);
      from.dispose();
      process.stderr.write(`initialised from ${state.initFrom!.dir}${state.initFrom!.grown ? ` (WN grown to ${state.config.WN_config.n_layers} × ${state.config.WN_config.n_channels})` : ''}\n`);
    }
    // A new predictor's pitch net learns the audio's pitch lags first (before any average starts).
    if (model.predictor && !o.resume && pitchMinutes > 0) {
      const bar = new Progress(Math.round(pitchMinutes * 60), 'pitch net ');
      let interrupted = false;
      const stopPitch = () => (interrupted = true);
      process.once('SIGINT', stopPitch);
      try {
        state.pitchPretrain = pretrainPitchNet(model.predictor.conditioner as MelPitchConditioner, model.hop, trainSampler, valSampler, {
          batch: state.batch, minutes: pitchMinutes, seed: state.seed,
          onStep: (step, loss, seconds) => bar.update(Math.round(seconds), `step ${step} loss ${loss.toFixed(3)}`),
          shouldStop: () => interrupted,
        });
      } finally {
        process.off('SIGINT', stopPitch);
        bar.done();
      }
      if (interrupted) throw new CliError('interrupted while pretraining the pitch net; nothing was saved', 130);
      const { before, after, steps, seconds } = state.pitchPretrain;
      state.elapsedSeconds += seconds; // the run's wall time includes it
      process.stderr.write(`pitch net: ${steps} steps; voiced frames within 3 %: ${(100 * before.within3pct).toFixed(1)} % → ${(100 * after.within3pct).toFixed(1)} %, voiced/unvoiced errors ${(100 * before.vuError).toFixed(1)} % → ${(100 * after.vuError).toFixed(1)} %\n`);
    }
    // The averaged parameters live in a second model, which validation, DIR/best and DIR/last use.
    const average = emaDecay > 0 ? new ParameterAverage<WaveGlow>(model, new WaveGlow(state.config, state.seed), emaDecay) : null;
    const scored = average?.shadow ?? model;
    // The rate is read from the state at every step: a plateau drop changes it mid-run.
    const trainer = new Trainer(model, { clipNorm: clip || undefined, schedule: (step) => makeSchedule({ lr: state.lr!, warmupSteps: warmup })(step) });
    const plateau = state.lrPlateau ? new PlateauDecay(state.lrPlateau) : null;
    // The predictor's rate is its own, constant (the flow's may have decayed 400-fold by the time one is added).
    if (predictorLr !== undefined) trainer.optimizer.rateScale = (name) => (name.startsWith('predictor.') ? predictorLr / state.lr! : 1);
    if (o.resume) {
      const w = await loadWeights(ckptDir);
      const t = decode(w.manifest, w.data);
      restore(model, t, trainer.optimizer, w.manifest.step);
      // The checkpoint's average continues; one switched on now (or absent from it) starts afresh below.
      if (average && !(state.ema && average.load(t))) state.ema = undefined;
      tf.dispose([...t.values()]);
      process.stderr.write(`resumed at step ${trainer.step} (${(state.elapsedSeconds / 3600).toFixed(2)} h trained)\n`);
    }
    // A new average starts from the current parameters (a fresh run's initial ones, or a resumed run's).
    if (average && !state.ema) average.reset();
    state.ema = average ? { decay: emaDecay, startStep: state.ema?.startStep ?? trainer.step } : undefined;
    await mkdir(o.out, { recursive: true });
    const logPath = join(o.out, 'train-log.csv');
    if (!existsSync(logPath)) await writeFile(logPath, 'step,hours,train_loss,train_nll,val_nll,lr,audio_s_per_s,stft_loss\n');
    // Logs begun before the stft_loss column existed keep their 7 columns.
    const logStft = (await readFile(logPath, 'utf8')).split('\n', 1)[0]!.includes('stft_loss');
    const stftLoss = stftWeight > 0 ? new MultiResolutionStftLoss() : null;
    let lastStft = NaN;
    const stftCol = () => (logStft ? `,${Number.isNaN(lastStft) ? '' : lastStft.toFixed(5)}` : '');

    const validate = (): number => {
      let total = 0;
      for (let i = 0; i < valBatches; i++) {
        total += tf.tidy(() => {
          const b = valSampler.batch(state.batch, 1_000_000 + i); // fixed segments every time
          return WaveGlow.nllPerSample(scored.loss(b.audio, b.mel).dataSync()[0]);
        });
      }
      return total / valBatches;
    };
    const modelSource = () => `flowvox train step ${trainer.step}${average ? ` (parameter average, decay ${average.decay})` : ''}`;
    /** Keeps the model as DIR/best if `valNll` beats the best so far; returns the best before it. */
    const recordBest = async (valNll: number): Promise<number | null> => {
      const before = state.bestVal;
      if (before === null || valNll < before) {
        state.bestVal = valNll;
        await saveModelDir(bestDir, scored, { source: modelSource() });
      }
      return before;
    };
    const checkpoint = async () => {
      await saveWeights(ckptDir, await serialize(model, trainer.optimizer, undefined, { extra: average?.state() }));
      await writeFile(statePath, JSON.stringify(state, null, 2));
      // The latest model as a model directory at every checkpoint, not only at the end: with an extra
      // loss on, the best by NLL is not necessarily the one to listen to or evaluate mid-run.
      await saveModelDir(lastDir, scored, { source: modelSource() });
    };

    const replica = waveglowReplica(model);
    const parallel = workers > 1
      ? await ParallelTrainer.create({
        participants: workers, main: replica, factory: waveglowFactory({ config: state.config, seed: state.seed }),
        optimizer: trainer.optimizer, schedule: trainer.schedule, backend,
      })
      : null;
    // Same seed → same segments whichever path runs, so --workers may change across --resume.
    const trainStep = async (): Promise<StepInfo | ParallelStepInfo> => {
      const seed = state.seed * 1_000_003 + trainer.step;
      if (!parallel) {
        let aux: tf.Scalar | null = null;
        // A training step's loss: log|det W| updated from the last step's (validation stays a host LU).
        replica.setParameterTermWeights!({ value: 1, gradient: 1, trainingStep: true });
        let info: StepInfo;
        try {
          info = trainer.trainStep(() => {
            const b = trainSampler.batch(state.batch, seed);
            const nll = model.loss(b.audio, b.mel);
            if (!stftLoss) return nll;
            const n = stftBatch;
            const target = tf.slice(b.audio, [0, 0], [n, state.segment]);
            const mel = tf.slice(b.mel, [0, 0, 0], [n, -1, -1]);
            const draw = (s: number) => model.sampleForTraining(mel, state.segment, { sigma: stftSigma, seed: s });
            const sample = stftPair ? tf.mul(tf.sub(draw(seed), draw(seed + 1e9)), Math.SQRT1_2) : draw(seed);
            aux = tf.keep(stftLoss.loss(target, sample as tf.Tensor2D));
            return tf.add(nll, tf.mul(aux, stftWeight));
          });
        } finally {
          replica.setParameterTermWeights!({ value: 1, gradient: 1 });
        }
        if (aux) {
          lastStft = (aux as tf.Scalar).dataSync()[0]!;
          (aux as tf.Scalar).dispose();
          // info.loss holds the likelihood part only, so train_nll stays an NLL.
          info.loss -= stftWeight * lastStft;
        }
        return info;
      }
      const d = trainSampler.draw(state.batch, seed);
      return parallel.trainStep([{ data: d.audio, shape: [state.batch, state.segment] }, { data: d.mel, shape: [state.batch, d.frames, state.config.n_mel_channels] }]);
    };

    const t0 = performance.now();
    const startElapsed = state.elapsedSeconds;
    let lastVal = performance.now();
    let lastCkpt = performance.now();
    let stepsThisRun = 0;
    // Speed counts from the end of the first step, whose one-off warm-up (kernel setup, caches) would skew short runs.
    const stepAudio = (state.batch * state.segment) / rate;
    let tFirst = 0;
    const speed = () => stepsThisRun > 1
      ? ((stepsThisRun - 1) * stepAudio) / ((performance.now() - tFirst) / 1000)
      : (stepsThisRun * stepAudio) / ((performance.now() - t0) / 1000);
    const timings: (Partial<StepTiming> & { total: number })[] = [];
    let smooth = NaN;
    let lastValNll: number | null = null;
    let stop = false;
    const onSignal = () => {
      stop = true;
      process.stderr.write('\nstopping after this step (checkpoint follows)…\n');
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const budgetSteps = Number.isFinite(maxSteps) ? maxSteps : 0;
    const progress = new Progress(Number.isFinite(minutes) ? Math.round(minutes * 60) : budgetSteps, 'train ');
    try {
      while (!stop && stepsThisRun < maxSteps && (performance.now() - t0) / 1000 < minutes * 60) {
        const tStep = performance.now();
        const info = await trainStep();
        average?.update(trainer.step - 1 - state.ema!.startStep);
        stepsThisRun++;
        if (stepsThisRun === 1) tFirst = performance.now();
        else timings.push({ total: (performance.now() - tStep) / 1000, ...('timing' in info ? info.timing : {}) });
        const runSeconds = (performance.now() - t0) / 1000;
        state.elapsedSeconds = startElapsed + runSeconds;
        smooth = Number.isNaN(smooth) ? info.loss : 0.95 * smooth + 0.05 * info.loss;
        const audioPerSecond = speed();
        progress.update(Number.isFinite(minutes) ? Math.round(runSeconds) : stepsThisRun, `step ${info.step} loss ${smooth.toFixed(3)}${stftLoss ? ` stft ${lastStft.toFixed(3)}` : ''} ${audioPerSecond.toFixed(2)} audio-s/s`);
        let valNll = '';
        if ((performance.now() - lastVal) / 1000 >= valEvery) {
          lastValNll = validate();
          valNll = lastValNll.toFixed(4);
          lastVal = performance.now();
          const bestBefore = await recordBest(lastValNll);
          const next = plateau ? plateau.update(lastValNll, bestBefore, state.lr!) : state.lr!;
          if (next !== state.lr) {
            process.stderr.write(`\nstep ${info.step}: validation NLL has not improved for ${plateau!.state.patience} validations; learning rate ${state.lr!.toExponential(3)} → ${next.toExponential(3)}\n`);
            state.lr = next;
          }
        }
        if (valNll || info.step % 50 === 0) {
          await appendFile(logPath, `${info.step},${(state.elapsedSeconds / 3600).toFixed(4)},${info.loss.toFixed(5)},${WaveGlow.nllPerSample(info.loss).toFixed(5)},${valNll},${info.lr.toExponential(3)},${audioPerSecond.toFixed(3)}${stftCol()}\n`);
        }
        if ((performance.now() - lastCkpt) / 1000 >= ckptEvery) {
          await checkpoint();
          lastCkpt = performance.now();
        }
      }
    } catch (e) {
      if (e instanceof NonFiniteError) throw new CliError(`${e.message} The last checkpoint in ${ckptDir} is intact.`, 1);
      throw e;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      progress.done();
      await parallel?.dispose();
    }
    const audioSecondsPerSecond = speed();
    lastValNll = validate();
    // A new best restarts the plateau count; the end's validation is not counted otherwise, as it
    // may come seconds after the last periodic one.
    const bestBeforeEnd = await recordBest(lastValNll);
    if (plateau?.improves(lastValNll, bestBeforeEnd)) plateau.state.bad = 0;
    await appendFile(logPath, `${trainer.step},${(state.elapsedSeconds / 3600).toFixed(4)},,,${lastValNll.toFixed(5)},,${stftCol()}\n`);
    stftLoss?.dispose();
    await checkpoint();
    const out = {
      step: trainer.step, stepsThisRun, hours: Number((state.elapsedSeconds / 3600).toFixed(4)), backend, workers, lr: state.lr,
      valNllNatsPerSample: Number(lastValNll.toFixed(5)), bestValNll: state.bestVal,
      ...(state.ema ? { ema: state.ema } : {}),
      audioSecondsPerSecond: Number(audioSecondsPerSecond.toFixed(3)), params: model.parameterCount(),
      ...(stftWeight > 0 ? { stftWeight, stftBatch, stftSigma, stftPair, lastStftLoss: Number(lastStft.toFixed(5)) } : {}),
      ...(state.config.predictor ? { predictorLr, pitchPretrain: state.pitchPretrain ?? null } : {}),
      best: bestDir, last: lastDir, checkpoint: ckptDir,
      ...(timings.length ? { stepSecondsMedian: medians(timings) } : {}),
    };
    // Everything is saved: free the model, its average and Adam's moments (runs in one process, as the
    // tests' and a script's, must not pile them up in the backend's memory).
    model.dispose();
    average?.shadow.dispose();
    trainer.optimizer.dispose();
    // The likelihood moved the pitch net's features but not its voiced/unvoiced call, which gates the pitch emphasis.
    if (state.config.predictor?.learn_pitch) process.stderr.write(`train: the pitch net trained by likelihood; before tuning or shipping, refit its voicing call: flowvox calibrate-voicing --model ${bestDir} --data ${o.data}\n`);
    if (o.json) printJson(out);
    else console.log(`step ${out.step}: validation NLL ${out.valNllNatsPerSample} nats/sample; ${out.audioSecondsPerSecond} audio-s/s; best model in ${out.best}`);
  },
};

/** Per-field medians of the step timings (seconds, 4 decimals). */
function medians<T extends object>(rows: T[]): Record<keyof T, number> {
  const out = {} as Record<keyof T, number>;
  for (const k of Object.keys(rows[0]) as (keyof T)[]) {
    const v = rows.map((r) => Number(r[k])).sort((a, b) => a - b);
    const m = v.length >> 1;
    out[k] = Number((v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2).toFixed(4));
  }
  return out;
}
