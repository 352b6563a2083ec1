"""Who may talk to us: the DICOM per-AE allow-list and the HL7 sender allow-list.

Association acceptance policy (issue 9; MHLW checklist 接続元制限, MDS2 NAUT-2, SAHD-5):

* a peer on a *local network* (``dicom_local_networks``, loopback by default) may use every
  service with any AE title — ``make run`` and a workstation's own tools keep working;
* any other peer must be a registered remote AE (``remote_aes`` setting or ``/api/remote-aes``)
  calling with its AE title, from the address its host resolves to
  (``dicom_check_peer_host``), and may use only that AE's ``services``;
* everything else is rejected at association time (PS3.8 9.3.4: rejected-permanent,
  service-user, calling AE title not recognized).

The policy is a pure decision on ``(calling AE title, peer address)``; each DIMSE engine asks
it once per association (:mod:`raddx.dimse.acceptance`).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from raddx.config import DicomServiceValues, Settings

__all__ = [
    "ALL_DICOM_SERVICES",
    "DicomPeerPolicy",
    "HostAllowList",
    "PeerDecision",
    "RegisteredPeer",
    "parse_address",
    "security_alert",
]

log = logging.getLogger(__name__)

ALL_DICOM_SERVICES: frozenset[DicomServiceValues] = frozenset(DicomServiceValues)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(address: str) -> IPAddress | None:
    """The peer's IP address, IPv4-mapped IPv6 (``::ffff:a.b.c.d``) unwrapped; ``None`` if
    ``address`` is not an IP address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def security_alert(
    description: str,
    *,
    subject: str | None = None,
    restricted_function: bool = False,
    object_changed: bool = False,
    **fields: object,
) -> None:
    """Report a security-relevant refusal: logged at WARNING and recorded in the audit trail
    as a Security Alert (PS3.15 A.5.3.11, EventID 110113) with EventTypeCode 110126 Node
    Authentication (a refused node or handshake) or, with ``restricted_function``, 110132 Use
    of Restricted Function (a service the peer may not use), or, with ``object_changed``,
    110135 Object Security Attributes Changed (a stored object failed its fixity check).
    ``subject`` names the node (e.g. the calling AE title or the peer address) or object."""
    from raddx.security import audit, audit_events

    detail = " ".join(f"{key}={value}" for key, value in fields.items())
    log.warning("security alert: %s subject=%s %s", description, subject, detail)
    alert = audit.EventTypeCodeValues.NODE_AUTHENTICATION
    if restricted_function:
        alert = audit.EventTypeCodeValues.USE_OF_RESTRICTED_FUNCTION
    elif object_changed:
        alert = audit.EventTypeCodeValues.OBJECT_SECURITY_ATTRIBUTES_CHANGED
    audit.record(
        audit_events.security_alert(
            alert=alert,
            reporter=None,
            description=f"{description}: {detail}" if detail else description,
            subject=subject,
        )
    )


class HostAllowList:
    """Addresses or networks (CIDR) allowed to connect; empty = everyone."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._networks: list[IPNetwork] = [
            ipaddress.ip_network(entry, strict=False) for entry in entries
        ]

    def __bool__(self) -> bool:
        return bool(self._networks)

    def allows(self, address: str) -> bool:
        """Whether ``address`` is in one of the networks (always, if the list is empty)."""
        if not self._networks:
            return True
        ip = parse_address(address)
        return ip is not None and any(ip in network for network in self._networks)


@dataclass(frozen=True, slots=True)
class PeerDecision:
    """The outcome for one association request: the services the peer may use (empty:
    rejected) and why, for the log and the security alert."""

    services: frozenset[DicomServiceValues]
    reason: str

    @property
    def accepted(self) -> bool:
        return bool(self.services)


#: A registered remote AE as the policy needs it: its host and allowed services.
RegisteredPeer = tuple[str, frozenset[DicomServiceValues]]


class DicomPeerPolicy:
    """The DICOM association acceptance policy.

    Parameters
    ----------
    settings
        ``dicom_local_networks``, ``dicom_accept_unregistered_peers``,
        ``dicom_check_peer_host``.
    registered
        Returns the registered remote AE with that (stripped) AE title, or ``None``; e.g.
        :meth:`from_registry`.
    ttl
        Seconds a decision (and a host name resolution) is reused, so that a sender opening an
        association per image costs no database query or DNS lookup each time; a change to the
        registered AEs takes effect within this time.
    """

    def __init__(
        self,
        settings: Settings,
        registered: Callable[[str], RegisteredPeer | None],
        *,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._local = HostAllowList(settings.dicom_local_networks)
        self._open = settings.dicom_accept_unregistered_peers
        self._check_host = settings.dicom_check_peer_host
        self._registered = registered
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._decisions: dict[tuple[str, str], tuple[float, PeerDecision]] = {}
        self._resolved: dict[str, tuple[float, frozenset[IPAddress]]] = {}

    @classmethod
    def from_registry(
        cls, settings: Settings, session_factory: Callable[[], object]
    ) -> DicomPeerPolicy:
        """The policy over the configured and runtime remote AEs (:mod:`raddx.remotes`)."""
        from raddx.errors import NotFound
        from raddx.remotes import RemoteAERegistry

        registry = RemoteAERegistry(settings, session_factory)  # type: ignore[arg-type]

        def registered(ae_title: str) -> RegisteredPeer | None:
            try:
                remote = registry.get(ae_title).remote
            except NotFound:
                return None
            return remote.host, frozenset(remote.services)

        return cls(settings, registered)

    def decide(self, calling_ae_title: str, peer_address: str) -> PeerDecision:
        """What the peer at ``peer_address`` calling as ``calling_ae_title`` may do."""
        key = (calling_ae_title.strip(), peer_address)
        now = self._clock()
        with self._lock:
            cached = self._decisions.get(key)
            if cached is not None and cached[0] > now:
                return cached[1]
        decision = self._decide(*key)
        with self._lock:
            if len(self._decisions) > 4096:
                self._decisions.clear()
            self._decisions[key] = (now + self._ttl, decision)
        return decision

    def _decide(self, ae_title: str, peer_address: str) -> PeerDecision:
        if self._open:
            return PeerDecision(ALL_DICOM_SERVICES, "unregistered peers accepted")
        if self._local and self._local.allows(peer_address):
            return PeerDecision(ALL_DICOM_SERVICES, "local network")
        entry = self._registered(ae_title)
        if entry is None:
            return PeerDecision(frozenset(), "calling AE title not registered")
        host, services = entry
        if self._check_host:
            ip = parse_address(peer_address)
            if ip is None or ip not in self._addresses(host):
                return PeerDecision(
                    frozenset(), f"registered AE calling from another host ({host})"
                )
        if not services:
            return PeerDecision(frozenset(), "registered AE allowed no service")
        return PeerDecision(services, "registered remote AE")

    def _addresses(self, host: str) -> frozenset[IPAddress]:
        now = self._clock()
        with self._lock:
            cached = self._resolved.get(host)
            if cached is not None and cached[0] > now:
                return cached[1]
        literal = parse_address(host)
        if literal is not None:
            found: frozenset[IPAddress] = frozenset({literal})
        else:
            try:
                infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            except OSError as exc:
                log.warning("remote AE host does not resolve host=%s reason=%s", host, exc)
                infos = []
            found = frozenset(
                ip for info in infos if (ip := parse_address(str(info[4][0]))) is not None
            )
        with self._lock:
            self._resolved[host] = (now + self._ttl, found)
        return found
