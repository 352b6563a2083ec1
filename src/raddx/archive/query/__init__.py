"""Query: the one place matching lives (ARCHITECTURE.md "Query"; PS3.4 C.2.2.2, C.6).

Doors build a :class:`Query` (it validates itself) and call :func:`find` or
:meth:`QueryService.find`; no door matches anything itself.
"""

from __future__ import annotations

from raddx.archive.query.enum import (
    AttributeKindValues,
    InformationModelValues,
    QueryRetrieveLevelValues,
)
from raddx.archive.query.query import Query
from raddx.archive.query.report_status import REPORT_STATUSES, report_status_expression
from raddx.archive.query.service import (
    REPORT_STATUS,
    InstanceRef,
    QueryService,
    count,
    find,
    matching_instances,
)
from raddx.archive.query.worklist import WorklistQuery, WorklistService, find_worklist

__all__ = [
    "REPORT_STATUS",
    "REPORT_STATUSES",
    "AttributeKindValues",
    "InformationModelValues",
    "InstanceRef",
    "Query",
    "QueryRetrieveLevelValues",
    "QueryService",
    "WorklistQuery",
    "WorklistService",
    "count",
    "find",
    "find_worklist",
    "matching_instances",
    "report_status_expression",
]
