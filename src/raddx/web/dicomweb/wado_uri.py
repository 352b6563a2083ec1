"""WADO-URI (PS3.18 9): ``GET /wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…``
for legacy clients, answered with the stored object (``contentType=application/dicom``).

The same retrieve as WADO-RS (:func:`.wado.instance_bytes`); the bytes are sent as stored.
Rendered answers (``image/jpeg``, the standard's default for images, ``image/png``…) are not
produced yet: asking for them, or leaving contentType out, is 406 with a reason naming
``contentType=application/dicom``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from raddx.errors import InvalidInput
from raddx.web._errors import NotAcceptable
from raddx.web.deps import ServicesDep
from raddx.web.dicomweb.wado import instance_bytes

__all__ = ["router"]

_DICOM = "application/dicom"
_REQUIRED = ("studyUID", "seriesUID", "objectUID")

router = APIRouter(tags=["WADO-URI"])


@router.get("/wado")
def wado_uri(request: Request, services: ServicesDep) -> Response:
    """Retrieve one DICOM object by its UIDs (PS3.18 9.1, 9.2).

    400 when requestType is not WADO or a UID parameter is missing (or not a UID); 404 for
    an unknown object; 406 for a content type other than application/dicom, or a
    transferSyntax other than the stored one (no transcoding).
    """
    params = request.query_params
    if params.get("requestType") != "WADO":
        raise InvalidInput("requestType=WADO is required (PS3.18 9.1.2.1.1)")
    missing = [name for name in _REQUIRED if not params.get(name)]
    if missing:
        raise InvalidInput(f"missing parameter(s): {', '.join(missing)}")
    wanted = [t.split(";")[0].strip() for t in params.get("contentType", "").split(",")]
    if _DICOM not in wanted:
        raise NotAcceptable(
            "only contentType=application/dicom is served (rendered images are not yet); "
            f"asked for {params.get('contentType') or 'the default image/jpeg'}"
        )
    data, stored = instance_bytes(
        services, params["studyUID"], params["seriesUID"], params["objectUID"]
    )
    syntax = params.get("transferSyntax")
    if syntax and syntax != stored:
        raise NotAcceptable(
            f"transferSyntax {syntax} asked for, the object is stored as {stored} and "
            "transcoding is not supported"
        )
    return Response(data, media_type=_DICOM)
