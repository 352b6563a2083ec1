"""C-ECHO and C-STORE against a live raddx SCP, with DCMTK and pynetdicom as the peers."""

from __future__ import annotations

import concurrent.futures
import shutil
from collections.abc import Callable
from pathlib import Path

import pydicom
import pynetdicom._config
import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage
from sqlalchemy import func, select

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10, write_files
from helpers import run_tool
from raddx.archive.part10 import read_file_meta
from raddx.db.models import Instance, Study
from raddx.dimse.contexts import STORAGE_TRANSFER_SYNTAXES
from raddx.services import Services

pytestmark = pytest.mark.dcmtk

Tool = Callable[[str], str]


def _instances(services: Services) -> dict[str, Instance]:
    with services.session_factory() as session:
        return {i.sop_instance_uid: i for i in session.scalars(select(Instance))}


def _dataset_bytes(data: bytes) -> bytes:
    return data[read_file_meta(data).dataset_offset :]


def _storescu(tool: Tool, port: int, *paths: Path, extra: tuple[str, ...] = ()) -> None:
    result = run_tool(
        [tool("storescu"), "-aet", "MODALITY1", "-aec", "RADDX", *extra, "127.0.0.1", str(port)]
        + [str(p) for p in paths]
    )
    assert result.returncode == 0, result.stderr
    assert "Store Failed" not in result.stderr


def test_echoscu(dcmtk: Tool, dimse_server: tuple[str, int]) -> None:
    result = run_tool([dcmtk("echoscu"), "-aec", "RADDX", "127.0.0.1", str(dimse_server[1])])
    assert result.returncode == 0, result.stderr


def test_storescu_many_files_one_association(
    dcmtk: Tool, dimse_server: tuple[str, int], services: Services, tmp_path: Path
) -> None:
    files = write_files(tmp_path / "in", 40, patient_name=JAPANESE_NAME, charset="ISO_IR 192")
    _storescu(dcmtk, dimse_server[1], *files)
    stored = _instances(services)
    assert len(stored) == 40
    for path in files:
        original = path.read_bytes()
        uid = pydicom.dcmread(path).SOPInstanceUID
        instance = stored[uid]
        blob = services.blobs.get(instance.blob_key)
        # The dataset arrives over DIMSE exactly as storescu encoded it from the file.
        assert _dataset_bytes(blob) == _dataset_bytes(original)
        assert instance.calling_ae_title == "MODALITY1"
        assert instance.called_ae_title == "RADDX"
        assert instance.source == "dimse"
    with services.session_factory() as session:
        study = session.scalars(select(Study)).one()
        assert study.number_of_study_related_instances == 40


def test_several_associations_at_once(
    dcmtk: Tool, dimse_server: tuple[str, int], services: Services, tmp_path: Path
) -> None:
    """Three senders into the same study at the same time; nothing lost, counters exact."""
    study = generate_uid()
    batches = [write_files(tmp_path / f"in{i}", 15, study_uid=study) for i in range(3)]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(_storescu, dcmtk, dimse_server[1], *b) for b in batches]
        for future in futures:
            future.result()
    assert len(_instances(services)) == 45
    with services.session_factory() as session:
        row = session.scalars(select(Study)).one()
        assert row.number_of_study_related_instances == 45
        assert row.number_of_study_related_series == 3


# pydicom's compressed test files, one per transfer syntax family the archive must accept.
_COMPRESSED = [
    "JPEG-lossy.dcm",  # JPEG Baseline
    "JPGExtended.dcm",  # JPEG Extended
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG Baseline, RGB
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS lossless
    "JPEGLSNearLossless_16.dcm",  # JPEG-LS near-lossless
    "MR_small_jp2klossless.dcm",  # JPEG 2000 lossless
    "JPEG2000.dcm",  # JPEG 2000
    "MR_small_RLE.dcm",  # RLE
    "image_dfl.dcm",  # Deflated explicit VR LE
]


def test_compressed_syntaxes_stored_as_sent(
    dcmtk: Tool, dimse_server: tuple[str, int], services: Services, tmp_path: Path
) -> None:
    """dcmsend proposes each file's own transfer syntax; raddx must accept it and archive the
    object without transcoding."""
    folder = tmp_path / "compressed"
    folder.mkdir()
    for name in _COMPRESSED:
        path = folder / name
        shutil.copy(pydicom.data.get_testdata_file(name), path)
        ds = pydicom.dcmread(path)
        if "StudyInstanceUID" not in ds:  # pydicom's JPEG-LS near-lossless files lack them
            ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
            ds.save_as(path)  # encapsulated pixel data is written back unchanged
        # Several pydicom files share UIDs (one object in many encodings), so each is sent
        # and checked before the next replaces it.
    for name in _COMPRESSED:
        path = folder / name
        result = run_tool(
            [
                *(dcmtk("dcmsend"), "-v", "-aet", "MODALITY1", "-aec", "RADDX"),
                "--decompress-never",
                *("127.0.0.1", str(dimse_server[1]), str(path)),
            ]
        )
        assert result.returncode == 0, (name, result.stderr)
        assert "with status SUCCESS  : 1" in result.stderr, (name, result.stderr)
        ds = pydicom.dcmread(path)
        instance = _instances(services)[ds.SOPInstanceUID]
        assert instance.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID, name
        blob = services.blobs.get(instance.blob_key)
        # DCMTK re-encodes what it sends (it fixes odd lengths, for one), so compare content;
        # byte identity of what was received is checked with pynetdicom below.
        assert _same_content(blob, path.read_bytes()), name


@pytest.mark.parametrize(
    "name", ["chrH31.dcm", "chrH32.dcm", "chrJapMulti.dcm", "chrJapMultiExplicitIR6.dcm"]
)
def test_japanese_charset_files_over_dimse(
    dcmtk: Tool, dimse_server: tuple[str, int], services: Services, name: str
) -> None:
    path = Path(pydicom.data.get_charset_files(name)[0])
    _storescu(dcmtk, dimse_server[1], path)
    ds = pydicom.dcmread(path)
    instance = _instances(services)[ds.SOPInstanceUID]
    assert _same_content(services.blobs.get(instance.blob_key), path.read_bytes())


_ROUND_TRIP = [
    "chrH31.dcm",
    "chrH32.dcm",
    "chrJapMulti.dcm",
    "chrJapMultiExplicitIR6.dcm",
    "CT_small.dcm",
    "JPEG2000.dcm",
    "MR_small_RLE.dcm",
    "MR_small_bigendian.dcm",  # Explicit VR big endian (retired, still accepted)
    "image_dfl.dcm",
]


@pytest.mark.parametrize("name", _ROUND_TRIP)
def test_received_dataset_bytes_are_kept_byte_identical(
    dimse_server: tuple[str, int],
    services: Services,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With STORE_SEND_CHUNKED_DATASET pynetdicom sends a file's dataset bytes untouched, so
    what arrives is exactly the file's dataset: the blob must hold those very bytes."""
    monkeypatch.setattr(pynetdicom._config, "STORE_SEND_CHUNKED_DATASET", True)
    charset = pydicom.data.get_charset_files(name)
    path = Path(charset[0] if charset else pydicom.data.get_testdata_file(name))
    ds = pydicom.dcmread(path)
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", dimse_server[1], ae_title="RADDX")
    assert assoc.is_established
    try:
        assert assoc.send_c_store(path).Status == 0x0000
    finally:
        assoc.release()
    instance = _instances(services)[ds.SOPInstanceUID]
    blob = services.blobs.get(instance.blob_key)
    assert _dataset_bytes(blob) == _dataset_bytes(path.read_bytes())
    assert instance.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID


def _same_content(blob: bytes, original: bytes) -> bool:
    """Every element of the original (text decoded per its character set, pixel data as
    bytes) is in the stored object with the same value."""
    import io

    stored = pydicom.dcmread(io.BytesIO(blob))
    source = pydicom.dcmread(io.BytesIO(original))
    for element in source:
        if element.tag.group == 0x0002 or element.tag.element == 0 or element.tag == 0xFFFCFFFC:
            continue  # meta, group lengths (DCMTK recomputes them) and padding
        other = stored.get(element.tag)
        if other is None:
            return False
        if element.VR == "SQ":
            continue  # nested values are checked through their own test files
        left, right = element.value, other.value
        if isinstance(left, bytes):
            # DCMTK pads odd-length OB/OW values to even length (PS3.5 7.1.1)
            left, right = left.rstrip(b"\0"), right.rstrip(b"\0")
        if str(left) != str(right) and left != right:
            return False
    return True


def _send_with_pynetdicom(port: int, ds: pydicom.Dataset) -> pydicom.Dataset:
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="RADDX")
    assert assoc.is_established
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    return status


def test_refused_object_gets_failure_status_with_comment_and_nothing_is_kept(
    dimse_server: tuple[str, int], services: Services
) -> None:
    ds = make_dataset()
    del ds.StudyInstanceUID
    status = _send_with_pynetdicom(dimse_server[1], ds)
    assert status.Status == 0xC000
    assert "StudyInstanceUID is missing" in status.ErrorComment
    with services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 0
    assert [p for p in services.blobs.root.rglob("*") if p.is_file()] == []
    # The association and the server carry on: a good object right after is stored.
    good = make_dataset()
    assert _send_with_pynetdicom(dimse_server[1], good).Status == 0x0000
    assert good.SOPInstanceUID in _instances(services)


def test_identical_resend_is_success(dimse_server: tuple[str, int], services: Services) -> None:
    ds = make_dataset()
    assert _send_with_pynetdicom(dimse_server[1], ds).Status == 0x0000
    assert _send_with_pynetdicom(dimse_server[1], ds).Status == 0x0000
    assert len(_instances(services)) == 1


def test_part10_of_received_object_is_valid(
    dimse_server: tuple[str, int], services: Services
) -> None:
    """What we write is a proper Part 10 file that pydicom (and so any viewer) reads."""
    ds = make_dataset(patient_name=JAPANESE_NAME, charset="ISO_IR 192")
    assert _send_with_pynetdicom(dimse_server[1], ds).Status == 0x0000
    blob = services.blobs.get(_instances(services)[ds.SOPInstanceUID].blob_key)
    import io

    read = pydicom.dcmread(io.BytesIO(blob))
    assert read.file_meta.SourceApplicationEntityTitle == "PYSCU"
    assert read.PatientName == JAPANESE_NAME
    assert to_part10(read)  # re-encodes cleanly


def test_same_instance_from_two_associations_at_once(
    dimse_server: tuple[str, int], services: Services
) -> None:
    """Two modalities deliver the same object simultaneously: both get Success, the archive
    holds one instance and one blob with exactly those bytes."""
    import threading

    ds = make_dataset()
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def send() -> None:
        barrier.wait()
        copy = pydicom.Dataset(ds)
        statuses.append(int(_send_with_pynetdicom(dimse_server[1], copy).Status))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert statuses == [0, 0]
    assert list(_instances(services)) == [ds.SOPInstanceUID]
    assert len([p for p in services.blobs.root.rglob("*") if p.is_file()]) == 1


@pytest.mark.parametrize(
    "transfer_syntax",
    [ts for ts in STORAGE_TRANSFER_SYNTAXES if ts.is_compressed and not ts.is_deflated],
    ids=lambda ts: ts.name,
)
def test_every_compressed_syntax_is_accepted_and_kept(
    dimse_server: tuple[str, int], services: Services, transfer_syntax: pydicom.uid.UID
) -> None:
    """Each accepted compressed syntax (including HTJ2K, for which no sample file exists) is
    negotiated and archived as sent; the archive never decodes the frames, so a synthetic
    encapsulated frame is enough to prove the path."""
    from pydicom.encaps import encapsulate

    ds = make_dataset(pixel_bytes=512)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51 synthetic codestream \xff\xd9"])
    ds["PixelData"].VR = "OB"
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(ds.SOPClassUID, transfer_syntax)
    assoc = ae.associate("127.0.0.1", dimse_server[1], ae_title="RADDX")
    assert assoc.is_established
    try:
        assert assoc.accepted_contexts[0].transfer_syntax[0] == transfer_syntax
        assert assoc.send_c_store(ds).Status == 0x0000
    finally:
        assoc.release()
    instance = _instances(services)[ds.SOPInstanceUID]
    assert instance.transfer_syntax_uid == transfer_syntax
