"""JavaScript examples: Node.js with openid-client v6, a browser app with oauth4webapi v3 (both
ES modules)."""

NODE_WEB = """// npm install openid-client express express-session   (Node.js 20 or later)
// Tangsel SSO: %%APP_NAME%%
import express from "express";
import session from "express-session";
import * as client from "openid-client";

const ISSUER = new URL(%%ISSUER%%);
const CLIENT_ID = %%CLIENT_ID%%;
const REDIRECT_URI = %%REDIRECT_URI%%;
const SCOPE = %%SCOPE%%;

// %%AUTH_COMMENT%%
const config = await client.discovery(ISSUER, CLIENT_ID, undefined, %%CLIENT_AUTH%%%%NODE_OPTIONS%%);

const app = express();
app.use(session({ secret: process.env.SESSION_SECRET, resave: false, saveUninitialized: false }));

app.get("/login", async (req, res) => {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  req.session.tangsel = { verifier, state, nonce };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
  });
  res.redirect(url.href);
});

// The redirect URI: check state and nonce, trade the code (PKCE), check the ID token.
app.get(new URL(REDIRECT_URI).pathname, async (req, res, next) => {
  try {
    const saved = req.session.tangsel;
    delete req.session.tangsel;
    if (!saved) return res.status(400).send("No login in progress");
    const currentUrl = new URL(req.originalUrl, REDIRECT_URI);
    const tokens = await client.authorizationCodeGrant(config, currentUrl, {
      pkceCodeVerifier: saved.verifier,
      expectedState: saved.state,
      expectedNonce: saved.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims(); // sub, name, email …
    req.session.user = { sub: claims.sub, name: claims.name };
    res.redirect("/");
  } catch (error) {
    next(error);
  }
});

app.listen(Number(process.env.PORT) || 3000);
"""

NODE_MACHINE = """// npm install openid-client   (Node.js 20 or later)
// Tangsel SSO: %%APP_NAME%% (client credentials: the app acts for itself, for no person)
import * as client from "openid-client";

const ISSUER = new URL(%%ISSUER%%);
const CLIENT_ID = %%CLIENT_ID%%;

// %%AUTH_COMMENT%%
const config = await client.discovery(ISSUER, CLIENT_ID, undefined, %%CLIENT_AUTH%%%%NODE_OPTIONS%%);

const tokens = await client.clientCredentialsGrant(config);
console.log(tokens.access_token, tokens.expires_in); // ask again when it expires
"""

NODE_INSECURE = """, {
  execute: [client.allowInsecureRequests], // this deployment has no https (development only)
}"""

BROWSER = """// npm install oauth4webapi   (bundled by Vite, webpack … into the page)
// Tangsel SSO: %%APP_NAME%%. A public client: PKCE instead of a secret.
import * as oauth from "oauth4webapi";

const ISSUER = new URL(%%ISSUER%%);
const CLIENT_ID = %%CLIENT_ID%%;
const REDIRECT_URI = %%REDIRECT_URI%%;
const SCOPE = %%SCOPE%%;

const client = { client_id: CLIENT_ID };
const clientAuth = oauth.None();
const options = %%BROWSER_OPTIONS%%;

async function serverMetadata() {
  const response = await oauth.discoveryRequest(ISSUER, options);
  return oauth.processDiscoveryResponse(ISSUER, response);
}

export async function login() {
  const as = await serverMetadata();
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  sessionStorage.setItem("tangsel_login", JSON.stringify({ verifier, state, nonce }));
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set("client_id", CLIENT_ID);
  url.searchParams.set("redirect_uri", REDIRECT_URI);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("scope", SCOPE);
  url.searchParams.set("state", state);
  url.searchParams.set("nonce", nonce);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(verifier));
  url.searchParams.set("code_challenge_method", "S256");
  location.assign(url);
}

// On the page at REDIRECT_URI: check the response, trade the code, check the ID token.
export async function handleCallback() {
  const saved = JSON.parse(sessionStorage.getItem("tangsel_login") ?? "null");
  sessionStorage.removeItem("tangsel_login");
  if (!saved) throw new Error("No login in progress");
  const as = await serverMetadata();
  const params = oauth.validateAuthResponse(as, client, new URL(location.href), saved.state);
  const response = await oauth.authorizationCodeGrantRequest(
    as, client, clientAuth, params, REDIRECT_URI, saved.verifier, options,
  );
  const result = await oauth.processAuthorizationCodeResponse(as, client, response, {
    expectedNonce: saved.nonce,
    requireIdToken: true,
  });
  const claims = oauth.getValidatedIdTokenClaims(result); // sub, name, email …
  return { claims, accessToken: result.access_token }; // keep tokens in memory, not storage
}
"""
