"""Which objects must not leave through header de-identification alone (PS3.15 E.3.1).

Burned-in text is in the pixels, where Table E.1-1 cannot reach. Until a pixel-cleaning rule
covers an object, the safe answer is quarantine: ultrasound, secondary capture and document
objects, and anything that says BurnedInAnnotation (0028,0301) YES. Faces are in the pixels
too: with ``recognizable_faces`` (the ``public`` policy), CT and MR objects of the head, or
that do not say what they show, are withheld as well.
"""

from __future__ import annotations

import pydicom.uid
from pydicom.dataset import Dataset

from raddx.deid._raw import value_or
from raddx.deid.policy import QuarantinePolicy

__all__ = ["quarantine_reason"]


def quarantine_reason(ds: Dataset, rules: QuarantinePolicy) -> str | None:
    """Why ``ds`` must go to quarantine, or ``None`` if it may be de-identified.

    The reason names the attribute and its (non-identifying) value, e.g.
    ``"Modality US: burned-in text risk"``.
    """
    burned = value_or(ds, 0x00280301) if rules.burned_in_annotation else ""
    if str(burned).upper() == "YES":
        return "BurnedInAnnotation YES: burned-in text in the pixels"
    modality = str(value_or(ds, 0x00080060)).upper()
    if modality in rules.modalities:
        return f"Modality {modality}: burned-in text risk"
    sop_class = str(value_or(ds, 0x00080016)).strip()  # as pydicom's UID strips it
    for keyword in rules.sop_classes:
        if sop_class == getattr(pydicom.uid, keyword):
            return f"SOP Class {keyword}: burned-in text risk"
    if rules.recognizable_faces and modality in rules.face_modalities:
        return _face_reason(ds, modality, rules)
    return None


def _face_reason(ds: Dataset, modality: str, rules: QuarantinePolicy) -> str | None:
    """Why a CT/MR object may show a face (a head, or nothing says what it shows), or None
    for one that says it shows another part of the body. The reason names the body part or
    the attribute, never a descriptive text (it may hold PHI)."""
    body_part = str(ds.get("BodyPartExamined", "") or "").strip().upper()
    if body_part in rules.face_body_parts:
        return (
            f"Modality {modality}, BodyPartExamined {body_part}: a face can be rendered from "
            "the volume (raddx does not deface); review by hand"
        )
    for keyword in ("StudyDescription", "SeriesDescription", "ProtocolName"):
        text = str(ds.get(keyword, "") or "").upper()
        if any(word in text for word in rules.face_words):
            return (
                f"Modality {modality}, {keyword} names the head: a face can be rendered from "
                "the volume (raddx does not deface); review by hand"
            )
    if not body_part:
        return (
            f"Modality {modality} without BodyPartExamined: it may show a face (raddx does "
            "not deface); review by hand"
        )
    return None
