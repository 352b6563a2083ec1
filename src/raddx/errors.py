"""Domain exceptions. Domain code raises these; every door maps them once to its protocol.

The DIMSE door turns them into status codes, the web door into problem+json, the HL7 door into
AE/AR acknowledgements (ARCHITECTURE.md "Errors"). The message is meant for a person: it says
what was wrong with *their* input, never a stack trace.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "OutOfResources",
    "RaddxError",
    "Unauthenticated",
]


class RaddxError(Exception):
    """Base of all domain errors."""


class InvalidInput(RaddxError):
    """The caller sent something we cannot accept (not DICOM, missing UID, bad value)."""


class NotFound(RaddxError):
    """The thing asked for does not exist."""


class Conflict(RaddxError):
    """The request contradicts stored state (e.g. different bytes under a stored UID
    while the duplicate policy is ``reject``)."""


class OutOfResources(RaddxError):
    """We could not complete for lack of disk, memory or another resource; retrying later
    may succeed. Nothing of the failed item is kept."""


class Unauthenticated(RaddxError):
    """The request carries no valid credentials (none, unknown, expired, revoked, or a
    locked account); the caller should authenticate and try again."""


class Forbidden(RaddxError):
    """The caller is authenticated but its role does not hold the permission the operation
    needs (deny by default, ``raddx.security.policy``)."""
