"""deid/registry.py: the pseudonym registry in the index database, on SQLite and PostgreSQL.

Named test_deid_registry for a unique basename. Uses the ``database_url`` fixture, so every
test runs on both databases (PostgreSQL from the throw-away cluster or the CI server).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydicom
import pytest
from sqlalchemy import Engine, func, select

from deid_corpus import build_corpus
from raddx.db import make_engine, make_session_factory, upgrade
from raddx.db.models import DeidPseudonym, DeidPseudonymLookup
from raddx.deid import Policy, ProjectKey, deidentify_paths, load_policy
from raddx.deid.registry import DatabaseRegistry, KeyedRegistry, audit_rows
from raddx.deid.seal import SealKey
from raddx.errors import InvalidInput, NotFound

KEY = ProjectKey(b"raddx test project key 0001")


@pytest.fixture
def db(database_url: str) -> Any:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _registry(engine: Engine, key: ProjectKey = KEY) -> DatabaseRegistry:
    return DatabaseRegistry(
        make_session_factory(engine), key=key, min_days=30, max_days=60, actor="test"
    )


def _policy() -> Policy:
    data = load_policy("pseudonymize").model_dump(mode="json")
    return Policy.model_validate(data | {"registry": "database"})


def test_first_lookup_creates_later_ones_read_and_all_are_audited(db: Engine) -> None:
    registry = _registry(db)
    first = registry.lookup("SHIBA\0007001234")
    again = registry.lookup("SHIBA\0007001234")
    other = registry.lookup("SHIBA\0007001235")
    assert first == again != other
    assert first.pseudonym.startswith("RDX") and len(first.pseudonym) == 19
    assert 30 <= first.date_offset_days <= 60
    with make_session_factory(db)() as session:
        assert [r.event for r in audit_rows(session)] == ["created", "read", "created"]
        assert {r.actor for r in audit_rows(session)} == {"test"}
        stored = session.scalars(select(DeidPseudonym.patient_key)).all()
    assert all("7001234" not in key for key in stored)  # the table holds no patient ID


def test_values_are_random_not_derived_from_the_key(db: Engine, database_url: str) -> None:
    keyed = KeyedRegistry(KEY, min_days=30, max_days=60).lookup("SHIBA\0007001234")
    stored = _registry(db).lookup("SHIBA\0007001234")
    assert stored.pseudonym != keyed.pseudonym


def test_projects_do_not_share_patients(db: Engine) -> None:
    one = _registry(db).lookup("SHIBA\0007001234")
    two = _registry(db, ProjectKey(b"another project key 000002")).lookup("SHIBA\0007001234")
    assert one.pseudonym != two.pseudonym


def test_an_ephemeral_key_cannot_keep_a_registry(db: Engine) -> None:
    with pytest.raises(ValueError, match="project key"):
        _registry(db, ProjectKey.random())
    data = load_policy("anonymize").model_dump(mode="json")
    with pytest.raises(ValueError, match="unlinkable"):
        Policy.model_validate(data | {"registry": "database"})


def test_runs_with_the_database_registry_agree_and_audit_every_object(
    tmp_path: Path, db: Engine, database_url: str
) -> None:
    corpus = build_corpus(tmp_path / "in", patients=2, images_per_series=1)
    ids = []
    for run in range(2):
        out = tmp_path / f"out{run}"
        summary = deidentify_paths(
            [tmp_path / "in"], out_dir=out, quarantine_dir=tmp_path / f"q{run}",
            policy=_policy(), key=KEY, database_url=database_url, jobs=1 + run,
        )  # fmt: skip
        assert summary.written == len(corpus.files)
        ids.append(sorted({pydicom.dcmread(p).PatientID for p in out.rglob("*.dcm")}))
        assert json.loads((out / "manifest.json").read_text())["policy"] == "pseudonymize"
    assert ids[0] == ids[1] and len(ids[0]) == 2
    with make_session_factory(db)() as session:
        assert session.scalar(select(func.count()).select_from(DeidPseudonym)) == 2
        lookups = session.scalar(select(func.count()).select_from(DeidPseudonymLookup))
    assert lookups == 2 * len(corpus.files)


def test_a_database_policy_without_a_database_fails_before_reading(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="keeps pseudonyms in the database"):
        deidentify_paths(
            [tmp_path], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
            policy=_policy(), key=KEY,
        )  # fmt: skip
    assert not (tmp_path / "out").exists()


# -- sealed at rest (raddx.deid.seal; migration 0015) ------------------------------------------

SEAL = SealKey(b"raddx test registry key 0001")


def test_a_sealed_registry_keeps_nothing_in_clear_and_reveals_with_the_key(db: Engine) -> None:
    registry = DatabaseRegistry(
        make_session_factory(db), key=KEY, min_days=30, max_days=60, actor="test", seal_key=SEAL
    )
    first = registry.lookup("SHIBA\0007001234")
    assert registry.lookup("SHIBA\0007001234") == first
    assert 30 <= first.date_offset_days <= 60
    with make_session_factory(db)() as session:
        (row,) = session.scalars(select(DeidPseudonym)).all()
        assert row.sealed is not None and row.date_offset_days is None
        assert row.pseudonym != first.pseudonym  # its HMAC: unique, searchable, not the value
        assert "7001234" not in row.sealed and first.pseudonym not in row.sealed
    assert registry.reveal(first.pseudonym) == "SHIBA\0007001234"
    with pytest.raises(NotFound):
        registry.reveal("RDX0000000000000000")
    with make_session_factory(db)() as session:
        assert [r.event for r in audit_rows(session)] == ["created", "read", "revealed"]


def test_a_sealed_row_does_not_open_without_or_with_another_key(db: Engine) -> None:
    factory = make_session_factory(db)
    DatabaseRegistry(factory, key=KEY, min_days=30, max_days=60, actor="t", seal_key=SEAL).lookup(
        "SHIBA\0007001234"
    )
    keyless = DatabaseRegistry(factory, key=KEY, min_days=30, max_days=60, actor="t")
    with pytest.raises(ValueError, match="sealed"):
        keyless.lookup("SHIBA\0007001234")
    wrong = DatabaseRegistry(
        factory, key=KEY, min_days=30, max_days=60, actor="t",
        seal_key=SealKey(b"another registry key 00002"),
    )  # fmt: skip
    with pytest.raises(ValueError, match="wrong registry key"):
        wrong.lookup("SHIBA\0007001234")
    with pytest.raises(ValueError, match="registry key"):
        keyless.reveal("RDX0000000000000000")


def test_clear_rows_from_before_stay_readable_under_a_key(db: Engine) -> None:
    factory = make_session_factory(db)
    old = DatabaseRegistry(factory, key=KEY, min_days=30, max_days=60, actor="t")
    before = old.lookup("SHIBA\0007001234")
    sealed = DatabaseRegistry(factory, key=KEY, min_days=30, max_days=60, actor="t", seal_key=SEAL)
    assert sealed.lookup("SHIBA\0007001234") == before


def test_the_database_file_holds_no_patient_id_or_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The user-visible promise: copy the index database and find nobody in it.
    monkeypatch.setenv("RADDX_DEID_REGISTRY_KEY", "raddx test registry key 0001")
    url = f"sqlite:///{tmp_path / 'index.db'}"
    corpus = build_corpus(tmp_path / "in", patients=2, images_per_series=1)
    summary = deidentify_paths(
        [tmp_path / "in"], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
        policy=_policy(), key=KEY, database_url=url,
    )  # fmt: skip
    assert summary.written == len(corpus.files)
    pseudonyms = {pydicom.dcmread(p).PatientID for p in (tmp_path / "out").rglob("*.dcm")}
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("index.db*"))
    for patient in corpus.patients:
        for token in (patient.patient_id, patient.family, patient.given, *patient.kanji):
            assert token.encode("utf-8") not in stored, token
    assert b"SHIBA GENERAL HOSPITAL" not in stored
    assert not any(p.encode("ascii") in stored for p in pseudonyms)


def test_a_short_registry_key_fails_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RADDX_DEID_REGISTRY_KEY", "short")
    with pytest.raises(InvalidInput, match="16 bytes"):
        deidentify_paths(
            [tmp_path], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
            policy=_policy(), key=KEY, database_url=f"sqlite:///{tmp_path / 'i.db'}",
        )  # fmt: skip
