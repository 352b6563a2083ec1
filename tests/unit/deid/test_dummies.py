"""Dummy values (action D) are valid for their VR: checked by pydicom's own validators and a
write/read round trip (property test over every VR)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom import config
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import validate_value

from raddx.deid.dummies import _DUMMIES, dummy_value

# VRs whose values pydicom validates as text
_TEXT = ["AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC",
         "UR", "UT"]  # fmt: skip


@pytest.mark.parametrize("vr", _TEXT)
def test_text_dummy_passes_pydicom_validation(vr: str) -> None:
    validate_value(vr, dummy_value(vr), config.RAISE)
    assert dummy_value(vr) != ""  # D is non-zero length, unlike Z


@given(vr=st.sampled_from(sorted(_DUMMIES)), element=st.integers(0x1000, 0x10FF))
def test_dummy_round_trips_in_explicit_vr(vr: str, element: int) -> None:
    ds = Dataset()
    tag = 0x00290000 + element  # a private group keeps the test off real attributes
    ds.add_new(0x00290010, "LO", "RADDX TEST")
    ds.add_new(tag, vr, dummy_value(vr))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer)
    buffer.seek(0)
    from pydicom import dcmread

    back = dcmread(buffer, force=True)
    assert vr == back[tag].VR
    value = back[tag].value
    assert value not in (None, "", b"")


def test_sequences_and_uids_have_no_dummy() -> None:
    for vr in ("SQ", "UI"):
        with pytest.raises(ValueError, match=vr):
            dummy_value(vr)
