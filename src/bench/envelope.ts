/**
 * Cost of mel-envelope matching (src/vocoder/envelope.ts) per iteration count, with and without the
 * momentum, on --seconds of audio (a synthetic voiced signal matched to another one's mel), and how
 * close each ends to the target mel (RMS log-mel distance, dB).
 *
 *   npx tsx src/bench/envelope.ts [--seconds 6] [--reps 5] [--iterations 1,4,8] [--json]
 *
 * Pure JavaScript (no tfjs): one thread. Medians over repeats after one warm-up.
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { logMelSpectrogram, TACOTRON_MEL } from '../dsp/mel.js';
import { logMelDistanceDb } from '../dsp/metrics.js';
import { ENVELOPE_MOMENTUM, matchMelEnvelope } from '../vocoder/envelope.js';
import { gaussian, mulberry32 } from '../util/random.js';

export interface EnvelopeBenchRow {
  iterations: number;
  momentum: number;
  ms: number;
  /** ms per second of audio. */
  msPerAudioSecond: number;
  /** RMS log-mel distance (dB) from the result to the target's audio. */
  logMelDb: number;
}

/** A voiced-like test signal: a gliding harmonic series in noise, with a syllable-rate envelope. */
function voice(n: number, f0: number, seed: number): Float32Array {
  const sr = TACOTRON_MEL.sampleRate;
  const randn = gaussian(mulberry32(seed));
  const x = new Float32Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    phase += (2 * Math.PI * f0 * (1 + 0.15 * Math.sin((2 * Math.PI * 0.7 * i) / sr))) / sr;
    let s = 0;
    for (let h = 1; h <= 20; h++) s += Math.sin(h * phase) / h;
    x[i] = (0.2 * s + 0.02 * randn()) * (0.55 + 0.45 * Math.sin((2 * Math.PI * 4 * i) / sr));
  }
  return x;
}

export function benchEnvelope(opts: { seconds?: number; reps?: number; iterations?: number[] } = {}): EnvelopeBenchRow[] {
  const seconds = opts.seconds ?? 6;
  const reps = opts.reps ?? 5;
  const n = Math.round(seconds * TACOTRON_MEL.sampleRate);
  const target = voice(n, 120, 1);
  const start = voice(n, 180, 2); // another voice: its envelope and pitch are wrong
  const mel = logMelSpectrogram(target);
  const rows: EnvelopeBenchRow[] = [];
  for (const iterations of opts.iterations ?? [1, 4, 8]) {
    for (const momentum of [0, ENVELOPE_MOMENTUM]) {
      let out = matchMelEnvelope(start, mel, iterations, TACOTRON_MEL, 0, momentum);
      const ts: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        out = matchMelEnvelope(start, mel, iterations, TACOTRON_MEL, 0, momentum);
        ts.push(performance.now() - t0);
      }
      ts.sort((a, b) => a - b);
      const ms = ts[ts.length >> 1]!;
      rows.push({ iterations, momentum, ms: +ms.toFixed(1), msPerAudioSecond: +(ms / seconds).toFixed(2), logMelDb: +logMelDistanceDb(target, out).toFixed(3) });
    }
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values: o } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, reps: { type: 'string', default: '5' }, iterations: { type: 'string', default: '1,4,8' }, json: { type: 'boolean', default: false } } });
  const seconds = Number(o.seconds);
  const reps = Number(o.reps);
  const iterations = o.iterations!.split(',').map(Number);
  if (!(seconds > 0.1 && seconds <= 600) || !(Number.isInteger(reps) && reps >= 1) || iterations.some((i) => !Number.isInteger(i) || i < 1 || i > 32)) {
    process.stderr.write('usage: npx tsx src/bench/envelope.ts [--seconds 0.1–600] [--reps N≥1] [--iterations 1,4,8 (each 1–32)] [--json]\n');
    process.exit(2);
  }
  const rows = benchEnvelope({ seconds, reps, iterations });
  if (!o.json) for (const r of rows) console.log(`${r.iterations} iterations, momentum ${r.momentum}: ${r.ms} ms (${r.msPerAudioSecond} ms per audio second), log-mel ${r.logMelDb} dB`);
  console.log(JSON.stringify({ seconds, reps, rows }));
}
