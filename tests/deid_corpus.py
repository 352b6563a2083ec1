"""A seeded corpus with known PHI for de-identification tests (research notes §5.1, T0).

Each patient gets a Latin and a Japanese name (kanji and kana groups), an ID, a birth date
and an address; each study has two CT series and a comprehensive SR that references every
image. PHI is injected into many attributes: top level, nested sequences (Other Patient IDs,
Request Attributes, SR content), a private block under an unknown creator, an orphan private
element, an unknown-VR element, and free text that repeats the name, the ID in full-width
digits and the dates in Western, 和暦 and full-width spellings. Half the patients are written
in ISO 2022 IR 87 (JIS escapes), half in ISO_IR 192 (UTF-8). Pixel data is zeros, so a token
found in the raw bytes of an output is a real leak.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    ComprehensiveSRStorage,
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

__all__ = ["BURNED_BOX", "DEVICE_TOKENS", "Corpus", "Patient", "build_corpus", "burned_in_image"]

# Invented or rare names, so that no token is an English word or a DICOM term.
_LATIN = [
    ("Hasegawa", "Hanako", "長谷川", "花子", "はせがわ", "はなこ"),
    ("Kowalczyk", "Tarou", "小和田", "太郎", "こわだ", "たろう"),
    ("Fujimori", "Keiko", "藤森", "恵子", "ふじもり", "けいこ"),
    ("Brightwater", "Ichirou", "明水", "一郎", "あけみず", "いちろう"),
    ("Delacroix", "Sachiko", "出楽", "幸子", "でらく", "さちこ"),
    ("Okonkwo", "Jirou", "大今", "次郎", "おおいま", "じろう"),
]
_ERAS = (
    (dt.date(2019, 5, 1), "令和"),
    (dt.date(1989, 1, 8), "平成"),
    (dt.date(1926, 12, 25), "昭和"),
)
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _wareki(day: dt.date) -> str:
    for start, name in _ERAS:
        if day >= start:
            return f"{name}{day.year - start.year + 1}年{day.month}月{day.day}日"
    raise ValueError(day)


@dataclass
class Patient:
    family: str
    given: str
    kanji: tuple[str, str]
    kana: tuple[str, str]
    patient_id: str
    birth_date: str
    charset: list[str]

    @property
    def person_name(self) -> str:
        return (
            f"{self.family}^{self.given}={self.kanji[0]}^{self.kanji[1]}="
            f"{self.kana[0]}^{self.kana[1]}"
        )

    def tokens(self) -> set[str]:
        """What must not survive anywhere (study dates are per instance, see Corpus)."""
        return {
            self.family,
            self.given,
            *self.kanji,
            *self.kana,
            self.patient_id,
            self.birth_date,
            f"{self.family}{self.patient_id}@example.jp",
            f"A{self.patient_id}",
            f"RP{self.patient_id}",
            f"SPS{self.patient_id}",
            "Minato-ku Shiba 5-7-1",
            "03-5555-0142",
            "Kurosawa",
            "黒沢",
            "くろさわ",
            "Mizoguchi",
            "Yasujirou",
            "Naruse",
            "Shiba General Hospital",
            "SHIBA GENERAL HOSPITAL",
        }


#: Device identity: must go unless the policy retains device identity (PS3.15 E.3.8).
DEVICE_TOKENS = frozenset({"SHIBA-CT01", "SN-7781234"})


@dataclass
class Corpus:
    files: list[Path] = field(default_factory=list)
    patients: list[Patient] = field(default_factory=list)
    #: SOPInstanceUID → the SOPInstanceUIDs it references
    references: dict[str, set[str]] = field(default_factory=dict)
    #: SOPInstanceUID → the DA values in that instance
    dates: dict[str, set[str]] = field(default_factory=dict)
    uids: set[str] = field(default_factory=set)


class _Uids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self, length: int = 0) -> str:
        uid = "1.2.826.0.1.3680043.10.999." + str(self.rng.getrandbits(64))
        if length:  # pad to an exact length (64: the longest valid UID)
            uid = uid + "." + "1" * (length - len(uid) - 1)
        return uid


def _phi_block(ds: Dataset, patient: Patient, study_date: str) -> None:
    """The attributes that identify, at the top level and nested."""
    ds.PatientName = patient.person_name
    ds.PatientID = patient.patient_id
    ds.IssuerOfPatientID = "SHIBA GENERAL HOSPITAL"
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = "F"
    ds.PatientAge = "052Y"
    ds.PatientAddress = "Minato-ku Shiba 5-7-1"
    ds.PatientTelephoneNumbers = "03-5555-0142"
    ds.PatientMotherBirthName = f"{patient.family}^Mother"
    ds.OtherPatientNames = f"{patient.family}^{patient.given}^Jr"
    other = Dataset()
    other.PatientID = patient.patient_id
    other.IssuerOfPatientID = "SHIBA CLINIC"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.ReferringPhysicianName = "Kurosawa^Akira=黒沢^明=くろさわ^あきら"
    ds.PerformingPhysicianName = "Mizoguchi^Kenji"
    ds.OperatorsName = "Ozu^Yasujirou"
    ds.NameOfPhysiciansReadingStudy = "Naruse^Mikio"
    ds.InstitutionName = "Shiba General Hospital"
    ds.InstitutionAddress = "Minato-ku Shiba 5-7-1"
    ds.StationName = "SHIBA-CT01"
    ds.DeviceSerialNumber = "SN-7781234"
    ds.AccessionNumber = f"A{patient.patient_id}"
    ds.StudyID = f"S{patient.patient_id[-4:]}"
    request = Dataset()
    request.RequestedProcedureID = f"RP{patient.patient_id}"
    request.ScheduledProcedureStepID = f"SPS{patient.patient_id}"
    request.RequestedProcedureDescription = f"CT chest for {patient.family}"
    ds.RequestAttributesSequence = Sequence([request])
    day = dt.datetime.strptime(study_date, "%Y%m%d").date()
    born = dt.datetime.strptime(patient.birth_date, "%Y%m%d").date()
    ds.StudyDescription = f"胸部CT {patient.kanji[0]}{patient.kanji[1]}様 {_wareki(day)}"
    ds.SeriesDescription = f"{patient.family.upper()} {day:%Y/%m/%d} axial"
    ds.ImageComments = (
        f"ID：{patient.patient_id.translate(_FULLWIDTH)} 生年月日 {_wareki(born)} "
        f"({born:%Y-%m-%d}) {patient.kana[0]}{patient.kana[1]}"
    )
    ds.AdditionalPatientHistory = f"Seen by {patient.given} {patient.family} on {day:%d.%m.%Y}"
    ds.ProtocolName = f"{patient.family} protocol"
    ds.PerformedProcedureStepDescription = f"CT for {patient.given}"
    ds.PatientComments = f"e-mail {patient.family}{patient.patient_id}@example.jp"
    # A private block under a creator nobody knows, an orphan private element and a private
    # sequence: all must go (PS3.15 E.3.10 without Retain Safe Private).
    block = ds.private_block(0x0009, "ACME PHI 1.0", create=True)
    block.add_new(0x01, "LO", patient.person_name.split("=")[0])
    block.add_new(0x02, "DA", patient.birth_date)
    block.add_new(0x03, "LO", patient.patient_id)
    inner = Dataset()
    inner.PatientName = patient.person_name
    block.add_new(0x04, "SQ", Sequence([inner]))
    ds.add_new(0x00111010, "LO", f"{patient.family} orphan")
    # PHI in an element of unknown VR (UN): only the raw-byte search can see it.
    ds.add_new(0x00131010, "UN", f"{patient.family}^{patient.given} ".encode("ascii"))


def _image(
    patient: Patient, uid: _Uids, *, study: str, series: str, sop: str, frame: str, date: str
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = patient.charset
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "101010"
    ds.AcquisitionDateTime = f"{date}101010.000000+0900"
    ds.Modality = "CT"
    ds.Manufacturer = "RADDX TEST"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    _phi_block(ds, patient, date)
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(4 * 4 * 2)
    return ds


def _ref(sop_class: str, sop: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop
    return item


def _sr(
    patient: Patient, uid: _Uids, *, study: str, images: list[tuple[str, str]], date: str
) -> Dataset:
    """A comprehensive SR whose content repeats the PHI (TEXT, PNAME, DATE, IMAGE items)."""
    ds = Dataset()
    ds.SpecificCharacterSet = patient.charset
    ds.SOPClassUID = ComprehensiveSRStorage
    ds.SOPInstanceUID = uid()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = uid()
    ds.Modality = "SR"
    ds.StudyDate = ds.ContentDate = date
    ds.StudyTime = ds.ContentTime = "111111"
    ds.SeriesNumber = 99
    ds.InstanceNumber = 1
    _phi_block(ds, patient, date)
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"

    def concept(value: str, meaning: str) -> Sequence:
        code = Dataset()
        code.CodeValue = value
        code.CodingSchemeDesignator = "DCM"
        code.CodeMeaning = meaning
        return Sequence([code])

    ds.ConceptNameCodeSequence = concept("126000", "Imaging Measurement Report")
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.ConceptNameCodeSequence = concept("121071", "Finding")
    text.TextValue = f"{patient.family} {patient.given} ({patient.patient_id}): no finding"
    name = Dataset()
    name.RelationshipType = "HAS OBS CONTEXT"
    name.ValueType = "PNAME"
    name.ConceptNameCodeSequence = concept("121008", "Person Observer Name")
    name.PersonName = patient.person_name
    when = Dataset()
    when.RelationshipType = "CONTAINS"
    when.ValueType = "DATE"
    when.ConceptNameCodeSequence = concept("111060", "Study Date")
    when.Date = patient.birth_date
    image = Dataset()
    image.RelationshipType = "CONTAINS"
    image.ValueType = "IMAGE"
    image.ConceptNameCodeSequence = concept("121200", "Illustration of ROI")
    image.ReferencedSOPSequence = Sequence([_ref(*images[0])])
    ds.ContentSequence = Sequence([text, name, when, image])
    by_series: dict[str, list[tuple[str, str]]] = {}
    for series, sop in images[1]:
        by_series.setdefault(series, []).append((CTImageStorage, sop))
    series_items = []
    for series, refs in by_series.items():
        item = Dataset()
        item.SeriesInstanceUID = series
        item.ReferencedSOPSequence = Sequence([_ref(*r) for r in refs])
        series_items.append(item)
    study_item = Dataset()
    study_item.StudyInstanceUID = study
    study_item.ReferencedSeriesSequence = Sequence(series_items)
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([study_item])
    return ds


def _write(ds: Dataset, path: Path, transfer_syntax: str) -> None:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta.SourceApplicationEntityTitle = "SHIBA-CT01"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def build_corpus(
    folder: Path, *, seed: int = 8, patients: int = 4, images_per_series: int = 3
) -> Corpus:
    """Write the corpus under ``folder/<n> <patient name>/…`` (folder names carry PHI, as in
    life).

    One image has a 64-character SOP Instance UID (the longest valid one).
    """
    rng = random.Random(seed)
    uid = _Uids(rng)
    corpus = Corpus()
    for index in range(patients):
        family, given, k1, k2, h1, h2 = _LATIN[index % len(_LATIN)]
        born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(18_000))
        patient = Patient(
            family=family,
            given=given,
            kanji=(k1, k2),
            kana=(h1, h2),
            patient_id=str(rng.randrange(10**6, 10**7)),
            birth_date=f"{born:%Y%m%d}",
            charset=["", "ISO 2022 IR 87"] if index % 2 == 0 else ["ISO_IR 192"],
        )
        corpus.patients.append(patient)
        day = dt.date(2019, 6, 1) + dt.timedelta(days=rng.randrange(2_000))
        date = f"{day:%Y%m%d}"
        study = uid()
        images: list[tuple[str, str]] = []
        for series_no in range(2):
            series, frame = uid(), uid()
            first: str | None = None
            previous: str | None = None
            for number in range(images_per_series):
                long_uid = index == 0 and series_no == 0 and number == 0
                sop = uid(64) if long_uid else uid()
                ds = _image(
                    patient, uid, study=study, series=series, sop=sop, frame=frame, date=date
                )
                ds.SeriesNumber = series_no + 1
                ds.InstanceNumber = number + 1
                refs: set[str] = set()
                if previous is not None:
                    ds.ReferencedImageSequence = Sequence([_ref(CTImageStorage, previous)])
                    refs.add(previous)
                if first is not None:
                    ds.SourceImageSequence = Sequence([_ref(CTImageStorage, first)])
                    refs.add(first)
                patient_ref = Dataset()
                patient_ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.1.4"  # Detached Patient
                patient_ref.ReferencedSOPInstanceUID = uid()
                ds.ReferencedPatientSequence = Sequence([patient_ref])
                corpus.references[sop] = refs
                corpus.dates[sop] = {date, patient.birth_date}
                corpus.uids |= {sop, series, study, frame}
                syntax = ImplicitVRLittleEndian if number == 1 else ExplicitVRLittleEndian
                path = (
                    folder / f"{index:03d} {family}^{given}" / f"s{series_no}" / f"IM{number}.dcm"
                )
                _write(ds, path, syntax)
                corpus.files.append(path)
                images.append((series, sop))
                first = first or sop
                previous = sop
        sr = _sr(
            patient,
            uid,
            study=study,
            images=[(CTImageStorage, images[0][1]), images],  # type: ignore[list-item]
            date=date,
        )
        corpus.references[sr.SOPInstanceUID] = {sop for _, sop in images}
        corpus.dates[sr.SOPInstanceUID] = {date, patient.birth_date}
        corpus.uids |= {sr.SOPInstanceUID, sr.SeriesInstanceUID}
        path = folder / f"{index:03d} {family}^{given}" / "sr" / "SR.dcm"
        _write(sr, path, ExplicitVRLittleEndian)
        corpus.files.append(path)
    return corpus


#: Where :func:`burned_in_image` draws its text: ``(x, y, width, height)``.
BURNED_BOX = (8, 4, 120, 16)


def burned_in_image(
    text: str = "YAMADA^TAROU 7001234",
    *,
    modality: str = "US",
    manufacturer: str = "ACME Medical",
    model: str = "Sono 1",
    sop_class: str = "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image Storage
    color: bool = False,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> Dataset:
    """A 64 × 160 8-bit image on a gradient with ``text`` drawn white inside
    :data:`BURNED_BOX` (pixel ground truth for Clean Pixel Data); BurnedInAnnotation YES.

    ``transfer_syntax`` may be native, RLE Lossless (pydicom's encoder) or JPEG Baseline
    (Pillow; RGB is stored as YBR_FULL_422, as cameras and scanners do)."""
    import numpy as np
    from PIL import Image, ImageDraw
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit, RLELossless, generate_uid

    rows, columns = 64, 160
    gradient = (np.add.outer(np.arange(rows), np.arange(columns)) % 200 + 20).astype(np.uint8)
    x, y, width, height = BURNED_BOX
    label = Image.fromarray(gradient[y : y + height, x : x + width])
    ImageDraw.Draw(label).text((1, 2), text, fill=255)  # drawn on the box: clipped to it
    gray = gradient.copy()
    gray[y : y + height, x : x + width] = np.asarray(label)
    pixels = np.stack([gray, gray // 2, 255 - gray], axis=-1) if color else gray
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID = "Yamada^Tarou", "7001234"
    ds.StudyDate = "20240105"
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = modality, manufacturer, model
    ds.BurnedInAnnotation = "YES"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = "RGB" if color else "MONOCHROME2"
    if color:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = pixels.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if transfer_syntax == RLELossless:
        ds.compress(RLELossless, generate_instance_uid=False)
    elif transfer_syntax == JPEGBaseline8Bit:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
        ds.PixelData = encapsulate([buffer.getvalue()])
        ds["PixelData"].VR = "OB"
        ds.PhotometricInterpretation = "YBR_FULL_422" if color else "MONOCHROME2"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.LossyImageCompression = "01"
    elif transfer_syntax != ExplicitVRLittleEndian:
        ds.file_meta.TransferSyntaxUID = transfer_syntax
    return ds
