"""Date shifting for Retain Longitudinal Temporal Information with Modified Dates (PS3.15 E.3.6).

All dates of one patient move back by the same number of whole days, so intervals between
studies survive and every TM stays valid unchanged. DT keeps its time and UTC offset
(PS3.5 6.2 DT: ``YYYYMMDDHHMMSS.FFFFFF&ZZXX``); ranges (``A-B``, PS3.4 C.2.2.2.5) shift both
ends. A value we cannot parse is not guessed at: the caller removes it.
"""

from __future__ import annotations

import datetime as dt

from raddx.deid.keys import ProjectKey

__all__ = ["DateShifter", "patient_offset_days"]


def patient_offset_days(key: ProjectKey, patient: str, *, min_days: int, max_days: int) -> int:
    """The patient's offset in ``[min_days, max_days]``, a keyed function of the identity."""
    span = max_days - min_days + 1
    return min_days + int.from_bytes(key.digest("date-offset", patient)[:8], "big") % span


class DateShifter:
    """Shift DA and DT values back by ``offset_days``."""

    def __init__(self, offset_days: int) -> None:
        self.offset = dt.timedelta(days=offset_days)

    def _date(self, text: str) -> str:
        if len(text) != 8 or not text.isdigit() or not text.isascii():
            raise ValueError(text)
        day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))  # ValueError if invalid
        shifted = day - self.offset
        return f"{shifted.year:04d}{shifted.month:02d}{shifted.day:02d}"

    def shift_da(self, value: str) -> str | None:
        """Shifted DA (single value or range) or ``None`` if ``value`` is not a full date."""
        try:
            parts = [self._date(p) if p else "" for p in value.strip().split("-")]
        except ValueError:
            return None
        return "-".join(parts) if len(parts) <= 2 else None

    def _datetime(self, text: str) -> str:
        body, sign, zone = text, "", ""
        for candidate in "+-":
            if candidate in text[8:]:
                index = text.rindex(candidate)
                body, sign, zone = text[:index], candidate, text[index + 1 :]
        if len(body) < 8:
            raise ValueError(text)
        return self._date(body[:8]) + body[8:] + sign + zone

    def shift_dt(self, value: str) -> str | None:
        """Shifted DT (single value or range), UTC offset kept, or ``None`` if unparsable."""
        value = value.strip()
        try:
            # A range separator is a "-" that is followed by a 4-digit year or nothing and
            # is not inside the "&ZZXX" offset: split at the first "-" at position ≥ 8 that
            # leaves a parseable left-hand side.
            for index in [i for i, c in enumerate(value) if c == "-"]:
                left, right = value[:index], value[index + 1 :]
                if len(right) == 0 or len(right) >= 8 or len(left) == 0:
                    try:
                        return "-".join(self._datetime(p) if p else "" for p in (left, right))
                    except ValueError:
                        continue
            return self._datetime(value)
        except ValueError:
            return None
