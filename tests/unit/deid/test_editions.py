"""Edition diff of Table E.1-1 (``raddx.deid.editions``) and the generator's source readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from raddx.deid._generate_profile import (
    build_table,
    rows_digest,
    rows_from_docbook,
    rows_from_source,
    rows_from_transcription,
)
from raddx.deid.cli import deid_app
from raddx.deid.editions import diff_tables, load_table, vendored_editions
from raddx.errors import InvalidInput


def test_vendored_editions_current_first() -> None:
    assert list(vendored_editions()) == ["2026d", "2024b"]


def test_diff_of_the_vendored_editions() -> None:
    # CI check: every difference between the vendored editions is listed; this pins what a
    # reviewer accepted when the table moved from 2024b to 2026d.
    diff = diff_tables(load_table("2024b"), load_table("2026d"))
    assert (diff.old, diff.new) == ("2024b", "2026d")
    assert (len(diff.added), len(diff.removed), len(diff.changed)) == (36, 0, 1)
    added = {row.tag: row for row in diff.added}
    assert added["00100011"].actions == {"basic": (None, "X")}  # Person Names to Use Sequence
    assert added["300A0054"].actions == {"basic": (None, "U"), "113110": (None, "K")}
    (changed,) = diff.changed
    assert changed.render() == "(0032,1033) Requesting Service: 113105 - -> C"
    lines = list(diff.lines())
    assert lines[-1] == "Table E.1-1 2024b -> 2026d: 36 added, 0 removed, 1 changed"
    assert "+ (0010,0011) Person Names to Use Sequence: basic - -> X" in lines


def test_diff_sees_removed_changed_and_private_rows() -> None:
    old = load_table("2026d")
    new = json.loads(json.dumps(old))
    new["edition"] = "2099z"
    new["attributes"] = [a for a in new["attributes"] if a["tag"] != "00100010"]
    study_date = next(a for a in new["attributes"] if a["tag"] == "00080020")
    study_date["basic"] = "X"
    del study_date["options"]["113107"]
    new["private"] = {"basic": "X", "options": {}}
    diff = diff_tables(old, new)
    assert [r.tag for r in diff.removed] == ["00100010"]
    changes = {r.tag: r.actions for r in diff.changed}
    assert changes["00080020"] == {"basic": ("Z", "X"), "113107": ("C", None)}
    assert changes["private"] == {"113111": ("C", None)}
    assert diff_tables(old, old).empty


def test_load_table_rejects_what_is_not_a_table(tmp_path: Path) -> None:
    bogus = tmp_path / "t.json"
    bogus.write_text('{"edition": "x"}', encoding="utf-8")
    with pytest.raises(InvalidInput, match="not a generated Table"):
        load_table(str(bogus))
    with pytest.raises(InvalidInput, match="not a vendored edition"):
        load_table("1999a")


def test_cli_table_diff(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(deid_app, ["table", "diff", "2024b", "2026d"])
    assert result.exit_code == 0, result.output
    assert "36 added, 0 removed, 1 changed" in result.output
    strict = runner.invoke(deid_app, ["table", "diff", "2024b", "2026d", "--exit-code"])
    assert strict.exit_code == 1
    same = runner.invoke(deid_app, ["table", "diff", "2026d", "2026d", "--exit-code"])
    assert same.exit_code == 0
    assert "0 added, 0 removed, 0 changed" in same.output
    missing = runner.invoke(deid_app, ["table", "diff", "2024b", str(tmp_path / "none.json")])
    assert missing.exit_code == 2
    listed = runner.invoke(deid_app, ["table", "editions"])
    assert listed.output.split() == ["2026d", "2024b"]


def _transcription(rows: list[dict[str, object]]) -> dict[str, object]:
    return {"edition": "2099z", "rows": rows, "content_sha256": rows_digest(rows)}


_ROWS: list[dict[str, object]] = [
    {"name": "Patient's Name", "tag": "(0010,0010)", "retired": False, "in_standard_iod": True,
     "basic_profile": "Z", "options": {}},
    {"name": "Study Date", "tag": "(0008,0020)", "retired": False, "in_standard_iod": True,
     "basic_profile": "Z", "options": {"retain_longitudinal_full_dates": "K",
                                       "retain_longitudinal_modified_dates": "C"}},
    {"name": "Private Attributes", "tag": "(gggg,eeee) where gggg is odd", "retired": False,
     "in_standard_iod": False, "basic_profile": "X", "options": {"retain_safe_private": "C"}},
]  # fmt: skip


def test_transcription_is_digest_checked() -> None:
    rows = rows_from_transcription(_transcription(_ROWS))
    table = build_table(rows, edition="2099z", source="test")
    by_tag = {a["tag"]: a for a in table["attributes"]}
    assert by_tag["00080020"]["options"] == {"113106": "K", "113107": "C"}
    assert by_tag["00100010"]["retired"] is False
    assert table["private"] == {"basic": "X", "options": {"113111": "C"}}
    edited = _transcription(_ROWS)
    edited["rows"][0]["basic_profile"] = "K"  # type: ignore[index]
    with pytest.raises(ValueError, match="content_sha256"):
        rows_from_transcription(edited)
    odd = [{**_ROWS[0], "options": {"retain_everything": "K"}}]
    with pytest.raises(ValueError, match="unknown option"):
        rows_from_transcription(_transcription(odd))


_DOCBOOK = """<book xmlns="http://docbook.org/ns/docbook" xmlns:xml="http://www.w3.org/XML/1998/namespace">
<table xml:id="table_E.1-1"><thead><tr>
<th><para>Attribute Name</para></th><th><para>Tag</para></th>
<th><para>Retd. (from PS3.6)</para></th>
<th><para>In Std. Comp. IOD (from PS3.3)</para></th><th><para>Basic Prof.</para></th>
<th><para>Rtn. Safe Priv. Opt.</para></th><th><para>Rtn. UIDs Opt.</para></th>
<th><para>Rtn. Dev. Id. Opt.</para></th><th><para>Rtn. Inst. Id. Opt.</para></th>
<th><para>Rtn. Pat. Chars. Opt.</para></th><th><para>Rtn. Long. Full Dates Opt.</para></th>
<th><para>Rtn. Long. Modif. Dates Opt.</para></th><th><para>Clean Desc. Opt.</para></th>
<th><para>Clean Struct. Cont. Opt.</para></th><th><para>Clean Graph. Opt.</para></th>
</tr></thead><tbody>
<tr><td><para>Study Date</para></td><td><para>(0008,0020)</para></td><td><para>N</para></td>
<td><para>Y</para></td><td><para>Z</para></td><td/><td/><td/><td/><td/><td><para>K</para></td>
<td><para>C</para></td><td/><td/><td/></tr>
</tbody></table></book>"""


def test_docbook_rows_by_header(tmp_path: Path) -> None:
    source = tmp_path / "part15.xml"
    source.write_text(_DOCBOOK, encoding="utf-8")
    (row,) = rows_from_source(source)
    assert row == {
        "name": "Study Date", "tag": "(0008,0020)", "retired": "N", "stdCompIOD": "Y",
        "basicProfile": "Z", "rtnLongFullDatesOpt": "K", "rtnLongModifDatesOpt": "C",
    }  # fmt: skip
    (attribute,) = build_table([row], edition="2099z", source="t")["attributes"]
    assert attribute["options"] == {"113106": "K", "113107": "C"}


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<book/>", "no table"),
        (_DOCBOOK.replace("Clean Graph. Opt.", "Retain Everything Opt."), "unknown column"),
        (_DOCBOOK.replace("<td/><td/><td/></tr>", "<td/><td/></tr>"), "14 cells, not 15"),
    ],
)
def test_docbook_bad_tables(xml: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rows_from_docbook(xml.encode())
