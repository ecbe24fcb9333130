/**
 * Mel-envelope matching: a decoding post-filter that gives the vocoder's output the spectral
 * envelope of the mel it was asked for, and keeps its phase and its fine structure within each band.
 *
 * One iteration:
 *   X = STFT(x)                       (the mel's framing: nFft, hop, window; centred)
 *   gₘ(t) = mel*ₘ(t) / melₘ(|X(t)|)     target mel over the signal's own mel, band m, frame t
 *   X(t, k) ← X(t, k) · exp(Σₘ wₘₖ log gₘ(t) / Σₘ wₘₖ)     (w: the mel filterbank)
 *   x = ISTFT(X)
 * Repeated, it moves the magnitudes towards a consistent STFT whose mel is the target, as
 * Griffin-Lim does, and with the same acceleration as the fast Griffin-Lim of Perraudin, Balazs and
 * Søndergaard (2013): from the second iteration on, the next X is STFT(x) + α·(STFT(x) − the previous
 * STFT(x)). Unlike Griffin-Lim it never replaces the magnitudes with the mel's smooth pseudo-inverse,
 * so what the flow puts inside a band (harmonic peaks, where it makes them) stays. The gains of a
 * frame depend on that frame alone, so an output sample depends on input within ± nFft per
 * iteration (`envelopeMarginSamples`; the momentum mixes two STFTs of the same frame, so it reaches no
 * further), which lets streaming apply it chunk by chunk exactly.
 * Frames beyond the target mel (the STFT's last frame, one hop past frames·hop) are left as they are.
 */
import { melFilterbank, melFromMagnitude, TACOTRON_MEL, type MelConfig } from '../dsp/mel.js';
import { StftPlan, type StftConfig } from '../dsp/stft.js';

/** The most iterations a model's config or a flag may ask for. */
export const MAX_ENVELOPE_ITERATIONS = 32;

/**
 * The momentum α. On 24 validation files of the default voice (docs/recipe-variants.md, follow-up 17)
 * 0.9 scored as well as 0.7–0.99 at 4 iterations and best on MR-STFT at 8; 4 iterations with it
 * matched the mel about as closely as 6 without. 0 is the plain iteration.
 */
export const ENVELOPE_MOMENTUM = 0.9;

/** Per-bin log-gain weights: the filterbank's column k normalised to sum 1. */
interface BinWeights {
  /** Bin k's gain is Σ weights[j]·logGain[bands[j]] over j in [from[k], to[k]). */
  from: Int32Array;
  to: Int32Array;
  bands: Int32Array;
  weights: Float64Array;
}

const weightCache = new Map<string, BinWeights>();

function binWeights(cfg: MelConfig): BinWeights {
  const key = `${cfg.sampleRate}/${cfg.nFft}/${cfg.nMels}/${cfg.fmin}/${cfg.fmax}`;
  const hit = weightCache.get(key);
  if (hit) return hit;
  const fb = melFilterbank(cfg);
  const bins = (cfg.nFft >> 1) + 1;
  const start = new Int32Array(bins + 1);
  const bands: number[] = [];
  const weights: number[] = [];
  for (let k = 0; k < bins; k++) {
    start[k] = bands.length;
    let sum = 0;
    for (let m = 0; m < cfg.nMels; m++) sum += fb[m * bins + k]!;
    for (let m = 0; m < cfg.nMels && sum > 0; m++) {
      const w = fb[m * bins + k]!;
      if (w > 0) {
        bands.push(m);
        weights.push(w / sum);
      }
    }
  }
  start[bins] = bands.length;
  // Bins no band covers (DC, above fmax) take the nearest covered bin's gain: the mel says nothing
  // there, and leaving them at the flow's level would keep its loudness errors above 8 kHz.
  const covered = (k: number) => start[k + 1]! > start[k]!;
  const first = [...Array(bins).keys()].find(covered) ?? 0;
  const last = [...Array(bins).keys()].reverse().find(covered) ?? bins - 1;
  const from = new Int32Array(bins);
  const to = new Int32Array(bins);
  for (let k = 0; k < bins; k++) {
    const src = covered(k) ? k : k < first ? first : k > last ? last : k;
    from[k] = start[src]!;
    to[k] = start[src + 1]!;
  }
  const r = { from, to, bands: Int32Array.from(bands), weights: Float64Array.from(weights) };
  weightCache.set(key, r);
  return r;
}

/**
 * Samples each side that a chunk must be synthesised beyond what it keeps, for `iterations`: frames
 * are centred on multiples of the hop, and the two frames nearest a chunk's edge see its reflect
 * padding and reach nFft/2 − 1 samples on, so each iteration spoils nFft − hop samples at each edge.
 */
export function envelopeMarginSamples(iterations: number, melConfig: Pick<MelConfig, 'nFft' | 'hop'> = TACOTRON_MEL): number {
  return iterations * (melConfig.nFft - melConfig.hop);
}

export function checkEnvelopeIterations(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_ENVELOPE_ITERATIONS) throw new Error(`envelope iterations must be an integer in [0, ${MAX_ENVELOPE_ITERATIONS}], got ${n}`);
  return n;
}

/**
 * `audio` after `iterations` of mel-envelope matching to `logMel` (channels-last [frames, nMels],
 * natural log, as `logMelSpectrogram`). `frameOffset`: the mel frame at audio sample 0 (a chunk
 * that starts at sample s of the utterance: s / hop), so a slice of audio matches the whole mel.
 * `momentum`: α above, in [0, 1).
 */
export function matchMelEnvelope(audio: Float32Array, logMel: { data: Float32Array; frames: number; nMels: number }, iterations: number, melConfig: MelConfig = TACOTRON_MEL, frameOffset = 0, momentum = ENVELOPE_MOMENTUM): Float32Array {
  checkEnvelopeIterations(iterations);
  if (!(momentum >= 0 && momentum < 1)) throw new Error(`envelope momentum must be in [0, 1), got ${momentum}`);
  if (iterations === 0) return audio;
  const cfg = melConfig;
  if (logMel.nMels !== cfg.nMels) throw new Error(`mel has ${logMel.nMels} bands, the mel config ${cfg.nMels}`);
  if (audio.length <= cfg.nFft >> 1) return audio; // too short for the centred STFT: nothing to match
  const stftCfg: StftConfig = { nFft: cfg.nFft, hop: cfg.hop, winLength: cfg.winLength };
  const plan = new StftPlan(stftCfg);
  const { from, to, bands, weights } = binWeights(cfg);
  const bins = plan.bins;
  const M = cfg.nMels;
  const frames = plan.frames(audio.length);
  const re = new Float64Array(frames * bins);
  const im = new Float64Array(frames * bins);
  const mag = new Float64Array(frames * bins);
  const logGain = new Float64Array(M);
  const out = new Float64Array(audio.length);
  const wss = plan.windowSumSquare(frames);
  // The previous iteration's STFT, for the momentum (allocated only when there is a next iteration).
  const prevRe = momentum > 0 && iterations > 2 ? new Float64Array(frames * bins) : null;
  const prevIm = prevRe ? new Float64Array(frames * bins) : null;
  plan.forwardInto(audio, re, im);
  for (let it = 0; it < iterations; it++) {
    for (let i = 0; i < mag.length; i++) {
      const r = re[i]!;
      const q = im[i]!;
      mag[i] = Math.sqrt(r * r + q * q); // not Math.hypot: ~9× slower in V8, and no overflow to guard against here
    }
    const own = melFromMagnitude({ data: mag, frames, bins }, cfg);
    for (let t = 0; t < frames; t++) {
      const target = frameOffset + t;
      if (target < 0 || target >= logMel.frames) continue;
      for (let m = 0; m < M; m++) logGain[m] = Math.max(logMel.data[target * M + m]!, Math.log(cfg.logFloor)) - Math.log(Math.max(own[t * M + m]!, cfg.logFloor));
      for (let k = 0; k < bins; k++) {
        let s = 0;
        for (let j = from[k]!; j < to[k]!; j++) s += weights[j]! * logGain[bands[j]!]!;
        const g = Math.exp(s);
        re[t * bins + k]! *= g;
        im[t * bins + k]! *= g;
      }
    }
    plan.inverseInto(re, im, frames, out, wss);
    if (it === iterations - 1) break;
    plan.forwardInto(out, re, im);
    if (prevRe && prevIm) {
      for (let i = 0; i < re.length; i++) {
        const r = re[i]!;
        const q = im[i]!;
        if (it > 0) {
          re[i] = r + momentum * (r - prevRe[i]!);
          im[i] = q + momentum * (q - prevIm[i]!);
        }
        prevRe[i] = r;
        prevIm[i] = q;
      }
    }
  }
  return Float32Array.from(out);
}
