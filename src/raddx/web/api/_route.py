"""How every ``/api`` route is declared: one helper, so each route has a tag, a response
model, documented problem answers and an *action* name.

The action (``"archive.read"``, ``"archive.delete"``, …) is the hook for access control
(issue 9): it is recorded in the OpenAPI operation (``x-raddx-action``) and passed to
:func:`authorize`, a dependency every route runs before its body. Today it lets everything
through; a permission check goes there, in one place, for every route at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends

from raddx.web.api._models import Problem
from raddx.web.auth import permission

__all__ = ["PROBLEM_RESPONSES", "api_router", "endpoint"]

F = TypeVar("F", bound=Callable[..., Any])


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "model": Problem,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


#: The problem+json answers every /api route may give (RFC 9457; raddx.web._errors).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("Malformed path or query parameter (e.g. not a UID, limit below 1)."),
    401: _problem("No valid credentials (Bearer token, Basic, or session cookie)."),
    403: _problem("The caller's role does not hold this route's permission."),
    404: _problem("No such resource (never stored, soft-deleted or purged)."),
    409: _problem("The request contradicts stored state (e.g. already deleted, duplicate)."),
    422: _problem("The JSON body does not match the declared model."),
}


def authorize(action: str) -> Callable[..., Any]:
    """The access-control check of one route: authenticates the request and requires
    ``action`` (``raddx.web.auth.permission``; deny by default, issue 9)."""
    return permission(action)


def api_router(tag: str) -> APIRouter:
    """The router of one resource: every route on it carries ``tag``."""
    return APIRouter(tags=[tag], responses=PROBLEM_RESPONSES)


def endpoint(
    router: APIRouter,
    method: str,
    path: str,
    *,
    action: str,
    response_model: Any,
    status_code: int = 200,
    summary: str | None = None,
    responses: dict[int | str, dict[str, Any]] | None = None,
    response_class: Any = None,
) -> Callable[[F], F]:
    """Declare a route on ``router``; the only way /api routes are declared. ``responses``
    documents a success answer that is not JSON (a file download)."""
    return router.api_route(
        path,
        methods=[method],
        response_model=response_model,
        status_code=status_code,
        summary=summary,
        responses=responses,
        **({"response_class": response_class} if response_class is not None else {}),
        dependencies=[Depends(authorize(action))],
        openapi_extra={"x-raddx-action": action},
    )
