/**
 * The anomaly evaluation: held-out normal clips, each copied once per anomaly kind with that
 * anomaly injected at a known time; segment-level AUROC and pAUC (FPR ≤ 0.1) per kind and score,
 * beside the energy and spectral-flux baselines measured on the same segments.
 * Negatives: every segment of the clean clips. Positives: segments of the injected copies that
 * overlap the anomaly by at least half of min(anomaly, segment) length; segments that only graze it
 * are left out of both.
 */
import type { MelConfig } from '../dsp/mel.js';
import type { WaveGlow } from '../vocoder/waveglow.js';
import { baselineScores } from './baseline.js';
import { FeatureFlow } from './features-flow.js';
import { ANOMALY_KINDS, inject, type AnomalyKind } from './inject.js';
import { auroc, partialAuroc } from './metrics.js';
import { SCORE_NAMES, scoreAudio, scoreOf, type Calibration, type ScoreName } from './scorer.js';

export const BASELINES = ['energy', 'flux'] as const;
export type Detector = ScoreName | (typeof BASELINES)[number];
export const DETECTORS: readonly Detector[] = [...SCORE_NAMES, ...BASELINES];

export interface EvalRow {
  kind: AnomalyKind | 'all';
  positives: number;
  negatives: number;
  auroc: Record<Detector, number>;
  pauc: Record<Detector, number>;
}

export interface EvalOptions {
  kinds?: readonly AnomalyKind[];
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

type Vec = Record<Detector, number>;

export function evaluateAnomalies(model: WaveGlow, mel: MelConfig, clips: readonly Float32Array[], calibration: Calibration, o: EvalOptions = {}): { rows: EvalRow[]; segmentSeconds: number } {
  const kinds = o.kinds ?? ANOMALY_KINDS;
  const sr = mel.sampleRate;
  const ff = calibration.featureFlow ? FeatureFlow.fromJSON(calibration.featureFlow) : undefined;
  const score = (audio: Float32Array) => {
    const s = scoreAudio(model, mel, audio, { calibration, featureFlow: ff });
    const b = baselineScores(audio, s);
    return s.map((seg, i) => ({ seg, v: { ...Object.fromEntries(SCORE_NAMES.map((n) => [n, scoreOf(seg, n)])), energy: b.energy[i]!, flux: b.flux[i]! } as Vec }));
  };
  const negatives: Vec[] = [];
  const positives = new Map<AnomalyKind, Vec[]>(kinds.map((k) => [k, []]));
  const total = clips.length * (1 + kinds.length);
  let done = 0;
  let segSeconds = 0;
  try {
    clips.forEach((clip, c) => {
      for (const r of score(clip)) {
        negatives.push(r.v);
        segSeconds = r.seg.end - r.seg.start;
      }
      o.onProgress?.(++done, total);
      kinds.forEach((kind, k) => {
        const inj = inject(clip, sr, kind, (o.seed ?? 0) * 1_000_003 + c * 101 + k);
        for (const r of score(inj.audio)) {
          const overlap = Math.min(r.seg.end, inj.end) - Math.max(r.seg.start, inj.start);
          const need = 0.5 * Math.min(inj.end - inj.start, r.seg.end - r.seg.start);
          if (overlap >= need) positives.get(kind)!.push(r.v);
        }
        o.onProgress?.(++done, total);
      });
    });
  } finally {
    ff?.dispose();
  }
  const row = (kind: AnomalyKind | 'all', pos: Vec[]): EvalRow => {
    const a = {} as Vec;
    const p = {} as Vec;
    for (const d of DETECTORS) {
      const ps = pos.map((v) => v[d]).filter(Number.isFinite);
      const ns = negatives.map((v) => v[d]).filter(Number.isFinite);
      a[d] = auroc(ps, ns);
      p[d] = partialAuroc(ps, ns, 0.1);
    }
    return { kind, positives: pos.length, negatives: negatives.length, auroc: a, pauc: p };
  };
  const rows = kinds.map((k) => row(k, positives.get(k)!));
  rows.push(row('all', [...positives.values()].flat()));
  return { rows, segmentSeconds: segSeconds };
}

/** A Markdown table of AUROC (pAUC) per kind and detector. */
export function evalTable(rows: readonly EvalRow[], detectors: readonly Detector[] = DETECTORS): string {
  const head = `| anomaly | segments (+/−) | ${detectors.join(' | ')} |`;
  const sep = `|---|---|${detectors.map(() => '---').join('|')}|`;
  const body = rows.map((r) => {
    const best = Math.max(...detectors.map((d) => (Number.isFinite(r.auroc[d]) ? r.auroc[d] : -1)));
    const cells = detectors.map((d) => {
      const a = r.auroc[d];
      if (!Number.isFinite(a)) return '—';
      const txt = `${a.toFixed(3)} (${r.pauc[d].toFixed(2)})`;
      return a === best ? `**${txt}**` : txt;
    });
    return `| ${r.kind} | ${r.positives}/${r.negatives} | ${cells.join(' | ')} |`;
  });
  return [head, sep, ...body].join('\n');
}
