"""Display names of accounts (issue 7): a DICOM PN value with its groups, set at creation or
changed over REST (``admin.users``), validated, audited like other account changes, shown
by whoami, and signed into reports instead of the login name."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from fastapi.testclient import TestClient

from audit_schema import assert_valid
from dicom_factory import make_dataset, to_part10
from helpers import api_token
from raddx.config import load_settings
from raddx.security import audit
from raddx.security.atna import AuditSource, to_xml
from raddx.services import Services
from raddx.web import create_app

SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)
PASSWORD = "correct horse battery"
TANAKA = "Tanaka^Taro=田中^太郎=たなか^たろう"
STUDY = "1.2.392.200036.9116.2.6.1.777"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    try:
        yield services
    finally:
        services.close()


@pytest.fixture
def admin(services: Services) -> TestClient:
    token = api_token(services)
    return TestClient(create_app(services), headers={"Authorization": f"Bearer {token}"})


def _user(admin: TestClient, name: str) -> dict[str, object]:
    return next(u for u in admin.get("/api/auth/users").json() if u["name"] == name)


def test_display_name_is_set_changed_removed_and_audited(admin: TestClient) -> None:
    with audit.capture() as events:
        created = admin.post(
            "/api/auth/users",
            json={
                "name": "dr-tanaka",
                "role": "radiologist",
                "password": PASSWORD,
                "display_name": TANAKA,
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["display_name"] == TANAKA
        changed = admin.put(
            "/api/auth/users/dr-tanaka/display-name",
            json={"display_name": "Tanaka^Taro=髙田^太郎^^=たかだ^たろう^"},
        )
        assert changed.status_code == 200, changed.text
        # Stored normalised: trailing empty components dropped per group.
        assert changed.json()["display_name"] == "Tanaka^Taro=髙田^太郎=たかだ^たろう"
        removed = admin.put("/api/auth/users/dr-tanaka/display-name", json={"display_name": ""})
        assert removed.json()["display_name"] is None
    alerts = [e for e in events if e.event_id.code.code == "110113"]
    assert [(e.event_types[0].code.code, e.outcome_description) for e in alerts] == [
        ("110137", f"user created with role radiologist, display name {TANAKA}"),
        (
            "110137",
            f"display name changed from {TANAKA} to Tanaka^Taro=髙田^太郎=たかだ^たろう",
        ),
        ("110137", "display name changed from Tanaka^Taro=髙田^太郎=たかだ^たろう to (none)"),
    ]
    for event in alerts:
        assert [o.object_id for o in event.objects] == ["dr-tanaka"]
        assert_valid(to_xml(event, SOURCE))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("A=田中^太郎=たなか=extra", "at most three groups"),
        ("田中\\太郎", "backslash"),
        ("田中^太郎^a^b^c^d", "more than 5 components"),
        ("田" * 65, "over 64 characters"),
        ("田中\t太郎", "control character"),
    ],
)
def test_bad_display_names_are_refused_and_change_nothing(
    admin: TestClient, value: str, reason: str
) -> None:
    admin.post(
        "/api/auth/users",
        json={"name": "sato", "role": "viewer", "password": PASSWORD, "display_name": "佐藤"},
    )
    with audit.capture() as events:
        put = admin.put("/api/auth/users/sato/display-name", json={"display_name": value})
        post = admin.post(
            "/api/auth/users",
            json={"name": "mori", "role": "viewer", "password": PASSWORD, "display_name": value},
        )
    for answer in (put, post):
        assert answer.status_code == 422, answer.text
        assert reason in answer.text
    assert _user(admin, "sato")["display_name"] == "佐藤"
    assert "mori" not in {u["name"] for u in admin.get("/api/auth/users").json()}
    assert [e for e in events if e.event_id.code.code == "110113"] == []
    unknown = admin.put("/api/auth/users/nobody/display-name", json={"display_name": "無名"})
    assert unknown.status_code == 404


def test_whoami_and_reports_use_the_display_name(admin: TestClient, services: Services) -> None:
    admin.post(
        "/api/auth/users",
        json={
            "name": "dr-tanaka",
            "role": "radiologist",
            "password": PASSWORD,
            "display_name": TANAKA,
        },
    )
    admin.post(
        "/api/auth/users",
        json={"name": "dr-mori", "role": "radiologist", "password": PASSWORD},
    )
    as_tanaka = {"Authorization": ""}
    me = admin.get("/api/auth/whoami", auth=("dr-tanaka", PASSWORD), headers=as_tanaka).json()
    assert me["display_name"] == TANAKA
    # The login answer (what the web application keeps as "who am I") carries it too.
    login = TestClient(admin.app).post(
        "/api/auth/login", json={"name": "dr-tanaka", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    assert login.json()["display_name"] == TANAKA
    ds = make_dataset(
        study_uid=STUDY,
        accession="A777",
        patient_id="P777",
        patient_name="Yamada^Hanako=山田^花子",
        charset="ISO_IR 192",
    )
    services.ingest.store(to_part10(ds), source="test")
    # The editor names the person by account only: the server fills in the display name.
    draft = admin.post(
        "/api/reports/from-study", json={"study_uid": STUDY, "author": {"id": "dr-tanaka"}}
    )
    assert draft.status_code == 201, draft.text
    rid = draft.json()["report_id"]
    assert draft.json()["author"] == {"name": TANAKA, "id": "dr-tanaka"}
    admin.patch(f"/api/reports/{rid}", json={"sections": {"impression": "異常所見なし。"}})
    final = admin.post(f"/api/reports/{rid}/final", json={"verifier": {"id": "dr-mori"}})
    assert final.status_code == 200, final.text
    # Without a display name the login name is used.
    assert final.json()["verifier"] == {"name": "dr-mori", "id": "dr-mori"}
    sr = admin.get(f"/api/reports/{rid}", params={"format": "sr"})
    assert sr.status_code == 200, sr.text
    ds = pydicom.dcmread(io.BytesIO(sr.content))
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    observer = next(i for i in ds.ContentSequence if "PersonName" in i)
    assert observer.PersonName.ideographic == "田中^太郎"
    assert observer.PersonName.phonetic == "たなか^たろう"
    cda = admin.get(f"/api/reports/{rid}", params={"format": "cda"}).text
    assert '<name use="IDE"><family>田中</family><given>太郎</given></name>' in cda
    nameless = admin.post(
        f"/api/reports/{rid}/addenda",
        json={"text": "追記", "author": {"name": ""}, "verifier": {"id": "dr-mori"}},
    )
    assert nameless.status_code == 400 and "needs a name" in nameless.json()["detail"]
