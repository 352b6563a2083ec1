"""The runners of send and retrieve jobs: archived studies/series to a remote AE with
C-STORE, studies from a remote AE with C-GET (into this archive) or C-MOVE.

They only choose what to transfer and count; the DICOM work is the SCU's
(:mod:`raddx.dimse.scu`, :mod:`raddx.dimse.get_plan`), the same code as ``raddx send`` and
``raddx retrieve``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydicom.dataset import Dataset

from raddx.archive.query import InstanceRef, Query
from raddx.archive.retrieve import RetrieveService
from raddx.config import RemoteAE
from raddx.dimse import get_plan, scu
from raddx.jobs.service import JobKindValues, Progress, Runner
from raddx.services import Services

__all__ = ["RetrieveMethodValues", "instances_to_send", "runners"]


class RetrieveMethodValues(StrEnum):
    """How a retrieve job fetches (PS3.4 C.4.3 / C.4.2)."""

    GET = "get"
    MOVE = "move"


def _uid_list(level: str, keyword: str, uids: list[str]) -> Query:
    # PS3.4 C.2.2.2.2: a backslash-separated list of UIDs matches any of them.
    return Query(
        level=level,  # type: ignore[arg-type]
        information_model="STUDY_ROOT",  # type: ignore[arg-type]
        keys={keyword: "\\".join(uids)},
    )


def instances_to_send(
    retrieve: RetrieveService, *, studies: list[str], series: list[str]
) -> list[InstanceRef]:
    """The visible instances of ``studies`` and ``series``, each once, in study/series
    order (through the query engine, so soft-deleted objects are never sent)."""
    found: dict[str, InstanceRef] = {}
    if studies:
        for ref in retrieve.instances(_uid_list("STUDY", "StudyInstanceUID", studies)):
            found.setdefault(ref.sop_instance_uid, ref)
    if series:
        for ref in retrieve.instances(_uid_list("SERIES", "SeriesInstanceUID", series)):
            found.setdefault(ref.sop_instance_uid, ref)
    return list(found.values())


def _send(services: Services) -> Runner:
    retrieve = RetrieveService(services.session_factory, services.blobs)

    def run(request: Mapping[str, Any], remote: RemoteAE, progress: Progress) -> str | None:
        refs = instances_to_send(
            retrieve, studies=list(request["studies"]), series=list(request["series"])
        )
        progress.set_total(len(refs))
        if not refs:
            return "nothing to send: no stored study or series matches"
        first_failure: list[str] = []

        def on_outcome(outcome: scu.StoreOutcome) -> None:
            if outcome.ok:
                progress.add(completed=1 if outcome.status == 0 else 0)
                progress.add(warning=1 if outcome.status != 0 else 0)
                return
            progress.add(failed=1)
            if not first_failure:
                status = "no status" if outcome.status is None else f"0x{outcome.status:04X}"
                first_failure.append(f"{status}: {outcome.comment}".strip())

        scu.send_instances(
            remote,
            scu.archived_outgoing(retrieve, refs),
            calling_ae=services.settings.ae_title,
            progress=on_outcome,
        )
        if progress.failed:
            return f"{progress.failed} of {len(refs)} failed; first: {first_failure[0]}"
        return None

    return run


def _counts(status: Dataset) -> dict[str, int]:
    def value(keyword: str) -> int:
        return int(status.get(keyword, 0) or 0)

    return {
        "completed": value("NumberOfCompletedSuboperations"),
        "failed": value("NumberOfFailedSuboperations"),
        "warning": value("NumberOfWarningSuboperations"),
        "remaining": value("NumberOfRemainingSuboperations"),
    }


def _retrieve(services: Services) -> Runner:
    def run(request: Mapping[str, Any], remote: RemoteAE, progress: Progress) -> str | None:
        studies = list(request["studies"])
        done = {"completed": 0, "failed": 0, "warning": 0}

        def on_pending(status: Dataset) -> None:
            counts = _counts(status)
            progress.set_counts(
                completed=done["completed"] + counts["completed"],
                failed=done["failed"] + counts["failed"],
                warning=done["warning"] + counts["warning"],
                remaining=counts["remaining"],
            )

        if request["method"] == RetrieveMethodValues.MOVE:
            identifier = Dataset()
            identifier.QueryRetrieveLevel = "STUDY"
            identifier.StudyInstanceUID = studies if len(studies) > 1 else studies[0]
            outcome = scu.move(
                remote,
                identifier,
                request.get("destination") or services.settings.ae_title,
                calling_ae=services.settings.ae_title,
                progress=on_pending,
            )
        else:
            outcomes = []
            store = scu.archive_store_handler(
                services.ingest,
                remote_ae_title=remote.ae_title,
                our_ae_title=services.settings.ae_title,
            )
            for study in studies:
                result = get_plan.get_study(
                    remote, study, store, calling_ae=services.settings.ae_title, progress=on_pending
                )
                outcomes.append(result)
                done["completed"] += result.completed
                done["failed"] += result.failed
                done["warning"] += result.warning
            outcome = get_plan.combine(outcomes)
        progress.set_counts(
            completed=outcome.completed,
            failed=outcome.failed,
            warning=outcome.warning,
            remaining=0,
        )
        if outcome.ok:
            return None
        status = "no status" if outcome.status is None else f"status 0x{outcome.status:04X}"
        return f"{status}{': ' + outcome.comment if outcome.comment else ''}"

    return run


def runners(services: Services) -> dict[JobKindValues, Runner]:
    """The runner of each job kind, on ``services``."""
    return {JobKindValues.SEND: _send(services), JobKindValues.RETRIEVE: _retrieve(services)}
