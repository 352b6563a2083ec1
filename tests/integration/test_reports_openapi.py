"""/api/reports against its own OpenAPI document (schemathesis, in-process ASGI, SQLite):
no generated request gets a 5xx, and every answer's status, content type and body are the
documented ones (problem+json for errors)."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from dicom_factory import make_dataset, to_part10
from helpers import api_token
from raddx.config import load_settings
from raddx.reports import service
from raddx.reports.samples import sample_record
from raddx.services import Services
from raddx.web import create_app

_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def test_reports_api_conforms_to_its_openapi(tmp_path: Path) -> None:
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    try:
        study = sample_record(1).studies[0].study_uid
        ds = make_dataset(study_uid=study, accession="A00000001", patient_id="P000001")
        services.ingest.store(to_part10(ds), source="test")
        with services.session_factory.begin() as s:
            service.import_record(session=s, record=sample_record(1), source="seed")
        auth = {"Authorization": f"Bearer {api_token(services)}"}
        schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(services))
        operations = [
            r.ok() for r in schema.include(path_regex="^/api/reports").get_all_operations()
        ]
        assert len(operations) >= 10
        statuses: list[int] = []
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=15,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def run(case: schemathesis.Case) -> None:
                statuses.append(case.call_and_validate(checks=_CHECKS, headers=auth).status_code)

            run()
        assert len(statuses) > 5 * len(operations)
        assert {200, 404} <= set(statuses)
    finally:
        services.close()
