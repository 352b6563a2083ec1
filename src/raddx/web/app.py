"""The HTTP door's application factory: the health endpoint and DICOMweb (``/dicom-web``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from raddx import __version__
from raddx.security.headers import SecurityHeadersMiddleware
from raddx.services import Services
from raddx.web import api, auth, dicomweb, fhir
from raddx.web._errors import install_error_handlers
from raddx.web._limits import RequestLimitsMiddleware
from raddx.web.reports import router as reports_router
from raddx.web.ui import router as ui_router

__all__ = ["create_app"]


def create_app(services: Services) -> FastAPI:
    """Build the FastAPI application on ``services``."""
    app = FastAPI(title="raddx", version=__version__)
    app.state.services = services
    install_error_handlers(app)
    auth.install(app, services)
    # gzip for JSON (QIDO-RS answers and metadata shrink ~10x); never for DICOM objects,
    # frames and bulk data (multipart/related, mostly compressed or incompressible pixels),
    # which would only cost CPU. Level 6: most of level 9's gain for a fraction of its time.
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1024,
        compresslevel=6,
        exclude_content_types=(
            *DEFAULT_EXCLUDED_CONTENT_TYPES,
            "multipart/related",
            "application/dicom",
            "application/octet-stream",
        ),
    )
    origins = services.settings.cors_allow_origins
    if origins:
        # Browser viewers read the paging Warning and the multipart Content-Type (boundary).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            # Every method a route uses: PATCH edits report drafts (/api/reports), PUT is
            # reserved by DICOMweb (PS3.18 STOW-RS of a specific study).
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["*"],
            expose_headers=["Warning", "Content-Type"],
        )
    app.include_router(auth.router)
    # Size limits before routing and authentication (issue 9, bad input): one place for all.
    app.add_middleware(
        RequestLimitsMiddleware,
        max_header_bytes=services.settings.max_header_bytes,
        max_url_bytes=services.settings.max_url_bytes,
        max_json_body_bytes=services.settings.max_json_body_bytes,
        max_upload_bytes=services.settings.max_upload_bytes,
    )
    # Outermost: every response, errors and CORS preflights included, gets the headers.
    app.add_middleware(SecurityHeadersMiddleware)
    app.include_router(dicomweb.router)
    app.include_router(dicomweb.uri_router)
    app.include_router(reports_router)
    api.install(app, services)
    app.include_router(api.router)
    app.include_router(fhir.router)
    app.include_router(ui_router)

    @app.get("/healthz", tags=["operations"], dependencies=[auth.public()])
    def healthz() -> JSONResponse:
        """Liveness and readiness: the index answers and the blob store is writable.

        200 with ``{"status": "ok"}`` when both work, 503 naming the broken part otherwise
        (for load balancers and ``systemd`` watchdogs)."""
        checks: dict[str, Any] = {}
        try:
            with services.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # report, don't crash: this endpoint exists to say so
            checks["database"] = f"error: {type(exc).__name__}"
        root = services.blobs.root
        checks["storage"] = "ok" if root.is_dir() and _writable(root) else "error: not writable"
        healthy = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if healthy else "error", "version": __version__, **checks}
        return JSONResponse(body, status_code=200 if healthy else 503)

    # Every route declared its permission (deny by default, raddx.web.auth); publish them.
    auth.declare_actions(app)
    return app


def _writable(path: Any) -> bool:
    import os

    return os.access(path, os.W_OK)
