"""Viewer measurements kept as DICOM: a TID 1500 Measurement Report (Comprehensive SR).

Why DICOM and not a table of ours: a measurement a radiologist took (a lesion's length, an
ROI's mean HU) is part of the study. Stored as a Measurement Report in the study it travels
with the images (C-MOVE, WADO, media, another vendor's viewer reads it), it is kept and
backed up like them, and it comes back when the study is opened again — which is what a
radiologist expects of a PACS viewer.

Each saved set is one SR object (series 9002, "raddx measurements"): one TID 1410 Planar ROI
group per measurement, whose region (SCOORD, image coordinates with the origin at the
top-left corner of the top-left pixel, PS3.3 C.18.6.1.1 — Cornerstone3D's image coordinates
use the same origin) references the image and frame it was drawn on:

============  ==============  =============================================================
kind          region          measurements (concept, UCUM unit)
============  ==============  =============================================================
``length``    POLYLINE, 2 pts Length (SCT 410668003, ``mm``)
``angle``     POLYLINE, 3 pts Angle (SCT 1483009, ``deg``)
``ellipse``   ELLIPSE, 4 pts  Area (SCT 42798000, ``mm2``), Mean (373098007), Standard
                              Deviation (386136009), Minimum (255605001), Maximum (56851009)
                              in the modality's unit (HU for CT, else ``1``)
============  ==============  =============================================================

Reading back (:func:`read_report`) accepts any TID 1500 report whose planar ROI groups have
that shape (another viewer's too); groups of other shapes are passed over.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.valuerep import DA, TM

from raddx import __version__
from raddx.archive.names import observer_name

__all__ = [
    "MEASUREMENT_SERIES_NUMBER",
    "Measurement",
    "MeasurementKindValues",
    "build_report",
    "read_report",
]

MeasurementKindValues = Literal["length", "angle", "ellipse"]
#: The series the reports of measurements are stored in (reports' SR use 9001).
MEASUREMENT_SERIES_NUMBER = 9002
_HU = Code("[hnsf'U]", "UCUM", "Hounsfield unit")
_NO_UNIT = Code("1", "UCUM", "no units")
_IMAGING_PROCEDURE = Code("363679005", "SCT", "Imaging procedure")
_POINTS: dict[str, int] = {"length": 2, "angle": 3, "ellipse": 4}
_STATS: dict[str, Code] = {
    "mean": codes.SCT.Mean,
    "sd": codes.SCT.StandardDeviation,
    "min": codes.SCT.Minimum,
    "max": codes.SCT.Maximum,
}


@dataclass(frozen=True)
class Measurement:
    """One measurement on one image (frame ``frame``, 1-based, of a multi-frame object).

    ``points`` are image coordinates ``(column, row)``; ``value`` is the length in mm, the
    angle in degrees or (ellipse) the area in mm²; ``stats`` an ellipse's mean/sd/min/max in
    ``unit`` (``HU`` or ``""``)."""

    kind: MeasurementKindValues
    sop_class_uid: str
    sop_instance_uid: str
    points: tuple[tuple[float, float], ...]
    value: float
    frame: int | None = None
    unit: str = ""
    stats: dict[str, float] = field(default_factory=dict)
    label: str | None = None

    def __post_init__(self) -> None:
        if len(self.points) != _POINTS[self.kind]:
            raise ValueError(f"a {self.kind} has {_POINTS[self.kind]} points")
        if not all(np.isfinite(c) and c >= 0 for point in self.points for c in point):
            raise ValueError("points must be finite image coordinates (≥ 0)")


def report_uids(study_uid: str) -> tuple[str, str]:
    """(Series, SOP Instance) UIDs: one series per study for all its saved measurement
    sets, one object per save (PS3.5 B.2 ``2.25`` UUID UIDs)."""
    series = uuid.uuid5(uuid.NAMESPACE_URL, f"raddx:measurements:{study_uid}")
    return f"2.25.{series.int}", f"2.25.{uuid.uuid4().int}"


def _group(number: int, m: Measurement) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    source = hd.sr.SourceImageForRegion(
        referenced_sop_class_uid=m.sop_class_uid,
        referenced_sop_instance_uid=m.sop_instance_uid,
        referenced_frame_numbers=[m.frame] if m.frame else None,
    )
    graphic = hd.sr.GraphicTypeValues.ELLIPSE if m.kind == "ellipse" else "POLYLINE"
    region = hd.sr.ImageRegion(
        graphic_type=graphic,
        graphic_data=np.array(m.points, dtype=np.float32),
        source_image=source,
    )
    if m.kind == "length":
        measured = [hd.sr.Measurement(codes.SCT.Length, m.value, codes.UCUM.Millimeter)]
    elif m.kind == "angle":
        measured = [hd.sr.Measurement(codes.SCT.Angle, m.value, codes.UCUM.Degree)]
    else:
        unit = _HU if m.unit == "HU" else _NO_UNIT
        measured = [hd.sr.Measurement(codes.SCT.Area, m.value, codes.UCUM.SquareMillimeter)]
        measured += [
            hd.sr.Measurement(_STATS[key], m.stats[key], unit) for key in _STATS if key in m.stats
        ]
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=hd.UID(), identifier=m.label or f"{m.kind} {number}"
        ),
        referenced_region=region,
        measurements=measured,
    )


def build_report(
    measurements: Sequence[Measurement],
    *,
    evidence: Sequence[Dataset],
    observer: str,
    saved_at: dt.datetime,
) -> tuple[str, bytes]:
    """The Measurement Report of ``measurements`` as Part 10 bytes (UTF-8), and its SOP
    Instance UID. ``evidence`` are the headers of the images measured (their patient and
    study modules are the SR's; they are listed as Current Requested Procedure Evidence)."""
    if not measurements:
        raise ValueError("no measurement to save")
    study_uid = str(evidence[0].StudyInstanceUID)
    context = hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=observer_name(observer)
            ),
        )
    )
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=_IMAGING_PROCEDURE,
        imaging_measurements=[_group(n, m) for n, m in enumerate(measurements, start=1)],
    )
    series_uid, sop_uid = report_uids(study_uid)
    sr = hd.sr.ComprehensiveSR(
        evidence=list(evidence),
        content=report[0],
        series_instance_uid=series_uid,
        series_number=MEASUREMENT_SERIES_NUMBER,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer="raddx",
        series_description="raddx measurements",
    )
    sr.SpecificCharacterSet = "ISO_IR 192"
    local = saved_at.astimezone()
    sr.ContentDate = DA(local.strftime("%Y%m%d"))
    sr.ContentTime = TM(local.strftime("%H%M%S"))
    sr.TimezoneOffsetFromUTC = local.strftime("%z")
    sr.SoftwareVersions = __version__
    out = io.BytesIO()
    sr.save_as(out, enforce_file_format=True)
    return sop_uid, out.getvalue()


def _kind(graphic: str, npoints: int) -> MeasurementKindValues | None:
    if graphic == "ELLIPSE" and npoints == 4:
        return "ellipse"
    if graphic == "POLYLINE" and npoints in (2, 3):
        return "length" if npoints == 2 else "angle"
    return None


def read_report(ds: Dataset) -> tuple[list[Measurement], str | None]:
    """The measurements of a TID 1500 report (groups of the shapes above) and the
    observer's name; raises ``ValueError`` for an object that is not a Measurement Report."""
    if "ContentSequence" not in ds:
        raise ValueError("not a structured report")
    report = hd.sr.MeasurementReport.from_sequence([ds], copy=False)
    observers = report.get_observer_contexts()
    observer = None
    if observers:
        name = observers[0].observer_identifying_attributes.name
        observer = str(name).rstrip("^") if name else None
    found: list[Measurement] = []
    for group in report.get_planar_roi_measurement_groups():
        region = group.roi
        if region is None or not hasattr(region, "graphic_type"):
            continue  # a 3D region or a segment: not drawn by this viewer
        points = np.asarray(region.value).reshape(-1, 2)
        kind = _kind(region.graphic_type.value, len(points))
        if kind is None:
            continue
        source = region.ContentSequence[0].ReferencedSOPSequence[0]  # SELECTED FROM image
        frames = source.get("ReferencedFrameNumber")
        values = {m.name.value: m for m in group.get_measurements()}
        main = {
            "length": codes.SCT.Length,
            "angle": codes.SCT.Angle,
            "ellipse": codes.SCT.Area,
        }[kind]
        if main.value not in values:
            continue
        stats = {
            key: float(values[c.value].value) for key, c in _STATS.items() if c.value in values
        }
        unit = ""
        if kind == "ellipse" and codes.SCT.Mean.value in values:
            unit = "HU" if values[codes.SCT.Mean.value].unit.value == _HU.value else ""
        found.append(
            Measurement(
                kind=kind,
                sop_class_uid=str(source.ReferencedSOPClassUID),
                sop_instance_uid=str(source.ReferencedSOPInstanceUID),
                frame=int(frames[0] if isinstance(frames, list | tuple) else frames)
                if frames
                else None,
                points=tuple((float(x), float(y)) for x, y in points),
                value=float(values[main.value].value),
                unit=unit,
                stats=stats,
                label=group.tracking_identifier,
            )
        )
    return found, observer
