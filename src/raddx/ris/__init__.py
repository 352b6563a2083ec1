"""The RIS: patients, orders, requested procedures, scheduled steps, JJ1017 codes (issue 6).

Doors (HL7 v2 over MLLP, Modality Worklist C-FIND, REST, CLI) translate and call
:mod:`raddx.ris.service`; status rules live in :mod:`raddx.ris.status`.
"""

from __future__ import annotations

from raddx.ris.jj1017 import Jj1017Code
from raddx.ris.records import OrderCreate, PatientData, ProcedureCreate
from raddx.ris.service import (
    OrderPublic,
    UnknownJj1017Code,
    change_order_status,
    find_order,
    merge_patients,
    place_order,
    update_order,
    upsert_patient,
)
from raddx.ris.status import (
    OrderStatusValues,
    ScheduledProcedureStepStatusValues,
    check_transition,
)

__all__ = [
    "Jj1017Code",
    "OrderCreate",
    "OrderPublic",
    "OrderStatusValues",
    "PatientData",
    "ProcedureCreate",
    "ScheduledProcedureStepStatusValues",
    "UnknownJj1017Code",
    "change_order_status",
    "check_transition",
    "find_order",
    "merge_patients",
    "place_order",
    "update_order",
    "upsert_patient",
]
