"""DicomPeerPolicy and HostAllowList: the decision table (issue 9, association acceptance)."""

from __future__ import annotations

import pytest

from raddx.config import DicomServiceValues, load_settings
from raddx.security.peers import (
    ALL_DICOM_SERVICES,
    DicomPeerPolicy,
    HostAllowList,
    RegisteredPeer,
)

S = DicomServiceValues
REGISTERED: dict[str, RegisteredPeer] = {
    "CT1": ("10.0.0.5", frozenset({S.STORE, S.ECHO})),
    "NONE": ("10.0.0.6", frozenset()),
    "NAMED": ("localhost", frozenset({S.FIND})),
}


def _policy(**settings: object) -> DicomPeerPolicy:
    return DicomPeerPolicy(load_settings(**settings), REGISTERED.get)


@pytest.mark.parametrize(
    ("calling", "address", "services"),
    [
        ("ANYONE", "127.0.0.1", ALL_DICOM_SERVICES),  # loopback: trusted by default
        ("ANYONE", "::ffff:127.0.0.1", ALL_DICOM_SERVICES),  # IPv4-mapped loopback
        ("ANYONE", "::1", ALL_DICOM_SERVICES),
        ("CT1", "10.0.0.5", frozenset({S.STORE, S.ECHO})),
        ("CT1  ", "10.0.0.5", frozenset({S.STORE, S.ECHO})),  # trailing spaces ignored
        ("CT1", "10.0.0.9", frozenset()),  # registered title, wrong host
        ("STRANGER", "10.0.0.5", frozenset()),
        ("NONE", "10.0.0.6", frozenset()),  # registered with no services
        ("NAMED", "127.0.0.1", ALL_DICOM_SERVICES),
    ],
)
def test_default_policy(calling: str, address: str, services: frozenset[S]) -> None:
    assert _policy().decide(calling, address).services == services


def test_host_resolved_by_name() -> None:
    policy = _policy(dicom_local_networks=[])
    assert policy.decide("NAMED", "127.0.0.1").services == {S.FIND}
    assert not policy.decide("NAMED", "10.1.1.1").accepted


def test_host_check_off_accepts_title_from_anywhere() -> None:
    assert _policy(dicom_check_peer_host=False).decide("CT1", "10.9.9.9").accepted


def test_open_policy() -> None:
    policy = _policy(dicom_accept_unregistered_peers=True)
    assert policy.decide("STRANGER", "192.0.2.1").services == ALL_DICOM_SERVICES


def test_decisions_cached_until_ttl() -> None:
    now = [0.0]
    table = dict(REGISTERED)
    policy = DicomPeerPolicy(load_settings(), table.get, ttl=5.0, clock=lambda: now[0])
    assert not policy.decide("NEW", "10.0.0.7").accepted
    table["NEW"] = ("10.0.0.7", frozenset({S.ECHO}))
    assert not policy.decide("NEW", "10.0.0.7").accepted  # still cached
    now[0] = 6.0
    assert policy.decide("NEW", "10.0.0.7").services == {S.ECHO}


@pytest.mark.parametrize(
    ("entries", "address", "allowed"),
    [
        ([], "203.0.113.9", True),
        (["10.0.0.0/8"], "10.2.3.4", True),
        (["10.0.0.0/8"], "192.168.1.1", False),
        (["192.168.1.7"], "192.168.1.7", True),
        (["192.168.1.7"], "not-an-ip", False),
    ],
)
def test_host_allow_list(entries: list[str], address: str, allowed: bool) -> None:
    assert HostAllowList(entries).allows(address) is allowed
