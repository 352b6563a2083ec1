"""Type aliases shared across packages (STYLE rule 10: aliases live in one place)."""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["BlobKey", "UIDStr"]

#: A key in the blob store: ``<2 hex>/<hex digest>[.<suffix>]``, always ``/``-separated.
BlobKey: TypeAlias = str
#: A DICOM UID as text (PS3.5 9.1): digits and dots, at most 64 characters.
UIDStr: TypeAlias = str
