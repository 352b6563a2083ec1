"""The REST management API under ``/api`` (OpenAPI at ``/docs``): archive browsing, soft
delete/restore/purge, statistics, remote AEs with C-ECHO, send/retrieve jobs, and RIS orders.

A door like the others: each route decodes, calls one domain service and encodes; errors
are problem+json (``raddx.web._errors``). Every route is declared through
:func:`raddx.web.api._route.endpoint` (tag, response model, access-control action).
"""

from __future__ import annotations

from fastapi import APIRouter

from raddx.web.api import (
    admin,
    audit,
    deid_jobs,
    hl7,
    instances,
    jj1017,
    jobs,
    measurements,
    orders,
    patients,
    reading_list,
    reconciliation,
    remote_aes,
    series,
    studies,
    study_files,
    system,
    worklist,
)
from raddx.web.api._deps import install

__all__ = ["MODULES", "PREFIX", "install", "router"]

PREFIX = "/api"

#: The resource modules; each has a ``router`` (tests enumerate them to check every route).
MODULES = (
    audit,
    patients,
    studies,
    series,
    instances,
    admin,
    remote_aes,
    jobs,
    deid_jobs,
    orders,
    jj1017,
    reconciliation,
    hl7,
    worklist,
    system,
    reading_list,
    study_files,
    measurements,
)

router = APIRouter(prefix=PREFIX)
for _module in MODULES:
    router.include_router(_module.router)
