"""sessions: one row per login, which access tokens name and which can be revoked

Revision ID: 5b0e9d1c2a47
Revises: 35ad13f4bf80
Create Date: 2026-11-30 06:30:00+00:00

Every refresh-token family becomes a session with the family's id, so
logins made before the upgrade keep working: it started with the family's
first token, was last used at its newest, ends 30 days after it started (the
default SESSION_MAX_LIFETIME_SECONDS) or when its newest token expires,
whichever is later, and is revoked when every one of its tokens was. A
refresh token is revoked when its session is: its own `revoked_at` goes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b0e9d1c2a47"
down_revision: str | None = "35ad13f4bf80"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index(op.f("ix_sessions_user_id"), "sessions", ["user_id"], unique=False)
    op.execute(
        """
        INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at)
        SELECT family_id, user_id, min(created_at), max(created_at),
               greatest(min(created_at) + interval '30 days', max(expires_at)),
               CASE WHEN bool_and(revoked_at IS NOT NULL) THEN max(revoked_at) END
        FROM refresh_tokens
        GROUP BY family_id, user_id
        """
    )
    op.create_foreign_key(
        op.f("fk_refresh_tokens_family_id_sessions"),
        "refresh_tokens",
        "sessions",
        ["family_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.drop_column("refresh_tokens", "revoked_at")


def downgrade() -> None:
    op.add_column("refresh_tokens", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE refresh_tokens SET revoked_at = sessions.revoked_at FROM sessions"
        " WHERE sessions.id = refresh_tokens.family_id AND sessions.revoked_at IS NOT NULL"
    )
    op.drop_constraint(op.f("fk_refresh_tokens_family_id_sessions"), "refresh_tokens", type_="foreignkey")
    op.drop_index(op.f("ix_sessions_user_id"), table_name="sessions")
    op.drop_table("sessions")
