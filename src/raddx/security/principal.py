"""Who is acting: the one value every door hands to authorisation and to the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Principal", "PrincipalKind"]

#: How the principal was identified: a person who logged in, an API token, a DICOM peer
#: (calling AE title), an HL7 sender, or raddx itself (jobs, the CLI, unenforced mode).
PrincipalKind = Literal["user", "token", "dicom", "hl7", "system"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated actor.

    Parameters
    ----------
    name
        The user name, token name, calling AE title or sending facility; what the audit
        trail records as UserID (PS3.15 A.5.2 ActiveParticipant).
    role
        One of the roles of the policy file (``raddx.security.policy``).
    kind
        How it was identified (see :data:`PrincipalKind`).
    host
        The peer's network address, if known (audit NetworkAccessPointID).
    break_glass
        True while an emergency override is active (PS3.15 A.5.3.11, EventTypeCode 110127);
        every access in that time is flagged in the audit trail.
    """

    name: str
    role: str
    kind: PrincipalKind
    host: str | None = None
    break_glass: bool = False
