/**
 * The browser tests' crash handling (helpers/browser.ts inChromium) must not hide a page that crashes
 * Chromium: one crash is retried in a fresh profile, a second one fails the test while Chromium can
 * still render a blank page. The DevTools protocol's Page.crash kills the renderer on purpose.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { haveChromium, inChromium } from './helpers/browser.js';

const HAVE_CHROMIUM = haveChromium('e2e.crash-retry');

/** Crashes the page's renderer, then navigates in it (which then fails with "Page crashed"). */
async function crashThenNavigate(browser: BrowserContext): Promise<void> {
  const page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto('data:text/html,<title>before</title>');
  const crashed = page.waitForEvent('crash', { timeout: 10_000 });
  const cdp = await browser.newCDPSession(page);
  void cdp.send('Page.crash').catch(() => undefined); // never answered: the renderer dies first
  await crashed;
  await page.goto('data:text/html,<title>after</title>');
}

describe.skipIf(!HAVE_CHROMIUM)('browser tests survive one renderer crash, not two', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flowvox-e2e-crash-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('a crash on the first try is retried in a fresh profile and the second try counts', async (ctx) => {
    let tries = 0;
    await inChromium(ctx, join(tmp, 'once'), {}, async (browser) => {
      tries++;
      if (tries === 1) await crashThenNavigate(browser);
      const page = browser.pages()[0] ?? (await browser.newPage());
      await page.goto('data:text/html,<title>ok</title>');
      expect(await page.title()).toBe('ok');
    });
    expect(tries).toBe(2);
  });

  it('a page that crashes Chromium every time fails the test', async (ctx) => {
    let tries = 0;
    const run = inChromium(ctx, join(tmp, 'always'), {}, async (browser) => {
      tries++;
      await crashThenNavigate(browser);
    });
    await expect(run).rejects.toThrow(/crashed/);
    expect(tries).toBe(2);
  });

  it('an ordinary failure is not retried', async (ctx) => {
    let tries = 0;
    const run = inChromium(ctx, join(tmp, 'plain'), {}, async () => {
      tries++;
      throw new Error('an assertion failed');
    });
    await expect(run).rejects.toThrow('an assertion failed');
    expect(tries).toBe(1);
  });
});
