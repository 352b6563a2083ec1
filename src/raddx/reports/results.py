"""Row-level results of an import, written as a CSV result file, and their summary."""

from __future__ import annotations

import csv
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

__all__ = ["ImportSummary", "ResultWriter"]

_HEADER = ("line", "source", "report_id", "version", "result", "detail")


@dataclass
class ImportSummary:
    """Counts per result (imported, unchanged, quarantined, rejected, error) of one run."""

    counts: Counter[str] = field(default_factory=Counter)
    #: Why nothing was imported (tampered package, all-or-nothing file with bad rows).
    aborted: str = ""
    result_file: Path | None = None

    @property
    def failed(self) -> bool:
        """Whether a person must look at something (errors, rejections, an abort)."""
        return bool(self.aborted or self.counts["error"] or self.counts["rejected"])

    def render(self, *, elapsed: float) -> str:
        parts = [f"{n} {k}" for k, n in sorted(self.counts.items()) if n]
        text = ", ".join(parts) or "nothing to import"
        if self.aborted:
            text = f"NOTHING IMPORTED: {self.aborted}\n{text}"
        done = sum(self.counts.values())
        rate = f" ({done / elapsed:.0f} reports/s)" if elapsed > 0 and done else ""
        where = f"\nrow-level results: {self.result_file}" if self.result_file else ""
        return f"{text} in {elapsed:.1f} s{rate}{where}"


class ResultWriter:
    """Writes the result file next to its final name and renames it into place on close,
    so a reader never sees half a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".result-", suffix=".csv", dir=path.parent)
        self._tmp = Path(tmp)
        self._stream: TextIO = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._stream, lineterminator="\r\n")
        self._writer.writerow(_HEADER)

    def row(
        self,
        *,
        line: int | str,
        source: str,
        report_id: str,
        version: int | str,
        result: str,
        detail: str = "",
    ) -> None:
        self._writer.writerow((line, source, report_id, version, result, detail))

    def close(self) -> None:
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()
        os.replace(self._tmp, self.path)

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
