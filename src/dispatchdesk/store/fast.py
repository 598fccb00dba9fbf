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
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import Compiled

__all__ = ["Prepared"]

_Proc = Callable[[Any], Any] | None


#: one remembered (value, stored form) per timestamp type and dialect, shared by every column
#: and statement of that type: an action's change, notices and audit entry all carry its `now`
_LAST: dict[tuple[str, str], list[tuple[Any, Any] | None]] = {}


def _remembering(proc: _Proc, type_: Any, dialect: Dialect) -> _Proc:
    """A timestamp's processor that remembers the last value it stored, for every column of
    that type: an action stamps several rows with the same `now`, formatted once."""
    if proc is None or not _is_datetime(type_):
        return proc
    cell = _LAST.setdefault((dialect.name, repr(type_)), [None])  # (value, out), swapped whole

    def process(value: Any) -> Any:
        pair = cell[0]
        if pair is not None and value is pair[0]:
            return pair[1]
        out = proc(value)
        if value is not None:
            cell[0] = (value, out)
        return out

    return process


def _is_datetime(type_: Any) -> bool:
    try:
        return type_.python_type is datetime
    except NotImplementedError:
        return False


class _Compiled:
    __slots__ = ("bind_at", "dialect", "fixed", "names", "positional", "procs", "results", "sql", "types")

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
            (name, _remembering(binds[name].type.dialect_impl(dialect).bind_processor(dialect),
                                binds[name].type, dialect))
            for name in names
        ]
        self.bind_at = [(i, p) for i, (_, p) in enumerate(self.procs) if p is not None]
        #: the values written into the statement itself (literals such as a setting's key)
        self.fixed = {name: binds[name].effective_value for name in names
                      if not binds[name].required and binds[name].key not in (column_keys or ())
                      and binds[name].value is not None}
        returned = getattr(stmt, "selected_columns", None)
        if returned is None:
            returned = getattr(stmt, "_returning", ()) or ()
        self.types = [col.type.dialect_impl(dialect) for col in returned]
        self.dialect = dialect
        #: the result processors, made at the first run (some need the driver's column type)
        self.results: list[tuple[int, Callable[[Any], Any]]] | None = None

    def result_procs(self, cursor: Any) -> list[tuple[int, Callable[[Any], Any]]]:
        """(position, processor) of the returned columns that have one."""
        if self.results is None:
            codes = [d[1] for d in cursor.description or ()]
            procs = [t.result_processor(self.dialect, code)
                     for t, code in zip(self.types, codes, strict=True)]
            self.results = [(i, p) for i, p in enumerate(procs) if p is not None]
        return self.results

    def params(self, values: Mapping[str, Any]) -> Any:
        if self.fixed:
            values = {**self.fixed, **values}
        if self.positional:
            out = [values[n] for n in self.names]
            for i, p in self.bind_at:
                out[i] = p(out[i])
            return out
        return {n: (p(values[n]) if p is not None else values[n]) for n, p in self.procs}


class Prepared:
    """A Core statement compiled once per dialect and run on a DBAPI cursor.

    `column_keys` for an INSERT/UPDATE whose values are given at run time (as
    ``Connection.execute(insert(t), {...})`` takes them): every key must then be given."""

    def __init__(self, stmt: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        self.stmt = stmt
        self.column_keys = column_keys
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        c = self._by_dialect.get(dialect.name)
        if c is None:
            c = self._by_dialect[dialect.name] = _Compiled(self.stmt, dialect, self.column_keys)
        return c

    def run(self, cursor: Any, dialect: Dialect, values: Mapping[str, Any] | None = None) -> Any:
        """Execute; the cursor (rowcount, lastrowid, fetch*)."""
        c = self._compiled(dialect)
        cursor.execute(c.sql, c.params(values or {}))
        return cursor

    def rows(self, cursor: Any, dialect: Dialect, values: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Execute and fetch every row, each value through its column type's result processor."""
        c = self._compiled(dialect)
        cursor.execute(c.sql, c.params(values or {}))
        raw = cursor.fetchall()
        procs = c.result_procs(cursor)
        out = []
        for r in raw:
            row = list(r)
            for i, p in procs:
                row[i] = p(row[i])
            out.append(tuple(row))
        return out

    def many(self, cursor: Any, dialect: Dialect, values: Sequence[Mapping[str, Any]]) -> Any:
        c = self._compiled(dialect)
        if len(values) == 1:
            cursor.execute(c.sql, c.params(values[0]))
        else:
            cursor.executemany(c.sql, [c.params(v) for v in values])
        return cursor
