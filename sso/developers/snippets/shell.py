"""curl examples (bash): the authorization code flow by hand, and client credentials."""

CODE_FLOW = """#!/usr/bin/env bash
# Needs curl, openssl and jq. Tangsel SSO: %%APP_NAME%%
set -euo pipefail
%%SECRET_CHECK%%
CLIENT_ID=%%CLIENT_ID%%
REDIRECT_URI=%%REDIRECT_URI%%
TOKEN_ENDPOINT=%%TOKEN_ENDPOINT%%
USERINFO_ENDPOINT=%%USERINFO_ENDPOINT%%

# PKCE: a random verifier and its S256 challenge; a random state.
VERIFIER=$(openssl rand -base64 60 | tr -d '\\n=+/' | cut -c1-64)
CHALLENGE=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
STATE=$(openssl rand -hex 16)

# 1. Open this address in a browser and sign in; you land on the redirect URI with
#    ?code=…&state=… (check that state is the one printed here).
echo %%AUTHORIZE_URL%%"&state=$STATE&code_challenge=$CHALLENGE"
echo "state: $STATE"
read -r -p "code: " CODE

# 2. Trade the code for tokens (%%AUTH_METHOD%%).
TOKENS=$(curl -sS --fail-with-body %%CURL_AUTH%% \\
  --data-urlencode grant_type=authorization_code \\
  --data-urlencode "code=$CODE" \\
  --data-urlencode "redirect_uri=$REDIRECT_URI" \\
  --data-urlencode "code_verifier=$VERIFIER" \\
  "$TOKEN_ENDPOINT")

# 3. Who signed in.
ACCESS_TOKEN=$(jq -r .access_token <<<"$TOKENS")
curl -sS --fail-with-body -H "Authorization: Bearer $ACCESS_TOKEN" "$USERINFO_ENDPOINT"
"""

MACHINE = """#!/usr/bin/env bash
# Tangsel SSO: %%APP_NAME%% (client credentials: the app acts for itself, for no person)
set -euo pipefail
%%SECRET_CHECK%%
CLIENT_ID=%%CLIENT_ID%%

curl -sS --fail-with-body %%CURL_AUTH%% \\
  -d grant_type=client_credentials \\
  %%TOKEN_ENDPOINT%%
"""

SECRET_CHECK = (
    ': "${TANGSEL_CLIENT_SECRET:?the secret shown once when the app was registered or its'
    ' secret rotated}"\n'
)
CURL_BASIC = '-u "$CLIENT_ID:$TANGSEL_CLIENT_SECRET"'
CURL_POST = '--data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret=$TANGSEL_CLIENT_SECRET"'
CURL_PUBLIC = '--data-urlencode "client_id=$CLIENT_ID"'
