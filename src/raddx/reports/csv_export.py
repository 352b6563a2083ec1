"""Selected reports as one CSV file in our layout (data provision; the file the CSV import
reads back). Streamed, and written under a temporary name then renamed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from raddx.reports import store
from raddx.reports.formats.csv import write_csv
from raddx.reports.record import ReportRecord
from raddx.reports.store import ReportSelection
from raddx.storage.atomic import atomic_file

__all__ = ["export_csv"]


def export_csv(
    *,
    session_factory: sessionmaker[Session],
    selection: ReportSelection,
    target: Path,
    bom: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
) -> int:
    """Write the selected reports to ``target`` (UTF-8; ``bom`` for Excel); returns the
    number of rows."""
    with (
        session_factory() as session,
        atomic_file(target, "w", mkdir=True, newline="") as out,
    ):
        total = session.scalar(select(func.count()).select_from(selection.query().subquery()))
        done = 0

        def counted() -> Iterator[ReportRecord]:
            nonlocal done
            for record in store.iter_records(session=session, selection=selection):
                yield record
                done += 1
                if progress:
                    progress(done, total)

        rows = write_csv(counted(), out, bom=bom)
    return rows
