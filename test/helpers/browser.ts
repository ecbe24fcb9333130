/**
 * Debian's Chromium, headless, for the end-to-end tests (a test tool must never download a browser),
 * and the tiny random-weight model those tests serve.
 */
import { existsSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { ensureClientBuilt } from '../../src/cli/build-client.js';
import { saveModelDir } from '../../src/io/model-dir.js';
import { preset } from '../../src/vocoder/presets.js';
import { WaveGlow } from '../../src/vocoder/waveglow.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Whether the suite can run; says why not (for describe.skipIf(!…)). */
export function haveChromium(suite: string): boolean {
  const ok = existsSync(CHROMIUM);
  if (!ok) console.warn(`${suite}: skipped, ${CHROMIUM} is absent (CI installs Debian's chromium; playwright must not download one)`);
  return ok;
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'];

/** A persistent context in a fresh profile dir, 1280×800 at scale 1 (for screenshots). */
export async function launchChromium(profile: string, opts: { args?: string[]; acceptDownloads?: boolean } = {}): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    deviceScaleFactor: 1,
    acceptDownloads: opts.acceptDownloads ?? false,
    args: [...FLAGS, ...(opts.args ?? [])],
  });
}

/** The page's uncaught errors and console errors, collected as they happen (a test expects none). */
export function watchProblems(page: Page, into: string[] = []): string[] {
  page.on('pageerror', (e) => into.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') into.push(`console: ${m.text()}`);
  });
  return into;
}

/** Saves a tiny-preset model with random weights to `dir` and builds the served client. */
export async function prepareTinyServe(dir: string, seed: number): Promise<void> {
  const model = new WaveGlow(preset('tiny'), seed);
  await saveModelDir(dir, model, { source: 'preset tiny (random weights, e2e test)' });
  model.dispose();
  await ensureClientBuilt();
}
