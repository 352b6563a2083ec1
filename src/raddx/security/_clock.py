"""The clock the security code reads: injectable so tests can move time (lockout, sessions,
TOTP) without sleeping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

__all__ = ["Clock", "as_utc", "utc_now"]

#: A function returning the current time, timezone-aware, in UTC.
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The current time in UTC (the default :data:`Clock`)."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as an aware UTC datetime; SQLite hands back naive datetimes, which are UTC
    because raddx writes only UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
