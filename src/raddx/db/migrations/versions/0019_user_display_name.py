"""Accounts: an optional display name (issue 7)

Users had a login name only, so reports named ``dr-tanaka`` as author and verifier. The
display name is a DICOM PN value with its groups (``Tanaka^Taro=田中^太郎=たなか^たろう``)
that the report formats write (SR PN, CDA and FHIR name forms, ORU, PDF); NULL for existing
accounts, which keep showing their login name.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("security_user") as batch:
        batch.add_column(sa.Column("display_name", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("security_user") as batch:
        batch.drop_column("display_name")
