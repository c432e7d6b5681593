"""Python examples (Authlib)."""

WEB = '''# pip install authlib httpx
# Tangsel SSO: %%APP_NAME%%
import os
import secrets

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

ISSUER = %%ISSUER%%
CLIENT_ID = %%CLIENT_ID%%
CLIENT_SECRET = %%SECRET%%
REDIRECT_URI = %%REDIRECT_URI%%

meta = httpx.get(ISSUER + "/.well-known/openid-configuration").json()
client = OAuth2Client(
    CLIENT_ID, CLIENT_SECRET, scope=%%SCOPE%%, redirect_uri=REDIRECT_URI,
    code_challenge_method="S256", token_endpoint_auth_method=%%AUTH_METHOD%%,
)


def login_url():
    """Send the person to the URL; keep the rest in their session until the callback."""
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    return url, {"state": state, "verifier": verifier, "nonce": nonce}


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
        options={"iss": {"essential": True, "value": ISSUER},
                 "aud": {"essential": True, "value": CLIENT_ID}},
        params={"nonce": saved["nonce"], "access_token": token["access_token"]},
    )
    claims.validate(leeway=30)  # tolerate a little clock skew
    return claims, token  # claims["sub"], claims.get("name"), claims.get("email") …
'''

MACHINE = '''# pip install authlib httpx
# Tangsel SSO: %%APP_NAME%% (client credentials: the app acts for itself, for no person)
import os

import httpx
from authlib.integrations.httpx_client import OAuth2Client

ISSUER = %%ISSUER%%
CLIENT_ID = %%CLIENT_ID%%

meta = httpx.get(ISSUER + "/.well-known/openid-configuration").json()
client = OAuth2Client(
    CLIENT_ID, os.environ["TANGSEL_CLIENT_SECRET"],
    token_endpoint_auth_method=%%AUTH_METHOD%%,
)


def access_token():
    """A fresh access token for this app (ask again when it expires: token["expires_in"])."""
    token = client.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    return token["access_token"]
'''
