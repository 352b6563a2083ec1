"""Who may send HL7 v2 messages: the sender allow-list of the MLLP door (issue 9).

``hl7_allowed_hosts`` (addresses or CIDR networks) and ``hl7_allowed_facilities`` (MSH-4,
first component); an empty list allows everyone. A refused message is answered with an AR
ACK whose ERR names MSH-4 (or MSH for the host) and says why — HL7 v2.5 2.9.2 original
mode: the sender learns it was rejected instead of retrying forever — and the connection stays
open, as for every other refusal. Each refusal is a Security Alert in the audit trail.
"""

from __future__ import annotations

from raddx.config import Settings
from raddx.hl7.ack import AckCodeValues, ErrorCodeValues, HL7Error, Reply, build_reply
from raddx.hl7.charset import CharsetError, encode, read_header
from raddx.security.peers import HostAllowList, security_alert

__all__ = ["SenderGate"]


class SenderGate:
    """Decides per message whether its sender may send; returns the AR answer if not.

    Parameters
    ----------
    settings
        ``hl7_allowed_hosts`` and ``hl7_allowed_facilities``.
    """

    def __init__(self, settings: Settings) -> None:
        self._hosts = HostAllowList(settings.hl7_allowed_hosts)
        self._facilities = frozenset(f.strip() for f in settings.hl7_allowed_facilities)

    def __bool__(self) -> bool:
        return bool(self._hosts) or bool(self._facilities)

    def __call__(self, data: bytes, peer: str) -> bytes | None:
        """``None`` if the message may be handled, else the encoded AR ACK."""
        try:
            header = read_header(data)
        except CharsetError:
            return None  # the handler answers an unreadable header itself (AR)
        if not self._hosts.allows(peer):
            reason, location = f"host {peer} may not send HL7 messages here", "MSH"
        else:
            facility = header.field(4).split("^", 1)[0].strip()
            if not self._facilities or facility in self._facilities:
                return None
            reason, location = f"sending facility {facility!r} is not allowed", "MSH-4"
        security_alert("HL7 message refused", subject=peer, restricted_function=True, reason=reason)
        error = HL7Error(
            reason, location=location, code=ErrorCodeValues.APPLICATION_ERROR, ack=AckCodeValues.AR
        )
        return encode(build_reply(Reply("ACK", AckCodeValues.AR, error), header), header)
