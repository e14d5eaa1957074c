// An invited partner signs in through their organisation's SAML IdP
// (SimpleSAMLphp on loopback, another site than the gateway) in headless
// Chromium over plain HTTP or the gateway's HTTPS listener (`scheme`; its
// self-signed certificate is not checked): the e-mailed invitation → Accept → the IdP's
// login form → the IdP's self-submitting form POSTs the signed response
// cross-site to our ACS (no Lax cookie rides along) → our 303 to the
// same-site step, where the flow cookie is checked → consent → app 1, with
// no second factor of ours because the IdP's AuthnContextClassRef counts
// as MFA (`mfa: trusted`) → sign-out, which offers the IdP's logout (a
// LogoutRequest to its SingleLogoutService) → the IdP ends its session and
// sends the browser back → signing in again asks for the password again.
// Every page is screenshot at laptop and phone size (over HTTPS with an
// `_https` suffix); every page of the gateway's own is checked with axe-core
// (check.mjs). A JSON summary goes to stdout, with the cookies the browser
// kept (names and attributes, never values).
//
//   node tests/browser/saml_journey.mjs INPUT.json
//
// INPUT: { "scheme": "http" | "https", "port": 8080 (of that scheme's listener), "auth_host": "auth.test", "invitation": "http://auth.test:8080/.portcullis/invite?token=…",
//   "app1": "http://wiki.test:8080/", "idp_origin": "http://127.0.0.1:9000",
//   "username": "…", "password": "…", "email": "…", "screenshots": "/abs/dir", "timeout_ms": 10000 }
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM, LAPTOP, axeViolations, requireIdp, screenshots, serious } from './check.mjs';

const { chromium } = requireIdp('playwright-core');

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
for (const k of ['scheme', 'port', 'auth_host', 'invitation', 'app1', 'idp_origin', 'username', 'password', 'email', 'screenshots']) {
  if (input[k] === undefined) throw new Error(`input: missing "${k}"`);
}
if (input.scheme !== 'http' && input.scheme !== 'https') throw new Error(`input: bad scheme ${input.scheme}`);
const https = input.scheme === 'https';
const suffix = https ? '_https' : '';
const timeout = input.timeout_ms ?? 10_000;
mkdirSync(input.screenshots, { recursive: true });
if (!existsSync(CHROMIUM)) {
  console.error(`saml journey: ${CHROMIUM} is missing: run scripts/setup`);
  process.exit(1);
}

class Failure extends Error {}
const t0 = Date.now();
const summary = { ok: false, scheme: input.scheme, steps: [], screenshots: [], axe: {}, posts: [], cookies: [] };
let step = 'launch';
let browser;
let page;
let axePage;

function expect(cond, what) {
  if (!cond) throw new Failure(what);
}
async function shot(base, { ours = true } = {}) {
  const name = `${base}${suffix}`;
  summary.screenshots.push(...(await screenshots(page, input.screenshots, name, timeout)));
  summary.steps.push({ step, url: page.url(), ms: Date.now() - t0 });
  if (!ours) return;
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
  return `${page.url()}\n--- page text ---\n${body.slice(0, 1500)}`;
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
  // On the auth host over this journey's scheme (never a fall back to the
  // other listener).
  const atAuth = (u) => u.protocol === `${input.scheme}:` && u.host === auth;
  const app1 = new URL(input.app1);
  const idp = new URL(input.idp_origin);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout,
    args: [
      '--no-sandbox',
      // The gateway's hosts (*.test) are its loopback listener; the IdP is
      // 127.0.0.1, another site.
      '--host-resolver-rules=MAP *.test 127.0.0.1',
      // Over HTTP: no automatic upgrade of navigations to https.
      '--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable',
      // Over HTTPS: the gateway's certificate is self-signed (and does not
      // name the auth host); the page is still a secure context, so Secure
      // and __Host- cookies are kept as on a real certificate.
      ...(https ? ['--ignore-certificate-errors'] : []),
    ],
  });
  const context = await browser.newContext({ viewport: LAPTOP, ignoreHTTPSErrors: https });
  axePage = await (await browser.newContext({ bypassCSP: true })).newPage();
  context.setDefaultTimeout(timeout);
  context.setDefaultNavigationTimeout(timeout);
  page = await context.newPage();
  // Every navigation POST: where it went, its Origin, and the names of the
  // cookies that rode along (none of ours may on the IdP's cross-site
  // POST; the values are sessions, so not in the summary).
  page.on('request', async (r) => {
    if (r.method() === 'POST' && r.isNavigationRequest()) {
      const headers = await r.allHeaders();
      const names = (headers.cookie ?? '').split(';').map((c) => c.split('=')[0].trim()).filter((n) => n);
      summary.posts.push({ url: r.url(), origin: headers.origin ?? null, cookie: names.join('; ') });
    }
  });

  step = 'open the invitation';
  await page.goto(input.invitation);
  await page.waitForURL((u) => atAuth(u) && u.pathname === '/.portcullis/invite', { timeout });
  expect((await heading()) === 'You are invited', `expected the invitation page, got:\n${await describe()}`);
  await shot('saml_00-invitation');

  step = 'accept the invitation';
  // The invited address's domain is the SAML IdP's: straight to it (an
  // AuthnRequest over HTTP-Redirect).
  await clickThrough('button[type=submit]', (u) => u.host === idp.host);
  expect(await page.locator('input[name=password]').count() === 1, `no password field at the IdP:\n${await describe()}`);
  await shot('saml_01-idp-login', { ours: false });

  step = 'sign in at the IdP';
  await page.fill('input[name=username]', input.username);
  await page.fill('input[name=password]', input.password);
  // The IdP answers with its self-submitting form; Chromium posts it to our
  // ACS, which answers 303 to the same-site step, which goes on to consent.
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame(), timeout });
  await page.locator('button[type=submit], input[type=submit]').first().click();
  await navigated;
  await page.waitForURL((u) => atAuth(u) && !u.pathname.startsWith('/.portcullis/saml/'), { timeout }).catch(async (e) => {
    throw new Failure(`${e.message.split('\n')[0]}; the browser is at:\n${await describe()}`);
  });
  await page.waitForLoadState('load', { timeout });
  expect((await heading()) === 'Review permissions', `expected the consent page, got:\n${await describe()}`);
  expect((await page.locator('main').innerText()).includes(input.email), 'the consent page does not name the e-mail');
  await shot('saml_02-consent');

  step = 'accept';
  // Trusted for MFA by its AuthnContextClassRef: no enrollment of ours.
  await clickThrough('button[value=accept]', (u) => u.protocol === app1.protocol && u.host === app1.host);
  const id1 = JSON.parse(await page.locator('#identity').textContent({ timeout }).catch(async (e) => {
    throw new Failure(`expected app 1's page, got (${e.message}):\n${await describe()}`);
  }));
  summary.app1_identity = id1;
  // Signed in: which cookies of ours the browser kept, and how.
  summary.cookies = (await context.cookies())
    .filter((c) => c.domain.endsWith('.test'))
    .map(({ name, domain, path, secure, httpOnly, sameSite }) => ({ name, domain, path, secure, httpOnly, sameSite }));
  await shot('saml_03-app1', { ours: false });

  step = 'sign out';
  await page.goto(new URL('/.portcullis/sign-out', app1).href);
  await page.waitForURL((u) => atAuth(u) && u.pathname === '/.portcullis/sign-out', { timeout });
  await page.waitForLoadState('load', { timeout });
  expect((await page.locator('main').innerText()).includes('You are signed out'), `expected the signed-out page, got:\n${await describe()}`);
  const slo = page.locator(`main a[href^="${idp.origin}/"]`);
  summary.idp_logout = (await slo.count()) > 0 ? await slo.first().getAttribute('href') : null;
  await shot('saml_04-signed-out');

  expect(summary.idp_logout !== null, `the signed-out page offers no sign-out at the IdP:\n${await describe()}`);

  step = "the IdP's logout";
  // Our LogoutRequest goes to the IdP, which ends its session and answers
  // with a LogoutResponse to our sign-out page.
  await clickThrough(`main a[href^="${idp.origin}/"]`, (u) => atAuth(u) && u.pathname === '/.portcullis/sign-out');
  expect((await page.locator('main').innerText()).includes('You are signed out'), `expected our signed-out page back, got:\n${await describe()}`);
  await shot('saml_05-idp-signed-out');

  step = 'app 1 again: the IdP asks for the password again';
  await page.goto(app1.href);
  await page.waitForURL((u) => atAuth(u) && u.pathname === '/.portcullis/sign-in', { timeout });
  await page.fill('#email', input.email);
  await clickThrough('button[type=submit]', (u) => u.host === idp.host);
  expect(await page.locator('input[name=password]').count() === 1, `the IdP signed in without asking (its session survived the logout):\n${await describe()}`);

  summary.ok = true;
  summary.ms = Date.now() - t0;
  await browser.close();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} catch (e) {
  summary.failed_at = step;
  summary.error = e instanceof Failure ? e.message : String(e?.stack ?? e);
  if (page) await page.screenshot({ path: join(input.screenshots, `failure${suffix}.png`), fullPage: true, timeout: 3000 }).catch(() => {});
  await browser?.close().catch(() => {});
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  console.error(`saml journey: FAILED at ${step}: ${summary.error}`);
  process.exit(1);
}
