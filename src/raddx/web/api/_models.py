"""The JSON models of the REST API (separate input and output models, STYLE rule 10).

Field names are DICOM keywords where the value is a DICOM attribute (``StudyInstanceUID``,
``PatientName``), so a filter, a field and a QIDO-RS attribute have the same name. Person
names keep their three component groups (PS3.5 6.2.1.2) as DICOM JSON does (PS3.18 F.2.2).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from raddx.config import AETitle

__all__ = [
    "UID_PATTERN",
    "DeletionPublic",
    "EchoPublic",
    "InstancePublic",
    "JobPublic",
    "ModalityStatistics",
    "Page",
    "PatientPublic",
    "PersonName",
    "Problem",
    "PurgePublic",
    "PurgeRequest",
    "RemoteAECreate",
    "RemoteAEPublic",
    "RetrieveJobCreate",
    "SendJobCreate",
    "SeriesPublic",
    "StatisticsPublic",
    "StudyPublic",
]

#: PS3.5 9.1: components of digits without leading zeros, dot-separated, at most 64 chars.
UID_PATTERN = r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$"
T = TypeVar("T")
UID = Annotated[str, Field(pattern=UID_PATTERN, max_length=64, examples=["1.2.840.10008.1"])]


class Problem(BaseModel):
    """An RFC 9457 problem document, the body of every error answer."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = Field(
        None, description="Validation errors: where (loc) and why (msg)."
    )


class PersonName(BaseModel):
    """A DICOM person name by component group (PS3.5 6.2.1.2): ``Yamada^Tarou``,
    ``山田^太郎``, ``やまだ^たろう``; an absent group is null."""

    Alphabetic: str | None = None
    Ideographic: str | None = None
    Phonetic: str | None = None

    @classmethod
    def from_value(cls, value: str | None) -> PersonName | None:
        """From the stored value (groups separated by ``=``); ``None`` when empty."""
        if not value:
            return None
        groups = [*value.split("=", 2), None, None][:3]
        return cls(
            Alphabetic=groups[0] or None, Ideographic=groups[1] or None, Phonetic=groups[2] or None
        )


class PatientPublic(BaseModel):
    PatientID: str
    IssuerOfPatientID: str | None = None
    PatientName: PersonName | None = None
    PatientBirthDate: str | None = None
    PatientSex: str | None = None
    NumberOfPatientRelatedStudies: int = 0


class StudyPublic(BaseModel):
    StudyInstanceUID: str
    StudyDate: str | None = None
    StudyTime: str | None = None
    AccessionNumber: str | None = None
    StudyID: str | None = None
    StudyDescription: str | None = None
    ReferringPhysicianName: PersonName | None = None
    PatientID: str | None = None
    PatientName: PersonName | None = None
    PatientBirthDate: str | None = None
    PatientSex: str | None = None
    ModalitiesInStudy: list[str] = Field(default_factory=list)
    NumberOfStudyRelatedSeries: int = 0
    NumberOfStudyRelatedInstances: int = 0
    ReportStatus: Literal["none", "draft", "preliminary", "final", "amended", "corrected"] = Field(
        "none",
        description="The status of the study's most advanced report (latest versions; "
        "cancelled and entered-in-error count as none).",
    )


class SeriesPublic(BaseModel):
    SeriesInstanceUID: str
    StudyInstanceUID: str
    Modality: str | None = None
    SeriesNumber: int | None = None
    SeriesDescription: str | None = None
    SeriesDate: str | None = None
    BodyPartExamined: str | None = None
    NumberOfSeriesRelatedInstances: int = 0


class InstancePublic(BaseModel):
    SOPInstanceUID: str
    SOPClassUID: str | None = None
    SeriesInstanceUID: str
    StudyInstanceUID: str
    InstanceNumber: int | None = None
    NumberOfFrames: int | None = None
    Rows: int | None = None
    Columns: int | None = None


class Page(BaseModel, Generic[T]):
    """One page of a listing. ``next`` is the URL of the following page, null on the last."""

    items: list[T]
    limit: int
    offset: int
    next: str | None = None
    total: int | None = Field(
        None,
        description="Matches counted, up to a cap (listings that count: /api/studies); "
        "when total_exact is false there are more than this many.",
    )
    total_exact: bool | None = Field(
        None, description="false when the count stopped at its cap (more matches exist)."
    )


class DeletionPublic(BaseModel):
    """The outcome of a soft delete or a restore."""

    level: Literal["STUDY", "SERIES", "IMAGE"]
    uid: str
    instances: int = Field(description="Instances hidden (delete) or shown again (restore).")
    deleted_at: dt.datetime | None = Field(
        None, description="When it was deleted; null after a restore."
    )


class PurgeRequest(BaseModel):
    """Purge what was soft-deleted at least ``older_than_days`` days ago (0: everything)."""

    model_config = ConfigDict(extra="forbid")

    older_than_days: float = Field(30, ge=0, le=36500)


class PurgePublic(BaseModel):
    patients: int
    studies: int
    series: int
    instances: int
    bytes: int
    blobs_deleted: int


class ModalityStatistics(BaseModel):
    Modality: str
    series: int
    instances: int


class StatisticsPublic(BaseModel):
    patients: int
    studies: int
    series: int
    instances: int
    stored_bytes: int = Field(description="Bytes of the visible instances' stored objects.")
    deleted_instances: int = Field(description="Soft-deleted instances awaiting the purge.")
    deleted_bytes: int = Field(description="Disk their blobs still take until the purge.")
    modalities: list[ModalityStatistics]


class RemoteAECreate(BaseModel):
    """A remote AE to add (PS3.8 9.3.1 AE title: 1-16 characters, no backslash or control
    characters)."""

    model_config = ConfigDict(extra="forbid")

    ae_title: AETitle
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\-\[\]_]+$")
    port: int = Field(ge=1, le=65535)
    description: str = Field("", max_length=1024)


class RemoteAEPublic(BaseModel):
    ae_title: str
    host: str
    port: int
    description: str = ""
    source: Literal["config", "runtime"] = Field(
        description="config: from raddx.toml (read-only here); runtime: added through /api."
    )


class EchoPublic(BaseModel):
    """The outcome of a C-ECHO (PS3.4 A.4)."""

    ae_title: str
    success: bool
    status: int | None = Field(None, description="The peer's DIMSE status (0 = success).")
    round_trip_ms: float | None = Field(None, description="C-ECHO request to response.")
    reason: str = ""


def _one_uid_at_least(studies: list[str], series: list[str]) -> None:
    if not studies and not series:
        raise ValueError("give at least one StudyInstanceUID or SeriesInstanceUID")


class SendJobCreate(BaseModel):
    """C-STORE archived studies and/or series to a remote AE."""

    model_config = ConfigDict(extra="forbid")

    remote_ae_title: AETitle
    studies: list[UID] = Field(default_factory=list, max_length=1000)
    series: list[UID] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _something(self) -> SendJobCreate:
        _one_uid_at_least(self.studies, self.series)
        return self


class RetrieveJobCreate(BaseModel):
    """Fetch studies from a remote AE: C-GET into this archive, or C-MOVE to
    ``destination`` (default: this archive's AE title, which the remote must know)."""

    model_config = ConfigDict(extra="forbid")

    remote_ae_title: AETitle
    studies: list[UID] = Field(min_length=1, max_length=1000)
    method: Literal["get", "move"] = "get"
    destination: AETitle | None = None


class JobPublic(BaseModel):
    id: int
    kind: Literal["send", "retrieve", "deidentify", "patient-merge"]
    state: Literal["queued", "running", "done", "failed", "interrupted"]
    remote_ae_title: str
    request: dict[str, Any]
    total: int | None = Field(None, description="Sub-operations (instances); null until known.")
    completed: int
    failed: int
    warning: int
    remaining: int | None
    reason: str | None = Field(None, description="Why the job failed.")
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
