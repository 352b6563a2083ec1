"""``/api/worklist`` as the worklist screen reads it (issue 10 §3), on SQLite and PostgreSQL:
one day's steps of every status, filtered by modality, station AE title or station name
(the room), each with its order's priority and the JJ1017 master's name of the procedure;
polled with If-None-Match (304 while unchanged, and only a disclosing answer is audited);
and an order whose date is not a real date refused naming the field, nothing created."""

from __future__ import annotations

from typing import Any

import httpx

from raddx.ris.jj1017_master import MasterEntry, import_master
from raddx.ris.worklist_items import list_steps
from raddx.security import audit
from raddx.services import Services

CT_CHEST = "6000000200000000" + "0" * 16
MR_HEAD = "7000000100000000" + "0" * 16
NAME = "Yamada^Taro=山田^太郎=ヤマダ^タロウ"


def _master(services: Services) -> None:
    entries = [
        MasterEntry(1, CT_CHEST, "胸部単純CT", "キョウブタンジュンCT", None, "CT"),
        MasterEntry(2, MR_HEAD, "頭部MRI", "トウブMRI", None, "MR"),
    ]
    with services.session_factory() as session, session.begin():
        assert import_master(entries, [], session=session, source="test").added == 2


def _place(api: str, patient: str, **procedure: Any) -> dict[str, Any]:
    body = {
        "patient_id": patient,
        "patient_name": NAME,
        "priority": procedure.pop("priority", "ROUTINE"),
        "procedures": [{"scheduled_start_date": "20261126", **procedure}],
    }
    answer = httpx.post(f"{api}/orders", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_one_day_filtered_by_room(services: Services, http_url: str) -> None:
    api = f"{http_url}/api"
    _master(services)
    ct = _place(
        api,
        "P1",
        modality="CT",
        scheduled_start_time="0930",
        jj1017_code=CT_CHEST,
        scheduled_station_ae_title="CT01",
        scheduled_station_name="CT室1",
        priority="STAT",
    )
    mr = _place(
        api,
        "P2",
        modality="MR",
        scheduled_start_time="0900",
        jj1017_code=MR_HEAD,
        scheduled_station_ae_title="MR01",
        scheduled_station_name="MR室",
    )
    _place(api, "P3", modality="CT", scheduled_start_date="20261127")  # another day
    cancelled = _place(api, "P4", modality="CR", scheduled_start_time="1000")
    httpx.post(f"{api}/orders/{cancelled['accession_number']}/cancel").raise_for_status()

    day = {"date_from": "20261126", "date_to": "20261126"}
    rows = httpx.get(f"{api}/worklist", params=day).json()
    # In order of start, cancelled ones included: the screen shows every status of the day.
    assert [(r["PatientID"], r["ScheduledProcedureStepStatus"]) for r in rows] == [
        ("P2", "SCHEDULED"),
        ("P1", "SCHEDULED"),
        ("P4", "CANCELED"),
    ]
    first = rows[1]
    assert first["AccessionNumber"] == ct["accession_number"]
    assert first["RequestedProcedurePriority"] == "STAT"
    assert (first["procedure_name"], first["procedure_name_kana"]) == (
        "胸部単純CT",
        "キョウブタンジュンCT",
    )
    assert (first["ScheduledStationAETitle"], first["ScheduledStationName"]) == ("CT01", "CT室1")
    assert first["PatientName"] == NAME
    assert rows[2]["procedure_name"] is None  # no code: no master name

    def ids(**filters: str) -> list[str]:
        answer = httpx.get(f"{api}/worklist", params={**day, **filters})
        assert answer.status_code == 200, answer.text
        return [r["AccessionNumber"] for r in answer.json()]

    assert ids(modality="MR") == [mr["accession_number"]]
    assert ids(station="CT01") == [ct["accession_number"]]
    assert ids(station_name="MR室") == [mr["accession_number"]]
    assert ids(station_name="CT室") == []  # exact: a room is not a prefix of another
    assert ids(modality="MR", station="CT01") == []
    bad = httpx.get(f"{api}/worklist", params={"date_from": "2026-11-26"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["loc"] == ["query", "date_from"]


def test_bad_dates_name_the_field_and_create_nothing(services: Services, http_url: str) -> None:
    api = f"{http_url}/api"
    body = {
        "patient_id": "P9",
        "patient_name": NAME,
        "patient_birth_date": "19800230",
        "procedures": [
            {"modality": "CT", "scheduled_start_date": "2026-13-01", "scheduled_start_time": "2575"}
        ],
    }
    answer = httpx.post(f"{api}/orders", json=body)
    assert answer.status_code == 422
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    by_field = {e["loc"][-1]: e["msg"] for e in problem["errors"]}
    assert "'19800230' is not a date" in by_field["patient_birth_date"]
    assert "'2026-13-01' is not a date (YYYYMMDD)" in by_field["scheduled_start_date"]
    assert "'2575' is not a time" in by_field["scheduled_start_time"]
    body["patient_birth_date"] = None
    body["procedures"][0].update(scheduled_start_date="", scheduled_start_time="0930")
    empty = httpx.post(f"{api}/orders", json=body)
    assert empty.status_code == 422
    assert "scheduled_start_date is required" in empty.json()["detail"]
    assert httpx.get(f"{api}/orders").json() == []
    assert httpx.get(f"{api}/worklist").json() == []


def test_poll_with_etag_is_304_until_a_change(services: Services, http_url: str) -> None:
    api = f"{http_url}/api"
    order = _place(api, "P1", modality="CT")
    url = f"{api}/worklist?date_from=20261126&date_to=20261126"
    with audit.capture() as events:
        first = httpx.get(url)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert [r["PatientID"] for r in first.json()] == ["P1"]
    # The listing discloses patient data: one Query event naming what was asked.
    [query] = [e for e in events if e.event_id.code.code == "110112"]
    assert "/api/worklist?date_from=20261126" in str(query)
    with audit.capture() as events:
        same = httpx.get(url, headers={"If-None-Match": etag})
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
    assert [e for e in events if e.event_id.code.code == "110112"] == []  # nothing disclosed
    with services.session_factory() as session:
        (step,) = list_steps(session=session)
    cancelled = httpx.post(f"{api}/worklist/{step.scheduled_procedure_step_id}/cancel")
    assert cancelled.status_code == 200
    changed = httpx.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()[0]["ScheduledProcedureStepStatus"] == "CANCELED"
    assert changed.json()[0]["AccessionNumber"] == order["accession_number"]
