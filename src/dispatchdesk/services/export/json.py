"""The JSON export (the exchange format, read back by ``services.importer``).

The shape::

    {"orders": [...], "notices": [...], "followups": [...]}

An order carries its number, status, direction, partner (the client or channel it came
from), assignee (the subcontractor or warehouse that has it), the partner's reference,
addresses, times (ISO 8601 with a time zone), parcels and weight, flags
``{cancellation_requested, partner_not_informed, archived}``, tags, lines
``[{article, description, quantity, cancelled}]``, documents ``[{kind, number}]``,
back-orders ``[{article, quantity}]``, the number of the order it replaces, its
cancellations and, when it has any, its returns ``[{number, reason, comment, lines, reported_by, created_at,
actor}]`` (the import reads returns back as nothing: they are for reading). A notice carries its id, order, partner, kind, state, transport, attempts
and times; a follow-up its id, order, partner, text and whether it is done.

A whole-depot export of a depot with automation rules also carries ``"rules": [{name,
enabled, stop_after, trigger, conditions, effects, version, created_at, created_by,
updated_at, updated_by}]`` in the order they are tried (issue 14); the import reads them back.

Partners are never exported here: they carry secrets, and they are set up with
``dispatchdesk partner add``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy import case, func, literal, select

from ...domain import Status
from ...store.models import (
    Backorder,
    Cancellation,
    Document,
    FollowUp,
    Notice,
    Order,
    OrderLine,
    Partner,
    Return,
    Tag,
)
from ..core import Depot
from .common import Filter, atomic, export_json, make_filter, rule_records


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
    with atomic(dest, binary=False) as f:
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
        flt = make_filter(s, status, partner, archived)
        conn = s.connection()
        if conn.dialect.name == "sqlite":
            if hasattr(path, "write"):
                # a stream gets pure ASCII, as write_json gives it: SQLite's JSON escapes
                # control characters, and _AsciiStream escapes the rest (bidi overrides…)
                return _SqliteJson(conn, flt, s).write(_AsciiStream(path))  # type: ignore[arg-type]
            with atomic(path, binary=False) as f:
                return _SqliteJson(conn, flt, s).write(f)
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

    def __init__(self, conn: Any, flt: Filter, session: Any = None) -> None:
        self.conn = conn
        self.flt = flt
        self.session = session

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
        rt, by = Return.__table__, Partner.__table__.alias("by")
        rets = self.array(select(self.obj(
            ("number", rt.c.number), ("reason", rt.c.reason), ("comment", rt.c.comment),
            ("lines", func.json(func.coalesce(func.nullif(rt.c.lines, "null"), "{}"))),
            ("reported_by", by.c.name), ("created_at", ts(rt.c.created_at)), ("actor", rt.c.actor)).label("j"))
            .select_from(rt).outerjoin(by, rt.c.reported_by_id == by.c.id)
            .where(rt.c.order_id == o.c.id).order_by(rt.c.id), o)
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
        # only an order that has returns carries the key, last (as export_json does)
        record = case((rets == "[]", record), else_=func.json_set(record, "$.returns", func.json(rets)))
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
        rules = rule_records(self.session) if self.flt.everything else []
        if rules:  # only a depot with rules carries the key, as export_json gives it
            out.write(",\n" + json.dumps("rules") + ": [")
            out.write(",".join("\n " + json.dumps(r, ensure_ascii=False) for r in rules))
            out.write("\n]")
        out.write("\n}\n")
        return count


