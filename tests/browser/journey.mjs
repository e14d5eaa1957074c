// A partner's whole journey through Portcullis in headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core): app 1 → the auth
// host's sign-in → the partner's IdP → consent → TOTP enrollment → recovery
// codes → app 1 with their identity headers → app 2 without signing in again
// (SSO) → sign-out → app 1 asks to sign in again → an address no IdP
// serves gets the e-mailed code page and a wrong code → an unknown host's
// error page. Every page is screenshot at laptop (1000×800) and phone
// (390×844) size into the screenshots folder, and every page of the
// gateway's own is checked with axe-core (WCAG 2 A/AA): a serious or
// critical violation fails the journey. A JSON summary goes to stdout.
//
//   node tests/browser/journey.mjs INPUT.json     (or the JSON itself)
//
// INPUT: { "port": 8080, "app1": "http://wiki.test:8080/reports?q=1",
//   "app2": "http://docs.test:8080/", "auth_host": "auth.test",
//   "idp_origin": "http://127.0.0.1:9000", "email": "…", "password": "…",
//   "screenshots": "/abs/dir", "timeout_ms": 10000,
//   "invitation": "http://auth.test:8080/.portcullis/invite?token=…" }
// Optional "accept_language" (e.g. "de"): the browser's Accept-Language;
// "words" then gives the page words the journey looks for in that language
// (keys: invited, sign_in, consent, enroll, recovery, continue, signed_out,
// code, wrong_code; English by default). The visible text of every page of
// the gateway's own is returned in the summary's "texts".
// With `invitation`, the journey starts at the e-mailed link instead: the
// invitation page → Accept → sign-in → IdP → consent → the apps page (the
// invitation is redeemed) → app 1 from there → MFA → … as above.
// Every host of INPUT's URLs but the IdP resolves to 127.0.0.1 (the
// gateway routes by Host). Exits 1 with `journey: FAILED at STEP: …` on
// stderr on any unexpected page; every wait is bounded by timeout_ms.
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM, LAPTOP, axeViolations, requireIdp, screenshots, serious } from './check.mjs';

// playwright-core is installed with the test IdP's packages (tests/idp, by
// scripts/test-deps); resolve it from there, as `import` would from that folder.
const { chromium } = requireIdp('playwright-core');

function readInput() {
  const arg = process.argv[2];
  if (!arg) throw new Error('usage: node journey.mjs INPUT.json | \'{"port":…}\'');
  const text = arg.trimStart().startsWith('{') ? arg : readFileSync(arg, 'utf8');
  const input = JSON.parse(text);
  for (const k of ['port', 'app1', 'app2', 'auth_host', 'idp_origin', 'email', 'password', 'screenshots']) {
    if (input[k] === undefined) throw new Error(`input: missing "${k}"`);
  }
  return input;
}

// RFC 4648 base32 (the enrollment page's key), padding and spaces ignored.
function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of s.toUpperCase().replace(/[=\s]/g, '')) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${s}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP: HMAC-SHA-1, 30 s steps, 6 digits (RFC 4226 truncation).
function totp(secret, unixSeconds) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 1_000_000).padStart(6, '0');
}

class Failure extends Error {}

const input = readInput();
const timeout = input.timeout_ms ?? 10_000;
const words = {
  invited: 'You are invited',
  sign_in: 'Sign in',
  consent: 'Review permissions',
  enroll: 'Set up two-step verification',
  qr_alt: 'QR code',
  recovery: 'Save your recovery codes',
  continue: 'Continue',
  signed_out: 'You are signed out',
  code: 'Enter your code',
  wrong_code: 'That code is not right',
  ...(input.words ?? {}),
};
mkdirSync(input.screenshots, { recursive: true });
if (!existsSync(CHROMIUM)) {
  console.error(`journey: ${CHROMIUM} is missing: run scripts/test-deps`);
  process.exit(1);
}

const t0 = Date.now();
const summary = { ok: false, steps: [], screenshots: [], axe: {}, texts: {} };
let step = 'launch';
let browser;
let page;
let axePage;
let lastPost;

// Records the step, asserts with a clear message, screenshots the page.
function expect(cond, what) {
  if (!cond) throw new Failure(what);
}
// Screenshots the page at laptop and phone size; for a page of the
// gateway's own (`ours`, the default) also runs axe-core on it and fails on
// a serious or critical violation (check.mjs).
async function shot(name, { ours = true } = {}) {
  summary.screenshots.push(...(await screenshots(page, input.screenshots, name, timeout)));
  summary.steps.push({ step, url: page.url(), ms: Date.now() - t0 });
  if (!ours) return;
  summary.texts[name] = await page.locator('body').innerText({ timeout });
  summary.texts[`${name}-lang`] = await page.locator('html').getAttribute('lang', { timeout });
  const violations = await axeViolations(axePage, await page.content(), timeout);
  summary.axe[name] = violations;
  const bad = serious(violations);
  expect(bad.length === 0, `axe-core on ${name}: ${JSON.stringify(bad)}`);
}
async function heading() {
  return (await page.locator('h1').first().textContent({ timeout }))?.trim() ?? '';
}
async function describe() {
  const body = (await page.locator('body').innerText({ timeout: 2000 }).catch(() => '')) ?? '';
  const post = lastPost ? `\n(the last form post: ${lastPost.url} with Origin: ${lastPost.origin})` : '';
  return `${page.url()}${post}\n--- page text ---\n${body.slice(0, 1500)}`;
}
// Waits until the main frame shows `host` (and `path` when given).
async function waitFor(host, path) {
  await page.waitForURL((u) => u.host === host && (path === undefined || u.pathname === path), { timeout });
  await page.waitForLoadState('load', { timeout });
}
// Clicks `selector` and waits for the main frame's next navigation (a form
// post may answer on the same URL), then until the URL matches `until`.
async function clickThrough(selector, until) {
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame(), timeout });
  await page.click(selector);
  await navigated;
  if (until) {
    await page.waitForURL(until, { timeout }).catch(async (e) => {
      throw new Failure(`${e.message.split('\n')[0]}; the browser is at:\n${await describe()}`);
    });
  }
  await page.waitForLoadState('load', { timeout });
}
async function identity() {
  const text = await page.locator('#identity').textContent({ timeout });
  return JSON.parse(text);
}

try {
  const appPort = input.port;
  const auth = `${input.auth_host}:${appPort}`;
  const app1 = new URL(input.app1);
  const app2 = new URL(input.app2);
  const idp = new URL(input.idp_origin);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout,
    args: [
      '--no-sandbox',
      // The gateway's hosts (*.test) are its loopback listener.
      '--host-resolver-rules=MAP *.test 127.0.0.1',
      // Plain http on purpose: no automatic https upgrade of navigations.
      '--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable',
    ],
  });
  const context = await browser.newContext({
    viewport: LAPTOP,
    ...(input.accept_language ? { extraHTTPHeaders: { 'Accept-Language': input.accept_language } } : {}),
  });
  axePage = await (await browser.newContext({ bypassCSP: true })).newPage();
  context.setDefaultTimeout(timeout);
  context.setDefaultNavigationTimeout(timeout);
  page = await context.newPage();
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.isNavigationRequest()) lastPost = { url: r.url(), origin: r.headers().origin };
  });

  if (input.invitation) {
    step = 'open the invitation';
    await page.goto(input.invitation);
    await waitFor(auth, '/.portcullis/invite');
    expect((await heading()) === words.invited, `expected the invitation page, got:\n${await describe()}`);
    await shot('00-invitation');
    step = 'accept the invitation';
    // The invited address goes with it: straight to the partner's IdP,
    // no sign-in page and no retyping (issue 17).
    await clickThrough('button[type=submit]', (u) => u.host === idp.host);
  } else {
    step = 'open app 1';
    await page.goto(app1.href);
    await waitFor(auth, '/.portcullis/sign-in');
    expect((await heading()) === words.sign_in, `expected the sign-in page, got:\n${await describe()}`);
    await shot('01-sign-in');

    step = 'enter e-mail';
    await page.fill('#email', input.email);
    await clickThrough('button[type=submit]', (u) => u.host === idp.host);
  }
  expect(new URL(page.url()).pathname.startsWith('/interaction/'), `expected the IdP's login form, got:\n${await describe()}`);
  expect(await page.locator('input[name=password]').count() === 1, `no password field at the IdP:\n${await describe()}`);
  await shot('02-idp-login', { ours: false });

  step = 'sign in at the IdP';
  await page.fill('input[name=login]', input.email);
  await page.fill('input[name=password]', input.password);
  await clickThrough('button[type=submit]', (u) => u.host === auth);
  expect(new URL(page.url()).host === auth && (await heading()) === words.consent, `expected the consent page, got:\n${await describe()}`);
  expect((await page.locator('main').innerText()).includes(input.email), 'the consent page does not name the e-mail');
  await shot('03-consent');

  step = 'accept';
  await clickThrough('button[value=accept]');
  // Redeemed or not, the partner lands on app 1 (the invitation's first
  // app, or the one asked for), which asks for MFA first.
  expect((await heading()) === words.enroll, `expected TOTP enrollment, got:\n${await describe()}`);
  expect(await page.locator(`img[alt^="${words.qr_alt}"]`).evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR code image did not render');
  await shot('04-mfa-enroll');

  step = 'enter the TOTP code';
  const secret = (await page.locator('#secret').textContent()).trim();
  // Not in the last 2 s of a step: the code must still be current when it arrives.
  const left = 30 - ((Date.now() / 1000) % 30);
  if (left < 2) await page.waitForTimeout(Math.ceil(left * 1000) + 100);
  const code = totp(secret, Date.now() / 1000);
  await page.fill('#code', code);
  await clickThrough('button[type=submit]');
  expect((await heading()) === words.recovery, `expected the recovery codes, got:\n${await describe()}`);
  const recovery = await page.locator('#recovery-codes li').count();
  expect(recovery === 10, `expected 10 recovery codes, saw ${recovery}`);
  await shot('05-recovery-codes');

  step = 'continue to app 1';
  await clickThrough(`a:text-is("${words.continue}")`, (u) => u.host === app1.host);
  const url1 = new URL(page.url());
  expect(url1.pathname + url1.search === app1.pathname + app1.search, `app 1 at ${url1}, not the URL asked for (${app1})`);
  const id1 = await identity().catch(async (e) => { throw new Failure(`expected app 1's page, got (${e.message}):\n${await describe()}`); });
  expect(id1['x-portcullis-email'] === input.email, `app 1 saw X-Portcullis-Email ${id1['x-portcullis-email']}, not ${input.email}`);
  summary.app1_identity = id1;
  await shot('06-app1', { ours: false });

  step = 'open app 2 (single sign-on)';
  const shown = [];
  const onNav = (frame) => { if (frame === page.mainFrame()) shown.push(frame.url()); };
  page.on('framenavigated', onNav);
  await page.goto(app2.href);
  await waitFor(app2.host);
  page.off('framenavigated', onNav);
  const elsewhere = shown.filter((u) => new URL(u).host !== app2.host);
  expect(elsewhere.length === 0, `SSO showed other pages before app 2: ${elsewhere.join(', ')}`);
  const id2 = await identity().catch(async (e) => { throw new Failure(`expected app 2's page, got (${e.message}):\n${await describe()}`); });
  expect(id2['x-portcullis-email'] === input.email, `app 2 saw X-Portcullis-Email ${id2['x-portcullis-email']}`);
  summary.app2_identity = id2;
  await shot('07-app2', { ours: false });

  step = 'sign out';
  await page.goto(new URL('/.portcullis/sign-out', app2).href);
  await waitFor(auth, '/.portcullis/sign-out');
  expect((await page.locator('main').innerText()).includes(words.signed_out), `expected the signed-out page, got:\n${await describe()}`);
  await shot('08-signed-out');

  step = 'app 1 again';
  // App 1's own cookie is revoked by its session id: the gateway's revocation
  // set is fed by a 1 s store poll, so allow a few seconds.
  const deadline = Date.now() + 6000;
  for (;;) {
    await page.goto(app1.href);
    await page.waitForLoadState('load', { timeout });
    const u = new URL(page.url());
    if (u.host === auth && u.pathname === '/.portcullis/sign-in') break;
    if (Date.now() > deadline) throw new Failure(`app 1 still open 6 s after sign-out:\n${await describe()}`);
    await page.waitForTimeout(250);
  }
  expect((await heading()) === words.sign_in, `expected the sign-in page, got:\n${await describe()}`);
  await shot('09-sign-in-again');

  step = 'an address no IdP serves';
  await page.fill('#email', 'nobody@elsewhere.example');
  await clickThrough('button[type=submit]');
  expect((await heading()) === words.code, `expected the code page, got:\n${await describe()}`);
  await shot('10-passcode');

  step = 'a wrong code';
  await page.fill('#code', '000000');
  await clickThrough('button[type=submit]');
  expect((await page.locator('main').innerText()).includes(words.wrong_code), `expected the wrong-code message, got:\n${await describe()}`);
  await shot('11-passcode-wrong');

  step = 'an unknown host';
  const missing = await page.goto(`http://nowhere.test:${appPort}/`);
  expect(missing.status() === 404, `expected 404 for an unknown host, got ${missing.status()}:\n${await describe()}`);
  await shot('12-not-found');

  summary.ok = true;
  summary.ms = Date.now() - t0;
  await browser.close();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} catch (e) {
  summary.failed_at = step;
  summary.error = e instanceof Failure ? e.message : String(e?.stack ?? e);
  if (page) await page.screenshot({ path: join(input.screenshots, 'failure.png'), fullPage: true, timeout: 3000 }).catch(() => {});
  await browser?.close().catch(() => {});
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  console.error(`journey: FAILED at ${step}: ${summary.error}`);
  process.exit(1);
}
