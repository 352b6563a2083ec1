"""Table E.1-1 as vendored (2026d) and the resolution of options and composite actions."""

from __future__ import annotations

from collections import Counter

import pytest

from raddx.deid._generate_profile import build_table
from raddx.deid.profile import Action, DeidentificationOption, load_profile, resolve_actions

Opt = DeidentificationOption


def test_vendored_edition_and_row_counts() -> None:
    profile = load_profile()
    assert profile.edition == "2026d"
    assert "e257bc5e" in profile.source  # the verified rows digest of the transcription
    # 2026d Basic profile: 656 public rows + the private row (2024b had 620: 36 added)
    counts = Counter(r.basic.value for r in profile.rules)
    assert counts == {
        "X": 416, "D": 93, "U": 55, "Z": 42, "X/D": 23, "X/Z": 11, "X/Z/D": 8, "Z/D": 6,
        "X/Z/U*": 2,
    }  # fmt: skip
    assert profile.private_basic is Action.X
    assert profile.code_meanings["113105"] == "Clean Descriptors Option"


@pytest.mark.parametrize(
    ("options", "tag", "expected"),
    [
        ((), 0x00100010, Action.Z),  # PatientName
        ((), 0x00100020, Action.D),  # PatientID Z/D → D (keeps Type 1 uses valid)
        ((), 0x00081030, Action.X),  # StudyDescription
        ((Opt.CLEAN_DESCRIPTORS,), 0x00081030, Action.C),
        ((), 0x00080020, Action.Z),  # StudyDate
        ((Opt.RETAIN_LONGITUDINAL_MODIFIED_DATES,), 0x00080020, Action.C),
        ((Opt.RETAIN_LONGITUDINAL_FULL_DATES,), 0x00080020, Action.K),
        ((), 0x00081140, Action.U),  # ReferencedImageSequence X/Z/U* → keep, remap inside
        ((Opt.RETAIN_UIDS,), 0x00080018, Action.K),
        ((), 0x00080080, Action.D),  # InstitutionName X/Z/D
        ((), 0x60023000, Action.X),  # OverlayData, repeating group 60xx
        ((), 0x50100010, Action.X),  # Curve Data 50xx,xxxx
        ((), 0x00080060, None),  # Modality: not listed, kept
        ((), 0x00100011, Action.X),  # Person Names to Use Sequence: new in 2026d
        ((), 0x300A0054, Action.U),  # Table Top Position Alignment UID: new in 2026d
        ((Opt.CLEAN_DESCRIPTORS,), 0x00321033, Action.C),  # Requesting Service: C since 2026d
        # Allergies: K from Patient Characteristics? No: C; and Device Identity has no row
        ((Opt.RETAIN_PATIENT_CHARACTERISTICS, Opt.RETAIN_DEVICE_IDENTITY), 0x00102110, Action.C),
    ],
)
def test_resolution(options: tuple[Opt, ...], tag: int, expected: Action | None) -> None:
    assert resolve_actions(load_profile(), options).get(tag) is expected


def test_overrides_win() -> None:
    resolved = resolve_actions(load_profile(), (), {0x00100010: Action.PSEUDONYM})
    assert resolved.get(0x00100010) is Action.PSEUDONYM


def test_generator_maps_columns_to_cid_7050_codes() -> None:
    rows = [
        {"name": "Patient's Name", "tag": "(0010,0010)", "stdCompIOD": "Y", "basicProfile": "Z"},
        {
            "name": "Overlay Data",
            "tag": "(60xx,3000)",
            "stdCompIOD": "N",
            "basicProfile": "X",
            "cleanGraphOpt": "C",
        },
        {"name": "Private", "tag": "(GGGG,EEEE) WHERE GGGG IS ODD", "basicProfile": "X",
         "rtnSafePrivOpt": "C"},
    ]  # fmt: skip
    table = build_table(rows, edition="2099z", source="test")
    assert table["edition"] == "2099z"
    assert table["private"] == {"basic": "X", "options": {"113111": "C"}}
    name, overlay = table["attributes"]
    assert (name["keyword"], name["vr"], name["in_std_comp_iod"]) == ("PatientName", "PN", True)
    assert overlay["tag"] == "60XX3000"
    assert overlay["keyword"] == "OverlayData"
    assert overlay["options"] == {"113103": "C"}
    assert len(table["options"]) == 12
