"""Property tests of the REST API from its own OpenAPI document (schemathesis, in-process
ASGI on a real SQLite index): no generated request may get a 5xx, and every answer must
match the status codes, content types and schemas the document declares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from helpers import api_token
from raddx.config import load_settings
from raddx.services import Services
from raddx.web import create_app

_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """SQLite only: the property test is about the HTTP door, and runs long enough once."""
    services = Services.from_settings(
        load_settings(
            data_dir=tmp_path / "data",
            remote_aes=[{"ae_title": "CONFIGURED", "host": "127.0.0.1", "port": 104}],
        )
    )
    for patient in (JAPANESE_NAME, "Doe^John"):
        ds = make_dataset(patient_id=patient[:4], patient_name=patient, charset="ISO_IR 192")
        services.ingest.store(to_part10(ds), source="test")
    yield services
    services.close()


def _property_test(
    operation: object, wanted: list, calls: list[int], headers: dict[str, str]
) -> object:
    @given(case=operation.as_strategy())  # type: ignore[attr-defined]
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        calls.append(case.call_and_validate(checks=wanted, headers=headers).status_code)

    return run


def test_api_conforms_to_its_openapi(services: Services) -> None:
    # Authenticated as admin (every route allowed): the property is about the routes' answers.
    headers = {"Authorization": f"Bearer {api_token(services)}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(services))
    operations = [r.ok() for r in schema.include(path_regex="^/api/").get_all_operations()]
    assert len(operations) >= 20
    calls: list[int] = []
    for operation in operations:
        # /api/reports (issue 7) is not declared through raddx.web.api's route helper and
        # does not document all its problem answers yet: held to "no 5xx" only.
        full = not operation.path.startswith("/api/reports")
        _property_test(operation, _CHECKS if full else _CHECKS[:1], calls, headers)()  # type: ignore[operator]
    # Generated cases really ran, and some got past validation into the services.
    assert len(calls) > 10 * len(operations)
    assert {200, 400, 404, 422} <= set(calls)
