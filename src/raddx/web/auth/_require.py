"""Deny by default on the HTTP door: every route declares the permission it needs.

One mechanism for every router: ``dependencies=[require("archive.read")]`` on a route or on
an ``include_router`` call, or ``dependencies=[public()]`` for the few routes anyone may call
(``/healthz``, the login itself). :func:`declare_actions` copies each route's declaration into
its OpenAPI operation (``x-raddx-action``), and a test fails for any route of
``create_app(...)`` that declares nothing.

The dependency authenticates the request (``raddx.security.Authenticator``), puts the
principal on ``request.state.principal`` (the audit trail reads it there) and checks the
policy. A request authenticated by the session cookie alone that would change something
(POST, PUT, PATCH, DELETE) must also show it comes from a script of this origin
(:data:`CSRF_HEADER`, or the browser's ``Sec-Fetch-Site: same-origin``): a form another site
posts carries the cookie but neither header, so it is refused (cross-site request forgery).

A cached credential is resolved on the event loop; anything needing the database or an
Argon2 verification runs in the thread pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, cast

import fastapi.routing
from fastapi import Depends, FastAPI, Request
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from raddx.errors import Forbidden, Unauthenticated
from raddx.security import Authenticator, Principal, permissions
from raddx.security.peers import security_alert

__all__ = [
    "ACTION_ATTR",
    "CSRF_HEADER",
    "PUBLIC",
    "PUBLIC_FRAMEWORK_PATHS",
    "SELF_ACTION",
    "SESSION_COOKIE",
    "SYSTEM_PRINCIPAL",
    "CurrentPrincipal",
    "declare_actions",
    "is_api_route",
    "iter_routes",
    "permission",
    "public",
    "require",
    "route_action",
]


#: Attribute on a dependency function naming the action it checks.
ACTION_ATTR = "__raddx_action__"
#: The marker of routes anyone may call.
PUBLIC = "public"
#: One's own login (whoami, logout, 2FA enrolment): any authenticated principal holds it,
#: including a session that must still enrol 2FA.
SELF_ACTION = "auth.self"
#: The browser session cookie (``/api/auth/login``).
SESSION_COOKIE = "raddx_session"
#: The header a cookie-authenticated unsafe request must carry (ui/src/api.ts sends it). A
#: cross-site HTML form cannot set a request header, and a cross-site script cannot either
#: without a CORS preflight that raddx does not grant (cors_allow_origins empty by default).
CSRF_HEADER = "X-Requested-With"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Routes of the framework itself, without patient data, that anyone may read: the OpenAPI
#: document and its viewers (clients and schemathesis read the document).
PUBLIC_FRAMEWORK_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
#: Who acts when ``security_enforced`` is off (benchmark only).
SYSTEM_PRINCIPAL = Principal(name="raddx-unenforced", role="admin", kind="system")


def _authenticator(request: Request) -> Authenticator | None:
    return cast(Authenticator | None, getattr(request.app.state, "authenticator", None))


def _refuse_cross_site(request: Request, header: str | None) -> None:
    """Refuse (403) an unsafe request that only the session cookie authenticates and that
    does not show it comes from this origin's scripts (OWASP CSRF cheat sheet: custom request
    header; Fetch Metadata). Bearer and Basic credentials are never sent by a browser on its
    own, so requests carrying them need neither header."""
    if request.method in _SAFE_METHODS or header or SESSION_COOKIE not in request.cookies:
        return
    if request.headers.get(CSRF_HEADER) or request.headers.get("sec-fetch-site") == "same-origin":
        return
    # A security event, audited like other refusals (Security Alert, Use of Restricted
    # Function): a forged request is an attack on the logged-in user's session. The user is
    # not named (the cookie is not even looked at, so a forged request has no side effect);
    # the address and the Origin/Referer show where the page that sent it came from.
    security_alert(
        "cross-site request refused",
        subject=request.client.host if request.client else None,
        restricted_function=True,
        method=request.method,
        path=request.url.path,
        origin=request.headers.get("origin") or request.headers.get("referer") or "-",
        fetch_site=request.headers.get("sec-fetch-site") or "-",
    )
    raise Forbidden(
        f"a {request.method} authenticated by the session cookie must carry the header "
        f"'{CSRF_HEADER}: XMLHttpRequest' (cross-site request forgery protection); "
        "scripts and machine clients: send it, or use a Bearer token"
    )


async def _principal(request: Request) -> Principal:
    found = getattr(request.state, "principal", None)
    if found is not None:
        return cast(Principal, found)
    auth = _authenticator(request)
    if auth is None:
        principal = SYSTEM_PRINCIPAL
    else:
        header = request.headers.get("authorization")
        _refuse_cross_site(request, header)
        host = request.client.host if request.client else None
        cached = auth.cached(header, host)
        principal = cached or await run_in_threadpool(
            lambda: auth.authenticate(
                authorization=header, session_cookie=request.cookies.get(SESSION_COOKIE), host=host
            )
        )
    request.state.principal = principal
    return principal


def permission(action: str) -> Callable[[Request], Awaitable[Principal | None]]:
    """The dependency function that checks ``action`` (see :func:`require`).

    An action missing from the permission catalogue (``raddx/security/policy.yaml``) is
    held by no role: the route answers 403 saying so, and the route-enumeration test fails.
    """
    unknown = action != PUBLIC and action not in permissions()

    async def check(request: Request) -> Principal | None:
        if action == PUBLIC:
            return None
        principal = await _principal(request)
        auth = _authenticator(request)
        if unknown and auth is not None:
            raise Forbidden(f"action {action!r} is not in raddx/security/policy.yaml: add it")
        denied = auth is not None and not auth.policy.allows(principal.role, action)
        if denied and action != SELF_ACTION:
            # A refusal is a security event (MHLW guideline: access attempts beyond one's
            # rights are recorded): Security Alert, Use of Restricted Function.
            security_alert(
                "HTTP request refused",
                subject=principal.name,
                restricted_function=True,
                role=principal.role,
                action=action,
                method=request.method,
                path=request.url.path,
            )
            raise Forbidden(f"role {principal.role!r} does not hold {action!r}")
        return principal

    check.__name__ = f"require_{action.replace('.', '_')}"
    setattr(check, ACTION_ATTR, action)
    return check


def require(action: str) -> Any:
    """``Depends`` that authenticates the request and requires ``action``; use it in a
    route's or an ``include_router``'s ``dependencies``."""
    return Depends(permission(action))


def public() -> Any:
    """``Depends`` marking a route that anyone may call, without credentials."""
    return Depends(permission(PUBLIC))


def iter_routes(app: FastAPI) -> Iterator[Any]:
    """Every route of ``app`` as served, routers included. FastAPI from 0.16x keeps an
    included router as one lazy entry (``fastapi.routing.iter_route_contexts`` walks them,
    with the router's dependencies combined); older releases copy the routes flat."""
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    if walk is None:
        yield from app.routes
    else:
        yield from walk(app.routes)


def is_api_route(route: Any) -> bool:
    """True for a FastAPI route (as yielded by :func:`iter_routes`), False for a framework
    route such as ``/openapi.json``."""
    return isinstance(getattr(route, "original_route", route), APIRoute)


def route_action(route: Any) -> str | None:
    """The action a route (from :func:`iter_routes`, or an ``APIRoute``) declared: the
    last one if several (the route's own comes after its router's), or None."""
    found = None
    for dep in getattr(route, "dependencies", None) or ():
        if isinstance(dep, DependsParam) and dep.dependency is not None:
            found = getattr(dep.dependency, ACTION_ATTR, found)
    return found


def declare_actions(app: FastAPI) -> None:
    """Publish each operation's action in the OpenAPI document (``x-raddx-action``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        paths = schema.get("paths", {})
        for route in iter_routes(app):
            action = route_action(route) if is_api_route(route) else None
            item = paths.get(getattr(route, "path_format", None) or route.path)
            if action is None or item is None:
                continue
            for method in route.methods or ():
                operation = item.get(method.lower())
                if operation is not None:
                    operation["x-raddx-action"] = action
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _current(request: Request) -> Principal:
    found = getattr(request.state, "principal", None)
    if found is None:
        raise Unauthenticated("authentication required")
    return cast(Principal, found)


#: The principal of the request, for routes that need it (after their ``require``).
CurrentPrincipal = Annotated[Principal, Depends(_current)]
