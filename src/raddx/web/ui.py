"""The web application (issue 10): the built front end (``ui/`` → ``ui_dist``) at ``/ui/``.

Static files only, all public: they hold no patient data, and everything they show comes from
the API, which checks the browser's session cookie (``/api/auth/login``). ``/`` redirects to
``/ui/``. A path that is no file answers the application page (client-side routes); a build
that is missing answers 503 saying how to build it (``make ui``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from raddx.web.auth import public

__all__ = ["UI_DIST", "router"]

#: Where ``npm run build`` in ``ui/`` writes (vite.config.ts ``outDir``).
UI_DIST = Path(__file__).parent / "ui_dist"
#: Vite names bundled assets by content hash: a browser may keep them for good.
_IMMUTABLE = "public, max-age=31536000, immutable"

router = APIRouter(tags=["ui"], include_in_schema=False)


@router.get("/", dependencies=[public()])
def home() -> RedirectResponse:
    """The web application."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/{path:path}", dependencies=[public()])
def ui_file(path: str) -> Response:
    """A file of the built front end, or its ``index.html`` for any other path."""
    root = UI_DIST.resolve()
    index = root / "index.html"
    if not index.is_file():
        return PlainTextResponse(
            "the web application is not built: run `make ui` (npm ci && npm run build in ui/)",
            status_code=503,
        )
    try:
        candidate = (root / path).resolve()
        found = candidate != index and candidate.is_relative_to(root) and candidate.is_file()
    except (ValueError, OSError):  # a NUL byte or an over-long name: no file of ours
        found = False
    if found:
        headers = {"Cache-Control": _IMMUTABLE} if path.startswith("assets/") else None
        return FileResponse(candidate, headers=headers)
    if path.startswith("assets/"):
        return PlainTextResponse("not found", status_code=404)
    # index.html itself must be re-read after an upgrade (it names the new hashed assets).
    return FileResponse(index, headers={"Cache-Control": "no-cache"})
