"""CSV import (the JIRA import tool's job): one file of report rows into the store.

All or nothing per file by default: a row that cannot be read, or that the store rejects
(a lower version, the same id and version with other content — also within the file), and
the whole file is rolled back, with every problem listed by line in the result file.
``partial=True`` imports the good rows and lists the bad ones. Reports matching no archive
study are quarantined (kept), which does not fail the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from raddx.errors import InvalidInput
from raddx.reports import service
from raddx.reports.formats.csv import ColumnMapping, decode_csv, read_csv
from raddx.reports.results import ImportSummary, ResultWriter

__all__ = ["import_csv"]


class _Rollback(Exception):
    """Raised inside the transaction to undo an all-or-nothing file."""


def import_csv(
    *,
    session_factory: sessionmaker[Session],
    path: Path,
    result_path: Path,
    mapping: ColumnMapping | None = None,
    partial: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
) -> ImportSummary:
    """Import one CSV file; see the module docstring for what happens to bad rows.

    Raises
    ------
    InvalidInput
        The file's encoding is not UTF-8 or CP932, or its header lacks a required column
        (nothing is read, nothing imported).
    """
    text, _encoding = decode_csv(path.read_bytes())
    rows = read_csv(text, mapping)  # raises InvalidInput for a bad header, before any row
    summary = ImportSummary(result_file=result_path)
    lines: list[tuple[int, str, str, str, str]] = []
    bad = 0
    try:
        with session_factory.begin() as session:
            for done, row in enumerate(rows, start=1):
                if row.record is None:
                    bad += 1
                    lines.append((row.line, "", "", "error", row.error))
                else:
                    record = row.record
                    nested = session.begin_nested()
                    outcome = service.import_record(
                        session=session, record=record, source=f"{path.name}:{row.line}"
                    )
                    if outcome.result == "rejected":
                        bad += 1
                        nested.rollback()
                    else:
                        nested.commit()
                    lines.append(
                        (
                            row.line,
                            record.report_id,
                            str(record.version),
                            outcome.result.value,
                            outcome.detail,
                        )
                    )
                if progress:
                    progress(done, None)
            if bad and not partial:
                raise _Rollback
    except _Rollback:
        summary.aborted = (
            f"{bad} bad row(s) in {path.name}; the file was not imported "
            "(use --partial to import the good rows)"
        )
    except InvalidInput:
        raise
    with ResultWriter(result_path) as results:
        for line, rid, version, result, detail in lines:
            if summary.aborted and result not in ("error", "rejected"):
                result, detail = "not imported", "another row of the file is bad"
            summary.counts[result] += 1
            results.row(
                line=line,
                source=path.name,
                report_id=rid,
                version=version,
                result=result,
                detail=detail,
            )
    return summary
