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

/** Settings and progress of a PlateauDecay: plain JSON, kept in a run's state so --resume continues it. */
export interface PlateauState {
  /** Validations in a row without a new best before the rate drops. */
  patience: number;
  /** Multiplier per drop (0 < factor < 1). */
  factor: number;
  /** The rate never drops below this. */
  minLr: number;
  /** A new best must beat the old one by more than this (same units as the metric). */
  threshold: number;
  /** Validations since the last new best or drop. */
  bad: number;
}

/**
 * Lowers the learning rate when validation stops improving (Keras' and PyTorch's ReduceLROnPlateau,
 * 'min' mode, absolute threshold). Manual halvings of the default voice's rate gained 0.13 nats/sample
 * each time its validation NLL had flattened (docs/recipe-variants.md, follow-ups 5–6); this does
 * the same without someone watching the run.
 */
export class PlateauDecay {
  constructor(readonly state: PlateauState) {
    if (!(state.patience >= 1) || !Number.isInteger(state.patience)) throw new Error(`patience must be an integer ≥ 1, got ${state.patience}`);
    if (!(state.factor > 0 && state.factor < 1)) throw new Error(`factor must be in (0, 1), got ${state.factor}`);
  }

  /**
   * Records a validation `value` against the best before it (null: none yet) and returns the rate
   * to use from now on: `lr`, or lr × factor (not below minLr) after `patience` validations without
   * an improvement of more than `threshold`.
   */
  update(value: number, bestBefore: number | null, lr: number): number {
    const s = this.state;
    if (this.improves(value, bestBefore)) {
      s.bad = 0;
      return lr;
    }
    s.bad++;
    if (s.bad < s.patience) return lr;
    s.bad = 0;
    return Math.min(lr, Math.max(s.minLr, lr * s.factor)); // a rate already below minLr stays
  }

  /** Whether `value` beats `bestBefore` (null: none yet) by more than the threshold: a new best that counts. */
  improves(value: number, bestBefore: number | null): boolean {
    return bestBefore === null || value < bestBefore - this.state.threshold;
  }
}
