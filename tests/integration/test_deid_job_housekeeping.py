"""De-identification jobs leave nothing behind: a crash's working copies (identifiable
originals) are deleted at the next start, and download packages expire after
``deid_package_retention_hours``; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import httpx

from dicom_factory import make_dataset, to_part10
from helpers import start_http_server
from raddx.config import load_settings
from raddx.db.models import Job
from raddx.jobs import JobKindValues, JobService, JobStateValues
from raddx.jobs.deid import expire_packages, recover_hooks, recover_work, runners
from raddx.services import Services


def _crash_leftovers(services: Services) -> tuple[Path, Path, Path]:
    """What a process killed during a package job leaves: the runner's working folder with
    identifiable originals and output, and a half-written package."""
    data = services.settings.data_dir
    work = data / "deid-work" / "tmpcrashed"
    (work / "in").mkdir(parents=True)
    original = work / "in" / "000000.dcm"
    original.write_bytes(to_part10(make_dataset(patient_id="CRASH1", patient_name="Crash^Hanako")))
    (work / "q").mkdir()
    (work / "q" / "000001.dcm").write_bytes(original.read_bytes())
    packages = data / "deid-packages"
    packages.mkdir(parents=True)
    part = packages / ".0123.zip.abcd.part"
    part.write_bytes(b"PK half a zip")
    kept = packages / "0123abcd.zip"
    kept.write_bytes(b"PK a finished package")
    with services.session_factory() as session, session.begin():
        session.add(
            Job(
                kind=JobKindValues.DEIDENTIFY.value, state=JobStateValues.RUNNING.value,
                remote_ae_title="", request=json.dumps({"policy": "anonymize"}), total=1,
                completed=0, failed=0, warning=0, created_at=dt.datetime.now(dt.UTC),
            )
        )  # fmt: skip
    return work, part, kept


def test_recover_deletes_a_crashs_working_copies(services: Services) -> None:
    work, part, kept = _crash_leftovers(services)
    jobs = JobService(
        session_factory=services.session_factory,
        runners=runners(services),
        recover_hooks=recover_hooks(services),
    )
    assert jobs.recover() == 1
    assert not work.exists() and not part.exists()
    assert list((services.settings.data_dir / "deid-work").iterdir()) == []
    assert kept.exists()  # a finished package is the retention's business, not recovery's
    (job,) = jobs.list(limit=10)
    assert job.state is JobStateValues.INTERRUPTED
    assert recover_work(services) == 0  # nothing left the second time


def test_the_server_start_clears_them(services: Services) -> None:
    # The wiring users rely on: starting the HTTP door runs the recovery.
    work, part, _kept = _crash_leftovers(services)
    server = start_http_server(services)
    try:
        assert not work.exists() and not part.exists()
        response = httpx.get(f"{server.url}/api/jobs")
        assert response.status_code == 200, response.text
        assert "the server stopped" in response.text  # the crashed job, marked interrupted
    finally:
        server.stop()


def test_packages_expire_after_the_retention(services: Services) -> None:
    packages = services.settings.data_dir / "deid-packages"
    packages.mkdir(parents=True)
    old, new = packages / "old.zip", packages / "new.zip"
    old.write_bytes(b"PK")
    new.write_bytes(b"PK")
    two_days_ago = time.time() - 48 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    assert services.settings.deid_package_retention_hours == 168  # the default: a week
    assert expire_packages(services) == 0
    assert expire_packages(services, now=time.time() + 6 * 86400) == 1  # old is 8 days old
    assert not old.exists() and new.exists()
    forever = Services.from_settings(
        load_settings(
            data_dir=services.settings.data_dir,
            database_url=services.settings.resolved_database_url,
            deid_package_retention_hours=0,
        )
    )
    try:
        assert expire_packages(forever, now=time.time() + 3650 * 86400) == 0
        assert new.exists()
    finally:
        forever.close()
