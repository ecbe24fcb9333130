/**
 * `flowvox play` against a running `flowvox serve` (tiny random-weight model): --out writes exactly
 * the whole-utterance synthesis (WAV upload and mel upload), and failures read clearly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { logMelSpectrogram, type MelSpectrogram } from '../src/dsp/mel.js';
import { melToNpy } from '../src/dsp/npy.js';
import { loadModelDir, saveModelDir } from '../src/io/model-dir.js';
import { decodeWav, encodeWav } from '../src/io/wav.js';
import { preset } from '../src/vocoder/presets.js';
import { WaveGlow } from '../src/vocoder/waveglow.js';
import { startServer } from './helpers/serve.js';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'bin/flowvox.mjs');
const ENV = { ...process.env, FLOWVOX_BACKEND: process.env.FLOWVOX_BACKEND ?? 'wasm' };

function chirp(sr = 22050, seconds = 1.3): Float32Array {
  const x = new Float32Array(Math.round(sr * seconds));
  for (let i = 0; i < x.length; i++) {
    const t = i / sr;
    x[i] = 0.3 * Math.sin(2 * Math.PI * (200 * t + 300 * t * t)) * Math.min(1, 8 * t, 8 * (seconds - t));
  }
  return x;
}


function play(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'play', ...args], { cwd: ROOT, env: ENV, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Largest difference between a 16-bit WAV and the clipped reference (≤ half an LSB plus float noise when equal). */
function wavError(wav: Uint8Array, ref: Float32Array): number {
  const got = decodeWav(wav).samples;
  expect(got.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - Math.max(-1, Math.min(1 - 1 / 32768, ref[i]!))));
  return worst;
}

describe('flowvox play', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flowvox-play-'));
  const modelDir = join(tmp, 'model');
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  let model: WaveGlow;
  let mel: MelSpectrogram;
  const wavPath = join(tmp, 'in.wav');
  const melPath = join(tmp, 'in.npy');

  beforeAll(async () => {
    await initBackend(process.env.FLOWVOX_BACKEND ?? 'wasm');
    await saveModelDir(modelDir, new WaveGlow(preset('tiny'), 5), { source: 'preset tiny (random weights, play test)' });
    writeFileSync(wavPath, encodeWav(chirp(), 22050, { bitDepth: '16' }));
    const loaded = await loadModelDir(modelDir);
    model = loaded.model;
    mel = logMelSpectrogram(decodeWav(readFileSync(wavPath), { targetRate: 22050 }).samples, loaded.config.mel);
    writeFileSync(melPath, melToNpy(mel));
    server = await startServer(modelDir);
  });

  afterAll(() => {
    server?.child.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  });

  const reference = (sigma: number, seed: number) =>
    tf.tidy(() => model.synthesize(tf.tensor3d(mel.data, [1, mel.frames, mel.nMels]), { sigma, seed }).dataSync() as Float32Array);

  it('--out writes the whole-utterance synthesis (WAV upload, several chunks)', async () => {
    const out = join(tmp, 'a.wav');
    const r = await play(['--url', server!.url, '--wav', wavPath, '--sigma', '0.7', '--seed', '11', '--chunk-frames', '16', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { samples: number; sampleRate: number; chunks: number; timeToFirstAudioMs: number; xRealTime: number; seed: number };
    expect(j.seed).toBe(11);
    expect(j.sampleRate).toBe(22050);
    expect(j.chunks).toBeGreaterThan(1);
    expect(j.timeToFirstAudioMs).toBeGreaterThan(0);
    expect(j.xRealTime).toBeGreaterThan(0);
    const ref = reference(0.7, 11);
    expect(j.samples).toBe(ref.length);
    expect(wavError(readFileSync(out), ref)).toBeLessThanOrEqual(1 / 32768 + 1e-4);
  });

  it('--mel uploads a mel .npy and gets the same audio as from the WAV', async () => {
    const out = join(tmp, 'b.wav');
    const r = await play(['--url', server!.url.replace(/^http/, 'ws'), '--mel', melPath, '--sigma', '0.7', '--seed', '11', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(wavError(readFileSync(out), reference(0.7, 11))).toBeLessThanOrEqual(1 / 32768 + 1e-4);
  });

  it('plays gaplessly (a null sink where there is no sound card) and still reports the stream', async () => {
    // The tiny test model streams slower than real time on a loaded 2-core CI machine; a pre-buffer of
    // the whole clip keeps this a test of the playback path, not of the machine's speed.
    const r = await play(['--url', server!.url, '--wav', wavPath, '--seed', '3', '--chunk-frames', '24', '--prebuffer', '30', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { samples: number; played: number; underruns: number; audioDevice: boolean };
    expect(j.played).toBe(j.samples);
    expect(j.underruns).toBe(0);
    if (!j.audioDevice) expect(r.stderr).toContain('no audio output device');
  });

  it('reports a server error clearly (corrupt upload)', async () => {
    const bad = join(tmp, 'bad.wav');
    writeFileSync(bad, new TextEncoder().encode('RIFF....WAVEnot really a wav file'));
    const r = await play(['--url', server!.url, '--wav', bad, '--out', join(tmp, 'c.wav')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/flowvox play: server error \(bad_wav\)/);
  });

  it('says "connection refused" when no server listens', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const r = await play(['--url', `ws://127.0.0.1:${port}`, '--sample', 'x', '--out', join(tmp, 'd.wav')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot connect to ws://127.0.0.1:${port}/ws: connection refused`);
  });
});
