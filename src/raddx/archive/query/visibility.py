"""Which index rows the doors see: the one place the soft-delete rule lives.

A soft-deleted patient, study, series or instance (``deleted_at`` set by
:mod:`raddx.archive.deletion`) is hidden from every door — C-FIND, QIDO-RS, WADO-RS, C-MOVE,
C-GET, the REST API — because every one of them reads the index through this package's
:func:`~raddx.archive.query.find` / :func:`~raddx.archive.query.matching_instances`, which
apply :func:`visible` to each table of the query. Statistics use it too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement

__all__ = ["visible"]


def visible(table: Any) -> ColumnElement[bool]:
    """The condition "not soft-deleted" on ``table`` (Patient, Study, Series, Instance, or
    an alias of one)."""
    return table.deleted_at.is_(None)  # type: ignore[no-any-return]
