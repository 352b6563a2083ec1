"""Presentation contexts we accept: what the archive stores, in which encodings.

Issue 3 / docs/conformance.md: every storage SOP class pynetdicom knows, with these transfer
syntaxes accepted as-is (ingest never transcodes, so a compressed object is archived in the
syntax it was sent in).
"""

from __future__ import annotations

from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AllStoragePresentationContexts, build_context
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification

__all__ = ["STORAGE_TRANSFER_SYNTAXES", "storage_contexts", "verification_contexts"]

#: Order matters only when a requestor proposes several in one context: the first one we
#: list that it offers is chosen, so uncompressed syntaxes come first.
STORAGE_TRANSFER_SYNTAXES: tuple[UID, ...] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    HTJ2K,
)


def storage_contexts() -> list[PresentationContext]:
    """One context per storage SOP class, each with all accepted transfer syntaxes."""
    return [
        build_context(cx.abstract_syntax, list(STORAGE_TRANSFER_SYNTAXES))
        for cx in AllStoragePresentationContexts
        if cx.abstract_syntax is not None
    ]


def verification_contexts() -> list[PresentationContext]:
    """Verification (C-ECHO) in the uncompressed syntaxes."""
    return [build_context(Verification, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])]
