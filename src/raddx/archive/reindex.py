"""Re-index from the blobs: bring the index up to what the current rules extract.

The blobs are the source of truth; the index is derived from them (ARCHITECTURE.md). When a
new revision of the index starts keeping something it did not keep before, the migration can
fill what the index itself holds (fuzzy name keys, UTC instants: migration 0003) but not what
only the objects carry. Today that is the sequence items matched by C-FIND/QIDO
(ProcedureCodeSequence, RequestAttributesSequence): objects stored before revision 0003 are
not found by sequence keys until their items are indexed. :func:`reindex` reads every indexed
object's header again and adds what is missing; it never changes an object's identity, its
counters or its blob, and running it twice adds nothing the second time.

It reads one page of instances at a time and writes each page in one short transaction, so
it can run while the server does (a C-STORE waits at most one page).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from raddx.archive._executor import write_transaction
from raddx.archive._index_writer import refresh_items
from raddx.archive.header import HeaderRecord, parse_header
from raddx.db import READ_ONLY_OPTIONS
from raddx.db.models import Instance
from raddx.storage import BlobStore

__all__ = ["ReindexReport", "reindex"]

log = logging.getLogger(__name__)

#: Instances read and written per transaction.
PAGE = 200


@dataclass(frozen=True, slots=True)
class ReindexReport:
    """What a re-index did."""

    instances: int
    items_added: int
    unreadable: int


def reindex(
    *,
    session_factory: Callable[[], Session],
    engine: Engine,
    blobs: BlobStore,
    default_timezone_offset: str | None = None,
    dry_run: bool = False,
    progress: Callable[[int], Any] | None = None,
) -> ReindexReport:
    """Read every indexed object's header again and add what the index lacks.

    An object whose blob is missing or no longer parses is counted as unreadable and logged
    (the sweep reports missing blobs too); the run goes on. With ``dry_run`` the items are
    counted in a transaction that is rolled back. ``progress`` is called with the number of
    instances done after each page.
    """
    done = added = unreadable = 0
    last_id = 0
    while True:
        with session_factory() as session, session.begin():
            session.connection(execution_options=READ_ONLY_OPTIONS)
            page = session.execute(
                select(Instance.id, Instance.sop_instance_uid, Instance.blob_key)
                .where(Instance.id > last_id)
                .order_by(Instance.id)
                .limit(PAGE)
            ).all()
        if not page:
            break
        last_id = page[-1].id
        records: list[HeaderRecord] = []
        for row in page:
            try:
                records.append(
                    parse_header(
                        blobs.get(row.blob_key),
                        strict=False,
                        default_timezone_offset=default_timezone_offset,
                    )
                )
            except Exception as exc:  # one object; the run goes on
                unreadable += 1
                log.error(
                    "reindex: object unreadable sop_instance_uid=%s reason=%s",
                    row.sop_instance_uid,
                    exc,
                )
        added += _write(engine, records, dry_run=dry_run)
        done += len(page)
        if progress is not None:
            progress(done)
    return ReindexReport(instances=done, items_added=added, unreadable=unreadable)


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def _write(engine: Engine, records: list[HeaderRecord], *, dry_run: bool) -> int:
    added = 0
    try:
        with write_transaction(engine) as db:
            for record in records:
                added += refresh_items(db, record)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return added
