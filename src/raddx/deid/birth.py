"""Birth-date generalisation and age top-coding (APPI 匿名加工情報: 一般化 and トップコーディング).

PS3.15 Table E.1-1 empties Patient's Birth Date (Z) under every option. Research data often
needs the age structure, so a policy may keep the birth date generalised instead: moved by the
patient's date offset first (so ages computed from the study dates stay right when dates are
shifted), then top-coded (a patient at or above ``top`` years at the reference date is written
as born exactly ``top`` years before it, matching PatientAge ``090Y``), then cut to the first
day of its year or month. A birth date that is not a full DA value is not guessed at: it stays
empty.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from raddx.deid.dates import DateShifter

__all__ = ["BirthDateGranularity", "age_in_years", "bucket_age", "generalise_birth_date"]

BirthDateGranularity = Literal["remove", "year", "year_month"]


def _parse(value: str | None) -> dt.date | None:
    text = (value or "").strip()
    if len(text) != 8 or not text.isdigit() or not text.isascii():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def age_in_years(birth: dt.date, on: dt.date) -> int:
    """Completed years from ``birth`` to ``on``."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def generalise_birth_date(
    birth: str | None,
    *,
    reference: str | None,
    granularity: BirthDateGranularity,
    shifter: DateShifter | None = None,
    top: int | None = None,
) -> str | None:
    """The generalised PatientBirthDate, or ``None`` when it must stay empty.

    Parameters
    ----------
    birth : str or None
        The original DA value.
    reference : str or None
        The original date the age refers to (StudyDate, else another acquisition date).
    granularity : {"remove", "year", "year_month"}
        ``remove`` keeps the table's action (empty); the others keep the year (``YYYY0101``)
        or the year and month (``YYYYMM01``).
    shifter : DateShifter, optional
        The patient's date shift, applied before generalising.
    top : int, optional
        Age top code in years.
    """
    day = _parse(birth)
    if granularity == "remove" or day is None:
        return None
    on = _parse(reference)
    if top is not None and on is not None and age_in_years(day, on) >= top:
        day = _years_before(on, top)
    if shifter is not None:
        day = day - shifter.offset
    if granularity == "year":
        return f"{day.year:04d}0101"
    return f"{day.year:04d}{day.month:02d}01"


def bucket_age(value: str, width: int) -> str | None:
    """``nnnY`` rounded down to a multiple of ``width`` years (``047Y`` → ``045Y`` for 5), or
    ``None`` for an age that is not in years (months, weeks and days are kept)."""
    text = value.strip(" \0")
    if len(text) != 4 or not text[:3].isdigit() or text[3] != "Y":
        return None
    return f"{int(text[:3]) // width * width:03d}Y"
