"""The study page's order, MPPS and per-role actions in a real browser (issue 10 §1):
Debian's Chromium driven by playwright-core (``ui/e2e/study_actions.mjs``) against raddx over
real HTTP. An admin sees the order and the MPPS state, sends the study to a live DCMTK
storescp and watches the job finish, downloads the study zip (it holds the study's
instances), runs a de-identified export and downloads its package, reconciles the study with
its order, deletes it (after a confirmation, cancelled once) and restores it; a viewer sees
no send, delete or reconcile button. Screenshots go to ``build/e2e-screenshots/study-actions``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import re
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import add_user, run_scenario, screenshots
from pydicom.uid import generate_uid

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from helpers import bare_url, dcmtk_env, wait_for
from raddx.config import RemoteAE
from raddx.db.models import RisPerformedStep
from raddx.dimse.scu import echo
from raddx.security import totp
from raddx.security.accounts import begin_totp, confirm_totp
from raddx.services import Services

ADMIN, ADMIN_PASSWORD = "admin-kato", "a long admin passphrase 12"
VIEWER, VIEWER_PASSWORD = "viewer-ito", "a long viewer passphrase 34"

# pynetdicom leaks the socket of a failed readiness echo (see test_api_remote_aes_jobs).
pytestmark = [
    pytest.mark.dcmtk,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@contextlib.contextmanager
def _storescp(dcmtk: Callable[[str], str], out: Path) -> Iterator[int]:
    """DCMTK storescp (AE STORESCP) writing into ``out``; yields its port once it answers a
    C-ECHO (polled)."""
    import socket

    out.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [dcmtk("storescp"), "-aet", "STORESCP", "-od", str(out), str(port)],
        env=dcmtk_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        remote = RemoteAE(ae_title="STORESCP", host="127.0.0.1", port=port)
        wait_for(lambda: echo(remote, calling_ae="PROBE").ok, timeout=30)
        gc.collect()
        yield port
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_study_actions_in_chromium(
    e2e_ready: None,
    services: Services,
    http_url: str,
    dcmtk: Callable[[str], str],
    tmp_path: Path,
) -> None:
    add_user(services, ADMIN, "admin", ADMIN_PASSWORD)
    # The admin role must use 2FA: enrolled here with a code of five minutes ago, so the code
    # the scenario logs in with (now) is a later time step (no replay refusal).
    with services.session_factory.begin() as session:
        secret = begin_totp(session=session, name=ADMIN)
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with services.session_factory.begin() as session:
        confirm_totp(
            session=session,
            name=ADMIN,
            code=totp.totp(secret, earlier),
            clock=lambda: earlier,
        )
    add_user(services, VIEWER, "viewer", VIEWER_PASSWORD)
    api = f"{http_url}/api"
    study, series, sops = generate_uid(), generate_uid(), []
    for number in (1, 2, 3):
        ds = make_dataset(
            patient_id="JP050",
            patient_name=JAPANESE_NAME,
            charset="ISO_IR 192",
            study_uid=study,
            series_uid=series,
            accession="ACC-77",
            study_description="胸部CT",
        )
        ds.InstanceNumber = number
        services.ingest.store(to_part10(ds), source="test")
        sops.append(str(ds.SOPInstanceUID))
    order = httpx.post(
        f"{api}/orders",
        json={
            "patient_id": "JP050",
            "patient_name": JAPANESE_NAME,
            "accession_number": "ACC-77",
            "priority": "STAT",
            "procedures": [{"modality": "CT", "scheduled_start_date": "20261126"}],
        },
        timeout=60,
    )
    assert order.status_code == 201, order.text
    now = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
    with services.session_factory.begin() as session:
        session.add(
            RisPerformedStep(
                sop_instance_uid=generate_uid(),
                performed_procedure_step_status="COMPLETED",
                modality="CT",
                performed_station_ae_title="CT01",
                performed_procedure_step_start_date="20261126",
                performed_procedure_step_start_time="090000",
                study_instance_uid=study,
                created_at=now,
                updated_at=now,
            )
        )
    received = tmp_path / "storescp"
    downloads = tmp_path / "downloads"
    shots = screenshots("study-actions")
    with _storescp(dcmtk, received) as port:
        added = httpx.post(
            f"{api}/remote-aes",
            json={"ae_title": "STORESCP", "host": "127.0.0.1", "port": port},
            timeout=60,
        )
        assert added.status_code == 201, added.text
        output = run_scenario(
            "study_actions.mjs",
            bare_url(http_url),
            study,
            ADMIN,
            ADMIN_PASSWORD,
            # valid for this time step and the next (raddx accepts ±1 step)
            totp.totp(secret, dt.datetime.now(dt.UTC)),
            VIEWER,
            VIEWER_PASSWORD,
            str(shots),
            str(downloads),
            timeout=300,
        )
        # The job finished: storescp holds the three instances.
        assert len(list(received.iterdir())) == 3, output
    for check in (
        "ok: the order is shown (STAT)",
        "ok: the MPPS state is shown (COMPLETED)",
        "ok: the send job finished (3/3)",
        "ok: the de-identified package downloads",
        "ok: the reconcile links the study to order ACC-77",
        "ok: cancel keeps the study",
        "ok: the deleted study is gone from the API (404)",
        "ok: the restored study is back (200)",
        "ok: a viewer sees no delete button",
        "ok: a viewer sees no send button",
    ):
        assert check in output, output
    # The zip the browser downloaded holds the study's instances.
    match = re.search(r"^zip: (.+)$", output, re.M)
    assert match, output
    with zipfile.ZipFile(match.group(1)) as archive:
        assert sorted(archive.namelist()) == sorted(f"{sop}.dcm" for sop in sops)
    package = re.search(r"^deid: (.+)$", output, re.M)
    assert package, output
    with zipfile.ZipFile(package.group(1)) as archive:
        names = archive.namelist()
    assert "manifest.json" in names and sum(n.endswith(".dcm") for n in names) == 3
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "01-study-order-mpps-actions.png",
        "02-send-done.png",
        "03-delete-confirm.png",
        "04-deleted.png",
        "05-viewer-no-actions.png",
    ]
