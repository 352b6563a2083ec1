"""MPPS forwarding (issue 6 §5): repeat an MPPS N-CREATE or N-SET to another AE as SCU.

Called by the outbound worker (``raddx.outbox.worker``) from the outbox, never from the MPPS
SCP's handler: the modality gets its answer at once, and a peer that is down delays only the
forward, which is retried. The dataset travels through the outbox as DICOM JSON (PS3.18 F.2)
so it is rebuilt exactly, Specific Character Set included. The forward keeps the MPPS SOP
Instance UID, so the peer's N-SET finds the step its N-CREATE made.
"""

from __future__ import annotations

import socket
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]

from raddx.config import RemoteAE
from raddx.hl7.client import DeliveryError

__all__ = ["ForwardRefused", "event_detail", "forward_mpps"]

#: pynetdicom's DIMSE status categories that mean the peer took the request.
_OK = frozenset({"Success", "Warning"})


class ForwardRefused(Exception):
    """The peer answered the N-CREATE/N-SET with a failure status (retrying won't help)."""


def event_detail(operation: str, sop_instance_uid: str, dataset: Dataset) -> dict[str, Any]:
    """What the outbox keeps of one MPPS request to forward."""
    return {
        "operation": operation,
        "sop_instance_uid": sop_instance_uid,
        "dataset": dataset.to_json_dict(),
    }


def forward_mpps(
    remote: RemoteAE,
    *,
    operation: str,
    sop_instance_uid: str,
    dataset: dict[str, Any],
    calling_ae_title: str,
    timeout: float = 10.0,
) -> None:
    """Send one N-CREATE or N-SET to ``remote`` (PS3.4 F.7.2).

    Raises
    ------
    DeliveryError
        No association (peer down, rejected, timed out) or no answer.
    ForwardRefused
        The peer answered with a failure status.
    """
    where = f"{remote.ae_title} at {remote.host}:{remote.port}"
    # Probe the port first: pynetdicom 3 leaks the socket of a refused connect (its
    # _shutdown_socket raises before close), and a peer that is down is retried for hours.
    try:
        socket.create_connection((remote.host, remote.port), timeout=timeout).close()
    except OSError as exc:
        raise DeliveryError(f"cannot associate with {where}: {exc}") from None
    ds = Dataset.from_json(dataset)
    ae = AE(ae_title=calling_ae_title)
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate(remote.host, remote.port, ae_title=remote.ae_title)
    if not assoc.is_established:
        raise DeliveryError(f"cannot associate with {where} for MPPS forwarding")
    try:
        if operation == "N-CREATE":
            status, _ = assoc.send_n_create(ds, ModalityPerformedProcedureStep, sop_instance_uid)
        else:
            status, _ = assoc.send_n_set(ds, ModalityPerformedProcedureStep, sop_instance_uid)
    finally:
        if assoc.is_established:
            assoc.release()
    if not status:  # an empty Dataset: timeout, abort or an invalid response
        raise DeliveryError(f"no {operation} answer from {where}")
    from pynetdicom.status import code_to_category

    category = code_to_category(int(status.Status))
    if category not in _OK:
        comment = str(status.get("ErrorComment", "")).strip()
        raise ForwardRefused(
            f"{where} answered {operation} with 0x{int(status.Status):04X} {category}"
            + (f": {comment}" if comment else "")
        )
