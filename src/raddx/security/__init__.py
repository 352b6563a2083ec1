"""Security: accounts, authorisation, the audit trail (issue 9).

The audit trail's public names live in :mod:`raddx.security.audit` (``record`` and the event
values); import them from there.
"""

from __future__ import annotations

from raddx.security import accounts, sessions, tokens, totp
from raddx.security.authenticator import (
    PENDING_MFA_ROLE,
    Authenticator,
    AuthRules,
    rules_from_settings,
)
from raddx.security.policy import (
    ROLES,
    Permission,
    Policy,
    default_policy,
    load_policy,
    permissions,
)
from raddx.security.principal import Principal, PrincipalKind

__all__ = [
    "PENDING_MFA_ROLE",
    "ROLES",
    "AuthRules",
    "Authenticator",
    "Permission",
    "Policy",
    "Principal",
    "PrincipalKind",
    "accounts",
    "default_policy",
    "load_policy",
    "permissions",
    "rules_from_settings",
    "sessions",
    "tokens",
    "totp",
]
