"""JJ1017 radiology procedure codes (JSRT/JIRA; ``../shared/reference/ris-hl7-jj1017.md`` §1).

A JJ1017-32 code is two 16-character halves: **16M** (the procedure: modality, procedure,
body part, laterality, posture, direction, extension) and **16S** (detailed conditions:
detailed posture, special instruction, nuclide/beam, ultrasound mode, reserved). HIS and RIS
exchange the whole 32 characters; a DICOM Code Value (SH) holds only 16, so the worklist
carries 16M in ScheduledProtocolCodeSequence and 16S in its ProtocolContextSequence
(PS3.16 TID 15200) — never a silently truncated code.

Only the code *structure* is here (guideline v3.4 Table 5.1, via the reference note); no
master table ships because no openly licensed one exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from raddx.errors import InvalidInput

__all__ = [
    "CODING_SCHEME_16M",
    "CODING_SCHEME_16S",
    "CODING_SCHEME_32",
    "FACILITY_MODALITY_CODES",
    "MODALITY_CODES",
    "Jj1017Code",
]

CODING_SCHEME_32 = "JJ1017-32"
CODING_SCHEME_16M = "JJ1017-16M"
CODING_SCHEME_16S = "JJ1017-16S"

#: Position 1, 種別 (modality / exam type), guideline T5.2 incl. v3.1 (A–E) and v3.4 (F–H).
MODALITY_CODES: dict[str, str] = {
    "0": "undecided",
    "1": "plain X-ray",
    "2": "fluoroscopy/contrast",
    "3": "angiography",
    "4": "tomography",
    "5": "bone densitometry",
    "6": "CT",
    "7": "MRI",
    "8": "nuclear medicine",
    "9": "ultrasound",
    "A": "external beam radiotherapy",
    "B": "brachytherapy",
    "C": "hyperthermia",
    "D": "blood irradiation",
    "E": "internal radiotherapy",
    "F": "mammography",
    "G": "portable X-ray",
    "H": "dental intraoral",
}
#: Position 11, 左右等 (laterality), guideline T5.5.
LATERALITY_CODES = frozenset("0BRLHFAPWQSKM")
#: Guideline §5.4.1: digits and upper-case letters except I and O (easily misread).
_ALLOWED = re.compile(r"^[0-9A-HJ-NP-Z]{32}$")
#: Facility extension range for the modality position (P–Y) is allowed as well.
FACILITY_MODALITY_CODES = frozenset("PQRSTUVWXY")
_FACILITY_MODALITIES = FACILITY_MODALITY_CODES


@dataclass(frozen=True, slots=True)
class Jj1017Code:
    """A validated JJ1017-32 code.

    Parameters
    ----------
    value
        The 32 characters exactly as the order carries them.

    Raises
    ------
    InvalidInput
        Not 32 characters (the length is named), a character outside 0-9/A-Z without I and
        O, an unknown modality code in position 1, an unknown laterality in position 11.
    """

    value: str

    def __post_init__(self) -> None:
        value = self.value
        if len(value) != 32:
            raise InvalidInput(
                f"JJ1017 code {value!r} has {len(value)} characters; JJ1017-32 has 32 "
                "(16M procedure + 16S conditions)"
            )
        if not _ALLOWED.match(value):
            raise InvalidInput(
                f"JJ1017 code {value!r}: only digits and upper-case letters other than I and O"
            )
        if value[0] not in MODALITY_CODES and value[0] not in _FACILITY_MODALITIES:
            raise InvalidInput(f"JJ1017 code {value!r}: unknown modality code {value[0]!r}")
        if value[10] not in LATERALITY_CODES:
            raise InvalidInput(f"JJ1017 code {value!r}: unknown laterality code {value[10]!r}")

    @property
    def procedure(self) -> str:
        """The first half, JJ1017-16M (the procedure)."""
        return self.value[:16]

    @property
    def conditions(self) -> str:
        """The second half, JJ1017-16S (detailed conditions)."""
        return self.value[16:]

    @property
    def modality(self) -> str:
        """Position 1: the JJ1017 modality code."""
        return self.value[0]

    def __str__(self) -> str:
        return self.value
