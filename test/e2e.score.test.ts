/**
 * "Listen for anomalies" end to end through a real headless Chromium and `flowvox serve` (tiny
 * random-weight model): a WAV chosen in the scoring view is decoded by the page, streamed, and the
 * scores the page shows are exactly those the server sent, which equal scoreAudio on the file; the
 * microphone path streams Chromium's fake device (resampled on the server); a denied microphone
 * gets a clear message. Skipped (saying why) only where /usr/bin/chromium is absent or cannot render a
 * blank page (helpers/browser.ts inChromium).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreAudio } from '../src/anomaly/scorer.js';
import { initBackend } from '../src/backend/index.js';
import { loadModelDir } from '../src/io/model-dir.js';
import { decodeWav, encodeWav } from '../src/io/wav.js';
import type { ScoreMessage } from '../src/stream/protocol.js';
import { haveChromium, inChromium, prepareTinyServe, watchProblems } from './helpers/browser.js';
import { startServer } from './helpers/serve.js';

const HAVE_CHROMIUM = haveChromium('e2e.score');

const ROOT = new URL('..', import.meta.url).pathname;

function testSignal(sr = 22050, seconds = 1.8): Float32Array {
  let seed = 99;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
  return Float32Array.from({ length: Math.round(sr * seconds) }, (_, i) => {
    const t = i / sr;
    return t > 0.9 && t < 1.1 ? 0.5 * rand() : 0.3 * Math.sin(2 * Math.PI * 160 * t) * Math.sin(Math.PI * 2 * t) ** 2;
  });
}


describe.skipIf(!HAVE_CHROMIUM)('anomaly listening view, end to end (headless Chromium)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flowvox-e2e-score-'));
  const modelDir = join(tmp, 'tiny-random');
  const wavPath = join(tmp, 'clip.wav');
  let server: Awaited<ReturnType<typeof startServer>> | null = null;

  beforeAll(async () => {
    await initBackend(process.env.FLOWVOX_BACKEND ?? 'wasm');
    await prepareTinyServe(modelDir, 5);
    writeFileSync(wavPath, encodeWav(testSignal(), 22050, { bitDepth: '16' }));
    server = await startServer(modelDir, ['--workers', '1']);
  });

  afterAll(() => {
    server?.child.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  });

  it('scores a chosen file live (equal to the server\'s messages and to scoreAudio), the microphone, and says when the mic is denied', async (ctx) => {
    await inChromium(ctx, tmp, { args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'] }, async (browser) => {
      const problems: string[] = [];
      const page = browser.pages()[0] ?? (await browser.newPage());
      watchProblems(page, problems);
      // What the server sent, straight off the socket.
      const sent: ScoreMessage[] = [];
      page.on('websocket', (ws) => ws.on('framereceived', (f) => {
        if (typeof f.payload !== 'string') return;
        const m = JSON.parse(f.payload) as { type: string };
        if (m.type === 'score') sent.push(m as ScoreMessage);
      }));
      await page.goto(server!.url);
      await page.waitForFunction(() => window.__flowvox?.connected === true, null, { timeout: 20_000 });
      await page.click('#tab-score');
      expect(await page.locator('#view-score').isVisible()).toBe(true);
      expect(await page.locator('#view-synth').isVisible()).toBe(false);

      // A file, chosen like a person would.
      await page.setInputFiles('#score-file', wavPath);
      await page.waitForFunction(() => window.__flowvox.scoring.done || window.__flowvox.scoring.error !== null, null, { timeout: 40_000 });
      const file = await page.evaluate(() => window.__flowvox.scoring);
      expect(file.error).toBeNull();
      expect(file.source).toBe('file');
      expect(file.scoreName).toBe('lr');
      expect(file.threshold).toBeNull();
      const fromServer = sent.filter((m) => m.id === sent[0]!.id);
      expect(file.segments.length).toBe(fromServer.length);
      expect(file.segments.map((s) => [s.index, s.start, s.end, s.score, s.flagged])).toEqual(fromServer.map((m) => [m.index, m.start, m.end, m.score, m.flagged]));
      // …and they are the file's whole-signal scores (the page decodes at the model's rate, so no
      // resampling; Chromium's 16-bit → float decoding differs from ours by ~1 LSB: measured ≈ 4e-5).
      const { model, config } = await loadModelDir(modelDir);
      const want = scoreAudio(model, config.mel, decodeWav(readFileSync(wavPath)).samples);
      model.dispose();
      expect(file.segments.length).toBe(want.length);
      let worst = 0;
      file.segments.forEach((s, i) => (worst = Math.max(worst, Math.abs(s.score - want[i]!.lr))));
      expect(worst).toBeLessThan(1e-3);
      expect(await page.locator('#score-message').textContent()).toMatch(/Done: \d+ segments/);
      await page.screenshot({ path: join(ROOT, 'docs/anomaly-view.png') });

      // The microphone (Chromium's fake device), stopped after a few scores.
      await page.click('#score-mic');
      await page.waitForFunction(() => window.__flowvox.scoring.source === 'mic' && (window.__flowvox.scoring.segments.length >= 3 || window.__flowvox.scoring.error !== null), null, { timeout: 30_000 });
      await page.click('#score-stop');
      await page.waitForFunction(() => window.__flowvox.scoring.done || window.__flowvox.scoring.error !== null, null, { timeout: 20_000 });
      const mic = await page.evaluate(() => window.__flowvox.scoring);
      expect(mic.error).toBeNull();
      expect(mic.segments.length).toBeGreaterThanOrEqual(3);
      expect(mic.segments.every((s) => Number.isFinite(s.score))).toBe(true);
      expect(await page.locator('#score-info').textContent()).toMatch(/Hz → 22050 Hz|segments every/);

      // A denied microphone: a clear message, no stream.
      const denied = await browser.newPage();
      await denied.addInitScript(() => {
        navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
      });
      await denied.goto(`${server!.url}#anomalies`);
      await denied.waitForFunction(() => window.__flowvox?.connected === true, null, { timeout: 20_000 });
      await denied.click('#score-mic');
      await denied.waitForFunction(() => window.__flowvox.scoring.error !== null, null, { timeout: 10_000 });
      expect(await denied.locator('#score-message').textContent()).toMatch(/Microphone access was denied/);
      expect(await denied.evaluate(() => window.__flowvox.scoring.phase)).toBe('error');
      expect(problems).toEqual([]);
    });
  });
});
