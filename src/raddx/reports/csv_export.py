"""Selected reports as one CSV file in our layout (data provision; the file the CSV import
reads back). Streamed, and written under a temporary name then renamed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from raddx.reports import store
from raddx.reports.formats.csv import write_csv
from raddx.reports.record import ReportRecord
from raddx.reports.store import ReportSelection

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
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".csv", dir=target.parent)
    try:
        with session_factory() as session, os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
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
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rows
