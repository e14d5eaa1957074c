// Passkey sign-in in headless Chromium with its virtual authenticator
// (issue 20): a guest without an IdP signs in with the e-mailed code → the
// security-info page → its link to the passkeys page → registers a passkey
// → renames it → signs out → "Sign in with a passkey" on the sign-in page
// (discoverable credential, no e-mail typed) → straight into an app that
// asks for phishing-resistant MFA.
// Every page of ours is screenshot at laptop and phone size as
// passkey_sign_in_NN-NAME(.png|-phone.png) and checked with axe-core (a
// serious or critical violation fails). A JSON summary goes to stdout;
// `journey: FAILED at STEP: …` on stderr and exit 1 otherwise.
//
// INPUT: { "port": 8080, "auth_host": "auth.localhost", "app": "http://pay.localhost:8080/",
//   "email": "…", "outbox": "/abs/outbox", "screenshots": "/abs/dir", "timeout_ms": 10000 }
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM, LAPTOP, axeViolations, requireIdp, screenshots, serious } from './check.mjs';

const { chromium } = requireIdp('playwright-core');

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const timeout = input.timeout_ms ?? 10_000;
mkdirSync(input.screenshots, { recursive: true });

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
async function shot(name, { ours = true } = {}) {
  summary.screenshots.push(...(await screenshots(page, input.screenshots, `passkey_sign_in_${name}`, timeout)));
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
// The newest 8-digit code mailed to `to`, waiting up to `timeout`.
async function passcode(to) {
  const until = Date.now() + timeout;
  while (Date.now() < until) {
    let files = [];
    try {
      files = readdirSync(input.outbox).filter((f) => f.endsWith('.eml')).map((f) => join(input.outbox, f));
    } catch {}
    const mails = files
      .map((f) => ({ t: statSync(f).mtimeMs, text: readFileSync(f, 'utf8') }))
      .filter((m) => m.text.includes(to))
      .sort((a, b) => b.t - a.t);
    for (const m of mails) {
      const code = m.text.split(/[^0-9]+/).find((w) => w.length === 8);
      if (code) return code;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Failure(`no code mailed to ${to}`);
}

try {
  const auth = `${input.auth_host}:${input.port}`;
  const app = new URL(input.app);
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

  step = 'sign in with an e-mailed code';
  await page.goto(`http://${auth}/.portcullis/security`);
  await page.waitForURL((u) => u.pathname === '/.portcullis/sign-in', { timeout });
  expect((await page.locator('form[action="/.portcullis/sign-in/passkey"] button').count()) === 1, `no passkey button on the sign-in page:\n${await describe()}`);
  await shot('01-sign-in');
  await page.fill('input[name=email]', input.email);
  await clickThrough('form[action="/.portcullis/sign-in"] button[type=submit]');
  expect((await heading()) === 'Enter your code', `expected the passcode page, got:\n${await describe()}`);
  await shot('02-passcode');
  await page.fill('input[name=code]', await passcode(input.email));
  await clickThrough('form[action="/.portcullis/sign-in/passcode"] button[type=submit]');
  if ((await heading()) === 'Review permissions') {
    await clickThrough('button[value=accept]');
  }
  expect((await heading()) === 'Security info', `expected security info, got:\n${await describe()}`);

  step = 'from security info to the passkeys page';
  await shot('03-security');
  await clickThrough('#passkeys-link', (u) => u.pathname === '/.portcullis/security/passkeys');

  step = 'register a passkey';
  await page.fill('form[data-passkey=register] input[name=name]', 'Virtual key');
  await clickThrough('form[data-passkey=register] button[type=submit]');
  const added = await page.locator('body').innerText({ timeout });
  expect(added.includes('Passkey added.'), `expected the passkey added, got:\n${await describe()}`);
  summary.credentials = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials.length;
  expect(summary.credentials === 1, `the authenticator holds ${summary.credentials} credentials`);

  step = 'rename the passkey';
  await page.fill('#rename-name', 'Laptop key');
  await clickThrough('form input[name=action][value=rename] ~ button');
  const renamed = await page.locator('table').innerText({ timeout });
  expect(renamed.includes('Laptop key') && !renamed.includes('Virtual key'), `expected the new name, got:\n${await describe()}`);
  await shot('04-renamed');

  step = 'sign out';
  await page.goto(`http://${auth}/.portcullis/sign-out`);
  await clickThrough('form[action="/.portcullis/sign-out"] button[type=submit]');

  step = 'sign in with the passkey';
  await page.goto(app.href);
  await page.waitForURL((u) => u.host === auth && u.pathname === '/.portcullis/sign-in', { timeout });
  await clickThrough('form[action="/.portcullis/sign-in/passkey"] button[type=submit]', (u) => u.host === app.host);
  // The app asks for phishing-resistant MFA: reaching it without a step-up
  // shows the passkey sign-in counted as that.
  await shot('05-app', { ours: false });

  summary.ok = true;
  console.log(JSON.stringify(summary));
} catch (e) {
  console.error(`journey: FAILED at ${step}: ${e instanceof Failure ? e.message : e.stack}`);
  console.log(JSON.stringify(summary));
  process.exitCode = 1;
} finally {
  await browser?.close();
}
