"""Value conversions shared by the formats: date-times, person-name components."""

from __future__ import annotations

import datetime as dt
import re

from raddx.reports.profile import DEFAULT_UTC_OFFSET_HOURS

__all__ = ["DEFAULT_TZ", "format_ts", "parse_ts", "split_name"]

DEFAULT_TZ = dt.timezone(dt.timedelta(hours=DEFAULT_UTC_OFFSET_HOURS))

_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?$")


def format_ts(value: dt.datetime) -> str:
    """HL7 TS / DTM with seconds and offset: ``YYYYMMDDHHMMSS+ZZZZ``."""
    return value.strftime("%Y%m%d%H%M%S%z")


def parse_ts(value: str) -> dt.datetime:
    """An HL7 TS/DTM (any precision down to the year, optional fraction and offset) or ISO
    8601; no offset = :data:`DEFAULT_TZ`.

    Raises
    ------
    ValueError
        Not a date-time in either form.
    """
    text = value.strip()
    m = _TS.match(text)
    if m:
        y, mo, d, h, mi, s, off = m.groups()
        tz = DEFAULT_TZ
        if off:
            sign = -1 if off[0] == "-" else 1
            tz = dt.timezone(sign * dt.timedelta(hours=int(off[1:3]), minutes=int(off[3:5])))
        return dt.datetime(
            int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0), tzinfo=tz
        )
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a date-time (YYYYMMDD[HHMMSS] or ISO 8601)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=DEFAULT_TZ)


def split_name(value: str) -> tuple[str, str]:
    """(family, given) of a PN-style ``family^given`` name."""
    family, _, rest = value.partition("^")
    return family, rest.split("^", 1)[0] if rest else ""
