"""Reports: at most one latest version per report, enforced by the database (issue 7)

``report_version.is_latest`` marks the newest version of each report. Two writers storing
different new versions of one report at once (an amendment racing an import on PostgreSQL,
where each UPDATE that clears the old flag sees only committed rows) could both leave their
row flagged. A partial unique index on ``report_id WHERE is_latest`` makes the second writer
fail instead (the reports service turns that into a Conflict, HTTP 409). Rows stored before
it are repaired first: the highest version of each report is its latest.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INDEX = "uq_report_version_latest"


def upgrade() -> None:
    op.execute(
        "UPDATE report_version SET is_latest = CASE WHEN version = ("
        "SELECT max(r.version) FROM report_version r "
        "WHERE r.report_id = report_version.report_id) THEN TRUE ELSE FALSE END"
    )
    op.create_index(
        INDEX,
        "report_version",
        ["report_id"],
        unique=True,
        sqlite_where=sa.text("is_latest"),
        postgresql_where=sa.text("is_latest"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="report_version")
