"""Storage commitment: which requested instances the archive really holds (PS3.4 J.3).

An instance is committed only when its index row names the same SOP class as the request and
its stored object can be read back now; anything else is a failure with the PS3.4 J.3.3.1.1
Failure Reason, so a modality never deletes an image we could not give back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from raddx.archive.query import Query
from raddx.archive.retrieve import RetrieveService

__all__ = ["CommitmentResult", "FailureReasonValues", "commit"]


class FailureReasonValues:
    """Failure Reason (0008,1197) values, PS3.4 J.3.3.1.1 (and PS3.7 Annex C)."""

    #: Processing failure: the stored object exists but cannot be read.
    PROCESSING_FAILURE = 0x0110
    #: No such object instance: never received, or removed.
    NO_SUCH_OBJECT_INSTANCE = 0x0112
    #: Class-instance conflict: stored under another SOP class than the request names.
    CLASS_INSTANCE_CONFLICT = 0x0119


@dataclass(frozen=True, slots=True)
class CommitmentResult:
    """Committed ``(sop_class_uid, sop_instance_uid)`` pairs and failed ones with a reason."""

    committed: list[tuple[str, str]]
    failed: list[tuple[str, str, int]]


def commit(
    requested: Iterable[tuple[str, str]], *, retrieve_service: RetrieveService
) -> CommitmentResult:
    """Decide storage commitment for ``requested`` ``(sop_class_uid, sop_instance_uid)`` pairs.

    Each stored object is read in full and its structure checked (the same read a C-GET
    does): a blob that is gone, torn or damaged is not committed.
    """
    requested = list(requested)
    uids = sorted({uid for _, uid in requested})
    refs = {}
    if uids:
        query = Query(
            level="IMAGE",  # type: ignore[arg-type]
            information_model="STUDY_ROOT",  # type: ignore[arg-type]
            keys={"SOPInstanceUID": "\\".join(uids)},
        )
        refs = {ref.sop_instance_uid: ref for ref in retrieve_service.instances(query)}
    readable = {
        retrieved.ref.sop_instance_uid
        for retrieved in retrieve_service.read(refs.values())
        if retrieved.part10 is not None
    }
    committed: list[tuple[str, str]] = []
    failed: list[tuple[str, str, int]] = []
    for sop_class, uid in requested:
        ref = refs.get(uid)
        if ref is None:
            failed.append((sop_class, uid, FailureReasonValues.NO_SUCH_OBJECT_INSTANCE))
        elif ref.sop_class_uid != sop_class:
            failed.append((sop_class, uid, FailureReasonValues.CLASS_INSTANCE_CONFLICT))
        elif uid not in readable:
            failed.append((sop_class, uid, FailureReasonValues.PROCESSING_FAILURE))
        else:
            committed.append((sop_class, uid))
    return CommitmentResult(committed, failed)
