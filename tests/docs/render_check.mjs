// Renders the HTML reference written by `tenbus docs` in headless Chromium
// (Debian's /usr/bin/chromium driven by playwright-core; no browser is ever
// downloaded) and reports what a reader sees, as one JSON object on stdout:
//   node render_check.mjs INDEX_URL SERVICE EVENT [SCREENSHOT.png]
// (SCREENSHOT: the event's section as PNG.)
// {"services": [{"text", "href"}], "page": {"url", "title", "routingKey",
//  "who", "level", "acl", "payloadFields": [...], "example"}, "requests": [urls]}
// The page is reached by clicking the service's link on the index, as a
// reader would; `requests` lists every URL the browser asked for (the
// reference must need nothing but its own files).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [indexUrl, service, event, screenshot] = process.argv.slice(2);
if (!indexUrl || !service || !event) {
  console.error('usage: node render_check.mjs INDEX_URL SERVICE EVENT [SCREENSHOT.png]');
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), 'tenbus-docs-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1100, height: 900 },
});
try {
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  await page.goto(indexUrl);
  const services = await page.$$eval('a.service', (as) =>
    as.map((a) => ({ text: a.textContent, href: a.getAttribute('href') })));
  await Promise.all([page.waitForNavigation(), page.click(`a.service:text-is("${service}")`)]);
  const section = page.locator(`section.event[id="${event}"]`);
  const info = {
    url: page.url(),
    title: await page.title(),
    routingKey: await section.locator('code.routing-key').textContent(),
    who: await section.locator('td.who').textContent(),
    level: await section.locator('.level').textContent(),
    acl: await section.locator('code.acl').textContent(),
    payloadFields: await section.locator('table.payload tr td:first-child').allTextContents(),
    headers: await section.locator('table.headers tr td:first-child').allTextContents(),
    example: await section.locator('pre.example').textContent(),
    visible: await section.locator('code.routing-key').isVisible(),
  };
  if (screenshot)
    await section.screenshot({ path: screenshot });
  console.log(JSON.stringify({ services, page: info, requests }));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
