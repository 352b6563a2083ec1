"""REST API: soft delete, runtime remote AEs, background jobs

Issue 5 (REST management API):

* ``deleted_at`` on patient, study, series and instance: soft delete (``raddx.archive.deletion``).
  NULL for every existing row, so nothing disappears. A partial index holds only the deleted
  instances (purge reads them; ingest never writes into it).
* ``purge_pending``: blob keys whose index rows a purge removed and whose blobs are still to
  be deleted; the sweep deletes such a blob instead of re-indexing it.
* ``remote_ae``: remote AEs added at runtime, beside the ``remote_aes`` setting.
* ``job``: send/retrieve jobs with their progress and outcome (``raddx.jobs``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_LEVELS = ("patient", "study", "series", "instance")


def upgrade() -> None:
    for table in _LEVELS:
        # A nullable column without a default: a plain ALTER TABLE ADD COLUMN on both
        # databases, no table rewrite (SQLite needs batch mode only to drop it again).
        op.add_column(table, sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_instance_deleted_at",
        "instance",
        ["deleted_at"],
        sqlite_where=sa.text("deleted_at IS NOT NULL"),
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )
    op.create_table(
        "purge_pending",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("blob_key", sa.String(200), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_purge_pending"),
    )
    op.create_index("ix_purge_pending_blob_key", "purge_pending", ["blob_key"])
    op.create_table(
        "remote_ae",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ae_title", sa.String(16), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_remote_ae"),
        sa.UniqueConstraint("ae_title", name="uq_remote_ae_ae_title"),
    )
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("remote_ae_title", sa.String(16), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("warning", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job"),
    )
    op.create_index("ix_job_state", "job", ["state"])


def downgrade() -> None:
    op.drop_index("ix_job_state", table_name="job")
    op.drop_table("job")
    op.drop_table("remote_ae")
    op.drop_index("ix_purge_pending_blob_key", table_name="purge_pending")
    op.drop_table("purge_pending")
    op.drop_index("ix_instance_deleted_at", table_name="instance")
    for table in reversed(_LEVELS):
        # A plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35, PostgreSQL), not a batch: on
        # SQLite a batch recreates the table, and dropping the old ``series`` fails the
        # foreign keys of the ``instance`` rows that reference it.
        op.drop_column(table, "deleted_at")
