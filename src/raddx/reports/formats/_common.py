"""Value conversions shared by the formats: date-times, person-name components."""

from __future__ import annotations

import datetime as dt
import re

from raddx.reports.profile import DEFAULT_UTC_OFFSET_HOURS

__all__ = [
    "DEFAULT_TZ",
    "NAME_GROUP_USES",
    "format_ts",
    "join_name_groups",
    "name_groups",
    "parse_ts",
    "person_display",
    "primary_name",
    "split_name",
]

#: A PN group and the ISO 21090 / CDA name use it is written with: ideographic (kanji) as
#: ``IDE``, phonetic (kana) as ``SYL``, alphabetic as ``ABC``, in that order.
NAME_GROUP_USES = (("ideographic", "IDE"), ("phonetic", "SYL"), ("alphabetic", "ABC"))

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


def name_groups(value: str) -> dict[str, str]:
    """The PS3.5 6.2.1.2 groups of a PN value ``alphabetic=ideographic=phonetic`` (a person's
    display name such as ``Tanaka^Taro=田中^太郎=たなか^たろう``); a value without ``=`` is
    all alphabetic group."""
    parts = value.split("=")[:3]
    parts += [""] * (3 - len(parts))
    return dict(zip(("alphabetic", "ideographic", "phonetic"), parts, strict=True))


def join_name_groups(groups: dict[str, str]) -> str:
    """The PN value of ``groups`` (trailing empty groups dropped, as the record keeps it)."""
    parts = [groups.get(k, "") for k in ("alphabetic", "ideographic", "phonetic")]
    while parts and not parts[-1]:
        parts.pop()
    return "=".join(parts)


def primary_name(value: str) -> str:
    """The one name a format with room for one name gets: the ideographic group (kanji)
    when there is one, else the alphabetic, else the phonetic."""
    groups = name_groups(value)
    return groups["ideographic"] or groups["alphabetic"] or groups["phonetic"]


def person_display(value: str) -> str:
    """A person name for reading: ``田中 太郎 (たなか たろう)``; components by spaces, the
    phonetic group in parentheses after the ideographic one."""
    groups = {k: v.replace("^", " ").strip() for k, v in name_groups(value).items()}
    main = groups["ideographic"] or groups["alphabetic"] or groups["phonetic"]
    reading = groups["phonetic"] if groups["ideographic"] else ""
    return f"{main} ({reading})" if reading and reading != main else main
