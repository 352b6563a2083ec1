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
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

__all__ = [
    "STORAGE_TRANSFER_SYNTAXES",
    "cheap_copy_contexts",
    "find_contexts",
    "mpps_contexts",
    "retrieve_contexts",
    "storage_contexts",
    "verification_contexts",
    "worklist_contexts",
]

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


def find_contexts() -> list[PresentationContext]:
    """Patient Root and Study Root Query/Retrieve - FIND (PS3.4 C.4.1) in the uncompressed
    syntaxes."""
    return [
        build_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        for sop_class in (
            PatientRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelFind,
        )
    ]


def worklist_contexts() -> list[PresentationContext]:
    """Modality Worklist Information Model - FIND (PS3.4 K.6) in the uncompressed syntaxes;
    served by pynetdicom only (:mod:`raddx.dimse.worklist`)."""
    return [
        build_context(
            ModalityWorklistInformationFind, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
        )
    ]


def mpps_contexts() -> list[PresentationContext]:
    """Modality Performed Procedure Step (PS3.4 F.7) in the uncompressed syntaxes; served by
    pynetdicom only (:mod:`raddx.dimse.mpps`)."""
    return [
        build_context(
            ModalityPerformedProcedureStep, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
        )
    ]


def retrieve_contexts() -> list[PresentationContext]:
    """Patient Root and Study Root Query/Retrieve - GET (PS3.4 C.4.3) and - MOVE (PS3.4
    C.4.2) in the uncompressed syntaxes."""
    return [
        build_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        for sop_class in (
            PatientRootQueryRetrieveInformationModelGet,
            StudyRootQueryRetrieveInformationModelGet,
            PatientRootQueryRetrieveInformationModelMove,
            StudyRootQueryRetrieveInformationModelMove,
        )
    ]


class _CheapCopyContext(PresentationContext):
    """A presentation context whose deep copy is a shallow one plus a new transfer syntax list.

    pynetdicom deep-copies the acceptor's supported contexts for every association. With
    ~170 storage SOP classes × 16 transfer syntaxes that took ~17 ms per association here,
    mostly copying immutable UID strings one by one; modalities that open an association per
    image paid it on every object. Sharing the (immutable) UIDs makes the copy ~50× cheaper.
    """

    def __deepcopy__(self, memo: dict[int, object]) -> _CheapCopyContext:
        clone = object.__new__(_CheapCopyContext)
        clone.__dict__.update(self.__dict__)
        clone._transfer_syntax = list(self._transfer_syntax)
        return clone


def cheap_copy_contexts(contexts: list[PresentationContext]) -> list[PresentationContext]:
    """The same contexts, made cheap to deep-copy (see :class:`_CheapCopyContext`)."""
    result: list[PresentationContext] = []
    for context in contexts:
        clone = object.__new__(_CheapCopyContext)
        clone.__dict__.update(context.__dict__)
        clone._transfer_syntax = list(context._transfer_syntax)
        result.append(clone)
    return result
