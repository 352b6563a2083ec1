"""Hand encoding of C-FIND answer identifiers (Little Endian, explicit or implicit VR).

Why: building a pydicom ``Dataset`` from each answer and writing it with ``write_dataset``
was 55 % of the server's CPU for a C-FIND with 30 matches (``bench/README.md``): per element a
``DataElement`` with value validation, tag lookups and converted value objects, then the
writer's dispatch. An answer is a flat mapping of keyword → text, count, list of texts or
list of sequence items, so it is encoded here directly; the character set work stays
pydicom's (:func:`pydicom.charset.encode_string` and ``PersonName.encode``, which handle the
ISO 2022 escape sequences), so no value is encoded differently. Anything unusual (a VR this
encoder does not write, a float) gives ``None`` and the caller falls back to pydicom.
``tests/unit/dimse/test_identifier_codec.py`` checks the bytes equal pydicom's.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from typing import Any

from pydicom.charset import convert_encodings, encode_string
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.valuerep import PersonName

__all__ = ["encode_answer"]

_TEXT = frozenset({"LO", "LT", "SH", "ST", "UC", "UT"})  # in the Specific Character Set
_SINGLE_VALUED_TEXT = frozenset({"LT", "ST", "UT"})  # a backslash is part of the value
_ASCII = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"})
_BINARY = {"US": "<H", "UL": "<I", "SS": "<h", "SL": "<i"}
_LONG_LENGTH = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT"})
_IMPLICIT_HEADER = struct.Struct("<HHI")
_EXPLICIT_SHORT = struct.Struct("<HH2sH")
_EXPLICIT_LONG = struct.Struct("<HH2s2xI")
_ITEM = 0xFFFE, 0xE000
_SPECIFIC_CHARACTER_SET = 0x00080005


class _Unsupported(Exception):
    """Something this encoder does not write; the caller uses pydicom."""


@functools.lru_cache(maxsize=1024)
def _tag_vr(keyword: str) -> tuple[int, str]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise _Unsupported(keyword)
    vr = dictionary_VR(tag)
    if vr not in _TEXT and vr not in _ASCII and vr not in _BINARY and vr not in ("PN", "SQ"):
        raise _Unsupported(f"{keyword} has VR {vr}")
    return tag, vr


def encode_answer(
    values: dict[str, Any], charset: Sequence[str], *, implicit_vr: bool
) -> bytes | None:
    """The identifier for ``values`` (keyword → value) with Specific Character Set
    ``charset`` (no element when empty), as pydicom would write it; ``None`` when it holds
    something this encoder does not handle."""
    encodings = convert_encodings(list(charset) or ["ISO_IR 6"])
    elements: list[tuple[int, str, Any]] = []
    try:
        if charset:
            elements.append((_SPECIFIC_CHARACTER_SET, "CS", list(charset)))
        for keyword, value in values.items():
            tag, vr = _tag_vr(keyword)
            elements.append((tag, vr, value))
        return _encode_elements(elements, encodings, implicit_vr)
    except _Unsupported:
        return None


def _encode_elements(
    elements: list[tuple[int, str, Any]], encodings: list[str], implicit_vr: bool
) -> bytes:
    parts: list[bytes] = []
    for tag, vr, value in sorted(elements, key=lambda e: e[0]):
        encoded = _encode_value(vr, value, encodings, implicit_vr)
        group, element = tag >> 16, tag & 0xFFFF
        if implicit_vr:
            parts.append(_IMPLICIT_HEADER.pack(group, element, len(encoded)))
        elif vr in _LONG_LENGTH:
            parts.append(_EXPLICIT_LONG.pack(group, element, vr.encode(), len(encoded)))
        else:
            if len(encoded) > 0xFFFF:
                raise _Unsupported("value too long for a 16-bit length")
            parts.append(_EXPLICIT_SHORT.pack(group, element, vr.encode(), len(encoded)))
        parts.append(encoded)
    return b"".join(parts)


def _encode_value(vr: str, value: Any, encodings: list[str], implicit_vr: bool) -> bytes:
    if value is None or value == "" or value == []:
        return b""
    if vr == "SQ":
        return _encode_items(value, encodings, implicit_vr)
    if vr in _BINARY:
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, int) for v in values):
            raise _Unsupported("non-integer binary value")
        return b"".join(struct.pack(_BINARY[vr], v) for v in values)
    texts = _texts(vr, value)
    if vr == "PN":
        encoded = b"\\".join(_person_name(text, encodings) for text in texts)
    elif vr in _TEXT:
        encoded = b"\\".join(_text(text, encodings) for text in texts)
    else:
        encoded = b"\\".join(_ascii(text) for text in texts)
    if len(encoded) % 2:
        encoded += b"\0" if vr == "UI" else b" "
    return encoded


def _texts(vr: str, value: Any) -> list[str]:
    """The values of a text element, split as pydicom splits an assigned string."""
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise _Unsupported("list of non-text values")
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Unsupported(f"{type(value).__name__} value")
    text = str(value)
    if vr in _SINGLE_VALUED_TEXT:
        return [text]
    return text.split("\\")


def _ascii(text: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise _Unsupported("non-ASCII value in an ASCII VR") from None


def _text(text: str, encodings: list[str]) -> bytes:
    if text.isascii():
        return text.encode("ascii")
    return encode_string(text, encodings)


def _person_name(text: str, encodings: list[str]) -> bytes:
    if text.isascii() and "=" not in text:  # pydicom drops empty trailing component groups
        return text.encode("ascii")
    return PersonName(text).encode(encodings)


def _encode_items(items: Any, encodings: list[str], implicit_vr: bool) -> bytes:
    if not isinstance(items, list):
        raise _Unsupported("sequence value is not a list of items")
    parts: list[bytes] = []
    for item in items:
        if not isinstance(item, dict):
            raise _Unsupported("sequence item is not a mapping")
        body = _encode_elements(
            [(*_tag_vr(keyword), value) for keyword, value in item.items()],
            encodings,
            implicit_vr,
        )
        parts.append(_IMPLICIT_HEADER.pack(*_ITEM, len(body)))
        parts.append(body)
    return b"".join(parts)
