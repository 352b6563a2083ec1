"""Dummy values (PS3.15 action D): non-empty and valid for the VR (PS3.5 6.2).

A dummy must never break the VR: "ANONYMOUS" is fine in a 16-character CS, in an AS or DA it
is not. Each VR gets one fixed value; the tests check each against pydicom's validators.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DUMMY_TEXT", "dummy_value"]

DUMMY_TEXT = "ANONYMIZED"

_DUMMIES: dict[str, Any] = {
    "AE": DUMMY_TEXT,
    "AS": "000Y",
    "CS": DUMMY_TEXT,
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000",
    "IS": "0",
    "LO": DUMMY_TEXT,
    "LT": DUMMY_TEXT,
    "PN": DUMMY_TEXT,
    "SH": DUMMY_TEXT,
    "ST": DUMMY_TEXT,
    "TM": "000000",
    "UC": DUMMY_TEXT,
    "UR": "urn:oid:2.25.0",
    "UT": DUMMY_TEXT,
    "AT": 0,
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "SV": 0,
    "UL": 0,
    "US": 0,
    "UV": 0,
    "OB": b"\0\0",
    "OD": bytes(8),
    "OF": bytes(4),
    "OL": bytes(4),
    "OV": bytes(8),
    "OW": b"\0\0",
    "UN": b"\0\0",
}


def dummy_value(vr: str) -> Any:
    """The dummy for ``vr`` (for ``US or SS``-style ambiguous VRs, the first one).

    Raises
    ------
    ValueError
        ``vr`` is SQ or UI, which have their own actions (process items, remap UIDs).
    """
    vr = vr.split(" or ")[0]
    if vr not in _DUMMIES:
        raise ValueError(f"no dummy value for VR {vr!r}")
    return _DUMMIES[vr]
