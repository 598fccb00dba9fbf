"""What the export formats share: the filter, the Core reads that build the export data,
the flat one-row-per-order view, and writing a file whole or not at all.

Export reads with a handful of Core selects grouped in Python (100,000 orders in a few
seconds), never an ORM load per order. Every file is written to a temporary file next to
the target and renamed over it at the end, so a failed export leaves no half file.
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
from typing import IO, Any

from sqlalchemy import JSON, String, select, type_coerce
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
from ...text import clean
from ..core import Depot, InvalidInput, load_partner

#: progress(done, total): called now and then while a file is written (from the export's thread)
Progress = Callable[[int, int], None]


def ticker(progress: Progress | None, total: int) -> Callable[[], None]:
    """A function to call once per order written: tells ``progress`` every 1% or so, and at 0."""
    if progress is None:
        return lambda: None
    step = max(1, total // 100)
    done = 0
    progress(0, total)

    def tick() -> None:
        nonlocal done
        done += 1
        if done % step == 0 or done == total:
            progress(done, total)

    return tick


#: SQLite accepts at most 32766 bound values per statement; stay well below.
CHUNK = 900


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
    numbers: Sequence[str] | None = None,
    text: str | None = None,
    statuses: Sequence[Status] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The depot's orders (filtered), with their notices and follow-ups, as plain data.

    ``status``: only orders in that status; ``partner``: only orders that came from or went
    to that partner; ``archived``: True only archived orders, False only the others, None
    all. ``numbers``: only these orders (a selection); ``text``: only orders whose number,
    partner, reference or address holds it; ``statuses``: only these statuses. Rejected and
    Cancelled orders are included like any other.
    """
    with depot.uow(write=False) as uow:
        s = uow.session
        flt = make_filter(s, status, partner, archived, numbers, text, statuses)
        rd = Reader(s)
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
        rt = Return.__table__.c
        rets = rd.grouped(restrict(rt.order_id, select(
            rt.order_id, rt.number, rt.reason, rt.comment, c(rt.lines), rt.reported_by_id, c(rt.created_at), rt.actor,
        ).order_by(rt.order_id, rt.id)))

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
        for i in range(0, len(wanted), CHUNK):
            chunk = wanted[i : i + CHUNK]
            number_of.update(rd.rows(select(o.id, o.number).where(o.id.in_(chunk))))
        rules = rule_records(s) if flt.everything else []

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
            "replaces": number_of.get(replaces_id) if replaces_id else None,
            "created_at": stamp(created_at),
            "received_at": stamp(received_at),
            "dispatched_at": stamp(dispatched_at),
            "status_changed_at": stamp(status_changed_at),
            # only an order that has returns carries the key (older files stay as they were)
            **({"returns": [
                {
                    "number": n, "reason": reason, "comment": comment, "lines": dict(json_value(ls) or {}),
                    "reported_by": names.get(by) if by else None, "created_at": stamp(at), "actor": actor,
                }
                for n, reason, comment, ls, by, at, actor in rets[oid]
            ]} if oid in rets else {}),
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
            "created_at": stamp(f.created_at),
            "done_at": stamp(f.done_at),
            "done_by": f.done_by,
            "withdrawn": bool(f.withdrawn),
        }
        for f in followup_rows
    ]
    out = {"orders": orders, "notices": notices, "followups": followups}
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


def flat(o: dict[str, Any]) -> dict[str, Any]:
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
        "lines": line_summary(o),
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
        "returns": "; ".join(
            f"{r['number']} {r['reason']}: " + ", ".join(f"{q}× {a}" for a, q in r["lines"].items())
            for r in o.get("returns", ())
        ),
        "replaces": o["replaces"] or "",
        "created_at": o["created_at"] or "",
        "status_changed_at": o["status_changed_at"] or "",
    }


def clean_fast(value: str) -> str:
    # printable ASCII holds nothing clean() removes: skip its regular expressions
    return value if value.isascii() and value.isprintable() else clean(value)

