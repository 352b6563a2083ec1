"""UID replacement (PS3.15 E.1.1 action U): keyed, consistent, never touching registry UIDs."""

from __future__ import annotations

# pydicom's registry table (PS3.6 Annex A); pydicom is pinned to 3.0.x in pyproject.toml. Looked
# up directly because constructing a pydicom UID validates (and warns about) overlong input.
from pydicom._uid_dict import UID_dictionary

from raddx.deid.keys import ProjectKey
from raddx.types import UIDStr

__all__ = ["UIDMapper", "is_well_known"]

#: Everything under the DICOM root is defined by the standard (SOP classes, transfer syntaxes,
#: coding schemes, well-known frames of reference, application contexts): never an identifier.
_DICOM_ROOT = "1.2.840.10008."


def is_well_known(uid: str) -> bool:
    """True for UIDs defined by a registry rather than minted for one object.

    Covers the DICOM root (PS3.6 Annex A) and every UID pydicom's dictionary names.
    """
    return uid.startswith(_DICOM_ROOT) or uid in UID_dictionary


class UIDMapper:
    """Map instance UIDs to ``2.25.`` UIDs derived by HMAC-SHA-256 of the old UID.

    The 128-bit value is laid out as a UUID version 8 (RFC 9562, custom) so that the result
    is a valid UUID-derived UID under PS3.5 B.2; it is at most 44 characters whatever the
    input length. The same key maps the same UID to the same UID in every object and every
    run, which is what keeps ReferencedSOPInstanceUID and friends pointing at their targets.
    """

    def __init__(self, key: ProjectKey) -> None:
        self._key = key
        self._cache: dict[str, UIDStr] = {}

    def map(self, uid: str) -> UIDStr:
        """The replacement for ``uid`` (well-known UIDs and empty values come back unchanged)."""
        uid = uid.strip("\0 ")
        if not uid or is_well_known(uid):
            return uid
        mapped = self._cache.get(uid)
        if mapped is None:
            raw = bytearray(self._key.digest("uid", uid)[:16])
            raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
            raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122/9562 variant
            mapped = f"2.25.{int.from_bytes(raw, 'big')}"
            self._cache[uid] = mapped
        return mapped
