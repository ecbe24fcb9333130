/** Learning-rate schedules: linear warm-up, then constant, cosine decay or exponential decay. */
export interface ScheduleOptions {
  lr: number;
  warmupSteps?: number;
  decay?: 'constant' | 'cosine' | 'exponential';
  /** Steps over which cosine decays to `minLr` (cosine only). */
  totalSteps?: number;
  minLr?: number;
  /** Per-step factor (exponential only), e.g. 0.9999. */
  gamma?: number;
}

export type Schedule = (step: number) => number;

export function makeSchedule(o: ScheduleOptions): Schedule {
  const warm = o.warmupSteps ?? 0;
  const minLr = o.minLr ?? 0;
  return (step: number) => {
    if (step < warm) return (o.lr * (step + 1)) / warm;
    const t = step - warm;
    switch (o.decay ?? 'constant') {
      case 'cosine': {
        const total = Math.max(1, (o.totalSteps ?? warm + 1) - warm);
        const frac = Math.min(1, t / total);
        return minLr + (o.lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * frac));
      }
      case 'exponential':
        return Math.max(minLr, o.lr * (o.gamma ?? 0.9999) ** t);
      default:
        return o.lr;
    }
  };
}
