"""Import of the JSON export's shape (see ``services.export.json``) into a depot.

Import checks every record and names every problem with its record (``orders[3]
(number 'DD-000004'), lines[0]: 'quantity' must be …``); it writes nothing unless every
record is right: it all happens in one transaction, rolled back at the first sign of a
problem (the checks go on, so that every problem is named).

The file is read as a stream (``_JsonStream``), a record at a time, and checked and written
in batches of ``BATCH`` records, so memory does not grow with the file: what the checks need
to know about the rest of the file (the order numbers, notice ids and cancellation numbers
seen so far, and where) is kept in a temporary table of the same transaction.

Each record is checked in two steps: its schema (declared below with pydantic, the field
types and limits of services.validation and domain.limits: every wrong field of the record
is named), then the checks that need the depot or the rest of the file (partners, numbers
used twice, references). References are checked in every record; the checks that combine
fields of one record (a Dispatched order needs its assignee, deliver_by after pickup_after,
an article twice) run once its fields are right.

Partners are never imported here: they carry secrets, and they are set up with
``dispatchdesk partner add``. An import refers to partners by name.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import IO, Annotated, Any, NoReturn, TypeVar, cast

from pydantic import AfterValidator, ConfigDict, PlainValidator, Strict
from pydantic_core import PydanticCustomError
from sqlalchemy import JSON, Boolean, bindparam, func, insert, select, text, update
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.orm import Session
from sqlalchemy.schema import Table

from ..domain import (
    Direction,
    DocumentKind,
    NoticeKind,
    NoticeState,
    ReasonCode,
    Role,
    Status,
    Transport,
    limits,
)
from ..domain.automation import NAME_LIMIT as RULE_NAME_LIMIT
from ..domain.automation import TEXT_LIMIT as RULE_TEXT_LIMIT
from ..domain.automation import (
    Condition,
    ConditionKind,
    Effect,
    EffectKind,
    Rule,
    RuleError,
    Trigger,
    TriggerKind,
    check_rules,
)
from ..domain.limits import lone_surrogate
from ..store.bulk import OrderTriggersOff
from ..store.models import (
    AuditEntry,
    AutomationRule,
    Backorder,
    Cancellation,
    Document,
    FollowUp,
    Notice,
    Order,
    OrderLine,
    Partner,
    Tag,
    UTCDateTime,
)
from ..text import clean
from .core import Depot, InvalidInput, next_number
from .rulefold import load_rules, rules_changed
from .validation import (
    NOT_BLANK,
    Flag,
    FreeObject,
    Kilos,
    RequiredText,
    Schema,
    Text,
    ValidationError,
    When,
    bounds,
    longest,
    one_of,
    parsed,
    shown,
    type_name,
)
from .validation import (
    problems as schema_problems,
)

__all__ = ["ImportResult", "import_json"]

#: SQLite accepts at most 32766 bound values per statement; stay well below.
_CHUNK = 900


# =========================================================================== import


@dataclass(frozen=True)
class ImportResult:
    source: str
    orders: int = 0
    notices: int = 0
    followups: int = 0
    #: the numbers given to orders that came without one
    new_numbers: tuple[str, ...] = ()
    rules: int = 0

    def summary(self) -> str:
        n = self.orders
        parts = [f"{n:,} order{'s' if n != 1 else ''}"]
        parts.append(f"{self.notices:,} notice{'s' if self.notices != 1 else ''}")
        parts.append(f"{self.followups:,} follow-up{'s' if self.followups != 1 else ''}")
        if self.rules:
            parts.append(f"{self.rules} rule{'s' if self.rules != 1 else ''}")
        return f"Imported {', '.join(parts)} from {self.source}."


#: import_progress(bytes read, file size): called now and then while a file is imported
ImportProgress = Callable[[int, int], None]

_SECTIONS = ("orders", "notices", "followups")  # read a record at a time
#: every top-level key; "rules" (a depot's few automation rules) is read whole
_TOP_KEYS = (*_SECTIONS, "rules")
_WS = re.compile(r"[ \t\n\r]*")


class _JsonStream:
    """One JSON file read a record at a time: the top-level object's lists are given one
    element at a time (``records``), each parsed by the standard library's C decoder
    (``raw_decode``), so the values and the error messages (line and column) are those of
    ``json.loads``, in one pass, whatever the order of the keys, and memory holds about a
    megabyte of the file. A record longer than ``MAX_RECORD`` is refused."""

    CHUNK = 1 << 20
    MAX_RECORD = 16 << 20

    def __init__(self, f: IO[bytes], name: str, size: int) -> None:
        self.f, self.name, self.size = f, name, size
        self.dec = codecs.getincrementaldecoder("utf-8-sig")()
        self.scan = json.JSONDecoder().raw_decode
        self.buf, self.pos, self.eof = "", 0, False
        self.lines_before = 0  # newlines in the text already let go
        self.col_before = 0  # characters after the last of them
        self.bytes_read = 0
        self.byte_lines = 0
        #: top-level keys other than the lists, with their values (for the shape's problems)
        self.others: list[tuple[str, Any]] = []
        self.lists: set[str] = set()

    # ------------------------------------------------------------------ reading
    def _more(self, want: int = 0) -> bool:
        """Read another piece of the file; False at its end."""
        if self.eof:
            return False
        raw = self.f.read(max(self.CHUNK, want))
        self.bytes_read += len(raw)
        try:
            text = self.dec.decode(raw, final=not raw)
        except UnicodeDecodeError as e:
            line = self.byte_lines + raw[: max(0, e.start)].count(b"\n") + 1
            byte = self.bytes_read - len(raw) + max(0, e.start) + 1
            raise InvalidInput(f"{self.name}: line {line}: not UTF-8 text (byte {byte}); nothing was imported.") from None
        self.byte_lines += raw.count(b"\n")
        if not raw:
            self.eof = True
        if self.pos:
            self._let_go()
        self.buf += text
        return bool(raw) or bool(text)

    def _let_go(self) -> None:
        p, b = self.pos, self.buf
        k = b.count("\n", 0, p)
        if k:
            self.lines_before += k
            self.col_before = p - b.rfind("\n", 0, p) - 1
        else:
            self.col_before += p
        self.buf, self.pos = b[p:], 0

    def _peek(self) -> str:
        """The next character that is not white space ('' at the end of the file)."""
        while True:
            m = _WS.match(self.buf, self.pos)
            self.pos = m.end() if m else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return ""

    def _fail(self, pos: int, msg: str) -> NoReturn:
        b = self.buf
        k = b.count("\n", 0, pos)
        if k:
            line, col = self.lines_before + k + 1, pos - b.rfind("\n", 0, pos)
        else:
            line, col = self.lines_before + 1, self.col_before + pos + 1
        raise InvalidInput(f"{self.name}: not valid JSON at line {line}, column {col}: {msg}; nothing was imported.")

    def value(self) -> Any:
        self._peek()
        want = self.CHUNK
        while True:
            try:
                v, end = self.scan(self.buf, self.pos)
            except json.JSONDecodeError as e:
                if not self.eof and len(self.buf) - self.pos < self.MAX_RECORD:
                    self._more(want)
                    want *= 2
                    continue
                if not self.eof:
                    raise InvalidInput(f"{self.name}: a record longer than {self.MAX_RECORD >> 20} MB, or not valid "
                                       "JSON; nothing was imported.") from None
                self._fail(e.pos, e.msg)
            except RecursionError:
                raise InvalidInput(f"{self.name}: the JSON is nested too deeply; nothing was imported.") from None
            except ValueError as e:  # a number of more than 4300 digits (sys.int_max_str_digits)
                m = re.search(r"has (\d+) digits", str(e))
                size = f"a number of {m.group(1)} digits" if m else "a number too long to read"
                raise InvalidInput(f"{self.name}: not valid JSON: it holds {size}; nothing was imported.") from None
            if end == len(self.buf) and not self.eof and self._more(want):
                continue  # a number may go on in the next piece
            self.pos = end
            return v

    def _step(self, close: str) -> bool:
        """After a value: True if a comma follows, False if ``close`` does."""
        c = self._peek()
        if c == ",":
            self.pos += 1
            return True
        if c == close:
            self.pos += 1
            return False
        self._fail(self.pos, "Expecting ',' delimiter")

    def records(self, source: str) -> Iterator[tuple[str, int, Any]]:
        """(list, index, record) for every element of the top-level lists, in file order."""
        c = self._peek()
        if c != "{":
            if c == "":
                self._fail(self.pos, "Expecting value")
            raise InvalidInput(
                f"{source}: the file must hold one JSON object with \"orders\" (and optionally "
                f"\"notices\" and \"followups\"), not {type_name(self.value())}; nothing was imported."
            )
        self.pos += 1
        if self._peek() == "}":
            self.pos += 1
        else:
            while True:
                if self._peek() != '"':
                    self._fail(self.pos, "Expecting property name enclosed in double quotes")
                key = self.value()
                if self._peek() != ":":
                    self._fail(self.pos, "Expecting ':' delimiter")
                self.pos += 1
                if key in _SECTIONS and self._peek() == "[":
                    self.pos += 1
                    self.lists.add(key)
                    if self._peek() == "]":
                        self.pos += 1
                    else:
                        i = 0
                        while True:
                            yield key, i, self.value()
                            i += 1
                            if not self._step("]"):
                                break
                else:
                    self.others.append((key, self.value()))
                if not self._step("}"):
                    break
        if self._peek() != "":
            self._fail(self.pos, "Extra data")


def _open_stream(path: str | os.PathLike[str]) -> tuple[_JsonStream, IO[bytes]]:
    p = Path(path).expanduser()
    try:
        f = p.open("rb")
        size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise InvalidInput(f"{p}: no such file; nothing was imported.") from None
    except IsADirectoryError:
        raise InvalidInput(f"{p} is a directory, not a JSON file; nothing was imported.") from None
    except OSError as e:
        raise InvalidInput(f"{p}: cannot read it ({e.strerror or e}); nothing was imported.") from None
    if p.is_dir():
        f.close()
        raise InvalidInput(f"{p} is a directory, not a JSON file; nothing was imported.")
    return _JsonStream(f, str(p), size), f


class _Where:
    """A record's place in the file, worded only when a problem names it (most never do)."""

    __slots__ = ("source", "kind", "i", "key", "value")

    def __init__(self, source: str, kind: str, i: int, key: str = "", value: str | None = None) -> None:
        self.source, self.kind, self.i, self.key, self.value = source, kind, i, key, value

    def __str__(self) -> str:
        label = f" ({self.key} {shown(self.value)})" if self.value is not None else ""
        return f"{self.source}: {self.kind}[{self.i}]{label}"


class _Problems:
    """Every problem counted; the first ``KEEP`` worded (a file of a million bad records
    must not fill the memory with sentences)."""

    KEEP = 1000

    def __init__(self) -> None:
        self.items: list[str] = []
        self.count = 0

    def add(self, where: str | _Where, text: str) -> None:
        self.count += 1
        if self.count <= self.KEEP:
            self.items.append(f"{where}: {text}")

    def schema(self, where: str | _Where, error: ValidationError) -> None:
        for p in schema_problems(error):
            self.add(f"{where}, {p.place}" if p.place else where, p.sentence)

    def __bool__(self) -> bool:
        return self.count > 0


# --------------------------------------------------------------------------- the schemas
# What each record of the file must be, declared; the checks that need the depot or the
# rest of the file (partners, numbers, references) follow in _check.

_STATUSES = ", ".join(x.label for x in Status)
_REASONS = ", ".join(x.value for x in ReasonCode)
_CANCELLATION_STATES = ("done", "pending", "refused", "undone")


def _tag(value: str) -> str:
    t = " ".join(value.split())
    if not t:
        raise PydanticCustomError("dd_plain", "{text}", {"text": "must be non-empty text."})
    if len(t) > limits.TAG:
        raise PydanticCustomError("dd_plain", "{text}", {"text": f"is longer than {limits.TAG} characters."})
    return t


def _quantities(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise PydanticCustomError("dd_keyed", "{text}", {"text": f"must be an object, not {type_name(value)}."})
    for art, q in value.items():
        found = lone_surrogate(art)
        if found is not None:
            raise PydanticCustomError("dd_keyed", "{text}", {"text": (
                f"holds a lone surrogate (\\u{ord(found):04x}) in an article, which UTF-8 cannot store.")})
        if not limits.CANCELLED.holds(q):
            raise PydanticCustomError("dd_plain", "{text}", {"text": (
                f"the quantity of {shown(art)} must be a whole number {limits.CANCELLED.words}.")})
    return value


def _state(v: str) -> str:
    if v not in _CANCELLATION_STATES:
        raise ValueError(v)
    return v


_Name = Annotated[str, Strict(), longest(limits.PARTNER_NAME)]
_Number = Annotated[str, Strict(), longest(limits.ORDER_NUMBER)]
_Short = Annotated[str, Strict(), longest(100)]
_Article = Annotated[str, Strict(), longest(limits.ARTICLE), NOT_BLANK]
_Quantity = Annotated[int, Strict(), bounds(limits.QUANTITY)]
_Status = Annotated[Status, parsed(Status.parse, lambda v: f"unknown status {shown(v)}; the statuses are: {_STATUSES}.")]


class _Line(Schema):
    article: _Article
    description: Text | None = None
    quantity: _Quantity | None = None
    cancelled: Annotated[int, Strict(), bounds(limits.CANCELLED)] | None = None


class _Document(Schema):
    kind: Annotated[str, one_of(DocumentKind, "document kind")]
    number: Annotated[str, Strict(), longest(limits.DOCUMENT_NUMBER), NOT_BLANK]


class _Backorder(Schema):
    article: _Article
    quantity: _Quantity | None = None


class _Cancellation(Schema):
    number: Annotated[str, Strict(), longest(100), NOT_BLANK]
    reason: Annotated[str, parsed(lambda v: ReasonCode.parse(v).value,
                                  lambda v: f"unknown reason code {shown(v)}; the codes are: {_REASONS}.")] | None = None
    comment: Text | None = None
    internal_note: Text | None = None
    lines: Annotated[dict[str, int], PlainValidator(_quantities)] | None = None
    partial: Flag | None = None
    state: Annotated[str, parsed(_state, lambda v: (
        f"unknown state {shown(v)}; use {', '.join(_CANCELLATION_STATES)}."))] | None = None
    answer: Text | None = None
    created_at: When | None = None
    actor: _Short | None = None


class _Flags(Schema):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cancellation_requested: Flag | None = None
    partner_not_informed: Flag | None = None
    archived: Flag | None = None


_NO_FLAGS = _Flags()


class _Order(Schema):
    number: _Number | None = None
    status: _Status | None = None
    direction: Annotated[str, one_of(Direction, "direction")] | None = None
    partner: _Name | None = None
    assignee: _Name | None = None
    partner_ref: Annotated[str, Strict(), longest(limits.PARTNER_REF)] | None = None
    pickup_address: RequiredText
    delivery_address: RequiredText
    pickup_after: When | None = None
    deliver_by: When | None = None
    partner_status_at: When | None = None
    created_at: When | None = None
    received_at: When | None = None
    dispatched_at: When | None = None
    status_changed_at: When | None = None
    parcels: Annotated[int, Strict(), bounds(limits.PARCELS)] | None = None
    weight_kg: Kilos | None = None
    flags: _Flags | None = None
    cancellation_request: FreeObject | None = None
    cancellation_refused: Text | None = None
    partner_status: Annotated[Status, parsed(Status.parse, lambda v: f"unknown 'partner_status' {shown(v)}.")] | None = None
    replaces: _Number | None = None
    tags: list[Annotated[str, Strict(), longest(limits.TEXT), AfterValidator(_tag)]] | None = None
    lines: list[_Line] | None = None
    documents: list[_Document] | None = None
    backorders: list[_Backorder] | None = None
    cancellations: list[_Cancellation] | None = None


class _Notice(Schema):
    id: Annotated[str, Strict(), longest(limits.NOTICE_ID), NOT_BLANK]
    order: _Number | None = None
    partner: _Name | None = None
    kind: Annotated[str, one_of(NoticeKind, "kind")]
    state: Annotated[str, one_of(NoticeState, "state")]
    transport: Annotated[str, one_of(Transport, "transport")]
    payload: FreeObject | None = None
    seq: Annotated[int, Strict(), bounds(limits.SEQ)] | None = None
    attempts: Annotated[int, Strict(), bounds(limits.ATTEMPTS)] | None = None
    created_at: When | None = None
    release_at: When | None = None
    next_attempt_at: When | None = None
    sent_at: When | None = None
    acknowledged_at: When | None = None
    last_error: Text | None = None
    outcome: Annotated[str, Strict(), longest(20)] | None = None
    answer: Text | None = None
    awaits_answer: Flag | None = None


class _FollowUp(Schema):
    order: _Number | None = None
    partner: _Name | None = None
    notice: Annotated[str, Strict(), longest(limits.NOTICE_ID)] | None = None
    text: RequiredText
    done: Flag | None = None
    created_at: When | None = None
    done_at: When | None = None
    done_by: _Short | None = None
    withdrawn: Flag | None = None


#: records checked and written at once
BATCH = 2000
#: SQLite's page cache for an import's connection, in KiB (the default is 2,000 KiB)
IMPORT_CACHE_KIB = 65536

#: the temporary table of what the import has seen so far: order numbers ('o'), notice ids
#: ('n') and cancellation numbers ('c'), each with the index of the record it was first in
_TriggerKind = Annotated[str, one_of(TriggerKind, "trigger kind")]


class _Trigger(Schema):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: _TriggerKind
    status: _Status | None = None
    tag: Annotated[str, Strict(), longest(limits.TEXT), AfterValidator(_tag)] | None = None
    role: Annotated[str, one_of(Role, "role")] | None = None
    partner: _Name | None = None


class _Condition(Schema):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Annotated[str, one_of(ConditionKind, "condition kind")]
    value: Annotated[str, Strict(), longest(limits.PARTNER_NAME), NOT_BLANK]


class _Effect(Schema):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Annotated[str, one_of(EffectKind, "effect kind")]
    partner: _Name | None = None
    tag: Annotated[str, Strict(), longest(limits.TEXT), AfterValidator(_tag)] | None = None
    text: Annotated[str, Strict(), longest(RULE_TEXT_LIMIT)] | None = None


class _Rule(Schema):
    name: Annotated[str, Strict(), longest(RULE_NAME_LIMIT), NOT_BLANK]
    enabled: Flag | None = None
    stop_after: Flag | None = None
    trigger: _Trigger
    conditions: list[_Condition] | None = None
    effects: list[_Effect]
    version: Annotated[int, Strict(), bounds(limits.SEQ)] | None = None
    created_at: When | None = None
    created_by: _Short | None = None
    updated_at: When | None = None
    updated_by: _Short | None = None

    def rule(self, position: int) -> Rule:
        t = self.trigger
        return Rule(
            None,
            " ".join(self.name.split()),
            Trigger(TriggerKind(t.kind), status=t.status, tag=t.tag, role=Role(t.role) if t.role else None,
                    partner=t.partner),
            tuple(Condition(ConditionKind(c.kind), c.value.strip()) for c in self.conditions or ()),
            tuple(Effect(EffectKind(e.kind), partner=e.partner, tag=e.tag, text=e.text or "")
                  for e in self.effects),
            position=position,
            enabled=True if self.enabled is None else bool(self.enabled),
            stop_after=bool(self.stop_after),
            version=self.version or 1,
        )


_KEYS = "dd_import_keys"


def _iso_text(value: datetime | None) -> str | None:
    """A time as SQLite keeps SQLAlchemy's DateTime ('YYYY-MM-DD HH:MM:SS.ffffff', in UTC),
    made by datetime's own C code: the same text as the column's processor, several times
    faster (a million orders carry several million times)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given; use datetime.now(UTC)")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _fast(kind: Any, processor: Callable[[Any], Any]) -> Callable[[Any], Any] | None:
    """A quicker way to the same stored value, where there is one (SQLite); None: the
    driver stores the value as it is (sqlite3 stores True and False as 1 and 0)."""
    if isinstance(kind, Boolean):
        return None
    if isinstance(kind, UTCDateTime):
        return _iso_text
    if isinstance(kind, JSON):
        def process(value: Any) -> Any:
            # an empty list or object (every audit entry has two) without the JSON encoder
            if not value and (value.__class__ is list or value.__class__ is dict):
                return "[]" if value.__class__ is list else "{}"
            return processor(value)

        return process
    return processor


class _Writer:
    """Rows of one table written with executemany. On SQLite the values go through the
    columns' own bind processors straight to the driver (SQLAlchemy's per-row work for an
    executemany costs more than SQLite's insert); elsewhere through a Core insert."""

    def __init__(self, conn: Any, table: Table, keys: Sequence[str]) -> None:
        self.conn, self.table = conn, table
        dialect = conn.dialect
        self.fast = dialect.name == "sqlite"
        self.keys = list(keys)
        # a column the import does not name but the model fills (added later, say)
        self.filled = [(c.key, c.default) for c in table.c
                       if c.key not in self.keys and c.default is not None and not c.primary_key]
        names = self.keys + [k for k, _ in self.filled]
        self.sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "
                    f"VALUES ({', '.join('?' for _ in names)})")
        procs = [(i, _fast(table.c[k].type, p) if self.fast else p) for i, k in enumerate(names)
                 if (p := table.c[k].type.dialect_impl(dialect).bind_processor(dialect)) is not None]
        self.procs = [(i, p) for i, p in procs if p is not None]
        self.row = itemgetter(*self.keys) if len(self.keys) > 1 else (lambda r: (r[self.keys[0]],))
        self.written = 0

    def _defaults(self) -> list[Any]:
        return [d.arg if d.is_scalar else d.arg(None) for _, d in self.filled]  # type: ignore[attr-defined]

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        self.written += len(rows)
        if not self.fast:
            if self.filled:
                rows = [{**r, **dict(zip([k for k, _ in self.filled], self._defaults(), strict=True))} for r in rows]
            self.conn.execute(insert(self.table), rows)
            return
        row, procs = self.row, self.procs
        if self.filled:
            params = [(*row(r), *self._defaults()) for r in rows]
        else:
            params = list(map(row, rows))  # the values in the INSERT's order, in C
        if procs:
            for n, t in enumerate(params):
                changed = None
                for i, p in procs:
                    v = t[i]
                    if v is not None:
                        if changed is None:
                            changed = list(t)
                        changed[i] = p(v)
                if changed is not None:
                    params[n] = tuple(changed)
        self.conn.exec_driver_sql(self.sql, params)


def import_json(
    depot: Depot,
    path_or_data: str | os.PathLike[str] | dict[str, Any],
    *,
    progress: ImportProgress | None = None,
) -> ImportResult:
    """Read the export shape and write all of it in one transaction, or nothing.

    Every record is checked; every problem is reported (InvalidInput, with one reason per
    problem naming the record's place in the file and its number). Partners are referred to
    by name and must exist; an order number already in the depot is refused. A file is read
    as a stream and written in batches; ``progress(bytes read, file size)`` hears how far.
    """
    if isinstance(path_or_data, dict):
        data = path_or_data
        if not isinstance(data, dict):
            raise InvalidInput("the data: must be an object; nothing was imported.")
        return _run(depot, "the data", _from_dict(data), None, None)
    stream, f = _open_stream(path_or_data)
    with f:
        return _run(depot, str(path_or_data), stream.records(str(path_or_data)), stream, progress)


class _DictShape:
    def __init__(self, data: dict[str, Any]) -> None:
        self.lists = {k for k in _SECTIONS if isinstance(data.get(k), list)}
        self.others = [(k, v) for k, v in data.items() if k not in self.lists]


def _from_dict(data: dict[str, Any]) -> tuple[_DictShape, Iterator[tuple[str, int, Any]]]:
    shape = _DictShape(data)

    def records() -> Iterator[tuple[str, int, Any]]:
        for key in _SECTIONS:
            if key in shape.lists:
                for i, rec in enumerate(data[key]):
                    yield key, i, rec

    return shape, records()


def _run(depot: Depot, source: str, records: Any, stream: _JsonStream | None,
         progress: ImportProgress | None) -> ImportResult:
    if stream is None:
        shape, records = records
    else:
        shape = stream
    problems = _Problems()
    with depot.uow() as uow:
        s = uow.session
        if s.get_bind().dialect.name == "sqlite":
            # One long transaction: with SQLite's default page cache (2 MB) it spills and re-reads
            # the tables' and indexes' pages as it writes, and the bulk fill of the text index at
            # the end (store/bulk.py) merges its segments in it; a bounded bigger cache for this
            # connection keeps both cheaper. Memory stays bounded by it.
            s.execute(text(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}"))
        job = _Import(depot, s, source, problems)
        batch: list[tuple[int, Any]] = []
        section = ""
        told = 0
        if progress is not None and stream is not None:
            progress(0, stream.size)
        for key, i, rec in records:
            if key != section or len(batch) >= BATCH:
                if batch:
                    job.section(section, batch)
                    if progress is not None and stream is not None and stream.bytes_read != told:
                        told = stream.bytes_read
                        progress(min(told, stream.size), stream.size)
                batch = []
                section = key
            batch.append((i, rec))
        if batch:
            job.section(section, batch)
        raw_rules: list[Any] = []
        for key, value in shape.others:
            if key in _TOP_KEYS and not isinstance(value, list):
                problems.add(source, f"{key!r} must be a list, not {type_name(value)}.")
            elif key == "rules":
                raw_rules = value
        if not shape.lists and not any(k in _TOP_KEYS for k, _ in shape.others):
            problems.add(source, "there is no \"orders\" list (nor \"notices\" or \"followups\").")
        unknown = sorted(shown(k) for k, _ in shape.others if k not in _TOP_KEYS)
        if unknown:
            problems.add(source, f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                                 "the keys are \"orders\", \"notices\", \"followups\" and \"rules\".")
        job.finish()
        job.rules(raw_rules)
        if problems:
            _refuse(source, problems)
        job.settle()
        result = job.result()
        job.close()
        uow.commit()
        if progress is not None and stream is not None:
            progress(stream.size, stream.size)
        return result


def _refuse(source: str, problems: _Problems) -> NoReturn:
    n = problems.count
    head = f"{source}: {n:,} problem{'s' if n != 1 else ''}; nothing was imported."
    more = [f"… and {n - len(problems.items):,} more."] if n > len(problems.items) else []
    raise InvalidInput(head, [head, *problems.items, *more])


def _ref(rec: Any, key: str) -> str | None:
    """A reference (a number, a partner's name) as it stands in the raw record, if it is text:
    references are checked even in a record whose other fields are wrong."""
    v = rec.get(key) if isinstance(rec, dict) else None
    return v if isinstance(v, str) and v and lone_surrogate(v) is None else None


_S = TypeVar("_S", bound=Schema)


def _validated(schema: type[_S], rec: Any, where: _Where, problems: _Problems) -> _S | None:
    try:
        return schema.model_validate(rec)
    except ValidationError as e:
        problems.schema(where, e)
        return None


_ORDER_KEYS = (
    "id", "number", "version", "status", "source_id", "assignee_id", "partner_ref", "pickup_address",
    "delivery_address", "pickup_after", "deliver_by", "parcels", "weight_kg", "archived",
    "cancellation_requested", "cancellation_request", "partner_not_informed", "cancellation_refused",
    "partner_status", "partner_status_at", "created_at", "received_at", "dispatched_at", "status_changed_at",
)
_NOTICE_KEYS = ("id", "order_id", "partner_id", "kind", "transport", "payload", "state", "seq", "attempts",
                "created_at", "release_at", "next_attempt_at", "last_error", "sent_at", "acknowledged_at",
                "outcome", "answer", "awaits_answer")
_FOLLOWUP_KEYS = ("order_id", "partner_id", "notice_id", "text", "created_at", "done_at", "done_by", "withdrawn")


class _Import:
    """One import inside one transaction: each batch checked, then written while no problem
    has been found (after one, only checked: the transaction will be rolled back)."""

    def __init__(self, depot: Depot, s: Session, source: str, problems: _Problems) -> None:
        self.depot, self.s, self.source, self.problems = depot, s, source, problems
        self.conn = conn = s.connection()
        self.now = depot.now()
        self.name = Path(source).name if source != "the data" else source
        self.partners = {p.name: p for p in s.scalars(select(Partner))}
        self.pid = {name: p.id for name, p in self.partners.items()}
        self.sqlite = conn.dialect.name == "sqlite"
        o = cast(Table, Order.__table__)
        self.max_order_id = conn.execute(select(func.max(o.c.id))).scalar() or 0
        # SQLite: the text index's and the counts' triggers are off from the first order written
        # to the end, then the new orders are indexed and counted in bulk (store/bulk.py)
        self.triggers_off: OrderTriggersOff | None = None
        self.next_id = self.max_order_id + 1
        if self.sqlite:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{_KEYS}")
            conn.exec_driver_sql(f"CREATE TEMP TABLE {_KEYS} (kind TEXT NOT NULL, key TEXT NOT NULL, "
                                 "idx INTEGER NOT NULL, PRIMARY KEY (kind, key))")
        else:
            conn.exec_driver_sql(f"CREATE TEMP TABLE {_KEYS} (kind TEXT NOT NULL, key TEXT NOT NULL, "
                                 "idx INTEGER NOT NULL, PRIMARY KEY (kind, key)) ON COMMIT DROP")
        self.orders = _Writer(conn, o, _ORDER_KEYS if self.sqlite else _ORDER_KEYS[1:])
        self.lines = _Writer(conn, cast(Table, OrderLine.__table__),
                             ("order_id", "lineno", "article", "description", "quantity", "cancelled"))
        self.documents = _Writer(conn, cast(Table, Document.__table__), ("order_id", "kind", "number", "created_at"))
        self.backorders = _Writer(conn, cast(Table, Backorder.__table__), ("order_id", "article", "quantity"))
        self.tags = _Writer(conn, cast(Table, Tag.__table__), ("order_id", "name"))
        self.cancellations = _Writer(conn, cast(Table, Cancellation.__table__), (
            "order_id", "number", "reason", "comment", "internal_note", "lines", "partial", "state", "answer",
            "created_at", "actor"))
        self.notices = _Writer(conn, cast(Table, Notice.__table__), _NOTICE_KEYS)
        self.followups = _Writer(conn, cast(Table, FollowUp.__table__), _FOLLOWUP_KEYS)
        self.audit = _Writer(conn, cast(Table, AuditEntry.__table__), (
            "order_id", "at", "actor", "action", "to_status", "detail", "after_version", "notices", "followups"))
        self.new_numbers: list[str] = []
        self.rules_written = 0
        # what refers to a record later in the file, settled in finish()
        self.later_replaces: list[tuple[str, int | None, str]] = []  # (where, order id, number named)
        self.later_orders: list[tuple[str, str]] = []  # (where, number named) by a notice or follow-up
        self.later_notices: list[tuple[str, str]] = []  # (where, notice id named) by a follow-up
        self.waiting_notices: list[tuple[str, dict[str, Any]]] = []  # notices whose order comes later
        self.waiting_followups: list[tuple[str | None, str | None, dict[str, Any]]] = []

    # ------------------------------------------------------------------ helpers
    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            if self.conn.dialect.paramstyle != "qmark":
                sql = sql.replace("?", "%s")
            self.conn.exec_driver_sql(sql, [tuple(r) for r in rows])

    def _in(self, q: Any, column: Any, values: Iterable[Any]) -> list[Any]:
        values = sorted(set(values))
        out: list[Any] = []
        for i in range(0, len(values), _CHUNK):
            out.extend(self.conn.execute(q.where(column.in_(values[i : i + _CHUNK]))).all())
        return out

    def _seen(self, kind: str, keys: Iterable[str]) -> dict[str, int]:
        """Of these keys, those seen earlier in the file, with the index of their record."""
        k = _keys_table()
        return dict(self._in(select(k.c.key, k.c.idx).where(k.c.kind == kind), k.c.key, keys))

    def _remember(self, kind: str, first: dict[str, int], seen: dict[str, int]) -> None:
        self._many(f"INSERT INTO {_KEYS} (kind, key, idx) VALUES (?, ?, ?)",
                   [(kind, key, i) for key, i in first.items() if key not in seen])

    def _order_ids(self, numbers: Iterable[str]) -> dict[str, int]:
        o = Order.__table__.c
        return dict(self._in(select(o.number, o.id), o.number, numbers))

    @property
    def writing(self) -> bool:
        return not self.problems

    def _partner(self, where: _Where, rec: Any, key: str, roles: tuple[Role, ...] | None) -> str | None:
        name = _ref(rec, key)
        if name is None:
            return None
        p = self.partners.get(name) or self.partners.get(" ".join(name.split()))
        if p is None:
            known = ", ".join(sorted(self.partners)) or "none yet; add them with dispatchdesk partner add"
            self.problems.add(where, f"unknown partner {shown(name)} in {key!r} (partners: {clean(known)}).")
            return None
        if roles is not None and p.role not in roles:  # Role is a str enum: its members equal their values
            want = " or ".join(x.value for x in roles)
            self.problems.add(where, f"{key!r} names {shown(p.name)}, a {p.role}; it must be a {want}.")
        return p.name

    def section(self, key: str, batch: list[tuple[int, Any]]) -> None:
        {"orders": self._orders, "notices": self._notices, "followups": self._followups}[key](batch)

    # ------------------------------------------------------------------ orders
    def _orders(self, batch: list[tuple[int, Any]]) -> None:
        problems, source = self.problems, self.source
        first: dict[str, int] = {}
        for i, rec in batch:
            num = _ref(rec, "number")
            if num is not None and num.strip():
                first.setdefault(num.strip(), i)
        seen = self._seen("o", first)
        self._remember("o", first, seen)
        in_db = self._order_ids(first)
        taken = {n for n, oid in in_db.items() if oid <= self.max_order_id}
        cn_first: dict[str, int] = {}
        for i, rec in batch:
            cancs = rec.get("cancellations") if isinstance(rec, dict) else None
            for c in cancs if isinstance(cancs, list) else ():
                cn = _ref(c, "number")
                if cn is not None and cn.strip():
                    cn_first.setdefault(cn.strip(), i)
        cn_seen = self._seen("c", cn_first)
        self._remember("c", cn_first, cn_seen)
        cn_in_file = set(cn_seen)
        cn_taken = {n for (n,) in self._in(select(Cancellation.number), Cancellation.number, cn_first)} - cn_in_file
        refs = {r for _, rec in batch if (r := _ref(rec, "replaces")) is not None}
        known_refs = set(self._seen("o", refs)) | set(self._order_ids(refs))

        rows: list[dict[str, Any]] = []
        children: list[tuple[dict[str, Any], list[dict[str, Any]], Any, list[dict[str, Any]], str | None,
                             int | None]] = []
        for i, rec in batch:
            before = problems.count
            num_v = _ref(rec, "number")
            where = _Where(source, "orders", i, "number", num_v)
            o = _validated(_Order, rec, where, problems)
            number = num_v.strip() if num_v is not None else None
            if number is not None:
                at = seen.get(number, first.get(number, i))
                if not limits.ORDER_NUMBER_RE.fullmatch(number):
                    problems.add(where, "the order number may hold only letters, digits and . _ / - (at most 50).")
                elif at != i:
                    problems.add(where, f"order number {shown(number)} appears twice in the file "
                                        f"(also orders[{at}]).")
                elif number in taken:
                    problems.add(where, f"order number {shown(number)} is already used in this depot.")
            src = self._partner(where, rec, "partner", (Role.CLIENT, Role.CHANNEL))
            asg = self._partner(where, rec, "assignee", (Role.SUBCONTRACTOR, Role.WAREHOUSE))
            replaces = _ref(rec, "replaces")
            later = None  # where in later_replaces, when it names an order not seen yet
            if replaces and replaces == number:
                problems.add(where, "an order cannot replace itself.")
            elif replaces and replaces not in known_refs:
                later = len(self.later_replaces)
                self.later_replaces.append((str(where), None, replaces))
            if o is None:
                continue
            status = o.status or Status.CREATED
            if status is Status.DISPATCHED and not o.assignee:
                problems.add(where, "a Dispatched order needs the partner it was sent to in 'assignee'.")
            if o.partner_ref and not o.partner:
                problems.add(where, "'partner_ref' is the reference of the partner the order came from; "
                                    "name that partner in 'partner'.")
            if o.pickup_after and o.deliver_by and o.deliver_by < o.pickup_after:
                problems.add(where, "'deliver_by' is before 'pickup_after'.")

            lines = []
            articles: set[str] = set()
            for j, ln in enumerate(o.lines or ()):
                art = ln.article.strip()
                if art in articles:
                    problems.add(f"{where}, lines[{j}]", f"article {shown(art)} appears twice in the order.")
                articles.add(art)
                qty = 1 if ln.quantity is None else ln.quantity
                cancelled = ln.cancelled or 0
                if cancelled > qty:
                    problems.add(f"{where}, lines[{j}]", f"'cancelled' ({cancelled}) is more than 'quantity' ({qty}).")
                lines.append({"lineno": j + 1, "article": art, "description": ln.description or "",
                              "quantity": qty, "cancelled": cancelled})
            cancs = []
            for j, c in enumerate(o.cancellations or ()):
                cn = c.number.strip()
                if cn in cn_in_file:
                    problems.add(f"{where}, cancellations[{j}]",
                                 f"cancellation number {shown(cn)} appears twice in the file.")
                elif cn in cn_taken:
                    problems.add(f"{where}, cancellations[{j}]",
                                 f"cancellation number {shown(cn)} is already used in this depot.")
                cn_in_file.add(cn)
                cancs.append({
                    "number": cn, "reason": c.reason, "comment": c.comment or "",
                    "internal_note": c.internal_note or "", "lines": c.lines or {},
                    "partial": bool(c.partial), "state": c.state or "done", "answer": c.answer,
                    "created_at": c.created_at or self.now, "actor": c.actor or self.depot.actor,
                })
            if problems.count != before or not self.writing:
                continue
            flags = o.flags or _NO_FLAGS
            if number is None:
                number = next_number(self.s, "order")
                self.new_numbers.append(number)
            created = o.created_at or self.now
            row = {
                "number": number,
                "version": 1,
                "status": status.value,
                "source_id": self.pid.get(src) if src else None,
                "assignee_id": self.pid.get(asg) if asg else None,
                "partner_ref": o.partner_ref,
                "pickup_address": o.pickup_address.strip(),
                "delivery_address": o.delivery_address.strip(),
                "pickup_after": o.pickup_after,
                "deliver_by": o.deliver_by,
                "parcels": 1 if o.parcels is None else o.parcels,
                "weight_kg": 0.0 if o.weight_kg is None else o.weight_kg,
                "archived": bool(flags.archived),
                "cancellation_requested": bool(flags.cancellation_requested),
                "cancellation_request": o.cancellation_request,
                "partner_not_informed": bool(flags.partner_not_informed),
                "cancellation_refused": o.cancellation_refused,
                "partner_status": o.partner_status.value if o.partner_status else None,
                "partner_status_at": o.partner_status_at,
                "created_at": created,
                "received_at": o.received_at or (created if src else None),
                "dispatched_at": o.dispatched_at or (created if asg else None),
                "status_changed_at": o.status_changed_at or created,
            }
            rows.append(row)
            children.append((row, lines, o, cancs, replaces, later))
        if not self.writing or not rows:
            return
        ids = self._insert_orders(rows)
        line_rows: list[dict[str, Any]] = []
        doc_rows: list[dict[str, Any]] = []
        back_rows: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        canc_rows: list[dict[str, Any]] = []
        audit_rows: list[dict[str, Any]] = []
        replaces_now: list[tuple[int, str]] = []
        for oid, (row, lines, o, cancs, replaces, later) in zip(ids, children, strict=True):
            line_rows.extend({"order_id": oid, **ln} for ln in lines)
            doc_rows.extend({"order_id": oid, "kind": d.kind, "number": d.number, "created_at": self.now}
                            for d in o.documents or ())
            back_rows.extend({"order_id": oid, "article": b.article.strip(),
                              "quantity": 1 if b.quantity is None else b.quantity} for b in o.backorders or ())
            tag_rows.extend({"order_id": oid, "name": t} for t in dict.fromkeys(o.tags or ()))
            canc_rows.extend({"order_id": oid, **c} for c in cancs)
            audit_rows.append({
                "order_id": oid, "at": self.now, "actor": self.depot.actor, "action": "imported",
                "to_status": row["status"], "detail": f"Order {row['number']} imported from {self.name}.",
                "after_version": 1, "notices": [], "followups": [],
            })
            if later is not None:
                w, _, r = self.later_replaces[later]
                self.later_replaces[later] = (w, oid, r)
            elif replaces:
                replaces_now.append((oid, replaces))
        self.lines.write(line_rows)
        self.documents.write(doc_rows)
        self.backorders.write(back_rows)
        self.tags.write(tag_rows)
        self.cancellations.write(canc_rows)
        self.audit.write(audit_rows)
        self._set_replaces(replaces_now)

    def _insert_orders(self, rows: list[dict[str, Any]]) -> list[int]:
        if self.sqlite:
            if self.triggers_off is None:
                self.triggers_off = OrderTriggersOff(self.conn, self.max_order_id)
            ids = list(range(self.next_id, self.next_id + len(rows)))
            self.next_id += len(rows)
            for oid, row in zip(ids, rows, strict=True):
                row["id"] = oid
            self.orders.write(rows)
            return ids
        table = cast(Table, Order.__table__)
        res = self.conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
        self.orders.written += len(rows)
        return [oid for (oid,) in res]

    def _set_replaces(self, pairs: list[tuple[int, str]]) -> None:
        if not pairs or not self.writing:
            return
        ids = self._order_ids(n for _, n in pairs)
        t = cast(Table, Order.__table__)
        todo = [{"oid": oid, "rid": ids[n]} for oid, n in pairs if n in ids]
        if todo:
            self.conn.execute(update(t).where(t.c.id == bindparam("oid")).values(replaces_id=bindparam("rid")), todo)

    # ------------------------------------------------------------------ notices
    def _notices(self, batch: list[tuple[int, Any]]) -> None:
        problems, source = self.problems, self.source
        first: dict[str, int] = {}
        for i, rec in batch:
            nid = _ref(rec, "id")
            if nid is not None:
                first.setdefault(nid, i)
        seen = self._seen("n", first)
        self._remember("n", first, seen)
        nt = Notice.__table__.c
        taken = {n for (n,) in self._in(select(nt.id), nt.id, first)} - set(seen)
        refs = {r for _, rec in batch if (r := _ref(rec, "order")) is not None}
        ids = self._order_ids(refs)
        known = set(ids) | set(self._seen("o", set(refs) - set(ids)))
        ready: list[tuple[int | None, dict[str, Any]]] = []
        for i, rec in batch:
            before = problems.count
            nid = _ref(rec, "id")
            where = _Where(source, "notices", i, "id", nid)
            n = _validated(_Notice, rec, where, problems)
            if nid is not None:
                at = seen.get(nid, first.get(nid, i))
                if at != i:
                    problems.add(where, f"notice id {shown(nid)} appears twice in the file (also notices[{at}]).")
                elif nid in taken:
                    problems.add(where, f"notice id {shown(nid)} is already in this depot.")
            order = _ref(rec, "order")
            if order is not None and order not in known:
                self.later_orders.append((str(where), order))
            partner = self._partner(where, rec, "partner", None)
            if isinstance(rec, dict) and not rec.get("partner"):
                problems.add(where, "'partner' is missing: a notice goes to a partner.")
            if n is None or problems.count != before or not self.writing:
                continue
            row = {
                "id": n.id, "partner_id": self.pid[partner] if partner else None, "kind": n.kind,
                "transport": n.transport, "payload": n.payload or {}, "state": n.state, "seq": n.seq,
                "attempts": n.attempts or 0, "created_at": n.created_at or self.now, "release_at": n.release_at,
                "next_attempt_at": n.next_attempt_at, "last_error": n.last_error, "sent_at": n.sent_at,
                "acknowledged_at": n.acknowledged_at, "outcome": n.outcome, "answer": n.answer,
                "awaits_answer": bool(n.awaits_answer),
            }
            if order is not None and order not in ids:
                self.waiting_notices.append((order, row))  # its order comes later in the file
            else:
                ready.append((ids[order] if order is not None else None, row))
        if self.writing:
            self._write_notices(ready)

    def _write_notices(self, pairs: list[tuple[int | None, dict[str, Any]]]) -> None:
        """Keep the file's sequence per order when it is usable (no gaps in what it gives, no
        clash with what the order has), else number them after whatever the order has."""
        by_order: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
        for order_id, n in pairs:
            by_order[order_id].append(n)
        used: dict[int, set[int]] = defaultdict(set)
        nt = Notice.__table__.c
        for order_id, seq in self._in(select(nt.order_id, nt.seq), nt.order_id,
                                      [o for o in by_order if o is not None]):
            used[order_id].add(seq)
        rows: list[dict[str, Any]] = []
        for order_id, ns in by_order.items():
            if order_id is None:
                rows.extend({**n, "order_id": None, "seq": 0} for n in ns)
                continue
            have = used.get(order_id, set())
            given = [n["seq"] for n in ns]
            usable = (None not in given and len(set(given)) == len(given)
                      and not (have if order_id <= self.max_order_id else have & set(given)))
            base = max(have, default=0)
            ordered = sorted(ns, key=lambda n: n["seq"] if n["seq"] is not None else 1 << 30)
            rows.extend({**n, "order_id": order_id, "seq": n["seq"] if usable else base + k}
                        for k, n in enumerate(ordered, 1))
        self.notices.write(rows)

    # ------------------------------------------------------------------ follow-ups
    def _followups(self, batch: list[tuple[int, Any]]) -> None:
        problems, source = self.problems, self.source
        orders = {r for _, rec in batch if (r := _ref(rec, "order")) is not None}
        ids = self._order_ids(orders)
        known_orders = set(ids) | set(self._seen("o", orders - set(ids)))
        notices = {r for _, rec in batch if (r := _ref(rec, "notice")) is not None}
        nt = Notice.__table__.c
        stored = {n for (n,) in self._in(select(nt.id), nt.id, notices)}
        known_notices = stored | set(self._seen("n", notices - stored))
        rows: list[dict[str, Any]] = []
        for i, rec in batch:
            before = problems.count
            where = _Where(source, "followups", i)
            f = _validated(_FollowUp, rec, where, problems)
            order = _ref(rec, "order")
            if order is not None and order not in known_orders:
                self.later_orders.append((str(where), order))
            partner = self._partner(where, rec, "partner", None)
            notice = _ref(rec, "notice")
            if notice is not None and notice not in known_notices:
                self.later_notices.append((str(where), notice))
            if f is None or problems.count != before or not self.writing:
                continue
            row = {
                "order_id": None,
                "partner_id": self.pid[partner] if partner else None,
                "notice_id": notice,
                "text": f.text,
                "created_at": f.created_at or self.now,
                "done_at": f.done_at or (self.now if f.done else None),
                "done_by": f.done_by or (self.depot.actor if f.done else None),
                "withdrawn": bool(f.withdrawn),
            }
            if (order is not None and order not in ids) or (notice is not None and notice not in stored):
                self.waiting_followups.append((order, notice, row))  # what it names comes later
            else:
                row["order_id"] = ids[order] if order is not None else None
                rows.append(row)
        if self.writing:
            self.followups.write(rows)

    # ------------------------------------------------------------------ the end
    def finish(self) -> None:
        """What named a record later in the file: there now, or a problem; then written."""
        problems = self.problems
        nt = Notice.__table__.c
        refs = {r for _, _, r in self.later_replaces} | {r for _, r in self.later_orders}
        known = set(self._order_ids(refs)) | set(self._seen("o", refs))
        for where, _, r in self.later_replaces:
            if r not in known:
                problems.add(where, f"'replaces' names order {shown(r)}, which is neither in the file nor in the depot.")
        for where, r in self.later_orders:
            if r not in known:
                problems.add(where, f"'order' names {shown(r)}, which is neither in the file nor in the depot.")
        nrefs = {r for _, r in self.later_notices}
        known_n = {n for (n,) in self._in(select(nt.id), nt.id, nrefs)} | set(self._seen("n", nrefs))
        for where, r in self.later_notices:
            if r not in known_n:
                problems.add(where, f"'notice' names {shown(r)}, which is neither in the file nor in the depot.")
        if not self.writing:
            return
        self._set_replaces([(oid, r) for _, oid, r in self.later_replaces if oid is not None])
        ids = self._order_ids({n for n, _ in self.waiting_notices} | {n for n, _, _ in self.waiting_followups
                                                                       if n is not None})
        self._write_notices([(ids[n], row) for n, row in self.waiting_notices])
        self.followups.write([{**row, "order_id": ids[n] if n is not None else None}
                              for n, _, row in self.waiting_followups])

    # ------------------------------------------------------------------ rules
    def rules(self, raw_rules: list[Any]) -> None:
        """The file's automation rules (issue 14), a few records read whole: each checked as
        the rule form checks it, the partners it names must exist, its name must be new (and
        not twice in the file), and the whole set (the depot's rules and the file's) must pass
        the loop check. They are added after the depot's rules, in the file's order, with their
        versions, in the import's one transaction; importing never fires a rule."""
        problems, source, partners = self.problems, self.source, self.partners
        existing = load_rules(self.s)
        last = max((r.position for r in existing), default=0)
        names = {r.name for r in existing}
        seen: dict[str, int] = {}
        plan: list[tuple[Rule, _Rule]] = []
        for i, rec in enumerate(raw_rules):
            where = _Where(source, "rules", i, "name", _ref(rec, "name"))
            r = _validated(_Rule, rec, where, problems)
            if r is None:
                continue
            rule = r.rule(last + i + 1)
            try:
                rule.check()
            except RuleError as e:
                problems.add(where, f"{e}")
                continue
            if rule.name in seen:
                problems.add(where, f"rule name {shown(rule.name)} appears twice in the file "
                                    f"(also rules[{seen[rule.name]}]).")
                continue
            seen[rule.name] = i
            if rule.name in names:
                problems.add(where, f"rule name {shown(rule.name)} is already used in this depot.")
                continue
            named = [rule.trigger.partner] if rule.trigger.partner else []
            named += [c.value for c in rule.conditions if c.kind is ConditionKind.PARTNER_IS]
            named += [e.partner for e in rule.effects if e.partner]
            missing = [n for n in named if n not in partners]
            if missing:
                known = ", ".join(sorted(partners)) or "none yet; add them with dispatchdesk partner add"
                problems.add(where, f"unknown partner {shown(missing[0])} (partners: {clean(known)}).")
                continue
            plan.append((rule, r))
        if plan:
            for problem in check_rules([*existing, *(rule for rule, _ in plan)]):
                problems.add(f"{source}: rules", problem)
        if not plan or not self.writing:
            return
        now, actor = self.now, self.depot.actor
        self.s.execute(insert(cast(Table, AutomationRule.__table__)), [
            {
                "position": rule.position, "name": rule.name, "enabled": rule.enabled,
                "stop_after": rule.stop_after, "trigger": rule.trigger.as_json(),
                "conditions": [c.as_json() for c in rule.conditions],
                "effects": [e.as_json() for e in rule.effects], "version": rule.version,
                "created_at": rec.created_at or now, "created_by": rec.created_by or actor,
                "updated_at": rec.updated_at or now, "updated_by": rec.updated_by or actor,
            }
            for rule, rec in plan
        ])
        rules_changed(self.s)
        self.s.execute(insert(cast(Table, AuditEntry.__table__)), [
            {
                "order_id": None, "at": now, "actor": actor, "action": "rule imported",
                "detail": f"Rule {rule.label()} imported from {self.name}: {rule.words()}",
                "notices": [], "followups": [],
            }
            for rule, _ in plan
        ])
        self.rules_written = len(plan)

    def settle(self) -> None:
        """Everything checked and written: the new orders into the text index and the board's
        counts in bulk, and the triggers made again (SQLite)."""
        if self.triggers_off is not None:
            self.triggers_off.fill()

    def result(self) -> ImportResult:
        return ImportResult(self.source, self.orders.written, self.notices.written, self.followups.written,
                            tuple(self.new_numbers), self.rules_written)

    def close(self) -> None:
        if self.sqlite:
            self.conn.exec_driver_sql(f"DROP TABLE temp.{_KEYS}")


def _keys_table() -> Any:
    return sa_table(_KEYS, sa_column("kind"), sa_column("key"), sa_column("idx"))
