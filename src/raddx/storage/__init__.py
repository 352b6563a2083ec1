"""Blob storage: the bytes of every stored object, behind the :class:`BlobStore` protocol."""

from __future__ import annotations

from raddx.storage.base import BlobExistsError, BlobInfo, BlobNotFoundError, BlobStore
from raddx.storage.filesystem import FileBlobStore

__all__ = [
    "BlobExistsError",
    "BlobInfo",
    "BlobNotFoundError",
    "BlobStore",
    "FileBlobStore",
]
