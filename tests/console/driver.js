// Drives pages of Debian's headless Chromium for tests/integration/test_console.py.
//
// Protocol: one JSON command per stdin line, one JSON answer per stdout line
// ({"ok": true, ...} or {"ok": false, "error": "..."}), in order. Commands:
//   {"cmd": "open", "page": P, "url": U}            new page P at U
//   {"cmd": "wait", "page": P, "selector": S, "text": RE, "ms": MS}
//        until the first element matching S has text matching RE (or just exists)
//   {"cmd": "fill", "page": P, "selector": S, "value": V}
//   {"cmd": "select", "page": P, "selector": S, "value": V}
//   {"cmd": "click", "page": P, "selector": S}
//   {"cmd": "texts", "page": P, "selector": S}      -> {"texts": [...]} of every match
//   {"cmd": "attr", "page": P, "selector": S, "name": N}  -> {"value": ...} of the first
//   {"cmd": "url", "page": P}                        -> {"url": ...}
//   {"cmd": "console", "page": P}                    -> {"messages": [...]} page errors, CSP reports
//   {"cmd": "screenshot", "page": P, "path": F}
//   {"cmd": "quit"}
// The browser runs with a fresh profile directory and no network other than
// what the pages ask for.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.TENBUS_CHROMIUM || '/usr/bin/chromium';

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tenbus-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const pages = {};
  const messages = {};

  function page(name) {
    const p = pages[name];
    if (!p) throw new Error('no page ' + name);
    return p;
  }

  const handlers = {
    async open(c) {
      const p = await browser.newPage();
      messages[c.page] = [];
      p.on('console', (m) => messages[c.page].push(m.type() + ': ' + m.text()));
      p.on('pageerror', (e) => messages[c.page].push('pageerror: ' + e.message));
      pages[c.page] = p;
      await p.goto(c.url);
      return {};
    },
    async wait(c) {
      const re = c.text ? new RegExp(c.text) : null;
      await page(c.page).waitForFunction(([sel, src]) => {
        const el = document.querySelector(sel);
        if (!el) return false;
        return src === null || new RegExp(src).test(el.textContent);
      }, [c.selector, re ? re.source : null], { timeout: c.ms || 10000 });
      return { text: await page(c.page).textContent(c.selector) };
    },
    async fill(c) { await page(c.page).fill(c.selector, c.value); return {}; },
    async select(c) { await page(c.page).selectOption(c.selector, c.value); return {}; },
    async click(c) { await page(c.page).click(c.selector); return {}; },
    async texts(c) {
      return { texts: await page(c.page).$$eval(c.selector, (els) => els.map((e) => e.textContent)) };
    },
    async attr(c) { return { value: await page(c.page).getAttribute(c.selector, c.name) }; },
    async url(c) { return { url: page(c.page).url() }; },
    async console(c) { return { messages: messages[c.page] || [] }; },
    async screenshot(c) { await page(c.page).screenshot({ path: c.path, fullPage: true }); return {}; },
  };

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let c;
    try {
      c = JSON.parse(line);
    } catch (e) {
      process.stdout.write(JSON.stringify({ ok: false, error: 'bad command: ' + e.message }) + '\n');
      continue;
    }
    if (c.cmd === 'quit') break;
    try {
      const h = handlers[c.cmd];
      if (!h) throw new Error('unknown command ' + c.cmd);
      const r = await h(c);
      process.stdout.write(JSON.stringify(Object.assign({ ok: true }, r)) + '\n');
    } catch (e) {
      process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message || e) }) + '\n');
    }
  }
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ ok: true, bye: true }) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
