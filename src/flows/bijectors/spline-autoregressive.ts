import type { MADE } from '../../nn/made.js';
import { MaskedAutoregressiveFlow } from './maf.js';
import { rqSplineParamCount, rqSplineTransformer, type RQSplineOptions } from './rq-spline.js';

export interface SplineAutoregressiveOptions extends RQSplineOptions {
  /** Number of bins K (default 8); the MADE must output 3K − 1 parameters per dimension. */
  bins?: number;
}

/**
 * Autoregressive rational-quadratic spline flow (Durkan et al. 2019, "RQ-NSF (AR)"; nflows'
 * MaskedPiecewiseRationalQuadraticAutoregressiveTransform): a MAF whose transformer is the spline.
 * With θ_d = MADE(x_{<d}) = (K widths, K heights, K − 1 derivatives):
 *   forward:  x_d = RQS(z_d; θ_d(x_{<d}))      log|det ∂x/∂z| = Σ_d log RQS′(z_d; θ_d)
 *   inverse:  z_d = RQS⁻¹(x_d; θ_d(x_{<d}))    log|det ∂z/∂x| = Σ_d log (RQS⁻¹)′(x_d; θ_d)
 * Density (inverse) is one MADE pass; sampling (forward) is D sequential passes.
 */
export class SplineAutoregressive extends MaskedAutoregressiveFlow {
  override readonly name: string = 'SplineAutoregressive';
  readonly bins: number;

  constructor(made: MADE, opts: SplineAutoregressiveOptions = {}) {
    const bins = opts.bins ?? 8;
    super(made, { transformer: rqSplineTransformer(bins, opts) });
    this.bins = bins;
  }

  /** MADE parameters per dimension for K bins (3K − 1). */
  static paramsPerDim(bins = 8): number {
    return rqSplineParamCount(bins);
  }
}
