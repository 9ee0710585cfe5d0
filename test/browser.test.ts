// @dialect capy
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { suiteStack } from './helpers.js';

// Debian's chromium (`.ci/run` installs it); playwright-core drives it, no browser download.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('in a real headless Chromium', () => {
  const s = suiteStack({ emulator: { frameDelayMs: 40 } });
  let browser: Browser;
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium (as .ci/run does)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  });
  after(async () => {
    await browser?.close();
  });

  test('the playground streams an answer for a pasted token into the page', async () => {
    const page = await browser.newPage();
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(s.baseUrl)) external.push(r.url());
    });
    await page.goto(`${s.baseUrl}/`);
    await page.fill('#token', s.token);
    await page.dispatchEvent('#token', 'change');
    await page.waitForFunction("document.getElementById('model').options.length > 1");
    await page.fill('#prompt', 'Hello from the browser #search');
    // Count how often the answer grows: streamed, it grows several times before it is done.
    // (Strings run in the page: this project's types have no DOM.)
    await page.evaluate("window.grew = 0; new MutationObserver(() => window.grew++).observe(document.getElementById('answer'), { childList: true, characterData: true, subtree: true })");
    await page.click('#send');
    await page.waitForFunction("document.getElementById('status').textContent === 'done'", undefined, { timeout: 20_000 });
    const answer = await page.textContent('#answer');
    const upstream = s.emu.messages.find((m) => m.text.includes('Hello from the browser'));
    assert.ok(upstream, 'the message reached the emulator');
    // The emulator answers the same text the same way: what the SDK gets is what the page must show.
    const viaApi = await s.client().chat.completions.create({ model: (await page.inputValue('#model')), use_search: false, messages: [{ role: 'user', content: 'Hello from the browser #search' }] } as never);
    const expected = (viaApi as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content;
    assert.equal(answer, expected.slice(0, expected.lastIndexOf('\n\nSources:\n')));
    assert.ok(((await page.evaluate('window.grew')) as number) > 2, 'the answer appeared piece by piece');
    assert.ok((await page.$$eval('#sources li a', (links) => links.length)) > 0, 'the web sources are listed');
    assert.deepEqual(external, [], 'no external assets');
    await page.close();
  });

  test('/docs renders the API reference with every operation', async () => {
    const page = await browser.newPage();
    await page.goto(`${s.baseUrl}/docs`);
    await page.waitForSelector('.swagger-ui .info .title', { timeout: 20_000 });
    assert.match((await page.textContent('.swagger-ui .info .title')) ?? '', /step-gateway/);
    const ops = await page.$$eval('.opblock-summary-path', (els) => els.map((e) => e.textContent));
    assert.ok(ops.includes('/v1/chat/completions'), JSON.stringify(ops));
    await page.close();
  });
});
