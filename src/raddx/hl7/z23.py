"""OMI^Z23, the performed-exam (実施) notification RIS → HIS, with its ZE1/ZE2 segments: the
one place its field mapping lives, so it can be corrected when the JAHIS text is in hand.

Sources (reference note ``ris-hl7-jj1017.md`` §2.1–2.2, §4.1):

* message: OMI^Z23 (structure OMI_Z23), SS-MIX2 type OMG-11 放射線検査の実施通知; JAHIS
  放射線データ交換規約 Ver.2.2 is the reference [V: nhoHQ/SSMIX2_support_documents
  doc/ssmix_specification.md L54; 123deta.com]. Added for IHE-J Connectathon 2006 as
  "実施報告" [V: Konica "放射線部門HL7メッセージ 日本拡張 rev.C"].
* IPC (R in OMG-11): 1 accession, 3 Study UID, 5 modality [V: ssmix2jsonizer
  SSMIX2_FIELD_OPTIONS.json]; the other IPC fields as in OMI^O23.
* ZE1 (R: 2 control code, 3 procedure CWE; C: 6, 8): 1 set ID · 2 control code · 3 procedure ·
  4 procedure count · 5 billing addition (医事加算) · 6 practitioner type · 7 practitioner
  (XCN, rep) · 8 item type · 9 materials used (ZRD, rep) · 10 contact · 11 performed field ·
  12 accounting field [V: ssmix2jsonizer json/SEGMENT_STRUCTURE.json, facts only].
* ZE2 (child of ZE1): 1 set ID · 2 kV (CQ) · 3 mA (CQ) · 4 distance · 5 time · 6 exposure
  count · 7 comment [V: same].

Field by field against the note (§2.2, SS-MIX2 OMG-01/OMG-11 optionality), what raddx fills
and from where. "Note" says what the note confirms: **R**/**C** = required/conditional there
(OMG-11 for IPC, ZE1; OMG-01 for MSH, PID, ORC, OBR — the note gives OMG-01's rules for those,
the Z23's own are **not confirmed**); "fields" = named in its field list only; **—** = not in
the note at all (our choice, to check against the JAHIS text).

======  ===========================================  ================================  =======
Field   Meaning                                      raddx fills from                  Note
======  ===========================================  ================================  =======
MSH-7   date/time of message                         the build time (local)            R
MSH-9   ``OMI^Z23^OMI_Z23``                          constant                          R
MSH-10  message control ID                           the outbox delivery (stable)      R
MSH-18  ``~ISO IR87`` / ``UNICODE UTF-8``            the destination's charset         R
MSH-20  ``ISO 2022-1994`` with ``~ISO IR87``         constant                          fields
PID-3   ``id^^^issuer^PI``                           the order's patient               R
PID-5   kanji ``^L^I`` ~ kana ``^L^P``               the order's patient               R
PID-7   birth date / PID-8 sex                       the order's patient               R
ORC-1   ``SC``                                       constant                          R, value —
ORC-2   placer order number                          the order                         R
ORC-3   filler order number                          the order                         —
ORC-5   ``CM`` completed / ``DC`` discontinued       the MPPS final status             —
ORC-9   date/time of transaction                     the MPPS end date/time            R
ORC-12  ordering provider                            the order's requesting physician  R
ORC-17  entering organization                        the order's requesting service    —
OBR-2/3 placer / filler number                       the order                         R (2)
OBR-4   ``JJ1017-32 code^name^JJ1017-32``            the requested procedure           R
OBR-7/8 observation start / end                      the MPPS start / end              —
OBR-18  accession number / OBR-19 RP ID              the order / requested procedure   —
OBR-24  modality                                     the MPPS, else the procedure      —
IPC-1   accession number                             the order                         R
IPC-2   requested procedure ID                       the requested procedure           fields
IPC-3   Study Instance UID                           the requested procedure           R
IPC-4   scheduled procedure step ID                  the scheduled step                fields
IPC-5   modality                                     the MPPS, else the procedure      R
IPC-7   station name / IPC-8 location                the scheduled step                fields
IPC-9   station AE title                             the MPPS performing station       fields
ZE1-1   set ID                                       1, 2, … per requested procedure   fields
ZE1-2   control code: ``CM`` / ``DC``                the MPPS final status             R, value —
ZE1-3   procedure (CWE): the JJ1017-32 code          the requested procedure           R
ZE1-4   procedure count                              1                                 fields
ZE1-5   billing addition (医事加算), repeating       MPPS BillingProcedureStepSequence fields
ZE1-6   practitioner type                            **not filled**: its code table    C
                                                     is not in the note
ZE1-7   practitioner (XCN, repeating)                MPPS PerformedSeriesSequence      fields
                                                     OperatorsName, then
                                                     PerformingPhysicianName (kanji
                                                     group if present) as
                                                     ``^family^given``
ZE1-8   item type                                    **not filled**: code table not    C
                                                     in the note
ZE1-9   materials used (ZRD, repeating)              MPPS BillingSuppliesAndDevices    fields
                                                     and FilmConsumption; components
                                                     ``code^name^system^quantity^unit``
                                                     (ZRD layout —); films: size as
                                                     code, ``FILM`` as system
ZE1-10  contact / -11 performed / -12 accounting     **not filled** (no source)        fields
ZE2-1   set ID                                       1, 2, … per exposure              fields
ZE2-2   kV (CQ)                                      ExposureDoseSequence KVP          fields
ZE2-3   mA (CQ)                                      XRayTubeCurrentInuA / 1000        fields
ZE2-4   distance                                     **not filled** (not in the MPPS   fields
                                                     dose items)
ZE2-5   time (ms)                                    ExposureTime                      fields
ZE2-6   exposure count                               1 per item                        fields
ZE2-7   comment                                      CommentsOnRadiationDose           fields
======  ===========================================  ================================  =======

Not confirmed by the note (to check against JAHIS 放射線データ交換規約): the Z23's own
optionality (the note gives OMG-01's for MSH/PID/ORC/OBR, and PV1-2 and TQ1 are R there but
raddx sends neither in the Z23: the performed notification has no visit or timing of its own
here); the ORC-1/ORC-5 and ZE1-2 values; the ZRD component layout; one ZE1 per requested
procedure with the step's billing additions, materials and practitioners on the first and its
exposures as ZE2 after it; the CQ units written as plain ``kV``/``mA``/``ms``.

Where the values come from: the MPPS Billing and Material Management module (PS3.3 C.4.17:
BillingProcedureStepSequence, BillingSuppliesAndDevicesSequence, FilmConsumptionSequence), the
Radiation Dose module's ExposureDoseSequence (C.4.16: KVP, XRayTubeCurrentInuA, ExposureTime)
and the PerformedSeriesSequence's OperatorsName/PerformingPhysicianName of the step's final
N-SET — see :func:`billing_from_dataset`.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from raddx.config import HL7Destination
from raddx.hl7.ack import escape
from raddx.hl7.outbound import Sender, msh, pid, procedure_code, segment, xcn
from raddx.ris.snapshot import PerformedStepSnapshot

__all__ = ["MESSAGE_TYPE", "billing_from_dataset", "build_omi_z23"]

MESSAGE_TYPE = "OMI^Z23^OMI_Z23"
#: MPPS final status → ORC-5 / ZE1-2 [I].
_STATUS_CODE = {"COMPLETED": "CM", "DISCONTINUED": "DC"}


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _number(ds: Dataset, keyword: str) -> str:
    """A DS/IS value as the shortest decimal (``120.0`` → ``120``): CQ values in ZE2."""
    text = _text(ds, keyword)
    try:
        return f"{float(text):g}"
    except ValueError:
        return text


def _code(item: Dataset) -> dict[str, str]:
    return {
        "code": _text(item, "CodeValue"),
        "meaning": _text(item, "CodeMeaning"),
        "scheme": _text(item, "CodingSchemeDesignator"),
    }


def billing_from_dataset(ds: Dataset) -> dict[str, Any]:
    """The billing, material and exposure facts of an MPPS N-SET as JSON-ready data (what
    the OMI^Z23 event keeps until the message is built)."""
    procedures = [_code(i) for i in ds.get("BillingProcedureStepSequence", [])]
    supplies = []
    for item in ds.get("BillingSuppliesAndDevicesSequence", []):
        code = _code(item.BillingItemSequence[0]) if item.get("BillingItemSequence") else {}
        quantity, unit = "", ""
        if item.get("QuantitySequence"):
            q = item.QuantitySequence[0]
            quantity = _number(q, "Quantity")
            if q.get("MeasuringUnitsSequence"):
                unit = _text(q.MeasuringUnitsSequence[0], "CodeValue")
        supplies.append({**code, "quantity": quantity, "unit": unit})
    films = [
        {
            "count": _text(i, "NumberOfFilms"),
            "medium": _text(i, "MediumType"),
            "size": _text(i, "FilmSizeID"),
        }
        for i in ds.get("FilmConsumptionSequence", [])
    ]
    exposures = [
        {
            "kvp": _number(i, "KVP"),
            "tube_current_ua": _number(i, "XRayTubeCurrentInuA"),
            "exposure_time_ms": _number(i, "ExposureTime"),
            "comment": _text(i, "CommentsOnRadiationDose"),
        }
        for i in ds.get("ExposureDoseSequence", [])
    ]
    performers: list[str] = []
    for series in ds.get("PerformedSeriesSequence", []):
        for keyword in ("OperatorsName", "PerformingPhysicianName"):
            value = series.get(keyword)
            names = list(value) if isinstance(value, MultiValue) else [value]
            for name in names:
                text = str(name).strip() if name is not None else ""
                if text and text not in performers:
                    performers.append(text)
    return {
        "procedures": procedures,
        "supplies": supplies,
        "films": films,
        "exposures": exposures,
        "performers": performers,
    }


def _zrd(code: str, name: str, system: str, quantity: str, unit: str) -> str:
    return "^".join(escape(v) for v in (code, name, system, quantity, unit))


def _materials(billing: dict[str, Any]) -> str:
    reps = [
        _zrd(s["code"], s["meaning"], s["scheme"], s["quantity"], s["unit"])
        for s in billing.get("supplies", [])
    ]
    reps += [
        _zrd(f["size"], f["medium"] or "FILM", "FILM", f["count"], "枚")
        for f in billing.get("films", [])
    ]
    return "~".join(reps)


def _milliamperes(microamperes: str) -> str:
    try:
        return f"{float(microamperes) / 1000:g}"
    except ValueError:
        return ""


def build_omi_z23(
    step: PerformedStepSnapshot,
    billing: dict[str, Any],
    *,
    control_id: str,
    destination: HL7Destination,
    sender: Sender,
) -> str:
    """OMI^Z23 for a COMPLETED or DISCONTINUED MPPS linked to an order.

    Raises
    ------
    ValueError
        The step is not linked to an order (an unscheduled MPPS has nothing to bill against),
        or it is still IN PROGRESS.
    """
    order = step.order
    if order is None:
        raise ValueError(f"MPPS {step.sop_instance_uid} is not linked to an order")
    status = _STATUS_CODE.get(step.status)
    if status is None:
        raise ValueError(f"MPPS {step.sop_instance_uid} is {step.status}, not finished")
    placer = escape(order.placer_order_number or "")
    filler = escape(order.filler_order_number)
    start = (step.start_date or "") + (step.start_time or "").split(".")[0][:6]
    end = (step.end_date or "") + (step.end_time or "").split(".")[0][:6]
    segments = [
        msh(MESSAGE_TYPE, control_id, destination, sender),
        pid(order),
        segment(
            "ORC",
            {
                1: "SC",
                2: placer,
                3: filler,
                5: status,
                9: end or start,
                12: xcn(order.requesting_physician or ""),
                17: escape(order.requesting_service or ""),
            },
        ),
    ]
    for number, p in enumerate(order.procedures, start=1):
        segments.append(
            segment(
                "OBR",
                {
                    1: str(number),
                    2: placer,
                    3: filler,
                    4: procedure_code(p.jj1017_code, p.description),
                    7: start,
                    8: end,
                    18: escape(order.accession_number),
                    19: escape(p.requested_procedure_id),
                    24: escape(step.modality or p.modality),
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
                    5: escape(step.modality or p.modality),
                    7: escape(p.scheduled_station_name or ""),
                    8: escape(p.location or ""),
                    9: escape(step.performed_station_ae_title or ""),
                },
            )
        )
    billed = billing.get("procedures") or []
    for number, p in enumerate(order.procedures, start=1):
        fields = {
            1: str(number),
            2: status,
            3: procedure_code(p.jj1017_code, p.description),
            4: "1",
        }
        if number == 1:
            extra = [
                f"{escape(b['code'])}^{escape(b['meaning'])}^{escape(b['scheme'])}" for b in billed
            ]
            fields[5] = "~".join(extra)  # billing procedure codes as 医事加算 [I]
            fields[7] = "~".join(xcn(n) for n in billing.get("performers") or [])
            fields[9] = _materials(billing)
        segments.append(segment("ZE1", fields))
        if number == 1:
            for n, exposure in enumerate(billing.get("exposures") or [], start=1):
                kvp, ma = exposure["kvp"], _milliamperes(exposure["tube_current_ua"])
                ms = exposure["exposure_time_ms"]
                segments.append(
                    segment(
                        "ZE2",
                        {
                            1: str(n),
                            2: f"{escape(kvp)}^kV" if kvp else "",
                            3: f"{ma}^mA" if ma else "",
                            5: f"{escape(ms)}^ms" if ms else "",
                            6: "1",
                            7: escape(exposure["comment"]),
                        },
                    )
                )
    return "\r".join(segments) + "\r"
