"""Order messages (OMG^O19, ORM^O01, OMI^O23) → RIS orders (IHE-J / JAHIS flavour of v2.5).

Segments are taken in order: each ORC opens an order group and the TQ1, OBR and IPC after
it belong to that group. JAHIS parent/child orders become **one** order: a child group
(ORC-1 ``CH``, or ORC-8 naming a parent placer number) is a requested procedure of its
parent, whose OBR then only describes the whole (it becomes a procedure itself only when it
has no children). dcm4chee's default mapping reads only ORC[1]/OBR[1] and collapses such
orders (reference note §3, gap 1).

Field choices follow the reference note §3 (dcm4chee's ``hl7-order2dcm.xsl`` as a map):
ORC-2/3 placer/filler numbers; priority TQ1-9 → ORC-7.6 → OBR-27.6; start TQ1-7 → ORC-7.4 →
OBR-27.4; OBR-4 the procedure (a ``JJ1017-32``/``JJ1017`` coding system → JJ1017 code);
OBR-18 accession number; IPC-1…9 accession, RP ID, Study UID, SPS ID, modality, station.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raddx.errors import InvalidInput
from raddx.hl7.ack import ErrorCodeValues, HL7Error
from raddx.hl7.fields import checked, component, timestamp
from raddx.ris import Jj1017Code, OrderCreate, PatientData, ProcedureCreate
from raddx.ris.accession_issuer import AccessionIssuer
from raddx.ris.jj1017 import CODING_SCHEME_32

__all__ = ["OrderGroup", "OrderMessage", "group_orders"]

#: Priority codes of TQ1-9 / TQ-6 (HL7 Table 0485) → RequestedProcedurePriority.
_PRIORITY = {"S": "STAT", "A": "HIGH", "P": "HIGH", "C": "HIGH", "R": "ROUTINE", "T": "MEDIUM"}
#: JJ1017 modality position → DICOM Modality, when OBR-24/IPC-5 give none.
_JJ_MODALITY = {
    "1": "CR",
    "2": "RF",
    "3": "XA",
    "4": "CR",
    "5": "BMD",
    "6": "CT",
    "7": "MR",
    "8": "NM",
    "9": "US",
    "F": "MG",
    "G": "DX",
    "H": "IO",
}
_JJ_SYSTEMS = frozenset({CODING_SCHEME_32, "JJ1017"})


@dataclass
class _Group:
    orc: Any
    tq1: Any = None
    obrs: list[Any] = field(default_factory=list)
    ipcs: list[Any] = field(default_factory=list)

    @property
    def placer(self) -> str:
        return component(self.orc, 2) or (component(self.obrs[0], 2) if self.obrs else "")

    @property
    def parent(self) -> str:
        return component(self.orc, 8)

    @property
    def is_child(self) -> bool:
        return component(self.orc, 1) == "CH" or bool(self.parent)


@dataclass
class OrderGroup:
    """One order of the message: the parent group and its children (possibly none)."""

    parent: _Group
    children: list[_Group] = field(default_factory=list)

    @property
    def control(self) -> str:
        """ORC-1 of the parent (a message of children only is a new order)."""
        code = component(self.parent.orc, 1)
        return "NW" if code == "CH" else code

    @property
    def placer(self) -> str:
        return self.parent.parent if self.parent.is_child else self.parent.placer

    @property
    def filler(self) -> str:
        return component(self.parent.orc, 3) or (
            component(self.parent.obrs[0], 3) if self.parent.obrs else ""
        )

    @property
    def order_status(self) -> str:
        """ORC-5 (HL7 Table 0038), for status-changed (SC) messages."""
        return component(self.parent.orc, 5)


@dataclass
class OrderMessage:
    """The patient and the orders of one order message."""

    patient: PatientData | None
    orders: list[OrderGroup]


def group_orders(segments: list[Any]) -> list[OrderGroup]:
    """ORC groups → orders, children folded into their parent (see the module docstring).

    Raises
    ------
    HL7Error
        An OBR, TQ1 or IPC before any ORC (AE, 100 segment sequence).
    """
    groups: list[_Group] = []
    for segment in segments:
        name = str(segment[0])
        if name == "ORC":
            groups.append(_Group(segment))
        elif name in ("OBR", "TQ1", "IPC"):
            if not groups:
                raise HL7Error(
                    f"{name} before the first ORC",
                    location=name,
                    code=ErrorCodeValues.SEGMENT_SEQUENCE,
                )
            group = groups[-1]
            if name == "OBR":
                group.obrs.append(segment)
            elif name == "TQ1":
                group.tq1 = group.tq1 or segment
            else:
                group.ipcs.append(segment)
    orders: list[OrderGroup] = []
    by_placer: dict[str, OrderGroup] = {}
    for group in groups:
        parent_key = group.parent or (orders[-1].placer if orders and group.is_child else "")
        if group.is_child and parent_key in by_placer:
            by_placer[parent_key].children.append(group)
            continue
        order = OrderGroup(group)
        orders.append(order)
        by_placer[order.placer] = order
    return orders


def _start(group: _Group, fallback: _Group) -> tuple[str, str]:
    for seg, fld, comp, location in (
        (group.tq1, 7, 1, "TQ1-7"),
        (group.orc, 7, 4, "ORC-7"),
        (fallback.tq1, 7, 1, "TQ1-7"),
        (fallback.orc, 7, 4, "ORC-7"),
        *((obr, 27, 4, "OBR-27") for obr in group.obrs),
    ):
        if seg is not None:
            value = timestamp(seg, fld, comp, location)
            if value is not None:
                return value
    raise HL7Error(
        "no scheduled start date/time (TQ1-7, ORC-7.4 or OBR-27.4)",
        location="TQ1-7",
        code=ErrorCodeValues.REQUIRED_FIELD_MISSING,
    )


def priority(order: OrderGroup) -> str:
    """RequestedProcedurePriority from TQ1-9, ORC-7.6 or OBR-27.6 (ROUTINE when none)."""
    parent = order.parent
    candidates = [component(parent.tq1, 9) if parent.tq1 is not None else ""]
    candidates.append(component(parent.orc, 7, 6))
    candidates += [component(obr, 27, 6) for obr in parent.obrs]
    for code in candidates:
        if code:
            return _PRIORITY.get(code[:1], "ROUTINE")
    return "ROUTINE"


def _jj1017(obr: Any) -> str | None:
    for code_comp, system_comp in ((1, 3), (4, 6)):
        if component(obr, 4, system_comp).upper() in _JJ_SYSTEMS:
            code = component(obr, 4, code_comp)
            checked("OBR-4", lambda: Jj1017Code(code))  # noqa: B023 - called at once
            return code
    return None


def _procedure(group: _Group, obr: Any, ipc: Any, parent: _Group) -> ProcedureCreate:
    jj1017 = _jj1017(obr)
    modality = (
        (component(ipc, 5) if ipc is not None else "")
        or component(obr, 24)
        or (_JJ_MODALITY.get(jj1017[0], "") if jj1017 else "")
    )
    if not modality:
        raise HL7Error(
            "no modality (IPC-5, OBR-24 or a JJ1017 code in OBR-4)",
            location="OBR-24",
            code=ErrorCodeValues.REQUIRED_FIELD_MISSING,
        )
    date, time = _start(group, parent)

    def ipc_field(n: int) -> str | None:
        return (component(ipc, n) or None) if ipc is not None else None

    try:
        return ProcedureCreate(
            modality=modality,
            scheduled_start_date=date,
            scheduled_start_time=time,
            description=component(obr, 4, 2) or component(obr, 4, 5) or None,
            jj1017_code=jj1017,
            scheduled_station_ae_title=ipc_field(9),
            scheduled_station_name=ipc_field(7),
            location=ipc_field(8),
            requested_procedure_id=ipc_field(2) or component(obr, 19) or None,
            study_instance_uid=ipc_field(3),
            scheduled_procedure_step_id=ipc_field(4) or component(obr, 20) or None,
        )
    except InvalidInput as exc:
        raise HL7Error(str(exc), location="OBR-4", code=ErrorCodeValues.DATA_TYPE_ERROR) from None


def order_create(order: OrderGroup, patient: PatientData) -> OrderCreate:
    """The new order of an NW group (children, or the parent alone, as procedures).

    Raises
    ------
    HL7Error
        No placer order number (ORC-2), no OBR, a bad start date/time, JJ1017 code or
        modality (the field is named).
    """
    if not order.placer:
        raise HL7Error(
            "no placer order number (ORC-2)",
            location="ORC-2",
            code=ErrorCodeValues.REQUIRED_FIELD_MISSING,
        )
    sources = order.children or [order.parent]
    procedures = []
    for group in sources:
        if not group.obrs:
            raise HL7Error(
                f"order {group.placer!r} has no OBR",
                location="OBR",
                code=ErrorCodeValues.SEGMENT_SEQUENCE,
            )
        for index, obr in enumerate(group.obrs):
            ipc = group.ipcs[index] if index < len(group.ipcs) else None
            procedures.append(_procedure(group, obr, ipc, order.parent))
    first_obr = sources[0].obrs[0]
    first_ipc = sources[0].ipcs[0] if sources[0].ipcs else None
    accession = (component(first_ipc, 1) if first_ipc is not None else "") or component(
        first_obr, 18
    )
    issuer = _accession_issuer(first_ipc) if accession and first_ipc is not None else None
    orc = order.parent.orc
    physician = "^".join(component(orc, 12, c) for c in (2, 3)).strip("^") or "^".join(
        component(first_obr, 16, c) for c in (2, 3)
    ).strip("^")
    parent_obr = order.parent.obrs[0] if order.parent.obrs else first_obr
    return OrderCreate(
        patient=patient,
        procedures=tuple(procedures),
        placer_order_number=order.placer,
        filler_order_number=order.filler or None,
        accession_number=accession or None,
        accession_issuer=issuer,
        priority=priority(order),
        requesting_physician=physician or None,
        requesting_service=component(orc, 17, 2) or component(orc, 17, 1) or None,
        reason=component(parent_obr, 31, 2) or component(parent_obr, 31, 1) or None,
    )


def _accession_issuer(ipc: Any) -> AccessionIssuer | None:
    """IPC-1 components 2–4 (EI: namespace ID, universal ID, universal ID type), the
    accession number's issuer; ``None`` when absent.

    Raises
    ------
    HL7Error
        A universal ID without its type, or a type outside HL7 Table 0301 (AE at IPC-1).
    """
    parts = tuple(component(ipc, 1, c).strip() for c in (2, 3, 4))
    if not any(parts):
        return None
    try:
        return AccessionIssuer(*parts)
    except ValueError as exc:
        raise HL7Error(
            f"accession number issuer: {exc}",
            location="IPC-1",
            code=ErrorCodeValues.DATA_TYPE_ERROR,
        ) from None
