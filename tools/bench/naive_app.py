"""The baseline for resource_bench.py: the same two reads written the way a
typical FastAPI tutorial writes them. Not used by the service.

What makes it "naive" (each is common in tutorials, none is a straw man):
- the engine has no pool (NullPool): every request opens and authenticates a
  new PostgreSQL connection (NAIVE_POOL=1 gives it a normal pool instead, to
  separate that cost from the rest);
- `get_current_user` loads the user row from the database on every request;
- handlers return ORM objects and let `response_model` serialise them;
- the list counts its rows with a second query, like the real service does,
  so both answer the same question (rows + total).

    gunicorn -k uvicorn_worker.UvicornWorker -w 1 deploy.bench.naive_app:app
    (env: DATABASE_URL, JWT_PUBLIC_KEY_FILE, NAIVE_POOL)
"""

import os
import uuid
from datetime import datetime
from pathlib import Path

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException, Response
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, Numeric, String, Uuid, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

engine = create_async_engine(
    os.environ["DATABASE_URL"], **({} if os.environ.get("NAIVE_POOL") == "1" else {"poolclass": NullPool})
)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
PUBLIC_KEY = Path(os.environ["JWT_PUBLIC_KEY_FILE"]).read_bytes()
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token")
app = FastAPI()


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    email: Mapped[str] = mapped_column(String)
    username: Mapped[str | None] = mapped_column(String)
    password_hash: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Bookmark(Base):
    __tablename__ = "bookmarks"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    url: Mapped[str] = mapped_column(String)
    title: Mapped[str] = mapped_column(String)
    description: Mapped[str | None] = mapped_column(String)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int]


class Item(Base):
    __tablename__ = "items"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    title: Mapped[str] = mapped_column(String)
    description: Mapped[str | None] = mapped_column(String)
    price: Mapped[float | None] = mapped_column(Numeric(12, 2))
    is_available: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int]


class BookmarkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    url: str
    title: str
    description: str | None
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    owner_id: uuid.UUID
    title: str
    description: str | None
    price: float | None
    is_available: bool
    created_at: datetime
    updated_at: datetime


async def get_db():  # as in the tutorials: no type, one session per dependency
    async with SessionLocal() as session:
        yield session


async def get_current_user(token: str = Depends(oauth2_scheme), db: AsyncSession = Depends(get_db)) -> User:
    try:
        payload = jwt.decode(token, PUBLIC_KEY, algorithms=["EdDSA"], audience="api", issuer="http://auth.local")
    except jwt.PyJWTError:
        raise HTTPException(status_code=401, detail="Could not validate credentials") from None
    user = await db.get(User, uuid.UUID(payload["sub"]))
    if user is None:
        raise HTTPException(status_code=401, detail="Could not validate credentials")
    return user


@app.get("/bookmarks/", response_model=list[BookmarkOut])
async def read_bookmarks(
    response: Response,
    skip: int = 0,
    limit: int = 20,
    user: User = Depends(get_current_user),
    db: AsyncSession = Depends(get_db),
) -> list[Bookmark]:
    total = await db.scalar(select(func.count()).select_from(Bookmark).where(Bookmark.owner_id == user.id))
    response.headers["X-Total-Count"] = str(total)
    result = await db.execute(
        select(Bookmark)
        .where(Bookmark.owner_id == user.id)
        .order_by(Bookmark.created_at.desc())
        .offset(skip)
        .limit(limit)
    )
    return list(result.scalars().all())


@app.get("/items/{item_id}", response_model=ItemOut)
async def read_item(
    item_id: uuid.UUID, user: User = Depends(get_current_user), db: AsyncSession = Depends(get_db)
) -> Item:
    item = await db.get(Item, item_id)
    if item is None or item.owner_id != user.id:
        raise HTTPException(status_code=404, detail="Item not found")
    return item


# The writes `make bench` measures, written the same tutorial way: a Pydantic
# model in, the ORM object out, commit per request.
class BookmarkIn(BaseModel):
    url: str
    title: str
    description: str | None = None
    tags: list[str] = []


class ItemPatch(BaseModel):
    title: str | None = None
    description: str | None = None
    price: float | None = None
    is_available: bool | None = None


def _etag(item: Item) -> str:
    return f'"{item.id}-{item.version}"'


@app.post("/bookmarks/", response_model=BookmarkOut, status_code=201)
async def create_bookmark(
    data: BookmarkIn, user: User = Depends(get_current_user), db: AsyncSession = Depends(get_db)
) -> Bookmark:
    now = datetime.now().astimezone()
    bookmark = Bookmark(
        id=uuid.uuid4(), owner_id=user.id, created_at=now, updated_at=now, version=1, **data.model_dump()
    )
    db.add(bookmark)
    await db.commit()
    await db.refresh(bookmark)
    return bookmark


@app.patch("/items/{item_id}", response_model=ItemOut)
async def update_item(
    item_id: uuid.UUID,
    data: ItemPatch,
    response: Response,
    if_match: str | None = Header(default=None),
    user: User = Depends(get_current_user),
    db: AsyncSession = Depends(get_db),
) -> Item:
    item = await db.get(Item, item_id)
    if item is None or item.owner_id != user.id:
        raise HTTPException(status_code=404, detail="Item not found")
    if if_match is not None and if_match != "*" and if_match != _etag(item):
        raise HTTPException(status_code=412, detail="Precondition failed")
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(item, field, value)
    item.version += 1
    item.updated_at = datetime.now().astimezone()
    await db.commit()
    await db.refresh(item)
    response.headers["ETag"] = _etag(item)
    return item
