"""Combined date-time matching (PS3.4 C.2.2.2.5, negotiated by byte 2 of the C-FIND extended
negotiation): a date key and its time key (StudyDate with StudyTime, …) are one DT range.

Without it, ``StudyDate=20240101-20240102`` with ``StudyTime=1000-1200`` means "on either day,
between ten and noon"; combined, it means "from 1 January 10:00 to 2 January 12:00". A time
bound stands for its whole precision (``12`` is up to 12:59:59.999999), as in the separate
TM matching of :mod:`.matching`.

The stored date and time are compared as one ``YYYYMMDDHHMMSS.ffffff`` text (a missing time is
midnight); the date alone is also bounded, so the date's index still narrows the search. With
a query timezone the study pair is compared on the study's UTC instant instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, String, and_, cast, func

from raddx.archive.datetimes import date_time_utc
from raddx.archive.query.attributes import ATTRIBUTES, Attribute
from raddx.archive.query.matching import KeyMatch, Range, SingleValue
from raddx.errors import InvalidInput

__all__ = ["CombinedMatch", "combine"]

#: Date keyword → its time keyword, for the pairs the index holds.
_PAIRS = {
    "StudyDate": "StudyTime",
    "SeriesDate": "SeriesTime",
    "ContentDate": "ContentTime",
    "PerformedProcedureStepStartDate": "PerformedProcedureStepStartTime",
    "PatientBirthDate": "PatientBirthTime",
}


@dataclass(frozen=True, slots=True)
class CombinedMatch:
    """A date key and a time key matched as one range of date-times; bounds are full
    ``YYYYMMDDHHMMSS.ffffff`` texts (UTC when ``instant``)."""

    date: Attribute
    time: Attribute
    lower: str | None
    upper: str | None
    lower_date: str | None
    upper_date: str | None
    instant: bool = False

    def clause(self) -> ColumnElement[bool]:
        """The SQL condition (the date bounds first, for the date index)."""
        parts: list[ColumnElement[bool]] = []
        if self.instant:
            value: ColumnElement[str] = self.date.named("study_date_time_utc")  # type: ignore[assignment]
        else:
            date = self.date.expression()
            time = func.coalesce(self.time.expression(), "000000")
            value = cast(date, String) + cast(time, String)
            if self.lower_date is not None:
                parts.append(date >= self.lower_date)
            if self.upper_date is not None:
                parts.append(date <= self.upper_date)
        if self.lower is not None:
            parts.append(value >= self.lower)
        if self.upper is not None:
            parts.append(value <= self.upper)
        return and_(*parts)


def _bounds(term: SingleValue | Range) -> tuple[str | None, str | None]:
    if isinstance(term, SingleValue):
        return str(term.value), str(term.value)
    return term.lower, term.upper


def _time_floor(time: str | None) -> str:
    return (time or "").ljust(6, "0")


def _time_ceiling(time: str | None) -> str:
    if not time:
        return "235959.999999"
    if "." in time:
        whole, fraction = time.split(".")
        return f"{whole}.{fraction.ljust(6, '9')}"
    return time + "235959.999999"[len(time) :]  # "12" → "125959.999999"


def combine(
    matches: list[KeyMatch], timezone: str | None
) -> tuple[list[KeyMatch], list[CombinedMatch]]:
    """Replace each date key that has a time key beside it by one combined match.

    ``matches`` must hold the date keys as written (the caller parses a paired StudyDate
    without the query timezone); the timezone is applied here, to the combined bounds. Only
    a single value or a single range on each side combines; alternatives
    (``20240101\\20240105``) stay separate matches, as without the negotiation.

    Raises
    ------
    InvalidInput
        A combined range whose start is after its end (``20240101`` ``1200-1000``).
    """
    by_keyword = {m.attribute.keyword: m for m in matches}
    combined: list[CombinedMatch] = []
    used: set[str] = set()
    for date_keyword, time_keyword in _PAIRS.items():
        date, time = by_keyword.get(date_keyword), by_keyword.get(time_keyword)
        if date is None or time is None or len(date.terms) != 1 or len(time.terms) != 1:
            continue
        date_term, time_term = date.terms[0], time.terms[0]
        if not isinstance(date_term, SingleValue | Range) or not isinstance(
            time_term, SingleValue | Range
        ):
            continue
        date_low, date_high = _bounds(date_term)
        time_low, time_high = _bounds(time_term)
        lower = None if date_low is None else date_low + _time_floor(time_low)
        upper = None if date_high is None else date_high + _time_ceiling(time_high)
        instant = timezone is not None and date_keyword == "StudyDate"
        if instant:
            lower = date_time_utc(lower, timezone) if lower else None
            upper = date_time_utc(upper, timezone) if upper else None
        if lower is not None and upper is not None and lower > upper:
            raise InvalidInput(
                f"{date_keyword} with {time_keyword}: the combined range ends before it starts"
            )
        combined.append(
            CombinedMatch(
                ATTRIBUTES[date_keyword],
                ATTRIBUTES[time_keyword],
                lower,
                upper,
                date_low,
                date_high,
                instant=instant,
            )
        )
        used |= {date_keyword, time_keyword}
    return [m for m in matches if m.attribute.keyword not in used], combined
