"""SCU helpers: contexts per association (PS3.8 9.3.2.2: at most 128) and outcome rules."""

from __future__ import annotations

import pynetdicom.association as association
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)
from pynetdicom.sop_class import CTImageStorage, MRImageStorage

from dicom_factory import make_dataset, to_part10
from raddx.archive import RetrievedInstance
from raddx.archive.part10 import read_file_meta
from raddx.archive.query import InstanceRef
from raddx.dimse._stored_send import install
from raddx.dimse.scu import MAX_CONTEXTS, Outgoing, StoreOutcome, _batches, stored_dataset


def _item(sop_class: str, syntax: str) -> Outgoing:
    return Outgoing(sop_class, generate_uid(), syntax, Dataset)


def test_uncompressed_syntaxes_share_one_context() -> None:
    items = [
        _item(CTImageStorage, ExplicitVRLittleEndian),
        _item(CTImageStorage, ImplicitVRLittleEndian),
        _item(CTImageStorage, JPEGBaseline8Bit),  # compressed: its own context, never transcoded
        _item(MRImageStorage, ExplicitVRLittleEndian),
    ]

    ((contexts, batch),) = _batches(items)

    assert batch == items
    assert [(cx.abstract_syntax, cx.transfer_syntax) for cx in contexts] == [
        (CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]),
        (CTImageStorage, [JPEGBaseline8Bit]),
        (MRImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]),
    ]


def test_more_than_128_contexts_split_into_associations() -> None:
    # 130 distinct SOP classes (made-up UIDs stand in for private storage classes).
    items = [_item(generate_uid(), ExplicitVRLittleEndian) for _ in range(130)]
    # Its context is in the first association already: it goes there, not into a third one.
    late = _item(items[0].sop_class_uid, ImplicitVRLittleEndian)

    batches = _batches([*items, late])

    assert [len(contexts) for contexts, _ in batches] == [MAX_CONTEXTS, 2]
    assert [len(batch) for _, batch in batches] == [129, 2]
    assert batches[0][1] == [*items[:128], late]


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        (0x0000, True),
        (0xB000, True),  # PS3.4 B.2.3 Warning: coercion of data elements
        (0xB007, True),
        (0xA700, False),
        (0xC000, False),
        (None, False),  # no response at all
    ],
)
def test_store_outcome_ok(status: int | None, ok: bool) -> None:
    assert StoreOutcome("1.2.3", status).ok is ok


def test_archived_objects_are_sent_as_their_stored_bytes() -> None:
    ds = make_dataset()
    part10 = to_part10(ds, ImplicitVRLittleEndian)
    meta = read_file_meta(part10)
    ref = InstanceRef(ds.SOPClassUID, ds.SOPInstanceUID, ImplicitVRLittleEndian, "k")
    outgoing = stored_dataset(RetrievedInstance(ref, part10, meta))
    assert outgoing.SOPInstanceUID == ds.SOPInstanceUID
    assert outgoing.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    install()
    assert association.encode(outgoing, True, True, False) == part10[meta.dataset_offset :]
    with pytest.raises(OSError, match="gone"):
        stored_dataset(RetrievedInstance(ref, None, None, "gone"))
