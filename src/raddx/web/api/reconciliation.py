"""Reconciliation by REST (issue 6 §6): studies no order claims, and fixing one by hand.

``GET /api/reconciliation/unmatched`` lists stored studies without an order;
``POST /api/reconciliation/auto`` links those an order placed later now claims;
``POST /api/studies/{uid}/reconcile`` names the study's order (accession number) and/or the
right patient: the stored objects' headers and the index are corrected
(:mod:`raddx.ris.reconcile`; old values kept in OriginalAttributesSequence, reason CORRECT)
and the study is linked to the order. 404 for an unknown study or accession number, 409 for a
soft-deleted study, one already linked elsewhere, or objects that kept arriving.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from raddx.ris.reconcile import link_waiting_studies, reconcile_study, unmatched_studies
from raddx.ris.records import PatientData
from raddx.web.api._listing import Limit, Offset, UIDPath
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("reconciliation")

_TEXT = r"^[^\x00-\x1f\x7f\\]*$"


class UnmatchedStudyOut(BaseModel):
    """A stored study without an order."""

    StudyInstanceUID: str
    PatientID: str
    IssuerOfPatientID: str
    PatientName: str | None
    AccessionNumber: str | None
    StudyDate: str | None
    ModalitiesInStudy: str
    NumberOfStudyRelatedInstances: int
    IssuerOfAccessionNumber: str | None = Field(
        None,
        description="IssuerOfAccessionNumberSequence as LocalNamespaceEntityID^"
        "UniversalEntityID^UniversalEntityIDType",
    )
    reason: str = Field("", description="Why no order claims the study.")


class PatientFix(BaseModel):
    """The study's right patient; PatientName is a DICOM PN with up to three groups."""

    PatientID: Annotated[str, Field(min_length=1, max_length=64, pattern=_TEXT)]
    IssuerOfPatientID: Annotated[str, Field(max_length=64, pattern=_TEXT)] = ""
    PatientName: Annotated[str | None, Field(default=None, max_length=200, pattern=_TEXT)] = None
    PatientBirthDate: Annotated[str | None, Field(default=None, pattern=r"^\d{8}$")] = None
    PatientSex: Annotated[str | None, Field(default=None, pattern=r"^[MFO]$")] = None


class ReconcileIn(BaseModel):
    """The order the study belongs to and/or its right patient, and why."""

    AccessionNumber: Annotated[
        str | None, Field(default=None, min_length=1, max_length=64, pattern=_TEXT)
    ] = None
    patient: PatientFix | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500, pattern=_TEXT)]


class ReconcileOut(BaseModel):
    """What was corrected."""

    StudyInstanceUID: str
    AccessionNumber: str | None
    order_status: str | None
    instances_rewritten: int
    PatientID: str | None


@endpoint(
    router,
    "GET",
    "/reconciliation/unmatched",
    action="reconciliation.read",
    response_model=list[UnmatchedStudyOut],
)
def get_unmatched(
    services: ServicesDep, limit: Limit = 100, offset: Offset = 0
) -> list[UnmatchedStudyOut]:
    """Stored studies that no order claims (neither by Study Instance UID nor by
    accession number, nor reconciled by hand), newest first."""
    with services.session_factory() as session:
        rows = unmatched_studies(session=session, limit=limit, offset=offset)
    return [
        UnmatchedStudyOut(
            StudyInstanceUID=r.study_instance_uid,
            PatientID=r.patient_id,
            IssuerOfPatientID=r.issuer_of_patient_id,
            PatientName=r.patient_name,
            AccessionNumber=r.accession_number,
            StudyDate=r.study_date,
            ModalitiesInStudy=r.modalities_in_study,
            NumberOfStudyRelatedInstances=r.number_of_study_related_instances,
            IssuerOfAccessionNumber=r.issuer_of_accession_number,
            reason=r.reason,
        )
        for r in rows
    ]


@endpoint(
    router,
    "POST",
    "/studies/{uid}/reconcile",
    action="reconciliation.write",
    response_model=ReconcileOut,
)
def post_reconcile(services: ServicesDep, uid: UIDPath, body: ReconcileIn) -> ReconcileOut:
    """Correct a stored study's order and/or patient attributes: the objects are rewritten
    (previous values in OriginalAttributesSequence, reason CORRECT), the index follows, the
    study is linked to the order; C-MOVE/WADO return the corrected objects from then on."""
    patient = None
    if body.patient is not None:
        patient = PatientData(
            patient_id=body.patient.PatientID,
            issuer_of_patient_id=body.patient.IssuerOfPatientID,
            patient_name=body.patient.PatientName,
            patient_birth_date=body.patient.PatientBirthDate,
            patient_sex=body.patient.PatientSex,
        )
    result = reconcile_study(
        session_factory=services.session_factory,
        blobs=services.blobs,
        study_instance_uid=uid,
        accession_number=body.AccessionNumber,
        patient=patient,
        # Who: the authenticated user once access control (issue 9) puts one on the request.
        actor="api",
        reason=body.reason,
    )
    return ReconcileOut(
        StudyInstanceUID=result.study_instance_uid,
        AccessionNumber=result.accession_number,
        order_status=result.order_status,
        instances_rewritten=result.instances_rewritten,
        PatientID=result.patient_id,
    )


class LinkedOut(BaseModel):
    """A study linked to the order that now claims it."""

    StudyInstanceUID: str
    AccessionNumber: str


@endpoint(
    router,
    "POST",
    "/reconciliation/auto",
    action="reconciliation.write",
    response_model=list[LinkedOut],
)
def post_auto(services: ServicesDep) -> list[LinkedOut]:
    """Link every unmatched study an order now claims (by Study Instance UID or accession
    number; images that arrived before their order). Headers are not changed: they already
    agree with the order."""
    with services.session_factory() as session, session.begin():
        linked = link_waiting_studies(session=session)
    return [LinkedOut(StudyInstanceUID=uid, AccessionNumber=acc) for uid, acc in linked]
