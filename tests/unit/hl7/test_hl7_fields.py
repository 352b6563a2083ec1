"""``raddx.hl7.fields.component`` reads the parsed lists directly (the order path's speed,
issue 6): it must give exactly what python-hl7's ``Segment.extract_field`` gives, for every
field, component and repetition of real order and ADT messages, escapes and Japanese
included."""

from __future__ import annotations

import hl7
import pytest

from hl7_samples import adt, omg, omg_parent_children
from raddx.hl7.fields import component, patient_from_pid

_ESCAPED = (
    "MSH|^~\\&|HIS|HP|RIS|RADDX|20261126090000||OMG^O19^OMG_O19|E1|P|2.5||||||UNICODE UTF-8\r"
    "PID|||77^^^HP^PI~88^^^X^MR||山田\\S\\x^太郎\\T\\y^^^^^L^I~ヤマダ^タロウ^^^^^L^P||19700101|F\r"
    "ORC|NW|P\\F\\1^HIS||||||||||D1&X^放射線^医師|||||01^放射線科\r"
    "OBR|1|P1^HIS||6000000200020000^胸部 \\E\\ CT^JJ1017-32||||||||||||||||||||CT\r"
)


def _reference(segment: object, field: int, comp: int, rep: int) -> str:
    """The reader ``component`` replaced: python-hl7's own accessor."""
    try:
        return str(segment.extract_field(1, field, rep, comp)).strip()  # type: ignore[attr-defined]
    except (IndexError, KeyError):
        return ""


@pytest.mark.parametrize(
    "text",
    [
        omg(),
        omg_parent_children(),
        adt("A08"),
        adt("A40", mrg="MRG|0099999^^^HP^PI"),
        _ESCAPED,  # \S\ \T\ \F\ \E\ escapes, subcomponents, two PID-3 repetitions
    ],
    ids=["omg", "omg-parent-children", "adt-a08", "adt-a40", "escapes"],
)
def test_component_agrees_with_extract_field(text: str) -> None:
    message = hl7.parse(text.replace("\n", "\r"))
    compared = 0
    for segment in message:
        for field in range(1, len(segment) + 2):
            for rep in range(1, 4):
                for comp in range(1, 10):
                    expected = _reference(segment, field, comp, rep)
                    assert component(segment, field, comp, rep) == expected, (
                        f"{segment[0]}-{field}.{comp} rep {rep}"
                    )
                    compared += bool(expected)
    assert compared > 10  # the table really held values


def test_escaped_values_are_unescaped() -> None:
    message = hl7.parse(_ESCAPED)
    patient = patient_from_pid(message.segment("PID"))
    assert patient.patient_id == "77"
    assert patient.patient_name == "=山田^x^太郎&y=ヤマダ^タロウ"
    assert component(message.segment("ORC"), 2) == "P|1"
    assert component(message.segment("OBR"), 4, 2) == "胸部 \\ CT"
    assert component(message.segment("MSH"), 2) == "^~\\&"  # MSH-2 is never unescaped
