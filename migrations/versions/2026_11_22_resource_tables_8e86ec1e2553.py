"""resource tables

Revision ID: 8e86ec1e2553
Revises: 87f5ce62b3b1
Create Date: 2026-11-22 02:35:20.699757+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "8e86ec1e2553"
down_revision: str | None = "87f5ce62b3b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bookmarks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=32)), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_bookmarks_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookmarks")),
        sa.UniqueConstraint("owner_id", "url", name="uq_bookmarks_owner_url"),
    )
    op.create_index("ix_bookmarks_owner_created", "bookmarks", ["owner_id", "created_at", "id"], unique=False)
    op.create_index("ix_bookmarks_owner_title", "bookmarks", ["owner_id", "title", "id"], unique=False)
    op.create_index("ix_bookmarks_tags", "bookmarks", ["tags"], unique=False, postgresql_using="gin")
    op.create_table(
        "items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("is_available", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_items_owner_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
    )
    op.create_index("ix_items_owner_created", "items", ["owner_id", "created_at", "id"], unique=False)
    op.create_index("ix_items_owner_price", "items", ["owner_id", "price", "id"], unique=False)
    op.create_index("ix_items_owner_title", "items", ["owner_id", "title", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_items_owner_title", table_name="items")
    op.drop_index("ix_items_owner_price", table_name="items")
    op.drop_index("ix_items_owner_created", table_name="items")
    op.drop_table("items")
    op.drop_index("ix_bookmarks_tags", table_name="bookmarks", postgresql_using="gin")
    op.drop_index("ix_bookmarks_owner_title", table_name="bookmarks")
    op.drop_index("ix_bookmarks_owner_created", table_name="bookmarks")
    op.drop_table("bookmarks")
