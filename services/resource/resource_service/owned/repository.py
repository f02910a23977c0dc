"""Every query on owned rows. Each query is scoped to the owner: a row of
another user is indistinguishable from a row that does not exist."""

import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Numeric,
    Select,
    String,
    Text,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from resource_service.owned.models import row_counts, users
from resource_service.owned.schemas import ListQuery, make_cursor
from servicekit.db import FOREIGN_KEY_VIOLATION, UNIQUE_VIOLATION, sqlstate, violated_constraint
from servicekit.errors import Unauthorized


class AccountGone(Unauthorized):
    default_detail = "The account no longer exists."


class DuplicateKey(Exception):
    """A unique constraint refused a write; the domain says what that means."""

    def __init__(self, constraint: str | None) -> None:
        super().__init__(constraint)
        self.constraint = constraint


def _utc_text(column: ColumnElement[Any]) -> ColumnElement[str]:
    """A timestamp as Pydantic writes it: ISO 8601 in UTC with a `Z`, six
    digits of fraction unless the fraction is zero, then none."""
    text = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US')
    return func.concat(func.regexp_replace(text, r"\.000000$", ""), "Z")


def _as_json_value(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A column as the Read schema writes it: timestamps as above, exact
    decimals as strings with their two places; the rest as they are."""
    if isinstance(column.type, DateTime):
        return _utc_text(column)
    if isinstance(column.type, Numeric):
        return cast(column, Text)
    return column


def _contains(text: str) -> str:
    """An ILIKE pattern matching `text` literally anywhere."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# See OwnedRepository._planned_for_its_values.
_PLAN_FOR_VALUES = text("SET plan_cache_mode = force_custom_plan")
_PLAN_AS_USUAL = text("RESET plan_cache_mode")

# Statements built once per shape (see OwnedRepository._statement).
_STATEMENTS: dict[tuple[Any, ...], Any] = {}


# What a statement answers: rows of any shape.
Rows = Result[*tuple[Any, ...]]

# A list query's conditions: bind parameter name -> its value.
Conditions = dict[str, Any]


def _narrowed(conditions: Conditions) -> bool:
    """Whether a list is filtered beyond its owner (`q`, a kind's filter)."""
    return list(conditions) != ["owner_id"]


def _row(owner_id: uuid.UUID, row_id: uuid.UUID, version: int | None = None) -> dict[str, Any]:
    """The bind parameters naming one of the owner's rows (`_the_row`)."""
    return {"row_id": row_id, "row_owner_id": owner_id, "row_version": version}


class Page(NamedTuple):
    """A page of rows as a JSON array, how many match in all, and the cursor
    of the page after it (None on the last page)."""

    body: bytes
    total: int
    next_cursor: str | None


class OwnedRepository:
    model: ClassVar[type[Any]]
    noun: ClassVar[str]
    # Columns `q` searches (ILIKE, each column with its trigram index: a
    # selective text finds its few rows there, a common one within the
    # owner's rows by the owner index - the planner chooses).
    search_columns: ClassVar[Sequence[InstrumentedAttribute[Any]]] = ()

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _execute(self, statement: Any, parameters: Mapping[str, Any] | None = None) -> Rows:
        """Run `statement` on the session's connection. Every statement here
        is SQL on tables, answered as rows of plain values: the ORM's
        execution layer around it (a seventh of a list's time in a profile)
        would only look for entities that are not there."""
        connection = await self.session.connection()
        rows: Rows = await connection.execute(statement, parameters)
        return rows

    async def _scalar(self, statement: Any, parameters: Mapping[str, Any] | None = None) -> Any:
        return (await self._execute(statement, parameters)).scalar()

    def filters(self, query: ListQuery) -> dict[str, Any]:
        """The kind's own filters the query asks for: the name of each one's
        bind parameter -> its value (see `filter_clause`). The owner and `q`
        apply to every kind."""
        return {}

    def filter_clause(self, name: str) -> ColumnElement[bool]:
        """The clause of the kind's filter `name`, on the bind parameter of
        that name."""
        raise KeyError(name)

    def _conditions(self, query: ListQuery) -> Conditions:
        """The values of a list query's conditions, by the name of their bind
        parameter (the owner's is set by `list_parameters`)."""
        conditions: Conditions = {"owner_id": None}
        if query.q is not None:
            conditions["q"] = _contains(query.q)
        return {**conditions, **self.filters(query)}

    def _clause(self, name: str) -> ColumnElement[bool]:
        """The clause of the condition `name` (see `_conditions`): built only
        when a statement of its shape is, never per request."""
        if name == "owner_id":
            owner: ColumnElement[bool] = self.model.owner_id == bindparam("owner_id")
            return owner
        if name == "q":
            pattern = bindparam("q", type_=String)
            return or_(*(column.ilike(pattern, escape="\\") for column in self.search_columns))
        return self.filter_clause(name)

    def list_parameters(
        self, owner_id: uuid.UUID, query: ListQuery, conditions: Conditions | None = None
    ) -> dict[str, Any]:
        """The values of a list statement's bind parameters (`conditions`:
        the query's, when the caller has them already)."""
        conditions = self._conditions(query) if conditions is None else conditions
        after_key, after_id = query.after or (None, None)
        return {
            **conditions,
            "owner_id": owner_id,
            "limit": query.limit,
            "offset": query.offset,
            "after_key": after_key,
            "after_id": after_id,
        }

    def _where(self, query: ListQuery) -> list[ColumnElement[bool]]:
        return [self._clause(name) for name in self._conditions(query)]

    def _order_by(self, sort: str) -> list[ColumnElement[Any]]:
        # The id breaks ties in the same direction, so pages never overlap or
        # skip rows, and every (owner_id, <column>, id) index serves the order
        # forwards or backwards.
        name, descending = sort.removeprefix("-"), sort.startswith("-")
        columns = [getattr(self.model, name), self.model.id]
        return [column.desc() if descending else column.asc() for column in columns]

    def _start(self, query: ListQuery) -> str:
        """Where a page starts, as far as its statement's shape goes: at an
        offset, after a cursor's row, or - sorting by a nullable column -
        after a cursor's row that holds NULL."""
        if query.after is None:
            return "offset"
        nullable = self.model.__table__.c[query.sort.removeprefix("-")].nullable
        return "after null" if nullable and query.after[0] is None else "after"

    def _after(self, sort: str, start: str) -> ColumnElement[bool]:
        """The rows after the cursor's (`after_key`, `after_id`) in `sort`'s
        order: a row comparison the (owner, column, id) index serves. A
        nullable column's NULLs come last ascending and first descending
        (PostgreSQL's order, and the index's), beyond any comparison."""
        name, descending = sort.removeprefix("-"), sort.startswith("-")
        column, row_id = self.model.__table__.c[name], self.model.id
        after_id = bindparam("after_id", type_=Uuid)
        if start == "after null":
            if descending:  # the NULLs come first: the rest of them, then every value
                return or_(column.is_not(None), row_id < after_id)
            return and_(column.is_(None), row_id > after_id)  # the NULLs come last: the rest of them
        position, cursor = tuple_(column, row_id), tuple_(bindparam("after_key", type_=column.type), after_id)
        if descending:
            return position < cursor  # NULLs, first, are behind us; a comparison with NULL is never true
        beyond = position > cursor
        return or_(beyond, column.is_(None)) if column.nullable else beyond

    def page_statement(self, query: ListQuery) -> Select[Any]:
        """One page of the owner's rows and the first row of the next page if
        there is one (`limit` + 1), whole, numbered in their order (`_n`)."""
        order = self._order_by(query.sort)
        start = self._start(query)
        after = [self._after(query.sort, start)] if start != "offset" else []
        return (
            select(self.model.__table__, func.row_number().over(order_by=order).label("_n"))
            .where(*self._where(query), *after)
            .order_by(*order)
            .limit(bindparam("limit", type_=Integer) + 1)
            .offset(bindparam("offset", type_=Integer))
        )

    def count_statement(self, query: ListQuery) -> Select[Any]:
        """How many rows match: the owner's kept count when nothing narrows
        the list (exact, and read in the page's own snapshot), else counted."""
        if not _narrowed(self._conditions(query)):
            return select(self._kept_count(bindparam("owner_id")))
        return select(func.count()).select_from(self.model).where(*self._where(query))

    def _kept_count(self, owner_id: ColumnElement[Any]) -> ColumnElement[int]:
        """The owner's row count the database keeps (see models.row_counts):
        one primary-key lookup; no row there means none."""
        kept = select(row_counts.c.rows).where(
            row_counts.c.owner_id == owner_id, row_counts.c.kind == self.model.__tablename__
        )
        return func.coalesce(kept.scalar_subquery(), 0)

    @staticmethod
    def _documents(rows: Any, fields: Sequence[str]) -> Any:
        """A LATERAL subquery turning each row of `rows` into its JSON text,
        `fields` in order, compact as row_to_json writes it: the bytes
        Pydantic would write for the Read schema."""
        columns = [_as_json_value(rows.c[name]).label(name) for name in fields]
        document = select(*columns).correlate(rows).lateral("doc")
        as_text = func.row_to_json(document.table_valued()).cast(Text).label("doc")
        return select(as_text).select_from(document).lateral("d")

    def _page_json_statement(self, query: ListQuery, fields: tuple[str, ...]) -> Select[Any]:
        """The statement of `page_json` for queries shaped like `query` (the
        same sort, the same filters present, the same kind of start)."""
        rows = self.page_statement(query).subquery("p")
        documents = self._documents(rows, fields)
        # `_n` numbers the rows from the offset's start: the page ends at
        # offset + limit, and a row beyond it means there is a next page.
        # (In bigint, as `_n` is: the largest offset plus a limit overflows an integer.)
        end = cast(bindparam("offset", type_=Integer), BigInteger) + bindparam("limit", type_=Integer)
        in_page = func.array_agg(aggregate_order_by(documents.c.doc, rows.c._n)).filter(rows.c._n <= end)
        # The page's last row, which the next page's cursor names.
        last = rows.c._n == end
        key = func.array_agg(rows.c[query.sort.removeprefix("-")]).filter(last)
        return select(
            self.count_statement(query).scalar_subquery(),
            func.concat("[", func.array_to_string(in_page, ","), "]"),
            func.max(rows.c._n) > end,
            key,
            func.array_agg(rows.c.id).filter(last),
        ).select_from(rows.join(documents, true()))

    async def page_json(self, owner_id: uuid.UUID, query: ListQuery, fields: tuple[str, ...]) -> Page:
        """One page of the owner's rows as a JSON array PostgreSQL wrote, how
        many match in all, and the next page's cursor: one statement, one
        round trip, whatever the page (past its end too; the count is an
        uncorrelated subquery, one InitPlan). No row is loaded into Python:
        the bytes pass through."""
        conditions = self._conditions(query)
        shape = ("page", fields, query.sort, tuple(conditions), self._start(query))
        statement = self._statement(shape, lambda: self._page_json_statement(query, fields))
        async with self._planned_for_its_values(filtered=_narrowed(conditions)):
            found = (await self._execute(statement, self.list_parameters(owner_id, query, conditions))).one()
        total, body, more, keys, ids = found
        next_cursor = make_cursor(query.sort, keys[0], ids[0]) if more else None
        return Page(body.encode(), total, next_cursor)

    @asynccontextmanager
    async def _planned_for_its_values(self, *, filtered: bool) -> AsyncIterator[None]:
        """Have PostgreSQL plan a filtered list for the values it is given.

        A statement is prepared once per connection, and after five runs
        PostgreSQL may keep a generic plan, made without the values. A
        filter's best plan depends on them: a rare `q` is found by its
        trigram indexes in a few rows, a common one by reading the owner's
        rows in order; a generic plan reads every row of the owner, 150 ms
        for a rare word at a million rows instead of 4 (docs/benchmarks.md).
        The unfiltered lists keep their cached plans: theirs never depends
        on the values."""
        if not filtered:
            yield
            return
        await self._execute(_PLAN_FOR_VALUES)
        try:
            yield
        finally:
            await self._execute(_PLAN_AS_USUAL)

    async def get_json(
        self, owner_id: uuid.UUID, row_id: uuid.UUID, fields: tuple[str, ...]
    ) -> tuple[bytes, int] | None:
        """The owner's row as JSON PostgreSQL wrote, and its version."""

        def build() -> Select[Any]:
            row = select(self.model.__table__).where(*self._the_row(at_version=False)).subquery("p")
            documents = self._documents(row, fields)
            return select(documents.c.doc, row.c.version).select_from(row.join(documents, true()))

        found = (await self._execute(self._statement(("row", fields), build), _row(owner_id, row_id))).first()
        return (found[0].encode(), found[1]) if found else None

    async def owner_exists(self, owner_id: uuid.UUID) -> bool:
        """Whether the account still exists: asked only when a lookup found
        nothing, never on the happy path."""
        # Only `users.id`: the one column the resource role may read.
        return await self._scalar(select(users.c.id).where(users.c.id == owner_id)) is not None

    def _returning_json(self, write: Any, fields: tuple[str, ...]) -> Select[Any]:
        """`write` (an INSERT or UPDATE ... RETURNING the whole row) answering
        with the row as JSON, as `get_json` writes it, and its version."""
        written = write.returning(*self.model.__table__.c).cte("written")
        documents = self._documents(written, fields)
        return select(documents.c.doc, written.c.version).select_from(written.join(documents, true()))

    # The writes' bind parameters are named apart from the columns (`new_url`,
    # `row_id`): SQLAlchemy takes a parameter named like a column of an
    # INSERT or UPDATE for a value to set.

    async def insert_json(
        self, values: Mapping[str, Any], quota: int, fields: tuple[str, ...]
    ) -> tuple[bytes, uuid.UUID, int] | None:
        """Insert a row of `values` (its owner among them) unless the owner
        already holds `quota` rows: the row as JSON, its id and its version,
        or None at the quota. One statement: the count and the insert are one
        round trip (a burst of parallel creates may pass the quota by at most
        the burst, which the per-account write limit bounds)."""
        row = {"id": uuid.uuid4(), "version": 1, **values}

        def build() -> Select[Any]:
            table = self.model.__table__
            new = {name: bindparam(f"new_{name}", type_=table.c[name].type) for name in row}
            below_quota = self._kept_count(new["owner_id"]) < bindparam("quota", type_=Integer)
            write = insert(table).from_select(list(new), select(*new.values()).where(below_quota))
            return self._returning_json(write, fields)

        statement = self._statement(("insert", fields, tuple(row)), build)
        parameters = {**{f"new_{name}": value for name, value in row.items()}, "quota": quota}
        async with self._refusals():
            found = (await self._execute(statement, parameters)).first()
        return (found[0].encode(), row["id"], found[1]) if found else None

    async def update_json(
        self,
        owner_id: uuid.UUID,
        row_id: uuid.UUID,
        changes: Mapping[str, Any],
        version: int | None,
        fields: tuple[str, ...],
    ) -> tuple[bytes, int] | None:
        """Apply `changes` to the owner's row - only while it is still at
        `version`, when given - and answer with the row as JSON and its
        version; None when no such row (or not at that version). A change
        that changes nothing leaves the row, its version and its
        `updated_at` as they were."""

        def build() -> Select[Any]:
            table = self.model.__table__
            columns = [table.c[name] for name in changes]
            new = [bindparam(f"new_{column.name}", type_=column.type) for column in columns]
            changed = tuple_(*columns).is_distinct_from(tuple_(*new)) if columns else false()
            assignments: dict[Any, Any] = dict(zip(columns, new, strict=True))
            assignments[table.c.version] = case((changed, table.c.version + 1), else_=table.c.version)
            assignments[table.c.updated_at] = case((changed, func.now()), else_=table.c.updated_at)
            write = update(table).where(*self._the_row(at_version=version is not None)).values(assignments)
            return self._returning_json(write, fields)

        statement = self._statement(("update", fields, tuple(changes), version is None), build)
        parameters = {f"new_{name}": value for name, value in changes.items()}
        async with self._refusals():
            found = (await self._execute(statement, {**parameters, **_row(owner_id, row_id, version)})).first()
        return (found[0].encode(), found[1]) if found else None

    async def version_of(self, owner_id: uuid.UUID, row_id: uuid.UUID) -> int | None:
        """The owner's row's version (what its ETag is made of), or None."""

        def build() -> Select[Any]:
            return select(self.model.version).where(*self._the_row(at_version=False))

        version: int | None = await self._scalar(self._statement(("version",), build), _row(owner_id, row_id))
        return version

    async def delete(self, owner_id: uuid.UUID, row_id: uuid.UUID, version: int | None) -> bool:
        """Delete the owner's row - only while it is still at `version`, when
        given; whether it was."""

        def build() -> Any:
            table = self.model.__table__
            return delete(table).where(*self._the_row(at_version=version is not None)).returning(table.c.id)

        statement = self._statement(("delete", version is None), build)
        return await self._scalar(statement, _row(owner_id, row_id, version)) is not None

    def _the_row(self, *, at_version: bool) -> list[ColumnElement[bool]]:
        """One of the owner's rows by id (and at a version): see `_row`."""
        table = self.model.__table__
        conditions = [table.c.id == bindparam("row_id"), table.c.owner_id == bindparam("row_owner_id")]
        return conditions + ([table.c.version == bindparam("row_version")] if at_version else [])

    def _statement(self, shape: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """The statement of this kind for `shape`, built once: every value is
        a bind parameter, so building it - and SQLAlchemy's cache key of it -
        is not paid per request."""
        key = (type(self), *shape)
        statement = _STATEMENTS.get(key)
        if statement is None:
            statement = _STATEMENTS[key] = build()
        return statement

    @asynccontextmanager
    async def _refusals(self) -> AsyncIterator[None]:
        """Translate what the database refuses a write for. Each write is a
        statement of its own (see ResourceState.autocommit_writes): a refused
        one leaves nothing behind, and the domain may still look up the row it
        collided with."""
        try:
            yield
        except IntegrityError as exc:
            code = sqlstate(exc)
            if code == FOREIGN_KEY_VIOLATION:
                # The only foreign key is the owner: the account was deleted
                # while its access token is still valid.
                raise AccountGone() from None
            if code == UNIQUE_VIOLATION:
                raise DuplicateKey(violated_constraint(exc)) from None
            raise
