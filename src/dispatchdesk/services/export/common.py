"""What the export formats share: the filter, the paged Core reads that build the export
data (``Export``), the flat one-row-per-order view, and writing a file whole or not at all.

Export reads the chosen orders in keyset pages (``BATCH`` orders, one select per kind of
child over the page's id range), never an ORM load or a query per order, and every format
writes a page before it reads the next, so memory does not grow with the depot. Every file
is written to a temporary file next to the target and renamed over it at the end, so a
failed export leaves no half file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import JSON, String, func, select, type_coerce
from sqlalchemy.orm import Session

from ...domain import DocumentKind, Status
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
    UTCDateTime,
)
from ...text import clean, is_clean
from ..core import Depot, InvalidInput, load_partner

#: progress(done, total): called now and then while a file is written (from the export's thread)
Progress = Callable[[int, int], None]


class Counting:
    """Orders written so far, told to ``progress`` as pages go by (and once at 0)."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0
        if progress is not None:
            progress(0, total)

    def add(self, n: int) -> None:
        self.done += n
        if self.progress is not None and n:
            self.progress(self.done, max(self.total, self.done))




@dataclass(frozen=True)
class Filter:
    status: Status | None = None
    partner_id: int | None = None
    archived: bool | None = None
    #: only these order numbers (a selection); None: no such limit
    numbers: tuple[str, ...] | None = None
    #: only orders whose number, partner, reference or address holds this text (as the board's filter)
    text: str | None = None
    #: only orders in one of these statuses (the lists on screen); None: every status
    statuses: tuple[Status, ...] | None = None

    def where(self, q: Any) -> Any:
        if self.status is not None:
            q = q.where(Order.status == self.status.value)
        if self.statuses is not None:
            q = q.where(Order.status.in_([s.value for s in self.statuses]))
        if self.partner_id is not None:
            q = q.where((Order.source_id == self.partner_id) | (Order.assignee_id == self.partner_id))
        if self.archived is not None:
            q = q.where(Order.archived.is_(self.archived))
        if self.numbers is not None:
            q = q.where(Order.number.in_(self.numbers))
        text = (self.text or "").strip()
        if text:
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            named = select(Partner.id).where(Partner.name.ilike(like, escape="\\"))
            q = q.where(
                Order.number.ilike(like, escape="\\")
                | Order.partner_ref.ilike(like, escape="\\")
                | Order.pickup_address.ilike(like, escape="\\")
                | Order.delivery_address.ilike(like, escape="\\")
                | Order.source_id.in_(named)
                | Order.assignee_id.in_(named)
            )
        return q

    @property
    def everything(self) -> bool:
        return (self.status is None and self.partner_id is None and self.archived is None
                and self.numbers is None and not (self.text or "").strip() and self.statuses is None)


def parse_status(status: Status | str | None) -> Status | None:
    if status is None or isinstance(status, Status):
        return status
    try:
        return Status.parse(status)
    except ValueError as e:
        raise InvalidInput(str(e)[0].upper() + str(e)[1:] + ".") from None


def make_filter(session: Session, status: Status | str | None, partner: str | None, archived: bool | None,
                numbers: Sequence[str] | None = None, text: str | None = None,
                statuses: Sequence[Status] | None = None) -> Filter:
    partner_id = load_partner(session, partner).id if partner else None
    return Filter(parse_status(status), partner_id, archived,
                  tuple(numbers) if numbers is not None else None, text,
                  tuple(statuses) if statuses is not None else None)



def stamp(value: Any) -> str | None:
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


def rule_records(session: Session) -> list[dict[str, Any]]:
    """The depot's automation rules as the JSON export carries them (issue 14), in the order
    they are tried. Only a whole-depot export carries them (a selection of orders does not)."""
    from ...store.models import AutomationRule

    rows = session.scalars(select(AutomationRule).order_by(AutomationRule.position, AutomationRule.id))
    return [
        {
            "name": r.name,
            "enabled": bool(r.enabled),
            "stop_after": bool(r.stop_after),
            "trigger": dict(r.trigger),
            "conditions": list(r.conditions or []),
            "effects": list(r.effects or []),
            "version": r.version,
            "created_at": stamp(r.created_at),
            "created_by": r.created_by,
            "updated_at": stamp(r.updated_at),
            "updated_by": r.updated_by,
        }
        for r in rows
    ]


def json_value(value: Any) -> Any:
    if isinstance(value, str):
        return None if value == "null" else json.loads(value)
    return value


class Reader:
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

    def tuples(self, q: Any) -> list[tuple[Any, ...]]:
        """The rows as the driver's plain tuples (no Row objects: a page has thousands). The
        columns asked for need no conversion here (``col``), or get it where they are used."""
        res = self.conn.execute(q)
        try:
            return cast("list[tuple[Any, ...]]", res.cursor.fetchall())
        finally:
            res.close()

    def grouped(self, q: Any) -> dict[int, list[tuple[Any, ...]]]:
        """Rows whose first column is an order id, grouped by it (rows keep their order)."""
        out: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in self.tuples(q):
            out[row[0]].append(row[1:])
        return out


#: orders read at once (one keyset page): their lines, tags, documents… come in one query each
BATCH = 2000


class Export:
    """The chosen orders of one read transaction, read in keyset pages of ``batch`` orders.

    Each page is one select of orders (the filter, ``id > last``, ``LIMIT batch``) and one
    select per kind of child (lines, documents, back-orders, tags, cancellations, returns)
    over the page's id range, so memory holds one page whatever the depot's size; notices
    and follow-ups are read as a stream (``yield_per``). Every format writes from here.
    """

    def __init__(self, session: Session, flt: Filter, batch: int | None = None) -> None:
        self.session = session
        self.rd = Reader(session)
        self.flt = flt
        self.batch = batch or BATCH
        self.names: dict[int, str] = dict(self.rd.rows(select(Partner.__table__.c.id, Partner.__table__.c.name)))

    def count(self) -> int:
        """How many orders the export holds (for a progress bar)."""
        q = self.flt.where(select(func.count()).select_from(Order.__table__))
        return int(self.rd.conn.execute(q).scalar_one())

    def _restrict(self, col: Any, q: Any) -> Any:
        return q if self.flt.everything else q.where(col.in_(self.flt.where(select(Order.__table__.c.id))))

    def _raw_pages(self) -> Iterator[tuple[list[tuple[Any, ...]], dict[int, list[tuple[Any, ...]]],
                                          dict[int, list[tuple[Any, ...]]], dict[int, list[tuple[Any, ...]]],
                                          dict[int, list[tuple[Any, ...]]], dict[int, list[tuple[Any, ...]]],
                                          dict[int, list[tuple[Any, ...]]]]]:
        """Each page's order rows, and its lines, documents, back-orders, tags, cancellations
        and returns grouped by order id: one select each, over the page's id range."""
        rd, c = self.rd, self.rd.col
        o = Order.__table__.c
        rep = Order.__table__.alias("rep")
        ln, dc, bo, tg, cn, rt = (OrderLine.__table__.c, Document.__table__.c, Backorder.__table__.c,
                                  Tag.__table__.c, Cancellation.__table__.c, Return.__table__.c)
        head = select(
            o.id, o.number, o.status, o.source_id, o.assignee_id, o.partner_ref,
            o.pickup_address, o.delivery_address, c(o.pickup_after), c(o.deliver_by),
            o.parcels, o.weight_kg, o.archived, o.cancellation_requested,
            c(o.cancellation_request), o.partner_not_informed, o.cancellation_refused,
            o.partner_status, c(o.partner_status_at), rep.c.number, c(o.created_at),
            c(o.received_at), c(o.dispatched_at), c(o.status_changed_at),
        ).select_from(Order.__table__.outerjoin(rep, o.replaces_id == rep.c.id)).order_by(o.id).limit(self.batch)
        head = self.flt.where(head)
        children = (
            (ln.order_id, select(ln.order_id, ln.article, ln.description, ln.quantity, ln.cancelled)
             .order_by(ln.order_id, ln.lineno, ln.id)),
            (dc.order_id, select(dc.order_id, dc.kind, dc.number).order_by(dc.order_id, dc.id)),
            (bo.order_id, select(bo.order_id, bo.article, bo.quantity).order_by(bo.order_id, bo.id)),
            (tg.order_id, select(tg.order_id, tg.name).order_by(tg.order_id, tg.name)),
            (cn.order_id, select(cn.order_id, cn.number, cn.reason, cn.comment, cn.internal_note, c(cn.lines),
                                 cn.partial, cn.state, cn.answer, c(cn.created_at), cn.actor)
             .order_by(cn.order_id, cn.id)),
            (rt.order_id, select(rt.order_id, rt.number, rt.reason, rt.comment, c(rt.lines), rt.reported_by_id,
                                 c(rt.created_at), rt.actor).order_by(rt.order_id, rt.id)),
        )
        last = None
        while True:
            rows = rd.tuples(head if last is None else head.where(o.id > last))
            if not rows:
                return
            lo, last = rows[0][0], rows[-1][0]
            lines, docs, backs, tags, cancs, rets = (
                rd.grouped(q.where(col.between(lo, last))) for col, q in children
            )
            yield rows, lines, docs, backs, tags, cancs, rets
            if len(rows) < self.batch:
                return

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """The orders as export records, one page (a list of at most ``batch``) at a time."""
        names = self.names
        empty: tuple[Any, ...] = ()
        for rows, lines, docs, backs, tags, cancs, rets in self._raw_pages():
            page = []
            for (oid, number, status_, source_id, assignee_id, partner_ref, pickup, delivery, pickup_after,
                 deliver_by, parcels, weight, is_archived, c_req, c_request, not_informed, c_refused,
                 p_status, p_status_at, replaces, created_at, received_at, dispatched_at,
                 status_changed_at) in rows:
                src = names.get(source_id) if source_id else None
                asg = names.get(assignee_id) if assignee_id else None
                record = {
                    "number": number,
                    "status": status_,
                    "direction": "inbound" if src else ("outbound" if asg else "own"),
                    "partner": src,
                    "assignee": asg,
                    "partner_ref": partner_ref,
                    "pickup_address": pickup,
                    "delivery_address": delivery,
                    "pickup_after": stamp(pickup_after),
                    "deliver_by": stamp(deliver_by),
                    "parcels": parcels,
                    "weight_kg": weight,
                    "flags": {
                        "cancellation_requested": bool(c_req),
                        "partner_not_informed": bool(not_informed),
                        "archived": bool(is_archived),
                    },
                    "cancellation_request": json_value(c_request),
                    "cancellation_refused": c_refused,
                    "partner_status": p_status,
                    "partner_status_at": stamp(p_status_at),
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
                            "lines": dict(json_value(ls) or {}), "partial": bool(partial), "state": state,
                            "answer": answer, "created_at": stamp(at), "actor": actor,
                        }
                        for n, reason, comment, note, ls, partial, state, answer, at, actor in cancs.get(oid, empty)
                    ],
                    "replaces": replaces,
                    "created_at": stamp(created_at),
                    "received_at": stamp(received_at),
                    "dispatched_at": stamp(dispatched_at),
                    "status_changed_at": stamp(status_changed_at),
                }
                if oid in rets:  # only an order that has returns carries the key (older files stay as they were)
                    record["returns"] = [
                        {
                            "number": n, "reason": reason, "comment": comment, "lines": dict(json_value(ls) or {}),
                            "reported_by": names.get(by) if by else None, "created_at": stamp(at), "actor": actor,
                        }
                        for n, reason, comment, ls, by, at, actor in rets[oid]
                    ]
                page.append(record)
            yield page

    def flat_pages(self) -> Iterator[list[tuple[list[Any], Sequence[tuple[Any, ...]]]]]:
        """The orders as flat rows (``flat_row``'s, built straight from the page's rows: the
        spreadsheet formats need no record), each with its lines (article, description,
        quantity, cancelled), a page at a time."""
        names, label, empty = self.names, _LABEL, ()
        kinds = {k.value: k.label for k in DocumentKind}
        for rows, lines, docs, backs, tags, cancs, rets in self._raw_pages():
            page: list[tuple[list[Any], Sequence[tuple[Any, ...]]]] = []
            for (oid, number, status_, source_id, assignee_id, partner_ref, pickup, delivery, pickup_after,
                 deliver_by, parcels, weight, is_archived, c_req, _c_request, not_informed, _c_refused,
                 _p_status, _p_status_at, replaces, created_at, _received_at, _dispatched_at,
                 status_changed_at) in rows:
                src = names.get(source_id) if source_id else None
                asg = names.get(assignee_id) if assignee_id else None
                ls = lines.get(oid, empty)
                row = [
                    number, label[status_], "inbound" if src else ("outbound" if asg else "own"),
                    src or "", asg or "", partner_ref or "", pickup, delivery,
                    stamp(pickup_after) or "", stamp(deliver_by) or "", parcels, weight,
                    "yes" if c_req else "no", "yes" if not_informed else "no", "yes" if is_archived else "no",
                    ", ".join([t[0] for t in tags[oid]]) if oid in tags else "",
                    "; ".join([f"{q}× {a}" + (f" ({x} cancelled, {q - x} open)" if x else "")
                               for a, _, q, x in ls]),
                    "; ".join([f"{kinds.get(k, k)} {n}" for k, n in docs[oid]]) if oid in docs else "",
                    "; ".join([f"{q}× {a}" for a, q in backs[oid]]) if oid in backs else "",
                    "; ".join([f"{n} {reason or 'no reason'}" + (f" ({state})" if state != "done" else "")
                               for n, reason, _, _, _, _, state, _, _, _ in cancs[oid]]) if oid in cancs else "",
                    "; ".join([f"{n} {reason}: " + ", ".join(f"{q}× {a}" for a, q in (json_value(rl) or {}).items())
                               for n, reason, _, rl, _, _, _ in rets[oid]]) if oid in rets else "",
                    replaces or "", stamp(created_at) or "", stamp(status_changed_at) or "",
                ]
                page.append((row, ls))
            yield page

    def rules(self) -> list[dict[str, Any]]:
        """The depot's automation rules (``rule_records``) when the export is the whole depot;
        a selection of orders carries none. A few records: read whole."""
        return rule_records(self.session) if self.flt.everything else []

    def orders(self) -> Iterator[dict[str, Any]]:
        for page in self.pages():
            yield from page

    def _stream(self, q: Any) -> Iterator[Any]:
        """Rows of a select fetched ``batch`` at a time (a server-side cursor where there is one)."""
        result = self.rd.conn.execution_options(yield_per=self.batch).execute(q)
        for part in result.partitions():
            yield from part

    def notices(self) -> Iterator[dict[str, Any]]:
        c, names = self.rd.col, self.names
        nt = Notice.__table__.c
        on = Order.__table__.alias("on")
        q = self._restrict(nt.order_id, select(
            nt.id, on.c.number, nt.partner_id, nt.kind, nt.transport, nt.state, nt.seq, nt.attempts,
            c(nt.payload), c(nt.created_at), c(nt.release_at), c(nt.next_attempt_at), c(nt.sent_at),
            c(nt.acknowledged_at), nt.last_error, nt.outcome, nt.answer, nt.awaits_answer,
        ).select_from(Notice.__table__.outerjoin(on, nt.order_id == on.c.id))
          .order_by(nt.created_at, nt.order_id, nt.seq, nt.id))
        for n in self._stream(q):
            yield {
                "id": n.id,
                "order": n.number,
                "partner": names.get(n.partner_id),
                "kind": n.kind,
                "state": n.state,
                "transport": n.transport,
                "seq": n.seq,
                "attempts": n.attempts,
                "created_at": stamp(n.created_at),
                "release_at": stamp(n.release_at),
                "next_attempt_at": stamp(n.next_attempt_at),
                "sent_at": stamp(n.sent_at),
                "acknowledged_at": stamp(n.acknowledged_at),
                "last_error": n.last_error,
                "outcome": n.outcome,
                "answer": n.answer,
                "awaits_answer": bool(n.awaits_answer),
                "payload": json_value(n.payload),
            }

    def followups(self) -> Iterator[dict[str, Any]]:
        c, names = self.rd.col, self.names
        fu = FollowUp.__table__.c
        fo = Order.__table__.alias("fo")
        q = self._restrict(fu.order_id, select(
            fu.id, fo.c.number, fu.partner_id, fu.notice_id, fu.text, c(fu.created_at), c(fu.done_at),
            fu.done_by, fu.withdrawn,
        ).select_from(FollowUp.__table__.outerjoin(fo, fu.order_id == fo.c.id)).order_by(fu.id))
        for f in self._stream(q):
            yield {
                "id": f.id,
                "order": f.number,
                "partner": names.get(f.partner_id) if f.partner_id is not None else None,
                "notice": f.notice_id,
                "text": f.text,
                "done": f.done_at is not None,
                "created_at": stamp(f.created_at),
                "done_at": stamp(f.done_at),
                "done_by": f.done_by,
                "withdrawn": bool(f.withdrawn),
            }


@contextmanager
def reading(
    depot: Depot,
    *,
    status: Status | str | None = None,
    partner: str | None = None,
    archived: bool | None = None,
    numbers: Sequence[str] | None = None,
    text: str | None = None,
    statuses: Sequence[Status] | None = None,
) -> Iterator[Export]:
    """The chosen orders, read in pages inside one read transaction (see ``Export``).

    ``status``: only orders in that status; ``partner``: only orders that came from or went
    to that partner; ``archived``: True only archived orders, False only the others, None
    all. ``numbers``: only these orders (a selection); ``text``: only orders whose number,
    partner, reference or address holds it; ``statuses``: only these statuses.
    """
    with depot.uow(write=False) as uow:
        s = uow.session
        yield Export(s, make_filter(s, status, partner, archived, numbers, text, statuses))


def export_json(
    depot: Depot,
    *,
    status: Status | str | None = None,
    partner: str | None = None,
    archived: bool | None = None,
    numbers: Sequence[str] | None = None,
    text: str | None = None,
    statuses: Sequence[Status] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The depot's orders (filtered, as ``reading``), with their notices and follow-ups, as
    plain data in memory: for tests and small exports; files are written from ``reading``.
    Rejected and Cancelled orders are included like any other."""
    with reading(depot, status=status, partner=partner, archived=archived, numbers=numbers,
                 text=text, statuses=statuses) as ex:
        out = {"orders": list(ex.orders()), "notices": list(ex.notices()), "followups": list(ex.followups())}
        rules = ex.rules()
    if rules:  # only a depot with rules carries the key (older files stay as they were)
        out["rules"] = rules
    return out


def check_target(path: str | os.PathLike[str]) -> Path:
    """The file an export may be written to; InvalidInput (field "path") saying why not."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise InvalidInput(f"Cannot write the export to {target}: it is a directory.", field="path")
    if not target.parent.is_dir():
        raise InvalidInput(
            f"Cannot write the export to {target}: the directory {target.parent} does not exist.", field="path"
        )
    return target


@contextmanager
def atomic(path: str | os.PathLike[str], *, binary: bool) -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path``; rename it over ``path`` only on success."""
    target = check_target(path)
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
        unlink(tmp)
        raise InvalidInput(
            f"Cannot write the export to {target}: {e.strerror or e}. Nothing was written."
        ) from None
    except BaseException:
        unlink(tmp)
        raise


def unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass



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
    ("returns", "Returns"),
    ("replaces", "Replaces"),
    ("created_at", "Created"),
    ("status_changed_at", "Status changed"),
)


def line_summary(o: dict[str, Any]) -> str:
    parts = []
    for ln in o["lines"]:
        open_q = ln["quantity"] - ln["cancelled"]
        text = f"{ln['quantity']}× {ln['article']}"
        if ln["cancelled"]:
            text += f" ({ln['cancelled']} cancelled, {open_q} open)"
        parts.append(text)
    return "; ".join(parts)


def flat_row(o: dict[str, Any]) -> list[Any]:
    """One order as one row, in ORDER_COLUMNS' order: lines, documents and back-orders summarised."""
    flags = o["flags"]
    return [
        o["number"],
        _LABEL[o["status"]],
        o["direction"],
        o["partner"] or "",
        o["assignee"] or "",
        o["partner_ref"] or "",
        o["pickup_address"],
        o["delivery_address"],
        o["pickup_after"] or "",
        o["deliver_by"] or "",
        o["parcels"],
        o["weight_kg"],
        "yes" if flags["cancellation_requested"] else "no",
        "yes" if flags["partner_not_informed"] else "no",
        "yes" if flags["archived"] else "no",
        ", ".join(o["tags"]),
        line_summary(o),
        "; ".join(
            f"{DocumentKind(d['kind']).label} {d['number']}" if d["kind"] in DocumentKind._value2member_map_
            else f"{d['kind']} {d['number']}"
            for d in o["documents"]
        ) if o["documents"] else "",
        "; ".join(f"{b['quantity']}× {b['article']}" for b in o["backorders"]) if o["backorders"] else "",
        "; ".join(
            f"{c['number']} {c['reason'] or 'no reason'}" + (f" ({c['state']})" if c["state"] != "done" else "")
            for c in o["cancellations"]
        ) if o["cancellations"] else "",
        "; ".join(
            f"{r['number']} {r['reason']}: " + ", ".join(f"{q}× {a}" for a, q in r["lines"].items())
            for r in o.get("returns", ())
        ),
        o["replaces"] or "",
        o["created_at"] or "",
        o["status_changed_at"] or "",
    ]


_LABEL = {s.value: s.label for s in Status}
_KEYS = tuple(key for key, _ in ORDER_COLUMNS)


def flat(o: dict[str, Any]) -> dict[str, Any]:
    """One order as one row (a dict by ORDER_COLUMNS' keys): lines, documents and back-orders summarised."""
    return dict(zip(_KEYS, flat_row(o), strict=True))


def clean_fast(value: str) -> str:
    # most text holds nothing clean() removes: one scan instead of its regular expressions
    return value if is_clean(value) else clean(value)

