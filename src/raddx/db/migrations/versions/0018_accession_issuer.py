"""Accession number issuers: ``study.issuer_of_accession_number`` (from the objects'
IssuerOfAccessionNumberSequence) and ``ris_order.issuer_of_accession_number`` (HL7 IPC-1),
compared when images are linked to orders (raddx.ris.accession_issuer). Existing rows get
none: they keep linking by the number alone, as before.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_TABLES = ("study", "ris_order")


def upgrade() -> None:
    for table in _TABLES:
        # A nullable column: a plain ALTER TABLE on both databases, no table rewrite (a
        # SQLite batch would recreate ``study``, which ``series`` references).
        op.add_column(table, sa.Column("issuer_of_accession_number", sa.String(200), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        op.drop_column(table, "issuer_of_accession_number")  # SQLite >= 3.35, PostgreSQL
