"""Property test of ``/fhir`` from the app's OpenAPI document (schemathesis, in-process ASGI
on a real SQLite index): no generated search or read may get a 5xx, and errors are FHIR
(OperationOutcome in application/fhir+json), never problem+json."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

import helpers
from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from raddx.config import load_settings
from raddx.services import Services
from raddx.web import create_app


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    for patient in (JAPANESE_NAME, "Doe^John"):
        ds = make_dataset(patient_id=patient[:4], patient_name=patient, charset="ISO_IR 192")
        services.ingest.store(to_part10(ds), source="test")
    yield services
    services.close()


def _headers(services: Services) -> dict[str, str]:
    # With access control on, an admin token (every route allowed); without, nothing.
    make_token = getattr(helpers, "api_token", None)
    return {"Authorization": f"Bearer {make_token(services)}"} if make_token else {}


def test_fhir_reads_and_searches_never_fail(services: Services) -> None:
    headers = _headers(services)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(services))
    operations = [
        r.ok() for r in schema.include(path_regex="^/fhir/", method="GET").get_all_operations()
    ]
    assert len(operations) >= 8
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            statuses.append(response.status_code)
            assert response.status_code < 500, (case.path, case.query, response.text)
            if response.status_code in (400, 404, 422):
                assert response.headers["content-type"][0].startswith("application/fhir+json")
                assert response.json()["resourceType"] == "OperationOutcome"

        run()
    assert {200, 404} <= set(statuses)
