"""``raddx.archive.importer`` on a real ingest: SQLite index and file blob store in tmp_path."""

from __future__ import annotations

import io
import logging
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet
from pydicom.uid import MediaStorageDirectoryStorage
from sqlalchemy import func, select

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from raddx.archive.importer import ImportEvent, ImportSummary, import_paths
from raddx.config import DuplicatePolicyValues, load_settings
from raddx.db.models import Instance
from raddx.services import Services

CT_SMALL = Path(pydicom.data.get_testdata_file("CT_small.dcm"))
MR_SMALL = Path(pydicom.data.get_testdata_file("MR_small.dcm"))
CHR_H31 = Path(pydicom.data.get_charset_files("chrH31.dcm")[0])  # ISO 2022 IR 87/13 names
NOT_DICOM = "not DICOM: no DICM prefix"


@pytest.fixture
def sqlite_services(tmp_path: Path) -> Iterator[Services]:
    """A fresh archive outside the input folders (a folder walk must not find the index)."""
    services = Services.from_settings(load_settings(data_dir=tmp_path / "archive"))
    yield services
    services.close()


def _import(services: Services, *paths: Path, **kwargs: object) -> ImportSummary:
    return import_paths(list(paths), ingest=services.ingest, **kwargs)  # type: ignore[arg-type]


def _instance_count(services: Services) -> int:
    with services.session_factory() as session:
        return int(session.scalar(select(func.count(Instance.id))) or 0)


def _stored_bytes(services: Services, sop_instance_uid: str) -> bytes:
    with services.session_factory() as session:
        key = session.scalar(
            select(Instance.blob_key).where(Instance.sop_instance_uid == sop_instance_uid)
        )
    assert key is not None, "instance not indexed"
    return services.blobs.get(key)


def _generated(**kwargs: object) -> tuple[Dataset, bytes]:
    ds = make_dataset(**kwargs)  # type: ignore[arg-type]
    return ds, to_part10(ds)


def _copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return target


def _write_fileset(folder: Path, instances: list[Dataset | Path]) -> None:
    """A DICOMDIR tree as pydicom writes it: upper-case IDs (PT000000/ST000000/…)."""
    fileset = FileSet()
    for instance in instances:
        fileset.add(instance)
    fileset.write(folder)
    # pydicom keeps its staging TemporaryDirectory until garbage collection, whose finalizer
    # then warns (ResourceWarning); under -W error that fails a random later test.
    fileset._stage["t"].cleanup()


def _fileset_instances() -> list[Dataset | Path]:
    generated: list[Dataset | Path] = []
    for patient_id in ("P1", "P1", "P2"):
        ds, _ = _generated(patient_id=patient_id)  # to_part10 gives ds its file meta
        generated.append(ds)
    return [*generated, CT_SMALL]


def _lowercase_tree(root: Path) -> None:
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in [*files, *dirs]:
            os.rename(Path(folder, name), Path(folder, name.lower()))


# -- folders ---------------------------------------------------------------------------------


def test_folder_tree_stores_dicom_skips_other_files_and_rejects_a_truncated_one(
    sqlite_services: Services, tmp_path: Path
) -> None:
    root = tmp_path / "in"
    _copy(CT_SMALL, root / "a" / "CT_small.dcm")
    _copy(MR_SMALL, root / "a" / "b" / "MR_small.dcm")
    _copy(CHR_H31, root / "a" / "b" / "c" / "chrH31.dcm")
    _, japanese = _generated(patient_name=JAPANESE_NAME, charset="ISO_IR 192")
    (root / "japanese.dcm").write_bytes(japanese)
    (root / "notes.txt").write_text("not an image\n")
    (root / "a" / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    (root / "empty.dcm").write_bytes(b"")
    truncated = root / "a" / "b" / "truncated.dcm"
    truncated.write_bytes(CT_SMALL.read_bytes()[:20_000])  # cut inside the pixel data
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    _copy(CT_SMALL, root / "__MACOSX" / "a" / "._CT_small.dcm")

    summary = _import(sqlite_services, root)

    assert (summary.stored, summary.duplicates, summary.replaced) == (4, 0, 0)
    assert _instance_count(sqlite_services) == 4
    [(name, reason)] = summary.rejected
    assert name == str(truncated)
    assert "truncated" in reason
    assert sorted(summary.skipped) == [
        (str(root / "a" / "scan.png"), NOT_DICOM),
        (str(root / "empty.dcm"), "not DICOM: empty file"),
        (str(root / "notes.txt"), NOT_DICOM),
    ]
    assert summary.ignored == 2  # .DS_Store and the __MACOSX folder, silently
    total = sum(p.stat().st_size for p in (CT_SMALL, MR_SMALL, CHR_H31)) + len(japanese)
    assert summary.bytes_stored == total


@pytest.mark.parametrize(
    "source",
    [
        CT_SMALL,
        MR_SMALL,
        CHR_H31,
        None,  # generated, ISO_IR 192 with a three-group Japanese name
    ],
)
def test_stored_blob_is_byte_identical_to_the_file(
    sqlite_services: Services, tmp_path: Path, source: Path | None
) -> None:
    path = tmp_path / "in" / "object.dcm"
    if source is None:
        path.parent.mkdir()
        path.write_bytes(_generated(patient_name=JAPANESE_NAME, charset="ISO_IR 192")[1])
    else:
        _copy(source, path)

    summary = _import(sqlite_services, path)

    assert summary.stored == 1, summary.rejected
    uid = pydicom.dcmread(path).SOPInstanceUID
    assert _stored_bytes(sqlite_services, uid) == path.read_bytes()


def test_files_without_preamble_are_stored_as_part10(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """pydicom's dcmwrite of an in-memory dataset writes no preamble (meta first, or no meta
    at all); pydicom's own ExplVR_LitEndNoMeta.dcm is such a file. Garbage starting like a
    dataset is rejected with the reason, other files are skipped as before."""
    folder = tmp_path / "in"
    folder.mkdir()
    ds = make_dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    pydicom.dcmwrite(folder / "meta-first.dcm", ds)
    _copy(Path(pydicom.data.get_testdata_file("ExplVR_LitEndNoMeta.dcm")), folder / "no-meta")
    (folder / "garbage.bin").write_bytes(b"\x08\x00\x16\x00UI\x40\x001.2.3")
    (folder / "notes.txt").write_text("hello")

    summary = _import(sqlite_services, folder)

    assert summary.stored == 2, summary.rejected
    assert [(Path(n).name, r) for n, r in summary.rejected] == [
        ("garbage.bin", "file is truncated: element (0008,0016) needs 64 bytes, 5 remain at byte 8")
    ]
    assert [Path(n).name for n, _ in summary.skipped] == ["notes.txt"]
    stored = _stored_bytes(sqlite_services, ds.SOPInstanceUID)
    assert stored[128:132] == b"DICM"
    assert pydicom.dcmread(io.BytesIO(stored)).file_meta.MediaStorageSOPInstanceUID == (
        ds.SOPInstanceUID
    )


def test_reimport_counts_duplicates_and_changes_nothing(
    sqlite_services: Services, tmp_path: Path
) -> None:
    root = tmp_path / "in"
    for i in range(3):
        (root / f"IM{i}.dcm").parent.mkdir(exist_ok=True)
        (root / f"IM{i}.dcm").write_bytes(_generated()[1])

    first = _import(sqlite_services, root)
    again = _import(sqlite_services, root)

    assert (first.stored, first.duplicates) == (3, 0)
    assert (again.stored, again.duplicates, again.bytes_stored) == (0, 3, 0)
    assert _instance_count(sqlite_services) == 3


def test_same_uid_with_other_bytes_is_replaced_or_rejected_by_policy(tmp_path: Path) -> None:
    ds, original = _generated()
    ds.StudyDescription = "corrected"
    changed = to_part10(ds)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "original.dcm").write_bytes(original)
    (tmp_path / "in" / "changed.dcm").write_bytes(changed)
    for policy, replaced, rejected in (
        (DuplicatePolicyValues.REPLACE, 1, 0),
        (DuplicatePolicyValues.REJECT, 0, 1),  # ingest's Conflict becomes a rejection
    ):
        settings = load_settings(data_dir=tmp_path / policy.value, duplicate_policy=policy)
        services = Services.from_settings(settings)
        try:
            summary = _import(services, tmp_path / "in" / "original.dcm")
            summary = _import(services, tmp_path / "in" / "changed.dcm")
        finally:
            services.close()
        assert (summary.replaced, len(summary.rejected)) == (replaced, rejected)


def test_symlinks_are_followed_without_loops_or_double_imports(
    sqlite_services: Services, tmp_path: Path
) -> None:
    root = tmp_path / "in"
    _copy(CT_SMALL, root / "series" / "CT_small.dcm")
    (root / "series" / "loop").symlink_to(root, target_is_directory=True)
    (root / "alias.dcm").symlink_to(root / "series" / "CT_small.dcm")
    (root / "dangling.dcm").symlink_to(root / "missing.dcm")

    events: list[ImportEvent] = []
    summary = _import(sqlite_services, root, progress=events.append)

    assert summary.stored == 1
    assert summary.duplicates == 0  # one file under two names is imported once
    assert summary.skipped == [(str(root / "dangling.dcm"), "broken symbolic link")]
    assert events[-1].total == 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_skipped_not_read(sqlite_services: Services, tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    os.mkfifo(root / "pipe")  # reading it would block forever
    summary = _import(sqlite_services, root)
    assert summary.skipped == [(str(root / "pipe"), "not a regular file")]


def test_an_unreadable_file_is_rejected_and_the_import_goes_on(
    sqlite_services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chmod 000 does not stop root (CI containers), so the denial is simulated at the read.
    root = tmp_path / "in"
    locked = _copy(CT_SMALL, root / "a_locked.dcm")
    _copy(MR_SMALL, root / "b_open.dcm")
    read_bytes = Path.read_bytes

    def _deny(self: Path) -> bytes:
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", _deny)
    summary = _import(sqlite_services, root)
    assert summary.rejected == [(str(locked), "cannot read: Permission denied")]
    assert summary.stored == 1


def test_an_unexpected_error_is_rejected_logged_and_the_import_goes_on(
    sqlite_services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = tmp_path / "in"
    _copy(CT_SMALL, root / "a.dcm")
    _copy(MR_SMALL, root / "b.dcm")
    bad = CT_SMALL.read_bytes()
    store = sqlite_services.ingest.store

    def _store(data: bytes, **kwargs: object) -> object:
        if data == bad:
            raise RuntimeError("boom")
        return store(data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite_services.ingest, "store", _store)
    with caplog.at_level(logging.ERROR, logger="raddx.archive.importer"):
        summary = _import(sqlite_services, root)
    assert summary.rejected == [(str(root / "a.dcm"), "internal error: RuntimeError: boom")]
    assert summary.stored == 1
    [record] = caplog.records
    assert record.exc_info is not None


# -- zip files -------------------------------------------------------------------------------


def test_zip_with_nested_folders_is_imported_by_its_magic_not_its_name(
    sqlite_services: Services, tmp_path: Path
) -> None:
    ds1, one = _generated()
    ds2, two = _generated()
    archive = tmp_path / "in" / "export.bin"  # no .zip extension
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("study/", b"")  # explicit folder entry
        zf.writestr("study/series1/IM1.dcm", one)
        zf.writestr("study/series2/deeper/IM2", two)
        zf.writestr("study/readme.txt", b"exported by a viewer")
        zf.writestr("__MACOSX/study/series1/._IM1.dcm", b"\0\5\26\7")

    summary = _import(sqlite_services, archive)

    assert summary.stored == 2
    assert summary.skipped == [(f"{archive}!study/readme.txt", NOT_DICOM)]
    assert summary.rejected == []
    assert summary.ignored == 1
    assert _stored_bytes(sqlite_services, ds1.SOPInstanceUID) == one
    assert _stored_bytes(sqlite_services, ds2.SOPInstanceUID) == two


def _valid_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("IM1.dcm", _generated()[1])
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        b"PK\x03\x04" + b"\xff" * 200,  # a local header magic and garbage
        _valid_zip()[:-30],  # cut short: the central directory is gone
    ],
)
def test_a_corrupt_zip_is_rejected_and_the_rest_imported(
    sqlite_services: Services, tmp_path: Path, content: bytes
) -> None:
    root = tmp_path / "in"
    _copy(CT_SMALL, root / "good.dcm")
    (root / "broken.zip").write_bytes(content)

    summary = _import(sqlite_services, root)

    [(name, reason)] = summary.rejected
    assert name == str(root / "broken.zip")
    assert reason.startswith("corrupt zip:")
    assert summary.stored == 1


def test_zip_members_over_the_size_limit_are_not_extracted(
    sqlite_services: Services, tmp_path: Path
) -> None:
    archive = tmp_path / "bomb.zip"
    small = _generated()[1]
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("small.dcm", small)
        zf.writestr("zeros.dcm", bytes(10 << 20))  # 10 MiB of zeros, about 10 KiB packed

    summary = _import(sqlite_services, archive, max_object_size=1 << 20)

    assert summary.stored == 1
    [(name, reason)] = summary.rejected
    assert name == f"{archive}!zeros.dcm"
    assert "over the import limit" in reason


def test_a_zip_inside_a_zip_is_skipped(sqlite_services: Services, tmp_path: Path) -> None:
    archive = tmp_path / "outer.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("inner.zip", _valid_zip())
    summary = _import(sqlite_services, archive)
    assert summary.skipped == [
        (f"{archive}!inner.zip", "zip inside a zip is not opened; unpack it first")
    ]
    assert summary.stored == 0


# -- DICOMDIR --------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["DICOMDIR", "folder"])
@pytest.mark.parametrize("lowercased", [False, True], ids=["media", "lowercased-copy"])
def test_dicomdir_tree_imports_each_instance_once(
    sqlite_services: Services, tmp_path: Path, entry: str, lowercased: bool
) -> None:
    root = tmp_path / "in" / "cdrom"
    _write_fileset(root, _fileset_instances())
    if lowercased:  # IDs in the DICOMDIR stay upper-case; the files on disk are not
        _lowercase_tree(root)
    dicomdir = root / ("dicomdir" if lowercased else "DICOMDIR")

    events: list[ImportEvent] = []
    target = dicomdir if entry == "DICOMDIR" else tmp_path / "in"
    summary = _import(sqlite_services, target, progress=events.append)

    assert (summary.stored, summary.rejected, summary.skipped) == (4, [], [])
    assert summary.dicomdirs == 1
    assert events[-1].total == 4  # the folder walk met the files a second time
    assert _instance_count(sqlite_services) == 4
    with sqlite_services.session_factory() as session:
        classes = set(session.scalars(select(Instance.sop_class_uid)))
    assert MediaStorageDirectoryStorage not in classes


def test_a_file_missing_from_a_dicomdir_is_rejected(
    sqlite_services: Services, tmp_path: Path
) -> None:
    root = tmp_path / "cdrom"
    _write_fileset(root, _fileset_instances())
    missing = root / "PT000000" / "ST000000" / "SE000000" / "IM000000"
    missing.unlink()

    summary = _import(sqlite_services, root / "DICOMDIR")

    assert summary.stored == 3
    assert summary.rejected == [
        (str(missing), f"listed in DICOMDIR {root / 'DICOMDIR'} but missing")
    ]


def test_a_dicomdir_tree_inside_a_zip(sqlite_services: Services, tmp_path: Path) -> None:
    root = tmp_path / "cdrom"
    _write_fileset(root, _fileset_instances())
    archive = tmp_path / "cdrom.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(root.rglob("*")):
            zf.write(path, path.relative_to(root).as_posix())

    summary = _import(sqlite_services, archive)

    assert (summary.stored, summary.rejected, summary.skipped) == (4, [], [])
    assert summary.dicomdirs == 1


# -- progress and summary --------------------------------------------------------------------


def test_progress_counts_up_to_the_total_announced_before_importing(
    sqlite_services: Services, tmp_path: Path
) -> None:
    root = tmp_path / "in"
    _copy(CT_SMALL, root / "a" / "CT.dcm")
    _copy(MR_SMALL, root / "b" / "MR.dcm")
    (root / "b" / "notes.txt").write_text("x")
    (root / "c.dcm").write_bytes(CT_SMALL.read_bytes()[:1000])

    events: list[ImportEvent] = []
    summary = _import(sqlite_services, root, progress=events.append)

    listing = [e for e in events if e.total is None]
    importing = [e for e in events if e.total is not None]
    assert listing and all(e.done == 0 for e in listing)
    assert events.index(importing[0]) == len(listing)  # the total is known before any import
    assert [e.done for e in importing] == list(range(1, 5))
    assert {e.total for e in importing} == {4}
    assert summary.processed == 4


def test_render_lists_every_rejection_and_the_first_skipped() -> None:
    summary = ImportSummary(
        stored=3,
        duplicates=1,
        bytes_stored=3 << 20,
        rejected=[("a.dcm", "file is truncated"), ("b.dcm", "SOPInstanceUID is missing")],
        skipped=[(f"f{i}.txt", NOT_DICOM) for i in range(25)],
        patient_conflicts=1,
    )

    text = summary.render(elapsed=2.0)

    assert text.splitlines()[0].split()[:2] == ["stored", "3"]
    assert "a.dcm: file is truncated" in text
    assert "b.dcm: SOPInstanceUID is missing" in text
    assert "f19.txt" in text
    assert "f20.txt" not in text
    assert "and 5 more" in text
    assert "15.5/s" in text  # 31 items in 2 s
    assert "patient conflicts: 1" in text
    assert ImportSummary().render(elapsed=0.0).startswith("stored")  # no division by zero


def test_full_disk_stops_the_import_and_says_so(
    sqlite_services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first ENOSPC every further object would fail the same way: stop, keep what
    was stored, report how much was not attempted; a second run finishes the job."""
    import errno
    import os

    from dicom_factory import write_files

    write_files(tmp_path / "in", 5)
    real_write = os.write
    calls = {"n": 0}

    def fill_up(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] > 2:  # two objects fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", fill_up)
    summary = _import(sqlite_services, tmp_path / "in")
    monkeypatch.undo()
    assert summary.stored == 2
    assert len(summary.rejected) == 1 and "storage is full" in summary.rejected[0][1]
    assert summary.stopped is not None and summary.not_attempted == 2
    assert "STOPPED" in summary.render(elapsed=1.0)
    again = _import(sqlite_services, tmp_path / "in")
    assert (again.stored, again.duplicates, again.stopped) == (3, 2, None)


def test_ctrl_c_returns_the_summary_so_far(sqlite_services: Services, tmp_path: Path) -> None:
    from dicom_factory import write_files

    write_files(tmp_path / "in", 4)
    seen: list[int] = []

    def interrupt_after_two(event: ImportEvent) -> None:
        if event.total is not None:
            seen.append(event.done)
            if event.done == 2:
                raise KeyboardInterrupt

    summary = import_paths(
        [tmp_path / "in"], ingest=sqlite_services.ingest, progress=interrupt_after_two
    )
    assert summary.stopped == "interrupted"
    assert summary.stored == 2 and summary.not_attempted == 2
    assert _instance_count(sqlite_services) == 2
