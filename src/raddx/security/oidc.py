"""Optional OIDC: raddx as a resource server accepting an identity provider's access tokens
(JWT, RFC 7519) for sites that already run one (Keycloak, Entra ID, …).

A token is accepted only if its signature verifies with a key from the provider's JWKS
(fetched over HTTP and cached), its algorithm is on the allow-list (asymmetric only: never
``none``, never HMAC, so a public key cannot be used as a shared secret), and ``iss``, ``aud``,
``exp`` and ``sub`` are present and right. The role comes from a claim (``roles`` by default):
the first of its values that is a role of the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jwt

from raddx.errors import Unauthenticated
from raddx.security.policy import Policy
from raddx.security.principal import Principal

__all__ = ["ALLOWED_ALGORITHMS", "OidcConfig", "OidcValidator"]

#: Asymmetric signatures only (RFC 8725 3.1: the verifier fixes the algorithms).
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks_url: str
    role_claim: str = "roles"
    name_claim: str = "preferred_username"
    leeway_seconds: int = 30


class OidcValidator:
    """Validates bearer JWTs against one issuer's JWKS (keys cached for 5 minutes)."""

    def __init__(self, config: OidcConfig, policy: Policy) -> None:
        self.config = config
        self.policy = policy
        self._jwks = jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300, timeout=10)

    def principal(self, token: str, host: str | None) -> Principal:
        """The principal of a valid token.

        Raises
        ------
        Unauthenticated
            Malformed, a disallowed algorithm, an unknown key, a bad signature, expired, or
            the wrong issuer or audience; or no claimed role is a raddx role.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("malformed bearer token") from None
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise Unauthenticated(f"token algorithm {header.get('alg')!r} is not accepted")
        try:
            key = self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError:
            raise Unauthenticated("token signed with an unknown key") from None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid bearer token: {exc}") from None
        role = self._role(claims.get(self.config.role_claim))
        name = str(claims.get(self.config.name_claim) or claims["sub"])[:64]
        return Principal(name=name, role=role, kind="user", host=host)

    def _role(self, claimed: object) -> str:
        values: Sequence[object] = [claimed] if isinstance(claimed, str) else claimed or []  # type: ignore[assignment]
        for value in values if isinstance(values, list | tuple) else []:
            if isinstance(value, str) and value in self.policy.roles:
                return value
        raise Unauthenticated(f"the token's {self.config.role_claim!r} claim names no raddx role")
