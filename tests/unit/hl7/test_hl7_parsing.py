"""``raddx.hl7.parsing.parse`` reuses python-hl7's parse plan across messages (the order
path's speed, issue 6): the message it gives must be python-hl7's own, container for
container, for real order and ADT messages, other delimiters, escapes and Japanese text, and
a message python-hl7 refuses is refused the same way."""

from __future__ import annotations

from typing import Any

import hl7
import pytest

from hl7_samples import adt, omg, omg_parent_children
from raddx.hl7.parsing import parse

_ESCAPED = (
    "MSH|^~\\&|HIS|HP|RIS|RADDX|20261126090000||OMG^O19^OMG_O19|E1|P|2.5||||||UNICODE UTF-8\r"
    "PID|||77^^^HP^PI~88^^^X^MR||山田\\S\\x^太郎\\T\\y^^^^^L^I~ヤマダ^タロウ^^^^^L^P||19700101|F\r"
    "ORC|NW|P\\F\\1^HIS||||||||||D1&X^放射線^医師|||||01^放射線科\r"
    "OBR|1|P1^HIS||6000000200020000^胸部 \\E\\ CT^JJ1017-32||||||||||||||||||||CT\r"
)
#: Other delimiters (MSH-1 ``#``, MSH-2 ``@*$!``): a plan is kept per delimiter set.
_OTHER_DELIMITERS = (
    "MSH#@*$!#HIS#HP#RIS#RADDX#20261126090000##ADT@A08#C1#P#2.5\r"
    "PID###55@@@HP@PI*66@@@X@MR##右田@施$x@@@@@L@I##19650401#F\r"
)


def _shape(node: Any) -> Any:
    """The container types, delimiters and values of a parsed message, all the way down."""
    if isinstance(node, str):
        return node
    return (type(node).__name__, node.separator, node.esc, [_shape(child) for child in node])


@pytest.mark.parametrize(
    "text",
    [
        omg(),
        omg_parent_children(),
        adt("A08"),
        adt("A40", mrg="MRG|0099999^^^HP^PI"),
        _ESCAPED,
        _OTHER_DELIMITERS,
        "\r\n " + omg() + "\r\r",  # surrounding white space, as hl7.parse strips it
    ],
    ids=["omg", "omg-parent-children", "adt-a08", "adt-a40", "escapes", "delimiters", "ws"],
)
def test_parse_gives_python_hl7s_message(text: str) -> None:
    for _ in range(2):  # the second time with the plan kept from the first
        ours, theirs = parse(text), hl7.parse(text)
        assert _shape(ours) == _shape(theirs)
        assert str(ours) == str(theirs)
        assert str(ours.segment("PID")[5]) == str(theirs.segment("PID")[5])


def test_delimiter_sets_do_not_mix() -> None:
    parse(_OTHER_DELIMITERS)
    message = parse(omg())  # '|' again after '#'
    assert str(message.segment("MSH")[9]) == "OMG^O19^OMG_O19"
    assert str(message.segment("MSH")[9][0][1]) == "O19"


def test_not_hl7_is_refused_as_python_hl7_refuses_it() -> None:
    with pytest.raises(hl7.ParseException):
        hl7.parse("PID|||1")
    with pytest.raises(hl7.ParseException):
        parse("PID|||1")
