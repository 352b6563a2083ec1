"""Parameters every FHIR search route takes, and the site's timezone."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Query

from raddx.archive.datetimes import offset_minutes
from raddx.reports.profile import DEFAULT_UTC_OFFSET_HOURS
from raddx.services import Services

__all__ = ["Count", "Offset", "page_size", "site_timezone"]

Count = Annotated[
    int | None,
    Query(alias="_count", ge=1, le=1000, description="Entries per page (default: setting)."),
]
Offset = Annotated[
    int, Query(alias="_offset", ge=0, le=1_000_000_000, description="Entries to skip.")
]


def page_size(services: Services, count: int | None) -> int:
    """``_count`` or the configured page size."""
    return count or services.settings.fhir_page_size


def site_timezone(services: Services) -> dt.timezone:
    """The timezone of date-times without one: ``default_timezone_offset``, else UTC+9
    (Japanese sites; the reports' default too)."""
    minutes = offset_minutes(services.settings.default_timezone_offset)
    if minutes is None:
        minutes = DEFAULT_UTC_OFFSET_HOURS * 60
    return dt.timezone(dt.timedelta(minutes=minutes))
