"""Wiring of the HTTP door's security: the authenticator and the first-run setup code."""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI

from raddx.security import Authenticator, load_policy, rules_from_settings
from raddx.security.accounts import count_users
from raddx.security.oidc import OidcConfig, OidcValidator
from raddx.services import Services

__all__ = ["install"]

log = logging.getLogger(__name__)


def install(app: FastAPI, services: Services) -> None:
    """Put the authenticator on ``app.state`` (None when ``security_enforced`` is off), and,
    when no user exists yet, a one-time setup code (``app.state.setup_code``) that
    ``POST /api/auth/setup`` takes to create the first admin. ``raddx serve`` prints it."""
    settings = services.settings
    policy = load_policy(settings.security_policy_file)
    app.state.policy = policy
    app.state.setup_code = None
    if not settings.security_enforced:
        log.warning("security_enforced=false: the HTTP door checks NO credentials (unsafe)")
        app.state.authenticator = None
        return
    oidc = None
    if settings.oidc_issuer and settings.oidc_jwks_url:
        config = OidcConfig(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            role_claim=settings.oidc_role_claim,
        )
        oidc = OidcValidator(config, policy)
    app.state.authenticator = Authenticator(
        session_factory=services.session_factory,
        policy=policy,
        rules=rules_from_settings(settings),
        oidc=oidc,
    )
    with services.session_factory() as s:
        if count_users(session=s) == 0:
            # 128 bits; printed on the console of whoever started the server, never stored.
            app.state.setup_code = secrets.token_urlsafe(16)
