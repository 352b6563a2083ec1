"""How every ``/fhir`` route is declared and how its errors are answered.

FHIR clients expect errors as an OperationOutcome, not problem+json, so the FHIR door maps
domain errors itself — once, here, in the route class every FHIR route uses (the FastAPI
way of handling a router's exceptions): :class:`raddx.errors` classes and request validation
become an OperationOutcome with the matching HTTP status (R4 http.html: 400 unparsable or
invalid, 404 unknown resource, 409 conflict, 415 media type, 422 a business rule or profile
refuses the content). Other errors (authentication, permission, unexpected ones) are left
to the app's handlers, which own their headers and logging.

Routes declare an access-control action like the /api routes
(:func:`raddx.web.api._route.authorize`; ``fhir.read``, ``fhir.write``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from raddx.errors import Conflict, InvalidInput, NotFound, OutOfResources, RaddxError
from raddx.web._errors import UnsupportedMediaType
from raddx.web.api._route import authorize

__all__ = [
    "MEDIA_TYPE",
    "FhirResponse",
    "Unprocessable",
    "endpoint",
    "fhir_router",
    "operation_outcome",
]

MEDIA_TYPE = "application/fhir+json"
F = TypeVar("F", bound=Callable[..., Any])


class Unprocessable(InvalidInput):
    """The resource parses but a business rule refuses it (HTTP 422 in FHIR)."""


class FhirResponse(JSONResponse):
    """A FHIR JSON resource (UTF-8, Japanese unescaped)."""

    media_type = MEDIA_TYPE


#: Domain error → (HTTP status, OperationOutcome issue code); first match in MRO order.
_OUTCOMES: tuple[tuple[type[RaddxError], int, str], ...] = (
    (Unprocessable, 422, "processing"),
    (InvalidInput, 400, "invalid"),
    (NotFound, 404, "not-found"),
    (Conflict, 409, "conflict"),
    (UnsupportedMediaType, 415, "not-supported"),
    (OutOfResources, 503, "transient"),
)


def operation_outcome(
    status: int, code: str, diagnostics: str, *, severity: str = "error"
) -> FhirResponse:
    """An OperationOutcome answer with one issue."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }
    return FhirResponse(body, status_code=status)


class _FhirRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                    for e in exc.errors()
                )
                return operation_outcome(400, "invalid", detail or "invalid request")
            except RaddxError as exc:
                for cls, status, code in _OUTCOMES:
                    if isinstance(exc, cls):
                        return operation_outcome(status, code, str(exc))
                # Authentication, permission and unexpected errors: the app's handlers.
                raise

        return route


def fhir_router(tag: str) -> APIRouter:
    """The router of one FHIR resource type; its routes answer errors as OperationOutcome."""
    return APIRouter(tags=[tag], route_class=_FhirRoute)


def endpoint(
    router: APIRouter,
    method: str,
    path: str,
    *,
    action: str,
    status_code: int = 200,
    summary: str | None = None,
) -> Callable[[F], F]:
    """Declare a FHIR route: JSON in ``application/fhir+json``, an access-control action."""
    return router.api_route(
        path,
        methods=[method],
        status_code=status_code,
        summary=summary,
        response_class=FhirResponse,
        dependencies=[Depends(authorize(action))],
        openapi_extra={"x-raddx-action": action},
    )
