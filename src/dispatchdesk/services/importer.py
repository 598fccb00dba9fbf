"""Import of the JSON export's shape (see ``services.export.json``) into a depot.

Import checks everything first and names every problem with its record (``orders[3]
(number 'DD-000004')``); it writes nothing unless every record is right, and then writes
all of it in one transaction.

Partners are never imported here: they carry secrets, and they are set up with
``dispatchdesk partner add``. An import refers to partners by name.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

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
)
from ..text import clean
from .core import Depot, InvalidInput, next_number

__all__ = ["ImportResult", "import_json", "read_json_file"]

#: SQLite accepts at most 32766 bound values per statement; stay well below.
_CHUNK = 900
_NUMBER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,49}")
_CANCELLATION_STATES = ("done", "pending", "refused", "undone")


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
        c.get("number") for rec in raw_orders if isinstance(rec, dict) and isinstance(rec.get("cancellations"), list)
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
    refs = {rec.get("notice") for rec in raw_followups if isinstance(rec, dict) and isinstance(rec.get("notice"), str)}
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
        table = Order.__table__
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
        chunk = missing_list[i : i + _CHUNK]
        id_of.update(dict(s.execute(select(Order.number, Order.id).where(Order.number.in_(chunk))).all()))

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
        t = Order.__table__
        s.execute(
            update(t).where(t.c.id == bindparam("oid")).values(replaces_id=bindparam("rid")),
            [{"oid": oid(k), "rid": id_of[n]} for k, n in plan.replaces],
        )

    # notices: keep the file's sequence per order when it is usable, else number them after
    # whatever the order already has
    by_order: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for order_number, n in plan.notices:
        by_order[id_of[order_number] if order_number is not None else None].append(n)
    existing_max: dict[int, int] = {}
    new_ids = {id_of[x["number"]] for x in plan.orders}
    old_ids = [o for o in by_order if o is not None and o not in new_ids]
    for i in range(0, len(old_ids), _CHUNK):
        chunk = old_ids[i : i + _CHUNK]
        existing_max.update(s.execute(select(Notice.order_id, func.max(Notice.seq))
                                      .where(Notice.order_id.in_(chunk)).group_by(Notice.order_id)).all())
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
