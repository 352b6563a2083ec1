"""Small, generated DICOM objects for tests: unique UIDs, Japanese names, any transfer syntax.

Generated rather than checked in so each test can ask for exactly the attributes it needs;
real-world files come from pydicom's own test data (``pydicom.data``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

__all__ = ["JAPANESE_NAME", "make_dataset", "to_part10", "write_files"]

#: PS3.5 H.3.1 example: alphabetic, ideographic and phonetic groups.
JAPANESE_NAME = "Yamada^Tarou=山田^太郎=やまだ^たろう"


def make_dataset(
    *,
    patient_id: str = "PID001",
    patient_name: str = "Doe^John",
    birth_date: str = "19700101",
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    modality: str = "CT",
    sop_class: str = CTImageStorage,
    charset: str | None = None,
    pixel_bytes: int = 64,
    accession: str = "ACC001",
    study_description: str = "",
) -> Dataset:
    """A minimal image with unique UIDs unless given; ``pixel_bytes`` of pixel data."""
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.PatientBirthDate = birth_date
    ds.PatientSex = "M"
    ds.StudyDate = "20261125"
    ds.StudyTime = "101010"
    ds.AccessionNumber = accession
    ds.StudyID = "1"
    ds.StudyDescription = study_description
    ds.ReferringPhysicianName = ""
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    side = max(1, int((pixel_bytes // 2) ** 0.5))
    ds.Rows = side
    ds.Columns = max(1, pixel_bytes // 2 // side)
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(ds.Rows * ds.Columns * 2)
    return ds


def to_part10(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> bytes:
    """Encode ``ds`` as a Part 10 file."""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_files(directory: Path, count: int, **kwargs: object) -> list[Path]:
    """Write ``count`` objects of one study/series into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    study = str(kwargs.pop("study_uid", None) or generate_uid())
    series = str(kwargs.pop("series_uid", None) or generate_uid())
    paths = []
    for i in range(count):
        ds = make_dataset(study_uid=study, series_uid=series, **kwargs)  # type: ignore[arg-type]
        ds.InstanceNumber = i + 1
        path = directory / f"IM{i:05d}.dcm"
        path.write_bytes(to_part10(ds))
        paths.append(path)
    return paths


def iter_sc(count: int) -> Iterator[bytes]:
    """Secondary Capture objects, for tests that only need many distinct instances."""
    for _ in range(count):
        yield to_part10(make_dataset(sop_class=SecondaryCaptureImageStorage, modality="OT"))
