"""The security disclosure: the shipped catalog points at real tests and settings, answers
follow configuration and test evidence, the JUnit reader maps pytest's node IDs, and the CLI
writes every format (issue 9 §6)."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from raddx.cli import app
from raddx.config import Settings, load_settings
from raddx.security.disclosure import (
    Catalog,
    Control,
    RecordedRun,
    build_disclosure,
    load_catalog,
    render_csv,
    render_json,
)

ROOT = Path(__file__).resolve().parents[3]
MDS2_ID = re.compile(r"^[A-Z]{3,4}-\d+(\.\d+)*$")


def test_shipped_catalog_names_existing_tests_settings_and_items() -> None:
    catalog = load_catalog()
    assert catalog.controls, "the catalog is empty"
    ids = [c.id for c in catalog.controls]
    assert len(ids) == len(set(ids)), "duplicate control IDs"
    for control in catalog.controls:
        for item in control.mds2:
            assert MDS2_ID.match(item), f"{control.id}: {item!r} is not an MDS2 item ID"
        for key in control.requires:
            assert key in Settings.model_fields, f"{control.id}: no setting {key!r}"
        for test in control.tests:
            path, _, name = test.partition("::")
            source = ROOT / path
            assert source.is_file(), f"{control.id}: {path} does not exist"
            if name:
                assert re.search(rf"def {re.escape(name)}\(", source.read_text("utf-8")), (
                    f"{control.id}: {path} has no test {name}"
                )
        for doc in control.docs:
            assert (ROOT / doc).is_file(), f"{control.id}: document {doc} does not exist"


def _catalog(**requires: object) -> Catalog:
    return Catalog(
        mds2_form="HN 1-2019",
        guideline="6.0",
        controls=(
            Control(
                id="CTL-A",
                title="A",
                mds2=("AUTH-1", "PAUT-3"),
                jp=("6.0 x",),
                requires=dict(requires),
                tests=("tests/unit/test_a.py::test_ok", "tests/unit/test_b.py"),
            ),
            Control(id="CTL-B", title="B", mds2=("AUTH-1",), tests=("tests/unit/test_c.py",)),
        ),
    )


def _run(**outcomes: str) -> RecordedRun:
    base = {
        "tests/unit/test_a.py::test_ok[1]": "passed",
        "tests/unit/test_a.py::test_ok[2]": "passed",
        "tests/unit/test_a.py::test_other": "failed",  # not named by CTL-A: irrelevant
        "tests/unit/test_b.py::TestX::test_y": "passed",
        "tests/unit/test_c.py::test_z": "passed",
    }
    base.update(outcomes)
    return RecordedRun("junit.xml", base)  # type: ignore[arg-type]


def _answers(disclosure: object) -> dict[str, str]:
    return {i.item: i.answer for i in disclosure.items}  # type: ignore[attr-defined]


def test_yes_only_when_enabled_and_every_named_test_passed() -> None:
    settings = load_settings(tls_only=True)
    yes = build_disclosure(_catalog(tls_only=True), settings, _run())
    assert _answers(yes) == {"AUTH-1": "Yes", "PAUT-3": "Yes", "6.0 x": "Yes"}

    failed = build_disclosure(
        _catalog(), settings, _run(**{"tests/unit/test_a.py::test_ok[2]": "failed"})
    )
    assert _answers(failed)["PAUT-3"] == "No"
    assert "1 failed case(s) in tests/unit/test_a.py::test_ok" in failed.items[0].notes
    # AUTH-1 is also claimed by CTL-B, which holds; one failing claimant is enough for No.
    assert _answers(failed)["AUTH-1"] == "No"


def test_disabled_setting_missing_or_skipped_evidence_answer_no() -> None:
    off = build_disclosure(_catalog(tls_only=True), load_settings(tls_only=False), _run())
    assert _answers(off)["PAUT-3"] == "No"
    assert "setting tls_only is False, the control needs True" in off.items[-1].notes

    skipped = _run(**{"tests/unit/test_c.py::test_z": "skipped"})
    assert _answers(build_disclosure(_catalog(), load_settings(), skipped))["AUTH-1"] == "No"

    nothing = build_disclosure(_catalog(), load_settings(), None)
    assert set(_answers(nothing).values()) == {"No"}
    assert "no recorded test run" in nothing.items[0].notes


def test_set_requirement_and_unknown_setting() -> None:
    catalog = _catalog(audit_syslog_host="set")
    assert _answers(build_disclosure(catalog, load_settings(), _run()))["PAUT-3"] == "No"
    configured = load_settings(audit_syslog_host="collector.example")
    assert _answers(build_disclosure(catalog, configured, _run()))["PAUT-3"] == "Yes"
    unknown = build_disclosure(_catalog(no_such_setting=True), load_settings(), _run())
    assert "unknown setting 'no_such_setting'" in unknown.items[-1].notes


def test_junit_of_a_real_pytest_run_maps_to_node_ids(tmp_path: Path) -> None:
    tests = tmp_path / "tests" / "unit"
    tests.mkdir(parents=True)
    (tests / "test_sample.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('x', [1, 2])\n"
        "def test_param(x):\n    assert x == 1\n"
        "class TestGroup:\n    def test_in_class(self):\n        pass\n"
        "@pytest.mark.skip(reason='off')\ndef test_skipped():\n    pass\n",
        encoding="utf-8",
    )
    junit = tmp_path / "junit.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            f"--junitxml={junit}",
            "--rootdir",
            str(tmp_path),
            "tests/unit/test_sample.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        timeout=120,
    )
    run = RecordedRun.from_junit(junit)
    assert run.outcomes == {
        "tests/unit/test_sample.py::test_param[1]": "passed",
        "tests/unit/test_sample.py::test_param[2]": "failed",
        "tests/unit/test_sample.py::TestGroup::test_in_class": "passed",
        "tests/unit/test_sample.py::test_skipped": "skipped",
    }
    assert run.evidence("tests/unit/test_sample.py::test_param") == (1, 1, 0)
    assert run.evidence("tests/unit/test_sample.py") == (2, 1, 1)


def test_cli_writes_every_format(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.unit.security.test_peers" name="test_open_policy"/>'
        "</testsuite></testsuites>",
        encoding="utf-8",
    )
    out = tmp_path / "disclosure"
    result = CliRunner().invoke(
        app, ["security", "disclosure", "--junit", str(junit), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"\d+ Yes, \d+ No; written to", result.output)
    assert sorted(p.name for p in out.iterdir()) == [
        "DISCLOSURE.md",
        "disclosure.csv",
        "disclosure.json",
        "disclosure.xlsx",
    ]
    body = json.loads((out / "disclosure.json").read_text("utf-8"))
    assert {c["id"] for c in body["controls"]} == {c.id for c in load_catalog().controls}
    raw = (out / "disclosure.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["form", "item", "answer", "controls", "notes"]
    assert {r[2] for r in rows[1:]} <= {"Yes", "No"}
    book = load_workbook(out / "disclosure.xlsx")
    assert book.sheetnames == ["MDS2", "JP"]
    assert book["MDS2"].max_row == 1 + sum(r[0] == "MDS2" for r in rows[1:])
    # One control's tests only partly ran: nothing in this run proves a whole control.
    assert all(i["answer"] == "No" for i in body["items"])


def test_renderers_agree_on_answers() -> None:
    disclosure = build_disclosure(_catalog(), load_settings(), _run())
    rows = list(csv.reader(io.StringIO(render_csv(disclosure).lstrip("\ufeff"))))[1:]
    body = json.loads(render_json(disclosure))
    assert [(r[1], r[2]) for r in rows] == [(i["item"], i["answer"]) for i in body["items"]]


@pytest.mark.parametrize("where", ["stdout", "file"])
def test_sbom_is_valid_cyclonedx_with_installed_versions(tmp_path: Path, where: str) -> None:
    from importlib.metadata import version

    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    args = ["security", "sbom"] + (
        ["--out", str(tmp_path / "sbom.json")] if where == "file" else []
    )
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = result.output if where == "stdout" else (tmp_path / "sbom.json").read_text("utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["metadata"]["component"]["name"] == "raddx"
    purls = {c["purl"] for c in bom["components"]}
    assert f"pkg:pypi/pydicom@{version('pydicom')}" in purls
    assert f"pkg:pypi/sqlalchemy@{version('sqlalchemy')}" in purls
