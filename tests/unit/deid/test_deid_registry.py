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
from raddx.errors import InvalidInput

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
