// The admin console in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core), two journeys on one gateway:
//
// - admin: the overview → the guests page → invites a guest to wiki with a
//   message (the form) → the invited guest's page → a guest with access →
//   "End access…" → the confirmation → ended → the decisions list → the
//   audit log → the guest's open sessions → "Block sign-in…" → the
//   confirmation → blocked → the invitations → "Withdraw…" → the
//   confirmation → withdrawn → the sign-up requests → approved → the
//   policies with a what-if answer.
// - helpdesk: the overview → types the request id of a guest's 403 into the
//   search box on the page → the trace (block, its reason and policy) → the
//   guest's page, without the admins' buttons → the invitations and the
//   sign-up requests (no withdraw, approve or deny) → the policies.
//
// Every page is screenshot at laptop and phone size into the journey's
// folder and checked with axe-core (WCAG 2 A/AA); a serious or critical
// violation fails. The sessions are given as cookies (the MFA step of the
// console is covered by tests/console.rs). A JSON summary goes to stdout.
//
//   node tests/browser/console.mjs INPUT.json
//
// INPUT: { "port": 8080, "auth_host": "auth.test", "admin_cookie": "v",
//   "helpdesk_cookie": "v", "guest_id": "u_…", "guest_email": "…",
//   "request_id": "…", "invitee": "…", "message": "…", "requester": "…",
//   "admin_screenshots": "/abs/dir", "helpdesk_screenshots": "/abs/dir",
//   "timeout_ms": 10000 }
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM, LAPTOP, axeViolations, requireIdp, screenshots, serious } from './check.mjs';

const { chromium } = requireIdp('playwright-core');

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const timeout = input.timeout_ms ?? 10_000;
const base = `http://${input.auth_host}:${input.port}`;
const summary = { ok: false, steps: [], axe: {} };

class Failure extends Error {}
function expect(cond, what) {
  if (!cond) throw new Failure(what);
}

let step = 'launch';
let browser;
let page;
let dir;
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
  const axePage = await (await browser.newContext({ bypassCSP: true })).newPage();

  async function session(cookie, shots) {
    const context = await browser.newContext({ viewport: LAPTOP });
    context.setDefaultTimeout(timeout);
    await context.addCookies([
      { name: 'portcullis_session', value: cookie, domain: input.auth_host, path: '/', httpOnly: true, sameSite: 'Lax' },
    ]);
    page = await context.newPage();
    dir = shots;
    mkdirSync(dir, { recursive: true });
  }
  async function shot(name) {
    await screenshots(page, dir, name, timeout);
    summary.steps.push({ step, name, url: page.url() });
    const violations = await axeViolations(axePage, await page.content(), timeout);
    summary.axe[`${dir.split('/').pop()}/${name}`] = violations;
    const bad = serious(violations);
    expect(bad.length === 0, `axe-core on ${name}: ${JSON.stringify(bad)}`);
  }
  async function heading() {
    return (await page.locator('h1').first().innerText({ timeout })).trim();
  }
  async function text() {
    return page.locator('main').innerText({ timeout });
  }
  async function go(path, status = 200) {
    const r = await page.goto(`${base}${path}`, { timeout });
    expect(r.status() === status, `${path}: ${r.status()}\n${await text()}`);
  }
  async function click(selector) {
    await Promise.all([page.waitForNavigation({ timeout }), page.click(selector)]);
  }

  // ---- the admin ---------------------------------------------------------
  await session(input.admin_cookie, input.admin_screenshots);
  step = 'admin: overview';
  await go('/.portcullis/admin');
  expect((await heading()) === 'Admin console', await text());
  await shot('01-overview');

  step = 'admin: guests';
  await page.click('nav a[href="/.portcullis/admin/guests"]');
  await page.waitForURL(`${base}/.portcullis/admin/guests`, { timeout });
  expect((await text()).includes(input.guest_email), await text());
  await shot('02-guests');

  step = 'admin: invite with a message';
  await page.fill('#invite-email', input.invitee);
  await page.check('input[name=apps][value=wiki]');
  await page.fill('#invite-days', '14');
  await page.fill('#invite-message', input.message);
  await shot('03-invite-form');
  await click('form[aria-labelledby=invite] button[type=submit]');
  expect((await heading()) === input.invitee, `${page.url()}\n${await text()}`);
  expect((await text()).includes('Invitation sent.'), await text());
  await shot('04-invited');

  step = 'admin: a guest with access';
  await go(`/.portcullis/admin/guests/${input.guest_id}`);
  expect((await heading()) === input.guest_email, await text());
  await shot('05-guest');

  step = 'admin: end access, confirmation';
  await click('button:has-text("End access…")');
  expect((await heading()) === 'End access?', await text());
  await shot('06-confirm-end');
  await click('#confirm');
  expect((await text()).includes('Access ended.'), await text());
  await shot('07-ended');

  step = 'admin: decisions';
  await go('/.portcullis/admin/decisions?decision=block');
  expect((await text()).includes(input.request_id), await text());
  await shot('08-decisions');

  step = 'admin: audit log';
  await go('/.portcullis/admin/audit');
  const audit = await text();
  expect(audit.includes('assignment_revoked') && audit.includes('guest_invited'), audit);
  await shot('09-audit');

  step = 'admin: the guest\'s sessions';
  await go(`/.portcullis/admin/guests/${input.guest_id}`);
  expect((await page.locator('#sessions tbody tr').count()) === 1, await text());
  await page.locator('#sessions-title').scrollIntoViewIfNeeded();
  await shot('10-guest-sessions');

  step = 'admin: block sign-in';
  await click('#block');
  expect((await heading()) === 'Block sign-in?', await text());
  await shot('11-confirm-block');
  await click('#confirm');
  expect((await text()).includes('Sign-in blocked'), await text());
  expect((await page.locator('#unblock').count()) === 1, 'an unblock button');
  await shot('12-blocked');

  step = 'admin: invitations';
  await page.click('nav a[href="/.portcullis/admin/invitations"]');
  await page.waitForURL(`${base}/.portcullis/admin/invitations`, { timeout });
  expect((await text()).includes(input.invitee), await text());
  await shot('13-invitations');
  await click(`button[aria-label="Withdraw… the invitation to ${input.invitee}"]`);
  expect((await heading()) === 'Withdraw this invitation?', await text());
  await shot('14-confirm-withdraw');
  await click('#confirm');
  expect((await text()).includes('Invitation withdrawn.'), await text());

  step = 'admin: sign-up requests';
  await page.click('nav a[href="/.portcullis/admin/sign-up-requests"]');
  await page.waitForURL(`${base}/.portcullis/admin/sign-up-requests`, { timeout });
  expect((await text()).includes(input.requester), await text());
  await shot('15-requests');
  await click(`button[aria-label="Approve ${input.requester} for docs"]`);
  expect((await text()).includes('Request approved'), await text());
  await shot('16-approved');

  step = 'admin: policies and what if';
  await page.click('nav a[href="/.portcullis/admin/policies"]');
  await page.waitForURL(`${base}/.portcullis/admin/policies`, { timeout });
  expect((await text()).includes('block-admin-for-guests'), await text());
  await shot('17-policies');
  await page.fill('#w-user', input.guest_email);
  await page.selectOption('#w-app', 'wiki');
  await page.fill('#w-path', '/admin/settings');
  // From the files alone: the guest is blocked in the directory by now.
  await page.check('input[name=offline]');
  await click('form[aria-labelledby=whatif-title] button[type=submit]');
  expect((await page.locator('#whatif-decision').innerText()) === 'block', await text());
  expect((await page.locator('#whatif-reason').innerText()) === 'policy_block', await text());
  expect((await page.locator('#whatif-policies').innerText()).includes('block-admin-for-guests'), await text());
  await shot('18-whatif');

  // ---- the help desk -----------------------------------------------------
  await session(input.helpdesk_cookie, input.helpdesk_screenshots);
  step = 'helpdesk: overview';
  await go('/.portcullis/admin');
  await shot('01-overview');

  step = 'helpdesk: request id in the search box';
  await page.fill('#find-request', input.request_id);
  await click('header form button[type=submit]');
  expect(page.url().endsWith(`/.portcullis/admin/decisions/${input.request_id}`), page.url());
  expect((await page.locator('#decision').innerText()) === 'block', await text());
  expect((await page.locator('#deciding-policy').innerText()) === 'block-admin-for-guests', await text());
  await shot('02-trace');

  step = 'helpdesk: the guest';
  await page.click('#user a');
  await page.waitForURL(`${base}/.portcullis/admin/guests/${input.guest_id}`, { timeout });
  expect((await page.locator('button:has-text("Remove guest")').count()) === 0, 'the help desk sees no remove button');
  expect((await page.locator('#block, #unblock, #sign-out-all').count()) === 0, 'the help desk cannot block or sign out');
  await shot('03-guest');

  step = 'helpdesk: invitations';
  await go('/.portcullis/admin/invitations');
  expect((await page.locator('button:has-text("Withdraw")').count()) === 0, 'the help desk cannot withdraw');
  await shot('04-invitations');

  step = 'helpdesk: sign-up requests';
  await go('/.portcullis/admin/sign-up-requests');
  expect((await page.locator('button:has-text("Approve"), button:has-text("Deny")').count()) === 0, 'the help desk cannot decide');
  await shot('05-requests');

  step = 'helpdesk: policies';
  await go('/.portcullis/admin/policies');
  await shot('06-policies');

  summary.ok = true;
  await browser.close();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} catch (e) {
  summary.failed_at = step;
  summary.error = e instanceof Failure ? e.message : String(e?.stack ?? e);
  if (page && dir) await page.screenshot({ path: join(dir, 'failure.png'), fullPage: true, timeout: 3000 }).catch(() => {});
  await browser?.close().catch(() => {});
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  console.error(`console journey: FAILED at ${step}: ${summary.error}`);
  process.exit(1);
}
