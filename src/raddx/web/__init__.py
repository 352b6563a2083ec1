"""The HTTP door (FastAPI): health now; DICOMweb, REST API and UI as their issues land."""

from __future__ import annotations

from raddx.web.app import create_app

__all__ = ["create_app"]
