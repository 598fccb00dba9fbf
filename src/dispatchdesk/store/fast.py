"""Statements compiled once and run on the unit of work's own DBAPI cursor (issue 13 item 3).

A checked action writes a handful of rows; on SQLite each statement takes SQLite a few
microseconds, while the ORM's unit of work, or even a Core `Connection.execute()` (execution
context, result set-up, parameter processing), costs ten times that. `Prepared` keeps what
SQLAlchemy's compiler made of a Core statement for the database's dialect (its SQL text, the
order of its parameters, each column type's bind and result processors) and runs it straight on
the DBAPI cursor of the transaction's connection: the same SQL and the same stored values as
the Core statement, in the same transaction, without the per-call machinery.

Only for statements built once at import (module constants); anything else goes through Core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import Compiled

__all__ = ["Prepared"]

_Proc = Callable[[Any], Any] | None


class _Compiled:
    __slots__ = ("dialect", "fixed", "names", "positional", "procs", "results", "sql", "types")

    def __init__(self, stmt: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled: Compiled = stmt.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        self.sql = compiled.string
        self.positional = bool(getattr(compiled, "positional", False))
        binds = compiled.binds  # type: ignore[attr-defined]
        if self.positional:
            names = list(compiled.positiontup or [])  # type: ignore[attr-defined]
        else:
            names = list(binds)
        self.names = names
        self.procs: list[tuple[str, _Proc]] = [
            (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names
        ]
        #: the values written into the statement itself (literals such as a setting's key)
        self.fixed = {name: binds[name].effective_value for name in names
                      if not binds[name].required and binds[name].key not in (column_keys or ())
                      and binds[name].value is not None}
        returned = getattr(stmt, "selected_columns", None)
        if returned is None:
            returned = getattr(stmt, "_returning", ()) or ()
        self.types = [col.type.dialect_impl(dialect) for col in returned]
        self.dialect = dialect
        #: each column's result processor, made at the first run (some need the driver's type)
        self.results: list[_Proc] | None = None

    def result_procs(self, cursor: Any) -> list[_Proc]:
        if self.results is None:
            codes = [d[1] for d in cursor.description or ()]
            self.results = [t.result_processor(self.dialect, code)
                            for t, code in zip(self.types, codes, strict=True)]
        return self.results

    def params(self, values: Mapping[str, Any]) -> Any:
        if self.fixed:
            values = {**self.fixed, **values}
        if self.positional:
            return tuple(p(values[n]) if p is not None else values[n] for n, p in self.procs)
        return {n: (p(values[n]) if p is not None else values[n]) for n, p in self.procs}


class Prepared:
    """A Core statement compiled once per dialect and run on a connection's DBAPI cursor.

    `column_keys` for an INSERT/UPDATE whose values are given at run time (as
    ``Connection.execute(insert(t), {...})`` takes them): every key must then be given."""

    def __init__(self, stmt: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        self.stmt = stmt
        self.column_keys = column_keys
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, conn: Connection) -> _Compiled:
        dialect = conn.dialect
        key = dialect.name
        c = self._by_dialect.get(key)
        if c is None:
            c = self._by_dialect[key] = _Compiled(self.stmt, dialect, self.column_keys)
        return c

    @staticmethod
    def cursor(conn: Connection) -> Any:
        """The DBAPI cursor of `conn`'s connection (in its transaction)."""
        return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def run(self, conn: Connection, cursor: Any, values: Mapping[str, Any] | None = None) -> Any:
        """Execute; the cursor (rowcount, fetch*)."""
        c = self._compiled(conn)
        cursor.execute(c.sql, c.params(values or {}))
        return cursor

    def rows(self, conn: Connection, cursor: Any, values: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Execute and fetch every row, each value through its column type's result processor."""
        c = self._compiled(conn)
        cursor.execute(c.sql, c.params(values or {}))
        raw = cursor.fetchall()
        procs = c.result_procs(cursor)
        if not any(procs):
            return [tuple(r) for r in raw]
        return [tuple(p(v) if p is not None else v for p, v in zip(procs, r, strict=True)) for r in raw]

    def many(self, conn: Connection, cursor: Any, values: Sequence[Mapping[str, Any]]) -> Any:
        c = self._compiled(conn)
        cursor.executemany(c.sql, [c.params(v) for v in values])
        return cursor
