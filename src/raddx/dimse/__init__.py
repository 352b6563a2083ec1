"""The DIMSE door (pynetdicom): handlers per service, the listener; no business logic."""

from __future__ import annotations

from raddx.dimse.server import DimseServer, listen_socket

__all__ = ["DimseServer", "listen_socket"]
