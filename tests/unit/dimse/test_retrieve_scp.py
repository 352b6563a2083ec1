"""The C-GET/C-MOVE handlers without sockets: the yield protocol, refusals, cancel, contexts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    MRImageStorage,
)
from pynetdicom.dimse_primitives import C_GET, C_MOVE
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from dicom_factory import make_dataset, to_part10
from raddx.archive import RetrievedInstance
from raddx.archive.part10 import read_file_meta
from raddx.archive.query import InstanceRef, Query
from raddx.archive.retrieve import check_retrieve_query
from raddx.config import load_settings
from raddx.dimse._stored_send import StoredObject
from raddx.dimse.retrieve import destination_contexts, handle_get, handle_move

STUDY = "1.2.3"


def _ref(n: int, syntax: str = ExplicitVRLittleEndian, sop_class: str = CTImageStorage) -> Any:
    return InstanceRef(sop_class, f"1.2.3.{n}", syntax, f"key{n}")


class _Service:
    """Stands in for RetrieveService: ``refs`` match; ``unreadable`` UIDs fail to read."""

    def __init__(self, refs: list[InstanceRef], unreadable: frozenset[str] = frozenset()) -> None:
        self.refs = refs
        self.unreadable = unreadable

    def instances(self, query: Query) -> list[InstanceRef]:
        check_retrieve_query(query)
        return self.refs

    def read(self, refs: Iterable[InstanceRef]) -> Iterator[RetrievedInstance]:
        for ref in refs:
            if ref.sop_instance_uid in self.unreadable:
                yield RetrievedInstance(ref, None, None, "gone")
            else:
                ds = make_dataset(sop_class=ref.sop_class_uid, sop_uid=ref.sop_instance_uid)
                part10 = to_part10(ds, ref.transfer_syntax_uid)
                yield RetrievedInstance(ref, part10, read_file_meta(part10))


class _Dimse:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send_msg(self, primitive: Any, context_id: int) -> None:
        self.sent.append(primitive)


class _Event:
    def __init__(
        self,
        sop_class: str,
        identifier: Dataset,
        destination: str | None = None,
        cancel_after: int | None = None,
    ) -> None:
        self.identifier = identifier
        self.move_destination = destination
        self.request = SimpleNamespace(AffectedSOPClassUID=sop_class, MessageID=7)
        self.assoc = SimpleNamespace(
            dimse=_Dimse(),
            requestor=SimpleNamespace(ae_title="PEER", address="127.0.0.1"),
            acceptor=SimpleNamespace(ae_title="RADDX"),
        )
        self._checks = 0
        self._cancel_after = cancel_after

    @property
    def is_cancelled(self) -> bool:
        self._checks += 1
        return self._cancel_after is not None and self._checks > self._cancel_after


def _identifier(**keys: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def _final(event: _Event, primitive: Any) -> Any:
    """What pynetdicom does with a final response: send it on the requesting association."""
    primitive.MessageIDBeingRespondedTo = 7
    event.assoc.dimse.send_msg(primitive, 1)
    return event.assoc.dimse.sent[-1]


def test_get_yields_count_then_pending_datasets_and_fails_unreadable() -> None:
    refs = [_ref(1), _ref(2), _ref(3)]
    event = _Event(StudyRootQueryRetrieveInformationModelGet, _identifier(StudyInstanceUID=STUDY))
    out = list(handle_get(event, _Service(refs, frozenset({"1.2.3.2"}))))  # type: ignore[arg-type]
    assert out[0] == 3
    assert [status for status, _ in out[1:]] == [0xFF00] * 3
    # An unreadable object is yielded without SOPClassUID: pynetdicom's C-STORE refuses it
    # before sending and counts a failed sub-operation under its SOPInstanceUID.
    assert ["SOPClassUID" in d for _, d in out[1:]] == [True, False, True]
    assert out[2][1].SOPInstanceUID == "1.2.3.2"
    # A readable one goes out as its stored bytes (see test_stored_send.py).
    assert isinstance(out[1][1], StoredObject)
    assert out[1][1].file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_get_cancel() -> None:
    event = _Event(
        StudyRootQueryRetrieveInformationModelGet,
        _identifier(StudyInstanceUID=STUDY),
        cancel_after=1,
    )
    out = list(handle_get(event, _Service([_ref(1), _ref(2), _ref(3)])))  # type: ignore[arg-type]
    assert out[0] == 3
    assert out[-1] == (0xFE00, None)
    assert len(out) == 3  # one sub-operation, then Cancel


def test_get_refusal_rewrites_the_empty_success() -> None:
    event = _Event(StudyRootQueryRetrieveInformationModelGet, _identifier(StudyInstanceUID=""))
    gen = handle_get(event, _Service([]))  # type: ignore[arg-type]
    assert next(gen) == 0  # pynetdicom then answers Success with zero counts...
    rsp = C_GET()
    rsp.Status = 0x0000
    rsp.NumberOfCompletedSuboperations = 0
    sent = _final(event, rsp)
    assert sent.Status == 0xA900  # ...which goes out as the refusal, with a comment
    assert "StudyInstanceUID" in sent.ErrorComment
    assert sent.NumberOfCompletedSuboperations is None
    gen.close()
    assert "send_msg" not in vars(event.assoc.dimse)  # the rewrite is removed


def test_move_unknown_destination() -> None:
    settings = load_settings(remote_aes=[{"ae_title": "DEST", "host": "10.0.0.1", "port": 104}])
    event = _Event(
        StudyRootQueryRetrieveInformationModelMove, _identifier(StudyInstanceUID=STUDY), "OTHER"
    )
    gen = handle_move(event, _Service([_ref(1)]), settings)  # type: ignore[arg-type]
    assert next(gen) == (None, None)
    rsp = C_MOVE()
    rsp.Status = 0xA801
    sent = _final(event, rsp)
    assert sent.Status == 0xA801
    assert "OTHER" in sent.ErrorComment


def test_move_refused_association_counts_every_sub_operation_failed() -> None:
    settings = load_settings(remote_aes=[{"ae_title": "DEST", "host": "10.0.0.1", "port": 104}])
    event = _Event(
        StudyRootQueryRetrieveInformationModelMove, _identifier(StudyInstanceUID=STUDY), "DEST"
    )
    gen = handle_move(event, _Service([_ref(1), _ref(2)]), settings)  # type: ignore[arg-type]
    host, port, kwargs = next(gen)
    assert (host, port) == ("10.0.0.1", 104)
    assert [c.abstract_syntax for c in kwargs["contexts"]] == [CTImageStorage]
    assert next(gen) == 2
    rsp = C_MOVE()
    rsp.Status = 0xA801  # pynetdicom's answer when the destination refuses
    sent = _final(event, rsp)
    assert sent.Status == 0xA702
    assert (sent.NumberOfFailedSuboperations, sent.NumberOfCompletedSuboperations) == (2, 0)
    assert "DEST" in sent.ErrorComment


def test_move_after_association_sends_pending_and_drops_the_rewrite() -> None:
    settings = load_settings(remote_aes=[{"ae_title": "DEST", "host": "10.0.0.1", "port": 104}])
    event = _Event(
        StudyRootQueryRetrieveInformationModelMove, _identifier(StudyInstanceUID=STUDY), "DEST"
    )
    gen = handle_move(event, _Service([_ref(1)]), settings)  # type: ignore[arg-type]
    next(gen)
    next(gen)
    status, dataset = next(gen)
    assert status == 0xFF00 and dataset.SOPInstanceUID == "1.2.3.1"
    assert "send_msg" not in vars(event.assoc.dimse)


def test_destination_contexts() -> None:
    refs = [
        _ref(1),
        _ref(2, ImplicitVRLittleEndian),  # same context as Explicit: pynetdicom converts
        _ref(3, JPEG2000Lossless),  # compressed: its own context, never transcoded
        _ref(4, sop_class=MRImageStorage),
    ]
    contexts = [(c.abstract_syntax, c.transfer_syntax) for c in destination_contexts(refs)]
    assert contexts == [
        (CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]),
        (CTImageStorage, [JPEG2000Lossless]),
        (MRImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]),
    ]
    many = [_ref(n, sop_class=f"1.2.840.99.{n}") for n in range(200)]
    assert len(destination_contexts(many)) == 128
