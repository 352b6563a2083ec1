"""A process killed in the middle of an ingest leaves no half blob and no dangling row, and
the orphan sweep reclaims whatever it left on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dicom_factory import make_dataset, to_part10
from raddx.archive import IngestOutcome, blob_key_for
from raddx.archive.sweep import sweep_orphans
from raddx.config import Settings
from raddx.db.models import Instance
from raddx.services import Services

# The child stores one object and SIGKILLs itself at the chosen moment: a real kill -9, not an
# exception, so no cleanup code of ours gets a chance to run.
_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from raddx.config import load_settings
    from raddx.services import Services
    data_dir, url, moment, payload = sys.argv[1:5]
    services = Services.from_settings(load_settings(data_dir=data_dir, database_url=url))
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    if moment == "during-write":
        real_write = os.write
        def half_then_die(fd, data):  # half of the object reaches the temp file, then kill -9
            real_write(fd, bytes(data)[: len(data) // 2])
            die()
        os.write = half_then_die
    elif moment == "during-fsync":
        os.fsync = die          # complete and linked, not yet flushed or indexed
    else:
        from raddx.archive.ingest import IngestService
        IngestService._index = die  # the blob is linked, the index transaction not committed
    services.ingest.store(open(payload, "rb").read(), source="test")
    """
)


@pytest.mark.parametrize("moment", ["during-write", "during-fsync", "before-commit"])
def test_killed_ingest_leaves_nothing_half_done(
    tmp_path: Path, settings: Settings, services: Services, moment: str
) -> None:
    ds = make_dataset()
    data = to_part10(ds)
    payload = tmp_path / "object.dcm"
    payload.write_bytes(data)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(settings.data_dir),
            settings.resolved_database_url,
            moment,
            str(payload),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()

    with services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 0
    final = services.blobs.root / blob_key_for(ds.SOPInstanceUID)
    leftovers = [p for p in services.blobs.root.rglob("*") if p.is_file()]
    if moment == "during-write":
        assert not final.exists()  # no half blob under the real name
        assert [p.name.endswith(".tmp") for p in leftovers] == [True]
    else:
        assert leftovers == [final]  # a complete, unindexed blob: an orphan
        assert final.read_bytes() == data

    report = sweep_orphans(
        session_factory=services.session_factory, blobs=services.blobs, grace_seconds=0
    )
    assert (report.orphan_blobs, report.temp_files) == (
        (0, 1) if moment == "during-write" else (1, 0)
    )
    assert [p for p in services.blobs.root.rglob("*") if p.is_file()] == []
    assert services.ingest.store(data, source="test").outcome is IngestOutcome.STORED


def test_sweep_keeps_indexed_and_young_blobs(services: Services) -> None:
    services.ingest.store(to_part10(make_dataset()), source="test")
    services.blobs.put("ff/young-orphan", b"in flight")
    report = sweep_orphans(
        session_factory=services.session_factory, blobs=services.blobs, grace_seconds=3600
    )
    assert report.orphan_blobs == 0
    assert services.blobs.exists("ff/young-orphan")
    old = os.path.getmtime(services.blobs.root / "ff" / "young-orphan") - 7200
    os.utime(services.blobs.root / "ff" / "young-orphan", (old, old))
    report = sweep_orphans(
        session_factory=services.session_factory, blobs=services.blobs, grace_seconds=3600
    )
    assert report.orphan_blobs == 1
    assert not services.blobs.exists("ff/young-orphan")
    with services.session_factory() as session:
        key = session.scalars(select(Instance.blob_key)).one()
    assert services.blobs.exists(key)


def test_incomplete_file_under_a_replacement_name_is_not_adopted(services: Services) -> None:
    """Both blob names of an instance taken, the content-suffixed one holding a torn write
    (what a power cut can leave): ingest must rewrite it, not index the torn bytes."""
    ds = make_dataset()
    data = to_part10(ds)
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    services.blobs.put(blob_key_for(ds.SOPInstanceUID), b"some other object")
    services.blobs.put(blob_key_for(ds.SOPInstanceUID, sha), data[: len(data) // 2])
    assert services.ingest.store(data, source="test").outcome is IngestOutcome.STORED
    with services.session_factory() as session:
        key = session.scalars(select(Instance.blob_key)).one()
    assert services.blobs.get(key) == data
