"""Policies: the shipped modes load; invalid documents are refused with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from raddx.deid.policy import list_policies, load_policy
from raddx.deid.profile import Action, DeidentificationOption


def test_shipped_policies() -> None:
    assert list_policies() == ["anonymize", "basic", "coerce", "pseudonymize", "public"]
    assert load_policy("coerce").mode == "coerce"
    pseudo = load_policy("pseudonymize")
    assert pseudo.key == "project"
    assert DeidentificationOption.CLEAN_DESCRIPTORS in pseudo.options
    assert pseudo.override_tags()[0x00100020] is Action.PSEUDONYM
    assert load_policy("anonymize").key == "ephemeral"
    public = load_policy("public")
    assert public.key == "ephemeral" and public.quarantine.recognizable_faces
    assert DeidentificationOption.CLEAN_RECOGNIZABLE_VISUAL_FEATURES in public.options


def test_config_hash_changes_with_content() -> None:
    basic = load_policy("basic")
    assert basic.config_hash() == load_policy("basic").config_hash()
    assert basic.config_hash() != basic.model_copy(update={"name": "other"}).config_hash()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("name: x\noptions: [clean_pixel_data]\n", "clean_pixel_data needs pixel_rules"),
        (
            "name: x\noptions: [clean_recognizable_visual_features]\n",
            "needs quarantine.recognizable_faces",
        ),
        ("name: x\noptions: [no_such_option]\n", "options"),
        (
            "name: x\noptions: [retain_longitudinal_full_dates, "
            "retain_longitudinal_modified_dates]\n",
            "mutually exclusive",
        ),
        ("name: x\noverrides: {NotAKeyword: K}\n", "neither a DICOM keyword"),
        ("name: x\noverrides: {PatientName: Q}\n", "overrides"),
        ("name: x\ndate_shift: {min_days: 10, max_days: 5}\n", "max_days"),
        ("name: x\nquarantine: {sop_classes: [NoSuchStorage]}\n", "unknown SOP class"),
        ("name: x\ncolour: blue\n", "colour"),
        ("- just a list\n", "mapping"),
    ],
)
def test_invalid_policy_files(tmp_path: Path, document: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_policy(path)


def test_option_by_code_and_json(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"name": "j", "options": ["113105"], "overrides": {"00100010": "K"}}')
    policy = load_policy(path)
    assert policy.options == (DeidentificationOption.CLEAN_DESCRIPTORS,)
    assert policy.override_tags() == {0x00100010: Action.K}


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="shipped: anonymize, basic, coerce, pseudonymize, public"):
        load_policy("nonesuch")
