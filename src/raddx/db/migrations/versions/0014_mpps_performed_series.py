"""RIS: how many Performed Series items an MPPS carries

Issue 6 §5: ``ris_performed_step.performed_series_count`` keeps the number of items of the
PerformedSeriesSequence last created or set, so the final-state rule of PS3.4 F.7.2.2.2 (a
step ends with at least one performed series) can be checked at the N-SET that ends it.
Existing rows get 0.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ris_performed_step") as batch:
        batch.add_column(
            sa.Column("performed_series_count", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("ris_performed_step") as batch:
        batch.drop_column("performed_series_count")
