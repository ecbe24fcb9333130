/**
 * Calibration on normal audio: fit the feature flow, score every normal segment, and keep, for
 * each score, the threshold that flags a target fraction (the false-positive rate) of them.
 */
import type { MelConfig } from '../dsp/mel.js';
import type { WaveGlow } from '../vocoder/waveglow.js';
import { FeatureFlow, featureFrames } from './features-flow.js';
import { mean, std, thresholdForFpr } from './metrics.js';
import { SCORE_NAMES, calibratedScores, fitLine, scoreAudio, scoreOf, type Calibration, type ScoreName, type SegmentScores } from './scorer.js';

export interface CalibrateOptions {
  segment?: number;
  hop?: number;
  fpr?: number;
  defaultScore?: ScoreName;
  /** Feature-flow training steps (0: no feature flow). */
  featureSteps?: number;
  /** At most this many frames to fit the feature flow on (sampled evenly). */
  maxFeatureFrames?: number;
  modelSource?: string;
  /** The weights file's name (unique per save), to notice a calibration used with retrained weights. */
  modelWeights?: string;
  onProgress?: (stage: string, done: number, total: number) => void;
}

/** The score `detect` uses by default: the best on `flowvox anomaly-eval` (README table). */
export const DEFAULT_SCORE: ScoreName = 'combined';

export function calibrate(model: WaveGlow, mel: MelConfig, normal: readonly Float32Array[], o: CalibrateOptions = {}): { calibration: Calibration; segments: SegmentScores[] } {
  if (normal.length === 0) throw new Error('no normal audio to calibrate on');
  const segment = o.segment ?? 0.5;
  const hop = o.hop ?? 0.25;
  const fpr = o.fpr ?? 0.05;
  const steps = o.featureSteps ?? 1500;
  let featureFlow: FeatureFlow | undefined;
  if (steps > 0) {
    const parts = normal.map((a) => featureFrames(a, mel.sampleRate));
    const dim = parts[0]!.dim;
    const total = parts.reduce((s, p) => s + p.frames, 0);
    const keep = Math.min(total, o.maxFeatureFrames ?? 60_000);
    const frames = new Float32Array(keep * dim);
    let k = 0;
    let seen = 0;
    for (const p of parts) {
      for (let t = 0; t < p.frames; t++, seen++) {
        // Even subsampling: frame `seen` is kept when it crosses the next multiple of total/keep.
        if (Math.floor(((seen + 1) * keep) / total) > k && k < keep) frames.set(p.data.subarray(t * dim, (t + 1) * dim), dim * k++);
      }
    }
    featureFlow = FeatureFlow.fit(frames.subarray(0, k * dim), dim, { steps, onStep: (s) => o.onProgress?.('feature flow', s, steps) });
  }
  try {
    const segs: SegmentScores[] = [];
    normal.forEach((a, i) => {
      segs.push(...scoreAudio(model, mel, a, { segment, hop, featureFlow }));
      o.onProgress?.('scoring', i + 1, normal.length);
    });
    const nll = segs.map((s) => s.nll);
    const feats = segs.map((s) => s.features).filter((v): v is number => v !== undefined && Number.isFinite(v));
    const calibration: Calibration = {
      format: 'flowvox-anomaly-calibration',
      version: 2,
      model: { n_group: model.config.n_group, n_flows: model.config.n_flows, ...(o.modelSource ? { source: o.modelSource } : {}), ...(o.modelWeights ? { weights: o.modelWeights } : {}) },
      segment,
      hop,
      fpr,
      defaultScore: o.defaultScore ?? (featureFlow ? DEFAULT_SCORE : 'complexity'),
      thresholds: {},
      nllStats: { mean: mean(nll), std: Math.max(std(nll), 1e-6) },
      complexityFit: fitLine(segs.map((s) => s.background), nll),
      ...(feats.length ? { featureStats: { mean: mean(feats), std: Math.max(std(feats), 1e-6) } } : {}),
      normal: { files: normal.length, segments: segs.length, seconds: normal.reduce((s, a) => s + a.length, 0) / mel.sampleRate },
      ...(featureFlow ? { featureFlow: featureFlow.toJSON() } : {}),
    };
    for (const s of segs) Object.assign(s, calibratedScores(s, calibration));
    for (const name of SCORE_NAMES) {
      const v = segs.map((s) => scoreOf(s, name)).filter(Number.isFinite);
      if (v.length) calibration.thresholds[name] = thresholdForFpr(v, fpr);
    }
    return { calibration, segments: segs };
  } finally {
    featureFlow?.dispose();
  }
}

/** Checks that a calibration file fits the model it is used with. */
export function checkCalibration(c: unknown, model: WaveGlow): Calibration {
  const cal = c as Partial<Calibration>;
  if (cal?.format !== 'flowvox-anomaly-calibration') throw new Error('not a flowvox anomaly calibration (make one with "flowvox calibrate")');
  if (cal.version !== 2) throw new Error(`calibration format version ${String(cal.version)} is not supported (this flowvox writes 2): run "flowvox calibrate" again`);
  if (!cal.model || cal.model.n_group !== model.config.n_group || cal.model.n_flows !== model.config.n_flows) {
    throw new Error(`this calibration was made for another model (n_group ${cal.model?.n_group}, n_flows ${cal.model?.n_flows}); run "flowvox calibrate" for this one`);
  }
  return cal as Calibration;
}
