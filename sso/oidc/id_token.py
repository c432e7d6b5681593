"""ID tokens (OIDC Core §2, §3.1.3.6, §12.2).

``iss``, ``sub`` (the user id), ``aud`` (the client), ``iat``, ``exp``, ``auth_time``,
``nonce`` (when the authorization request had one; never on refresh), ``at_hash``, ``sid``
(the login session, for logout), ``amr``, ``acr``, ``idp`` (a federated login: the upstream's
issuer), plus the person claims asked for with the
``claims`` parameter (within scope). Signed with the client's ``id_token_signed_response_alg``
when it chose one, else with ``SSO_DEFAULT_SIGNING_ALG`` (RS256 unless configured).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import Encryptor
from sso.db.models import Client, Grant, User
from sso.oauth.tokens import Signer
from sso.oidc.claims import id_token_claims

# Claims we set; a person claim of the same name never overrides them.
PROTOCOL_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "iat",
        "exp",
        "auth_time",
        "nonce",
        "at_hash",
        "sid",
        "amr",
        "acr",
        "idp",
        "azp",
    }
)


def half_hash(value: str) -> str:
    """at_hash / c_hash for RS256 and ES256: left half of SHA-256, base64url (§3.1.3.6)."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def mint_id_token(
    signer: Signer,
    session: Session,
    settings: Settings,
    encryptor: Encryptor,
    *,
    client: Client,
    grant: Grant,
    user: User,
    scope: str,
    access_token: str | None,
    nonce: str | None,
) -> str:
    iat = int(now().timestamp())
    claims: dict[str, Any] = {
        "iss": settings.issuer_url,
        "sub": user.id,
        "aud": client.client_id,
        "iat": iat,
        "exp": iat + settings.id_token_lifetime,
    }
    if grant.auth_time is not None:
        claims["auth_time"] = int(grant.auth_time.timestamp())
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["at_hash"] = half_hash(access_token)
    if grant.login_session_id:
        claims["sid"] = grant.login_session_id
    if grant.amr:
        claims["amr"] = list(grant.amr)
    if grant.acr:
        claims["acr"] = grant.acr
    if grant.idp:
        # A federated login (amr "fed"): the issuer of the upstream the person came through,
        # under the name Microsoft Entra ID gives the same fact (no registered claim exists).
        claims["idp"] = grant.idp
    person = id_token_claims(session, encryptor, user, client, scope.split(), grant.claims)
    claims.update({k: v for k, v in person.items() if k not in PROTOCOL_CLAIMS})
    alg = client.id_token_signed_response_alg or settings.default_signing_alg
    return signer.sign_jwt(claims, alg, None, session=session)
