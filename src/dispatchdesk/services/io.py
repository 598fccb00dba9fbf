"""Import and export of a depot's orders: JSON (the exchange format), CSV, Excel and PDF.

The JSON shape, read back by :func:`import_json`::

    {"orders": [...], "notices": [...], "followups": [...]}

An order carries its number, status, direction, partner (the client or channel it came
from), assignee (the subcontractor or warehouse that has it), the partner's reference,
addresses, times (ISO 8601 with a time zone), parcels and weight, flags
``{cancellation_requested, partner_not_informed, archived}``, tags, lines
``[{article, description, quantity, cancelled}]``, documents ``[{kind, number}]``,
back-orders ``[{article, quantity}]``, the number of the order it replaces, and its
cancellations. A notice carries its id, order, partner, kind, state, transport, attempts
and times; a follow-up its id, order, partner, text and whether it is done.

Export reads with a handful of Core selects grouped in Python (100,000 orders in a few
seconds), never an ORM load per order. Every file is written to a temporary file next to
the target and renamed over it at the end, so a failed export leaves no half file.

Import checks everything first and names every problem with its record (``orders[3]
(number 'DD-000004')``); it writes nothing unless every record is right, and then writes
all of it in one transaction.

Partners are never exported or imported here: they carry secrets, and they are set up with
``dispatchdesk partner add``. An import refers to partners by name.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import (
    JSON,
    String,
    bindparam,
    case,
    func,
    insert,
    literal,
    select,
    type_coerce,
    update,
)
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
)
from ..store.models import (
    AuditEntry,
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
from .core import Depot, InvalidInput, load_partner, next_number

__all__ = [
    "ImportResult",
    "export_csv",
    "export_json",
    "export_pdf",
    "export_xlsx",
    "import_json",
    "read_json_file",
    "write_json",
]

#: SQLite accepts at most 32766 bound values per statement; stay well below.
_CHUNK = 900
_NUMBER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,49}")
_CANCELLATION_STATES = ("done", "pending", "refused", "undone")


# =========================================================================== export: reading


@dataclass(frozen=True)
class _Filter:
    status: Status | None = None
    partner_id: int | None = None
    archived: bool | None = None

    def where(self, q: Any) -> Any:
        if self.status is not None:
            q = q.where(Order.status == self.status.value)
        if self.partner_id is not None:
            q = q.where((Order.source_id == self.partner_id) | (Order.assignee_id == self.partner_id))
        if self.archived is not None:
            q = q.where(Order.archived.is_(self.archived))
        return q

    @property
    def everything(self) -> bool:
        return self.status is None and self.partner_id is None and self.archived is None


def _parse_status(status: Status | str | None) -> Status | None:
    if status is None or isinstance(status, Status):
        return status
    try:
        return Status.parse(status)
    except ValueError as e:
        raise InvalidInput(str(e)[0].upper() + str(e)[1:] + ".") from None


def _filter(session: Session, status: Status | str | None, partner: str | None, archived: bool | None) -> _Filter:
    partner_id = load_partner(session, partner).id if partner else None
    return _Filter(_parse_status(status), partner_id, archived)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _stamp(value: Any) -> str | None:
    """A stored time as ISO 8601 in UTC, from a datetime or SQLite's stored text.

    SQLite keeps SQLAlchemy's DateTime as text ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC (the
    store converts to UTC before writing); turning that into ISO with string slicing is
    many times faster than building a datetime for each of a million values.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            if value.endswith(".000000"):
                return f"{value[:10]}T{value[11:19]}+00:00"
            return f"{value[:10]}T{value[11:]}+00:00"
        value = datetime.fromisoformat(value)
    when: datetime = value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat()


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return None if value == "null" else json.loads(value)
    return value


class _Reader:
    """Core selects on one connection; on SQLite, times come back as their stored text."""

    def __init__(self, session: Session) -> None:
        self.conn = session.connection()
        self.sqlite = self.conn.dialect.name == "sqlite"

    def col(self, column: Any) -> Any:
        """A column to select: a time column as raw text on SQLite, a JSON column as text."""
        if self.sqlite and isinstance(column.type, (UTCDateTime, JSON)):
            return type_coerce(column, String).label(column.key)
        return column

    def rows(self, q: Any) -> Sequence[Any]:
        return self.conn.execute(q).all()

    def grouped(self, q: Any) -> dict[int, list[tuple[Any, ...]]]:
        """Rows whose first column is an order id, grouped by it (rows keep their order)."""
        out: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in self.conn.execute(q):
            out[row[0]].append(tuple(row[1:]))
        return out


def export_json(
    depot: Depot,
    *,
    status: Status | str | None = None,
    partner: str | None = None,
    archived: bool | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The depot's orders (filtered), with their notices and follow-ups, as plain data.

    ``status``: only orders in that status; ``partner``: only orders that came from or went
    to that partner; ``archived``: True only archived orders, False only the others, None
    all. Rejected and Cancelled orders are included like any other.
    """
    with depot.uow(write=False) as uow:
        s = uow.session
        flt = _filter(s, status, partner, archived)
        rd = _Reader(s)
        c = rd.col
        names = dict(rd.rows(select(Partner.__table__.c.id, Partner.__table__.c.name)))
        ids = flt.where(select(Order.__table__.c.id))

        def restrict(col: Any, q: Any) -> Any:
            return q if flt.everything else q.where(col.in_(ids))

        o = Order.__table__.c
        order_rows = rd.rows(
            flt.where(
                select(
                    o.id, o.number, o.status, o.source_id, o.assignee_id, o.partner_ref,
                    o.pickup_address, o.delivery_address, c(o.pickup_after), c(o.deliver_by),
                    o.parcels, o.weight_kg, o.archived, o.cancellation_requested,
                    c(o.cancellation_request), o.partner_not_informed, o.cancellation_refused,
                    o.partner_status, c(o.partner_status_at), o.replaces_id, c(o.created_at),
                    c(o.received_at), c(o.dispatched_at), c(o.status_changed_at),
                )
            ).order_by(o.id)
        )
        ln, dc, bo, tg, cn = (OrderLine.__table__.c, Document.__table__.c, Backorder.__table__.c,
                              Tag.__table__.c, Cancellation.__table__.c)
        lines = rd.grouped(restrict(ln.order_id, select(
            ln.order_id, ln.article, ln.description, ln.quantity, ln.cancelled
        ).order_by(ln.order_id, ln.lineno, ln.id)))
        docs = rd.grouped(restrict(dc.order_id, select(dc.order_id, dc.kind, dc.number).order_by(dc.order_id, dc.id)))
        backs = rd.grouped(restrict(bo.order_id, select(bo.order_id, bo.article, bo.quantity)
                                    .order_by(bo.order_id, bo.id)))
        tags = rd.grouped(restrict(tg.order_id, select(tg.order_id, tg.name).order_by(tg.order_id, tg.name)))
        cancs = rd.grouped(restrict(cn.order_id, select(
            cn.order_id, cn.number, cn.reason, cn.comment, cn.internal_note, c(cn.lines), cn.partial,
            cn.state, cn.answer, c(cn.created_at), cn.actor,
        ).order_by(cn.order_id, cn.id)))

        number_of = {r.id: r.number for r in order_rows}
        nt, fu = Notice.__table__.c, FollowUp.__table__.c
        notice_rows = rd.rows(restrict(nt.order_id, select(
            nt.id, nt.order_id, nt.partner_id, nt.kind, nt.transport, nt.state, nt.seq, nt.attempts,
            c(nt.payload), c(nt.created_at), c(nt.release_at), c(nt.next_attempt_at), c(nt.sent_at),
            c(nt.acknowledged_at), nt.last_error, nt.outcome, nt.answer, nt.awaits_answer,
        ).order_by(nt.created_at, nt.order_id, nt.seq, nt.id)))
        followup_rows = rd.rows(restrict(fu.order_id, select(
            fu.id, fu.order_id, fu.partner_id, fu.notice_id, fu.text, c(fu.created_at), c(fu.done_at),
            fu.done_by, fu.withdrawn,
        ).order_by(fu.id)))
        missing = {r.replaces_id for r in order_rows if r.replaces_id and r.replaces_id not in number_of}
        missing |= {r.order_id for r in (*notice_rows, *followup_rows)
                    if r.order_id is not None and r.order_id not in number_of}
        wanted = sorted(missing)
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            number_of.update(rd.rows(select(o.id, o.number).where(o.id.in_(chunk))))

    empty: tuple[Any, ...] = ()
    orders = []
    for (oid, number, status_, source_id, assignee_id, partner_ref, pickup, delivery, pickup_after,
         deliver_by, parcels, weight, is_archived, c_req, c_request, not_informed, c_refused,
         p_status, p_status_at, replaces_id, created_at, received_at, dispatched_at,
         status_changed_at) in order_rows:
        src = names.get(source_id) if source_id else None
        asg = names.get(assignee_id) if assignee_id else None
        orders.append({
            "number": number,
            "status": status_,
            "direction": "inbound" if src else ("outbound" if asg else "own"),
            "partner": src,
            "assignee": asg,
            "partner_ref": partner_ref,
            "pickup_address": pickup,
            "delivery_address": delivery,
            "pickup_after": _stamp(pickup_after),
            "deliver_by": _stamp(deliver_by),
            "parcels": parcels,
            "weight_kg": weight,
            "flags": {
                "cancellation_requested": bool(c_req),
                "partner_not_informed": bool(not_informed),
                "archived": bool(is_archived),
            },
            "cancellation_request": _json(c_request),
            "cancellation_refused": c_refused,
            "partner_status": p_status,
            "partner_status_at": _stamp(p_status_at),
            "tags": [t[0] for t in tags.get(oid, empty)],
            "lines": [
                {"article": a, "description": d, "quantity": q, "cancelled": x}
                for a, d, q, x in lines.get(oid, empty)
            ],
            "documents": [{"kind": k, "number": n} for k, n in docs.get(oid, empty)],
            "backorders": [{"article": a, "quantity": q} for a, q in backs.get(oid, empty)],
            "cancellations": [
                {
                    "number": n, "reason": reason, "comment": comment, "internal_note": note,
                    "lines": dict(_json(ls) or {}), "partial": bool(partial), "state": state,
                    "answer": answer, "created_at": _stamp(at), "actor": actor,
                }
                for n, reason, comment, note, ls, partial, state, answer, at, actor in cancs.get(oid, empty)
            ],
            "replaces": number_of.get(replaces_id) if replaces_id else None,
            "created_at": _stamp(created_at),
            "received_at": _stamp(received_at),
            "dispatched_at": _stamp(dispatched_at),
            "status_changed_at": _stamp(status_changed_at),
        })
    notices = [
        {
            "id": n.id,
            "order": number_of.get(n.order_id) if n.order_id is not None else None,
            "partner": names.get(n.partner_id),
            "kind": n.kind,
            "state": n.state,
            "transport": n.transport,
            "seq": n.seq,
            "attempts": n.attempts,
            "created_at": _stamp(n.created_at),
            "release_at": _stamp(n.release_at),
            "next_attempt_at": _stamp(n.next_attempt_at),
            "sent_at": _stamp(n.sent_at),
            "acknowledged_at": _stamp(n.acknowledged_at),
            "last_error": n.last_error,
            "outcome": n.outcome,
            "answer": n.answer,
            "awaits_answer": bool(n.awaits_answer),
            "payload": _json(n.payload),
        }
        for n in notice_rows
    ]
    followups = [
        {
            "id": f.id,
            "order": number_of.get(f.order_id) if f.order_id is not None else None,
            "partner": names.get(f.partner_id) if f.partner_id is not None else None,
            "notice": f.notice_id,
            "text": f.text,
            "done": f.done_at is not None,
            "created_at": _stamp(f.created_at),
            "done_at": _stamp(f.done_at),
            "done_by": f.done_by,
            "withdrawn": bool(f.withdrawn),
        }
        for f in followup_rows
    ]
    return {"orders": orders, "notices": notices, "followups": followups}


# =========================================================================== export: writing


@contextmanager
def _atomic(path: str | os.PathLike[str], *, binary: bool) -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path``; rename it over ``path`` only on success."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise InvalidInput(f"Cannot write the export to {target}: it is a directory.")
    if not target.parent.is_dir():
        raise InvalidInput(
            f"Cannot write the export to {target}: the directory {target.parent} does not exist."
        )
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as e:
        raise InvalidInput(f"Cannot write the export to {target}: {e.strerror or e}.") from None
    try:
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        except (AttributeError, OSError):
            pass  # not on every platform; the file stays private
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        _unlink(tmp)
        raise InvalidInput(
            f"Cannot write the export to {target}: {e.strerror or e}. Nothing was written."
        ) from None
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def dump_json(data: dict[str, Any], *, ascii_only: bool = False) -> Iterator[str]:
    """The export as JSON text, one record per line (readable, diff-friendly and fast: each
    record goes through the C encoder, which ``indent=`` would switch off)."""
    yield "{"
    for k, key in enumerate(data):
        yield ("\n" if k == 0 else ",\n") + json.dumps(key) + ": ["
        records = data[key]
        if isinstance(records, list):
            for i, rec in enumerate(records):
                yield ("\n " if i == 0 else ",\n ") + json.dumps(rec, ensure_ascii=ascii_only)
            yield "\n]" if records else "]"
    yield "\n}\n"


def write_json(data: dict[str, Any], dest: str | os.PathLike[str] | IO[str]) -> None:
    """Write exported data as JSON to a path (atomically) or an open text stream.

    A stream (standard output, perhaps a terminal) gets pure ASCII: every other character
    is escaped, so nothing in the data can act on a terminal, and nothing is lost.
    """
    if hasattr(dest, "write"):
        for chunk in dump_json(data, ascii_only=True):
            dest.write(chunk)
        return
    with _atomic(dest, binary=False) as f:
        buf: list[str] = []
        for chunk in dump_json(data):
            buf.append(chunk)
            if len(buf) >= 2000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


def export_json_file(
    depot: Depot,
    path: str | os.PathLike[str] | IO[str],
    *,
    status: Status | str | None = None,
    partner: str | None = None,
    archived: bool | None = None,
) -> int:
    """``export_json`` written to a file (atomically) or a pipe; returns the number of orders.

    On SQLite the records are built as JSON by SQLite itself (its JSON functions, in C), so
    that 100,000 orders take a second or two; the file parses to exactly what
    ``export_json`` returns (a test holds the two paths equal). Other databases write
    ``export_json``'s result.
    """
    with depot.uow(write=False) as uow:
        s = uow.session
        flt = _filter(s, status, partner, archived)
        conn = s.connection()
        if conn.dialect.name == "sqlite":
            if hasattr(path, "write"):
                # a stream gets pure ASCII, as write_json gives it: SQLite's JSON escapes
                # control characters, and _AsciiStream escapes the rest (bidi overrides…)
                return _SqliteJson(conn, flt).write(_AsciiStream(path))  # type: ignore[arg-type]
            with _atomic(path, binary=False) as f:
                return _SqliteJson(conn, flt).write(f)
    data = export_json(depot, status=status, partner=partner, archived=archived)
    write_json(data, path)
    return len(data["orders"])


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _json_escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    if c < 0x10000:
        return f"\\u{c:04x}"
    c -= 0x10000
    return f"\\u{0xD800 + (c >> 10):04x}\\u{0xDC00 + (c & 0x3FF):04x}"


class _AsciiStream:
    """Writes JSON text to a stream as pure ASCII: every other character as a \\u escape
    (a surrogate pair beyond the BMP), which is what json.dumps(ensure_ascii=True) does."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(_NON_ASCII.sub(_json_escape, text))


class _SqliteJson:
    """The JSON export built by SQLite's json_object/json_group_array, one record per row."""

    def __init__(self, conn: Any, flt: _Filter) -> None:
        self.conn = conn
        self.flt = flt

    # ---------------------------------------------------------------- expressions
    @staticmethod
    def ts(col: Any) -> Any:
        """SQLAlchemy's stored text 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) as ISO 8601, like _stamp."""
        day, clock, frac = func.substr(col, 1, 10), func.substr(col, 12, 8), func.substr(col, 20)
        return case(
            (col.is_(None), None),
            (func.length(col) != 26, col),
            (frac == ".000000", func.printf("%sT%s+00:00", day, clock)),
            else_=func.printf("%sT%s%s+00:00", day, clock, frac),
        )

    @staticmethod
    def boolean(col: Any) -> Any:
        return func.json(case((col == 1, literal("true")), else_=literal("false")))

    @staticmethod
    def obj(*pairs: tuple[str, Any]) -> Any:
        args: list[Any] = []
        for key, value in pairs:
            args.extend((literal(key), value))
        return func.json_object(*args)

    def array(self, inner: Any, outer: Any, *, objects: bool = True) -> Any:
        """json_group_array over an ordered subquery that refers to the outer order row
        (SQLite lets a FROM subquery of a scalar subquery do that, and keeps its order).
        Objects pass through json() again: a subquery's column loses the JSON mark."""
        sub = inner.correlate(outer).subquery()
        item = func.json(sub.c.j) if objects else sub.c.j
        return func.json(select(func.json_group_array(item)).correlate(outer).scalar_subquery())

    # ---------------------------------------------------------------- queries
    def orders(self) -> Any:
        o = Order.__table__.alias("o")
        src, asg = Partner.__table__.alias("src"), Partner.__table__.alias("asg")
        rep = Order.__table__.alias("rep")
        ln, dc, bo, tg, cn = (OrderLine.__table__, Document.__table__, Backorder.__table__,
                              Tag.__table__, Cancellation.__table__)
        ts, b = self.ts, self.boolean
        lines = self.array(select(self.obj(
            ("article", ln.c.article), ("description", ln.c.description), ("quantity", ln.c.quantity),
            ("cancelled", ln.c.cancelled)).label("j")).where(ln.c.order_id == o.c.id)
            .order_by(ln.c.lineno, ln.c.id), o)
        docs = self.array(select(self.obj(("kind", dc.c.kind), ("number", dc.c.number)).label("j"))
                          .where(dc.c.order_id == o.c.id).order_by(dc.c.id), o)
        backs = self.array(select(self.obj(("article", bo.c.article), ("quantity", bo.c.quantity)).label("j"))
                           .where(bo.c.order_id == o.c.id).order_by(bo.c.id), o)
        tags = self.array(select(tg.c.name.label("j")).where(tg.c.order_id == o.c.id).order_by(tg.c.name), o,
                          objects=False)
        cancs = self.array(select(self.obj(
            ("number", cn.c.number), ("reason", cn.c.reason), ("comment", cn.c.comment),
            ("internal_note", cn.c.internal_note),
            ("lines", func.json(func.coalesce(func.nullif(cn.c.lines, "null"), "{}"))),
            ("partial", b(cn.c.partial)), ("state", cn.c.state), ("answer", cn.c.answer),
            ("created_at", ts(cn.c.created_at)), ("actor", cn.c.actor)).label("j"))
            .where(cn.c.order_id == o.c.id).order_by(cn.c.id), o)
        direction = case((src.c.name.is_not(None), literal("inbound")),
                         (asg.c.name.is_not(None), literal("outbound")), else_=literal("own"))
        record = self.obj(
            ("number", o.c.number), ("status", o.c.status), ("direction", direction),
            ("partner", src.c.name), ("assignee", asg.c.name), ("partner_ref", o.c.partner_ref),
            ("pickup_address", o.c.pickup_address), ("delivery_address", o.c.delivery_address),
            ("pickup_after", ts(o.c.pickup_after)), ("deliver_by", ts(o.c.deliver_by)),
            ("parcels", o.c.parcels), ("weight_kg", o.c.weight_kg),
            ("flags", self.obj(("cancellation_requested", b(o.c.cancellation_requested)),
                               ("partner_not_informed", b(o.c.partner_not_informed)),
                               ("archived", b(o.c.archived)))),
            ("cancellation_request", func.json(o.c.cancellation_request)),
            ("cancellation_refused", o.c.cancellation_refused), ("partner_status", o.c.partner_status),
            ("partner_status_at", ts(o.c.partner_status_at)), ("tags", tags), ("lines", lines),
            ("documents", docs), ("backorders", backs), ("cancellations", cancs),
            ("replaces", rep.c.number), ("created_at", ts(o.c.created_at)),
            ("received_at", ts(o.c.received_at)), ("dispatched_at", ts(o.c.dispatched_at)),
            ("status_changed_at", ts(o.c.status_changed_at)),
        )
        q = (select(record).select_from(o)
             .outerjoin(src, o.c.source_id == src.c.id).outerjoin(asg, o.c.assignee_id == asg.c.id)
             .outerjoin(rep, o.c.replaces_id == rep.c.id).order_by(o.c.id))
        return self._where(q, o)

    def _where(self, q: Any, o: Any) -> Any:
        f = self.flt
        if f.status is not None:
            q = q.where(o.c.status == f.status.value)
        if f.partner_id is not None:
            q = q.where((o.c.source_id == f.partner_id) | (o.c.assignee_id == f.partner_id))
        if f.archived is not None:
            q = q.where(o.c.archived.is_(f.archived))
        return q

    def _restrict(self, q: Any, col: Any) -> Any:
        if self.flt.everything:
            return q
        o = Order.__table__.alias("f")
        return q.where(col.in_(self._where(select(o.c.id), o)))

    def notices(self) -> Any:
        n, p, o = Notice.__table__, Partner.__table__, Order.__table__
        ts, b = self.ts, self.boolean
        record = self.obj(
            ("id", n.c.id), ("order", o.c.number), ("partner", p.c.name), ("kind", n.c.kind),
            ("state", n.c.state), ("transport", n.c.transport), ("seq", n.c.seq), ("attempts", n.c.attempts),
            ("created_at", ts(n.c.created_at)), ("release_at", ts(n.c.release_at)),
            ("next_attempt_at", ts(n.c.next_attempt_at)), ("sent_at", ts(n.c.sent_at)),
            ("acknowledged_at", ts(n.c.acknowledged_at)), ("last_error", n.c.last_error),
            ("outcome", n.c.outcome), ("answer", n.c.answer), ("awaits_answer", b(n.c.awaits_answer)),
            ("payload", func.json(n.c.payload)),
        )
        q = (select(record).select_from(n).outerjoin(o, n.c.order_id == o.c.id)
             .outerjoin(p, n.c.partner_id == p.c.id)
             .order_by(n.c.created_at, n.c.order_id, n.c.seq, n.c.id))
        return self._restrict(q, n.c.order_id)

    def followups(self) -> Any:
        f, p, o = FollowUp.__table__, Partner.__table__, Order.__table__
        ts, b = self.ts, self.boolean
        record = self.obj(
            ("id", f.c.id), ("order", o.c.number), ("partner", p.c.name), ("notice", f.c.notice_id),
            ("text", f.c.text), ("done", b(f.c.done_at.is_not(None))), ("created_at", ts(f.c.created_at)),
            ("done_at", ts(f.c.done_at)), ("done_by", f.c.done_by), ("withdrawn", b(f.c.withdrawn)),
        )
        q = (select(record).select_from(f).outerjoin(o, f.c.order_id == o.c.id)
             .outerjoin(p, f.c.partner_id == p.c.id).order_by(f.c.id))
        return self._restrict(q, f.c.order_id)

    def write(self, out: IO[str]) -> int:
        count = 0
        out.write("{")
        for k, (key, q) in enumerate((("orders", self.orders()), ("notices", self.notices()),
                                      ("followups", self.followups()))):
            out.write(("\n" if k == 0 else ",\n") + json.dumps(key) + ": [")
            buf: list[str] = []
            first = True
            for (text,) in self.conn.execute(q):
                buf.append(("\n " if first else ",\n ") + text)
                first = False
                if key == "orders":
                    count += 1
                if len(buf) >= 5000:
                    out.write("".join(buf))
                    buf.clear()
            out.write("".join(buf))
            out.write("]" if first else "\n]")
        out.write("\n}\n")
        return count


# --------------------------------------------------------------------------- flat rows

ORDER_COLUMNS = (
    ("number", "Number"),
    ("status", "Status"),
    ("direction", "Direction"),
    ("partner", "From partner"),
    ("assignee", "With partner"),
    ("partner_ref", "Partner's ref"),
    ("pickup_address", "Pickup address"),
    ("delivery_address", "Delivery address"),
    ("pickup_after", "Pickup after"),
    ("deliver_by", "Deliver by"),
    ("parcels", "Parcels"),
    ("weight_kg", "Weight kg"),
    ("cancellation_requested", "Cancellation requested"),
    ("partner_not_informed", "Partner not informed"),
    ("archived", "Archived"),
    ("tags", "Tags"),
    ("lines", "Lines"),
    ("documents", "Documents"),
    ("backorders", "Back-orders"),
    ("cancellation", "Cancellation reasons"),
    ("replaces", "Replaces"),
    ("created_at", "Created"),
    ("status_changed_at", "Status changed"),
)


def _line_summary(o: dict[str, Any]) -> str:
    parts = []
    for ln in o["lines"]:
        open_q = ln["quantity"] - ln["cancelled"]
        text = f"{ln['quantity']}× {ln['article']}"
        if ln["cancelled"]:
            text += f" ({ln['cancelled']} cancelled, {open_q} open)"
        parts.append(text)
    return "; ".join(parts)


def _flat(o: dict[str, Any]) -> dict[str, Any]:
    """One order as one row: lines, documents and back-orders summarised."""
    flags = o["flags"]
    return {
        "number": o["number"],
        "status": Status(o["status"]).label,
        "direction": o["direction"],
        "partner": o["partner"] or "",
        "assignee": o["assignee"] or "",
        "partner_ref": o["partner_ref"] or "",
        "pickup_address": o["pickup_address"],
        "delivery_address": o["delivery_address"],
        "pickup_after": o["pickup_after"] or "",
        "deliver_by": o["deliver_by"] or "",
        "parcels": o["parcels"],
        "weight_kg": o["weight_kg"],
        "cancellation_requested": "yes" if flags["cancellation_requested"] else "no",
        "partner_not_informed": "yes" if flags["partner_not_informed"] else "no",
        "archived": "yes" if flags["archived"] else "no",
        "tags": ", ".join(o["tags"]),
        "lines": _line_summary(o),
        "documents": "; ".join(
            f"{DocumentKind(d['kind']).label} {d['number']}" if d["kind"] in DocumentKind._value2member_map_
            else f"{d['kind']} {d['number']}"
            for d in o["documents"]
        ),
        "backorders": "; ".join(f"{b['quantity']}× {b['article']}" for b in o["backorders"]),
        "cancellation": "; ".join(
            f"{c['number']} {c['reason'] or 'no reason'}" + (f" ({c['state']})" if c["state"] != "done" else "")
            for c in o["cancellations"]
        ),
        "replaces": o["replaces"] or "",
        "created_at": o["created_at"] or "",
        "status_changed_at": o["status_changed_at"] or "",
    }


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _clean_fast(value: str) -> str:
    # printable ASCII holds nothing clean() removes: skip its regular expressions
    return value if value.isascii() and value.isprintable() else clean(value)


def _csv_cell(value: Any) -> Any:
    """Text from outside, made safe for a spreadsheet: no control sequences, no formulas."""
    if not isinstance(value, str):
        return value
    text = _clean_fast(value)
    if text.startswith(_FORMULA_START):
        return "'" + text  # OWASP: a leading quote keeps a spreadsheet from running it
    return text


def export_csv(
    depot: Depot,
    dest: str | os.PathLike[str] | IO[str],
    *,
    status: Status | str | None = None,
    partner: str | None = None,
    archived: bool | None = None,
) -> int:
    """One row per order (lines summarised). Returns the number of orders written."""
    data = export_json(depot, status=status, partner=partner, archived=archived)
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow([label for _, label in ORDER_COLUMNS])
    for o in data["orders"]:
        row = _flat(o)
        w.writerow([_csv_cell(row[key]) for key, _ in ORDER_COLUMNS])
    if hasattr(dest, "write"):
        dest.write(buf.getvalue())
    else:
        with _atomic(dest, binary=False) as f:
            f.write(buf.getvalue())
    return len(data["orders"])


def export_xlsx(
    depot: Depot,
    dest: str | os.PathLike[str],
    *,
    status: Status | str | None = None,
    partner: str | None = None,
    archived: bool | None = None,
) -> int:
    """An Excel workbook: sheet Orders (one row per order), sheet Lines (one row per line)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    data = export_json(depot, status=status, partner=partner, archived=archived)
    wb = Workbook(write_only=True)
    orders_ws = wb.create_sheet("Orders")
    lines_ws = wb.create_sheet("Lines")
    bold = Font(bold=True)

    def cell(ws: Any, value: Any, *, header: bool = False) -> Any:
        if isinstance(value, str):
            value = _xlsx_text(value)
        c = WriteOnlyCell(ws, value=value)
        if isinstance(value, str):
            c.data_type = "s"  # never a formula, whatever the text starts with
        if header:
            c.font = bold
        return c

    orders_ws.append([cell(orders_ws, label, header=True) for _, label in ORDER_COLUMNS])
    lines_ws.append([cell(lines_ws, h, header=True) for h in
                     ("Order", "Status", "Article", "Description", "Quantity", "Cancelled", "Open")])
    for o in data["orders"]:
        row = _flat(o)
        orders_ws.append([cell(orders_ws, row[key]) for key, _ in ORDER_COLUMNS])
        label = Status(o["status"]).label
        for ln in o["lines"]:
            lines_ws.append([
                cell(lines_ws, o["number"]), cell(lines_ws, label), cell(lines_ws, ln["article"]),
                cell(lines_ws, ln["description"]), ln["quantity"], ln["cancelled"],
                ln["quantity"] - ln["cancelled"],
            ])
    with _atomic(dest, binary=True) as f:
        wb.save(f)
    return len(data["orders"])


_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_text(value: str) -> str:
    # clean() already drops control characters; the second pass is openpyxl's own rule
    return _XLSX_ILLEGAL.sub("", _clean_fast(value))


# --------------------------------------------------------------------------- PDF

#: Where a Unicode TrueType font may be: the system's DejaVu, or one shipped in a package.
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
    "C:/Windows/Fonts/DejaVuSans.ttf",
)


def _unicode_font() -> tuple[Path, Path | None] | None:
    """A DejaVu Sans (regular, bold) if one is on the system or in an installed package."""
    candidates = [Path(p) for p in _FONT_CANDIDATES]
    try:  # matplotlib ships DejaVu Sans
        import importlib.util

        spec = importlib.util.find_spec("matplotlib")
        if spec is not None and spec.submodule_search_locations:
            base = Path(next(iter(spec.submodule_search_locations)))
            candidates.append(base / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
    except (ImportError, ValueError):
        pass
    for regular in candidates:
        if regular.is_file():
            bold = regular.with_name("DejaVuSans-Bold.ttf")
            return regular, bold if bold.is_file() else None
    return None


def _latin1(text: str) -> str:
    """For the core fonts: every character Latin-1 cannot hold becomes '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


PDF_COLUMNS = (
    # (key, header, width in mm)
    ("number", "Number", 26),
    ("status", "Status", 20),
    ("direction", "Dir.", 15),
    ("partner", "Partner", 40),
    ("route", "Pickup → delivery", 62),
    ("parcels", "Parc.", 10),
    ("weight_kg", "kg", 13),
    ("marks", "Marks", 30),
    ("lines", "Lines", 61),
)


def export_pdf(
    depot: Depot,
    dest: str | os.PathLike[str],
    *,
    status: Status | str | None = None,
    partner: str | None = None,
    archived: bool | None = None,
    title: str | None = None,
) -> int:
    """A landscape A4 table of the orders, Rejected and Cancelled included."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    data = export_json(depot, status=status, partner=partner, archived=archived)
    font = _unicode_font()
    depot_name = depot.setting("depot_name") or "dispatchdesk"
    stamp = depot.now().strftime("%Y-%m-%d %H:%M UTC")
    filters = []
    if status is not None:
        filters.append(f"status {_parse_status(status).label}")  # type: ignore[union-attr]
    if partner:
        filters.append(f"partner {partner}")
    if archived is not None:
        filters.append("archived only" if archived else "archived left out")
    heading = clean(title or f"Orders of {depot_name}", single_line=True)
    sub = f"{len(data['orders'])} orders" + (f" ({', '.join(filters)})" if filters else "") + f", exported {stamp}"

    class _PDF(FPDF):
        def footer(self) -> None:
            self.set_y(-10)
            self.set_font(family, size=7)
            self.cell(0, 5, fix(f"{heading} · page {self.page_no()}/{{nb}}"), align="C")

    pdf = _PDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_margins(7, 8, 7)
    if font is not None:
        family = "DejaVu"
        pdf.add_font(family, "", str(font[0]))
        pdf.add_font(family, "B", str(font[1] or font[0]))

        def fix(text: str) -> str:
            return text
    else:
        family = "Helvetica"
        fix = _latin1
    pdf.set_title(fix(heading))
    pdf.set_creator("dispatchdesk")
    pdf.add_page()
    pdf.set_font(family, "B", 13)
    pdf.cell(0, 7, fix(heading), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 8)
    pdf.cell(0, 5, fix(clean(sub, single_line=True)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(family, "", 7)
    head_style = FontFace(emphasis="BOLD", fill_color=(225, 225, 225))
    widths = tuple(w for _, _, w in PDF_COLUMNS)
    with pdf.table(
        col_widths=widths,
        width=sum(widths),
        align="LEFT",
        headings_style=head_style,
        line_height=3.6,
        text_align="LEFT",
        repeat_headings=1,
        first_row_as_headings=True,
        padding=0.8,
    ) as table:
        table.row([fix(h) for _, h, _ in PDF_COLUMNS])
        for o in data["orders"]:
            row = table.row()
            for value in _pdf_row(o):
                row.cell(fix(value))
    with _atomic(dest, binary=True) as f:
        f.write(bytes(pdf.output()))
    return len(data["orders"])


def _pdf_row(o: dict[str, Any]) -> list[str]:
    flags = o["flags"]
    marks = []
    if flags["cancellation_requested"]:
        marks.append("cancellation requested")
    if flags["partner_not_informed"]:
        marks.append("partner not informed")
    if flags["archived"]:
        marks.append("archived")
    if o["documents"]:
        marks.append(", ".join(DocumentKind(d["kind"]).label if d["kind"] in DocumentKind._value2member_map_
                               else d["kind"] for d in o["documents"]))
    if o["backorders"]:
        marks.append("back-ordered")
    partner = o["partner"] or ""
    if o["assignee"]:
        partner = f"{partner} → {o['assignee']}" if partner else f"→ {o['assignee']}"
    route = f"{o['pickup_address']} → {o['delivery_address']}"
    values = [
        o["number"],
        Status(o["status"]).label,
        o["direction"],
        partner or "(own)",
        route,
        str(o["parcels"]),
        f"{o['weight_kg']:g}",
        "; ".join(marks),
        _line_summary(o),
    ]
    return [clean(v, single_line=True, limit=400) for v in values]


# =========================================================================== import


@dataclass(frozen=True)
class ImportResult:
    source: str
    orders: tuple[str, ...] = ()
    notices: int = 0
    followups: int = 0

    def summary(self) -> str:
        n = len(self.orders)
        parts = [f"{n} order{'s' if n != 1 else ''}"]
        parts.append(f"{self.notices} notice{'s' if self.notices != 1 else ''}")
        parts.append(f"{self.followups} follow-up{'s' if self.followups != 1 else ''}")
        return f"Imported {', '.join(parts)} from {self.source}."


def read_json_file(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; every problem becomes a sentence naming the file (and line, column)."""
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{p}: no such file; nothing was imported.") from None
    except IsADirectoryError:
        raise InvalidInput(f"{p} is a directory, not a JSON file; nothing was imported.") from None
    except OSError as e:
        raise InvalidInput(f"{p}: cannot read it ({e.strerror or e}); nothing was imported.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InvalidInput(
            f"{p}: line {line}: not UTF-8 text (byte {e.start + 1}); nothing was imported."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInput(
            f"{p}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}; nothing was imported."
        ) from None
    except RecursionError:
        raise InvalidInput(f"{p}: the JSON is nested too deeply; nothing was imported.") from None


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, text: str) -> None:
        self.items.append(f"{where}: {text}")

    def __bool__(self) -> bool:
        return bool(self.items)


def _shown(value: Any, limit: int = 40) -> str:
    return repr(clean(value, single_line=True, limit=limit)) if isinstance(value, str) else repr(value)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


class _Record:
    """Typed reads from one record, adding a problem (and returning a safe value) when wrong."""

    def __init__(self, problems: _Problems, where: str, data: dict[str, Any]) -> None:
        self.p = problems
        self.where = where
        self.d = data

    def bad(self, key: str, want: str) -> None:
        value = self.d.get(key)
        self.p.add(self.where, f"{key!r} must be {want}, not {_type_name(value)} {_shown(value)}.")

    def text(self, key: str, *, required: bool = False, limit: int = 4000, default: str | None = "") -> str | None:
        v = self.d.get(key)
        if v is None:
            if required:
                self.p.add(self.where, f"{key!r} is missing.")
            return default
        if not isinstance(v, str):
            self.bad(key, "text")
            return default
        if required and not v.strip():
            self.p.add(self.where, f"{key!r} is empty.")
        if len(v) > limit:
            self.p.add(self.where, f"{key!r} is longer than {limit} characters.")
        return v

    def integer(self, key: str, *, default: int, low: int = 0, high: int | None = None) -> int:
        v = self.d.get(key, default)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            self.bad(key, "a whole number")
            return default
        if v < low or (high is not None and v > high):
            rng = f"from {low} to {high}" if high is not None else f"{low} or more"
            self.p.add(self.where, f"{key!r} must be {rng}, not {v}.")
        return v

    def number(self, key: str, *, default: float, high: float) -> float:
        v = self.d.get(key, default)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.bad(key, "a number")
            return default
        if not 0 <= v <= high:
            self.p.add(self.where, f"{key!r} must be from 0 to {high:g}, not {v}.")
        return float(v)

    def boolean(self, key: str, *, default: bool = False, data: dict[str, Any] | None = None) -> bool:
        src = self.d if data is None else data
        v = src.get(key, default)
        if v is None:
            return default
        if not isinstance(v, bool):
            self.p.add(self.where, f"{key!r} must be true or false, not {_type_name(v)} {_shown(v)}.")
            return default
        return v

    def when(self, key: str) -> datetime | None:
        v = self.d.get(key)
        if v is None or v == "":
            return None
        if not isinstance(v, str):
            self.bad(key, "an ISO 8601 time")
            return None
        try:
            t = datetime.fromisoformat(v)
        except ValueError:
            self.p.add(self.where, f"{key!r} is not an ISO 8601 time: {_shown(v)}.")
            return None
        if t.tzinfo is None:
            self.p.add(self.where, f"{key!r} has no time zone: {_shown(v)} (add +00:00 or Z).")
            return None
        return t

    def listing(self, key: str) -> list[Any]:
        v = self.d.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            self.bad(key, "a list")
            return []
        return v

    def mapping(self, key: str) -> dict[str, Any] | None:
        v = self.d.get(key)
        if v is None:
            return None
        if not isinstance(v, dict):
            self.bad(key, "an object")
            return None
        return v


@dataclass
class _Plan:
    orders: list[dict[str, Any]] = field(default_factory=list)
    lines: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    documents: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    backorders: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    tags: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    cancellations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    replaces: list[tuple[str, str]] = field(default_factory=list)
    notices: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    followups: list[tuple[str | None, str | None, dict[str, Any]]] = field(default_factory=list)
    unnumbered: list[int] = field(default_factory=list)  # indexes into orders needing a number


def _existing(session: Session, column: Any, values: Iterable[str]) -> set[str]:
    values = sorted(set(values))
    out: set[str] = set()
    for i in range(0, len(values), _CHUNK):
        chunk = values[i : i + _CHUNK]
        out.update(session.scalars(select(column).where(column.in_(chunk))))
    return out


def import_json(depot: Depot, path_or_data: str | os.PathLike[str] | dict[str, Any]) -> ImportResult:
    """Read the export shape and write all of it in one transaction, or nothing.

    Every record is checked first; every problem is reported (InvalidInput, with one reason
    per problem naming the record's place in the file and its number). Partners are referred
    to by name and must exist; an order number already in the depot is refused.
    """
    if isinstance(path_or_data, dict):
        source, data = "the data", path_or_data
    else:
        source = str(path_or_data)
        data = read_json_file(path_or_data)
    if not isinstance(data, dict):
        raise InvalidInput(
            f"{source}: the file must hold one JSON object with \"orders\" (and optionally "
            f"\"notices\" and \"followups\"), not {_type_name(data)}; nothing was imported."
        )
    problems = _Problems()
    for key in ("orders", "notices", "followups"):
        if key in data and not isinstance(data[key], list):
            problems.add(source, f"{key!r} must be a list, not {_type_name(data[key])}.")
    if "orders" not in data and "notices" not in data and "followups" not in data:
        problems.add(source, "there is no \"orders\" list (nor \"notices\" or \"followups\").")
    unknown = sorted(k for k in data if k not in ("orders", "notices", "followups"))
    if unknown:
        problems.add(source, f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                             "the keys are \"orders\", \"notices\" and \"followups\".")
    if problems:
        _refuse(source, problems)
    raw_orders = data.get("orders") or []
    raw_notices = data.get("notices") or []
    raw_followups = data.get("followups") or []

    with depot.uow() as uow:
        s = uow.session
        partners = {p.name: p for p in s.scalars(select(Partner))}
        plan = _check(s, source, partners, raw_orders, raw_notices, raw_followups, problems)
        if problems:
            _refuse(source, problems)
        result = _write(depot, s, source, partners, plan)
        uow.commit()
        return result


def _refuse(source: str, problems: _Problems) -> None:
    n = len(problems.items)
    head = f"{source}: {n} problem{'s' if n != 1 else ''}; nothing was imported."
    raise InvalidInput(head, [head, *problems.items])


def _check(
    s: Session,
    source: str,
    partners: dict[str, Partner],
    raw_orders: list[Any],
    raw_notices: list[Any],
    raw_followups: list[Any],
    problems: _Problems,
) -> _Plan:
    plan = _Plan()
    numbers_in_file: dict[str, int] = {}
    for i, rec in enumerate(raw_orders):
        num = rec.get("number") if isinstance(rec, dict) else None
        if isinstance(num, str) and num.strip():
            numbers_in_file.setdefault(num.strip(), i)
    taken = _existing(s, Order.number, numbers_in_file)
    notice_ids_in_file = {
        n["id"] for n in raw_notices if isinstance(n, dict) and isinstance(n.get("id"), str)
    }
    notice_ids_taken = _existing(s, Notice.id, notice_ids_in_file)
    referenced = set()
    for rec in (*raw_notices, *raw_followups):
        if isinstance(rec, dict) and isinstance(rec.get("order"), str):
            referenced.add(rec["order"])
    for rec in raw_orders:
        if isinstance(rec, dict) and isinstance(rec.get("replaces"), str):
            referenced.add(rec["replaces"])
    in_db = _existing(s, Order.number, referenced - set(numbers_in_file)) | taken
    cn_in_file: set[str] = set()
    all_cn = [
        c["number"] for rec in raw_orders if isinstance(rec, dict) and isinstance(rec.get("cancellations"), list)
        for c in rec["cancellations"] if isinstance(c, dict) and isinstance(c.get("number"), str)
    ]
    cn_taken = _existing(s, Cancellation.number, all_cn)

    def partner_ok(r: _Record, key: str, roles: tuple[Role, ...] | None) -> str | None:
        name = r.text(key, limit=200, default=None)
        if name is None or name == "":
            return None
        p = partners.get(name) or partners.get(" ".join(name.split()))
        if p is None:
            known = ", ".join(sorted(partners)) or "none yet; add them with dispatchdesk partner add"
            r.p.add(r.where, f"unknown partner {_shown(name)} in {key!r} (partners: {clean(known)}).")
            return None
        if roles is not None and Role(p.role) not in roles:
            want = " or ".join(x.value for x in roles)
            r.p.add(r.where, f"{key!r} names {_shown(p.name)}, a {p.role}; it must be a {want}.")
        return p.name

    for i, rec in enumerate(raw_orders):
        if not isinstance(rec, dict):
            problems.add(f"{source}: orders[{i}]", f"must be an object, not {_type_name(rec)}.")
            continue
        num_v = rec.get("number")
        label = f"orders[{i}]" + (f" (number {_shown(num_v)})" if isinstance(num_v, str) else "")
        r = _Record(problems, f"{source}: {label}", rec)
        number = r.text("number", limit=50, default=None)
        if number is not None:
            number = number.strip()
            if not _NUMBER_RE.fullmatch(number):
                r.p.add(r.where, "the order number may hold only letters, digits and . _ / - (at most 50).")
            elif numbers_in_file.get(number, i) != i:
                r.p.add(r.where, f"order number {_shown(number)} appears twice in the file "
                                 f"(also orders[{numbers_in_file[number]}]).")
            elif number in taken:
                r.p.add(r.where, f"order number {_shown(number)} is already used in this depot.")
        status_v = rec.get("status", Status.CREATED.value)
        status = Status.CREATED
        if not isinstance(status_v, str):
            r.bad("status", "text")
        else:
            try:
                status = Status.parse(status_v)
            except ValueError:
                r.p.add(r.where, f"unknown status {_shown(status_v)}; the statuses are: "
                                 f"{', '.join(x.label for x in Status)}.")
        direction = r.text("direction", default=None)
        if direction is not None and direction not in Direction._value2member_map_:
            r.p.add(r.where, f"unknown direction {_shown(direction)}; use inbound, outbound or own.")
        src = partner_ok(r, "partner", (Role.CLIENT, Role.CHANNEL))
        asg = partner_ok(r, "assignee", (Role.SUBCONTRACTOR, Role.WAREHOUSE))
        if status is Status.DISPATCHED and not rec.get("assignee"):
            r.p.add(r.where, "a Dispatched order needs the partner it was sent to in 'assignee'.")
        ref = r.text("partner_ref", limit=100, default=None)
        if ref and src is None and not rec.get("partner"):
            r.p.add(r.where, "'partner_ref' is the reference of the partner the order came from; "
                             "name that partner in 'partner'.")
        pickup = r.text("pickup_address", required=True)
        delivery = r.text("delivery_address", required=True)
        times = {k: r.when(k) for k in ("pickup_after", "deliver_by", "partner_status_at", "created_at",
                                        "received_at", "dispatched_at", "status_changed_at")}
        if times["pickup_after"] and times["deliver_by"] and times["deliver_by"] < times["pickup_after"]:
            r.p.add(r.where, "'deliver_by' is before 'pickup_after'.")
        parcels = r.integer("parcels", default=1, low=1, high=9999)
        weight = r.number("weight_kg", default=0.0, high=100000)
        flags_v = r.mapping("flags") or {}
        for k in flags_v:
            if k not in ("cancellation_requested", "partner_not_informed", "archived"):
                r.p.add(r.where, f"unknown flag {_shown(k)}; the flags are cancellation_requested, "
                                 "partner_not_informed, archived.")
        flags = {k: r.boolean(k, data=flags_v) for k in ("cancellation_requested", "partner_not_informed", "archived")}
        creq = r.mapping("cancellation_request")
        cref = r.text("cancellation_refused", default=None)
        pstatus = r.text("partner_status", limit=20, default=None)
        if pstatus is not None:
            try:
                pstatus = Status.parse(pstatus).value
            except ValueError:
                r.p.add(r.where, f"unknown 'partner_status' {_shown(pstatus)}.")
        replaces = r.text("replaces", limit=50, default=None)
        if replaces and replaces not in numbers_in_file and replaces not in in_db:
            r.p.add(r.where, f"'replaces' names order {_shown(replaces)}, which is neither in the file nor in the depot.")
        if replaces and replaces == number:
            r.p.add(r.where, "an order cannot replace itself.")

        tags = []
        for j, t in enumerate(r.listing("tags")):
            if not isinstance(t, str) or not " ".join(t.split()):
                r.p.add(r.where, f"tags[{j}] must be non-empty text, not {_type_name(t)} {_shown(t)}.")
            elif len(" ".join(t.split())) > 50:
                r.p.add(r.where, f"tags[{j}] is longer than 50 characters.")
            else:
                tags.append(" ".join(t.split()))
        lines = []
        articles: set[str] = set()
        for j, ln in enumerate(r.listing("lines")):
            lr = _Record(problems, f"{r.where}, lines[{j}]", ln if isinstance(ln, dict) else {})
            if not isinstance(ln, dict):
                problems.add(lr.where, f"must be an object, not {_type_name(ln)}.")
                continue
            art = lr.text("article", required=True, limit=100) or ""
            if art.strip() in articles:
                problems.add(lr.where, f"article {_shown(art)} appears twice in the order.")
            articles.add(art.strip())
            qty = lr.integer("quantity", default=1, low=1)
            cancelled = lr.integer("cancelled", default=0, low=0)
            if isinstance(qty, int) and isinstance(cancelled, int) and cancelled > qty:
                problems.add(lr.where, f"'cancelled' ({cancelled}) is more than 'quantity' ({qty}).")
            lines.append({"lineno": j + 1, "article": art.strip(), "description": lr.text("description") or "",
                          "quantity": qty, "cancelled": cancelled})
        docs = []
        for j, d in enumerate(r.listing("documents")):
            dr = _Record(problems, f"{r.where}, documents[{j}]", d if isinstance(d, dict) else {})
            if not isinstance(d, dict):
                problems.add(dr.where, f"must be an object, not {_type_name(d)}.")
                continue
            kind = dr.text("kind", required=True, limit=20) or ""
            if kind and kind not in DocumentKind._value2member_map_:
                problems.add(dr.where, f"unknown document kind {_shown(kind)}; use delivery_note or invoice.")
            docs.append({"kind": kind, "number": dr.text("number", required=True, limit=100) or ""})
        backs = []
        for j, b in enumerate(r.listing("backorders")):
            br = _Record(problems, f"{r.where}, backorders[{j}]", b if isinstance(b, dict) else {})
            if not isinstance(b, dict):
                problems.add(br.where, f"must be an object, not {_type_name(b)}.")
                continue
            backs.append({"article": (br.text("article", required=True, limit=100) or "").strip(),
                          "quantity": br.integer("quantity", default=1, low=1)})
        cancs = []
        for j, c in enumerate(r.listing("cancellations")):
            cr = _Record(problems, f"{r.where}, cancellations[{j}]", c if isinstance(c, dict) else {})
            if not isinstance(c, dict):
                problems.add(cr.where, f"must be an object, not {_type_name(c)}.")
                continue
            cn = (cr.text("number", required=True, limit=100) or "").strip()
            if cn in cn_in_file:
                problems.add(cr.where, f"cancellation number {_shown(cn)} appears twice in the file.")
            elif cn in cn_taken:
                problems.add(cr.where, f"cancellation number {_shown(cn)} is already used in this depot.")
            cn_in_file.add(cn)
            reason = cr.text("reason", limit=30, default=None)
            if reason is not None:
                try:
                    reason = ReasonCode.parse(reason).value
                except ValueError:
                    problems.add(cr.where, f"unknown reason code {_shown(reason)}; the codes are: "
                                           f"{', '.join(x.value for x in ReasonCode)}.")
            qty_map = cr.mapping("lines") or {}
            for art, q in qty_map.items():
                if isinstance(q, bool) or not isinstance(q, int) or q < 0:
                    problems.add(cr.where, f"the quantity of {_shown(art)} must be a whole number of 0 or more.")
            state = cr.text("state", default="done") or "done"
            if state not in _CANCELLATION_STATES:
                problems.add(cr.where, f"unknown state {_shown(state)}; use {', '.join(_CANCELLATION_STATES)}.")
            cancs.append({
                "number": cn, "reason": reason, "comment": cr.text("comment") or "",
                "internal_note": cr.text("internal_note") or "", "lines": qty_map,
                "partial": cr.boolean("partial"), "state": state, "answer": cr.text("answer", default=None),
                "created_at": cr.when("created_at"), "actor": cr.text("actor", limit=100, default=None),
            })

        key = number or f"#new{i}"
        row = {
            "number": number,
            "status": status.value,
            "source": src,
            "assignee": asg,
            "partner_ref": ref,
            "pickup_address": (pickup or "").strip(),
            "delivery_address": (delivery or "").strip(),
            "parcels": parcels,
            "weight_kg": weight,
            "archived": flags["archived"],
            "cancellation_requested": flags["cancellation_requested"],
            "partner_not_informed": flags["partner_not_informed"],
            "cancellation_request": creq,
            "cancellation_refused": cref,
            "partner_status": pstatus,
            "_key": key,
            **times,
        }
        plan.orders.append(row)
        if number is None:
            plan.unnumbered.append(len(plan.orders) - 1)
        plan.lines.extend((key, ln) for ln in lines)
        plan.documents.extend((key, d) for d in docs)
        plan.backorders.extend((key, b) for b in backs)
        plan.tags.extend((key, {"name": t}) for t in dict.fromkeys(tags))
        plan.cancellations.extend((key, c) for c in cancs)
        if replaces:
            plan.replaces.append((key, replaces))

    known_orders = set(numbers_in_file) | in_db
    seen_ids: dict[str, int] = {}
    for i, rec in enumerate(raw_notices):
        if not isinstance(rec, dict):
            problems.add(f"{source}: notices[{i}]", f"must be an object, not {_type_name(rec)}.")
            continue
        nid_v = rec.get("id")
        r = _Record(problems, f"{source}: notices[{i}]" + (f" (id {_shown(nid_v)})" if isinstance(nid_v, str) else ""), rec)
        nid = r.text("id", required=True, limit=36, default=None)
        if nid is not None:
            if nid in seen_ids:
                r.p.add(r.where, f"notice id {_shown(nid)} appears twice in the file (also notices[{seen_ids[nid]}]).")
            elif nid in notice_ids_taken:
                r.p.add(r.where, f"notice id {_shown(nid)} is already in this depot.")
            seen_ids.setdefault(nid, i)
        order = r.text("order", limit=50, default=None)
        if order is not None and order not in known_orders:
            r.p.add(r.where, f"'order' names {_shown(order)}, which is neither in the file nor in the depot.")
        partner = partner_ok(r, "partner", None)
        if partner is None and not rec.get("partner"):
            r.p.add(r.where, "'partner' is missing: a notice goes to a partner.")
        vals: dict[str, Any] = {}
        for key, enum in (("kind", NoticeKind), ("state", NoticeState), ("transport", Transport)):
            v = r.text(key, required=True, limit=40, default=None)
            if v is not None and v not in enum._value2member_map_:
                r.p.add(r.where, f"unknown {key} {_shown(v)}; use one of: {', '.join(e.value for e in enum)}.")
            vals[key] = v
        payload = rec.get("payload", {})
        if not isinstance(payload, dict):
            r.bad("payload", "an object")
            payload = {}
        seq = rec.get("seq")
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
            r.bad("seq", "a whole number of 0 or more")
            seq = None
        plan.notices.append((order, {
            "id": nid, "partner": partner, **vals, "payload": payload, "seq": seq,
            "attempts": r.integer("attempts", default=0, low=0),
            "created_at": r.when("created_at"), "release_at": r.when("release_at"),
            "next_attempt_at": r.when("next_attempt_at"), "sent_at": r.when("sent_at"),
            "acknowledged_at": r.when("acknowledged_at"), "last_error": r.text("last_error", default=None),
            "outcome": r.text("outcome", limit=20, default=None), "answer": r.text("answer", default=None),
            "awaits_answer": r.boolean("awaits_answer"),
        }))

    known_notices = set(seen_ids) | notice_ids_taken
    refs = {rec["notice"] for rec in raw_followups if isinstance(rec, dict) and isinstance(rec.get("notice"), str)}
    known_notices |= _existing(s, Notice.id, refs - known_notices)
    for i, rec in enumerate(raw_followups):
        if not isinstance(rec, dict):
            problems.add(f"{source}: followups[{i}]", f"must be an object, not {_type_name(rec)}.")
            continue
        r = _Record(problems, f"{source}: followups[{i}]", rec)
        order = r.text("order", limit=50, default=None)
        if order is not None and order not in known_orders:
            r.p.add(r.where, f"'order' names {_shown(order)}, which is neither in the file nor in the depot.")
        partner = partner_ok(r, "partner", None)
        notice = r.text("notice", limit=36, default=None)
        if notice is not None and notice not in known_notices:
            r.p.add(r.where, f"'notice' names {_shown(notice)}, which is neither in the file nor in the depot.")
        text = r.text("text", required=True) or ""
        done = r.boolean("done")
        done_at = r.when("done_at")
        plan.followups.append((order, notice, {
            "partner": partner, "text": text, "created_at": r.when("created_at"),
            "done": done, "done_at": done_at, "done_by": r.text("done_by", limit=100, default=None),
            "withdrawn": r.boolean("withdrawn"),
        }))
    return plan


def _write(depot: Depot, s: Session, source: str, partners: dict[str, Partner], plan: _Plan) -> ImportResult:
    now = depot.now()
    pid = {name: p.id for name, p in partners.items()}
    for idx in plan.unnumbered:
        plan.orders[idx]["number"] = next_number(s, "order")
    key_to_number = {o["_key"]: o["number"] for o in plan.orders}

    order_rows = []
    for o in plan.orders:
        created = o["created_at"] or now
        order_rows.append({
            "number": o["number"],
            "version": 1,
            "status": o["status"],
            "source_id": pid.get(o["source"]) if o["source"] else None,
            "assignee_id": pid.get(o["assignee"]) if o["assignee"] else None,
            "partner_ref": o["partner_ref"],
            "pickup_address": o["pickup_address"],
            "delivery_address": o["delivery_address"],
            "pickup_after": o["pickup_after"],
            "deliver_by": o["deliver_by"],
            "parcels": o["parcels"],
            "weight_kg": o["weight_kg"],
            "archived": o["archived"],
            "cancellation_requested": o["cancellation_requested"],
            "cancellation_request": o["cancellation_request"],
            "partner_not_informed": o["partner_not_informed"],
            "cancellation_refused": o["cancellation_refused"],
            "partner_status": o["partner_status"],
            "partner_status_at": o["partner_status_at"],
            "created_at": created,
            "received_at": o["received_at"] or (created if o["source"] else None),
            "dispatched_at": o["dispatched_at"] or (created if o["assignee"] else None),
            "status_changed_at": o["status_changed_at"] or created,
        })
    id_of: dict[str, int] = {}
    if order_rows:
        table = cast(Table, Order.__table__)
        for i in range(0, len(order_rows), 5000):
            chunk = order_rows[i : i + 5000]
            res = s.execute(
                insert(table).returning(table.c.id, table.c.number, sort_by_parameter_order=True), chunk
            )
            id_of.update({number: oid for oid, number in res})
    missing = {number for _, number in plan.replaces if number not in id_of}
    missing |= {o for o, _ in plan.notices if o is not None and o not in id_of}
    missing |= {o for o, _, _ in plan.followups if o is not None and o not in id_of}
    missing_list = sorted(missing)
    for i in range(0, len(missing_list), _CHUNK):
        numbers = missing_list[i : i + _CHUNK]
        id_of.update(dict(s.execute(select(Order.number, Order.id).where(Order.number.in_(numbers))).all()))

    def oid(key: str) -> int:
        return id_of[key_to_number[key]]

    def bulk(model: Any, rows: list[dict[str, Any]]) -> None:
        for i in range(0, len(rows), 5000):
            if rows[i : i + 5000]:
                s.execute(insert(model.__table__), rows[i : i + 5000])

    bulk(OrderLine, [{"order_id": oid(k), **ln} for k, ln in plan.lines])
    bulk(Document, [{"order_id": oid(k), **d, "created_at": now} for k, d in plan.documents])
    bulk(Backorder, [{"order_id": oid(k), **b} for k, b in plan.backorders])
    bulk(Tag, [{"order_id": oid(k), **t} for k, t in plan.tags])
    bulk(Cancellation, [
        {"order_id": oid(k), **{**c, "created_at": c["created_at"] or now, "actor": c["actor"] or depot.actor}}
        for k, c in plan.cancellations
    ])
    if plan.replaces:
        t = cast(Table, Order.__table__)
        s.execute(
            update(t).where(t.c.id == bindparam("oid")).values(replaces_id=bindparam("rid")),
            [{"oid": oid(k), "rid": id_of[n]} for k, n in plan.replaces],
        )

    # notices: keep the file's sequence per order when it is usable, else number them after
    # whatever the order already has
    by_order: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for order_number, n in plan.notices:
        by_order[id_of[order_number] if order_number is not None else None].append(n)
    existing_max: dict[int | None, int] = {}
    new_ids = {id_of[x["number"]] for x in plan.orders}
    old_ids = [o for o in by_order if o is not None and o not in new_ids]
    for i in range(0, len(old_ids), _CHUNK):
        ids = old_ids[i : i + _CHUNK]
        existing_max.update(s.execute(select(Notice.order_id, func.max(Notice.seq))
                                      .where(Notice.order_id.in_(ids)).group_by(Notice.order_id)).all())
    notice_rows = []
    for order_id, ns in by_order.items():
        given = [n["seq"] for n in ns]
        base = existing_max.get(order_id, 0) if order_id is not None else 0
        usable = order_id is not None and base == 0 and None not in given and len(set(given)) == len(given)
        ordered = sorted(ns, key=lambda n: n["seq"] if n["seq"] is not None else 1 << 30) if order_id else ns
        for k, n in enumerate(ordered, 1):
            seq = n["seq"] if usable else (base + k if order_id is not None else 0)
            notice_rows.append({
                "id": n["id"], "order_id": order_id, "partner_id": pid[n["partner"]], "kind": n["kind"],
                "transport": n["transport"], "payload": n["payload"], "state": n["state"], "seq": seq,
                "attempts": n["attempts"], "created_at": n["created_at"] or now, "release_at": n["release_at"],
                "next_attempt_at": n["next_attempt_at"], "last_error": n["last_error"], "sent_at": n["sent_at"],
                "acknowledged_at": n["acknowledged_at"], "outcome": n["outcome"], "answer": n["answer"],
                "awaits_answer": n["awaits_answer"],
            })
    bulk(Notice, notice_rows)
    bulk(FollowUp, [
        {
            "order_id": id_of[o] if o is not None else None,
            "partner_id": pid[f["partner"]] if f["partner"] else None,
            "notice_id": notice,
            "text": f["text"],
            "created_at": f["created_at"] or now,
            "done_at": f["done_at"] or (now if f["done"] else None),
            "done_by": f["done_by"] or (depot.actor if f["done"] else None),
            "withdrawn": f["withdrawn"],
        }
        for o, notice, f in plan.followups
    ])
    name = Path(source).name if source != "the data" else source
    bulk(AuditEntry, [
        {
            "order_id": id_of[o["number"]], "at": now, "actor": depot.actor, "action": "imported",
            "to_status": o["status"], "detail": f"Order {o['number']} imported from {name}.",
            "after_version": 1, "notices": [], "followups": [],
        }
        for o in plan.orders
    ])
    return ImportResult(source, tuple(o["number"] for o in plan.orders), len(notice_rows), len(plan.followups))
