"""What every service shares: the depot handle, the errors, and the one way a plan is written.

A service loads, checks (by asking the domain for a Plan), changes, and writes the audit entry,
the notices and the follow-ups in ONE transaction. Nothing is sent from here: the relay reads
the notices after the commit.
"""

from __future__ import annotations

import contextvars
import getpass
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, overload

from sqlalchemy import (
    String,
    Table,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from ..domain import (
    CancelMethod,
    DocumentKind,
    FollowUpPlan,
    LineFacts,
    LinkKind,
    NoticeKind,
    NoticePlan,
    NoticeState,
    OrderFacts,
    PartnerFacts,
    Plan,
    ReasonCode,
    RejectionMapsTo,
    Role,
    Status,
    Transport,
)
from ..store import Database, StorageError, UnitOfWork
from ..store.db import LockWatch, watching_locks
from ..store.fast import Prepared
from ..store.models import (
    AuditEntry,
    AutomationRule,
    Backorder,
    Cancellation,
    DepotMeta,
    Document,
    FollowUp,
    Notice,
    Order,
    OrderLine,
    Partner,
    Setting,
    Tag,
    new_id,
    utcnow,
)

DEFAULT_UNDO_SECONDS = 10

T = TypeVar("T")


# --------------------------------------------------------------------------- errors


class DispatchError(Exception):
    """A refusal or failure whose message a dispatcher can act on.

    `code` says what kind of problem it is (for scripts and screens); `field` names the form
    field it belongs to, when it came from one."""

    code: str = "failed"

    def __init__(
        self, message: str, reasons: Iterable[str] = (), *, field: str | None = None
    ) -> None:
        self.reasons = list(reasons) or [message]
        self.field = field
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self)


class Refused(DispatchError):
    """The rules do not allow it. `reasons` names every check that failed."""

    code = "refused"

    def __init__(self, reasons: Iterable[str]) -> None:
        reasons = list(reasons)
        super().__init__(" ".join(reasons), reasons)


class Conflict(DispatchError):
    """Someone else changed the order first; nothing was overwritten."""

    code = "conflict"


class NotFound(DispatchError):
    code = "not_found"


class InvalidInput(DispatchError):
    """Bad input: a form field, an imported record, a link message, a setting."""

    code = "invalid"


class Cancelled(DispatchError):
    """The dispatcher gave up waiting (for a lock held by another program); nothing changed."""

    code = "cancelled"


def changed_by_someone(
    number: str, status: Status, *, at_once: bool = False, by: str | None = None
) -> str:
    """The one sentence for "someone else changed this order first". `by`: who made the change
    that came first, as the audit names them (the dispatcher, or "partner:<name>")."""
    who = changer(by)
    if at_once:
        return (
            f"Order {number} was changed by {who} at the same moment; "
            "nothing was changed. Look again and retry."
        )
    return (
        f"Order {number} was changed by {who} while you were looking at it: "
        f"it is now {status.label}. Nothing was changed; look again and retry."
    )


def changer(actor: str | None) -> str:
    """Who changed an order, in words: the dispatcher's name, "the partner Swift Haulage", or
    "someone else" when the audit does not say."""
    if not actor:
        return "someone else"
    if actor.startswith("partner:"):
        return f"the partner {actor[len('partner:'):]}"
    return actor


def last_changed_by(session: Session, order_id: int) -> str | None:
    """Who made the order's newest audit entry (its last change), or None."""
    return session.scalar(_LAST_ACTOR_Q, {"order_id": order_id})


#: Everything a screen or the command line should catch and show as a sentence.
ERRORS: tuple[type[Exception], ...] = (DispatchError, StorageError)


# --------------------------------------------------------------------------- the depot


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in the environment
        return os.environ.get("USER") or f"uid {os.getuid()}"


@dataclass
class Depot:
    """A handle on one depot's database, for one session (one dispatcher)."""

    db: Database
    actor: str = field(default_factory=current_user)
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def open(cls, db: str | os.PathLike[str], *, actor: str | None = None, create: bool = True) -> Depot:
        """Open a depot; `create=False` refuses a database that is not one yet (Database.open)."""
        return cls(Database.open(db, create=create), actor or current_user())

    def uow(self, *, write: bool = True) -> UnitOfWork:
        return UnitOfWork(self.db, write=write, before_commit=_not_given_up if write else None)

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        self.db.close()

    def lock_wait(self, watch: LockWatch) -> float | None:
        """Seconds the write followed by `watch` (patiently(..., watch=)) has been held up by
        another program's lock; None when it is not held up (it may still be slow). Call it
        in a thread: on PostgreSQL it asks the server."""
        return self.db.lock_wait(watch)

    # settings ----------------------------------------------------------------
    def setting(self, key: str, default: str | None = None) -> str | None:
        # plain SQL on the table (not session.get): the console reads its name while it
        # starts, and the ORM's mappers are configured later, off the first draw (issue 13)
        with self.uow(write=False) as uow:
            row = uow.session.connection().execute(_SETTING_ROW_Q, {"key": key}).first()
            return row[0] if row else default

    def undo_seconds(self, session: Session | None = None) -> int:
        if session is not None:  # a plain read on the action's connection: never flushes
            value = session.connection().scalar(_SETTING_Q, {"key": "undo_seconds"})
        else:
            value = self.setting("undo_seconds")
        return _undo_value(value)


def _undo_value(value: str | None) -> int:
    try:
        return max(0, int(value)) if value is not None else DEFAULT_UNDO_SECONDS
    except ValueError:
        return DEFAULT_UNDO_SECONDS


# --------------------------------------------------------------------------- waiting for a lock

#: What the console says while a write waits for another program's lock, and when given up.
WAITING = (
    "Waiting for the database: another program is writing to it. "
    "This goes through as soon as it is free; Esc gives up, and nothing is changed."
)
GIVING_UP = "Given up: nothing was changed."
NOTHING_TO_UNDO = "There is nothing to undo: the undo window has closed."
NO_PARTNER_TO_SEND_TO = (
    "There is no subcontractor or warehouse to send it to yet: add one with "
    "`dispatchdesk partner add`."
)
#: How long a write waits for a lock before it gives up by itself (seconds).
WAIT_LIMIT = 60.0

_GIVE_UP: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "dispatchdesk_give_up", default=None
)


def _not_given_up() -> None:
    """Called by every write transaction just before its commit: a write the dispatcher gave up
    on is rolled back whole, even if the lock came free in the meantime."""
    event = _GIVE_UP.get()
    if event is not None and event.is_set():
        raise Cancelled(GIVING_UP)


def patiently(
    fn: Callable[[], T],
    give_up: threading.Event,
    *,
    limit: float = WAIT_LIMIT,
    watch: LockWatch | None = None,
) -> T:
    """Run one action (in a worker thread), waiting while another program holds the database's
    write lock: each try waits up to the busy timeout, then tries again until it goes through,
    `give_up` is set (Cancelled) or `limit` seconds pass (the locked StorageError, saying how
    long it waited). Nothing is half-done in any case: each try is one transaction.

    `watch` (a LockWatch) is kept up to date meanwhile: `Depot.lock_wait(watch)` says, from
    another thread, whether the action is held up by another connection's lock (and not
    merely slow), which is when the console says WAITING."""
    if watch is not None:
        with watching_locks(watch):
            return patiently(fn, give_up, limit=limit)
    token = _GIVE_UP.set(give_up)
    deadline = time.monotonic() + limit
    try:
        while True:
            if give_up.is_set():
                raise Cancelled(GIVING_UP)
            try:
                return fn()
            except StorageError as e:
                if not getattr(e, "locked", False):
                    raise
                if give_up.is_set():
                    raise Cancelled(GIVING_UP) from None
                if time.monotonic() >= deadline:
                    raise StorageError(
                        f"{e} (Gave up after waiting {limit:.0f} s.)", locked=True
                    ) from None
    finally:
        _GIVE_UP.reset(token)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ActionResult:
    order: str
    action: str
    from_status: Status
    to_status: Status
    version: int
    audit_id: int
    notices: tuple[str, ...] = ()
    followups: tuple[int, ...] = ()
    undo_until: datetime | None = None
    message: str = ""


@dataclass(frozen=True)
class RuleLine:
    """One automation rule in a confirm (issue 14): its name, id and version; for a rule that
    fires, the change it fires on (`because`), its effects in words and how deep in the chain
    (0: on the action's own change); for one that does not, why not (`reason`: "it is off",
    "not this trigger: …" or its first failing condition)."""

    rule: str
    version: int
    rule_id: int | None = None
    effects: tuple[str, ...] = ()
    because: str = ""
    reason: str = ""
    depth: int = 0


@dataclass(frozen=True)
class Preview:
    """Everything the confirm says before an action happens, worded here and nowhere else.

    `title` is the question, `lines` what will happen (who is told and how, what fails, whether
    it can be undone), `yes` the label of the button that does it. `final` puts the focus on No
    (the result cannot be taken back), and `focus_note` says why. `version` is the order's
    version the action must still find (None for actions that are not on one order); `changed`
    is set when the order is no longer the one the dispatcher saw. `offers` names what the
    front end may offer instead of a refused action ("return": Register return…).

    `rules` are the automation rules that fire with the action (their sentences are in `lines`
    too), `not_firing` every other rule with why not; `without_rules` says the action is
    previewed with the rules set aside (execute the same action with without_rules=True)."""

    title: str
    lines: tuple[str, ...]
    yes: str = "Yes"
    refusals: tuple[str, ...] = ()
    final: bool = False
    focus_note: str = ""
    version: int | None = None
    plan: Plan | None = None
    changed: bool = False
    offers: tuple[str, ...] = ()
    rules: tuple[RuleLine, ...] = ()
    not_firing: tuple[RuleLine, ...] = ()
    without_rules: bool = False
    #: how many of the last `lines` are the rules' sentences (a view that shows `rules` its
    #: own way leaves out `lines[len(lines) - rule_lines:]`)
    rule_lines: int = 0

    @property
    def allowed(self) -> bool:
        return not self.refusals


class Action(ABC):
    """A change a dispatcher can make. Both methods open their own transaction."""

    @abstractmethod
    def preview(self, depot: Depot) -> Preview:
        """What the confirm says: everything the action will do, before it happens."""

    @abstractmethod
    def execute(self, depot: Depot) -> Any:
        """Do it, in one transaction; raise a DispatchError (nothing changed) when refused."""


# --------------------------------------------------------------------------- loading


@overload
def partner_facts(p: Partner) -> PartnerFacts: ...
@overload
def partner_facts(p: Partner | None) -> PartnerFacts | None: ...
def partner_facts(p: Partner | None) -> PartnerFacts | None:
    if p is None:
        return None
    return PartnerFacts(
        name=p.name,
        role=Role(p.role),
        link=LinkKind(p.link),
        cancel_method=CancelMethod(p.cancel_method),
        window_seconds=p.window_seconds,
        reason_required=p.reason_required,
        follow_up_after_send=p.follow_up_after_send,
        # over the link, auto-trash acts only when both depots agreed (their hello said so)
        auto_trash=p.auto_trash
        and (p.link != LinkKind.HTTP.value or p.auto_trash_agreed_at is not None),
        rejection_maps_to=RejectionMapsTo(p.rejection_maps_to),
        pass_cancellations=p.pass_cancellations,
        link_stopped=p.link_stopped,
        has_email=bool(p.email),
        answer_within_seconds=p.answer_within_seconds
        if p.answer_within_seconds is not None
        else 1800,
        reject_reason=ReasonCode(p.reject_reason) if p.reject_reason else None,
    )


def order_facts(o: Order, *, lines: bool = True) -> OrderFacts:
    """The facts the rules need. `lines=False` for actions that do not look at the lines
    (everything but cancellations): they are then not loaded at all."""
    documents, backorders = _document_facts(o)
    return OrderFacts(
        number=o.number,
        status=Status(o.status),
        source=partner_facts(o.source),
        assignee=partner_facts(o.assignee),
        documents=documents,
        backorders=backorders,
        archived=o.archived,
        untouched=o.version == 1,
        dispatched_at=o.dispatched_at,
        received_at=o.received_at or o.created_at,
        lines=tuple(LineFacts(ln.article, ln.quantity, ln.cancelled) for ln in o.lines)
        if lines
        else (),
    )


# Statements built once: building a select() costs more than SQLite takes to run it.
# What an action needs to know besides the order, in ONE query: the kinds of its documents
# ("d"), its back-orders ("b"), the undo window ("u"), its highest notice sequence ("q") and
# how many automation rules are on ("r": none, and the rules are not read at all) and the
# rules' sequence ("s": while it is the same, the rules parsed before are used as they are).
_CONTEXT_Q = union_all(
    select(literal("d").label("k"), cast(Document.kind, String).label("v")).where(
        Document.order_id == bindparam("oid")
    ),
    select(literal("b"), cast(Backorder.article, String)).where(
        Backorder.order_id == bindparam("oid")
    ),
    select(literal("u"), cast(Setting.value, String)).where(Setting.key == "undo_seconds"),
    select(literal("q"), cast(func.max(Notice.seq), String)).where(
        Notice.order_id == bindparam("oid")
    ),
    select(literal("r"), cast(func.count(AutomationRule.id), String)).where(
        AutomationRule.enabled.is_(True)
    ),
    select(literal("s"), cast(DepotMeta.rules_seq, String)).where(DepotMeta.id == 1),
)
_MAX_SEQ_Q = select(func.max(Notice.seq)).where(Notice.order_id == bindparam("oid"))
_SETTING_Q = select(Setting.value).where(Setting.key == bindparam("key"))
_SETTING_ROW_Q = select(Setting.__table__.c.value).where(Setting.__table__.c.key == bindparam("key"))
_ORDER_Q = select(Order).where(Order.number == bindparam("number"))
_LAST_ACTOR_Q = (
    select(AuditEntry.actor)
    .where(AuditEntry.order_id == bindparam("order_id"))
    .order_by(AuditEntry.id.desc())
    .limit(1)
)


def _document_facts(o: Order) -> tuple[tuple[DocumentKind, ...], int]:
    """The kinds of documents and the number of back-orders: from the collections when they
    are loaded, else in one plain query that also reads what apply_plan() will need (the undo
    window, the last notice sequence), kept in the session for it."""
    if isinstance(o, LeanOrder):
        return o.document_kinds(), o.backorder_count
    state = sa_inspect(o)
    session = state.session
    if session is None or o.id is None or not {"documents", "backorders"} & state.unloaded:
        return tuple(DocumentKind(d.kind) for d in o.documents), len(o.backorders)
    rows = session.connection().execute(_CONTEXT_Q, {"oid": o.id}).all()
    kinds = tuple(DocumentKind(v) for k, v in rows if k == "d")
    backorders = sum(1 for k, _ in rows if k == "b")
    undo = next((v for k, v in rows if k == "u"), None)
    seq = next((int(v) for k, v in rows if k == "q" and v is not None), 0)
    session.info[(_PREFETCH, o.id)] = (_undo_value(undo), seq)
    session.info[RULES_ON] = next((int(v) for k, v in rows if k == "r"), 0)
    session.info[RULES_SEQ] = next((int(v) for k, v in rows if k == "s"), None)
    return kinds, backorders


_PREFETCH = "dispatchdesk.prefetch"
#: session.info: how many automation rules are on, read with an order's facts (issue 14)
RULES_ON = "dispatchdesk.rules_on"
#: session.info: the depot's rules_seq, read with an order's facts (the parsed rules' key)
RULES_SEQ = "dispatchdesk.rules_seq"


def _take_prefetch(session: Session, order_id: int | None) -> tuple[int, int] | None:
    """(undo seconds, highest notice seq) read with the order's facts, used once."""
    prefetched: tuple[int, int] | None = session.info.pop((_PREFETCH, order_id), None)
    return prefetched


def load_order(session: Session, number: str, *, expected_version: int | None = None) -> Order:
    number = number.strip()
    order = session.scalars(_ORDER_Q, {"number": number}).unique().one_or_none()
    if order is None:
        raise NotFound(f"There is no order numbered {number!r}.")
    if expected_version is not None and order.version != expected_version:
        raise Conflict(changed_by_someone(
            order.number, Status(order.status), by=last_changed_by(session, order.id)))
    return order


def load_partner(session: Session, name: str) -> Partner:
    partner = session.scalars(select(Partner).where(Partner.name == name.strip())).one_or_none()
    if partner is None:
        names = session.scalars(select(Partner.name).order_by(Partner.name)).all()
        known = ", ".join(names) if names else "none yet"
        raise NotFound(f"There is no partner named {name!r} (partners: {known}).")
    return partner


# --------------------------------------------------------------------------- the lean path
#
# Issue 13 item 3: a checked action on one order (load, check the version, change, audit,
# notices, one commit) without the ORM. The order is read in ONE statement (its row, its source
# and assignee partners, and what the rules and apply_plan need besides: the number of its
# documents and back-orders, the undo window, its last notice sequence) into a LeanOrder, a
# plain object with the Order's attribute names; apply_plan() then writes only the columns that
# changed, in one UPDATE checked against the version, and the audit entry and notices as plain
# INSERTs, all on the unit of work's own connection and cursor (store.fast.Prepared). The
# domain sees the same facts, the database gets the same rows: only the ORM's bookkeeping is
# gone.

_ORDER_COLS = tuple(c.key for c in Order.__table__.columns)
#: what partner_facts(), the notices and the audit read of a partner (not its secret, URL...)
_PARTNER_COLS = (
    "id", "name", "role", "link", "email", "cancel_method", "window_seconds", "reason_required",
    "follow_up_after_send", "auto_trash", "auto_trash_agreed_at", "rejection_maps_to",
    "pass_cancellations", "link_stopped", "answer_within_seconds", "reject_reason",
)


def _lean_order_q() -> Any:
    o = Order.__table__
    src = Partner.__table__.alias("src")
    asg = Partner.__table__.alias("asg")
    docs = select(func.count()).where(Document.order_id == o.c.id).scalar_subquery()
    backs = select(func.count()).where(Backorder.order_id == o.c.id).scalar_subquery()
    undo = select(Setting.value).where(Setting.key == "undo_seconds").scalar_subquery()
    seq = select(func.max(Notice.seq)).where(Notice.order_id == o.c.id).scalar_subquery()
    # the automation rules on, and their sequence (the parsed rules' key): none on, and the
    # rules are not looked at; else only a rule whose trigger this change matches needs more
    rules_on = select(func.count(AutomationRule.id)).where(AutomationRule.enabled.is_(True)).scalar_subquery()
    rules_seq = select(DepotMeta.rules_seq).where(DepotMeta.id == 1).scalar_subquery()
    return (
        select(*o.c, *(src.c[k] for k in _PARTNER_COLS), *(asg.c[k] for k in _PARTNER_COLS),
               docs, backs, undo, seq, rules_on, rules_seq)
        .select_from(o.outerjoin(src, src.c.id == o.c.source_id).outerjoin(asg, asg.c.id == o.c.assignee_id))
        .where(o.c.number == bindparam("number"))
    )


_LEAN_ORDER = Prepared(_lean_order_q())
_LEAN_LINES = Prepared(
    select(OrderLine.article, OrderLine.description, OrderLine.quantity, OrderLine.cancelled)
    .where(OrderLine.order_id == bindparam("oid"))
    .order_by(OrderLine.lineno)
)
_LEAN_DOCS = Prepared(select(Document.kind).where(Document.order_id == bindparam("oid")))
_LEAN_LAST_ACTOR = Prepared(_LAST_ACTOR_Q)
_LEAN_TAGS = Prepared(select(Tag.name).where(Tag.order_id == bindparam("oid")).order_by(Tag.name))
_LEAN_NOTICES = Prepared(insert(Notice), column_keys=(
    "id", "order_id", "partner_id", "kind", "transport", "payload", "state", "seq", "attempts",
    "created_at", "release_at", "next_attempt_at", "awaits_answer"))
_AUDIT_KEYS = (
    "order_id", "at", "actor", "action", "from_status", "to_status", "reason", "detail", "notices",
    "followups", "before", "after_version", "undoable_until", "undone_by", "undo_of")
#: SQLite hands back the new row's id itself (lastrowid); other databases say it (RETURNING)
_LEAN_AUDIT = Prepared(insert(AuditEntry), column_keys=_AUDIT_KEYS)
_LEAN_AUDIT_RETURNING = Prepared(insert(AuditEntry).returning(AuditEntry.id), column_keys=_AUDIT_KEYS)
_LEAN_FOLLOWUP = Prepared(insert(FollowUp).returning(FollowUp.id), column_keys=(
    "order_id", "partner_id", "notice_id", "text", "created_at", "withdrawn"))
#: the columns compared after the change: every one but the key and the version (which the
#: UPDATE sets itself), so that whatever an action's change() touches is written
_LEAN_CHANGEABLE = tuple(k for k in _ORDER_COLS if k not in ("id", "version"))
_LEAN_UPDATES: dict[tuple[str, ...], Prepared] = {}


def _lean_update(columns: tuple[str, ...]) -> Prepared:
    """UPDATE orders SET <columns>, version = :new_version WHERE id = :oid AND version = :old:
    one statement per set of changed columns, compiled once."""
    stmt = _LEAN_UPDATES.get(columns)
    if stmt is None:
        o = cast_table(Order)
        stmt = _LEAN_UPDATES[columns] = Prepared(
            update(o)
            .where(o.c.id == bindparam("oid"), o.c.version == bindparam("old_version"))
            .values({**{c: bindparam(c, type_=o.c[c].type) for c in columns},
                     "version": bindparam("new_version")})
        )
    return stmt


def cast_table(model: Any) -> Table:
    table: Table = model.__table__
    return table


class LeanPartner:
    """A partner's row, with the Partner's attribute names (read-only use)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


class _LeanTag:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _LeanLine:
    __slots__ = ("article", "cancelled", "description", "quantity")

    def __init__(self, article: str, description: str, quantity: int, cancelled: int) -> None:
        self.article, self.description, self.quantity, self.cancelled = (
            article, description, quantity, cancelled)


class LeanOrder:
    """An order's row read by the lean path, with the Order's attribute names; `lines` and the
    documents' kinds are read when first asked for, on the same connection."""

    id: int
    number: str
    version: int
    status: str
    source: LeanPartner | None
    assignee: Any
    document_count: int
    backorder_count: int
    #: (undo seconds, highest notice sequence), read with the order
    prefetch: tuple[int, int]
    #: how many automation rules are on, and the depot's rules_seq, read with the order
    rules_on: int
    rules_seq: int | None

    def __init__(self, cursor: Any, dialect: Any, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
        self._loaded = {k: values[k] for k in _LEAN_CHANGEABLE}
        self._cursor, self._dialect = cursor, dialect
        self._lines: list[_LeanLine] | None = None
        self._tags: list[_LeanTag] | None = None

    @property
    def lines(self) -> list[_LeanLine]:
        if self._lines is None:
            self._lines = [_LeanLine(*r) for r in _LEAN_LINES.rows(self._cursor, self._dialect, {"oid": self.id})]
        return self._lines

    @property
    def tags(self) -> list[_LeanTag]:
        """The order's tags, read when first asked for (only the rules' conditions ask)."""
        if self._tags is None:
            self._tags = [_LeanTag(r[0]) for r in _LEAN_TAGS.rows(self._cursor, self._dialect, {"oid": self.id})]
        return self._tags

    @property
    def lines_loaded(self) -> bool:
        return self._lines is not None

    def document_kinds(self) -> tuple[DocumentKind, ...]:
        if not self.document_count:
            return ()
        return tuple(DocumentKind(r[0]) for r in _LEAN_DOCS.rows(self._cursor, self._dialect, {"oid": self.id}))

    def changed(self) -> tuple[str, ...]:
        return tuple(k for k, v in self._loaded.items() if getattr(self, k) != v)


def load_order_lean(uow: UnitOfWork, number: str, *, expected_version: int | None = None) -> LeanOrder:
    """The lean path's load_order: the order and all an action needs, in one statement."""
    number = number.strip()
    cursor = uow.cursor()
    dialect = uow.dialect
    rows = _LEAN_ORDER.rows(cursor, dialect, {"number": number})
    if not rows:
        raise NotFound(f"There is no order numbered {number!r}.")
    row = rows[0]
    no, np_ = len(_ORDER_COLS), len(_PARTNER_COLS)
    order = LeanOrder(cursor, dialect, dict(zip(_ORDER_COLS, row[:no], strict=True)))
    src, asg = row[no:no + np_], row[no + np_:no + 2 * np_]
    order.source = LeanPartner(dict(zip(_PARTNER_COLS, src, strict=True))) if src[0] is not None else None
    order.assignee = LeanPartner(dict(zip(_PARTNER_COLS, asg, strict=True))) if asg[0] is not None else None
    docs, backs, undo, seq, rules_on, rules_seq = row[no + 2 * np_:]
    order.document_count, order.backorder_count = docs or 0, backs or 0
    order.prefetch = (_undo_value(undo), seq or 0)
    order.rules_on, order.rules_seq = rules_on or 0, rules_seq
    if expected_version is not None and order.version != expected_version:
        raise Conflict(changed_by_someone(order.number, Status(order.status), by=lean_changed_by(order)))
    return order


def lean_changed_by(order: LeanOrder) -> str | None:
    """last_changed_by() on the lean path's own cursor (None when it cannot be read)."""
    try:
        rows = _LEAN_LAST_ACTOR.rows(order._cursor, order._dialect, {"order_id": order.id})
    except Exception:  # noqa: BLE001 - the sentence goes without the name
        return None
    return rows[0][0] if rows else None


class LazySession:
    """Stands for the session where an action's plan() takes one, on the lean path: a lean
    action's plan never uses it (OrderAction.lean() leaves out those that do), and one that did
    would be told so at once (UnitOfWork.session refuses on the lean path)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow.session, name)


# --------------------------------------------------------------------------- writing


def snapshot(order: Order) -> dict[str, Any]:
    """What undo needs to put the order back where it was."""
    return {
        "status": order.status,
        "assignee_id": order.assignee_id,
        "dispatched_at": order.dispatched_at.isoformat() if order.dispatched_at else None,
        "partner_not_informed": order.partner_not_informed,
        "cancellation_requested": order.cancellation_requested,
        "cancellation_request": order.cancellation_request,
        "cancellation_refused": order.cancellation_refused,
        "reject_reason": order.reject_reason,
        "status_changed_at": order.status_changed_at.isoformat(),
        # only an action that loaded the lines can change them (cancellations do)
        **(
            {"lines": {ln.article: ln.cancelled for ln in order.lines}}
            if (order.lines_loaded if isinstance(order, LeanOrder)
                else "lines" not in sa_inspect(order).unloaded)
            else {}
        ),
    }


def _max_seq(session: Session, order_id: int) -> int:
    """The highest notice sequence of the order so far (0 for none), read without a flush."""
    return session.connection().scalar(_MAX_SEQ_Q, {"oid": order_id}) or 0


def next_seq(session: Session, order_id: int | None) -> int:
    if order_id is None:
        return 0
    current = session.scalar(select(func.max(Notice.seq)).where(Notice.order_id == order_id))
    return (current or 0) + 1


def order_payload(
    order: Order, kind: NoticeKind, to: Partner, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The message body a partner receives. `order` is our number; `your_ref` theirs."""
    body: dict[str, Any] = {"order": order.number, "status": order.status}
    if to.id is not None and order.source_id == to.id and order.partner_ref:
        body["your_ref"] = order.partner_ref
    if kind is NoticeKind.ORDER:
        body.update(
            pickup_address=order.pickup_address,
            delivery_address=order.delivery_address,
            pickup_after=order.pickup_after.isoformat() if order.pickup_after else None,
            deliver_by=order.deliver_by.isoformat() if order.deliver_by else None,
            parcels=order.parcels,
            weight_kg=order.weight_kg,
            lines=[
                {
                    "article": ln.article,
                    "description": ln.description,
                    "quantity": ln.quantity - ln.cancelled,
                }
                for ln in order.lines
                if ln.quantity - ln.cancelled > 0
            ],
        )
    if extra:
        body.update(extra)
    return body


def notice_row(
    order: Order | None,
    partner: Partner,
    plan: NoticePlan,
    *,
    now: datetime,
    undo_seconds: int,
    seq: int,
    extra: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The columns of one outbox row: state held (undo window), queued, or a follow-up."""
    if plan.transport is Transport.MANUAL:
        state, release, due = NoticeState.FOLLOW_UP, None, None
    elif plan.held and undo_seconds > 0:
        release = now + timedelta(seconds=undo_seconds)
        state, due = NoticeState.HELD, release
    else:
        state, release, due = NoticeState.QUEUED, None, now
    body = payload if payload is not None else order_payload(order, plan.kind, partner, extra)  # type: ignore[arg-type]
    return dict(
        id=new_id(),
        order_id=order.id if order is not None else None,
        partner_id=partner.id,
        kind=plan.kind.value,
        transport=plan.transport.value,
        payload=body,
        state=state.value,
        seq=seq,
        attempts=0,
        created_at=now,
        release_at=release,
        next_attempt_at=due,
        awaits_answer=plan.awaits_answer,
    )


def add_notice(
    session: Session,
    order: Order | None,
    partner: Partner,
    plan: NoticePlan,
    *,
    now: datetime,
    undo_seconds: int,
    extra: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    seq: int | None = None,
) -> Notice:
    """A notice in the outbox, as an ORM object (flushed). `seq` when the caller numbers
    several at once, else the next one for the order."""
    if order is not None:
        _take_prefetch(session, order.id)  # the order's last sequence changes now
    if seq is None:
        seq = next_seq(session, order.id if order is not None else None)
    row = notice_row(
        order,
        partner,
        plan,
        now=now,
        undo_seconds=undo_seconds,
        seq=seq,
        extra=extra,
        payload=payload,
    )
    notice = Notice(**row)
    session.add(notice)
    session.flush()
    return notice


@dataclass(frozen=True)
class _Written:
    """A row written with a plain INSERT: what follow-ups and results need of it."""

    id: Any
    partner_id: int | None = None


def apply_plan(
    depot: Depot,
    session: Session,
    order: Order,
    plan: Plan,
    *,
    assign: Partner | None = None,
    reason: str | None = None,
    detail: str = "",
    extra: dict[str, Any] | None = None,
    actor: str | None = None,
    undoable: bool | None = None,
    change_status: bool = True,
    audit_before: dict[str, Any] | None = None,
) -> ActionResult:
    """Write a plan the domain allowed: the change, its notices, follow-ups and audit entry."""
    if not plan.allowed:
        raise Refused(plan.refusals)
    now = depot.now()
    lean = order if isinstance(order, LeanOrder) else None
    prefetched = lean.prefetch if lean is not None else _take_prefetch(session, order.id)
    if prefetched is not None:
        undo_s, last_seq = prefetched
    else:
        undo_s, last_seq = depot.undo_seconds(session), None
    before = audit_before or snapshot(order)
    frm = Status(order.status)
    was_assigned = order.assignee

    if change_status and plan.to_status is not frm:
        order.status = plan.to_status.value
        order.status_changed_at = now
    if plan.unassign:
        order.assignee_id = None
        order.assignee = None
        order.dispatched_at = None
        order.partner_status = None
        order.partner_status_at = None
    if assign is not None:
        order.assignee = assign
        order.assignee_id = assign.id
        order.dispatched_at = now
    if plan.partner_not_informed is not None:
        order.partner_not_informed = plan.partner_not_informed
    if plan.clear_cancellation_request:
        order.cancellation_requested = False
        order.cancellation_request = None
    # every action bumps the version, even one that changes no column: exactly once, here
    if lean is not None:
        cursor, dialect = lean._cursor, lean._dialect
        changed = lean.changed()
        old = lean.version
        _lean_update(changed).run(cursor, dialect, {
            **{c: getattr(lean, c) for c in changed}, "oid": lean.id,
            "old_version": old, "new_version": old + 1})
        if cursor.rowcount != 1:
            # the change that came first is committed (read committed sees it): its audit entry says who
            raise Conflict(changed_by_someone(lean.number, frm, at_once=True, by=lean_changed_by(lean)))
        lean.version = old + 1
    else:
        flag_modified(order, "status")
        number, order_id = order.number, order.id  # the failed flush expires the order: from here
        try:
            session.flush()  # the order's UPDATE, checked against its version
        except StaleDataError:
            session.rollback()
            try:  # the change that came first is committed: its audit entry says who
                by = last_changed_by(session, order_id)
            except Exception:  # noqa: BLE001 - the sentence goes without the name
                by = None
            raise Conflict(changed_by_someone(number, frm, at_once=True, by=by)) from None
        conn = session.connection()
        cursor, dialect = conn.connection.dbapi_connection.cursor(), conn.dialect  # type: ignore[union-attr]

    partners_by_name = {p.name: p for p in (order.source, order.assignee, assign) if p is not None}
    # an unassigned partner is still told (revocation): keep the one we had before
    if plan.unassign and before.get("assignee_id") and was_assigned is not None:
        partners_by_name[was_assigned.name] = was_assigned
    # The notices and the audit entry are plain INSERTs on the action's connection (same
    # transaction), statements compiled once: the ORM's unit of work, and even Core's
    # per-statement machinery, cost more than SQLite takes to write them.
    notices: list[_Written] = []
    if plan.notices:
        seq = (last_seq if last_seq is not None else _max_seq(session, order.id)) + 1
        rows = [
            notice_row(
                order,
                partners_by_name[np.partner],
                np,
                now=now,
                undo_seconds=undo_s,
                seq=seq + i,
                extra=extra,
            )
            for i, np in enumerate(plan.notices)
        ]
        _LEAN_NOTICES.many(cursor, dialect, rows)
        notices = [_Written(r["id"], r["partner_id"]) for r in rows]
    if lean is not None:
        followups: Sequence[FollowUp | _Written] = _insert_followups(
            cursor, dialect, order, plan.followups, notices, partners_by_name, now)
    else:
        followups = write_followups(session, order, plan.followups, notices, partners_by_name, now)
    can_undo = plan.undoable if undoable is None else undoable
    undo_until = now + timedelta(seconds=undo_s) if (can_undo and undo_s > 0) else None
    audit_row = dict(
        order_id=order.id,
        at=now,
        actor=actor or depot.actor,
        action=plan.action,
        from_status=frm.value,
        to_status=order.status,
        reason=reason,
        detail=detail or plan.record(),
        notices=[n.id for n in notices],
        followups=[f.id for f in followups],
        before=before,
        after_version=order.version,
        undoable_until=undo_until,
        undone_by=None,
        undo_of=None,
    )
    if dialect.name == "sqlite":
        audit_id = _LEAN_AUDIT.run(cursor, dialect, audit_row).lastrowid
    else:
        audit_id = _LEAN_AUDIT_RETURNING.rows(cursor, dialect, audit_row)[0][0]
    message = plan.summary(to=Status(order.status), followups=len(followups))
    return ActionResult(
        order=order.number,
        action=plan.action,
        from_status=frm,
        to_status=Status(order.status),
        version=order.version,
        audit_id=audit_id,
        notices=tuple(n.id for n in notices),
        followups=tuple(f.id for f in followups),
        undo_until=undo_until,
        message=message,
    )


def _insert_followups(
    cursor: Any,
    dialect: Any,
    order: Any,
    plans: Iterable[FollowUpPlan],
    notices: Sequence[Notice | _Written],
    partners_by_name: dict[str, Any],
    now: datetime,
) -> list[_Written]:
    """write_followups() for the lean path: plain INSERTs on its connection."""
    out = []
    for fp in plans:
        partner = partners_by_name.get(fp.partner) if fp.partner else None
        notice = next(
            (n for n in notices if partner is not None and n.partner_id == partner.id), None
        )
        key = _LEAN_FOLLOWUP.rows(cursor, dialect, dict(
            order_id=order.id if order is not None else None,
            partner_id=partner.id if partner else None,
            notice_id=notice.id if notice else None,
            text=fp.text,
            created_at=now,
            withdrawn=False,
        ))[0][0]
        out.append(_Written(key, partner.id if partner else None))
    return out


def write_followups(
    session: Session,
    order: Order | None,
    plans: Iterable[FollowUpPlan],
    notices: Sequence[Notice | _Written],
    partners_by_name: dict[str, Partner],
    now: datetime,
) -> list[FollowUp]:
    out = []
    for fp in plans:
        partner = partners_by_name.get(fp.partner) if fp.partner else None
        notice = next(
            (n for n in notices if partner is not None and n.partner_id == partner.id), None
        )
        f = FollowUp(
            order_id=order.id if order is not None else None,
            partner_id=partner.id if partner else None,
            notice_id=notice.id if notice else None,
            text=fp.text,
            created_at=now,
        )
        session.add(f)
        out.append(f)
    if out:
        session.flush()
    return out


def next_number(session: Session, kind: str) -> str:
    """A fresh order or cancellation number, unique in the depot."""
    meta = session.get(DepotMeta, 1, with_for_update=True)
    if meta is None:
        meta = DepotMeta(id=1)
        session.add(meta)
        session.flush()
    if kind == "order":
        while True:
            n = meta.next_order_seq
            meta.next_order_seq = n + 1
            number = f"{meta.order_prefix}-{n:06d}"
            if session.scalar(select(Order.id).where(Order.number == number)) is None:
                return number
    while True:
        n = meta.next_cancellation_seq
        meta.next_cancellation_seq = n + 1
        number = f"CN-{n:06d}"
        if session.scalar(select(Cancellation.id).where(Cancellation.number == number)) is None:
            return number
