"""Shared by the browser end-to-end tests (issue 10): the skip-or-fail fixture (re-exported by
conftest.py), users with a password, and running one ``ui/e2e/*.mjs`` scenario against raddx
over real HTTP. Each test keeps its screenshots in its own folder under
``build/e2e-screenshots/`` (tests run in parallel)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from raddx.security import load_policy, rules_from_settings
from raddx.security.accounts import create_user
from raddx.services import Services
from raddx.web.ui import UI_DIST

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "e2e-screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if not (UI_DIST / "index.html").is_file():
        return "the web application is not built (make ui)"
    if not (ROOT / "ui" / "node_modules" / "playwright-core").is_dir():
        return "ui/node_modules is missing (make ui)"
    return None


@pytest.fixture
def e2e_ready() -> None:
    """Skip when node, Chromium, the built UI or ui/node_modules is missing, unless
    ``RADDX_REQUIRE_E2E=1`` (CI), which turns the skip into a failure."""
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("RADDX_REQUIRE_E2E") == "1":
        pytest.fail(f"RADDX_REQUIRE_E2E=1 but {reason}")
    pytest.skip(reason)


def add_user(services: Services, name: str, role: str, password: str) -> None:
    """A user who logs in with ``password`` (no 2FA)."""
    settings = services.settings
    with services.session_factory() as s, s.begin():
        create_user(
            session=s,
            name=name,
            role=role,
            password=password,
            policy=load_policy(settings.security_policy_file),
            rules=rules_from_settings(settings).accounts,
        )


def screenshots(name: str) -> Path:
    """An empty screenshot folder for one test: ``build/e2e-screenshots/<name>/``."""
    folder = SCREENSHOTS / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def run_scenario(script: str, *args: str, timeout: float = 180) -> str:
    """Run ``ui/e2e/<script>`` with node and return its output; fails the test (with the
    output) when the scenario fails."""
    done = subprocess.run(
        ["node", str(ROOT / "ui" / "e2e" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT / "ui",
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output
