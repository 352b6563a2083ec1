"""Injection attempts on every text parameter of the HTTP door (issue 9, bad input).

The routes and their text parameters come from the application's own OpenAPI document, so a
new route is covered the day it is added; QIDO-RS matching keys (PS3.18 8.3.4, read from the
query string, not declared) are added from a table. Each payload goes into each parameter
(path and query), through every method the route has, without a body. A user would notice:

* a 5xx (the request broke something);
* a match that widens: SQL LIKE ``%``/``_`` or ``' OR '1'='1`` must match nothing where an
  unknown value matches nothing (DICOM's own ``*``/``?`` wildcards are matching, not
  injection, and are not in the table);
* data changed: every table but the audit trail and the credentials' bookkeeping reads the
  same afterwards (a DELETE or cancel of ``%`` removed nothing);
* a file outside ``data_dir`` (path traversal or a shell-ish name reaching a file name);
* a header carrying CR/LF from the request (response splitting).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dicom_factory import make_dataset, to_part10
from helpers import api_token
from raddx.config import load_settings
from raddx.db.models import Base
from raddx.services import Services
from raddx.web import create_app

#: Payload family → payloads. Each is sent percent-encoded, so the server decodes it as is.
PAYLOADS: dict[str, tuple[str, ...]] = {
    "sql": (
        "' OR '1'='1",
        '"; DROP TABLE study; --',
        "%' --",
        "1' UNION SELECT name FROM sqlite_master --",
        "'); DELETE FROM patient; --",
    ),
    "like": ("%", "_", "%%", "__%", "[%]", "\\%"),
    "traversal": (
        "../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "....//....//etc/passwd",
        "/etc/passwd",
        "x\x00.dcm",
    ),
    "command": ("$(id)", "`id`", "; touch pwned", "| id", "a&&id", "${IFS}id"),
    "header": ("x\r\nX-Injected: 1", "x\nSet-Cookie: raddx=1", "x\r\n\r\n<html>"),
    "oddities": ("A" * 4000, "9" * 300, "漢字" * 300, "\x1b[31m", "\u202e\ufeff"),
}
#: Payloads that a matching key could widen to every record if passed to SQL or LIKE.
WIDENING = (*PAYLOADS["sql"], *PAYLOADS["like"])
#: A value that matches nothing: what an injected value must not do better than.
NOTHING = "ZZNOMATCH9"

#: QIDO-RS matching keys per resource (PS3.18 Table 10.6.1-5), not in the OpenAPI document.
QIDO_KEYS = {
    "/dicom-web/patients": ("PatientName", "PatientID", "00100020"),
    "/dicom-web/studies": (
        "PatientName",
        "PatientID",
        "AccessionNumber",
        "StudyDescription",
        "ReferringPhysicianName",
        "StudyID",
        "StudyInstanceUID",
        "ModalitiesInStudy",
        "00080050",
        "includefield",
    ),
    "/dicom-web/series": ("Modality", "SeriesDescription", "SeriesInstanceUID", "PatientName"),
    "/dicom-web/instances": ("SOPClassUID", "SOPInstanceUID", "PatientID"),
    "/wado": ("studyUID", "seriesUID", "objectUID", "contentType"),
}
#: Tables whose rows change by design on every request: the audit trail (every access is
#: recorded). Everything else must read the same (a revoke or disable of ``%`` revoked nothing).
CHANGING_TABLES = frozenset({"audit_record", "audit_chain_head"})
JJ1017 = "6000000200020000" + "0" * 16


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Services, TestClient, Path]]:
    """SQLite only and built once: the property is about the HTTP door; the index's own
    matching is tested on both databases elsewhere."""
    root = tmp_path_factory.mktemp("injection")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("RADDX_") and not name.startswith("RADDX_TEST_"):
                mp.delenv(name)
        mp.setenv("RADDX_CONFIG", str(root / "absent-raddx.toml"))
        services = Services.from_settings(load_settings(data_dir=root / "data"))
    for name, pid in (("Doe^John", "PID1"), ("Roe^Jane", "PID2")):
        ds = make_dataset(patient_id=pid, patient_name=name, accession=f"ACC{pid}")
        services.ingest.store(to_part10(ds), source="test")
    client = TestClient(
        create_app(services),
        headers={"Authorization": f"Bearer {api_token(services)}"},
        raise_server_exceptions=False,
    )
    _seed(client)
    api_token(services, "viewer")  # a second credential that a widened revoke would hit
    yield services, client, root
    services.close()


def _seed(client: TestClient) -> None:
    order = {
        "patient_id": "PID1",
        "issuer_of_patient_id": "HOSP",
        "patient_name": "Doe^John",
        "procedures": [
            {
                "modality": "CT",
                "scheduled_start_date": "20261126",
                "scheduled_start_time": "0930",
                "jj1017_code": JJ1017,
                "scheduled_station_ae_title": "CT01",
            }
        ],
    }
    assert client.post("/api/orders", json=order).status_code == 201
    ae = {"ae_title": "PEER1", "host": "127.0.0.1", "port": 11112}
    assert client.post("/api/remote-aes", json=ae).status_code in (200, 201)


def _text_parameters(client: TestClient) -> list[tuple[str, str, str, str]]:
    """(method, path template, location, name) of every text parameter in the OpenAPI
    document, plus the QIDO-RS keys."""
    document = client.get("/openapi.json").json()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "delete", "post", "put", "patch"):
                continue
            for parameter in operation.get("parameters", ()):
                schema = parameter.get("schema", {})
                types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", ())}
                if "string" in types:
                    found.append((method, path, parameter["in"], parameter["name"]))
            if method == "get":
                found += [("get", path, "query", key) for key in QIDO_KEYS.get(path, ())]
    return found


def _fill(path: str, values: dict[str, str]) -> str:
    """``path`` with each ``{name}`` replaced: ``values`` percent-encoded, others a
    well-formed placeholder (a UID for UID positions)."""

    def value(name: str) -> str:
        if name in values:
            return quote(values[name], safe="")
        return "1" if name in ("frames", "job_id", "entry_id") else "1.2.3"

    out = path
    while "{" in out:
        start = out.index("{")
        end = out.index("}", start)
        out = out[:start] + value(out[start + 1 : end]) + out[end + 1 :]
    return out


def _send(
    client: TestClient, method: str, path: str, where: str, name: str, payload: str
) -> httpx.Response:
    if where == "path":
        return client.request(method.upper(), _fill(path, {name: payload}))
    return client.request(method.upper(), _fill(path, {}), params={name: payload})


def _matches(response: httpx.Response) -> int | None:
    """How many records a 200 search answer holds, or None if it is not a search answer."""
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return None
    body: Any = response.json()
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        for key in ("items", "entry"):
            if key in body:
                return len(body[key] or [])
        if body.get("resourceType") == "Bundle":
            return 0
    return None


def _snapshot(services: Services) -> dict[str, list[tuple[str, ...]]]:
    tables = {}
    with services.session_factory() as s:
        for table in Base.metadata.sorted_tables:
            if table.name in CHANGING_TABLES:
                continue
            rows = s.execute(select(table)).all()
            tables[table.name] = sorted(tuple(map(str, row)) for row in rows)
    return tables


def _files(root: Path, data_dir: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if data_dir not in p.parents and p != data_dir
    }


@pytest.mark.parametrize("family", sorted(PAYLOADS))
def test_injection_on_every_text_parameter(
    world: tuple[Services, TestClient, Path], family: str
) -> None:
    services, client, root = world
    data_dir = services.settings.data_dir
    parameters = _text_parameters(client)
    # Coverage: the REST API, DICOMweb QIDO/WADO and FHIR search all contribute.
    assert len(parameters) > 80
    assert {p[1].split("/")[1] for p in parameters} >= {"api", "dicom-web", "fhir", "wado"}
    tables_before = _snapshot(services)
    files_before = _files(root, data_dir)
    cwd_before = set(os.listdir())
    assert sum(len(rows) for rows in tables_before.values()) > 10  # there is data to lose

    failures: list[str] = []
    for method, path, where, name in parameters:
        baseline: int | None = None
        if family in ("sql", "like") and where == "query" and method == "get":
            baseline = _matches(_send(client, method, path, where, name, NOTHING))
        for payload in PAYLOADS[family]:
            response = _send(client, method, path, where, name, payload)
            where_ = f"{method.upper()} {path} {where}:{name}={payload!r}"
            if response.status_code >= 500:
                failures.append(f"{where_}: {response.status_code} {response.text[:200]}")
            for header, value in response.headers.multi_items():
                if "\r" in value or "\n" in value or header.lower() in ("x-injected", "set-cookie"):
                    failures.append(f"{where_}: header {header}: {value!r}")
            found = _matches(response)
            widened = found is not None and baseline is not None and found > baseline
            if payload in WIDENING and widened:
                failures.append(f"{where_}: {found} matches, {NOTHING!r} has {baseline}")
    assert not failures, "\n".join(failures[:40])
    assert _snapshot(services) == tables_before
    assert _files(root, data_dir) == files_before
    assert set(os.listdir()) == cwd_before
    assert not any(
        marker in p.name for p in data_dir.rglob("*") for marker in ("passwd", "pwned", "$(", "`")
    )


def test_like_wildcards_are_literal_where_a_value_holds_them(
    world: tuple[Services, TestClient, Path],
) -> None:
    """The widening check above has a meaning: a real value still matches, and a ``%`` or
    ``_`` put where a character of it stands does not stand for that character."""
    _, client, _ = world
    assert _matches(client.get("/api/studies", params={"PatientID": "PID1"})) == 1
    assert _matches(client.get("/api/studies", params={"PatientID": "PID_"})) == 0
    assert _matches(client.get("/api/studies", params={"PatientID": "PID%"})) == 0
    assert _matches(client.get("/api/studies", params={"PatientID": "PID*"})) == 2  # DICOM *
    assert _matches(client.get("/dicom-web/studies", params={"PatientName": "D_e*"})) == 0
    assert _matches(client.get("/dicom-web/studies", params={"PatientName": "D?e*"})) == 1
    assert _matches(client.get("/fhir/Patient", params={"name": "%"})) == 0
    assert _matches(client.get("/fhir/Patient", params={"name": "Doe"})) >= 1


def test_fhir_search_values_are_not_dicom_wildcards(
    world: tuple[Services, TestClient, Path],
) -> None:
    """FHIR string/token values are literal: DICOM's ``*``, ``?`` and ``\\`` (which the
    archive's matching underneath reads as wildcards and a value list) must not widen a
    FHIR search; they are refused (400) instead."""
    _, client, _ = world
    searches = [
        p for p in _text_parameters(client) if p[1].startswith("/fhir/") and p[2] == "query"
    ]
    assert len(searches) >= 15
    for _, path, _, name in searches:
        baseline = _matches(client.get(path, params={name: NOTHING}))
        for payload in ("*", "?", "\\", "a\\*", "*\\*"):
            response = client.get(path, params={name: payload})
            assert response.status_code < 500, (path, name, payload, response.text)
            found = _matches(response)
            if found is not None and baseline is not None:
                assert found <= baseline, (path, name, payload, found)
    response = client.get("/fhir/ImagingStudy", params={"identifier": "*"})
    assert response.status_code == 400
    assert "not supported" in response.text


@pytest.mark.parametrize(
    "field",
    [
        "patient_id",
        "patient_name",
        "placer_order_number",
        "referring_physician",
        "reason_for_study",
        "procedures.0.jj1017_code",
        "procedures.0.scheduled_station_ae_title",
    ],
)
def test_injection_in_order_body_fields(
    world: tuple[Services, TestClient, Path], field: str
) -> None:
    """Text from a JSON body that may come back in Location or Warning headers."""
    _, client, _ = world
    for payload in (*PAYLOADS["sql"], *PAYLOADS["header"], *PAYLOADS["command"]):
        order = {
            "patient_id": "PID9",
            "patient_name": "Body^Test",
            "procedures": [
                {
                    "modality": "CT",
                    "scheduled_start_date": "20261126",
                    "jj1017_code": JJ1017,
                }
            ],
        }
        if field.startswith("procedures.0."):
            order["procedures"][0][field.removeprefix("procedures.0.")] = payload  # type: ignore[index]
        else:
            order[field] = payload
        response = client.post("/api/orders", json=order)
        assert response.status_code < 500, (field, payload, response.text)
        for header, value in response.headers.multi_items():
            assert "\r" not in value and "\n" not in value, (field, payload, header, value)
            assert header.lower() != "x-injected"


def test_injection_in_deid_job_body(world: tuple[Services, TestClient, Path]) -> None:
    """A de-identification job names a policy (which becomes a file to read) and matching
    keys: a traversal as the policy is refused before any job starts, and injected keys
    select nothing."""
    services, client, root = world
    data_dir = services.settings.data_dir
    files_before = _files(root, data_dir)
    for payload in (*PAYLOADS["traversal"], *PAYLOADS["command"]):
        response = client.post("/api/deid-jobs", json={"studies": ["1.2.3"], "policy": payload})
        assert response.status_code == 422, (payload, response.text)
    for payload in (*PAYLOADS["sql"], *PAYLOADS["like"], *PAYLOADS["traversal"]):
        for key in ("PatientID", "PatientName", "AccessionNumber"):
            response = client.post("/api/deid-jobs", json={"query": {key: payload}})
            # 404 "no stored study matches": a widened match would start a job (202).
            assert response.status_code in (400, 404), (key, payload, response.text)
    assert _files(root, data_dir) == files_before


def test_stow_warning_header_cannot_be_split() -> None:
    """STOW-RS puts each failed part's reason in a Warning header (PS3.18 10.5.3); a reason
    quoting the request must not carry CR/LF into the header."""
    from raddx.web.dicomweb.stow import _warning

    value = _warning(["bad UID 1.2\r\nX-Injected: 1", 'quote " and \x00 NUL'])
    assert not any(ch in value for ch in "\r\n\x00")
    assert value.startswith('299 raddx "bad UID 1.2  X-Injected: 1"')


@pytest.mark.parametrize(
    "path",
    [
        "..%2f..%2fapp.py",
        "%2e%2e/%2e%2e/app.py",
        "%2e%2e%2f%2e%2e%2fapp.py",
        "assets/..%2f..%2f..%2fweb%2fapp.py",
        "..%5c..%5capp.py",
        "%2fetc%2fpasswd",
        "..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "index.html%00.py",
        "assets/" + "a" * 300,
    ],
)
def test_ui_files_cannot_be_escaped(world: tuple[Services, TestClient, Path], path: str) -> None:
    """``/ui/`` serves files without credentials: an encoded traversal must answer the
    application page (or 404/503), never a source file or a system file."""
    _, client, _ = world
    response = client.get(f"/ui/{path}", headers={"Authorization": ""})
    assert response.status_code in (200, 400, 404, 503), response.status_code
    assert "from __future__" not in response.text
    assert "root:" not in response.text


@pytest.mark.parametrize(
    "url",
    [
        "/api/studies?PatientName=%FF%FE",
        "/api/studies/%FF",
        "/api/orders/%FF%00",
        "/api/reports/%C0%AE%C0%AE",
        "/dicom-web/studies?PatientName=%FF",
        "/dicom-web/studies/1.2.3%FF/metadata",
        "/fhir/Patient?name=%FF",
        "/fhir/Patient/%FF",
        "/wado?requestType=WADO&studyUID=%FF",
    ],
)
def test_invalid_utf8_is_refused_or_matches_nothing(
    world: tuple[Services, TestClient, Path], url: str
) -> None:
    """Percent-encoded bytes that are not UTF-8 (and overlong encodings of ``.``): a 4xx,
    or (a query string, decoded with U+FFFD by Starlette) a search that matches nothing."""
    _, client, _ = world
    response = client.get(url)
    assert response.status_code < 500, (url, response.status_code, response.text)
    assert response.status_code >= 400 or _matches(response) == 0, (url, response.text)
