/**
 * Debian's Chromium, headless, for the end-to-end tests (a test tool must never download a browser),
 * and the tiny random-weight model those tests serve.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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

/** A persistent context in a fresh profile dir, 1280×800 at scale 1 (for screenshots); `logFile` keeps Chromium's own log. */
export async function launchChromium(profile: string, opts: { args?: string[]; acceptDownloads?: boolean; logFile?: string } = {}): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  const logging = opts.logFile ? ['--enable-logging', `--log-file=${opts.logFile}`] : [];
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    deviceScaleFactor: 1,
    acceptDownloads: opts.acceptDownloads ?? false,
    args: [...FLAGS, ...logging, ...(opts.args ?? [])],
  });
}

const CRASHED = /(Page|Target) crashed/;

/**
 * Runs `body` in a fresh Chromium. A renderer crash is not a verdict on the page by itself: CI once saw
 * Chromium's renderer die within a second of the first navigation in both browser tests, on unchanged
 * code that passes here. So a crash prints Chromium's log and runs `body` again in a fresh profile; if
 * it crashes again, a blank page decides: if Chromium cannot render even that, this machine's Chromium
 * is as good as absent (skipped, saying so loudly); if it can, our page crashes it and the test fails.
 */
export async function inChromium(
  test: { skip: (note?: string) => never },
  profileRoot: string,
  opts: { args?: string[]; acceptDownloads?: boolean },
  body: (browser: BrowserContext) => Promise<void>,
): Promise<void> {
  let crash: unknown = null;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const logFile = join(profileRoot, `chromium-${attempt}.log`);
    const browser = await launchChromium(join(profileRoot, `profile-${attempt}`), { ...opts, logFile });
    try {
      await body(browser);
      return;
    } catch (e) {
      if (!CRASHED.test(String(e))) throw e;
      crash = e;
    } finally {
      await browser.close().catch(() => undefined);
    }
    // Only a crash gets here; the log is complete once the browser has closed.
    console.warn(`Chromium crashed (try ${attempt} of 2): ${String(crash).split('\n')[0]}\nChromium's log (last 40 lines, without D-Bus):\n${logTail(logFile, 40)}`);
  }
  if (!(await rendersBlankPage(join(profileRoot, 'profile-blank'), opts.args))) {
    const note = 'this machine\'s Chromium crashes on a blank page too: the browser test cannot run here';
    console.warn(`SKIPPED: ${note}`);
    test.skip(note);
  }
  throw crash;
}

/** The end of Chromium's log, without the D-Bus complaints of a machine that has no D-Bus. */
function logTail(file: string, lines: number): string {
  if (!existsSync(file)) return '(no log)';
  const kept = readFileSync(file, 'utf8').split('\n').filter((l) => l && !/dbus|D-Bus/i.test(l));
  return kept.length > 0 ? kept.slice(-lines).join('\n') : '(nothing but D-Bus complaints)';
}

/** Whether Chromium (with the test's extra flags) loads a blank page and runs a line of script in it. */
async function rendersBlankPage(profile: string, args?: string[]): Promise<boolean> {
  const browser = await launchChromium(profile, { args });
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto('data:text/html,<title>blank</title><script>document.title = String(6 * 7)</script>');
    return (await page.title()) === '42';
  } catch {
    return false;
  } finally {
    await browser.close().catch(() => undefined);
  }
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
