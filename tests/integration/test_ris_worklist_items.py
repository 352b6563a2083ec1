"""Worklist items by hand (issue 6 §8): ``/api/worklist`` over real HTTP on SQLite and
PostgreSQL, and ``raddx worklist`` / ``raddx reconcile`` on a fresh data directory. A step
added to an order shows in the Modality Worklist (pynetdicom MWL C-FIND); a cancelled one
leaves it, and the order is cancelled with its last step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]
from typer.testing import CliRunner

from dicom_factory import make_dataset, to_part10
from helpers import start_dimse_server
from raddx.cli import app
from raddx.services import Services


@pytest.fixture
def mwl(services: Services) -> Iterator[Any]:
    server = start_dimse_server(services)

    def query(accession: str) -> list[str]:
        ae = AE(ae_title="CT01")
        ae.add_requested_context(ModalityWorklistInformationFind)
        assoc = ae.associate(*server.address, ae_title="RADDX")
        assert assoc.is_established
        identifier = Dataset()
        identifier.AccessionNumber = accession
        step = Dataset()
        step.ScheduledProcedureStepID = ""
        step.Modality = ""
        identifier.ScheduledProcedureStepSequence = Sequence([step])
        try:
            found = [
                str(ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID)
                for status, ds in assoc.send_c_find(identifier, ModalityWorklistInformationFind)
                if status and status.Status in (0xFF00, 0xFF01)
            ]
        finally:
            assoc.release()
        return sorted(found)

    yield query
    server.stop()


def _order(http_url: str) -> dict[str, Any]:
    body = {
        "patient_id": "P1",
        "patient_name": "Yamada^Taro",
        "procedures": [{"modality": "CR", "scheduled_start_date": "20261126"}],
    }
    answer = httpx.post(f"{http_url}/api/orders", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_add_list_cancel_steps(services: Services, http_url: str, mwl: Any) -> None:
    order = _order(http_url)
    accession = order["accession_number"]
    first = order["steps"][0]["scheduled_procedure_step_id"]
    added = httpx.post(
        f"{http_url}/api/orders/{accession}/steps",
        json={
            "modality": "CT",
            "scheduled_start_date": "20261126",
            "scheduled_start_time": "1030",
            "scheduled_station_ae_title": "CT01",
        },
    )
    assert added.status_code == 201, added.text
    second = added.json()["ScheduledProcedureStepID"]
    assert second != first
    assert mwl(accession) == sorted([first, second])

    listed = httpx.get(f"{http_url}/api/worklist", params={"modality": "CT"}).json()
    assert [s["ScheduledProcedureStepID"] for s in listed] == [second]
    assert listed[0]["ScheduledProcedureStepStartTime"] == "103000"

    cancelled = httpx.post(f"{http_url}/api/worklist/{second}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["ScheduledProcedureStepStatus"] == "CANCELED"
    assert cancelled.json()["order_status"] == "SCHEDULED"  # the CR step is still to do
    assert mwl(accession) == [first]
    again = httpx.post(f"{http_url}/api/worklist/{second}/cancel")
    assert again.status_code == 409

    # Images arrive for the order: it is in progress, the cancelled step stays cancelled.
    services.ingest.store(to_part10(make_dataset(accession=accession)), source="test")
    steps = {
        s["ScheduledProcedureStepID"]: s["ScheduledProcedureStepStatus"]
        for s in httpx.get(f"{http_url}/api/worklist", params={"accession": accession}).json()
    }
    assert steps == {first: "STARTED", second: "CANCELED"}
    started = httpx.post(f"{http_url}/api/worklist/{first}/cancel")
    assert started.status_code == 409
    assert "STARTED" in started.json()["detail"]


def test_last_step_cancels_the_order(http_url: str) -> None:
    order = _order(http_url)
    step = order["steps"][0]["scheduled_procedure_step_id"]
    answer = httpx.post(f"{http_url}/api/worklist/{step}/cancel")
    assert answer.json()["order_status"] == "CANCELLED"
    late = httpx.post(
        f"{http_url}/api/orders/{order['accession_number']}/steps",
        json={"modality": "CT", "scheduled_start_date": "20261126"},
    )
    assert late.status_code == 409


def test_worklist_refusals(http_url: str) -> None:
    unknown_order = httpx.post(
        f"{http_url}/api/orders/NOPE/steps",
        json={"modality": "CT", "scheduled_start_date": "20261126"},
    )
    assert unknown_order.status_code == 404
    assert httpx.post(f"{http_url}/api/worklist/NOPE/cancel").status_code == 404
    accession = _order(http_url)["accession_number"]
    bad_code = httpx.post(
        f"{http_url}/api/orders/{accession}/steps",
        json={"modality": "CT", "scheduled_start_date": "20261126", "jj1017_code": "123"},
    )
    assert bad_code.status_code == 400
    bad_date = httpx.post(
        f"{http_url}/api/orders/{accession}/steps",
        json={"modality": "CT", "scheduled_start_date": "20261331"},
    )
    assert bad_date.status_code == 422  # the model's date check names the field
    assert bad_date.json()["errors"][0]["loc"] == ["body", "scheduled_start_date"]


def test_cli_worklist_and_reconcile(tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--data-dir", str(tmp_path / "data")]
    added = runner.invoke(
        app,
        ["order", "add", "--patient-id", "P1", "--modality", "CR", "--date", "20261126", *common],
    )
    assert added.exit_code == 0, added.output
    accession = added.output.strip()
    step = runner.invoke(
        app,
        ["worklist", "add", accession, "--modality", "CT", "--date", "20261127", *common],
    )
    assert step.exit_code == 0, step.output
    sps = step.output.strip()
    listed = runner.invoke(app, ["worklist", "list", "--modality", "CT", *common])
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith(f"{sps}\tSCHEDULED\tCT\t-\t20261127 0000\t{accession}\tP1")
    cancelled = runner.invoke(app, ["worklist", "cancel", sps, *common])
    assert cancelled.exit_code == 0, cancelled.output
    assert "CANCELED" in cancelled.output
    refused = runner.invoke(app, ["worklist", "cancel", sps, *common])
    assert refused.exit_code == 1
    assert "cannot be cancelled" in refused.output

    from raddx.config import load_settings

    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    try:
        ds = make_dataset(accession="UNKNOWN", patient_id="TMP")
        services.ingest.store(to_part10(ds), source="test")
    finally:
        services.close()
    unmatched = runner.invoke(app, ["reconcile", "unmatched", *common])
    assert unmatched.exit_code == 0, unmatched.output
    assert unmatched.output.startswith(f"{ds.StudyInstanceUID}\tTMP\t")
    fixed = runner.invoke(
        app,
        [
            *("reconcile", "study", str(ds.StudyInstanceUID), "--accession", accession),
            *("--reason", "typo at the console", *common),
        ],
    )
    assert fixed.exit_code == 0, fixed.output
    assert f"{accession}\tP1\t1 objects rewritten" in fixed.output
    assert runner.invoke(app, ["reconcile", "unmatched", *common]).output == ""
    assert runner.invoke(app, ["reconcile", "auto", *common]).output == ""  # nothing waiting
    ghost = runner.invoke(
        app, ["reconcile", "study", "1.2.3.4", "--accession", accession, "--reason", "x", *common]
    )
    assert ghost.exit_code == 1
    assert "no study 1.2.3.4" in ghost.output
