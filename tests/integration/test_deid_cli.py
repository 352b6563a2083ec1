"""``raddx deid run`` / ``verify`` as a user runs them: the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pydicom

from deid_corpus import build_corpus

CT_SMALL = Path(pydicom.data.get_testdata_file("CT_small.dcm"))


def _raddx(*args: str | Path, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RADDX_DEID_KEY"}
    if key is not None:
        env["RADDX_DEID_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "raddx.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_run_then_verify(tmp_path: Path) -> None:
    inbox, out = tmp_path / "in", tmp_path / "out"
    build_corpus(inbox, patients=2, images_per_series=2)
    (inbox / "cut.dcm").write_bytes(CT_SMALL.read_bytes()[:8000])

    run = _raddx("deid", "run", inbox, "-o", out, "-p", "pseudonymize", key="k" * 32)

    assert run.returncode == 1, run.stdout + run.stderr  # 1: something was quarantined
    assert "written     10" in run.stdout
    assert "quarantined 1" in run.stdout
    assert "cut.dcm: truncated" in run.stdout
    reasons = (tmp_path / "out-quarantine" / "reasons.jsonl").read_text()
    assert "truncated" in reasons
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["written"] == 10

    verify = _raddx("deid", "verify", inbox, out, "-p", "pseudonymize")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "checked 10 output(s)" in verify.stdout
    assert "0 finding(s)" in verify.stdout


def test_verify_fails_on_a_leak(tmp_path: Path) -> None:
    inbox, out = tmp_path / "in", tmp_path / "out"
    build_corpus(inbox, patients=1, images_per_series=1)
    assert _raddx("deid", "run", inbox, "-o", out).returncode == 0
    victim = next(out.rglob("*.dcm"))
    ds = pydicom.dcmread(victim)
    ds.StudyDescription = "Hasegawa follow-up"
    ds.save_as(victim)

    verify = _raddx("deid", "verify", inbox, out)

    assert verify.returncode == 1
    assert "LEAK" in verify.stdout
    assert "(0008,1030)" in verify.stdout
    assert "Hasegawa" not in verify.stdout


def test_what_if_writes_nothing(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    build_corpus(inbox, patients=1, images_per_series=1)
    result = _raddx("deid", "run", inbox, "-o", tmp_path / "out", "--what-if")
    assert result.returncode == 0, result.stderr
    assert "(0010,0010) PatientName: P" in result.stdout
    assert not (tmp_path / "out").exists()


def test_usage_errors_exit_2_before_any_work(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    build_corpus(inbox, patients=1, images_per_series=1)
    blocker = tmp_path / "file"
    blocker.write_text("x")

    unwritable = _raddx("deid", "run", inbox, "-o", blocker / "out")
    no_key = _raddx("deid", "run", inbox, "-o", tmp_path / "o2", "-p", "pseudonymize")
    bad_policy = _raddx("deid", "run", inbox, "-o", tmp_path / "o3", "-p", "nonesuch")

    assert unwritable.returncode == 2
    assert "not writable" in unwritable.stderr
    assert not (tmp_path / "file-quarantine").exists()
    assert no_key.returncode == 2
    assert "RADDX_DEID_KEY" in no_key.stderr
    assert bad_policy.returncode == 2
    assert "unknown policy" in bad_policy.stderr


def test_database_registry_policy_with_jobs(tmp_path: Path) -> None:
    inbox, out, data = tmp_path / "in", tmp_path / "out", tmp_path / "data"
    build_corpus(inbox, patients=2, images_per_series=1)
    policy = tmp_path / "registry.yaml"
    shipped = Path(__file__).parents[2] / "src/raddx/deid/policies/pseudonymize.yaml"
    text = shipped.read_text().replace("name: pseudonymize", "name: with-registry")
    policy.write_text(text + "registry: database\n")

    run = _raddx(
        "deid", "run", inbox, "-o", out, "-p", policy, "--jobs", "2", "--data-dir", data,
        key="k" * 32,
    )  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    assert "written     6" in run.stdout
    with sqlite3.connect(data / "index.sqlite") as db:
        assert db.execute("SELECT count(*) FROM deid_pseudonym").fetchone() == (2,)
        events = db.execute("SELECT event, count(*) FROM deid_pseudonym_lookup GROUP BY event")
        assert dict(events.fetchall()) == {"created": 2, "read": 4}


def test_registry_reveal_gives_the_controller_the_patient_back(tmp_path: Path) -> None:
    inbox, out, data = tmp_path / "in", tmp_path / "out", tmp_path / "data"
    corpus = build_corpus(inbox, patients=1, images_per_series=1)
    policy = tmp_path / "registry.yaml"
    policy.write_text(
        "name: registry\noptions: [clean_descriptors, retain_longitudinal_modified_dates]\n"
        "overrides: {PatientID: P, PatientName: P}\nkey: project\nregistry: database\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADDX_DEID")}
    env |= {"RADDX_DEID_KEY": "k" * 32, "RADDX_DEID_REGISTRY_KEY": "r" * 32}

    def raddx(*args: str | Path, environ: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "raddx.cli", *map(str, args)],
            capture_output=True, text=True, timeout=120, check=False, env=environ,
        )  # fmt: skip

    run = raddx("deid", "run", inbox, "-o", out, "-p", policy, "--data-dir", data)
    assert run.returncode == 0, run.stdout + run.stderr
    pseudonym = pydicom.dcmread(next(out.rglob("*.dcm"))).PatientID
    reveal = raddx("deid", "registry", "reveal", pseudonym, "--data-dir", data)
    assert reveal.returncode == 0, reveal.stderr
    assert f"PatientID         {corpus.patients[0].patient_id}" in reveal.stdout
    assert "SHIBA GENERAL HOSPITAL" in reveal.stdout
    unknown = raddx("deid", "registry", "reveal", "RDX0000000000000000", "--data-dir", data)
    assert unknown.returncode == 1 and "no sealed registry entry" in unknown.stderr
    keyless = {k: v for k, v in env.items() if k != "RADDX_DEID_REGISTRY_KEY"}
    refused = raddx("deid", "registry", "reveal", pseudonym, "--data-dir", data, environ=keyless)
    assert refused.returncode == 2 and "registry key" in refused.stderr
