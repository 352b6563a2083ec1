"""OMI^Z23 and OMI^O23 as built from order/MPPS snapshots (no database, no socket): segment
layout of the reference note §2.2, DISCONTINUED as well as COMPLETED, JIS-encodable output,
and the refusals for a step without an order or still in progress."""

from __future__ import annotations

import dataclasses

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from raddx.config import HL7Destination
from raddx.hl7.client import encode_message
from raddx.hl7.outbound import Sender, build_omi_o23
from raddx.hl7.z23 import billing_from_dataset, build_omi_z23
from raddx.ris.snapshot import OrderSnapshot, PerformedStepSnapshot, ProcedureSnapshot

CODE = "6000000200020000" + "2800000000000000"
HIS = HL7Destination(name="his", host="h", port=1, messages=["z23", "omi"])  # type: ignore[list-item]
ORDER = OrderSnapshot(
    placer_order_number="ORD1",
    filler_order_number="RX0000000001",
    accession_number="RX0000000001",
    status="COMPLETED",
    priority="STAT",
    requesting_physician="放射線^花子",  # as the RIS keeps it (PN)
    requesting_service="放射線科",
    reason="右肺結節|精査",  # a delimiter in a value: escaped, not a new field
    patient_id="0012345",
    issuer_of_patient_id="TOKYO-HP",
    patient_name_alphabetic=None,
    patient_name_ideographic="右田^施",
    patient_name_phonetic="ミギタ^ホドコシ",
    patient_birth_date="19650401",
    patient_sex="F",
    procedures=(
        ProcedureSnapshot(
            requested_procedure_id="RX0000000001-1",
            study_instance_uid="1.2.3",
            description="胸部CT 放射線",
            jj1017_code=CODE,
            scheduled_procedure_step_id="RX0000000001-1",
            modality="CT",
            scheduled_station_ae_title="CT01",
            scheduled_station_name="CT-1号機",
            location="放射線部 CT室",
            start_date="20261126",
            start_time="093000",
            step_status="COMPLETED",
        ),
    ),
)


def _step(status: str, order: OrderSnapshot | None = ORDER) -> PerformedStepSnapshot:
    return PerformedStepSnapshot(
        sop_instance_uid="1.2.3.99",
        status=status,
        performed_procedure_step_id="PPS1",
        modality="CT",
        performed_station_ae_title="CT01",
        start_date="20261126",
        start_time="093500",
        end_date="20261126",
        end_time="094000.123",
        study_instance_uid="1.2.3",
        order=order,
    )


def _segments(text: str) -> dict[str, list[str]]:
    return {s.split("|")[0]: s.split("|") for s in text.strip("\r").split("\r")}


@pytest.mark.parametrize(("status", "code"), [("COMPLETED", "CM"), ("DISCONTINUED", "DC")])
def test_z23_for_a_finished_step(status: str, code: str) -> None:
    text = build_omi_z23(_step(status), {}, control_id="C1", destination=HIS, sender=Sender())
    seg = _segments(text)
    assert seg["MSH"][8:12] == ["OMI^Z23^OMI_Z23", "C1", "P", "2.5"]
    assert seg["MSH"][17:20] == ["~ISO IR87", "", "ISO 2022-1994"]
    assert seg["ORC"][1:6] == ["SC", "ORD1", "RX0000000001", "", code]
    # ORC-9 (transaction time: the step's end) and ORC-12 (ordering provider), R in the
    # note's ORC rules; ORC-17 the requesting department.
    assert seg["ORC"][9] == "20261126094000"
    assert seg["ORC"][12] == "^放射線^花子"  # XCN-2/3
    assert seg["ORC"][17] == "放射線科"
    assert seg["OBR"][7:9] == ["20261126093500", "20261126094000"]
    assert seg["IPC"][1:6] == ["RX0000000001", "RX0000000001-1", "1.2.3", "RX0000000001-1", "CT"]
    assert seg["IPC"][7:10] == ["CT-1号機", "放射線部 CT室", "CT01"]
    assert seg["ZE1"][1:5] == ["1", code, f"{CODE}^胸部CT 放射線^JJ1017-32", "1"]
    assert "ZE2" not in seg  # no exposures reported
    assert encode_message(text)[0].decode("iso2022_jp") == text


def test_z23_materials_and_exposures_from_the_n_set() -> None:
    ds = Dataset()
    supply = Dataset()
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "Y001", "99HOSP", "造影剤"
    supply.BillingItemSequence = Sequence([code])
    quantity = Dataset()
    quantity.Quantity = 50
    unit = Dataset()
    unit.CodeValue = "ml"
    quantity.MeasuringUnitsSequence = Sequence([unit])
    supply.QuantitySequence = Sequence([quantity])
    ds.BillingSuppliesAndDevicesSequence = Sequence([supply])
    exposure = Dataset()
    exposure.KVP = "120"
    exposure.XRayTubeCurrentInuA = "300000.0"
    ds.ExposureDoseSequence = Sequence([exposure, exposure])
    series = Dataset()
    series.SpecificCharacterSet = "\\ISO 2022 IR 87"
    series.OperatorsName = ["Hoshino^Ken=星野^健", "Migita^Aya=右田^綾"]  # 右 holds '&'
    series.PerformingPhysicianName = "Hoshino^Ken=星野^健"  # the same person: once
    ds.PerformedSeriesSequence = Sequence([series])
    billing = billing_from_dataset(ds)
    text = build_omi_z23(
        _step("COMPLETED"), billing, control_id="C2", destination=HIS, sender=Sender()
    )
    lines = [s.split("|") for s in text.strip("\r").split("\r")]
    ze1 = next(s for s in lines if s[0] == "ZE1")
    assert ze1[9] == "Y001^造影剤^99HOSP^50^ml"
    # ZE1-7 practitioners as XCN ^family^given, kanji group; ZE1-6/ZE1-8 (their code tables
    # are not in the reference note) stay empty.
    assert ze1[7] == "^星野^健~^右田^綾"
    assert ze1[6] == "" and ze1[8] == ""
    ze2 = [s for s in lines if s[0] == "ZE2"]
    assert [s[1:4] for s in ze2] == [["1", "120^kV", "300^mA"], ["2", "120^kV", "300^mA"]]
    assert all(s[4] == "" and s[6] == "1" for s in ze2)  # ZE2-4 distance: no source
    # Encodable as ISO-2022-JP and back, whole (the kanji hold delimiter bytes).
    assert encode_message(text)[0].decode("iso2022_jp") == text


def test_z23_refusals() -> None:
    with pytest.raises(ValueError, match="not linked to an order"):
        build_omi_z23(
            _step("COMPLETED", None), {}, control_id="C", destination=HIS, sender=Sender()
        )
    with pytest.raises(ValueError, match="IN PROGRESS, not finished"):
        build_omi_z23(_step("IN PROGRESS"), {}, control_id="C", destination=HIS, sender=Sender())


@pytest.mark.parametrize(
    ("control", "status", "orc5"),
    [
        ("NW", "SCHEDULED", "SC"),
        ("XO", "SCHEDULED", "SC"),
        ("CA", "CANCELLED", "CA"),
        ("DC", "DISCONTINUED", "DC"),
        ("SC", "IN_PROGRESS", "IP"),  # status changed: started (MPPS, images, the HIS)
        ("SC", "COMPLETED", "CM"),
    ],
)
def test_omi_o23(control: str, status: str, orc5: str) -> None:
    order = dataclasses.replace(ORDER, status=status)
    text = build_omi_o23(order, control=control, control_id="C3", destination=HIS, sender=Sender())
    seg = _segments(text)
    assert seg["MSH"][8] == "OMI^O23^OMI_O23"
    assert seg["ORC"][1] == control and seg["ORC"][5] == orc5
    assert seg["TQ1"][7] == "20261126093000" and seg["TQ1"][9] == "S"
    assert seg["OBR"][13] == "右肺結節\\F\\精査"
    assert seg["IPC"][9] == "CT01"
    assert seg["ORC"][12] == "^放射線^花子"  # XCN, not the PN's escaped '^'
    assert seg["PID"][3] == "0012345^^^TOKYO-HP^PI"
    assert seg["PID"][5] == "右田^施^^^^^L^I~ミギタ^ホドコシ^^^^^L^P"


def test_omi_o23_refuses_an_unknown_control() -> None:
    with pytest.raises(ValueError, match="NW, XO, CA, DC or SC"):
        build_omi_o23(ORDER, control="OC", control_id="C", destination=HIS, sender=Sender())
