"""Messages raddx originates: the header and patient segments every outbound message shares,
and OMI^O23 (RIS → modality/PACS, IHE RAD-4/RAD-13; reference note §2.1, §4.1).

Built as text (segments separated by CR); the MLLP client encodes it in the MSH-18 character
set of the destination (:mod:`.client`). MSH-10 is the outbox delivery's id, so a retried
message keeps its control ID and a receiver can discard a duplicate.

OMI^O23 per requested procedure: ORC (ORC-1 ``NW`` new, ``XO`` changed (also a step added by
hand), ``CA`` cancelled, ``DC`` discontinued, ``SC`` status changed to IP or CM;
ORC-2/3 placer/filler number; ORC-5 order status), TQ1 (TQ1-7 start, TQ1-9 priority), OBR
(OBR-4 the JJ1017-32 code with coding system ``JJ1017-32``, OBR-18 accession, OBR-19 RP ID)
and IPC (IPC-1…9 accession, RP ID, Study UID, SPS ID, modality, protocol, station name,
location, station AE — the nine fields of ssmix2jsonizer's IPC structure, reference note
§2.2), so the receiver has the Study Instance UID the modality will use (pitfall §4.5.1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from raddx.config import HL7CharsetValues, HL7Destination
from raddx.hl7.ack import escape
from raddx.ris.snapshot import OrderSnapshot

__all__ = ["Sender", "build_omi_o23", "msh", "pid", "segment", "timestamp", "xcn"]

#: ORC-5 order status (HL7 Table 0038) for our order statuses.
_ORC5 = {
    "SCHEDULED": "SC",
    "IN_PROGRESS": "IP",
    "COMPLETED": "CM",
    "DISCONTINUED": "DC",
    "CANCELLED": "CA",
}
#: TQ1-9 priority (HL7 Table 0485) for RequestedProcedurePriority.
_PRIORITY = {"STAT": "S", "HIGH": "A", "ROUTINE": "R", "MEDIUM": "R", "LOW": "R"}
#: ORC-1 (HL7 Table 0119): new, changed, cancelled, discontinued, status changed (ORC-5).
ORDER_CONTROLS = frozenset({"NW", "XO", "CA", "DC", "SC"})


@dataclass(frozen=True, slots=True)
class Sender:
    """MSH-3/4: who we are in the messages we send."""

    application: str = "RADDX"
    facility: str = ""


def segment(name: str, fields: dict[int, str]) -> str:
    """One segment from field number → already escaped value (trailing empties dropped)."""
    last = max((n for n, v in fields.items() if v), default=0)
    return "|".join([name, *(fields.get(n, "") for n in range(1, last + 1))])


def timestamp(moment: dt.datetime | None = None) -> str:
    """A DTM of the local wall clock (HL7 v2.5 2.A.22), as Japanese systems write it."""
    return (moment or dt.datetime.now()).strftime("%Y%m%d%H%M%S")


def msh(message_type: str, control_id: str, destination: HL7Destination, sender: Sender) -> str:
    """MSH for ``destination``: MSH-18 its character set (with MSH-20 ``ISO 2022-1994`` for
    ``~ISO IR87``, the JAHIS spelling, reference note §2.2), MSH-17 ``JPN``."""
    fields = {
        2: "^~\\&",
        3: escape(sender.application),
        4: escape(sender.facility),
        5: escape(destination.receiving_application),
        6: escape(destination.receiving_facility),
        7: timestamp(),
        9: message_type,
        10: escape(control_id),
        11: "P",
        12: "2.5",
        17: "JPN",
        18: destination.charset.value,
    }
    if destination.charset is HL7CharsetValues.ISO_IR87:
        fields[20] = "ISO 2022-1994"
    return "MSH|" + "|".join(fields.get(n, "") for n in range(2, max(fields) + 1))


def _xpn(group: str | None, representation: str) -> str | None:
    if not group:
        return None
    components = [escape(c) for c in group.split("^")][:5]
    components += [""] * (5 - len(components))
    return "^".join([*components, "", "L", representation])


def pid(order: OrderSnapshot) -> str:
    """PID: PID-3 ``id^^^issuer^PI``, PID-5 kanji ``^L^I`` / kana ``^L^P`` / alphabetic
    ``^L^A`` repetitions (IHE-J, reference note §2.2), PID-7 birth date, PID-8 sex."""
    names = [
        name
        for name in (
            _xpn(order.patient_name_ideographic, "I"),
            _xpn(order.patient_name_phonetic, "P"),
            _xpn(order.patient_name_alphabetic, "A"),
        )
        if name
    ]
    issuer = escape(order.issuer_of_patient_id)
    return segment(
        "PID",
        {
            1: "0001",
            3: f"{escape(order.patient_id)}^^^{issuer}^PI",
            5: "~".join(names),
            7: order.patient_birth_date or "",
            8: order.patient_sex or "",
        },
    )


def xcn(name: str) -> str:
    """A person's name (DICOM PN ``family^given``, maybe with ``=`` groups) as XCN
    ``^family^given`` (XCN-2/3; XCN-1, the ID, empty): the ideographic (kanji) group when
    there is one, as JAHIS messages write names, else the first; ``""`` for no name."""
    groups = name.split("=")
    chosen = groups[1] if len(groups) > 1 and groups[1] else groups[0]
    parts = [p for p in chosen.split("^")[:2]]
    if not any(parts):
        return ""
    return "^" + "^".join(escape(p) for p in parts)


def procedure_code(code: str | None, description: str | None) -> str:
    """OBR-4 / ZE1-3: ``JJ1017-32 code^name^JJ1017-32`` (the full 32 characters, never cut)."""
    name = escape(description or "")
    return f"{escape(code)}^{name}^JJ1017-32" if code else f"^{name}"


def build_omi_o23(
    order: OrderSnapshot,
    *,
    control: str,
    control_id: str,
    destination: HL7Destination,
    sender: Sender,
) -> str:
    """OMI^O23 announcing ``order`` with ORC-1 ``control`` (NW, XO, CA, DC or SC).

    Raises
    ------
    ValueError
        ``control`` is not NW, XO, CA, DC or SC; the order has no requested procedure.
    """
    if control not in ORDER_CONTROLS:
        raise ValueError(f"control must be NW, XO, CA, DC or SC, not {control!r}")
    if not order.procedures:
        raise ValueError(f"order {order.accession_number} has no requested procedure")
    segments = [msh("OMI^O23^OMI_O23", control_id, destination, sender), pid(order)]
    placer = escape(order.placer_order_number or "")
    filler = escape(order.filler_order_number)
    for number, p in enumerate(order.procedures, start=1):
        segments.append(
            segment(
                "ORC",
                {
                    1: control,
                    2: placer,
                    3: filler,
                    5: _ORC5.get(order.status, ""),
                    12: xcn(order.requesting_physician or ""),
                    17: escape(order.requesting_service or ""),
                },
            )
        )
        segments.append(
            segment(
                "TQ1",
                {
                    1: "1",
                    7: p.start_date + p.start_time.split(".")[0][:6],
                    9: _PRIORITY.get(order.priority, "R"),
                },
            )
        )
        segments.append(
            segment(
                "OBR",
                {
                    1: str(number),
                    2: placer,
                    3: filler,
                    4: procedure_code(p.jj1017_code, p.description),
                    13: escape(order.reason or ""),
                    18: escape(order.accession_number),
                    19: escape(p.requested_procedure_id),
                    24: escape(p.modality),
                },
            )
        )
        segments.append(
            segment(
                "IPC",
                {
                    1: escape(order.accession_number),
                    2: escape(p.requested_procedure_id),
                    3: escape(p.study_instance_uid),
                    4: escape(p.scheduled_procedure_step_id),
                    5: escape(p.modality),
                    7: escape(p.scheduled_station_name or ""),
                    8: escape(p.location or ""),
                    9: escape(p.scheduled_station_ae_title or ""),
                },
            )
        )
    return "\r".join(segments) + "\r"
