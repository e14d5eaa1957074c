// A test OpenID Provider for Portcullis' tests: oidc-provider 9.13.3 on
// loopback, PKCE required, a scripted login form that sets acr/amr, consent
// skipped. Never shipped; see shared/notes/peers.md section 3.
//
//   node op.mjs --port P --issuer http://127.0.0.1:P --client-id X
//     --client-secret Y --redirect-uri U [--redirect-uri U2 ...]
//     [--amr pwd,mfa] [--acr urn:...] [--accounts accounts.json]
//     [--conform-id-token-claims true|false] [--jwks-file keys.json]
//     [--post-logout-redirect-uri U] [--key-id KID] [--iss-response false]
//
// Prints `READY <issuer>` on stdout once listening; exits on SIGTERM/SIGINT.
// `--port 0` picks a free port; the issuer may then contain `{port}`, which
// is replaced by the bound port (READY prints the final issuer).
// Accounts file: { "alice@partner.example": { "password": "...",
//   "name": "Alice", "groups": ["partner-admins"], "email_verified": true } }
// The login form takes `login` + `password`; a wrong password or unknown
// login ends the interaction with `error=access_denied`.
//
// Provider shapes (issue 15): an account may carry `claims` (extra ID token
// claims as the provider documents them: `tid`, `oid`, `xms_edov`,
// `verified_primary_email`, `hd`, `preferred_username`, `_claim_names` +
// `_claim_sources` for Entra's groups overage, ...); `email_verified: null`
// and `groups: null` leave those claims out. An issuer containing
// `{tenantid}` (Entra's multi-tenant template) is what discovery says; each
// ID token's `iss` is the template with the account's `iss_tenant` (default
// its `tid`). An account's `aud` makes its ID token name another client (an
// attack case). `--iss-response false` leaves RFC 9207's `iss` out of
// authorization responses and discovery (Entra does not send it).
import { AsyncLocalStorage } from 'node:async_hooks';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import Provider from 'oidc-provider';

function parseArgs(argv) {
  const out = { redirectUris: [], postLogoutRedirectUris: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const key = argv[i];
    const value = argv[i + 1];
    if (!key.startsWith('--') || value === undefined) {
      throw new Error(`bad argument ${key}`);
    }
    i += 1;
    switch (key) {
      case '--port': out.port = Number(value); break;
      case '--issuer': out.issuer = value; break;
      case '--client-id': out.clientId = value; break;
      case '--client-secret': out.clientSecret = value; break;
      case '--redirect-uri': out.redirectUris.push(value); break;
      case '--post-logout-redirect-uri': out.postLogoutRedirectUris.push(value); break;
      case '--amr': out.amr = value.split(',').filter(Boolean); break;
      case '--acr': out.acr = value; break;
      case '--accounts': out.accounts = value; break;
      case '--conform-id-token-claims': out.conform = value !== 'false'; break;
      case '--jwks-file': out.jwksFile = value; break;
      case '--key-id': out.keyId = value; break;
      case '--iss-response': out.issResponse = value !== 'false'; break;
      default: throw new Error(`unknown argument ${key}`);
    }
  }
  for (const [k, v] of Object.entries({ port: out.port, issuer: out.issuer, clientId: out.clientId, clientSecret: out.clientSecret })) {
    if (v === undefined || Number.isNaN(v)) throw new Error(`missing --${k}`);
  }
  if (out.redirectUris.length === 0) throw new Error('missing --redirect-uri');
  return out;
}

const args = parseArgs(process.argv.slice(2));
const amr = args.amr ?? ['pwd'];
const acr = args.acr ?? (amr.includes('mfa') ? 'urn:portcullis:acr:mfa' : 'urn:portcullis:acr:pwd');
const accounts = args.accounts
  ? JSON.parse(readFileSync(args.accounts, 'utf8'))
  : { 'alice@partner.example': { password: 'alice-password', name: 'Alice', groups: ['partner-admins'] } };

// Resolve port 0 to a free port before building the issuer: the issuer must
// be known when the Provider is created and must match exactly what the RP
// expects (no trailing slash).
async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
const port = args.port === 0 ? await freePort() : args.port;
const issuer = args.issuer.replace('{port}', String(port));
const TENANT_TEMPLATE = '{tenantid}';
// The extra claims an account may carry; the scope mask lets only listed
// claims through.
const extraClaims = ['tid', 'oid', 'ver', 'xms_edov', 'verified_primary_email', 'hd',
  'preferred_username', 'upn', 'hasgroups', 'idp'];

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

const config = {
  clients: [{
    client_id: args.clientId,
    client_secret: args.clientSecret,
    redirect_uris: args.redirectUris,
    post_logout_redirect_uris: args.postLogoutRedirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: {
    openid: ['sub', 'acr', 'amr', 'auth_time', ...extraClaims],
    email: ['email', 'email_verified'],
    profile: ['name', 'groups'],
  },
  scopes: ['openid', 'email', 'profile', 'offline_access'],
  acrValues: ['urn:portcullis:acr:pwd', 'urn:portcullis:acr:mfa', ...(args.acr ? [args.acr] : [])],
  conformIdTokenClaims: args.conform ?? true,
  cookies: { keys: ['portcullis-test-idp-cookie-key'] },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const a = accounts[sub];
    if (!a) return undefined;
    return {
      accountId: sub,
      async claims() {
        const out = {
          sub,
          email: a.email === undefined ? sub : a.email,
          email_verified: a.email_verified === undefined ? true : a.email_verified,
          name: a.name ?? sub,
          groups: a.groups === undefined ? [] : a.groups,
          ...(a.claims ?? {}),
        };
        for (const k of ['email', 'email_verified', 'groups']) {
          if (out[k] === null) delete out[k];
        }
        return out;
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope);
    grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups']);
    await grant.save();
    return grant;
  },
};
if (args.jwksFile) config.jwks = JSON.parse(readFileSync(args.jwksFile, 'utf8'));
// `--key-id`: a fresh RS256 key with this kid (tests of key rollover restart
// the OP with another kid; the default dev key has the same kid every start).
if (args.keyId && !args.jwksFile) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  config.jwks = { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: args.keyId, alg: 'RS256', use: 'sig' }] };
}

// A `{tenantid}` issuer is not a URL oidc-provider accepts; it is built
// with a stand-in and `issuer` answers the template (discovery) or, while an
// ID token is signed, the account's tenant issuer.
const tokenIssuer = new AsyncLocalStorage();
const provider = new Provider(issuer.replace(TENANT_TEMPLATE, 'common'), config);
Object.defineProperty(provider, 'issuer', {
  configurable: true,
  get: () => tokenIssuer.getStore() ?? issuer,
});
const { IdToken } = provider;
const issueIdToken = IdToken.prototype.issue;
IdToken.prototype.issue = function issue(opts) {
  const a = accounts[this.available?.sub];
  if (opts?.use === 'idtoken' && a?.aud) {
    // The attack case: an ID token for another client.
    this.client = Object.create(this.client, { clientId: { value: a.aud } });
  }
  if (!issuer.includes(TENANT_TEMPLATE)) return issueIdToken.call(this, opts);
  const tenant = a?.iss_tenant ?? this.available?.tid ?? 'common';
  return tokenIssuer.run(issuer.replace(TENANT_TEMPLATE, tenant), () => issueIdToken.call(this, opts));
};
if (args.issResponse === false) {
  // First in the chain (before the provider's own router, which answers
  // without calling on), so it sees every answer.
  provider.middleware.unshift(async (ctx, next) => {
    await next();
    if (ctx.path === '/.well-known/openid-configuration' && ctx.body) {
      delete ctx.body.authorization_response_iss_parameter_supported;
    }
    const to = ctx.response.get('location');
    if (to && to.includes('iss=')) {
      const u = new URL(to);
      if (u.searchParams.has('code') || u.searchParams.has('error')) {
        u.searchParams.delete('iss');
        ctx.response.set('location', u.href);
      }
    }
  });
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

provider.use(async (ctx, next) => {
  const m = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (!m) return next();
  if (ctx.method === 'GET') {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Partner sign-in</title>
<form method="post" action="/interaction/${escapeHtml(details.uid)}">
<label>Login <input name="login" value="${escapeHtml(details.params.login_hint ?? '')}"></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button>
</form>`;
    return undefined;
  }
  if (ctx.method === 'POST') {
    const form = await readForm(ctx.req);
    const login = form.get('login') ?? '';
    const account = accounts[login];
    let result;
    if (account && account.password === form.get('password')) {
      result = { login: { accountId: login, acr, amr, remember: false } };
    } else {
      result = { error: 'access_denied', error_description: 'wrong login or password' };
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(to);
    return undefined;
  }
  return next();
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${issuer}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  // Keep-alive connections would hold close() open; do not wait for them.
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
