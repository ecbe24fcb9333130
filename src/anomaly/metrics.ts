/**
 * Detection metrics for anomaly scores (higher = more anomalous): AUROC, partial AUROC, and a
 * threshold for a target false-positive rate. Hand-written: they are a few lines each and keep the
 * library free of a stats dependency.
 */

/** AUROC = P(score(positive) > score(negative)) + ½ P(tie) (Mann–Whitney U / (n₊ n₋)). */
export function auroc(positives: readonly number[], negatives: readonly number[]): number {
  if (positives.length === 0 || negatives.length === 0) return Number.NaN;
  const all = [...positives.map((s) => ({ s, p: 1 })), ...negatives.map((s) => ({ s, p: 0 }))].sort((a, b) => a.s - b.s);
  // Mid-ranks over ties.
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.s === all[i]!.s) j++;
    const mid = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k]!.p) rankSum += mid;
    i = j + 1;
  }
  const np = positives.length;
  const nn = negatives.length;
  return (rankSum - (np * (np + 1)) / 2) / (np * nn);
}

/** ROC points (FPR, TPR) from the highest threshold down, ties taken together. */
export function rocCurve(positives: readonly number[], negatives: readonly number[]): { fpr: number[]; tpr: number[] } {
  const all = [...positives.map((s) => ({ s, p: 1 })), ...negatives.map((s) => ({ s, p: 0 }))].sort((a, b) => b.s - a.s);
  const fpr = [0];
  const tpr = [0];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]!.s === all[i]!.s) {
      if (all[j]!.p) tp++;
      else fp++;
      j++;
    }
    fpr.push(fp / negatives.length);
    tpr.push(tp / positives.length);
    i = j;
  }
  return { fpr, tpr };
}

/**
 * Partial AUROC over FPR ∈ [0, maxFpr], divided by maxFpr: 1 is a perfect detector, chance is
 * maxFpr / 2 (0.05 for maxFpr = 0.1). Trapezoids, the last one cut at maxFpr.
 */
export function partialAuroc(positives: readonly number[], negatives: readonly number[], maxFpr = 0.1): number {
  if (positives.length === 0 || negatives.length === 0) return Number.NaN;
  const { fpr, tpr } = rocCurve(positives, negatives);
  let area = 0;
  for (let i = 1; i < fpr.length; i++) {
    const x0 = fpr[i - 1]!;
    if (x0 >= maxFpr) break;
    const x1 = Math.min(fpr[i]!, maxFpr);
    const y0 = tpr[i - 1]!;
    const y1 = fpr[i]! === x0 ? tpr[i]! : y0 + ((tpr[i]! - y0) * (x1 - x0)) / (fpr[i]! - x0);
    area += ((x1 - x0) * (y0 + y1)) / 2;
  }
  return area / maxFpr;
}

/**
 * The threshold that flags at most `fpr` of the normal scores: the smallest t with
 * #{s > t} ≤ fpr·n (so a segment is anomalous when score > t).
 */
export function thresholdForFpr(normalScores: readonly number[], fpr: number): number {
  if (normalScores.length === 0) throw new Error('no normal scores to calibrate on');
  if (!(fpr > 0 && fpr < 1)) throw new Error(`target false-positive rate must be in (0, 1), got ${fpr}`);
  const s = [...normalScores].sort((a, b) => a - b);
  const allowed = Math.floor(fpr * s.length);
  return s[s.length - 1 - allowed]!;
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function std(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? Number.NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}
