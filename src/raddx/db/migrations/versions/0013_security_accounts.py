"""Security: user accounts, password history, 2FA recovery codes, API tokens, sessions

Issue 9: ``security_user`` (Argon2id hash, role, lockout, TOTP), ``security_password_history``
(reuse ban), ``security_recovery_code`` (one-time, SHA-256), ``security_api_token`` (SHA-256 of
the token) and ``security_session`` (browser sessions, break-glass). See
``raddx.db.models.SecurityUser`` and its neighbours.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "security_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", _TS, nullable=True),
        sa.Column("totp_secret", sa.String(64), nullable=True),
        sa.Column("totp_confirmed", sa.Boolean(), nullable=False),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("password_changed_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_security_user"),
        sa.UniqueConstraint("name", name="uq_security_user_name"),
    )
    op.create_table(
        "security_password_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_fk", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_fk"],
            ["security_user.id"],
            name="fk_security_password_history_user_fk_security_user",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_security_password_history"),
    )
    op.create_index(
        "ix_security_password_history_user_fk", "security_password_history", ["user_fk"]
    )
    op.create_table(
        "security_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_fk", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_fk"],
            ["security_user.id"],
            name="fk_security_recovery_code_user_fk_security_user",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_security_recovery_code"),
    )
    op.create_index("ix_security_recovery_code_user_fk", "security_recovery_code", ["user_fk"])
    op.create_table(
        "security_api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_security_api_token"),
        sa.UniqueConstraint("name", name="uq_security_api_token_name"),
        sa.UniqueConstraint("token_hash", name="uq_security_api_token_token_hash"),
    )
    op.create_table(
        "security_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_fk", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("break_glass_until", _TS, nullable=True),
        sa.Column("break_glass_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_fk"], ["security_user.id"], name="fk_security_session_user_fk_security_user"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_security_session"),
        sa.UniqueConstraint("token_hash", name="uq_security_session_token_hash"),
    )
    op.create_index("ix_security_session_user_fk", "security_session", ["user_fk"])


def downgrade() -> None:
    for table in (
        "security_session",
        "security_api_token",
        "security_recovery_code",
        "security_password_history",
        "security_user",
    ):
        op.drop_table(table)
