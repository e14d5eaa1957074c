// Passkeys in headless Chromium with its virtual authenticator (CDP
// `WebAuthn.addVirtualAuthenticator`, through playwright-core; issue 20):
// sign in with a password → TOTP enrollment (the first factor of a guest)
// → the passkeys page → register a passkey → an app that asks for
// phishing-resistant MFA → step up with the passkey (no code form offered)
// → the app → remove the passkey. Every page is screenshot at laptop and
// phone size as passkeys_NN-NAME(.png|-phone.png), and checked with
// axe-core (a serious or critical violation fails). A JSON summary goes to
// stdout; `journey: FAILED at STEP: …` on stderr and exit 1 otherwise.
//
// The hosts are *.localhost: WebAuthn needs a secure context, which plain
// http is only on localhost names.
//
// INPUT: { "port": 8080, "auth_host": "auth.localhost", "app": "http://pay.localhost:8080/",
//   "mfa_app": "http://wiki.localhost:8080/", "email": "…", "password": "…",
//   "screenshots": "/abs/dir", "timeout_ms": 10000 }
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { CHROMIUM, LAPTOP, axeViolations, requireIdp, screenshots, serious } from './check.mjs';

const { chromium } = requireIdp('playwright-core');

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const timeout = input.timeout_ms ?? 10_000;
mkdirSync(input.screenshots, { recursive: true });

function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of s.toUpperCase().replace(/[=\s]/g, '')) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}
function totp(secret, unixSeconds) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

class Failure extends Error {}
const summary = { ok: false, steps: [], screenshots: [], axe: {}, credentials: 0 };
let step = 'launch';
let browser;
let page;
let axePage;

function expect(cond, what) {
  if (!cond) throw new Failure(what);
}
async function describe() {
  const body = (await page.locator('body').innerText({ timeout: 2000 }).catch(() => '')) ?? '';
  return `${page.url()}\n--- page text ---\n${body.slice(0, 1500)}`;
}
async function heading() {
  return (await page.locator('h1').first().textContent({ timeout }))?.trim() ?? '';
}
// `ours: false` for the app's own page: axe-core checks only ours.
async function shot(name, { ours = true } = {}) {
  summary.screenshots.push(...(await screenshots(page, input.screenshots, `passkeys_${name}`, timeout)));
  summary.steps.push({ step, url: page.url() });
  if (!ours) return;
  const violations = await axeViolations(axePage, await page.content(), timeout);
  summary.axe[name] = violations;
  const bad = serious(violations);
  expect(bad.length === 0, `axe-core on ${name}: ${JSON.stringify(bad)}`);
}
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

try {
  const auth = `${input.auth_host}:${input.port}`;
  const app = new URL(input.app);
  const mfaApp = new URL(input.mfa_app);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout,
    args: ['--no-sandbox', '--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable'],
  });
  const context = await browser.newContext({ viewport: LAPTOP });
  axePage = await (await browser.newContext({ bypassCSP: true })).newPage();
  context.setDefaultTimeout(timeout);
  page = await context.newPage();
  page.on('console', (m) => console.error(`console: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`pageerror: ${e.message}`));

  step = 'add a virtual authenticator';
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  step = 'sign in with a password';
  await page.goto(mfaApp.href);
  await page.waitForURL((u) => u.host === auth && u.pathname === '/.portcullis/sign-in', { timeout });
  await page.fill('input[name=email]', input.email);
  await clickThrough('button[type=submit]');
  expect((await heading()) === 'Enter your password', `expected the password page, got:\n${await describe()}`);
  await page.fill('input[name=password]', input.password);
  await clickThrough('button[type=submit]', (u) => u.pathname === '/.portcullis/consent');
  await clickThrough('button[value=accept]', (u) => u.pathname === '/.portcullis/mfa');

  step = 'set up TOTP';
  const secret = (await page.locator('#secret').textContent({ timeout })).trim();
  await page.fill('input[name=code]', totp(secret, Date.now() / 1000));
  await clickThrough('button[type=submit]');
  expect((await heading()) === 'Save your recovery codes', `expected recovery codes, got:\n${await describe()}`);
  await clickThrough('a:has-text("Continue")', (u) => u.host === mfaApp.host);

  step = 'register a passkey';
  await page.goto(`http://${auth}/.portcullis/security/passkeys`);
  expect((await heading()) === 'Passkeys', `expected the passkeys page, got:\n${await describe()}`);
  await shot('01-none');
  await page.fill('input[name=name]', 'Virtual key');
  await clickThrough('form[data-passkey=register] button[type=submit]');
  const added = await page.locator('body').innerText({ timeout });
  expect(added.includes('Passkey added.') && added.includes('Virtual key'), `expected the passkey listed, got:\n${await describe()}`);
  await shot('02-registered');
  summary.credentials = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials.length;
  expect(summary.credentials === 1, `the authenticator holds ${summary.credentials} credentials`);

  step = 'step up with the passkey';
  await page.goto(app.href);
  await page.waitForURL((u) => u.host === auth && u.pathname === '/.portcullis/mfa', { timeout });
  expect((await heading()) === "Verify it's you", `expected the step-up page, got:\n${await describe()}`);
  expect((await page.locator('input[name=code]').count()) === 0, 'a TOTP form on a phishing-resistant step-up');
  await shot('03-step-up');
  await clickThrough('form[data-passkey=authenticate] button[type=submit]', (u) => u.host === app.host);
  await shot('04-app', { ours: false });

  step = 'remove the passkey';
  await page.goto(`http://${auth}/.portcullis/security/passkeys`);
  await clickThrough('form input[name=action][value=remove] ~ button');
  const removed = await page.locator('body').innerText({ timeout });
  expect(removed.includes('Passkey removed.') && removed.includes('You have no passkeys yet.'), `expected the passkey gone, got:\n${await describe()}`);
  await shot('05-removed');

  summary.ok = true;
  console.log(JSON.stringify(summary));
} catch (e) {
  console.error(`journey: FAILED at ${step}: ${e instanceof Failure ? e.message : e.stack}`);
  console.log(JSON.stringify(summary));
  process.exitCode = 1;
} finally {
  await browser?.close();
}
