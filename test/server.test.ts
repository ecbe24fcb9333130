/**
 * The streaming server end to end on loopback: a tiny random model (tiny preset: ConvTranspose
 * upsampler) for exactness over the wire and the bad-input cases, and a cheap frames-mode model for
 * the load and backpressure tests. Every wait is bounded.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { startServer, type RunningServer } from '../server/index.js';
import { matchMelEnvelope } from '../src/vocoder/envelope.js';
import { StreamClient } from '../server/client.js';
import { initBackend } from '../src/backend/index.js';
import { logMelSpectrogram, TACOTRON_MEL } from '../src/dsp/mel.js';
import { melToNpy, writeNpy } from '../src/dsp/npy.js';
import { saveModelDir } from '../src/io/model-dir.js';
import { decodeWav, encodeWav } from '../src/io/wav.js';
import type { ErrorMessage, ServerMessage } from '../src/stream/protocol.js';
import { gaussian, mulberry32 } from '../src/util/random.js';
import { preset } from '../src/vocoder/presets.js';
import { DEFAULT_PITCH_PREDICTOR } from '../src/vocoder/pitch.js';
import { WaveGlow, type WaveGlowConfig } from '../src/vocoder/waveglow.js';
import { randomizeCouplings } from './helpers/random-waveglow.js';

const TOKEN = 'sesame';
const TMP = mkdtempSync(join(tmpdir(), 'flowvox-server-'));
let tiny: WaveGlow;
let server: RunningServer; // tiny model, token required
let cheap: RunningServer; // frames-mode model, no token
const nMel = 80;


const melData = (frames: number, seed: number) => {
  const r = gaussian(mulberry32(seed));
  return Float32Array.from({ length: frames * nMel }, (_, i) => -5 + 2 * Math.sin(i / 91) + r());
};
const toneWav = (seconds: number) => {
  const sr = 22050;
  return encodeWav(Float32Array.from({ length: Math.round(seconds * sr) }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / sr) + 0.1 * Math.sin((2 * Math.PI * 1330 * i) / sr)), sr, { bitDepth: '16' });
};

function whole(mel: Float32Array, frames: number, sigma: number, seed: number): Float32Array {
  return tf.tidy(() => tiny.synthesize(tf.tensor3d(mel, [1, frames, nMel]), { sigma, seed }).dataSync() as Float32Array);
}
const maxAbs = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

const SAMPLE_FRAMES = 30;
const SAMPLE_MEL = melData(SAMPLE_FRAMES, 1);

beforeAll(async () => {
  await initBackend('wasm');
  tiny = new WaveGlow(preset('tiny'), 1);
  randomizeCouplings(tiny, 2);
  await saveModelDir(join(TMP, 'tiny'), tiny, { source: 'test: tiny random' });
  const cheapCfg: WaveGlowConfig = {
    n_mel_channels: 80, n_flows: 2, n_group: 256, n_early_every: 4, n_early_size: 0,
    WN_config: { n_layers: 1, n_channels: 8, kernel_size: 3 }, hop_length: 256, upsampler: 'frames', sampling_rate: 22050,
  };
  await saveModelDir(join(TMP, 'cheap'), new WaveGlow(cheapCfg, 4), { source: 'test: cheap' });
  // Samples: audio/index.json as export-samples writes it, plus a client dir.
  const audio = join(TMP, 'audio');
  mkdirSync(audio);
  writeFileSync(join(audio, 's1.npy'), melToNpy({ data: SAMPLE_MEL, frames: SAMPLE_FRAMES, nMels: nMel }));
  writeFileSync(join(audio, 's1.wav'), toneWav(0.3));
  writeFileSync(join(audio, 'index.json'), JSON.stringify({ samples: [
    { id: 's1', seconds: 0.35, lang: 'en', text: null, files: { original: 's1.wav', mel: 's1.npy' } },
    { id: 'evil', seconds: 1, files: { mel: '../../etc/passwd' } },
  ] }));
  mkdirSync(join(TMP, 'client'));
  writeFileSync(join(TMP, 'client', 'index.html'), '<!doctype html><title>player</title>');
  writeFileSync(join(TMP, 'client', 'app.js'), 'console.log(1)');
  writeFileSync(join(TMP, 'secret.txt'), 'do not serve');
  const limits = { maxMessageBytes: 256 * 1024, maxUploadBytes: 240 * 1024, maxMessagesPerSecond: 20, maxFrames: 500 };
  [server, cheap] = await Promise.all([
    startServer({ modelDir: join(TMP, 'tiny'), port: 0, workers: 2, queue: 1, token: TOKEN, audioDir: audio, clientDir: join(TMP, 'client'), limits }),
    startServer({ modelDir: join(TMP, 'cheap'), port: 0, workers: 2, queue: 1, audioDir: audio, clientDir: join(TMP, 'client'), limits: { maxFrames: 9000 }, highWaterMark: 64 * 1024 }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([server?.close(), cheap?.close()]);
  rmSync(TMP, { recursive: true, force: true });
});

const connect = (opts: { token?: string; origin?: string } = { token: TOKEN }) => StreamClient.connect(server.url, opts);
const isError = (m: ServerMessage): m is ErrorMessage => m.type === 'error';
async function expectError(c: StreamClient, send: () => void, code: ErrorMessage['code']): Promise<ErrorMessage> {
  const from = c.messages.length;
  send();
  const e = await c.next(isError, from, 10_000);
  expect(e.code).toBe(code);
  expect(e.message.length).toBeGreaterThan(5);
  return e;
}

describe('streaming over the wire', () => {
  it('hello: model, sample rate, samples (confined to audio/), limits', async () => {
    const c = await connect();
    const h = await c.hello();
    expect(h.version).toBe(1);
    expect(h.sampleRate).toBe(22050);
    expect(h.model.upsampler).toBe('convtranspose');
    expect(h.model.source).toBe('test: tiny random');
    expect(h.samples.map((s) => s.id)).toEqual(['s1']); // 'evil' points outside audio/
    expect(h.samples[0]!.files).toEqual({ original: '/audio/s1.wav', mel: '/audio/s1.npy' });
    expect(h.limits.maxUploadBytes).toBe(240 * 1024);
    await c.close();
  });

  it('a sample streams in order and equals whole-utterance synthesis with the same seed', async () => {
    const c = await connect();
    await c.hello();
    const r = await c.stream({ type: 'start', id: 1, source: { kind: 'sample', sampleId: 's1' }, seed: 7, sigma: 0.6, chunkFrames: 4 });
    expect(r.end.type).toBe('done');
    expect(r.accepted).toMatchObject({ frames: SAMPLE_FRAMES, totalSamples: SAMPLE_FRAMES * 256, chunks: 8, seed: 7, chunkFrames: 4 });
    expect(r.accepted!.mel.columns * r.accepted!.mel.bands).toBe(r.accepted!.mel.data.length);
    expect(r.frames.length).toBe(8);
    expect(r.frames.at(-1)!.last).toBe(true);
    expect(maxAbs(r.pcm, whole(SAMPLE_MEL, SAMPLE_FRAMES, 0.6, 7))).toBeLessThanOrEqual(1e-4);
    const stats = (r.end as { stats: { timeToFirstAudioMs: number; xRealTime: number; chunks: number; samples: number } }).stats;
    expect(stats.chunks).toBe(8);
    expect(stats.samples).toBe(SAMPLE_FRAMES * 256);
    expect(stats.timeToFirstAudioMs).toBeGreaterThan(0);
    expect(stats.xRealTime).toBeGreaterThan(0);
    await c.close();
  });

  it('serve --envelope N overrides the model\'s envelope matching: hello says so, and the stream equals the whole utterance after that filter', async () => {
    const s = await startServer({ modelDir: join(TMP, 'tiny'), port: 0, workers: 1, queue: 1, audioDir: join(TMP, 'audio'), clientDir: join(TMP, 'client'), envelopeIterations: 3 });
    try {
      const c = await StreamClient.connect(s.url, {});
      const h = await c.hello();
      expect(h.model.envelopeIterations).toBe(3);
      // Default chunks ≈ 2 × (context + the filter's margin: 3 · 768 samples → 9 frames) each side.
      expect(h.defaultChunkFrames).toBe(Math.max(16, Math.ceil((2 * (h.model.contextFrames + 9)) / 8) * 8));
      const plain = await connect();
      const hp = await plain.hello();
      expect(hp.model.contextFrames).toBe(h.model.contextFrames);
      expect(h.defaultChunkFrames).toBeGreaterThan(hp.defaultChunkFrames);
      await plain.close();
      expect(s.model.envelopeIterations).toBe(3);
      const r = await c.stream({ type: 'start', id: 1, source: { kind: 'sample', sampleId: 's1' }, seed: 7, sigma: 0.6, chunkFrames: 8 });
      expect(r.end.type).toBe('done');
      const flow = whole(SAMPLE_MEL, SAMPLE_FRAMES, 0.6, 7);
      const target = matchMelEnvelope(flow, { data: SAMPLE_MEL, frames: SAMPLE_FRAMES, nMels: nMel }, 3);
      expect(maxAbs(target, flow)).toBeGreaterThan(1e-3); // the filter changes the audio
      expect(maxAbs(r.pcm, target)).toBeLessThanOrEqual(1e-4);
      await c.close();
    } finally {
      await s.close();
    }
  });

  it('a model with a pitch predictor streams in order (each chunk continuing the last one\'s recursion) and equals whole synthesis', async () => {
    const cfg: WaveGlowConfig = { ...preset('cpu-small'), n_flows: 2, WN_config: { n_layers: 1, n_channels: 8, kernel_size: 3 }, predictor: { ...DEFAULT_PITCH_PREDICTOR, hidden: 16 } };
    const model = new WaveGlow(cfg, 5);
    randomizeCouplings(model, 3);
    // A gain far from 0 (a new predictor's is 0: it would pass the flow's output through unchanged).
    model.namedParameters().find(([n]) => n === 'predictor.net.gain.b')![1].assign(tf.tensor1d([1.2]));
    await saveModelDir(join(TMP, 'pitch'), model, { source: 'test: pitch predictor' });
    const s = await startServer({ modelDir: join(TMP, 'pitch'), port: 0, workers: 2, queue: 1, audioDir: join(TMP, 'audio'), clientDir: join(TMP, 'client'), envelopeIterations: 1 });
    try {
      const c = await StreamClient.connect(s.url, {});
      await c.hello();
      const r = await c.stream({ type: 'start', id: 1, source: { kind: 'sample', sampleId: 's1' }, seed: 7, sigma: 0.6, chunkFrames: 4 });
      expect(r.end.type).toBe('done');
      expect(r.frames.length).toBeGreaterThan(2);
      const [target, flowOnly] = tf.tidy(() => {
        const mel = tf.tensor3d(SAMPLE_MEL, [1, SAMPLE_FRAMES, nMel]);
        const x = model.synthesize(mel, { sigma: 0.6, seed: 7 });
        const e = model.flow.forward(model.drawLatent(1, SAMPLE_FRAMES * 256, 0.6, 7), model.conditioning(mel, SAMPLE_FRAMES * 256));
        return [x.dataSync() as Float32Array, e.dataSync() as Float32Array];
      });
      const melObj = { data: SAMPLE_MEL, frames: SAMPLE_FRAMES, nMels: nMel };
      expect(maxAbs(r.pcm, matchMelEnvelope(target, melObj, 1))).toBeLessThanOrEqual(1e-4);
      expect(maxAbs(r.pcm, matchMelEnvelope(flowOnly, melObj, 1))).toBeGreaterThan(1e-3); // the predictor ran
      await c.close();
    } finally {
      await s.close();
      model.dispose();
    }
  });

  it('an uploaded .npy (server-chosen growing chunks) and a WAV (copy-synthesis) equal whole synthesis', async () => {
    const c = await connect();
    await c.hello();
    const frames = 45;
    const mel = melData(frames, 3);
    const npy = writeNpy(mel, [frames, nMel]); // [T, n_mel] layout is accepted too
    const a = await c.stream({ type: 'start', id: 2, source: { kind: 'npy', bytes: npy.length }, seed: 11, sigma: 0.8 }, npy);
    expect(a.end.type).toBe('done');
    expect(a.frames.length).toBeGreaterThan(1);
    expect(maxAbs(a.pcm, whole(mel, frames, 0.8, 11))).toBeLessThanOrEqual(1e-4);

    const wav = toneWav(0.25);
    const b = await c.stream({ type: 'start', id: 3, source: { kind: 'wav', bytes: wav.length }, seed: 5, chunkFrames: 3 }, wav);
    expect(b.end.type).toBe('done');
    const m = logMelSpectrogram(decodeWav(wav, { targetRate: 22050 }).samples, TACOTRON_MEL);
    expect(maxAbs(b.pcm, whole(m.data, m.frames, 0.6, 5))).toBeLessThanOrEqual(1e-4);
    await c.close();
  });

  it('ping → pong; cancel stops a stream and frees its slot', async () => {
    const c = await connect();
    await c.hello();
    const from = c.messages.length;
    c.send({ type: 'ping', t: 123.5 });
    const pong = await c.next((m): m is Extract<ServerMessage, { type: 'pong' }> => m.type === 'pong', from);
    expect(pong.t).toBe(123.5);

    const frames = 400;
    const npy = writeNpy(melData(frames, 4), [nMel, frames]);
    const run = c.stream({ type: 'start', id: 9, source: { kind: 'npy', bytes: npy.length }, seed: 1, chunkFrames: 1 }, npy);
    await c.until(() => c.frames.some((f) => f.streamId === 9), 20_000, 'first frame');
    c.send({ type: 'cancel', id: 9 });
    const r = await run;
    expect(r.end).toEqual({ type: 'cancelled', id: 9, reason: 'client' });
    const got = c.frames.filter((f) => f.streamId === 9).length;
    await new Promise((ok) => setTimeout(ok, 300));
    expect(c.frames.filter((f) => f.streamId === 9).length).toBe(got); // nothing after cancelled
    expect(got).toBeLessThan(frames);
    expect(server.stats().cancelled).toBeGreaterThanOrEqual(1);
    // The same id is free again, and a cancel of an unknown stream is an error.
    const again = await c.stream({ type: 'start', id: 9, source: { kind: 'sample', sampleId: 's1' }, seed: 7 });
    expect(again.end.type).toBe('done');
    await expectError(c, () => c.send({ type: 'cancel', id: 77 }), 'unknown_stream');
    await c.close();
  });
});

describe('bad input gets a clear error, and another client keeps being served', () => {
  it('each malformed request gets its error code; the bystander stream completes and matches', async () => {
    const bystander = await connect();
    await bystander.hello();
    const frames = 60;
    const mel = melData(frames, 8);
    const npy = melToNpy({ data: mel, frames, nMels: nMel }); // [n_mel, T], as Python TTS writes it
    const running = bystander.stream({ type: 'start', id: 1, source: { kind: 'npy', bytes: npy.length }, seed: 3, chunkFrames: 3 }, npy);

    const c = await connect();
    await c.hello();
    await expectError(c, () => c.sendRaw('{not json'), 'bad_json');
    await expectError(c, () => c.send({ type: 'fly' }), 'unknown_type');
    await expectError(c, () => c.send({ type: 'start', id: 4 }), 'missing_field');
    await expectError(c, () => c.send({ type: 'start', id: 4, source: { kind: 'sample', sampleId: 's1' }, sigma: 'x' }), 'bad_field');
    await expectError(c, () => c.send({ type: 'start', id: 4, source: { kind: 'sample', sampleId: 'nope' } }), 'unknown_sample');
    const wrongShape = writeNpy(new Float32Array(30), [3, 10]);
    await expectError(c, () => { c.send({ type: 'start', id: 5, source: { kind: 'npy', bytes: wrongShape.length } }); c.sendRaw(wrongShape); }, 'bad_npy');
    const nan = melData(10, 1);
    nan[123] = NaN;
    const nanNpy = writeNpy(nan, [10, nMel]);
    const e = await expectError(c, () => { c.send({ type: 'start', id: 6, source: { kind: 'npy', bytes: nanNpy.length } }); c.sendRaw(nanNpy); }, 'bad_npy');
    expect(e.id).toBe(6);
    expect(e.message).toMatch(/NaN/);
    const inf = melData(10, 1);
    inf[5] = Infinity;
    const infNpy = writeNpy(inf, [10, nMel]);
    await expectError(c, () => { c.send({ type: 'start', id: 6, source: { kind: 'npy', bytes: infNpy.length } }); c.sendRaw(infNpy); }, 'bad_npy');
    const corrupt = toneWav(0.1).slice(0, 60);
    corrupt.set([0x64, 0x61, 0x74, 0x61, 0xff, 0xff, 0xff, 0x00], 36); // a "data" chunk that claims 16 MB
    await expectError(c, () => { c.send({ type: 'start', id: 7, source: { kind: 'wav', bytes: corrupt.length } }); c.sendRaw(corrupt); }, 'bad_wav');
    const junk = new TextEncoder().encode('RIFF????WAVEjunkjunk');
    await expectError(c, () => { c.send({ type: 'start', id: 7, source: { kind: 'wav', bytes: junk.length } }); c.sendRaw(junk); }, 'bad_wav');
    await expectError(c, () => c.sendRaw(new Uint8Array(10)), 'unexpected_binary');
    await expectError(c, () => { c.send({ type: 'start', id: 8, source: { kind: 'npy', bytes: 100 } }); c.sendRaw(new Uint8Array(99)); }, 'upload_mismatch');
    // Announced over the upload limit: refused, and the upload that follows is read and dropped.
    await expectError(c, () => { c.send({ type: 'start', id: 8, source: { kind: 'wav', bytes: 300_000 } }); c.sendRaw(new Uint8Array(1000)); }, 'too_large');
    // Too long a mel (maxFrames) for this server is refused at preparation.
    const long = writeNpy(new Float32Array(80 * 600), [nMel, 600]);
    await expectError(c, () => { c.send({ type: 'start', id: 8, source: { kind: 'npy', bytes: long.length } }); c.sendRaw(long); }, 'too_large');
    // Duplicate id and too many streams per connection (limit 2).
    const slow = writeNpy(melData(200, 2), [nMel, 200]);
    c.send({ type: 'start', id: 20, source: { kind: 'npy', bytes: slow.length }, chunkFrames: 1 });
    c.sendRaw(slow);
    await expectError(c, () => c.send({ type: 'start', id: 20, source: { kind: 'sample', sampleId: 's1' } }), 'duplicate_id');
    c.send({ type: 'start', id: 21, source: { kind: 'npy', bytes: slow.length }, chunkFrames: 1 });
    c.sendRaw(slow);
    await expectError(c, () => c.send({ type: 'start', id: 22, source: { kind: 'sample', sampleId: 's1' } }), 'too_many_streams');
    c.send({ type: 'cancel', id: 20 });
    c.send({ type: 'cancel', id: 21 });
    // A flood of pings: rate-limited, not all answered.
    await new Promise((ok) => setTimeout(ok, 1100)); // refill the bucket
    const from = c.messages.length;
    for (let i = 0; i < 100; i++) c.send({ type: 'ping', t: i });
    await c.next(isError, from);
    await new Promise((ok) => setTimeout(ok, 200));
    const answered = c.messages.slice(from).filter((m) => m.type === 'pong').length;
    expect(answered).toBeLessThan(100);
    expect(answered).toBeGreaterThanOrEqual(20);
    expect(c.messages.slice(from).some((m) => m.type === 'error' && m.code === 'rate_limited')).toBe(true);
    // Over maxPayload: the socket is closed with 1009 (only this client).
    c.sendRaw(new Uint8Array(300 * 1024));
    await c.until(() => c.closeCode !== null, 5000, 'close');
    expect(c.closeCode).toBe(1009);

    const r = await running;
    expect(r.end.type).toBe('done');
    expect(maxAbs(r.pcm, whole(mel, frames, 0.6, 3))).toBeLessThanOrEqual(1e-4);
    await bystander.close();
  });

  it('static files: content types, and path traversal gets 403/404', async () => {
    const get = (path: string) => new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path, method: 'GET' }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(await get('/')).toMatchObject({ status: 200, type: 'text/html; charset=utf-8' });
    expect(await get('/app.js')).toMatchObject({ status: 200, type: 'text/javascript; charset=utf-8' });
    expect(await get('/audio/s1.wav')).toMatchObject({ status: 200, type: 'audio/wav' });
    expect(await get('/audio/s1.npy')).toMatchObject({ status: 200, type: 'application/octet-stream' });
    expect(await get('/audio/index.json')).toMatchObject({ status: 200, type: 'application/json; charset=utf-8' });
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/audio/../secret.txt', '/audio/%2e%2e%2fsecret.txt', '/..%5csecret.txt', '/audio/..%2F..%2Fsecret.txt', '/%00', '/%zz', '/nope.js', '/audio/']) {
      const r = await get(p);
      expect([400, 403, 404], p).toContain(r.status);
      expect(r.body).not.toContain('do not serve');
    }
    const status = JSON.parse((await get('/api/status')).body) as { workers: number };
    expect(status.workers).toBe(2);
  });

  it('token and origin are enforced', async () => {
    await expect(StreamClient.connect(server.url, { token: 'wrong' })).rejects.toThrow(/401/);
    await expect(StreamClient.connect(server.url, { token: TOKEN, origin: 'http://evil.example' })).rejects.toThrow(/403/);
    const local = await StreamClient.connect(server.url, { token: TOKEN, origin: 'http://localhost:5173' });
    await local.hello();
    await local.close();
    // No token in the URL: the first message must be auth.
    const late = await StreamClient.connect(server.url, {});
    late.send({ type: 'auth', token: TOKEN });
    await late.hello();
    await late.close();
    const none = await StreamClient.connect(server.url, {});
    none.send({ type: 'ping', t: 1 });
    await none.until(() => none.closeCode !== null, 5000, 'close');
    expect(none.closeCode).toBe(1008);
    expect(none.messages).toEqual([expect.objectContaining({ type: 'error', code: 'unauthorized' })]);
    expect(none.messages.some((m) => m.type === 'hello')).toBe(false);
  });
});

describe('load and backpressure (cheap frames-mode model)', () => {
  it('8 concurrent clients, 2 workers + 1 queue place: each stream completes or gets busy; busy ones succeed on retry', async () => {
    const frames = 600;
    const npy = writeNpy(melData(frames, 9), [nMel, frames]);
    const t0 = performance.now();
    const clients = await Promise.all(Array.from({ length: 8 }, () => StreamClient.connect(cheap.url)));
    await Promise.all(clients.map((c) => c.hello()));
    const first = await Promise.all(clients.map((c, i) => c.stream({ type: 'start', id: i, source: { kind: 'npy', bytes: npy.length }, seed: i, chunkFrames: 50 }, npy)));
    const kinds = first.map((r) => r.end.type);
    expect(kinds.every((k) => k === 'done' || k === 'busy')).toBe(true);
    expect(kinds.filter((k) => k === 'done').length).toBeGreaterThanOrEqual(3);
    for (const r of first) {
      if (r.end.type === 'busy') expect(r.end.retryAfterMs).toBeGreaterThan(0);
      else expect(r.pcm.length).toBe(frames * 256);
    }
    // Retry the busy ones after the advised wait: all complete within the bound.
    await Promise.all(first.map(async (r, i) => {
      let end = r.end;
      for (let attempt = 0; end.type === 'busy' && attempt < 20; attempt++) {
        await new Promise((ok) => setTimeout(ok, Math.min((end as { retryAfterMs: number }).retryAfterMs, 1000)));
        const again = await clients[i]!.stream({ type: 'start', id: 100 + attempt, source: { kind: 'npy', bytes: npy.length }, seed: i, chunkFrames: 50 }, npy);
        end = again.end;
        if (end.type === 'done') expect(again.pcm.length).toBe(frames * 256);
      }
      expect(end.type).toBe('done');
    }));
    expect(performance.now() - t0).toBeLessThan(40_000);
    expect(cheap.stats()).toMatchObject({ active: 0, queued: 0, failed: 0 });
    await Promise.all(clients.map((c) => c.close()));
  });

  it('a client that stops reading pauses its stream; buffered bytes stay bounded; it resumes', async () => {
    const frames = 7000; // 7 MB of float32 audio: more than the loopback socket buffers hold (~4 MB)
    const npy = writeNpy(new Float32Array(frames * nMel).fill(-4), [nMel, frames]);
    const c = await StreamClient.connect(cheap.url);
    await c.hello();
    const sock = (c.ws as WebSocket & { _socket: import('node:net').Socket })._socket;
    const before = cheap.stats().maxBufferedSeen;
    const run = c.stream({ type: 'start', id: 1, source: { kind: 'npy', bytes: npy.length }, seed: 2, chunkFrames: 64 }, npy, 60_000);
    await c.until(() => c.messages.some((m) => m.type === 'accepted'), 20_000, 'accepted');
    sock.pause();
    await cheap_until(() => cheap.stats().paused > 0, 20_000);
    await new Promise((ok) => setTimeout(ok, 500));
    const s = cheap.stats();
    expect(s.paused).toBe(1);
    expect(s.completed).toBeGreaterThanOrEqual(0);
    // High-water mark 64 KiB, plus at most (workers + 2) chunks of 64 frames × 256 samples × 4 bytes in flight.
    expect(s.maxBufferedSeen).toBeGreaterThan(before);
    expect(s.maxBufferedSeen).toBeLessThanOrEqual(64 * 1024 + 4 * 64 * 256 * 4 + 1024);
    sock.resume();
    const r = await run;
    expect(r.end.type).toBe('done');
    expect(r.pcm.length).toBe(frames * 256);
    expect((r.end as { stats: { pauses: number } }).stats.pauses).toBeGreaterThanOrEqual(1);
    await c.close();
  });
});

async function cheap_until(pred: () => boolean, timeoutMs: number): Promise<void> {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > timeoutMs) throw new Error('timed out');
    await new Promise((ok) => setTimeout(ok, 20));
  }
}
