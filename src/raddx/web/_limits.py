"""Size limits of HTTP requests, enforced in one place for every route (issue 9, bad input).

A pure ASGI middleware, outside routing and authentication, so an oversized request costs
neither a database lookup nor an Argon2 verification. It answers, with problem+json:

* 431 Request Header Fields Too Large (RFC 6585 5) when the request's header fields together
  exceed ``max_header_bytes``;
* 414 URI Too Long (RFC 9110 15.5.15) when the target (path and query) exceeds
  ``max_url_bytes``;
* 413 Content Too Large (RFC 9110 15.5.14) when the body exceeds its limit:
  ``max_json_body_bytes`` for JSON bodies (``application/json``, ``application/*+json``,
  FHIR, anything not declared as upload), ``max_upload_bytes`` for uploads (STOW-RS
  ``multipart/related``, ``application/dicom``, ``application/octet-stream``). A declared
  ``Content-Length`` over the limit is refused before a byte is read; a chunked body is
  counted as it arrives and the read that crosses the limit raises a 413, so the route
  (STOW-RS spools first, then stores) stores nothing.

The HTTP server may refuse earlier with its own answer (uvicorn's h11 parser answers 400 to
a request head over 16 KiB); these limits hold whichever server runs the application.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestLimitsMiddleware"]

#: Media types whose bodies are uploads (counted against ``max_upload_bytes``).
_UPLOAD_TYPES = frozenset(
    {"multipart/related", "application/dicom", "application/octet-stream", "multipart/form-data"}
)


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body crosses its limit; the error handlers
    turn it into the 413 problem document (``raddx.web._errors``)."""


def _problem(status: int, title: str, detail: str) -> tuple[Message, Message]:
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class RequestLimitsMiddleware:
    """Refuses requests whose head or body exceeds the configured sizes (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int,
        max_url_bytes: int,
        max_json_body_bytes: int,
        max_upload_bytes: int,
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_url_bytes = max_url_bytes
        self.max_json_body_bytes = max_json_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        # As on the wire: "name: value\r\n" per field.
        head = sum(len(name) + len(value) + 4 for name, value in headers)
        if head > self.max_header_bytes:
            await self._refuse(
                send,
                431,
                "Request Header Fields Too Large",
                f"the header fields total {head} bytes; the limit is {self.max_header_bytes}",
            )
            return
        path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
        target = len(path) + len(scope.get("query_string", b""))
        if target > self.max_url_bytes:
            await self._refuse(
                send,
                414,
                "URI Too Long",
                f"the request target is {target} bytes; the limit is {self.max_url_bytes}",
            )
            return
        limit, setting = self._body_limit(headers)
        declared = _content_length(headers)
        if declared is not None and declared > limit:
            await self._refuse(send, 413, "Content Too Large", _too_large(setting, limit))
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(413, _too_large(setting, limit))
            return message

        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _BodyTooLarge as exc:
            # Raised outside the error handlers' reach (e.g. by a middleware reading the body).
            if started:
                raise
            await self._refuse(send, 413, "Content Too Large", str(exc.detail))

    def _body_limit(self, headers: list[tuple[bytes, bytes]]) -> tuple[int, str]:
        content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
        media_type = content_type.split(b";")[0].strip().lower().decode("latin-1")
        if media_type in _UPLOAD_TYPES:
            return self.max_upload_bytes, "upload_bytes"
        return self.max_json_body_bytes, "json_body_bytes"

    @staticmethod
    async def _refuse(send: Send, status: int, title: str, detail: str) -> None:
        start, body = _problem(status, title, detail)
        await send(start)
        await send(body)


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(setting: str, limit: int) -> str:
    what = "upload" if setting == "upload_bytes" else "request body"
    return f"the {what} exceeds {limit} bytes (raddx setting max_{setting})"
