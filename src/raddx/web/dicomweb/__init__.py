"""DICOMweb (PS3.18 10): the Studies Service under ``/dicom-web`` — QIDO-RS search, WADO-RS
retrieve (with rendered images and thumbnails) and STOW-RS store — and WADO-URI at ``/wado``,
on the same query engine, retrieve and ingest services as the DIMSE door."""

from __future__ import annotations

from fastapi import APIRouter

from raddx.web.dicomweb import bulkdata, frames, qido, rendered, stow, thumbnail, wado, wado_uri

__all__ = ["PREFIX", "router", "uri_router"]

#: Where the Studies Service lives ({+SERVICE} of PS3.18 10.1).
PREFIX = "/dicom-web"

router = APIRouter(prefix=PREFIX)
router.include_router(qido.router)
router.include_router(wado.router)
router.include_router(frames.router)
router.include_router(bulkdata.router)
router.include_router(rendered.router)
router.include_router(thumbnail.router)
router.include_router(stow.router)

#: WADO-URI lives beside the Studies Service, at ``/wado`` (PS3.18 9).
uri_router = wado_uri.router
