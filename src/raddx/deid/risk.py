"""Which objects must not leave through header de-identification alone (PS3.15 E.3.1).

Burned-in text is in the pixels, where Table E.1-1 cannot reach. Until a pixel-cleaning rule
covers an object, the safe answer is quarantine: ultrasound, secondary capture and document
objects, and anything that says BurnedInAnnotation (0028,0301) YES.
"""

from __future__ import annotations

import pydicom.uid
from pydicom.dataset import Dataset

from raddx.deid.policy import QuarantinePolicy

__all__ = ["quarantine_reason"]


def quarantine_reason(ds: Dataset, rules: QuarantinePolicy) -> str | None:
    """Why ``ds`` must go to quarantine, or ``None`` if it may be de-identified.

    The reason names the attribute and its (non-identifying) value, e.g.
    ``"Modality US: burned-in text risk"``.
    """
    if rules.burned_in_annotation and str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        return "BurnedInAnnotation YES: burned-in text in the pixels"
    modality = str(ds.get("Modality", "")).upper()
    if modality in rules.modalities:
        return f"Modality {modality}: burned-in text risk"
    sop_class = str(ds.get("SOPClassUID", ""))
    for keyword in rules.sop_classes:
        if sop_class == getattr(pydicom.uid, keyword):
            return f"SOP Class {keyword}: burned-in text risk"
    return None
