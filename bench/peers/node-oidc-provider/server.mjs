// Peer benchmark target: panva's node-oidc-provider on loopback, in-memory storage.
// Copied from ../../../shared/peers/ (the common yardstick) and changed for `make bench-peers`:
// refresh tokens rotate (rotateRefreshToken), CHAINS refresh tokens are minted (one chain per
// wrk connection), and opaque userinfo access tokens are minted for GET /me.
//
// Usage: node server.mjs [port]           (or PORT=... node server.mjs)
// Env:
//   PORT           listen port on 127.0.0.1 (default 3100)
//   AT_ALG         signing alg for JWT access tokens and ID tokens: RS256 | ES256 | EdDSA (default RS256)
//   STATE_FILE     where to write {refresh_token, opaque_access_token, ...} once ready
//                  (default ./state.json next to this script)
//
// Clients (secrets are throwaway, loopback-only benchmark values):
//   bench-cc  / bench-cc-secret   client_credentials, client_secret_basic
//   bench-web / bench-web-secret  authorization_code + refresh_token, client_secret_basic
//
// Resource servers (RFC 8707 resource indicators):
//   urn:bench:jwt     JWT access tokens (default resource for client_credentials)
//   urn:bench:opaque  opaque access tokens (needed for introspection; node-oidc-provider
//                     refuses to introspect structured/JWT tokens)
//
// Storage is node-oidc-provider's built-in in-memory (LRU) adapter: this measures the
// protocol/crypto/HTTP cost with zero database overhead, like Ory Hydra's published
// in-memory benchmarks.

import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import Provider from 'oidc-provider';

const here = dirname(fileURLToPath(import.meta.url));
const port = Number(process.argv[2] || process.env.PORT || 3100);
const host = '127.0.0.1';
const issuer = `http://${host}:${port}`;
const alg = process.env.AT_ALG || 'RS256';
const stateFile = process.env.STATE_FILE || join(here, 'state.json');
const chains = Number(process.env.CHAINS || 32);

function jwk(type, opts, extra) {
  const { privateKey } = generateKeyPairSync(type, opts);
  return { ...privateKey.export({ format: 'jwk' }), use: 'sig', ...extra };
}

// One key per algorithm family; the first key matching an alg is used for signing.
const keys = [
  jwk('rsa', { modulusLength: 2048 }, { kid: 'rsa-1', alg: 'RS256' }),
  jwk('ec', { namedCurve: 'P-256' }, { kid: 'ec-1', alg: 'ES256' }),
  jwk('ed25519', {}, { kid: 'ed-1', alg: 'EdDSA' }),
];

const resourceServers = {
  'urn:bench:jwt': {
    scope: 'api:read',
    audience: 'urn:bench:jwt',
    accessTokenFormat: 'jwt',
    accessTokenTTL: 300,
    jwt: { sign: { alg } },
  },
  'urn:bench:opaque': {
    scope: 'api:read',
    audience: 'urn:bench:opaque',
    accessTokenFormat: 'opaque',
    accessTokenTTL: 3600,
  },
};

const configuration = {
  clients: [
    {
      client_id: 'bench-cc',
      client_secret: 'bench-cc-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'api:read',
    },
    {
      client_id: 'bench-web',
      client_secret: 'bench-web-secret',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1:9/cb'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: alg,
    },
  ],
  jwks: { keys },
  scopes: ['openid', 'offline_access', 'api:read'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  cookies: { keys: ['bench-cookie-key-not-secret'] },
  pkce: { required: () => true },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: `${sub}@example.invalid`, email_verified: true };
      },
    };
  },
  enabledJWA: {
    idTokenSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Any authenticated confidential client may introspect (benchmark setting).
      allowedPolicy: async (ctx, client) => client.clientAuthMethod !== 'none',
    },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf || 'urn:bench:jwt',
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        const info = resourceServers[resourceIndicator];
        if (!info) throw new Provider.errors.InvalidTarget();
        return info;
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    ClientCredentials: 300,
    AccessToken: 3600,
    IdToken: 300,
    RefreshToken: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
  clientBasedCORS: () => false,
  // Each refresh answers with a new refresh token and consumes the old one, as ours does.
  rotateRefreshToken: true,
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, err) => { console.error('server_error', err); });

// Mint a grant + refresh token for bench-web directly through the provider's models,
// so the refresh_token grant can be load-tested without a browser login.
async function mintState() {
  const client = await provider.Client.find('bench-web');
  const now = Math.floor(Date.now() / 1000);
  const refreshTokens = [];
  const userinfoTokens = [];
  for (let i = 0; i < chains; i += 1) {
    const accountId = `bench-user-${i}`;
    const grant = new provider.Grant({ accountId, clientId: 'bench-web' });
    grant.addOIDCScope('openid email offline_access');
    grant.addResourceScope('urn:bench:jwt', 'api:read');
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({
      accountId,
      client,
      grantId,
      scope: 'openid email offline_access api:read',
      resource: 'urn:bench:jwt',
      gty: 'authorization_code',
      authTime: now,
      iiat: now,
    });
    refreshTokens.push(await rt.save());
    // An opaque access token for the userinfo endpoint (no resource: audience is userinfo).
    const at = new provider.AccessToken({
      accountId,
      client,
      grantId,
      scope: 'openid email',
      gty: 'authorization_code',
    });
    userinfoTokens.push(await at.save());
  }
  const refreshToken = refreshTokens[0];

  const ccClient = await provider.Client.find('bench-cc');
  const opaque = new provider.ClientCredentials({ client: ccClient, scope: 'api:read' });
  opaque.resourceServer = new provider.ResourceServer('urn:bench:opaque', resourceServers['urn:bench:opaque']);
  const opaqueAccessToken = await opaque.save();

  return {
    issuer,
    alg,
    pid: process.pid,
    cc_client_id: 'bench-cc',
    cc_client_secret: 'bench-cc-secret',
    web_client_id: 'bench-web',
    web_client_secret: 'bench-web-secret',
    refresh_token: refreshToken,
    refresh_tokens: refreshTokens,
    userinfo_tokens: userinfoTokens,
    opaque_access_token: opaqueAccessToken,
  };
}

const server = provider.listen(port, host, async () => {
  try {
    const state = await mintState();
    writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
    console.log(`node-oidc-provider listening on ${issuer} (pid ${process.pid}, alg ${alg}); state written to ${basename(stateFile)}`);
  } catch (err) {
    console.error('failed to mint benchmark state', err);
    process.exit(1);
  }
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
