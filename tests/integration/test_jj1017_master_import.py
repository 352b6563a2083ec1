"""``raddx jj1017 import`` into the index, ``/api/jj1017`` over HTTP, and orders taking a
code's name from the master, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx
from openpyxl import Workbook
from sqlalchemy import select
from typer.testing import CliRunner

from raddx.cli import app
from raddx.config import Settings
from raddx.db.models import RisRequestedProcedure
from raddx.services import Services

CT_CHEST = "6000000200000000" + "0" * 16
MR_HEAD = "7000000100000000" + "0" * 16
FACILITY = "P000000100000000" + "0" * 16
UNKNOWN = "1000000200000000" + "0" * 16

GOOD = (
    "コード,名称,カナ名称,モダリティ,有効開始日,有効終了日\r\n"
    f"{CT_CHEST},胸部単純CT,キョウブタンジュンCT,CT,20240401,\r\n"
    f"{MR_HEAD},頭部MRI,トウブMRI,MR,,20251231\r\n"
    f"{FACILITY},頭部（院内拡張）,,MR,,\r\n"
)
#: Row 3 is 31 characters long, row 4 has modality digit J (none in T5.2).
BAD_ROWS = f"{CT_CHEST[:31]},短いコード,,CT,,\r\nJ{CT_CHEST[1:]},未知のモダリティ,,CT,,\r\n"


def _import(settings: Settings, path: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        [
            "jj1017",
            "import",
            str(path),
            *extra,
            "--data-dir",
            str(settings.data_dir),
            "--database-url",
            str(settings.database_url),
        ],
    )
    return result.exit_code, result.output


def test_cp932_csv_all_or_nothing_then_partial(
    services: Services, http_url: str, tmp_path: Path
) -> None:
    api = f"{http_url}/api/jj1017"
    bad = tmp_path / "jsrt_bad.csv"
    bad.write_bytes((GOOD + BAD_ROWS).encode("cp932"))
    code, output = _import(services.settings, bad)
    assert code == 1
    assert "jsrt_bad.csv: row 5, column code:" in output and "31 characters" in output
    assert "row 6, column code:" in output and "unknown modality code 'J'" in output
    assert "nothing was imported" in output
    assert httpx.get(api).json() == {"total": 0, "items": []}

    code, output = _import(services.settings, bad, "--partial")
    assert code == 1  # bad rows remain bad, but the good ones are in
    assert "3 added, 0 updated, 2 bad row(s)" in output
    page = httpx.get(api).json()
    assert page["total"] == 3
    assert [i["code"] for i in page["items"]] == [CT_CHEST, MR_HEAD, FACILITY]
    assert page["items"][2]["facility"] is True

    # Search: kanji, kana, modality, code prefix, validity, paging.
    assert [i["code"] for i in httpx.get(api, params={"q": "頭部"}).json()["items"]] == [
        MR_HEAD,
        FACILITY,
    ]
    assert [i["name"] for i in httpx.get(api, params={"q": "キョウブ"}).json()["items"]] == [
        "胸部単純CT"
    ]
    assert httpx.get(api, params={"modality": "MR"}).json()["total"] == 2
    assert httpx.get(api, params={"code": "6"}).json()["total"] == 1
    valid = httpx.get(api, params={"valid_on": "20260101"}).json()["items"]
    assert [i["code"] for i in valid] == [CT_CHEST, FACILITY]  # MR_HEAD ended 20251231
    second = httpx.get(api, params={"limit": 1, "offset": 1}).json()
    assert (second["total"], [i["code"] for i in second["items"]]) == (3, [MR_HEAD])
    one = httpx.get(f"{api}/{CT_CHEST}")
    assert one.status_code == 200 and one.json()["name_kana"] == "キョウブタンジュンCT"
    missing = httpx.get(f"{api}/{UNKNOWN}")
    assert missing.status_code == 404 and "not in the master" in missing.json()["detail"]
    assert httpx.get(api, params={"valid_on": "2026-01-01"}).status_code == 400

    listed = CliRunner().invoke(
        app,
        [
            "jj1017",
            "list",
            "--search",
            "頭部",
            "--modality",
            "MR",
            "--data-dir",
            str(services.settings.data_dir),
            "--database-url",
            str(services.settings.database_url),
        ],
    )
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == [
        f"{MR_HEAD}\tMR\t-20251231\t頭部MRI",
        f"{FACILITY}\tMR\t-\t頭部（院内拡張）",
    ]

    # Re-import of a corrected file updates the names in place.
    fixed = tmp_path / "jsrt.csv"
    fixed.write_bytes(GOOD.replace("胸部単純CT", "胸部CT（単純）").encode("cp932"))
    code, output = _import(services.settings, fixed)
    assert code == 0, output
    assert "0 added, 3 updated, 0 bad row(s)" in output
    assert httpx.get(f"{api}/{CT_CHEST}").json()["name"] == "胸部CT（単純）"


def test_xlsx_import(services: Services, http_url: str, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["code", "name", "name_english", "modality", "valid_from"])
    sheet.append([CT_CHEST, "胸部単純CT", "Chest CT", "CT", "2024-04-01"])
    path = tmp_path / "jsrt.xlsx"
    book.save(path)
    code, output = _import(services.settings, path)
    assert code == 0, output
    item = httpx.get(f"{http_url}/api/jj1017/{CT_CHEST}").json()
    assert (item["name_english"], item["valid_from"]) == ("Chest CT", "20240401")


def _order(code: str) -> dict[str, object]:
    return {
        "patient_id": "P1",
        "procedures": [{"modality": "CT", "scheduled_start_date": "20261126", "jj1017_code": code}],
    }


def test_orders_take_the_master_name_and_unknown_codes(
    services: Services, http_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "jsrt.csv"
    path.write_bytes(GOOD.encode("cp932"))
    assert _import(services.settings, path)[0] == 0
    known = httpx.post(f"{http_url}/api/orders", json=_order(CT_CHEST))
    assert known.status_code == 201, known.text
    unknown = httpx.post(f"{http_url}/api/orders", json=_order(UNKNOWN))
    assert unknown.status_code == 201  # allowed by default
    with services.session_factory() as session:
        names = dict(
            session.execute(
                select(
                    RisRequestedProcedure.jj1017_code,
                    RisRequestedProcedure.requested_procedure_description,
                )
            ).all()
        )
    assert names == {CT_CHEST: "胸部単純CT", UNKNOWN: None}
    services.settings.jj1017_refuse_unknown = True
    refused = httpx.post(f"{http_url}/api/orders", json=_order(UNKNOWN))
    assert refused.status_code == 400
    assert f"not in the master: {UNKNOWN}" in refused.json()["detail"]
    assert httpx.post(f"{http_url}/api/orders", json=_order(CT_CHEST)).status_code == 201
