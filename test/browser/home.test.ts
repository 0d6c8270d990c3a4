import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, startWebServer } from '../../web/index.js';
import type { WebServer } from '../../web/index.js';
import { openTestServices } from '../helpers/services.js';
import type { TestServices } from '../helpers/services.js';
import { launchChromium } from '../helpers/browser.js';
import type { TestBrowser } from '../helpers/browser.js';

/** `/` in a real browser: a page that says what is there, under the strict CSP, not a JSON 404. */
describe('the page at /', () => {
  let s: TestServices;
  let web: WebServer;
  let chromium: TestBrowser;
  beforeAll(async () => {
    s = await openTestServices('pglite');
    web = await startWebServer(createApp(s), { host: '127.0.0.1', port: 0 });
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
    await web?.close();
    await s?.close();
  });

  it('tells a browser what this server is and where its parts are, with nothing blocked by the CSP', async () => {
    const page = await chromium.browser.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    const res = await page.goto(web.url + '/');
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-type']).toMatch(/^text\/html/);
    expect(await page.title()).toBe('airlock');
    await expect(page.getByRole('heading', { level: 1, name: 'airlock' }).count()).resolves.toBe(1);
    expect(await page.getByRole('link', { name: '/readyz' }).getAttribute('href')).toBe('/readyz');
    // The inline style applied (allowed by its hash), so the page is not the browser's default.
    const maxWidth = await page.evaluate('getComputedStyle(document.body).maxWidth');
    expect(maxWidth).not.toBe('none');
    expect(violations).toEqual([]);
    await page.getByRole('link', { name: '/readyz' }).click();
    expect(JSON.parse(await page.locator('body').innerText())).toEqual({ status: 'ready' });
    await page.close();
  });
});
