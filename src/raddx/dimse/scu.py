"""The SCU side of the DIMSE door: C-STORE, C-MOVE and C-GET requests to a remote AE.

Plain helpers on pynetdicom with no business logic: the caller chooses what to send and what
to do with what arrives (the CLI's ``raddx send`` and ``raddx retrieve``, later routing). A
failure is reported per instance or as a final status, never raised, so a caller can print
one summary for everything.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any, cast

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_context, build_role, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from raddx.archive.query import InstanceRef
from raddx.archive.retrieve import RetrievedInstance, RetrieveService
from raddx.config import RemoteAE
from raddx.dimse._direct_link import direct_sub_operations, supports_direct
from raddx.dimse._stored_send import StoredObject
from raddx.dimse._stored_send import install as install_stored_send
from raddx.dimse._tuning import set_nodelay
from raddx.dimse.contexts import STORAGE_TRANSFER_SYNTAXES, storage_contexts
from raddx.dimse.status import PENDING, SUCCESS, status_dataset, status_for_error

__all__ = [
    "EchoOutcome",
    "Outgoing",
    "RetrieveOutcome",
    "SendSummary",
    "StoreOutcome",
    "archive_store_handler",
    "archived_outgoing",
    "echo",
    "get",
    "move",
    "send_instances",
    "stored_dataset",
]

log = logging.getLogger(__name__)

#: PS3.8 9.3.2.2: at most 128 presentation contexts (odd IDs 1-255) per association.
MAX_CONTEXTS = 128
_UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One object to send; ``load`` reads it only when its turn comes (bounded memory).

    ``load`` returns the dataset with ``file_meta.TransferSyntaxUID`` set to
    ``transfer_syntax_uid`` (the syntax it is sent in; nothing is transcoded except between
    the uncompressed syntaxes, which pynetdicom does when the peer accepts only the other).
    """

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    load: Callable[[], Dataset]


@dataclass(frozen=True, slots=True)
class StoreOutcome:
    """The result of one C-STORE: the peer's status (``None`` if none came) and why."""

    sop_instance_uid: str
    status: int | None
    comment: str = ""

    @property
    def ok(self) -> bool:
        """Success (0x0000) or a Warning (PS3.4 B.2.3: 0xB000, 0xB007, 0xB006)."""
        return self.status is not None and (self.status == 0 or self.status & 0xF000 == 0xB000)


@dataclass(frozen=True, slots=True)
class SendSummary:
    """What :func:`send_instances` did: one outcome per object it tried, in order; and, when
    Ctrl-C stopped it, how many objects it never tried."""

    outcomes: list[StoreOutcome]
    interrupted: bool = False
    not_attempted: int = 0


@dataclass(frozen=True, slots=True)
class RetrieveOutcome:
    """The final response of a C-MOVE/C-GET (PS3.4 C.4.2.1.4 / C.4.3.1.4), or why none came."""

    status: int | None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    comment: str = ""

    @property
    def ok(self) -> bool:
        """Success with no failed sub-operation."""
        return self.status == 0 and self.failed == 0


@dataclass(frozen=True, slots=True)
class EchoOutcome:
    """The result of a C-ECHO (PS3.4 A.4): the peer's status (``None`` if none came), the
    round trip of the C-ECHO itself in milliseconds, and why it failed."""

    status: int | None
    round_trip_ms: float | None = None
    comment: str = ""

    @property
    def ok(self) -> bool:
        """Success (0x0000)."""
        return self.status == 0


def echo(remote: RemoteAE, *, calling_ae: str) -> EchoOutcome:
    """C-ECHO (PS3.4 A.4) ``remote``: is it there, and does it accept us?

    The round trip is measured from the C-ECHO-RQ to its response, without the association
    set-up (which a refusal would make meaningless)."""
    ae = _ae(calling_ae)
    ae.acse_timeout = 10
    ae.dimse_timeout = 10
    ae.network_timeout = 10
    ae.add_requested_context(Verification)
    assoc, reason = _associate(ae, remote)
    if assoc is None or not assoc.is_established:
        return EchoOutcome(None, comment=reason)
    try:
        start = time.perf_counter()
        response = assoc.send_c_echo()
        elapsed = (time.perf_counter() - start) * 1000
    finally:
        if assoc.is_established:
            assoc.release()
    if "Status" not in response:
        return EchoOutcome(None, comment="no response (association lost or timed out)")
    status = int(response.Status)
    comment = "" if status == 0 else f"C-ECHO status 0x{status:04X}"
    return EchoOutcome(status, round(elapsed, 3), comment)


def archive_store_handler(
    ingest: Any, *, remote_ae_title: str, our_ae_title: str
) -> Callable[[Event], int | Dataset]:
    """A C-STORE handler for C-GET sub-operations that stores into the archive through
    ``ingest`` (an :class:`~raddx.archive.IngestService`), as C-STORE does; each failure is
    one failed sub-operation at the peer, with the reason as Error Comment."""

    def handle_store(event: Event) -> int | Dataset:
        request = event.request
        try:
            ingest.store_dataset(
                cast(BytesIO, request.DataSet).getbuffer(),
                sop_class_uid=str(request.AffectedSOPClassUID),
                sop_instance_uid=str(request.AffectedSOPInstanceUID),
                transfer_syntax_uid=str(event.context.transfer_syntax),
                source="retrieve",
                calling_ae_title=remote_ae_title,
                called_ae_title=our_ae_title,
            )
        except Exception as exc:  # each failure is one failed sub-operation at the peer
            log.warning(
                "retrieve: not stored sop_instance_uid=%s reason=%s",
                request.AffectedSOPInstanceUID,
                exc,
            )
            return status_dataset(status_for_error(exc), str(exc))
        return SUCCESS

    return handle_store


def stored_dataset(retrieved: RetrievedInstance) -> Dataset:
    """What to give :attr:`Outgoing.load` for an archived object: its stored bytes, sent
    unchanged when the peer accepts the stored transfer syntax (as C-GET/C-MOVE send them,
    :mod:`raddx.dimse._stored_send`), re-encoded only between the uncompressed syntaxes.

    Raises
    ------
    OSError
        The stored object could not be read (``retrieved.error``).
    ValueError
        Its transfer syntax is not one pydicom knows.
    """
    if retrieved.part10 is None or retrieved.meta is None:
        raise OSError(retrieved.error)
    return StoredObject(
        retrieved.part10,
        dataset_offset=retrieved.meta.dataset_offset,
        sop_class_uid=retrieved.ref.sop_class_uid,
        sop_instance_uid=retrieved.ref.sop_instance_uid,
        transfer_syntax_uid=retrieved.meta.transfer_syntax_uid,
        verbatim=retrieved.verbatim,
    )


def archived_outgoing(retrieve: RetrieveService, refs: Iterable[InstanceRef]) -> list[Outgoing]:
    """Archived instances to send, each read from the blob store only when its turn comes
    (:func:`stored_dataset`)."""

    def loader(ref: InstanceRef) -> Callable[[], Dataset]:
        def load() -> Dataset:
            (retrieved,) = retrieve.read([ref])
            return stored_dataset(retrieved)

        return load

    return [
        Outgoing(ref.sop_class_uid, ref.sop_instance_uid, ref.transfer_syntax_uid, loader(ref))
        for ref in refs
    ]


def _context_key(sop_class_uid: str, transfer_syntax_uid: str) -> tuple[str, tuple[UID, ...]]:
    # The uncompressed syntaxes share one context: pynetdicom converts between them, and a
    # peer accepting only Implicit VR (PS3.5 10.1 default) still gets the object.
    syntax = UID(transfer_syntax_uid)
    return sop_class_uid, _UNCOMPRESSED if syntax in _UNCOMPRESSED else (syntax,)


def _batches(objects: Iterable[Outgoing]) -> list[tuple[list[PresentationContext], list[Outgoing]]]:
    """Split ``objects`` so that no association needs more than 128 contexts.

    First fit: an object joins the first batch that already has its context or still has
    room, so objects of a class seen early never open another association.
    """
    batches: list[tuple[dict[tuple[str, tuple[UID, ...]], None], list[Outgoing]]] = []
    for item in objects:
        key = _context_key(item.sop_class_uid, item.transfer_syntax_uid)
        batch = next((b for b in batches if key in b[0] or len(b[0]) < MAX_CONTEXTS), None)
        if batch is None:
            batch = ({}, [])
            batches.append(batch)
        batch[0].setdefault(key, None)
        batch[1].append(item)
    return [
        ([build_context(sop_class, list(ts)) for sop_class, ts in keys], items)
        for keys, items in batches
    ]


def _ae(calling_ae: str) -> AE:
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = 30
    ae.dimse_timeout = 120
    ae.network_timeout = 60
    return ae


def _associate(ae: AE, remote: RemoteAE, **kwargs: Any) -> tuple[Association | None, str]:
    """Associate; on failure return the reason a person can act on (and no association when
    there was none to make: a host name that does not resolve)."""
    where = f"{remote.ae_title} at {remote.host}:{remote.port}"
    try:
        assoc = ae.associate(remote.host, remote.port, ae_title=remote.ae_title, **kwargs)
    except OSError as exc:  # socket.gaierror from pynetdicom's address lookup
        return None, f"cannot associate with {where}: {exc.strerror or exc}"
    if assoc.is_established:
        # PS3.8 has nothing to say about Nagle; without TCP_NODELAY each small PDU after a
        # large one may wait ~40 ms for the peer's delayed ACK (STYLE rule 13).
        sock = getattr(assoc.dul.socket, "socket", None)
        if sock is not None:
            set_nodelay(sock)
        return assoc, ""
    if assoc.is_rejected:
        return assoc, f"association rejected by {where}"
    return assoc, f"cannot associate with {where} (unreachable, refused or aborted)"


def send_instances(
    remote: RemoteAE,
    objects: Iterable[Outgoing],
    *,
    calling_ae: str,
    progress: Callable[[StoreOutcome], None] | None = None,
) -> SendSummary:
    """C-STORE (PS3.4 B.2) each object to ``remote``, one association per 128 contexts.

    Ctrl-C (``KeyboardInterrupt``) stops the sending: the open association is aborted
    (A-ABORT, PS3.8 7.3: a release would wait for the C-STORE in flight), the object in
    flight counts as failed (the peer may or may not have kept it) and the rest as not
    attempted. The summary is returned either way, so the caller can print it.

    Parameters
    ----------
    remote
        The Storage SCP.
    objects
        What to send; each is loaded only when it is sent.
    calling_ae
        Our AE title.
    progress
        Called after each object with its outcome.

    Returns
    -------
    SendSummary
        One outcome per object tried, in the order sent (the order given, association by
        association). An object the peer did not accept a context for, one that cannot be
        loaded, and every object after the association is lost fail with ``status``
        ``None`` and a comment.
    """
    install_stored_send()
    outcomes: list[StoreOutcome] = []

    def record(outcome: StoreOutcome) -> None:
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)

    batches = _batches(objects)
    total = sum(len(items) for _, items in batches)
    assoc: Association | None = None
    in_flight: Outgoing | None = None
    try:
        for contexts, items in batches:
            ae = _ae(calling_ae)
            ae.requested_contexts = contexts
            assoc, reason = _associate(ae, remote)
            try:
                with contextlib.ExitStack() as link:
                    if supports_direct(assoc):
                        # Responses read on this thread: pynetdicom's reactor pause has a
                        # window in which its reactor takes a C-STORE-RSP off the queue
                        # ("Received unexpected C-STORE service message") and the send
                        # fails as "association lost"; seen under load in CI.
                        link.enter_context(direct_sub_operations(cast(Association, assoc)))
                    for item in items:
                        if assoc is None or not assoc.is_established:
                            lost = reason or "association lost"
                            record(StoreOutcome(item.sop_instance_uid, None, lost))
                            continue
                        in_flight = item
                        outcome = _store_one(assoc, item)
                        in_flight = None
                        record(outcome)
            finally:
                if assoc is not None and assoc.is_established and in_flight is None:
                    assoc.release()
    except KeyboardInterrupt:
        if assoc is not None and assoc.is_established:
            assoc.abort()
        if in_flight is not None:
            comment = "interrupted while sending; the peer may or may not have kept it"
            outcomes.append(StoreOutcome(in_flight.sop_instance_uid, None, comment))
        return SendSummary(outcomes, interrupted=True, not_attempted=total - len(outcomes))
    return SendSummary(outcomes)


def _store_one(assoc: Association, item: Outgoing) -> StoreOutcome:
    try:
        dataset = item.load()
    except Exception as exc:  # missing or unreadable: this object fails, the rest go on
        return StoreOutcome(item.sop_instance_uid, None, f"cannot read the object: {exc}")
    try:
        response = assoc.send_c_store(dataset)
    except ValueError as exc:  # pynetdicom: no accepted context for this class/syntax
        return StoreOutcome(item.sop_instance_uid, None, str(exc))
    if "Status" not in response:
        return StoreOutcome(item.sop_instance_uid, None, "no response (association lost)")
    return StoreOutcome(
        item.sop_instance_uid, int(response.Status), str(response.get("ErrorComment", ""))
    )


def _final(responses: Iterator[tuple[Dataset, Dataset | None]], on_pending: Any) -> RetrieveOutcome:
    last: Dataset | None = None
    for status, _identifier in responses:
        if "Status" not in status:
            return RetrieveOutcome(None, comment="no response (association lost or timed out)")
        if status.Status == PENDING:
            if on_pending is not None:
                on_pending(status)
            continue
        last = status
    if last is None:
        return RetrieveOutcome(None, comment="no final response")
    return RetrieveOutcome(
        int(last.Status),
        completed=int(last.get("NumberOfCompletedSuboperations", 0) or 0),
        failed=int(last.get("NumberOfFailedSuboperations", 0) or 0),
        warning=int(last.get("NumberOfWarningSuboperations", 0) or 0),
        comment=str(last.get("ErrorComment", "")),
    )


def move(
    remote: RemoteAE,
    identifier: Dataset,
    destination_ae: str,
    *,
    calling_ae: str,
    query_model: str = StudyRootQueryRetrieveInformationModelMove,
    progress: Callable[[Dataset], None] | None = None,
) -> RetrieveOutcome:
    """C-MOVE (PS3.4 C.4.2): ask ``remote`` to send what ``identifier`` names to
    ``destination_ae`` (which ``remote`` must know).

    ``progress`` receives each Pending response (its sub-operation counts).
    """
    ae = _ae(calling_ae)
    ae.add_requested_context(query_model)
    assoc, reason = _associate(ae, remote)
    if assoc is None or not assoc.is_established:
        return RetrieveOutcome(None, comment=reason)
    try:
        return _final(assoc.send_c_move(identifier, destination_ae, query_model), progress)
    finally:
        if assoc.is_established:
            assoc.release()


def get(
    remote: RemoteAE,
    identifier: Dataset,
    store_into: Callable[[Event], int | Dataset],
    *,
    calling_ae: str,
    sop_classes: Sequence[str] | None = None,
    query_model: str = StudyRootQueryRetrieveInformationModelGet,
    progress: Callable[[Dataset], None] | None = None,
) -> RetrieveOutcome:
    """C-GET (PS3.4 C.4.3): ``remote`` sends what ``identifier`` names back on this
    association; ``store_into`` handles each C-STORE sub-operation and returns its status.

    The storage SOP classes are proposed with us as SCP (role selection, PS3.7 D.3.3.4),
    each in the storage transfer syntaxes. ``sop_classes`` says which (any UID, known to
    pynetdicom or not; :mod:`raddx.dimse.get_plan` finds them with a C-FIND first); by
    default the first 127 known storage classes are proposed (128 contexts at most, one is
    the query model), so an object of another class is a failed sub-operation.

    Raises
    ------
    ValueError
        More than 127 ``sop_classes``.
    """
    ae = _ae(calling_ae)
    ae.add_requested_context(query_model)
    if sop_classes is None:
        contexts = storage_contexts()[: MAX_CONTEXTS - 1]
    else:
        if len(sop_classes) > MAX_CONTEXTS - 1:
            raise ValueError(f"{len(sop_classes)} SOP classes; at most {MAX_CONTEXTS - 1}")
        contexts = [
            build_context(sop_class, list(STORAGE_TRANSFER_SYNTAXES)) for sop_class in sop_classes
        ]
    roles = []
    for cx in contexts:
        assert cx.abstract_syntax is not None  # built from named SOP classes
        ae.add_requested_context(cx.abstract_syntax, cx.transfer_syntax)
        roles.append(build_role(cx.abstract_syntax, scp_role=True))
    assoc, reason = _associate(
        ae, remote, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, store_into)]
    )
    if assoc is None or not assoc.is_established:
        return RetrieveOutcome(None, comment=reason)
    try:
        return _final(assoc.send_c_get(identifier, query_model), progress)
    finally:
        if assoc.is_established:
            assoc.release()
