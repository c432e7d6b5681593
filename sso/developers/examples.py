"""Short, working integration examples for one app, filled with its real values.

Python (Authlib, authorization code + PKCE, the ID token checked) for apps that log people in,
JavaScript (``fetch`` + PKCE, no library) for single-page and native apps, and curl for
machine-to-machine apps (client credentials). Values are written as JSON string literals,
which are valid in Python and JavaScript whatever characters a URI holds; secrets are never
in an example (read from the environment: the secret is shown once and kept by its owner).
"""

from __future__ import annotations

import json
import shlex

from sso.db.models import Client

PYTHON = '''# pip install authlib httpx
import os
import secrets

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

ISSUER = {issuer}
CLIENT_ID = {client_id}
CLIENT_SECRET = {secret}
REDIRECT_URI = {redirect_uri}

meta = httpx.get(ISSUER + "/.well-known/openid-configuration").json()
client = OAuth2Client(
    CLIENT_ID, CLIENT_SECRET, scope={scope}, redirect_uri=REDIRECT_URI,
    code_challenge_method="S256", token_endpoint_auth_method={auth_method},
)


def login_url():
    """Send the person to the URL; keep the rest in their session until the callback."""
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    return url, {{"state": state, "verifier": verifier, "nonce": nonce}}


def callback(callback_url, saved):
    """At REDIRECT_URI: trade the code for tokens, then check the ID token."""
    token = client.fetch_token(
        meta["token_endpoint"], authorization_response=callback_url,
        state=saved["state"], code_verifier=saved["verifier"],
    )
    keys = KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())
    decoded = jwt.decode(token["id_token"], keys)
    claims = CodeIDToken(
        decoded.claims, decoded.header,
        options={{"iss": {{"essential": True, "value": ISSUER}},
                 "aud": {{"essential": True, "value": CLIENT_ID}}}},
        params={{"nonce": saved["nonce"], "access_token": token["access_token"]}},
    )
    claims.validate(leeway=30)  # tolerate a little clock skew
    return claims, token  # claims["sub"], claims.get("name"), claims.get("email") …
'''

JAVASCRIPT = '''const ISSUER = {issuer};
const CLIENT_ID = {client_id};
const REDIRECT_URI = {redirect_uri};

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const metadata = () => fetch(ISSUER + "/.well-known/openid-configuration").then((r) => r.json());

export async function login() {{
  const meta = await metadata();
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  sessionStorage.setItem("tangsel_login", JSON.stringify({{ verifier, state }}));
  const url = new URL(meta.authorization_endpoint);
  url.search = new URLSearchParams({{
    response_type: "code", client_id: CLIENT_ID, redirect_uri: REDIRECT_URI,
    scope: {scope}, state, code_challenge: b64url(digest), code_challenge_method: "S256",
  }});
  location.assign(url);
}}

// On REDIRECT_URI: exchange the code (PKCE instead of a secret).
export async function handleCallback() {{
  const params = new URLSearchParams(location.search);
  const saved = JSON.parse(sessionStorage.getItem("tangsel_login") || "{{}}");
  sessionStorage.removeItem("tangsel_login");
  if (!params.get("code") || params.get("state") !== saved.state) throw new Error("login failed");
  const meta = await metadata();
  const response = await fetch(meta.token_endpoint, {{
    method: "POST",
    body: new URLSearchParams({{
      grant_type: "authorization_code", code: params.get("code"),
      redirect_uri: REDIRECT_URI, client_id: CLIENT_ID, code_verifier: saved.verifier,
    }}),
  }});
  if (!response.ok) throw new Error("token request failed");
  return response.json(); // {{ access_token, id_token, refresh_token, expires_in }}
}}
'''

CURL = '''export CLIENT_ID={client_id}
export CLIENT_SECRET='…'   # shown once when the app was registered or its secret rotated

curl -s -u "$CLIENT_ID:$CLIENT_SECRET" \\
  -d grant_type=client_credentials \\
  {token_endpoint}
'''


def _q(value: str) -> str:
    return json.dumps(value)


def examples(client: Client, issuer: str) -> dict[str, str]:
    """``{"python": …, "javascript": …, "curl": …}`` — the ones that fit the app."""
    out: dict[str, str] = {}
    redirect = (client.redirect_uris or [""])[0]
    if "authorization_code" in (client.grant_types or []):
        confidential = not client.is_public
        out["python"] = PYTHON.format(
            issuer=_q(issuer),
            client_id=_q(client.client_id),
            secret='os.environ["TANGSEL_CLIENT_SECRET"]' if confidential else "None",
            redirect_uri=_q(redirect),
            scope=_q(client.scope),
            auth_method=_q(client.token_endpoint_auth_method),
        )
        if client.is_public:
            out["javascript"] = JAVASCRIPT.format(
                issuer=_q(issuer), client_id=_q(client.client_id),
                redirect_uri=_q(redirect), scope=_q(client.scope),
            )
    if "client_credentials" in (client.grant_types or []):
        out["curl"] = CURL.format(
            client_id=shlex.quote(client.client_id),
            token_endpoint=shlex.quote(issuer + "/token"),
        )
    return out
