"""Retrieve: from a neutral :class:`~raddx.archive.query.Query` to the stored objects.

Shared by every door that hands images back (C-GET, C-MOVE, later WADO-RS and routing). The
instances are found with the query engine's matching (:func:`matching_instances`); this module
only adds the retrieve rules of PS3.4 C.4.2.2.1 / C.4.3.2.1 and reads the stored Part 10 bytes,
exactly as received: nothing is decoded, transcoded or rewritten here (a door that needs a
dataset asks :meth:`RetrievedInstance.decode`), and nothing in the archive changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from sqlalchemy.orm import sessionmaker

from raddx.archive.part10 import FileMeta, check_structure, read_file_meta
from raddx.archive.query import InstanceRef, Query, matching_instances
from raddx.archive.query.attributes import UNIQUE_KEYS
from raddx.db import READ_ONLY_OPTIONS
from raddx.errors import InvalidInput
from raddx.storage import BlobStore

__all__ = ["RetrieveService", "RetrievedInstance", "check_retrieve_query"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetrievedInstance:
    """One instance to send: its stored Part 10 bytes, or why they could not be read.

    ``part10`` and ``meta`` are both set (the bytes passed the same length walk as at ingest)
    or both ``None`` with ``error`` saying why. ``verbatim`` is false for an object whose
    dataset is not encoded as its transfer syntax says (e.g. implicit VR under an explicit VR
    syntax, which ingest tolerates as pydicom does): it must be decoded and re-encoded before
    it is sent, or the receiver would misread it.
    """

    ref: InstanceRef
    part10: bytes | None
    meta: FileMeta | None
    error: str | None = None
    verbatim: bool = True

    def decode(self) -> Dataset:
        """The stored object decoded by pydicom, with its file meta (so it keeps the stored
        transfer syntax). Costs a full parse: doors that can send bytes should.

        Raises
        ------
        OSError
            The stored object could not be read (``error`` says why).
        """
        if self.part10 is None:
            raise OSError(self.error)
        return pydicom.dcmread(BytesIO(self.part10))


def check_retrieve_query(query: Query) -> None:
    """Refuse a retrieve identifier without a value for the Unique Key of its level.

    PS3.4 C.4.2.2.1 and C.4.3.2.1: the identifier of a C-MOVE/C-GET holds the Unique Key(s)
    of the retrieve level (and, hierarchically, of the levels above). A STUDY-level retrieve
    with an empty StudyInstanceUID would otherwise send the whole archive.

    Raises
    ------
    InvalidInput
        The Unique Key of the query level is absent or empty.
    """
    keyword = UNIQUE_KEYS[query.level]
    if not (query.keys.get(keyword) or "").strip():
        # Short: the DIMSE door's Error Comment is LO (64 characters).
        raise InvalidInput(f"{keyword} is required for a {query.level.value}-level retrieve")


class RetrieveService:
    """Finds the instances a retrieve asks for and reads them from the blob store.

    Parameters
    ----------
    session_factory
        Sessions on the index; :meth:`instances` opens one read-only unit of work.
    blobs
        Where the stored Part 10 bytes are.
    """

    def __init__(self, session_factory: sessionmaker[Any], blobs: BlobStore) -> None:
        self._session_factory = session_factory
        self._blobs = blobs

    def instances(self, query: Query) -> list[InstanceRef]:
        """Every stored instance below the entities ``query`` matches (PATIENT level only
        in Patient Root, which :class:`Query` enforces).

        Raises
        ------
        InvalidInput
            See :func:`check_retrieve_query`.
        """
        check_retrieve_query(query)
        with self._session_factory() as session, session.begin():
            # Read-only: never hold SQLite's write lock against a concurrent C-STORE.
            session.connection(execution_options=READ_ONLY_OPTIONS)
            return matching_instances(query, session=session)

    def read(self, refs: Iterable[InstanceRef]) -> Iterator[RetrievedInstance]:
        """Read each instance's stored bytes, one at a time, without decoding them.

        The bytes get the checks ingest made: a File Meta group, and element lengths that
        account for every byte (:func:`~raddx.archive.part10.check_structure`, a few dozen
        ``struct`` calls), so a torn or damaged blob is never sent as if whole. A blob that is
        missing or fails them is a failed instance (``error`` set, logged), never an exception:
        the caller counts it as a failed sub-operation (PS3.4 C.4.2.1.4.2).
        """
        for ref in refs:
            try:
                data = self._blobs.get(ref.blob_key)
                meta = read_file_meta(data)
                tolerated = check_structure(data, meta)
            except Exception as exc:  # missing, unreadable or not DICOM: one failure
                log.warning(
                    "retrieve: instance unreadable sop_instance_uid=%s reason=%s",
                    ref.sop_instance_uid,
                    type(exc).__name__,
                )
                yield RetrievedInstance(ref, None, None, f"stored object unreadable: {exc!r}")
                continue
            yield RetrievedInstance(ref, data, meta, verbatim=not tolerated)
