"""Association acceptance on both DIMSE engines: the per-AE, per-service allow-list.

The decision is :class:`raddx.security.peers.DicomPeerPolicy`'s; this module applies it at
the two places an association is negotiated:

* pynetdicom: :func:`handle_requested`, bound to ``EVT_REQUESTED`` (after the A-ASSOCIATE-RQ
  is read, before negotiation), rejects the association or narrows the contexts it may accept;
* the fast path (:mod:`raddx.dimse.fast_path`): :func:`calling_ae_title` reads the title from
  the peeked request and :func:`allowed_contexts` narrows the negotiated contexts.

A refused service is refused the way PS3.8 offers: its presentation contexts are rejected
(result 0x03, abstract syntax not supported), so the peer learns it before sending anything.
Storage contexts stay negotiable for a peer allowed C-GET (it proposes them for the C-STORE
sub-operations it receives); a C-STORE request from such a peer is answered 0x0124
(Refused: Not Authorized, PS3.7 C.5.x) by :func:`store_refused`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from pydicom.dataset import Dataset
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # generated at import
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from raddx.archive import IngestService
from raddx.config import DicomServiceValues
from raddx.dimse.contexts import (
    find_contexts,
    mpps_contexts,
    storage_contexts,
    verification_contexts,
    worklist_contexts,
)
from raddx.dimse.handlers import handle_store
from raddx.security.peers import ALL_DICOM_SERVICES, DicomPeerPolicy, security_alert

__all__ = [
    "NOT_AUTHORIZED",
    "REJECT_CALLING_AE",
    "allowed_contexts",
    "association_services",
    "calling_ae_title",
    "handle_requested",
    "handle_store_checked",
    "service_of",
    "services_of",
    "store_refused",
]

#: PS3.7 Annex C: Refused: Not Authorized (general status, e.g. a C-STORE the peer may not do).
NOT_AUTHORIZED = 0x0124
#: A-ASSOCIATE-RJ (PS3.8 9.3.4): rejected-permanent (1), service-user (1), calling AE title
#: not recognized (3).
REJECT_CALLING_AE = (0x01, 0x01, 0x03)

#: Attribute on a pynetdicom ``Association`` holding the services its peer may use.
_SERVICES_ATTRIBUTE = "raddx_services"


@functools.lru_cache(maxsize=1)
def _service_table() -> dict[str, DicomServiceValues]:
    from raddx.dimse.commitment import commitment_contexts

    table: dict[str, DicomServiceValues] = {}
    groups = [
        (verification_contexts(), DicomServiceValues.ECHO),
        (storage_contexts(), DicomServiceValues.STORE),
        (find_contexts(), DicomServiceValues.FIND),
        (worklist_contexts(), DicomServiceValues.WORKLIST),
        (mpps_contexts(), DicomServiceValues.MPPS),
        (commitment_contexts(), DicomServiceValues.COMMITMENT),
    ]
    for contexts, service in groups:
        for context in contexts:
            table[str(context.abstract_syntax)] = service
    for uid in (
        PatientRootQueryRetrieveInformationModelGet,
        StudyRootQueryRetrieveInformationModelGet,
    ):
        table[str(uid)] = DicomServiceValues.GET
    for uid in (
        PatientRootQueryRetrieveInformationModelMove,
        StudyRootQueryRetrieveInformationModelMove,
    ):
        table[str(uid)] = DicomServiceValues.MOVE
    return table


def service_of(abstract_syntax: str) -> DicomServiceValues | None:
    """The service an abstract syntax belongs to (``None``: not one we serve)."""
    return _service_table().get(str(abstract_syntax))


def services_of(abstract_syntax: str) -> frozenset[DicomServiceValues]:
    """The services any of which lets a peer negotiate ``abstract_syntax``: storage SOP
    classes serve C-STORE and the C-STORE sub-operations of C-GET."""
    service = service_of(abstract_syntax)
    if service is None:
        return frozenset()
    if service is DicomServiceValues.STORE:
        return frozenset({DicomServiceValues.STORE, DicomServiceValues.GET})
    return frozenset({service})


def allowed_contexts(
    contexts: Iterable[PresentationContext], services: frozenset[DicomServiceValues]
) -> list[PresentationContext]:
    """The supported contexts a peer allowed ``services`` may negotiate."""
    contexts = list(contexts)
    if services >= ALL_DICOM_SERVICES:
        return contexts
    return [c for c in contexts if services_of(str(c.abstract_syntax)) & services]


def store_refused(services: frozenset[DicomServiceValues] | None) -> bool:
    """Whether a C-STORE request must be answered :data:`NOT_AUTHORIZED`."""
    return services is not None and DicomServiceValues.STORE not in services


def association_services(assoc: object) -> frozenset[DicomServiceValues] | None:
    """The services :func:`handle_requested` allowed on a pynetdicom association."""
    return getattr(assoc, _SERVICES_ATTRIBUTE, None)


def calling_ae_title(request: bytes) -> str:
    """The Calling AE Title of an encoded A-ASSOCIATE-RQ PDU (PS3.8 9.3.2: bytes 27-42)."""
    return request[26:42].decode("ascii", "replace").strip()


def handle_requested(event: Event, policy: DicomPeerPolicy) -> None:
    """``EVT_REQUESTED``: reject an association the policy refuses, else narrow the contexts
    pynetdicom may accept to the peer's services."""
    assoc = event.assoc
    # The requestor's AE title is set only during negotiation; the primitive has it already.
    primitive = assoc.requestor.primitive
    calling = str(primitive.calling_ae_title if primitive is not None else "").strip()
    address = str(assoc.requestor.address)
    decision = policy.decide(calling, address)
    if not decision.accepted:
        security_alert(
            "association rejected",
            subject=calling,
            calling_ae=calling,
            peer=address,
            reason=decision.reason,
        )
        assoc.acse.send_reject(*REJECT_CALLING_AE)
        # As pynetdicom's own rejections do: wait until the DUL has sent the A-ASSOCIATE-RJ and
        # the peer closed (or the ARTIM timer ran out); otherwise the reactor closes the
        # socket before the PDU leaves.
        assoc.kill()
        return
    setattr(assoc, _SERVICES_ATTRIBUTE, decision.services)
    if decision.services < ALL_DICOM_SERVICES:
        assoc.acceptor.supported_contexts = allowed_contexts(
            assoc.acceptor.supported_contexts, decision.services
        )


def handle_store_checked(event: Event, ingest: IngestService) -> int | Dataset:
    """C-STORE on a pynetdicom association: :func:`raddx.dimse.handlers.handle_store`, unless
    the peer may not store (it negotiated the storage context for C-GET only)."""
    if store_refused(association_services(event.assoc)):
        security_alert(
            "C-STORE refused",
            subject=str(event.assoc.requestor.ae_title).strip(),
            restricted_function=True,
            calling_ae=str(event.assoc.requestor.ae_title).strip(),
            peer=str(event.assoc.requestor.address),
            reason="store not allowed",
        )
        return NOT_AUTHORIZED
    return handle_store(event, ingest)
