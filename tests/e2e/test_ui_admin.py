"""The administration pages in a real browser (issue 10 §5, ``ui/e2e/admin.mjs``): raddx over
real HTTP, a DCMTK ``storescp`` as the live C-ECHO peer and a closed port as the dead one,
Debian's Chromium driven by playwright-core.

The admin's first login leads to 2FA enrolment (TOTP computed by the scenario, checked here
against raddx's own RFC 6238 code), then users, tokens, remote AEs with C-ECHO, system status
and HL7 pages; a viewer opening ``#/admin/users`` is refused (the API's 403, audited); the
auditor finds both the user creation and the refusal in the audit log. Screenshots go to
``build/e2e-screenshots/admin/``.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import zxingcpp
from e2e_support import add_user, run_scenario, screenshots
from PIL import Image

from helpers import bare_url, free_port
from raddx.config import HL7Destination
from raddx.outbox import OutboxEventValues, record_event
from raddx.outbox.worker import OutboxWorker
from raddx.security import totp
from raddx.security.accounts import list_users
from raddx.services import Services

ADMIN, ADMIN_PASSWORD = "admin-kato", "correct horse battery staple 9"
AUDITOR, AUDITOR_PASSWORD = "auditor-ito", "another long passphrase 10"
VIEWER, VIEWER_PASSWORD = "viewer-mori", "yet another passphrase 11"
LOCKED = "suzuki-locked"

# pynetdicom 3.0 leaks the socket of a failed connect (the dead peer's echo; see
# test_api_remote_aes_jobs): its ResourceWarning is not ours.
pytestmark = [
    pytest.mark.dcmtk,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"storescp exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # poll interval while storescp starts, bounded by the deadline
    pytest.fail(f"storescp did not listen on {port} within {timeout} s")


@pytest.fixture
def echo_peer(dcmtk: Callable[[str], str], tmp_path: Path) -> Iterator[int]:
    """A DCMTK storescp (C-ECHO SCP) on a free loopback port; yields the port."""
    port = free_port()
    out = tmp_path / "storescp"
    out.mkdir()
    process = subprocess.Popen(
        [dcmtk("storescp"), "-aet", "ECHO-PEER", "-od", str(out), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _failed_delivery(services: Services) -> None:
    """One refused HL7 delivery in the outbox (an ORU for a report that does not exist,
    routed to a destination "his"), for the outbox page's retry."""
    settings = services.settings.model_copy(
        update={
            "hl7_destinations": [
                HL7Destination(name="his", host="127.0.0.1", port=1, messages=["oru"])
            ]
        }
    )
    with services.session_factory() as s, s.begin():
        record_event(session=s, event=OutboxEventValues.ORU, subject="R404:1", action="F")
    assert OutboxWorker(settings, services.session_factory).route() == 1


def test_administration_in_chromium(
    e2e_ready: None, services: Services, http_url: str, echo_peer: int
) -> None:
    add_user(services, ADMIN, "admin", ADMIN_PASSWORD)  # no 2FA yet: enrols at first login
    add_user(services, AUDITOR, "auditor", AUDITOR_PASSWORD)
    add_user(services, VIEWER, "viewer", VIEWER_PASSWORD)
    add_user(services, LOCKED, "technologist", VIEWER_PASSWORD)
    base = bare_url(http_url)
    for _ in range(5):  # login_max_failures wrong passwords in a row lock the account
        wrong = httpx.post(f"{base}/api/auth/login", json={"name": LOCKED, "password": "nope"})
        assert wrong.status_code == 401
    _failed_delivery(services)
    dead_port = free_port()  # nothing listens there
    shots = screenshots("admin")
    output = run_scenario(
        "admin.mjs",
        base,
        str(shots),
        ADMIN,
        ADMIN_PASSWORD,
        AUDITOR,
        AUDITOR_PASSWORD,
        VIEWER,
        VIEWER_PASSWORD,
        "127.0.0.1",
        str(echo_peer),
        str(dead_port),
        LOCKED,
        timeout=300,
    )
    for check in (
        "ok: an admin without 2FA is led from the login to the enrolment",
        "ok: reloading mid-enrolment returns to the enrolment, not the login",
        "ok: the QR code image is shown",
        "ok: a wrong code is refused with a message",
        "ok: confirming shows ten recovery codes once",
        "ok: after enrolment the same session is the admin",
        "ok: the administration pages are in English too",
        "ok: a password the policy refuses is refused with the policy's reason",
        "ok: the new user is listed, active",
        "ok: an account locked by failed logins shows locked",
        "ok: unlocking it makes it active again",
        "ok: a created API token is shown once",
        "ok: a revoked token is shown revoked",
        "ok: C-ECHO of the live peer succeeds",
        "ok: C-ECHO of an unreachable peer fails with a reason",
        "ok: the system page shows the storage disk's free space",
        "ok: a refused HL7 delivery is queued again with Retry",
        "ok: a viewer opening #/admin/users is refused, naming the permission",
        "ok: a mistyped repeat of the new password is caught",
        "ok: a user changes their own password",
        "ok: the auditor finds the admin's user creation (110113 / 110137)",
        "ok: the record names the created account in its details",
        "ok: the auditor finds the viewer's refused request (110113 / 110132)",
        "ok: filtering by user shows only that user's records",
        "ok: no script errors",
    ):
        assert check in output, output
    # The code the scenario computed is raddx's own RFC 6238 code for that secret and time.
    found = re.search(r"totp: secret=(\w+) at=(\d+) code=(\d{6})", output)
    assert found, output
    at = dt.datetime.fromtimestamp(int(found[2]) / 1000, dt.UTC)
    assert totp.totp(found[1], at) == found[3]
    # A phone pointed at the enrolment page reads the secret that page shows (ZXing on the
    # screenshot, as an authenticator app's camera would).
    qr = zxingcpp.read_barcode(Image.open(shots / "01-enrol-secret.png"))
    assert qr is not None and f"secret={found[1]}&" in qr.text, qr
    with services.session_factory() as s:
        users = {u.name: u for u in list_users(session=s)}
    assert users[ADMIN].totp_enrolled
    assert users["看護師-田中"].role == "viewer" and not users["看護師-田中"].disabled
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "01-enrol-secret.png",
        "02-enrol-recovery-codes.png",
        "03-admin-index.png",
        "04-users.png",
        "05-remote-aes.png",
        "06-system.png",
        "07-hl7.png",
        "08-viewer-refused.png",
        "09-audit.png",
    ]
