"""dicom3tools' ``dciodvfy`` for tests: the IOD errors it reports for one file.

Shared by the de-identification gate (issue 8) and the report objects (issue 7: SR, KOS);
CI installs Debian's dicom3tools (.ci/run).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DCIODVFY = shutil.which("dciodvfy", path="/usr/bin:/usr/local/bin")


def dciodvfy_errors(path: Path) -> set[str]:
    """The ``Error`` lines dciodvfy prints for ``path`` (warnings are not counted)."""
    if DCIODVFY is None:
        pytest.fail("dicom3tools' dciodvfy not found: install Debian's dicom3tools (see README)")
    done = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, check=False)
    lines = (done.stdout + done.stderr).splitlines()
    return {line.strip() for line in lines if line.startswith("Error")}
