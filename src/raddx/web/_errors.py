"""The HTTP door's one error mapping (STYLE rule 7): domain errors → problem+json.

Routes and their helpers raise :mod:`raddx.errors` classes or the two media-type errors
below, never ``HTTPException``; the handlers registered by :func:`install_error_handlers` turn
them into RFC 9457 ``application/problem+json`` answers. Starlette finds a handler through the
exception's MRO, so a subclass of a domain error gets its parent's status.

Request validation (FastAPI's checks of declared parameters and bodies) and the framework's
own HTTP errors (unknown path 404, wrong method 405) answer in the same format. A request
whose path or query parameters are malformed is a 400; a body that is well-formed JSON but
fails the declared model is a 422 (RFC 9110 15.5.1, 15.5.21). Validation problems carry an
``errors`` member listing each offending location and why.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from raddx.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OutOfResources,
    RaddxError,
    Unauthenticated,
)

__all__ = [
    "WWW_AUTHENTICATE",
    "NotAcceptable",
    "UnsupportedMediaType",
    "install_error_handlers",
]

log = logging.getLogger(__name__)

#: The challenges of every 401 answer.
WWW_AUTHENTICATE = 'Bearer realm="raddx", Basic realm="raddx", charset="UTF-8"'
#: The challenge of a 401 to the web application's scripts (``X-Requested-With:
#: XMLHttpRequest``): a Basic challenge would make the browser pop up its own password dialog
#: over the application's login page.
WWW_AUTHENTICATE_SCRIPT = 'Bearer realm="raddx"'


def _challenge(request: Request) -> str:
    if request.headers.get("x-requested-with", "").lower() == "xmlhttprequest":
        return WWW_AUTHENTICATE_SCRIPT
    return WWW_AUTHENTICATE


class NotAcceptable(RaddxError):
    """Nothing in the request's Accept header is a representation we produce (HTTP 406)."""


class UnsupportedMediaType(RaddxError):
    """The request's payload is of a media type we do not take (HTTP 415)."""


#: Domain error class → HTTP status. Subclasses inherit their parent's row (MRO lookup).
_STATUS: dict[type[RaddxError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    NotAcceptable: 406,
    Conflict: 409,
    UnsupportedMediaType: 415,
    OutOfResources: 503,
    RaddxError: 500,
}

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    406: "Not Acceptable",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any
) -> JSONResponse:
    """An RFC 9457 problem document with ``detail`` meant for the person who sent the request
    (``extensions`` become extension members, e.g. ``errors``)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
    }
    body["detail"] = detail
    body.update(extensions)
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
    if status >= 500:
        log.warning("request failed path=%s error=%s", request.url.path, type(exc).__name__)
    # RFC 9110 11.6.1: a 401 names the schemes that would work (API token as Bearer, or
    # user/password or token in Basic).
    headers = {"WWW-Authenticate": _challenge(request)} if status == 401 else None
    return problem(status, str(exc), headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", ""))}
        for error in exc.errors()
    ]
    in_body = any(e["loc"][:1] == ["body"] for e in errors)
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
    return problem(422 if in_body else 400, detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
    return problem(exc.status_code, detail, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's ServerErrorMiddleware calls this and then re-raises, so uvicorn logs the
    # traceback; the client gets the generic failure without internals.
    return problem(500, "internal error; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Register the one handler per domain error class on ``app``, and the generic 500
    for anything else."""
    for cls in _STATUS:
        app.add_exception_handler(cls, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
