"""StoredObject and the encode hook: stored bytes out as they are, or re-encoded when needed."""

from __future__ import annotations

import inspect
from io import BytesIO

import pydicom
import pynetdicom.association as association
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom.dsutils import decode, encode

from dicom_factory import make_dataset, to_part10
from raddx.archive.part10 import read_file_meta
from raddx.dimse._stored_send import StoredObject, install


def _stored(syntax: str, *, verbatim: bool = True) -> tuple[StoredObject, bytes, pydicom.Dataset]:
    ds = make_dataset(pixel_bytes=128)
    part10 = to_part10(ds, syntax)
    meta = read_file_meta(part10)
    obj = StoredObject(
        part10,
        dataset_offset=meta.dataset_offset,
        sop_class_uid=ds.SOPClassUID,
        sop_instance_uid=ds.SOPInstanceUID,
        transfer_syntax_uid=syntax,
        verbatim=verbatim,
    )
    return obj, part10[meta.dataset_offset :], ds


def test_pynetdicom_internals_the_hook_relies_on() -> None:
    """send_c_store encodes through the module-level ``encode`` and reads the encoding from
    ``original_encoding``; an upgrade that moves either breaks the fast path silently."""
    source = inspect.getsource(association.Association.send_c_store)
    assert "bytestream = encode(" in source
    assert "original_encoding" in source
    install()
    install()  # idempotent: wraps once
    assert getattr(association.encode, "_raddx", False)


@pytest.mark.parametrize(
    "syntax",
    [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian],
)
def test_same_encoding_sends_the_stored_bytes(syntax: str) -> None:
    obj, body, _ = _stored(syntax)
    uid = pydicom.uid.UID(syntax)
    install()
    sent = association.encode(obj, uid.is_implicit_VR, uid.is_little_endian, uid.is_deflated)
    assert sent == body
    assert obj.SOPInstanceUID and obj.SOPClassUID  # what pynetdicom's SCPs read
    assert obj.original_encoding == (uid.is_implicit_VR, uid.is_little_endian)


@pytest.mark.parametrize(
    ("stored", "wanted"),
    [
        (ExplicitVRLittleEndian, ImplicitVRLittleEndian),
        (ImplicitVRLittleEndian, ExplicitVRLittleEndian),
        (DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian),  # inflated on the way out
        (ExplicitVRLittleEndian, ExplicitVRBigEndian),
    ],
)
def test_other_encoding_is_decoded_and_re_encoded(stored: str, wanted: str) -> None:
    obj, _, ds = _stored(stored)
    uid = pydicom.uid.UID(wanted)
    install()
    sent = association.encode(obj, uid.is_implicit_VR, uid.is_little_endian, uid.is_deflated)
    assert sent is not None
    back = decode(BytesIO(sent), uid.is_implicit_VR, uid.is_little_endian, uid.is_deflated)
    assert back.SOPInstanceUID == ds.SOPInstanceUID
    assert back.PixelData == ds.PixelData


def test_not_verbatim_is_always_re_encoded() -> None:
    obj, _, ds = _stored(ExplicitVRLittleEndian, verbatim=False)
    sent = obj.encoded(False, True, False)
    back = decode(BytesIO(sent), False, True, False)
    assert back.PixelData == ds.PixelData


def test_other_datasets_go_through_pynetdicoms_encoder() -> None:
    ds = make_dataset()
    install()
    assert association.encode(ds, True, True, False) == encode(ds, True, True, False)


def test_unknown_transfer_syntax_is_refused() -> None:
    with pytest.raises(ValueError, match="transfer_syntax_uid"):
        StoredObject(
            b"",
            dataset_offset=0,
            sop_class_uid="1.2.3",
            sop_instance_uid="1.2.3.4",
            transfer_syntax_uid="1.2.3.4.5",
        )
