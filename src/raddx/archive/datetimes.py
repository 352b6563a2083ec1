"""Date-times as instants: DT values and DA/TM pairs to UTC text that sorts like time.

PS3.5 Table 6.2-1 lets a DT carry its own offset (``&ZZXX``); without one the value is in the
offset of TimezoneOffsetFromUTC (0008,0201) of the object, when present (PS3.3 C.12.1.1.8).
Range matching on DT (PS3.4 C.2.2.2.5) must compare instants: ``20240101100000+0900`` and
``20240101010000+0000`` are the same moment, though their text differs. The index keeps the
verbatim value for answers and, beside it, the value this module computes.

A value whose offset is unknown (neither in the value nor in the object) is taken as UTC:
the archive cannot know where it was made, and treating it as UTC keeps such values
comparable with each other exactly as their text is (docs/conformance.md says so).

Precision is kept: ``2024`` stays a year, so that a range bound ``-2024`` still covers all of
2024 by prefix (see ``raddx.archive.query.matching``). A value with an offset is shifted
only as far as it is precise to the hour; coarser values (a year, a month, a day with an
offset) are kept as written, since shifting them would invent a time of day.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["date_time_utc", "offset_minutes", "study_instant_utc"]

_DT = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$")
_OFFSET = re.compile(r"^([+-])(\d{2})(\d{2})$")


def offset_minutes(offset: str | None) -> int | None:
    """Minutes east of UTC of a ``&ZZXX`` offset (``+0900`` is 540); ``None`` when absent
    or malformed (PS3.5 Table 6.2-1 allows -1200 to +1400)."""
    if not offset:
        return None
    m = _OFFSET.match(offset.strip())
    if not m:
        return None
    hours, minutes = int(m.group(2)), int(m.group(3))
    if hours > 14 or minutes > 59:
        return None
    total = hours * 60 + minutes
    return -total if m.group(1) == "-" else total


def date_time_utc(value: str | None, default_offset: str | None = None) -> str | None:
    """The UTC form of a DT value, as precise as the value (see module docstring).

    ``default_offset`` is the object's TimezoneOffsetFromUTC, used when the value has no
    offset of its own. Returns ``None`` for a value that is not a DT.
    """
    if not value:
        return None
    m = _DT.match(value.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, own_offset = m.groups()
    limits = ((month, 1, 12), (day, 1, 31), (hour, 0, 23), (minute, 0, 59), (second, 0, 60))
    if any(part is not None and not low <= int(part) <= high for part, low, high in limits):
        return None  # PS3.5 Table 6.2-1 ranges (60: a leap second)
    offset = offset_minutes(own_offset) if own_offset else offset_minutes(default_offset)
    digits = "".join(g for g in (year, month, day, hour, minute, second) if g)
    if offset is None or offset == 0 or hour is None:
        return digits + (fraction or "") if second else digits
    try:
        local = dt.datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour),
            int(minute or 0),
            min(int(second or 0), 59),  # a leap second shifts as :59
        )
    except ValueError:
        return None
    utc = local - dt.timedelta(minutes=offset)
    text = utc.strftime("%Y%m%d%H%M%S")[: len(digits)]
    return text + (fraction or "") if second else text


def study_instant_utc(
    study_date: str | None, study_time: str | None, offset: str | None
) -> str | None:
    """StudyDate + StudyTime (normalised ``YYYYMMDD``, ``HHMMSS[.ffffff]``) as one UTC
    instant, in the study's TimezoneOffsetFromUTC; midnight when the time is unknown.

    Used by timezone adjustment of queries (PS3.4 C.2.2.2.5: with TimezoneOffsetFromUTC in
    the identifier, dates and midnight are in that timezone): a caller in another timezone asks
    for its own day, which is another span of the study's local dates and times.
    """
    if not study_date:
        return None
    time = (study_time or "000000").ljust(6, "0")
    value = study_date + time
    return date_time_utc(value, offset)
