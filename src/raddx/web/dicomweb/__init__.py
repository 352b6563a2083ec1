"""DICOMweb (PS3.18 10): the Studies Service under ``/dicom-web`` — QIDO-RS search, WADO-RS
retrieve (with rendered images and thumbnails) and STOW-RS store — and WADO-URI at ``/wado``,
on the same query engine, retrieve and ingest services as the DIMSE door."""

from __future__ import annotations

from fastapi import APIRouter

from raddx.web.auth import require
from raddx.web.dicomweb import bulkdata, frames, qido, rendered, stow, thumbnail, wado, wado_uri

__all__ = ["PREFIX", "router", "uri_router"]

#: Where the Studies Service lives ({+SERVICE} of PS3.18 10.1).
PREFIX = "/dicom-web"

#: Every search and retrieve needs dicomweb.read, STOW-RS dicomweb.store (raddx.web.auth).
_READ = require("dicomweb.read")

router = APIRouter(prefix=PREFIX)
router.include_router(qido.router, dependencies=[_READ])
router.include_router(wado.router, dependencies=[_READ])
router.include_router(frames.router, dependencies=[_READ])
router.include_router(bulkdata.router, dependencies=[_READ])
router.include_router(rendered.router, dependencies=[_READ])
router.include_router(thumbnail.router, dependencies=[_READ])
router.include_router(stow.router, dependencies=[require("dicomweb.store")])

#: WADO-URI lives beside the Studies Service, at ``/wado`` (PS3.18 9).
uri_router = APIRouter()
uri_router.include_router(wado_uri.router, dependencies=[_READ])
