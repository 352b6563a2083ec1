"""``/api/orders`` on SQLite and PostgreSQL: place an order by hand, list, cancel; bad input
is a problem+json answer naming what was wrong."""

from __future__ import annotations

from typing import Any

import httpx

from raddx.ris import OrderStatusValues, change_order_status, find_order
from raddx.services import Services

JJ = "6000000200020000" + "0" * 16


def _order(**kwargs: Any) -> dict[str, Any]:
    procedure = {
        "modality": "CT",
        "scheduled_start_date": "20261126",
        "scheduled_start_time": "0930",
        "jj1017_code": JJ,
        "scheduled_station_ae_title": "CT01",
    }
    return {
        "patient_id": "P1",
        "issuer_of_patient_id": "HOSP",
        "patient_name": "Yamada^Taro=山田^太郎=ヤマダ^タロウ",
        "procedures": [procedure],
        **kwargs,
    }


def test_place_list_cancel(services: Services, http_url: str) -> None:
    api = f"{http_url}/api"
    created = httpx.post(f"{api}/orders", json=_order(placer_order_number="ORD1"))
    assert created.status_code == 201, created.text
    order = created.json()
    accession = order["accession_number"]
    assert accession.startswith("RX")
    assert order["status"] == "SCHEDULED"
    (step,) = order["steps"]
    assert (step["modality"], step["scheduled_start_time"], step["jj1017_code"]) == (
        "CT",
        "093000",
        JJ,
    )
    listed = httpx.get(f"{api}/orders", params={"status": "SCHEDULED"}).json()
    assert [o["accession_number"] for o in listed] == [accession]
    cancelled = httpx.post(f"{api}/orders/{accession}/cancel")
    assert cancelled.json()["status"] == "CANCELLED"
    assert httpx.post(f"{api}/orders/{accession}/cancel").status_code == 200  # idempotent
    assert httpx.get(f"{api}/orders", params={"status": "SCHEDULED"}).json() == []
    # A started order cannot be cancelled (the modality discontinues it through MPPS).
    started = httpx.post(f"{api}/orders", json=_order()).json()["accession_number"]
    with services.session_factory() as session, session.begin():
        order = find_order(accession_number=started, session=session)
        change_order_status(order, OrderStatusValues.IN_PROGRESS, session=session)
    refused = httpx.post(f"{api}/orders/{started}/cancel")
    assert refused.status_code == 409
    assert "IN_PROGRESS cannot change to CANCELLED" in refused.json()["detail"]


def test_bad_orders(services: Services, http_url: str) -> None:
    api = f"{http_url}/api"
    short = _order()
    short["procedures"][0]["jj1017_code"] = JJ[:16]
    answer = httpx.post(f"{api}/orders", json=short)
    assert answer.status_code == 400
    assert "has 16 characters" in answer.json()["detail"]
    bad_date = _order()
    bad_date["procedures"][0]["scheduled_start_date"] = "20261332"
    refused = httpx.post(f"{api}/orders", json=bad_date)
    # The model refuses it (422) and says which field, so a form can show it there.
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == [
        "body",
        "procedures",
        "0",
        "scheduled_start_date",
    ]
    assert "'20261332' is not a date" in refused.json()["detail"]
    assert httpx.post(f"{api}/orders/NOPE/cancel").status_code == 404
    assert httpx.post(f"{api}/orders", json=_order(procedures=[])).status_code == 422
    httpx.post(f"{api}/orders", json=_order(accession_number="A1"))
    assert httpx.post(f"{api}/orders", json=_order(accession_number="A1")).status_code == 409
