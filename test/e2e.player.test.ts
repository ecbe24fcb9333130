/**
 * End to end through a real headless Chromium: `flowvox serve` with a tiny random-weight model, the
 * page uploads a WAV through its file input like a person, streams, plays through the AudioWorklet,
 * and the WAV it offers for download equals the server's whole-utterance synthesis. Writes
 * docs/player.png. Skipped (saying why) only where /usr/bin/chromium is absent or cannot render a
 * blank page (helpers/browser.ts inChromium).
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { logMelSpectrogram } from '../src/dsp/mel.js';
import { loadModelDir } from '../src/io/model-dir.js';
import { decodeWav, encodeWav } from '../src/io/wav.js';
import { haveChromium, inChromium, prepareTinyServe, watchProblems } from './helpers/browser.js';
import { startServer } from './helpers/serve.js';

const HAVE_CHROMIUM = haveChromium('e2e.player');

const ROOT = new URL('..', import.meta.url).pathname;
const SIGMA = 0.5;

/** A 1.6 s voiced test signal (harmonics of a gliding f0, syllable envelope, a little noise). */
function testSignal(sr = 22050, seconds = 1.6): Float32Array {
  const n = Math.round(sr * seconds);
  const x = new Float32Array(n);
  let ph = 0;
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
  for (let i = 0; i < n; i++) {
    const t = i / sr;
    ph += (2 * Math.PI * (140 + 30 * Math.sin(2 * Math.PI * 1.3 * t))) / sr;
    const env = Math.max(0, Math.sin(Math.PI * 3 * t)) ** 0.6;
    let v = 0;
    for (let h = 1; h <= 12; h++) v += Math.sin(h * ph) / h;
    x[i] = 0.25 * env * v + 0.003 * rand();
  }
  return x;
}


describe.skipIf(!HAVE_CHROMIUM)('browser player, end to end (headless Chromium)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flowvox-e2e-'));
  const modelDir = join(tmp, 'tiny-random');
  const wavPath = join(tmp, 'voice.wav');
  let server: Awaited<ReturnType<typeof startServer>> | null = null;

  beforeAll(async () => {
    await initBackend(process.env.FLOWVOX_BACKEND ?? 'wasm');
    await prepareTinyServe(modelDir, 3);
    writeFileSync(wavPath, encodeWav(testSignal(), 22050, { bitDepth: '16' }));
    server = await startServer(modelDir);
  });

  afterAll(() => {
    server?.child.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  });

  it('uploads a WAV, plays it gaplessly, and downloads the whole-utterance synthesis', async (ctx) => {
    await inChromium(ctx, tmp, { acceptDownloads: true }, async (browser) => {
      const problems: string[] = [];
      const page = browser.pages()[0] ?? (await browser.newPage());
      watchProblems(page, problems);
      await page.goto(server!.url);
      await page.waitForFunction(() => window.__flowvox?.connected === true, null, { timeout: 20_000 });

      // Like a person: choose the file, set sigma, press Play.
      await page.setInputFiles('#file', wavPath);
      await page.locator('#drop.selected').waitFor({ timeout: 5_000 });
      await page.locator('#sigma').fill(String(SIGMA));
      expect(await page.locator('#sigma-out').textContent()).toBe(SIGMA.toFixed(2));
      // A timeline of arrivals and playback, printed if playback stuttered (to tune BufferPlan).
      await page.evaluate(() => {
        const w = window as unknown as { timeline: string[] };
        w.timeline = [];
        const t0 = performance.now();
        setInterval(() => {
          const f = window.__flowvox;
          w.timeline.push(`${(performance.now() - t0).toFixed(0)} ms: received ${f.received}, played ${f.played}, underruns ${f.underruns}, chunks ${f.chunks}`);
        }, 50);
      });
      await page.click('#play');
      await page.waitForFunction(() => window.__flowvox.received > 0 && window.__flowvox.played > 0, null, { timeout: 30_000 });
      await page.waitForFunction(() => window.__flowvox.done || window.__flowvox.error !== null, null, { timeout: 40_000 });
      const state = await page.evaluate(() => {
        const f = window.__flowvox;
        return { player: f.player, error: f.error, received: f.received, total: f.totalSamples, played: f.played, underruns: f.underruns, chunks: f.chunks, seed: f.seed, stats: f.stats, contextRate: f.contextRate, sampleRate: f.sampleRate };
      });
      if (state.underruns > 0) console.log((await page.evaluate(() => (window as unknown as { timeline: string[] }).timeline)).join('\n'), JSON.stringify(state.stats));
      expect(state.error).toBeNull();
      expect(state.player).toBe('worklet');
      expect(state.total).toBeGreaterThan(0);
      expect(state.received).toBe(state.total);
      expect(state.chunks).toBeGreaterThan(1); // several chunks, so the seams are tested too
      expect(state.played).toBe(state.total);
      expect(state.underruns).toBe(0);
      expect(state.stats.timeToFirstAudioMs).toBeGreaterThan(0);
      expect(state.seed).not.toBeNull();
      await page.waitForTimeout(400); // let the buttons' and meter's CSS transitions settle
      await page.screenshot({ path: join(ROOT, 'docs/player.png') });

      // Download through the button, as a person would.
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
      const downloaded = new Uint8Array(readFileSync((await download.path())!));
      const viaHook = Buffer.from(await page.evaluate(() => window.__flowvox.wavBase64()), 'base64');
      expect(Buffer.from(downloaded).equals(viaHook)).toBe(true);
      const got = decodeWav(downloaded);
      expect(got.sampleRate).toBe(state.sampleRate);
      expect(got.samples.length).toBe(state.total);

      // The server's whole-utterance synthesis of the same mel, σ and seed.
      const { model, config } = await loadModelDir(modelDir);
      const audio = decodeWav(readFileSync(wavPath), { targetRate: config.mel.sampleRate }).samples;
      const mel = logMelSpectrogram(audio, config.mel);
      const ref = tf.tidy(() => model.synthesize(tf.tensor3d(mel.data, [1, mel.frames, mel.nMels]), { sigma: SIGMA, seed: state.seed! }).dataSync() as Float32Array);
      expect(ref.length).toBe(state.total);
      let worst = 0;
      for (let i = 0; i < ref.length; i++) {
        const want = Math.max(-1, Math.min(1 - 1 / 32768, ref[i]!));
        worst = Math.max(worst, Math.abs(got.samples[i]! - want));
      }
      expect(worst).toBeLessThanOrEqual(1 / 32768 + 1e-4);
      expect(problems).toEqual([]);
    });
  });
});

// Keep the screenshot's folder even in a fresh checkout.
mkdirSync(join(ROOT, 'docs'), { recursive: true });
