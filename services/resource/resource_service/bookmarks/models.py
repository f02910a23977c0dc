from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from resource_service.owned.models import OwnedMixin, trigram_indexes
from servicekit.db import Base

UNIQUE_URL = "uq_bookmarks_owner_url"


class Bookmark(OwnedMixin, Base):
    __tablename__ = "bookmarks"
    # One URL once per user; the same index serves the `url` sort. The other
    # sorts have their own (owner, column, id) index; `q` filters within the
    # owner's rows. The `tag` filter (`tags @> ...`) uses the GIN index; a
    # selective `q` (ILIKE '%text%') finds its rows by trigram (pg_trgm).
    __table_args__ = (
        UniqueConstraint("owner_id", "url", name=UNIQUE_URL),
        Index("ix_bookmarks_owner_created", "owner_id", "created_at", "id"),
        Index("ix_bookmarks_owner_title", "owner_id", "title", "id"),
        Index("ix_bookmarks_tags", "tags", postgresql_using="gin"),
        *trigram_indexes("bookmarks", "title", "url", "description"),
    )

    # Normalised before it is stored (see schemas.Url), so equal URLs collide.
    url: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list, server_default="{}")
