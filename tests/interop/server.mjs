// A third-party OAuth 2.0 authorization server (npm oidc-provider) configured to behave like
// Microsoft Entra ID v1 where the connector depends on it, so the connector's grants can be proven
// against code nobody on this project wrote. For tests only: it keeps everything in memory, accepts
// any user name at its login page and serves plain http on 127.0.0.1.
//
// Usage: node server.mjs CONFIG.json   (or INTEROP_CONFIG=CONFIG.json node server.mjs)
// When ready it prints one JSON line on stdout: {"issuer", "port", "token_endpoint", ...}.
// It exits on SIGTERM/SIGINT and when its stdin closes (unless INTEROP_WATCH_STDIN=0), so a test run
// that dies cannot leave it behind. Diagnostics (the real reason behind oidc-provider's generic error
// bodies) go to stderr; secrets, assertions and tokens are never written there.

import { constants, createHash, generateKeyPairSync, randomBytes, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import process from 'node:process';

import Provider, { errors } from 'oidc-provider';

const SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];

function log(message) {
  process.stderr.write(`[interop] ${message}\n`);
}

function readConfig() {
  const path = process.argv[2] || process.env.INTEROP_CONFIG;
  if (!path) {
    throw new Error('usage: node server.mjs CONFIG.json (or set INTEROP_CONFIG)');
  }
  const config = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(config.clients) || !Array.isArray(config.resources)) {
    throw new Error(`${path}: "clients" and "resources" must be arrays`);
  }
  return config;
}

const base64url = (buffer) => buffer.toString('base64url');

// --- private_key_jwt: the assertion must name the registered certificate that signed it --------------

// node:crypto's verify() parameters for each JWS algorithm of RFC 7518 §3.
function verifyParameters(alg) {
  const digest = `sha${alg.slice(2)}`;
  if (alg.startsWith('RS')) return { digest, options: { padding: constants.RSA_PKCS1_PADDING } };
  if (alg.startsWith('PS')) {
    return { digest, options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 } };
  }
  if (alg.startsWith('ES')) return { digest, options: { dsaEncoding: 'ieee-p1363' } };
  return undefined;
}

function registeredCertificates(client) {
  const certificates = [];
  for (const jwk of client.jwks?.keys ?? []) {
    if (Array.isArray(jwk.x5c) && jwk.x5c.length > 0) {
      const der = Buffer.from(jwk.x5c[0], 'base64');
      certificates.push({
        x5t: base64url(createHash('sha1').update(der).digest()),
        x5tS256: base64url(createHash('sha256').update(der).digest()),
        publicKey: new X509Certificate(der).publicKey,
      });
    }
  }
  return certificates;
}

// oidc-provider has already verified the signature against *some* key of the client's JWKS; Entra
// additionally identifies the certificate by the x5t / x5t#S256 header. Both headers, when present,
// must name the same registered certificate, and that certificate's key must be the one that signed.
async function assertCertificateThumbprint(ctx, _claims, header, client) {
  if (client.clientAuthMethod !== 'private_key_jwt') return;
  const x5t = header.x5t;
  const x5tS256 = header['x5t#S256'];
  if (x5t === undefined && x5tS256 === undefined) {
    throw new errors.InvalidClientAuth('client assertion header has neither x5t nor x5t#S256');
  }
  const certificate = registeredCertificates(client).find(
    (c) => (x5t === undefined || x5t === c.x5t) && (x5tS256 === undefined || x5tS256 === c.x5tS256),
  );
  if (!certificate) {
    throw new errors.InvalidClientAuth(
      'client assertion x5t / x5t#S256 does not match any certificate registered for the client',
    );
  }
  const parameters = verifyParameters(header.alg);
  const [encodedHeader, encodedPayload, signature] = ctx.oidc.params.client_assertion.split('.');
  const signed = parameters && verify(
    parameters.digest,
    Buffer.from(`${encodedHeader}.${encodedPayload}`),
    { key: certificate.publicKey, ...parameters.options },
    Buffer.from(signature, 'base64url'),
  );
  if (!signed) {
    throw new errors.InvalidClientAuth('client assertion was not signed by the certificate its thumbprint names');
  }
}

// --- the provider -----------------------------------------------------------------------------------

function signingKey() {
  // Random per start, as Entra's keys are unknown in advance: a test must fetch the JWKS each run.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: base64url(randomBytes(12)), alg: 'RS256', use: 'sig' };
}

function buildProvider(issuer, config) {
  const resources = new Map(config.resources.map((r) => [r.identifier, r]));
  const accessTokenTTL = config.accessTokenTTL ?? 3600;
  const refreshTokenTTL = config.refreshTokenTTL ?? 14 * 24 * 3600;

  const provider = new Provider(issuer, {
    clients: config.clients,
    jwks: { keys: [signingKey()] },
    cookies: { keys: [base64url(randomBytes(32))] },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: SIGNING_ALGS },
    assertJwtClientAuthClaimsAndHeader: assertCertificateThumbprint,
    pkce: { required: () => true },
    // Entra v1 authorization requests carry `resource` and often no scope; the app's permissions on that
    // resource are what the user consents to. oidc-provider grants nothing without a scope, so a request
    // naming none of the resource's scopes asks for all of them. (Runs on the authorization endpoint only,
    // after `resource` has been validated.)
    extraParams: {
      resource: async (ctx, value) => {
        const requested = ctx.oidc.requestParamScopes;
        const added = [];
        for (const indicator of [].concat(value ?? [])) {
          const scopes = (resources.get(indicator)?.scope ?? '').split(' ').filter(Boolean);
          if (!scopes.some((scope) => requested.has(scope))) added.push(...scopes);
        }
        if (added.length) ctx.oidc.params.scope = [...requested, ...added].join(' ');
      },
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A token request that does not repeat `resource` (refresh, code exchange) gets the granted one.
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? config.defaultResource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          const resource = resources.get(indicator);
          if (!resource) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
          return {
            audience: indicator,
            scope: resource.scope ?? '',
            accessTokenTTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    // Entra issues a refresh token with every authorization-code grant; oidc-provider only with the
    // `offline_access` scope. Follow Entra: any client allowed the refresh_token grant gets one, and it
    // outlives the browser session.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    rotateRefreshToken: true,
    ttl: {
      AccessToken: accessTokenTTL,
      ClientCredentials: accessTokenTTL,
      RefreshToken: refreshTokenTTL,
      AuthorizationCode: 60,
      Grant: refreshTokenTTL,
      Interaction: 600,
      Session: 3600,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: async (ctx, out) => {
      ctx.type = 'text/plain';
      ctx.body = `${out.error}: ${out.error_description ?? ''}\n`;
    },
  });
  provider.proxy = false;

  const report = (event) => (ctxOrErr, maybeErr) => {
    const err = maybeErr ?? ctxOrErr;
    const ctx = maybeErr ? ctxOrErr : undefined;
    const client = ctx?.oidc?.client?.clientId ?? ctx?.oidc?.params?.client_id ?? '-';
    const cause = err.cause ? ` (cause: ${[err.cause.code, err.cause.message ?? err.cause].filter(Boolean).join(' ')})` : '';
    // error_detail is the specific reason oidc-provider keeps out of its generic error_description.
    const detail = err.error_detail ? ` [${err.error_detail}]` : '';
    log(`${event} client=${client} ${err.error ?? err.name}: ${err.error_description ?? err.message}${detail}${cause}`);
  };
  for (const event of ['grant.error', 'authorization.error', 'server_error', 'revocation.error', 'jwks.error',
    'discovery.error', 'userinfo.error']) {
    provider.on(event, report(event));
  }
  provider.on('grant.success', (ctx) => {
    log(`grant.success client=${ctx.oidc.client?.clientId} grant_type=${ctx.oidc.params.grant_type}`);
  });
  provider.on('grant.revoked', (_ctx, grantId) => log(`grant.revoked grant=${grantId}`));
  return provider;
}

// --- login and consent pages (what devInteractions does, without its "do not use" banner) -----------

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, title, action, fields) {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`<!DOCTYPE html><html><head><title>${escapeHtml(title)}</title></head><body>
<h1>${escapeHtml(title)}</h1>
<form method="post" action="${escapeHtml(action)}">
${fields}
<button type="submit">Continue</button>
</form></body></html>`);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function consentGrant(provider, details) {
  const { prompt: { details: missing }, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

async function interaction(provider, req, res, path) {
  const [uid, step] = path.split('/').slice(2);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new errors.InvalidRequest('interaction mismatch');
  const { prompt } = details;

  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      page(res, 'Sign in', `/interaction/${uid}/login`,
        '<input name="login" value="">\n<input name="password" type="password" value="">');
    } else {
      page(res, 'Consent', `/interaction/${uid}/consent`, `<input type="hidden" name="client" value="${escapeHtml(details.params.client_id)}">`);
    }
    return;
  }
  if (req.method === 'POST' && step === 'login' && prompt.name === 'login') {
    const form = await readForm(req);
    const login = (form.get('login') ?? '').trim();
    if (!login) {
      page(res, 'Sign in (a user name is required)', `/interaction/${uid}/login`,
        '<input name="login" value="">\n<input name="password" type="password" value="">');
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    return;
  }
  if (req.method === 'POST' && step === 'consent' && prompt.name === 'consent') {
    await readForm(req);
    const grantId = await consentGrant(provider, details);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  res.statusCode = 400;
  res.end(`unexpected ${req.method} ${step ?? ''} at the ${prompt.name} prompt\n`);
}

// --- start and stop ---------------------------------------------------------------------------------

function main() {
  const config = readConfig();
  let provider;
  let callback;

  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://localhost').pathname;
    if (!path.startsWith('/interaction/')) {
      callback(req, res);
      return;
    }
    interaction(provider, req, res, path).catch((err) => {
      log(`interaction.error ${err.name}: ${err.error_description ?? err.message}`);
      if (!res.headersSent) {
        res.statusCode = err.statusCode ?? 500;
        res.setHeader('Content-Type', 'text/plain');
      }
      res.end(`${err.error ?? 'server_error'}: ${err.error_description ?? ''}\n`);
    });
  });

  const stop = (why) => {
    log(`stopping (${why})`);
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (process.env.INTEROP_WATCH_STDIN !== '0') {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin error'));
    process.stdin.resume();
  }

  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const { port } = server.address();
    const issuer = `http://127.0.0.1:${port}`;
    try {
      provider = buildProvider(issuer, config);
      callback = provider.callback();
    } catch (err) {
      log(`failed to start: ${err.stack ?? err}`);
      process.exit(2);
    }
    process.stdout.write(`${JSON.stringify({
      issuer,
      port,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      revocation_endpoint: `${issuer}/token/revocation`,
    })}\n`);
  });
}

try {
  main();
} catch (err) {
  log(`failed to start: ${err.stack ?? err}`);
  process.exit(2);
}
