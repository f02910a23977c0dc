from decimal import Decimal

from sqlalchemy import Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from resource_service.owned.models import OwnedMixin, trigram_indexes
from servicekit.db import Base


class Item(OwnedMixin, Base):
    __tablename__ = "items"
    # Every list query is "this owner's rows in this order": one index per
    # sort column, led by the owner and ending in the id tie-break, scanned
    # forwards or backwards. Filters (`q`, `is_available`) run within the
    # owner's rows; the price index also serves `min_price`/`max_price`. A
    # selective `q` (ILIKE '%text%') finds its rows by trigram (pg_trgm).
    __table_args__ = (
        Index("ix_items_owner_created", "owner_id", "created_at", "id"),
        Index("ix_items_owner_title", "owner_id", "title", "id"),
        Index("ix_items_owner_price", "owner_id", "price", "id"),
        *trigram_indexes("items", "title", "description"),
    )

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    # Exact: NUMERIC(12, 2), up to 9,999,999,999.99.
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    is_available: Mapped[bool] = mapped_column(default=True, server_default="true")
