"""A de-identification run is audited as one Export (PS3.15 A.5.3.4): the studies written,
marked Anonymized, by their new UIDs; the output folder as destination media (URI)."""

from __future__ import annotations

from pathlib import Path

from audit_schema import assert_valid
from deid_corpus import build_corpus
from raddx.deid import ProjectKey, deidentify_paths, load_policy
from raddx.security import audit
from raddx.security.atna import AuditSource, to_xml

KEY = ProjectKey(b"raddx test project key 0002")
SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)


def test_run_is_one_export_event(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    build_corpus(inbox, patients=1, images_per_series=2)
    out = tmp_path / "out"
    with audit.capture() as events:
        deidentify_paths(
            [inbox],
            out_dir=out,
            quarantine_dir=tmp_path / "q",
            policy=load_policy("pseudonymize"),
            key=KEY,
        )
    [export] = events
    assert (export.event_id.code.code, export.action.value, export.outcome) == ("110106", "R", 0)
    written = {p.relative_to(out).parts[0] for p in out.rglob("*.dcm")}
    assert {s.study_instance_uid for s in export.studies} == written
    root = assert_valid(to_xml(export, SOURCE))
    assert root.xpath("//ParticipantObjectDescription/Anonymized/text()") == ["true"] * len(written)
    media = root.xpath("ActiveParticipant[RoleIDCode/@csd-code='110154']")[0]
    assert media.get("UserID") == out.resolve().as_uri()
    assert media.find("MediaIdentifier/MediaType").get("csd-code") == "110037"


def test_what_if_is_not_an_export(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    build_corpus(inbox, patients=1, images_per_series=1)
    with audit.capture() as events:
        deidentify_paths(
            [inbox],
            out_dir=tmp_path / "out",
            quarantine_dir=tmp_path / "q",
            policy=load_policy("pseudonymize"),
            key=KEY,
            what_if=True,
        )
    assert events == []
