"""Which storage SOP classes a C-GET must negotiate, and how to split one that needs too many.

A C-GET requestor receives the objects as C-STORE sub-operations on its own association, so it
must propose, with itself in the SCP role, a presentation context for the SOP class of every
object it asks for (PS3.4 C.4.3.1.2, PS3.7 D.3.3.4); one of the at most 128 contexts (PS3.8
9.3.2.2) goes to the query model. Proposing a fixed list of 127 storage classes fails every
object of any other class. So the classes are asked first: a SERIES-level C-FIND for the study,
then an IMAGE-level C-FIND per series returning SOPClassUID (hierarchical queries, PS3.4
C.4.1.3.1.1). Then :func:`plan_gets` chooses the C-GETs:

* all classes fit (≤ 127): one STUDY-level C-GET proposing exactly them;
* otherwise: SERIES-level C-GETs, each for a group of series whose classes fit (a list of
  Series Instance UIDs, PS3.4 C.4.2.2.1), and IMAGE-level C-GETs (lists of SOP Instance UIDs)
  for a series that alone needs more than 127 classes.

A peer that cannot answer the C-FIND (refused, failed, no SOPClassUID in the answers) gets one
STUDY-level C-GET with the first 127 known storage classes, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from raddx.config import RemoteAE
from raddx.dimse import scu
from raddx.dimse.status import PENDING, SUCCESS

__all__ = ["GetPlan", "get_study", "plan_gets", "study_instances"]

log = logging.getLogger(__name__)

#: Contexts left for storage classes: 128 (PS3.8 9.3.2.2) minus the query model's.
MAX_STORAGE_CLASSES = scu.MAX_CONTEXTS - 1

#: Series Instance UID → its instances as (SOP Instance UID, SOP Class UID).
StudyInstances = dict[str, list[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class GetPlan:
    """One C-GET: the retrieve level, the identifier's keys, the storage classes to propose
    (``None``: the default list, when the classes are unknown)."""

    level: str
    keys: dict[str, str]
    sop_classes: tuple[str, ...] | None

    def identifier(self) -> Dataset:
        """The C-GET identifier."""
        ds = Dataset()
        ds.QueryRetrieveLevel = self.level
        for keyword, value in self.keys.items():
            setattr(ds, keyword, value)
        return ds


def _first_fit(groups: list[tuple[str, set[str]]]) -> list[tuple[list[str], set[str]]]:
    """Pack named class sets into bins of at most MAX_STORAGE_CLASSES classes."""
    bins: list[tuple[list[str], set[str]]] = []
    for name, classes in groups:
        target = next((b for b in bins if len(b[1] | classes) <= MAX_STORAGE_CLASSES), None)
        if target is None:
            target = ([], set())
            bins.append(target)
        target[0].append(name)
        target[1].update(classes)
    return bins


def plan_gets(study_uid: str, series: StudyInstances | None) -> list[GetPlan]:
    """The C-GETs that retrieve the whole study with at most 127 storage classes each.

    ``series`` as found by :func:`study_instances`; ``None`` (unknown) gives one STUDY-level
    C-GET with the default classes. An empty study gives one STUDY-level C-GET too (the peer
    answers it with zero sub-operations).
    """
    if series is None:
        return [GetPlan("STUDY", {"StudyInstanceUID": study_uid}, None)]
    classes = {cls for instances in series.values() for _, cls in instances}
    if len(classes) <= MAX_STORAGE_CLASSES:
        return [GetPlan("STUDY", {"StudyInstanceUID": study_uid}, tuple(sorted(classes)))]
    plans: list[GetPlan] = []
    fitting = [
        (uid, {cls for _, cls in instances})
        for uid, instances in series.items()
        if len({cls for _, cls in instances}) <= MAX_STORAGE_CLASSES
    ]
    for series_uids, needed in _first_fit(fitting):
        keys = {"StudyInstanceUID": study_uid, "SeriesInstanceUID": "\\".join(series_uids)}
        plans.append(GetPlan("SERIES", keys, tuple(sorted(needed))))
    for series_uid, instances in series.items():
        by_class: dict[str, list[str]] = {}
        for sop_uid, cls in instances:
            by_class.setdefault(cls, []).append(sop_uid)
        if len(by_class) <= MAX_STORAGE_CLASSES:
            continue
        for class_uids, needed in _first_fit([(c, {c}) for c in sorted(by_class)]):
            sop_uids = [uid for cls in class_uids for uid in by_class[cls]]
            keys = {
                "StudyInstanceUID": study_uid,
                "SeriesInstanceUID": series_uid,
                "SOPInstanceUID": "\\".join(sop_uids),
            }
            plans.append(GetPlan("IMAGE", keys, tuple(sorted(needed))))
    return plans


def _find(assoc: Association, query: Dataset) -> list[Dataset] | None:
    """The identifiers of one Study Root C-FIND, or ``None`` if it did not end in Success."""
    answers: list[Dataset] = []
    model = StudyRootQueryRetrieveInformationModelFind
    for status, identifier in assoc.send_c_find(query, model):
        code = status.get("Status") if status is not None else None
        if code in (PENDING, 0xFF01):
            if identifier is not None:
                answers.append(identifier)
        elif code == SUCCESS:
            return answers
        else:
            return None
    return None


def study_instances(remote: RemoteAE, study_uid: str, *, calling_ae: str) -> StudyInstances | None:
    """Each series of the study with its instances' SOP Instance and SOP Class UIDs, from
    hierarchical C-FINDs at SERIES then IMAGE level; ``None`` when the peer cannot say."""
    ae = scu._ae(calling_ae)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc, reason = scu._associate(ae, remote)
    if assoc is None or not assoc.is_established:
        log.warning("C-FIND for the SOP classes failed: %s", reason)
        return None
    try:
        query = Dataset()
        query.QueryRetrieveLevel = "SERIES"
        query.StudyInstanceUID = study_uid
        query.SeriesInstanceUID = ""
        found = _find(assoc, query)
        if found is None:
            return None
        result: StudyInstances = {}
        for series_uid in sorted({str(ds.get("SeriesInstanceUID", "")) for ds in found} - {""}):
            query = Dataset()
            query.QueryRetrieveLevel = "IMAGE"
            query.StudyInstanceUID = study_uid
            query.SeriesInstanceUID = series_uid
            query.SOPInstanceUID = ""
            query.SOPClassUID = ""
            images = _find(assoc, query)
            if images is None:
                return None
            pairs = [
                (str(ds.get("SOPInstanceUID", "")), str(ds.get("SOPClassUID", ""))) for ds in images
            ]
            if any(not uid or not cls for uid, cls in pairs):
                return None  # the peer does not return SOPClassUID: classes unknown
            result[series_uid] = pairs
        return result
    finally:
        if assoc.is_established:
            assoc.release()


def get_study(
    remote: RemoteAE,
    study_uid: str,
    store_into: Callable[[Event], int | Dataset],
    *,
    calling_ae: str,
    progress: Callable[[Dataset], None] | None = None,
) -> scu.RetrieveOutcome:
    """Retrieve a whole study with C-GET, negotiating the classes it holds (module
    docstring); the outcomes of several C-GETs are added up (the worst status wins)."""
    plans = plan_gets(study_uid, study_instances(remote, study_uid, calling_ae=calling_ae))
    outcomes = [
        scu.get(
            remote,
            plan.identifier(),
            store_into,
            calling_ae=calling_ae,
            sop_classes=plan.sop_classes,
            progress=progress,
        )
        for plan in plans
    ]
    return combine(outcomes)


def combine(outcomes: list[scu.RetrieveOutcome]) -> scu.RetrieveOutcome:
    """One outcome for several C-GETs: counts added, the first non-Success status kept."""
    bad = next((o for o in outcomes if o.status != SUCCESS), None)
    return scu.RetrieveOutcome(
        status=SUCCESS if bad is None else bad.status,
        completed=sum(o.completed for o in outcomes),
        failed=sum(o.failed for o in outcomes),
        warning=sum(o.warning for o in outcomes),
        comment="" if bad is None else bad.comment,
    )
