"""``raddx user add/modify --display-name``: the name reports are signed with, a DICOM PN
value with kanji and kana groups; bad values are refused before anything is written."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from raddx.cli import app
from raddx.config import load_settings
from raddx.security import accounts, audit
from raddx.services import Services

PASSWORD = "correct horse battery"
TANAKA = "Tanaka^Taro=田中^太郎=たなか^たろう"


def test_user_add_and_modify_display_name(tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--data-dir", str(tmp_path / "data")]
    with audit.capture() as events:
        added = runner.invoke(
            app,
            [
                "user",
                "add",
                "dr-tanaka",
                "--role",
                "radiologist",
                "--display-name",
                TANAKA,
                *common,
            ],
            input=PASSWORD + "\n",
        )
        assert added.exit_code == 0, added.output
        assert TANAKA in added.output
        listed = runner.invoke(app, ["user", "list", *common]).output
        assert listed.splitlines() == [f"dr-tanaka\tradiologist\tactive\tno-2fa\t{TANAKA}"]
        changed = runner.invoke(
            app, ["user", "modify", "dr-tanaka", "--display-name", "=田中^太郎", *common]
        )
        assert changed.exit_code == 0, changed.output
        cleared = runner.invoke(app, ["user", "modify", "dr-tanaka", "--display-name", "", *common])
        assert cleared.exit_code == 0 and "login name" in cleared.output
    alerts = [e.outcome_description for e in events if e.event_id.code.code == "110113"]
    assert alerts == [
        f"user created with role radiologist, display name {TANAKA}",
        f"display name changed from {TANAKA} to =田中^太郎",
        "display name changed from =田中^太郎 to (none)",
    ]
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    try:
        with services.session_factory() as s:
            assert accounts.display_name_of(session=s, name="dr-tanaka") is None
    finally:
        services.close()


def test_bad_display_name_or_user_is_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--data-dir", str(tmp_path / "data")]
    bad = runner.invoke(
        app,
        ["user", "add", "dr-sato", "--role", "radiologist", "--display-name", "a=b=c=d", *common],
        input=PASSWORD + "\n",
    )
    assert bad.exit_code == 1 and "at most three groups" in bad.output
    assert runner.invoke(app, ["user", "list", *common]).output == ""
    unknown = runner.invoke(app, ["user", "modify", "nobody", "--display-name", "無名", *common])
    assert unknown.exit_code == 1 and "no user" in unknown.output
    nothing = runner.invoke(app, ["user", "modify", "nobody", *common])
    assert nothing.exit_code == 2 and "--display-name" in nothing.output
    runner.invoke(
        app, ["user", "add", "dr-sato", "--role", "radiologist", *common], input=PASSWORD + "\n"
    )
    slash = runner.invoke(
        app, ["user", "modify", "dr-sato", "--display-name", "佐藤\\一郎", *common]
    )
    assert slash.exit_code == 1 and "backslash" in slash.output
