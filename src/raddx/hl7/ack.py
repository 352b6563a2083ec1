"""Acknowledgements (HL7 v2.5 2.9, 2.15.8 MSA, 2.15.5 ERR): built from the incoming MSH.

One function builds every answer we send (ACK, ORG^O20, ORR^O02), so MSA/ERR look the same
for every message type. The answer goes back in the request's character set (MSH-18 echoed).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from raddx.hl7.charset import Header

__all__ = ["AckCodeValues", "ErrorCodeValues", "HL7Error", "Reply", "build_reply"]

_counter = itertools.count(1)


class AckCodeValues(StrEnum):
    """MSA-1 (HL7 Table 0008), original acknowledgement mode."""

    AA = "AA"  # accepted
    AE = "AE"  # error: the message was understood and refused (ERR says why)
    AR = "AR"  # rejected: message type, trigger or structure we do not process


class ErrorCodeValues(StrEnum):
    """ERR-3 (HL7 Table 0357)."""

    SEGMENT_SEQUENCE = "100"
    REQUIRED_FIELD_MISSING = "101"
    DATA_TYPE_ERROR = "102"
    TABLE_VALUE_NOT_FOUND = "103"
    UNSUPPORTED_MESSAGE_TYPE = "200"
    UNSUPPORTED_EVENT_CODE = "201"
    UNKNOWN_KEY = "204"
    DUPLICATE_KEY = "205"
    APPLICATION_ERROR = "207"


_TEXT = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "207": "Application internal error",
}


class HL7Error(Exception):
    """A message we refuse, and where: ``location`` is ``SEG-n`` (``PID-3``), the field the
    ERR segment names; ``code`` the Table 0357 code; ``ack`` AE or AR."""

    def __init__(
        self,
        message: str,
        *,
        location: str,
        code: ErrorCodeValues,
        ack: AckCodeValues = AckCodeValues.AE,
    ) -> None:
        super().__init__(message)
        self.location = location
        self.code = code
        self.ack = ack


@dataclass(frozen=True, slots=True)
class Reply:
    """What the door answers: the message type, MSA-1, the error if any, and segments
    specific to the answer type (ORC of an ORG^O20)."""

    message_type: str
    ack: AckCodeValues
    error: HL7Error | None = None
    segments: Sequence[str] = ()


def escape(text: str) -> str:
    """HL7 escape sequences (2.7) for a value we write: our error texts may quote values
    holding delimiters. (python-hl7's ``escape`` needs a parsed message, which a message we
    could not decode does not give us.)"""
    out = text.replace("\\", "\\E\\")
    for char, seq in (("|", "\\F\\"), ("^", "\\S\\"), ("~", "\\R\\"), ("&", "\\T\\")):
        out = out.replace(char, seq)
    return out.replace("\r", " ").replace("\n", " ")


def _location(location: str) -> str:
    segment, _, field = location.partition("-")
    return f"{segment}^1^{field}" if field else segment


def build_reply(reply: Reply, header: Header, *, application: str = "RADDX") -> str:
    """The answer text (segments separated by CR), MSH echoing the request's sender as
    receiver, its MSH-10 in MSA-2 and its MSH-18."""
    now = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    control = f"RADDX{now}{next(_counter):06d}"
    msh = [
        "MSH",
        "^~\\&",
        application,
        header.field(6),
        header.field(3),
        header.field(4),
        now,
        "",
        reply.message_type,
        control,
        header.field(11) or "P",
        "2.5",
        "",
        "",
        "",
        "",
        "",
        header.charset,
    ]
    segments = ["|".join(msh).rstrip("|"), f"MSA|{reply.ack.value}|{escape(header.field(10))}"]
    segments += reply.segments
    error = reply.error
    if error is not None:
        code = error.code.value
        segments.append(
            f"ERR||{_location(error.location)}|{code}^{_TEXT[code]}^HL70357|E||||"
            + escape(str(error))
        )
    return "\r".join(segments) + "\r"
