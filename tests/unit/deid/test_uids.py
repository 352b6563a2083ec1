"""UID remapping: keyed, injective, short, never touching registry UIDs."""

from __future__ import annotations

import uuid

import pydicom.uid
from hypothesis import given
from hypothesis import strategies as st

from raddx.deid.keys import ProjectKey
from raddx.deid.uids import UIDMapper, is_well_known

KEY = ProjectKey(b"0123456789abcdef0123")
uids = st.lists(st.integers(0, 10**20), min_size=1, max_size=8).map(
    lambda parts: "1.3.6.1.4.1.99999." + ".".join(map(str, parts))
)


def test_well_known_uids_are_kept() -> None:
    mapper = UIDMapper(KEY)
    for uid in (
        pydicom.uid.CTImageStorage,
        pydicom.uid.ExplicitVRLittleEndian,
        "1.2.840.10008.2.16.4",  # DCM coding scheme
        "1.2.840.10008.1.4.1.1",  # a well-known frame of reference (Talairach)
    ):
        assert is_well_known(uid)
        assert mapper.map(uid) == uid


def test_mapping_is_a_2_25_uuid_v8() -> None:
    mapped = UIDMapper(KEY).map("1.2.3.4")
    value = uuid.UUID(int=int(mapped.removeprefix("2.25.")))
    assert mapped.startswith("2.25.")
    assert value.version == 8
    assert value.variant == uuid.RFC_4122
    assert pydicom.uid.UID(mapped).is_valid


def test_overlong_input_uid_gives_a_valid_short_uid() -> None:
    too_long = "1.2.826.0.1.3680043.10.999." + "1234567890." * 5 + "1"  # 83 chars
    mapped = UIDMapper(KEY).map(too_long)
    assert len(too_long) > 64
    assert len(mapped) <= 44
    assert pydicom.uid.UID(mapped).is_valid


@given(st.sets(uids, min_size=2, max_size=50))
def test_injective_and_deterministic(values: set[str]) -> None:
    first, second = UIDMapper(KEY), UIDMapper(ProjectKey(KEY.secret))
    mapped = [first.map(v) for v in values]
    assert len(set(mapped)) == len(values)
    assert mapped == [second.map(v) for v in values]


def test_another_key_gives_other_uids() -> None:
    assert UIDMapper(KEY).map("1.2.3.4") != UIDMapper(ProjectKey(b"x" * 16)).map("1.2.3.4")
