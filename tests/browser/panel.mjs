// The signed-in person's own pages, as a browser shows them from the real
// gateway: the access panel, security info and the owners' page (issue 17).
// A session made by the test (its cookies) is put into headless Chromium,
// which opens each page on the gateway itself, so the pages' own headers
// apply (the strict CSP: icons must load under its `img-src`). Each page:
// its <h1>, every image loaded, no CSP report, a laptop and a phone
// screenshot, a screenshot with keyboard focus on its first control (which
// must show an outline of at least 2 px), and axe-core's WCAG 2 A/AA rules
// (check.mjs); a serious or critical violation fails the run.
//
//   node tests/browser/panel.mjs INPUT.json
//
// INPUT: { "screenshots": "/abs/dir", "timeout_ms": 10000,
//   "cookies": [{ "name": "portcullis_session", "value": "…", "domain": "auth.test" }],
//   "pages": [{ "name": "30-apps", "url": "http://auth.test:8080/.portcullis/apps", "h1": "Your apps" }] }
// Prints { "ok": true, "screenshots": [...], "axe": { name: [violations] },
// "focus": { name: "outline" } }; exits 1 with `panel: FAILED: …` on stderr.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM, LAPTOP, axeViolations, requireIdp, screenshots, serious } from './check.mjs';

const { chromium } = requireIdp('playwright-core');
const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const timeout = input.timeout_ms ?? 10_000;
mkdirSync(input.screenshots, { recursive: true });
const summary = { ok: false, screenshots: [], axe: {}, focus: {} };
let browser;

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout,
    args: [
      '--no-sandbox',
      '--host-resolver-rules=MAP *.test 127.0.0.1',
      '--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable',
    ],
  });
  const context = await browser.newContext({ viewport: LAPTOP });
  context.setDefaultTimeout(timeout);
  await context.addCookies(input.cookies.map((c) => ({ path: '/', ...c })));
  const page = await context.newPage();
  const cspReports = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspReports.push(m.text());
  });
  const axePage = await (await browser.newContext({ bypassCSP: true })).newPage();
  const failures = [];
  for (const { name, url, h1 } of input.pages) {
    cspReports.length = 0;
    await page.goto(url, { timeout });
    const heading = (await page.locator('h1').first().textContent())?.trim();
    expect(heading === h1, `${name}: expected <h1> "${h1}", got "${heading}" at ${page.url()}`);
    const broken = await page.evaluate(() => [...document.images].filter((i) => !i.complete || i.naturalWidth === 0).map((i) => i.src));
    expect(broken.length === 0, `${name}: images that did not load: ${broken.join(', ')}`);
    expect(cspReports.length === 0, `${name}: CSP reports: ${cspReports.join('; ')}`);
    summary.screenshots.push(...(await screenshots(page, input.screenshots, name, timeout)));
    // Keyboard: the first Tab lands on a control that shows where it is.
    await page.locator('body').click({ position: { x: 1, y: 1 } });
    await page.keyboard.press('Tab');
    const focus = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const s = getComputedStyle(el);
      return { tag: el.tagName, text: (el.textContent ?? '').trim().slice(0, 40), style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
    });
    expect(focus !== null, `${name}: Tab focuses nothing`);
    expect(focus.style !== 'none' && focus.width >= 2, `${name}: no visible focus on ${JSON.stringify(focus)}`);
    summary.focus[name] = `${focus.tag} "${focus.text}": ${focus.style} ${focus.width}px`;
    const file = `${name}-focus.png`;
    await page.screenshot({ path: join(input.screenshots, file), timeout });
    summary.screenshots.push(file);
    const violations = await axeViolations(axePage, await page.content(), timeout);
    summary.axe[name] = violations;
    const bad = serious(violations);
    if (bad.length > 0) failures.push(`${name}: ${JSON.stringify(bad)}`);
  }
  await browser.close();
  if (failures.length > 0) throw new Error(`axe-core: ${failures.join('; ')}`);
  summary.ok = true;
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} catch (e) {
  await browser?.close().catch(() => {});
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  console.error(`panel: FAILED: ${e?.message ?? e}`);
  process.exit(1);
}
