"""What a login yields: the person (:class:`RPUser`, from the userinfo claims and the app's own
role grants), or why it failed (:class:`LoginFailed`, with a message key per known error code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Error codes an authorization response may carry that have their own message; any other code
# gets the generic "login failed" text (and its code shown, never a description from the wire).
KNOWN_ERRORS = frozenset(
    {
        "access_denied",
        "login_required",
        "consent_required",
        "interaction_required",
        "account_selection_required",
        "invalid_scope",
        "unauthorized_client",
        "server_error",
        "temporarily_unavailable",
        "mismatching_state",
        "invalid_response",
        "invalid_token",
        "provider_unavailable",
    }
)


class LoginFailed(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code

    @property
    def message_key(self) -> str:
        return f"error.{self.code}" if self.code in KNOWN_ERRORS else "error.login_failed"


@dataclass(frozen=True)
class RPUser:
    """The person logged in, from the userinfo claims (plus locally granted roles)."""

    sub: str
    name: str
    email: str | None
    username: str | None
    roles: frozenset[str]
    agency_code: str | None
    agency_name: str | None
    claims: dict[str, Any] = field(repr=False)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @classmethod
    def from_claims(
        cls, claims: dict[str, Any], grant_roles: dict[str, list[str]] | None = None
    ) -> RPUser:
        roles = claims.get("roles")
        role_set = {r for r in roles if isinstance(r, str)} if isinstance(roles, list) else set()
        username = claims.get("preferred_username")
        for key in (claims.get("sub"), username):
            if isinstance(key, str) and grant_roles and key in grant_roles:
                role_set.update(grant_roles[key])
        opd = claims.get("opd") if isinstance(claims.get("opd"), dict) else {}
        name = claims.get("name") or username or claims.get("email") or claims["sub"]
        return cls(
            sub=str(claims["sub"]),
            name=str(name),
            email=claims.get("email"),
            username=username if isinstance(username, str) else None,
            roles=frozenset(role_set),
            agency_code=opd.get("code") if isinstance(opd.get("code"), str) else None,
            agency_name=opd.get("name") if isinstance(opd.get("name"), str) else None,
            claims=claims,
        )
