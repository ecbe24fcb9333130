/**
 * Scoring streams over the wire: a ws client streams audio in chunks and receives, per segment,
 * the same scores as scoreAudio on the whole signal (at the model's rate and resampled from
 * 48 kHz), with and without a calibration shipped beside the model; every bad input gets a clear
 * error and the connection keeps working. Tiny random-weight model, one worker per server.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/index.js';
import { StreamClient } from '../server/client.js';
import { FeatureFlow, featureFrames } from '../src/anomaly/features-flow.js';
import { SCORE_NAMES as SCORER_NAMES, scoreAudio, type Calibration, type SegmentScores } from '../src/anomaly/scorer.js';
import { initBackend } from '../src/backend/index.js';
import { TACOTRON_MEL } from '../src/dsp/mel.js';
import { resample } from '../src/dsp/resample.js';
import { saveModelDir } from '../src/io/model-dir.js';
import { decodeWav, encodeWav } from '../src/io/wav.js';
import { SCORE_NAMES, type ErrorMessage, type ScoreMessage, type ServerMessage } from '../src/stream/protocol.js';
import { mulberry32 } from '../src/util/random.js';
import { preset } from '../src/vocoder/presets.js';
import { WaveGlow } from '../src/vocoder/waveglow.js';
import { randomizeCouplings } from './helpers/random-waveglow.js';

const SR = 22050;
const TMP = mkdtempSync(join(tmpdir(), 'flowvox-score-'));
let model: WaveGlow;
let plain: RunningServer; // no calibration
let calibrated: RunningServer; // anomaly-calibration.json beside the model
let cal: Calibration;


function signal(seconds: number, sr = SR, seed = 1): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: Math.round(seconds * sr) }, (_, i) => {
    const t = i / sr;
    const tone = 0.3 * Math.sin(2 * Math.PI * 190 * t) + 0.1 * Math.sin(2 * Math.PI * 1400 * t);
    return t % 1.1 < 0.6 ? tone : 0.25 * (r() - 0.5);
  });
}

/** The scores the server sent, against scoreAudio's, segment by segment. */
function compare(got: ScoreMessage[], want: SegmentScores[], names: readonly string[]): number {
  expect(got.map((g) => g.index)).toEqual(want.map((_, i) => i));
  expect(got.map((g) => [g.start, g.end])).toEqual(want.map((w) => [w.start, w.end]));
  let worst = 0;
  got.forEach((g, i) => {
    expect(Object.keys(g.scores).sort()).toEqual([...names].sort());
    for (const n of names) worst = Math.max(worst, Math.abs(g.scores[n as 'lr']! - (want[i]![n as keyof SegmentScores] as number)));
  });
  return worst;
}

const connect = (s: RunningServer) => StreamClient.connect(s.url);
const isError = (m: ServerMessage): m is ErrorMessage => m.type === 'error';
async function expectError(c: StreamClient, send: () => void, code: ErrorMessage['code'], id?: number, pattern?: RegExp): Promise<ErrorMessage> {
  const from = c.messages.length;
  send();
  const e = await c.next(isError, from, 10_000);
  expect(e.code, e.message).toBe(code);
  if (id !== undefined) expect(e.id).toBe(id);
  if (pattern) expect(e.message).toMatch(pattern);
  return e;
}

beforeAll(async () => {
  await initBackend('wasm');
  model = new WaveGlow(preset('tiny'), 1);
  randomizeCouplings(model, 2);
  await saveModelDir(join(TMP, 'plain'), model, { source: 'test: tiny random' });
  await saveModelDir(join(TMP, 'cal'), model, { source: 'test: tiny random' });
  const f = featureFrames(signal(3, SR, 7), SR);
  const ff = FeatureFlow.fit(f.data, f.dim, { steps: 5, hidden: 8, layers: 2 });
  cal = {
    format: 'flowvox-anomaly-calibration', version: 2, model: { n_group: 8, n_flows: 4 }, segment: 0.4, hop: 0.2, fpr: 0.05,
    defaultScore: 'complexity', thresholds: { complexity: 1.5, lr: 0, features: 25 }, nllStats: { mean: -2, std: 0.5 },
    complexityFit: { intercept: 0.2, slope: 0.8, std: 0.3 }, featureStats: { mean: 20, std: 3 },
    normal: { files: 1, segments: 10, seconds: 3 }, featureFlow: ff.toJSON(),
  };
  ff.dispose();
  writeFileSync(join(TMP, 'cal', 'anomaly-calibration.json'), JSON.stringify(cal));
  const limits = { maxScoreBacklogSeconds: 2, maxScoreChunkSamples: 48_000, maxStreamsPerConnection: 2 };
  [plain, calibrated] = await Promise.all([
    startServer({ modelDir: join(TMP, 'plain'), port: 0, workers: 1, limits }),
    startServer({ modelDir: join(TMP, 'cal'), port: 0, workers: 1 }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([plain?.close(), calibrated?.close()]);
  model?.dispose();
  rmSync(TMP, { recursive: true, force: true });
});

describe('scoring streams', () => {
  it('the wire score names are the scorer\'s', () => {
    expect([...SCORE_NAMES]).toEqual([...SCORER_NAMES]);
  });

  it('a WAV streamed in chunks gets scoreAudio\'s scores, segment by segment, as they are computed', async () => {
    const wav = encodeWav(signal(2.3), SR, { bitDepth: '16' });
    const audio = decodeWav(wav).samples;
    const c = await connect(plain);
    const hello = await c.hello();
    expect(hello.anomaly).toEqual({ calibrated: false, scores: ['lr', 'nll'], defaultScore: 'lr', segment: 0.5, hop: 0.25 });
    expect(plain.calibrated).toBe(false);
    const r = await c.score({ type: 'score-start', id: 5, sampleRate: SR }, audio, { chunk: 2000 });
    expect(r.end.type, JSON.stringify(r.end)).toBe('score-done');
    expect(r.accepted).toMatchObject({ inputRate: SR, sampleRate: SR, scoreName: 'lr', threshold: null, calibrated: false, scores: ['lr', 'nll'] });
    expect(r.accepted!.segment).toBeCloseTo((43 * 256) / SR, 9); // 0.5 s snapped to a multiple of lcm(8, 256)
    expect(r.accepted!.hop).toBeCloseTo((22 * 256) / SR, 9);
    const want = scoreAudio(model, TACOTRON_MEL, audio);
    expect(compare(r.scores, want, ['lr', 'nll'])).toBeLessThanOrEqual(1e-6);
    expect(r.scores.every((s) => s.flagged === false && s.score === s.scores.lr)).toBe(true);
    expect(r.end).toMatchObject({ segments: want.length, flagged: 0 });
    expect((r.end as { seconds: number }).seconds).toBeCloseTo(audio.length / SR, 6);
    // Live: the first scores came before the end was sent (not all at the end).
    const firstScore = c.messages.findIndex((m) => m.type === 'score' && m.id === 5);
    const done = c.messages.findIndex((m) => m.type === 'score-done' && m.id === 5);
    expect(done - firstScore).toBeGreaterThan(1);
    await c.close();
  });

  it('48 kHz input is resampled on the server as it arrives', async () => {
    const hi = signal(1.6, 48000, 4);
    const c = await connect(plain);
    await c.hello();
    const r = await c.score({ type: 'score-start', id: 1, sampleRate: 48000, score: 'nll' }, hi, { chunk: 4800 });
    expect(r.end.type).toBe('score-done');
    expect(r.accepted).toMatchObject({ inputRate: 48000, sampleRate: SR, scoreName: 'nll' });
    const want = scoreAudio(model, TACOTRON_MEL, resample(hi, 48000, SR));
    expect(compare(r.scores, want, ['lr', 'nll'])).toBeLessThanOrEqual(1e-4);
    await c.close();
  });

  it('with the calibration shipped beside the model: its segment/hop, threshold, flags and every score', async () => {
    const audio = signal(2, SR, 9);
    const c = await connect(calibrated);
    const hello = await c.hello();
    expect(hello.anomaly).toMatchObject({ calibrated: true, defaultScore: 'complexity', segment: 0.4, hop: 0.2 });
    const r = await c.score({ type: 'score-start', id: 2, sampleRate: SR }, audio, { chunk: 3000 });
    expect(r.end.type, JSON.stringify(r.end)).toBe('score-done');
    expect(r.accepted).toMatchObject({ scoreName: 'complexity', threshold: 1.5, calibrated: true, scores: [...SCORE_NAMES] });
    const want = scoreAudio(model, TACOTRON_MEL, audio, { calibration: cal });
    expect(compare(r.scores, want, SCORE_NAMES)).toBeLessThanOrEqual(1e-6);
    for (const s of r.scores) expect(s.flagged).toBe(s.scores.complexity! > 1.5);
    const flagged = r.scores.filter((s) => s.flagged).length;
    expect(r.end).toMatchObject({ flagged });
    // Another score by request.
    const f = await c.score({ type: 'score-start', id: 3, sampleRate: SR, score: 'features' }, audio.subarray(0, SR));
    expect(f.accepted).toMatchObject({ scoreName: 'features', threshold: 25 });
    expect(f.scores.every((s) => s.score === s.scores.features && s.flagged === s.score > 25)).toBe(true);
    await c.close();
  });

  it('cancel stops a scoring stream; a closed socket frees its streams', async () => {
    const c = await connect(plain);
    await c.hello();
    c.send({ type: 'score-start', id: 8, sampleRate: SR });
    await c.next((m): m is ServerMessage => m.type === 'score-accepted');
    c.sendChunk(8, 0, SR, 0, signal(0.3));
    const from = c.messages.length;
    c.send({ type: 'cancel', id: 8 });
    expect(await c.next((m): m is ServerMessage => m.type === 'cancelled', from)).toEqual({ type: 'cancelled', id: 8, reason: 'client' });
    c.send({ type: 'score-start', id: 9, sampleRate: SR });
    await c.next((m): m is ServerMessage => m.type === 'score-accepted' && m.id === 9);
    expect(plain.stats().scoring).toBe(1);
    await c.close();
    for (let t = 0; plain.stats().scoring > 0 && t < 100; t++) await new Promise((ok) => setTimeout(ok, 20));
    expect(plain.stats().scoring).toBe(0);
  });
});

describe('bad scoring input gets a clear error; the connection keeps working', () => {
  it('start, chunks and end are validated', async () => {
    const c = await connect(plain);
    await c.hello();
    await expectError(c, () => c.send({ type: 'score-start', id: 1 }), 'missing_field', 1, /sampleRate/);
    await expectError(c, () => c.send({ type: 'score-start', id: 1, sampleRate: 7000 }), 'bad_field', 1, /sampleRate.*8000/);
    await expectError(c, () => c.send({ type: 'score-start', id: 1, sampleRate: 44100.5 }), 'bad_field', 1);
    await expectError(c, () => c.send({ type: 'score-start', id: 1, sampleRate: 'fast' }), 'bad_field', 1);
    await expectError(c, () => c.send({ type: 'score-start', id: 1, sampleRate: SR, score: 'vibes' }), 'bad_field', 1, /one of lr, nll/);
    await expectError(c, () => c.send({ type: 'score-start', id: 1, sampleRate: SR, score: 'features' }), 'bad_field', 1, /needs a calibration/);
    await expectError(c, () => c.sendChunk(42, 0, SR, 0, new Float32Array(100)), 'unknown_stream', 42, /score-start/);
    await expectError(c, () => c.send({ type: 'score-end', id: 42 }), 'unknown_stream', 42);
    await expectError(c, () => c.sendRaw(new Uint8Array([0x46, 0x56, 0x4f, 0x58, 9, 0, 32, 0])), 'bad_audio', undefined, /bad scoring chunk/);

    const open = async (id: number, rate = SR) => {
      const from = c.messages.length;
      c.send({ type: 'score-start', id, sampleRate: rate });
      await c.next((m): m is ServerMessage => m.type === 'score-accepted' && m.id === id, from);
    };
    // NaN: an error naming the stream and the sample; its later chunks are dropped without more errors.
    await open(2);
    const nan = new Float32Array(500);
    nan[77] = Number.NaN;
    await expectError(c, () => c.sendChunk(2, 0, SR, 0, nan), 'bad_audio', 2, /NaN at sample 77/);
    const before = c.messages.length;
    c.sendChunk(2, 1, SR, 500, new Float32Array(500));
    c.send({ type: 'ping', t: 1 });
    await c.next((m): m is ServerMessage => m.type === 'pong', before);
    expect(c.messages.slice(before).filter((m) => m.type === 'error')).toEqual([]);
    // Another rate than announced, a gap in seq, a wrong offset, too large a chunk, Infinity.
    await open(3);
    await expectError(c, () => c.sendChunk(3, 0, 16000, 0, new Float32Array(10)), 'bad_audio', 3, /16000 Hz.*22050 Hz/);
    await open(3);
    c.sendChunk(3, 0, SR, 0, new Float32Array(10));
    await expectError(c, () => c.sendChunk(3, 2, SR, 10, new Float32Array(10)), 'bad_audio', 3, /seq 2, expected 1/);
    await open(3);
    await expectError(c, () => c.sendChunk(3, 0, SR, 5, new Float32Array(10)), 'bad_audio', 3, /sampleOffset 5/);
    await open(3);
    await expectError(c, () => c.sendChunk(3, 0, SR, 0, new Float32Array(48_001)), 'too_large', 3, /48000/);
    await open(3);
    await expectError(c, () => c.sendChunk(3, 0, SR, 0, new Float32Array([0, Number.POSITIVE_INFINITY])), 'bad_audio', 3, /Infinity/);
    // Too short to score: ending it says so.
    await open(4);
    c.sendChunk(4, 0, SR, 0, new Float32Array(100));
    await expectError(c, () => c.send({ type: 'score-end', id: 4 }), 'bad_audio', 4, /too short/);
    // Duplicate id, and too many streams on one connection (limit 2).
    await open(5);
    await expectError(c, () => c.send({ type: 'score-start', id: 5, sampleRate: SR }), 'duplicate_id', 5);
    await open(6);
    await expectError(c, () => c.send({ type: 'score-start', id: 7, sampleRate: SR }), 'too_many_streams', 7);
    c.send({ type: 'cancel', id: 5 });
    c.send({ type: 'cancel', id: 6 });
    // Audio much faster than it can be scored (20 s at once, backlog limit 2 s): 'overrun', not unbounded memory.
    await open(10);
    const from = c.messages.length;
    const burst = signal(0.5);
    for (let k = 0; k < 40; k++) c.sendChunk(10, k, SR, k * burst.length, burst);
    const e = await c.next((m): m is ErrorMessage => m.type === 'error' && m.id === 10, from);
    expect(e.code).toBe('overrun');
    expect(e.message).toMatch(/faster than it is scored.*limit of 2\.0 s/);
    // Still serving: a good stream on the same connection completes.
    const ok = await c.score({ type: 'score-start', id: 11, sampleRate: SR }, signal(0.8));
    expect(ok.end.type).toBe('score-done');
    expect(ok.scores.length).toBeGreaterThan(0);
    await c.close();
    expect(plain.stats().failed).toBe(0); // synthesis untouched
  });
});
