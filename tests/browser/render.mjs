// Pages that an end-to-end test fetched itself (an owner's form answers, an
// error page for a request a browser cannot send), shown in headless
// Chromium: a laptop and a phone screenshot of each, and axe-core's WCAG 2
// A/AA rules (check.mjs). Our pages carry their styles inline, so the copy
// looks as the browser would show it.
//
//   node tests/browser/render.mjs INPUT.json
//
// INPUT: { "screenshots": "/abs/dir", "timeout_ms": 10000,
//   "pages": [{ "name": "20-owner-apps", "html_file": "/abs/page.html" }] }
// Prints { "ok": true, "screenshots": [...], "axe": { name: [violations] } };
// exits 1 with `render: FAILED: …` on stderr on a serious or critical
// violation or any error.
import { mkdirSync, readFileSync } from 'node:fs';
import { CHROMIUM, LAPTOP, axeViolations, requireIdp, screenshots, serious } from './check.mjs';

const { chromium } = requireIdp('playwright-core');
const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const timeout = input.timeout_ms ?? 10_000;
mkdirSync(input.screenshots, { recursive: true });
const summary = { ok: false, screenshots: [], axe: {} };
let browser;
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, timeout, args: ['--no-sandbox'] });
  const page = await (await browser.newContext({ viewport: LAPTOP })).newPage();
  const axePage = await (await browser.newContext({ bypassCSP: true })).newPage();
  const failures = [];
  for (const { name, html_file: file } of input.pages) {
    const html = readFileSync(file, 'utf8');
    await page.setContent(html, { timeout });
    summary.screenshots.push(...(await screenshots(page, input.screenshots, name, timeout)));
    const violations = await axeViolations(axePage, html, timeout);
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
  console.error(`render: FAILED: ${e?.message ?? e}`);
  process.exit(1);
}
