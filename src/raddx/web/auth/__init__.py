"""Authentication and authorisation on the HTTP door (issue 9).

:func:`require` / :func:`public` declare what each route needs (deny by default);
:func:`install` puts the process's :class:`~raddx.security.Authenticator` on the app (or none
when ``security_enforced`` is off, benchmark only) and opens first-run bootstrap when no user
exists; :data:`router` is ``/api/auth`` (setup, login, logout, whoami, 2FA, break-glass).
"""

from __future__ import annotations

from raddx.web.auth import admin as _admin
from raddx.web.auth._install import install
from raddx.web.auth._require import (
    ACTION_ATTR,
    PUBLIC,
    PUBLIC_FRAMEWORK_PATHS,
    SELF_ACTION,
    SESSION_COOKIE,
    CurrentPrincipal,
    declare_actions,
    is_api_route,
    iter_routes,
    permission,
    public,
    require,
    route_action,
)
from raddx.web.auth.routes import router

router.include_router(_admin.router)

__all__ = [
    "ACTION_ATTR",
    "PUBLIC",
    "PUBLIC_FRAMEWORK_PATHS",
    "SELF_ACTION",
    "SESSION_COOKIE",
    "CurrentPrincipal",
    "declare_actions",
    "install",
    "is_api_route",
    "iter_routes",
    "permission",
    "public",
    "require",
    "route_action",
    "router",
]
