"""``raddx order add|list|cancel`` on a fresh data directory (SQLite)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from raddx.cli import app

JJ = "6000000200020000" + "0" * 16


def test_add_list_cancel(tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--data-dir", str(tmp_path / "data")]
    added = runner.invoke(
        app,
        [
            "order",
            "add",
            "--patient-id",
            "P1",
            "--name",
            "Yamada^Taro=山田^太郎",
            "--modality",
            "CT",
            "--date",
            "20261126",
            "--time",
            "0930",
            "--station",
            "CT01",
            "--jj1017",
            JJ,
            *common,
        ],
    )
    assert added.exit_code == 0, added.output
    accession = added.output.strip()
    assert accession.startswith("RX")
    listed = runner.invoke(app, ["order", "list", *common])
    assert f"{accession}\tSCHEDULED\tP1\tYamada^Taro=山田^太郎\tCT CT01 20261126 0930 {JJ}" in (
        listed.output
    )
    assert runner.invoke(app, ["order", "cancel", accession, *common]).exit_code == 0
    listed = runner.invoke(app, ["order", "list", "--status", "CANCELLED", *common])
    assert accession in listed.output


def test_refusals_exit_1_with_the_reason(tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--data-dir", str(tmp_path / "data")]
    bad = runner.invoke(
        app,
        [
            *("order", "add", "--patient-id", "P1", "--modality", "CT"),
            *("--date", "20261126", "--jj1017", JJ[:16], *common),
        ],
    )
    assert bad.exit_code == 1
    assert "has 16 characters" in bad.output
    unknown = runner.invoke(app, ["order", "cancel", "NOPE", *common])
    assert unknown.exit_code == 1
    assert "no order with accession_number 'NOPE'" in unknown.output
