"""UIDs in resource paths (PS3.18 10.2): checked before anything else sees them, and the
URLs of study, series and instance resources built from them."""

from __future__ import annotations

from pydicom.config import IGNORE
from pydicom.uid import UID

from raddx.errors import InvalidInput

__all__ = ["check_uid", "resource_url"]


def check_uid(uid: str) -> str:
    """``uid`` when it is a valid UID (PS3.5 9.1: digits and dots, at most 64 characters).

    Raises
    ------
    InvalidInput
        Not a UID (a path like ``/studies/abc`` or ``/studies/1.2.*``).
    """
    # Validation off while building: the check is ours, and pydicom would warn first.
    if not UID(uid, validation_mode=IGNORE).is_valid:
        raise InvalidInput(f"{uid!r} in the resource path is not a valid UID (PS3.5 9.1)")
    return uid


def resource_url(
    base: str, study: str, series: str | None = None, instance: str | None = None
) -> str:
    """The WADO-RS URL of a study, a series or an instance under ``base`` (…/dicom-web)."""
    url = f"{base}/studies/{study}"
    if series:
        url += f"/series/{series}"
        if instance:
            url += f"/instances/{instance}"
    return url
