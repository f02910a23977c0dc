"""schema history: every revision the database has been migrated through

Revision ID: 778b776fc121
Revises: 8e86ec1e2553
Create Date: 2026-11-30 04:20:00+00:00

Readiness needs it: during a rollout (and after a `rollout undo`) the
database may be ahead of a pod's code. A pod is ready when the database's
revision is its own head or a descendant of it, which only this table can
tell a pod whose code does not know the newer revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "778b776fc121"
down_revision: str | None = "8e86ec1e2553"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schema_history",
        sa.Column("revision", sa.String(length=32), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_schema_history")),
    )


def downgrade() -> None:
    op.drop_table("schema_history")
