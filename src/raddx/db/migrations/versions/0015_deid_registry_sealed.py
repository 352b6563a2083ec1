"""De-identification: the pseudonym registry sealed at rest

Research notes §6 item 5 asks for the registry's pseudonyms and offsets to be stored
encrypted. ``deid_pseudonym.sealed`` holds the AES-256-GCM seal of the identity, pseudonym and
date offset (``raddx.deid.seal``) when a registry key is configured; ``date_offset_days``
becomes nullable because sealed rows keep it only inside the seal. Existing rows are untouched
(clear, ``sealed`` NULL) and stay readable.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deid_pseudonym") as batch:
        batch.add_column(sa.Column("sealed", sa.Text(), nullable=True))
        batch.alter_column("date_offset_days", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # Sealed rows cannot be unsealed without the key: refuse rather than lose them.
    bind = op.get_bind()
    sealed = bind.execute(
        sa.text("SELECT COUNT(*) FROM deid_pseudonym WHERE sealed IS NOT NULL")
    ).scalar()
    if sealed:
        raise RuntimeError(f"{sealed} sealed registry row(s): cannot downgrade without the key")
    with op.batch_alter_table("deid_pseudonym") as batch:
        batch.alter_column("date_offset_days", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("sealed")
