// What every page test does to a page of the gateway's own: a screenshot
// at laptop (1000×800) and at phone (390×844) size, and axe-core's WCAG 2
// A/AA rules on a copy of it (our pages allow no script, so the copy is
// checked in a page without that policy). Shared by journey.mjs and
// render.mjs.
import { join } from 'node:path';
import { createRequire } from 'node:module';

// playwright-core and axe-core are installed with the test IdP's packages
// (tests/idp, by scripts/test-deps).
export const requireIdp = createRequire(new URL('../idp/package.json', import.meta.url));
const AXE = requireIdp.resolve('axe-core/axe.min.js');

export const CHROMIUM = '/usr/bin/chromium';
export const LAPTOP = { width: 1000, height: 800 };
export const PHONE = { width: 390, height: 844 };

// Screenshots `page` into `dir` as NAME.png and NAME-phone.png; returns the
// file names.
export async function screenshots(page, dir, name, timeout) {
  const files = [];
  for (const [file, size] of [[`${name}.png`, LAPTOP], [`${name}-phone.png`, PHONE]]) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(dir, file), fullPage: true, timeout });
    files.push(file);
  }
  await page.setViewportSize(LAPTOP);
  return files;
}

// axe-core's violations of `html`, checked in `axePage` (a page of a
// context with `bypassCSP`): [{ id, impact, help, targets }].
export async function axeViolations(axePage, html, timeout) {
  await axePage.setContent(html, { timeout });
  await axePage.addScriptTag({ path: AXE });
  return axePage.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
  });
}

// The violations that fail a test.
export function serious(violations) {
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
