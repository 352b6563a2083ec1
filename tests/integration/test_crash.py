"""A process killed in the middle of an ingest leaves no half blob and no dangling row; the
sweep re-indexes a complete object whose row was never committed and removes everything else
a crash can leave behind."""

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
from raddx.archive.sweep import SweepReport, sweep_orphans
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
        # An O_TMPFILE blob has no name until complete; a named temp file is left to the sweep.
        temp_files = 0 if services.blobs.anonymous_temp else 1
        assert [p.name.endswith(".tmp") for p in leftovers] == [True] * temp_files
    else:
        assert leftovers == [final]  # a complete, unindexed blob: an orphan
        assert final.read_bytes() == data

    report = _sweep(services, grace=0)
    if moment == "during-write":
        assert (report.recovered, report.orphan_blobs, report.temp_files) == (0, 0, temp_files)
        assert [p for p in services.blobs.root.rglob("*") if p.is_file()] == []
        assert services.ingest.store(data, source="test").outcome is IngestOutcome.STORED
    else:
        # The object was complete and durable: it is recovered, not thrown away.
        assert (report.recovered, report.orphan_blobs, report.temp_files) == (1, 0, 0)
        with services.session_factory() as session:
            instance = session.scalars(select(Instance)).one()
        assert instance.source == "recovered"
        assert services.blobs.get(instance.blob_key) == data
        assert services.ingest.store(data, source="test").outcome is IngestOutcome.DUPLICATE


def _sweep(services: Services, grace: float) -> SweepReport:
    return sweep_orphans(
        session_factory=services.session_factory,
        blobs=services.blobs,
        ingest=services.ingest,
        grace_seconds=grace,
    )


def _age(services: Services, key: str) -> None:
    path = services.blobs.root / key
    old = path.stat().st_mtime - 7200
    os.utime(path, (old, old))


def test_sweep_keeps_indexed_and_young_blobs_and_removes_old_garbage(services: Services) -> None:
    services.ingest.store(to_part10(make_dataset()), source="test")
    services.blobs.put("ff/young-orphan", b"in flight")
    report = _sweep(services, grace=3600)
    assert (report.orphan_blobs, report.recovered) == (0, 0)
    assert services.blobs.exists("ff/young-orphan")
    _age(services, "ff/young-orphan")
    report = _sweep(services, grace=3600)
    assert (report.orphan_blobs, report.recovered) == (1, 0)  # not DICOM: removed
    assert not services.blobs.exists("ff/young-orphan")
    with services.session_factory() as session:
        key = session.scalars(select(Instance.blob_key)).one()
    assert services.blobs.exists(key)


def test_sweep_removes_a_torn_blob_and_a_redundant_copy(services: Services) -> None:
    ds = make_dataset()
    data = to_part10(ds)
    services.ingest.store(data, source="test")
    other = make_dataset()
    torn = blob_key_for(other.SOPInstanceUID)
    services.blobs.put(torn, to_part10(other)[:-7])  # what a power cut mid-put can leave
    redundant = blob_key_for(ds.SOPInstanceUID, "ab" * 32)
    services.blobs.put(redundant, data)  # a second copy of an indexed, present instance
    for key in (torn, redundant):
        _age(services, key)
    report = _sweep(services, grace=60)
    assert (report.orphan_blobs, report.recovered, report.missing_blobs) == (2, 0, 0)
    assert not services.blobs.exists(torn) and not services.blobs.exists(redundant)


def test_sweep_recovers_rows_lost_in_a_power_cut(services: Services) -> None:
    """With synchronous=NORMAL a power cut can roll back committed rows while their blobs are
    durable. Simulated: the rows are deleted and one instance's replacement is rolled back to
    its previous (already deleted) blob. The sweep brings every acknowledged object back."""
    from sqlalchemy import delete, update

    lost = make_dataset()
    services.ingest.store(to_part10(lost), source="test")
    replaced = make_dataset(study_description="first")
    first = to_part10(replaced)
    services.ingest.store(first, source="test")
    with services.session_factory() as session:
        first_key = session.scalars(
            select(Instance.blob_key).where(Instance.sop_instance_uid == replaced.SOPInstanceUID)
        ).one()
        first_sha = session.scalars(
            select(Instance.sha256).where(Instance.sop_instance_uid == replaced.SOPInstanceUID)
        ).one()
    replaced.StudyDescription = "second"
    second = to_part10(replaced)
    services.ingest.store(second, source="test")  # deletes the first blob after commit
    with services.session_factory() as session, session.begin():
        session.execute(delete(Instance).where(Instance.sop_instance_uid == lost.SOPInstanceUID))
        session.execute(
            update(Instance)
            .where(Instance.sop_instance_uid == replaced.SOPInstanceUID)
            .values(blob_key=first_key, sha256=first_sha)
        )
    for blob in services.blobs.list_blobs():
        _age(services, blob.key)
    report = _sweep(services, grace=60)
    assert (report.recovered, report.orphan_blobs, report.missing_blobs) == (2, 0, 0)
    with services.session_factory() as session:
        rows = {i.sop_instance_uid: i for i in session.scalars(select(Instance))}
    assert services.blobs.get(rows[lost.SOPInstanceUID].blob_key) == to_part10(lost)
    assert services.blobs.get(rows[replaced.SOPInstanceUID].blob_key) == second


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
