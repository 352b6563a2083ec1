"""REST door for radiology reports (issue 7): ``/api/reports``.

Each route decodes the request, calls one function of :mod:`raddx.reports.service` in its own
unit of work and encodes the answer (STYLE rule 6). Domain errors become problem+json through
the door's one mapping (``web/_errors.py``): an invalid record is 400, an unknown report or
study 404, an edit of a signed report or a clash with the archive 409.

``GET /api/reports/{report_id}`` answers in any report format, chosen by ``?format=``
(``json``, ``cda``, ``fhir``, ``pdf``, ``oru``, ``sr``, ``csv``) or else by ``Accept``.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from raddx.errors import InvalidInput
from raddx.reports import (
    ReportRecord,
    ReportSelection,
    ReportStatusValues,
    Sections,
    reading_list,
    service,
    store,
)
from raddx.reports.archive_copy import store_in_archive
from raddx.reports.formats import FORMATS, format_by_media_type, format_by_name
from raddx.reports.formats import csv as report_csv
from raddx.reports.formats.pdf import to_pdf
from raddx.reports.record import Person
from raddx.security import accounts
from raddx.security.audit import EventActionCodeValues
from raddx.services import Services
from raddx.web import _audit as web_audit
from raddx.web._errors import NotAcceptable
from raddx.web.auth import require
from raddx.web.deps import ServicesDep

__all__ = ["router"]

_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _PROBLEM_SCHEMA}},
    }


#: The problem+json answers of these routes (RFC 9457; raddx.web._errors), in the OpenAPI.
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _problem("Invalid report content or parameter (the detail names the field)."),
    404: _problem("No such report, version or archive study."),
    406: _problem("The asked format cannot be produced (unknown, or none for this status)."),
    401: _problem("No valid credentials (Bearer token, Basic, or session cookie)."),
    403: _problem("The caller's role does not hold this route's permission."),
    409: _problem(
        "Contradicts stored state: a signed report edited in place, an accession "
        "number the archive has otherwise, an existing report id, a change made on an "
        "older version than the latest (base_version), a concurrent request that stored "
        "the new version first."
    ),
    422: _problem("The JSON body does not match the declared model."),
}
#: What ``GET /api/reports/{report_id}`` may answer with, by format.
_FORMAT_CONTENT: dict[str, Any] = {
    media: {"schema": {"type": "string", "format": "binary"}}
    for media in (
        "application/cda+xml",
        "application/fhir+json",
        "application/pdf",
        "application/hl7-v2",
        "application/dicom",
        "text/csv",
    )
} | {"application/json": {"schema": {"type": "object"}}}

router = APIRouter(prefix="/api/reports", tags=["reports"], responses=_PROBLEMS)

_CSV = "text/csv"
#: Edited fields given as objects are merged into the stored ones (a PATCH names only what
#: changes); lists (studies, key images) are replaced whole.
_MERGED = frozenset({"sections", "order", "patient"})


class PersonIn(BaseModel):
    """An author or verifier. ``name`` may be left out when ``id`` is a user account's login
    name: the account's display name is used (a DICOM PN value such as
    ``Tanaka^Taro=田中^太郎=たなか^たろう``), else the login name."""

    name: str = ""
    id: str = ""


class ReportCreate(BaseModel):
    """A new report: its first version, as a draft or preliminary (fields as in §5.1)."""

    report_id: str
    patient: dict[str, Any]
    order: dict[str, Any] = Field(default_factory=dict)
    studies: list[dict[str, Any]] = Field(default_factory=list)
    sections: dict[str, str] = Field(default_factory=dict)
    key_images: list[dict[str, Any]] = Field(default_factory=list)
    author: PersonIn | None = None
    institution: str = ""
    language: str = "ja"
    created_at: dt.datetime | None = None
    status: Literal["draft", "preliminary"] = "draft"


class ReportEdit(BaseModel):
    """Changes to a draft or preliminary report; absent fields stay as they are."""

    patient: dict[str, Any] | None = None
    order: dict[str, Any] | None = None
    studies: list[dict[str, Any]] | None = None
    sections: dict[str, str] | None = None
    key_images: list[dict[str, Any]] | None = None
    author: PersonIn | None = None
    institution: str | None = None
    #: The version the change was made on: 409 when the report has moved on since (another
    #: request amended or edited it meanwhile). Optional; without it the change applies to
    #: the latest version.
    base_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    #: The ``revision`` the change was made on (PATCH of a draft or preliminary report): 409
    #: when the report was saved by another request since, even without a new version.
    base_revision: str | None = Field(default=None, max_length=64)


class Finalise(BaseModel):
    verifier: PersonIn
    at: dt.datetime | None = None
    #: The revision the signer has on screen: 409 when another text was saved since.
    base_revision: str | None = Field(default=None, max_length=64)


class Amendment(ReportEdit):
    verifier: PersonIn
    at: dt.datetime | None = None
    status: Literal["amended", "corrected", "entered-in-error"] = "amended"


class AddendumIn(BaseModel):
    text: str
    author: PersonIn
    verifier: PersonIn
    at: dt.datetime | None = None
    #: As in :class:`ReportEdit`.
    base_version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class Submit(BaseModel):
    author: PersonIn | None = None
    #: As in :class:`Finalise`.
    base_revision: str | None = Field(default=None, max_length=64)


class DraftFromStudy(BaseModel):
    """The first draft of a report on one archive study; patient, order and study are taken
    from the archive index (and the study's RIS order)."""

    study_uid: str = Field(max_length=64, pattern=r"^[0-9.]+$")
    author: PersonIn | None = None
    sections: dict[str, str] = Field(default_factory=dict)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).astimezone()


def _aware(value: dt.datetime | None) -> dt.datetime:
    if value is None:
        return _now()
    if value.tzinfo is None:
        raise InvalidInput("date-times need a UTC offset (e.g. 2024-04-01T09:00:00+09:00)")
    return value


def _named(value: PersonIn | None, services: Services) -> PersonIn | None:
    """``value`` with its name filled from the account ``id`` names when it has none: the
    account's display name, else the login name.

    Raises
    ------
    InvalidInput
        Neither a name nor an id.
    """
    if value is None or value.name.strip():
        return value
    if not value.id:
        raise InvalidInput("a person needs a name, or the id of a user account")
    with services.session_factory() as s:
        shown = accounts.display_name_of(session=s, name=value.id)
    return PersonIn(name=shown or value.id, id=value.id)


def _person(value: PersonIn | None, services: Services) -> Person | None:
    value = _named(value, services)
    if value is None:
        return None
    try:
        return Person(name=value.name, id=value.id)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _changes(current: ReportRecord, edit: ReportEdit) -> dict[str, Any]:
    """The edit as record fields, validated by building the edited record once."""
    given = edit.model_dump(
        exclude_unset=True,
        exclude={"verifier", "at", "status", "base_version", "base_revision"},
    )
    if not given:
        return {}
    data = current.to_dict()
    for key, value in given.items():
        data[key] = {**data[key], **value} if key in _MERGED and value else value
    data["content_sha256"] = None
    try:
        built = ReportRecord.from_dict(
            {**data, "status": "draft", "verifier": None, "verified_at": None}
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return {key: getattr(built, key) for key in given}


def _record_json(record: ReportRecord) -> dict[str, Any]:
    return {**record.to_dict(), "revision": service.revision(record)}


def _signed_json(record: ReportRecord, services: Services) -> dict[str, Any]:
    """The signed record, after storing it back into the archive as SR and Encapsulated
    PDF; ``archive_copy`` says what was stored and what failed (the report stays signed)."""
    copy = store_in_archive(
        record=record, ingest=services.ingest, pdf_font=services.settings.report_pdf_font
    )
    return {
        **record.to_dict(),
        "archive_copy": {"stored": list(copy.stored), "errors": list(copy.errors)},
    }


@router.post("", status_code=201, dependencies=[require("report.write")])
def create_report(body: ReportCreate, services: ServicesDep) -> dict[str, Any]:
    """Create a report (draft or preliminary) linked to archive studies (accession + Study
    Instance UID are checked against the archive index)."""
    if body.author is not None:
        body.author = _named(body.author, services)
    data = body.model_dump()
    data.update(version=1, created_at=_aware(body.created_at).isoformat())
    try:
        record = ReportRecord.from_dict(data)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    with services.session_factory.begin() as session:
        service.create(session=session, record=record)
    return _record_json(record)


@router.post("/from-study", status_code=201, dependencies=[require("report.write")])
def create_report_for_study(body: DraftFromStudy, services: ServicesDep) -> dict[str, Any]:
    """Create a draft for an archive study (the report editor's "new report"); the server
    assigns the report id. 404 when the study is not in the archive."""
    try:
        sections = Sections(**body.sections)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"sections: {exc}") from None
    with services.session_factory.begin() as session:
        record = reading_list.create_draft_for_study(
            session=session,
            study_instance_uid=body.study_uid,
            author=_person(body.author, services),
            created_at=_now(),
            sections=sections,
        )
    return _record_json(record)


@router.get("", dependencies=[require("report.read")])
def list_reports(
    services: ServicesDep,
    patient_id: str | None = None,
    study_uid: str | None = None,
    accession_no: str | None = None,
    status: Annotated[list[ReportStatusValues] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[dict[str, Any]]:
    """The latest version of each report matching every given criterion."""
    selection = ReportSelection(
        patient_id=patient_id,
        study_uid=study_uid,
        accession_no=accession_no,
        statuses=tuple(status or ()),
    )
    with services.session_factory() as session:
        return [
            _summary(r)
            for r in store.iter_records(
                session=session, selection=selection, limit=limit, offset=offset
            )
        ]


@router.get("/quarantine", dependencies=[require("report.read")])
def list_quarantine(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[dict[str, object]]:
    """Imported reports that matched no archive study, with the reason and their source."""
    with services.session_factory() as session:
        return list(store.iter_quarantine(session=session, limit=limit, offset=offset))


def _summary(record: ReportRecord) -> dict[str, Any]:
    return {
        "report_id": record.report_id,
        "version": record.version,
        "status": record.status.value,
        "patient_id": record.patient.patient_id,
        "accession_no": record.order.accession_no,
        "study_uids": [s.study_uid for s in record.studies],
        "created_at": record.created_at.isoformat(),
        "verified_at": record.verified_at.isoformat() if record.verified_at else None,
        "content_sha256": record.content_sha256,
        "author": record.author.name if record.author else None,
        "verifier": record.verifier.name if record.verifier else None,
    }


def _negotiate(request: Request, name: str | None) -> str:
    if name:
        if name.lower() == "csv" or format_by_name(name):
            return name.lower()
        raise NotAcceptable(f"unknown report format {name!r}; known: csv, {', '.join(FORMATS)}")
    accept = request.headers.get("accept", "")
    if not accept or "*/*" in accept or "application/*" in accept:
        return "json"
    for part in accept.split(","):
        media = part.split(";")[0].strip()
        if media == _CSV:
            return "csv"
        found = format_by_media_type(media)
        if found:
            return found.name
    raise NotAcceptable(f"cannot answer {accept!r}; ask for JSON, CDA, FHIR, PDF, HL7 v2 or CSV")


@router.get(
    "/{report_id}",
    responses={200: {"content": _FORMAT_CONTENT}},
    dependencies=[require("report.read")],
)
def get_report(
    report_id: str,
    request: Request,
    services: ServicesDep,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    format: Annotated[str | None, Query(description="json, cda, fhir, pdf, oru, sr or csv")] = None,
) -> Response:
    """One report version (latest by default) in the asked format."""
    name = _negotiate(request, format)
    with services.session_factory() as session:
        record = store.load(session=session, report_id=report_id, version=version)
    web_audit.report(request, record, EventActionCodeValues.READ)
    if name == "csv":
        out = io.StringIO()
        report_csv.write_csv([record], out)
        return Response(out.getvalue(), media_type=f"{_CSV}; charset=utf-8")
    fmt = FORMATS[name]
    try:
        if name == "pdf":
            body = to_pdf(record, font=services.settings.report_pdf_font)
        else:
            body = fmt.write(record)
    except ValueError as exc:  # e.g. a draft has no CDA form (§5.4)
        raise NotAcceptable(str(exc)) from None
    media = fmt.media_type + ("; charset=utf-8" if "json" in fmt.media_type else "")
    return Response(body, media_type=media)


@router.get("/{report_id}/versions", dependencies=[require("report.read")])
def list_versions(report_id: str, services: ServicesDep) -> list[dict[str, Any]]:
    """Every stored version of a report, oldest first."""
    with services.session_factory() as session:
        store.load(session=session, report_id=report_id)  # 404 for an unknown report
        records = store.iter_records(
            session=session,
            selection=ReportSelection(report_id=report_id, latest_only=False),
        )
        # The revision (a digest of the whole record) only here, where an editor loads it,
        # not in every listing of reports.
        return [{**_summary(r), "revision": service.revision(r)} for r in records]


@router.patch("/{report_id}", dependencies=[require("report.write")])
def edit_report(report_id: str, body: ReportEdit, services: ServicesDep) -> dict[str, Any]:
    """Edit a draft or preliminary report in place; a signed report answers 409 (amend it)."""
    if body.author is not None:
        body.author = _named(body.author, services)
    with services.session_factory.begin() as session:
        current = store.load(session=session, report_id=report_id, for_update=True)
        record = service.edit(
            session=session,
            report_id=report_id,
            changes=_changes(current, body),
            base_version=body.base_version,
            base_revision=body.base_revision,
        )
    return _record_json(record)


@router.post("/{report_id}/preliminary", dependencies=[require("report.write")])
def submit_preliminary(report_id: str, body: Submit, services: ServicesDep) -> dict[str, Any]:
    """Draft → preliminary (一次読影)."""
    with services.session_factory.begin() as session:
        record = service.submit_preliminary(
            session=session,
            report_id=report_id,
            author=_person(body.author, services),
            base_revision=body.base_revision,
        )
    return _record_json(record)


@router.post("/{report_id}/final", dependencies=[require("report.sign")])
def finalise_report(
    report_id: str, body: Finalise, services: ServicesDep, request: Request
) -> dict[str, Any]:
    """Sign the report (二次読影・確定): status final, verifier, time, content digest; then
    store it into its study as DICOM SR (TID 2000) and Encapsulated PDF."""
    verifier = _person(body.verifier, services)
    assert verifier is not None
    with services.session_factory.begin() as session:
        record = service.finalise(
            session=session,
            report_id=report_id,
            verifier=verifier,
            at=_aware(body.at),
            base_revision=body.base_revision,
        )
    web_audit.report(request, record, EventActionCodeValues.UPDATE)
    return _signed_json(record, services)


@router.post("/{report_id}/amendments", status_code=201, dependencies=[require("report.sign")])
def amend_report(
    report_id: str, body: Amendment, services: ServicesDep, request: Request
) -> dict[str, Any]:
    """A new signed version of a signed report, with the given changes."""
    verifier = _person(body.verifier, services)
    assert verifier is not None
    if body.author is not None:
        body.author = _named(body.author, services)
    with services.session_factory.begin() as session:
        current = store.load(session=session, report_id=report_id, for_update=True)
        record = service.amend(
            session=session,
            report_id=report_id,
            verifier=verifier,
            at=_aware(body.at),
            status=ReportStatusValues(body.status),
            changes=_changes(current, body),
            base_version=body.base_version,
        )
    web_audit.report(request, record, EventActionCodeValues.UPDATE)
    return _signed_json(record, services)


@router.post("/{report_id}/addenda", status_code=201, dependencies=[require("report.sign")])
def add_addendum(
    report_id: str, body: AddendumIn, services: ServicesDep, request: Request
) -> dict[str, Any]:
    """A new signed version with an addendum."""
    author, verifier = _person(body.author, services), _person(body.verifier, services)
    assert author is not None and verifier is not None
    with services.session_factory.begin() as session:
        record = service.add_addendum(
            session=session,
            report_id=report_id,
            text=body.text,
            author=author,
            verifier=verifier,
            at=_aware(body.at),
            base_version=body.base_version,
        )
    web_audit.report(request, record, EventActionCodeValues.UPDATE)
    return _signed_json(record, services)


@router.post("/{report_id}/cancel", dependencies=[require("report.write")])
def cancel_report(report_id: str, services: ServicesDep) -> dict[str, Any]:
    """Cancel a report that was never signed."""
    with services.session_factory.begin() as session:
        record = service.cancel(session=session, report_id=report_id)
    return _record_json(record)
