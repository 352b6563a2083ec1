"""Security headers on every HTTP response (issue 9; MDS2 SAHD, OWASP secure headers).

A pure ASGI middleware (no response body buffering): it only adds headers the route did not
set itself.

* ``Strict-Transport-Security`` on HTTPS responses only (RFC 6797 8.1: ignored over HTTP);
* ``X-Content-Type-Options: nosniff`` — a DICOM or JSON body is never run as script;
* ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'`` — no clickjacking of the UI;
* ``Referrer-Policy: no-referrer`` — URLs carry study UIDs and accession numbers (PHI);
* ``Cache-Control: no-store`` — patient data must not stay in browser or proxy caches.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeadersMiddleware"]

_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = (*_ALWAYS, _HSTS) if scope.get("scheme") == "https" else _ALWAYS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
