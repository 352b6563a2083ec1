"""FHIR search syntax → the RIS's search objects (R4 search.html), and searchset Bundles.

Only the door knows FHIR's parameter syntax: tokens ``[system|]code``, dates with the
prefixes ``eq ge le gt lt`` at year, month or day precision (several values are ANDed),
references ``Patient/<id>``, comma-separated alternatives, ``_count`` and our ``_offset``
paging (what the ``next`` link carries).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from raddx.errors import InvalidInput
from raddx.ris.fhir import DateRange

__all__ = ["base_url", "date_range", "literal", "searchset", "split_token"]

_DATE = re.compile(r"^(eq|ge|le|gt|lt|ne|sa|eb|ap)?(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(T.*)?$")


#: DICOM matching's special characters (PS3.4 C.2.2.2.4 wildcards, PS3.5 6.4 value separator).
_DICOM_SPECIAL = frozenset("*?\\")


def literal(value: str, name: str) -> str:
    """``value`` of the search parameter ``name``, to be matched literally by the archive's
    DICOM matching (issue 9, bad input).

    FHIR string and token values hold no wildcards (R4 search.html, string and token), but the
    archive's matching reads ``*`` and ``?`` as wildcards and ``\\`` as a list: an
    ``identifier=*`` would otherwise match every study.

    Raises
    ------
    InvalidInput
        ``value`` holds ``*``, ``?`` or ``\\`` (no stored value of these attributes can).
    """
    if _DICOM_SPECIAL.intersection(value):
        raise InvalidInput(f"search parameter {name}: the characters * ? \\ are not supported")
    return value


def split_token(value: str) -> tuple[str | None, str]:
    """``system|code`` → ``(system, code)``; ``code`` alone → ``(None, code)``; ``|code``
    (no system) → ``("", code)``."""
    if "|" in value:
        system, _, code = value.partition("|")
        return system, code
    return None, value


def _span(m: re.Match[str]) -> tuple[dt.date, dt.date]:
    year = int(m[2])
    try:
        if m[4]:
            day = dt.date(year, int(m[3]), int(m[4]))
            return day, day
        if m[3]:
            month = int(m[3])
            last = calendar.monthrange(year, month)[1]
            return dt.date(year, month, 1), dt.date(year, month, last)
    except (ValueError, calendar.IllegalMonthError):
        raise InvalidInput(f"{m[0]!r} is not a date") from None
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def date_range(values: list[str], name: str) -> DateRange | None:
    """The days every value of a date parameter allows (R4 search 3.1.1.4.2, day
    precision: a time part is ignored).

    Raises
    ------
    InvalidInput
        Not a date; a prefix we do not support (ne, sa, eb, ap).
    """
    if not values:
        return None
    result = DateRange()
    for value in values:
        m = _DATE.match(value.strip())
        if not m:
            raise InvalidInput(f"{name}={value!r} is not a FHIR date (e.g. ge2026-01-01)")
        prefix = m[1] or "eq"
        if prefix not in ("eq", "ge", "le", "gt", "lt"):
            raise InvalidInput(f"{name}: prefix {prefix!r} is not supported (eq ge le gt lt)")
        first, last = _span(m)
        day = dt.timedelta(days=1)
        this = {
            "eq": DateRange(first, last),
            "ge": DateRange(first, None),
            "gt": DateRange(last + day, None),
            "le": DateRange(None, last),
            "lt": DateRange(None, first - day),
        }[prefix]
        result = result.intersect(this)
    return result


def base_url(request: Request) -> str:
    """The FHIR base URL as the client addressed us (``http://host:port/fhir``)."""
    return str(request.base_url).rstrip("/") + "/fhir"


def searchset(
    request: Request,
    resource_type: str,
    resources: list[dict[str, Any]],
    *,
    offset: int,
    count: int,
    more: bool,
    total: int | None = None,
) -> dict[str, Any]:
    """A ``searchset`` Bundle of ``resources`` with ``self`` and, when ``more``, ``next``
    (the same parameters with ``_offset`` moved on by ``_count``)."""
    base = base_url(request)
    params = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("_offset", "_count")
    ]

    def link(at: int) -> str:
        return f"{base}/{resource_type}?" + urlencode([*params, ("_count", count), ("_offset", at)])

    links = [{"relation": "self", "url": link(offset)}]
    if more:
        links.append({"relation": "next", "url": link(offset + count)})
    if offset > 0:
        links.append({"relation": "previous", "url": link(max(0, offset - count))})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    bundle["entry"] = [
        {
            "fullUrl": f"{base}/{resource_type}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    return bundle
