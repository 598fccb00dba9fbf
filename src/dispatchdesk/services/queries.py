"""Read models for the screens and the command line. Screens never build a query; they call these.

Each returns plain frozen dataclasses, so a screen holds no session and no ORM object.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from ..domain import (
    ALL_STATUSES,
    RETURNABLE,
    CancellationRequest,
    Direction,
    Mark,
    NoticeState,
    OrderFacts,
    ReasonCode,
    Status,
    allowed_targets,
    move_refusal,
    plan_cancellation,
    plan_refuse_cancel_request,
    plan_set_status,
    plan_trash,
    redo_refusal,
    reject_checks,
)
from ..store.models import (
    AuditEntry,
    BoardCount,
    Cancellation,
    FollowUp,
    Notice,
    Order,
    Partner,
    Return,
    Tag,
)
from . import search
from .core import Depot, last_changed_by, load_order, order_facts


@dataclass(frozen=True)
class Card:
    number: str
    status: Status
    version: int
    partner: str  # who it came from, or who has it; "" for our own
    direction: Direction
    pickup: str
    delivery: str
    status_changed_at: datetime
    created_at: datetime
    archived: bool
    marks: frozenset[Mark] = frozenset()
    id: int = 0  # the database row id, for windows fetched by id
    source: str = ""  # the partner it came from ("" when it is our own)
    holder: str = ""  # the partner who has it now (subcontractor or warehouse), "" when nobody

    @property
    def route(self) -> str:
        return f"{_town(self.pickup)} → {_town(self.delivery)}"

    @property
    def parties(self) -> str:
        """Where it came from and who has it now: '← Baltic → Northline', '→ Swift', '' (own)."""
        return " ".join(p for p in (f"← {self.source}" if self.source else "",
                                     f"→ {self.holder}" if self.holder else "") if p)


def _town(address: str) -> str:
    """The short form of an address: its last comma part, without a postcode."""
    part = address.rsplit(",", 1)[-1].strip() if address else ""
    words = [w for w in part.split() if not any(c.isdigit() for c in w)]
    return " ".join(words) or part or "?"


@dataclass(frozen=True)
class BoardFilter:
    text: str = ""
    archived: bool = False  # True: only archived; False: only not archived
    statuses: tuple[Status, ...] = ALL_STATUSES


def board(depot: Depot, flt: BoardFilter = BoardFilter(), *, limit: int | None = None) -> list[Card]:
    """The cards of the status lists, oldest status change first within a status."""
    src = aliased(Partner)
    asg = aliased(Partner)
    q = (
        select(*_CARD_COLUMNS)
        .outerjoin(src, Order.source_id == src.id)
        .outerjoin(asg, Order.assignee_id == asg.id)
        .where(Order.archived.is_(flt.archived), Order.status.in_([s.value for s in flt.statuses]))
        .order_by(Order.status_changed_at, Order.id)
    )
    text = flt.text.strip()
    if text:
        like = f"%{_escape_like(text)}%"
        q = q.where(or_(
            Order.number.ilike(like, escape="\\"), src.name.ilike(like, escape="\\"), asg.name.ilike(like, escape="\\"),
            Order.pickup_address.ilike(like, escape="\\"), Order.delivery_address.ilike(like, escape="\\"),
            Order.partner_ref.ilike(like, escape="\\"),
        ))
    if limit is not None:
        q = q.limit(limit)
    with depot.uow(write=False) as uow:
        return _cards(uow.session, uow.session.execute(q).all())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


#: The tables' columns, for the board's reads (the cards, their marks, the counts): plain SQL on
#: the tables rather than the ORM's mapped attributes (the same columns and the same SQL), so
#: that drawing the board does not configure the ORM's mappers while the console starts (issue 13).
_O = Order.__table__.c
_P = Partner.__table__.c
_N = Notice.__table__.c
_F = FollowUp.__table__.c
_B = BoardCount.__table__.c


def _notice_marks(session: Session, ids: list[int] | None) -> dict[int, set[Mark]]:
    q = select(_N.order_id, _N.state, func.count()).where(_N.order_id.is_not(None)).group_by(
        _N.order_id, _N.state)
    if ids is not None:
        if not ids:
            return {}
        q = q.where(_N.order_id.in_(ids))
    out: dict[int, set[Mark]] = defaultdict(set)
    for oid, state, _n in session.execute(q):
        if oid is None:  # left out by the query already; this narrows the type
            continue
        st = NoticeState(state)
        if st.waiting:
            out[oid].add(Mark.NOTICE_WAITING)
        elif st is NoticeState.FAILED:
            out[oid].add(Mark.NOTICE_FAILED)
        elif st is NoticeState.ACKNOWLEDGED:
            out[oid].add(Mark.PARTNER_ACKNOWLEDGED)
    for marks in out.values():
        if Mark.NOTICE_WAITING in marks or Mark.NOTICE_FAILED in marks:
            marks.discard(Mark.PARTNER_ACKNOWLEDGED)
    return out


def counts(depot: Depot, *, archived: bool = False) -> dict[Status, int]:
    with depot.uow(write=False) as uow:
        rows = uow.session.execute(
            select(Order.status, func.count()).where(Order.archived.is_(archived)).group_by(Order.status)
        ).all()
    out = {s: 0 for s in Status}
    for status, n in rows:
        out[Status(status)] = n
    return out


# --------------------------------------------------------------------------- the board, in windows
#
# A depot can hold 1,000,000 orders. The dispatch screen never loads them all: it reads the
# number of cards in each list (kept by the database, `board_counts`), and then the window of
# cards it shows. Filtering asks the database's text index (services/search.py).

#: The key of the list of archived orders (every status); the other lists are keyed by status.
ARCHIVED = search.ARCHIVED
#: Every list of the board, as on the tab All information.
LIST_KEYS: tuple[str, ...] = tuple(s.value for s in ALL_STATUSES) + (ARCHIVED,)


def _list_where(key: str, session: Session) -> ColumnElement[bool]:
    if key == ARCHIVED:
        return search.archived_list(session)
    # "IS NOT true" rather than "= false": the database then walks the status index in order.
    return and_(_O.status == Status(key).value, _O.archived.is_not(True))


_CARD_COLUMNS = (
    _O.id, _O.number, _O.status, _O.version, _O.source_id, _O.assignee_id,
    _O.pickup_address, _O.delivery_address, _O.status_changed_at, _O.created_at,
    _O.archived, _O.cancellation_requested, _O.partner_not_informed, _O.cancellation_refused,
)


_MANY_IDS = 5000


def _cards(session: Session, rows: Sequence[Sequence[Any]]) -> list[Card]:
    """Rows of _CARD_COLUMNS -> cards with their marks (two small queries for the marks)."""
    if not rows:
        return []
    return _cards_of_windows(session, [rows])[0]


def _cards_of_windows(session: Session, windows: Sequence[Sequence[Sequence[Any]]]) -> list[list[Card]]:
    """Several windows of rows of _CARD_COLUMNS -> their cards, with the partners' names and
    the marks read once for all of them (three small queries, not three a window)."""
    rows = [r for w in windows for r in w]
    if not rows:
        return [[] for _ in windows]
    cards = iter(_cards_of_rows(session, rows))
    return [[next(cards) for _ in w] for w in windows]


def _cards_of_rows(session: Session, rows: Sequence[Sequence[Any]]) -> list[Card]:
    names = dict(session.execute(select(_P.id, _P.name)).all())
    # Past a few thousand cards, read the marks of every order rather than bind that many ids
    # (SQLite caps the number of bound variables); the rows not shown are simply not used.
    ids = [r[0] for r in rows] if len(rows) < _MANY_IDS else None
    notice_marks = _notice_marks(session, ids)
    open_q = select(_F.order_id).where(_F.done_at.is_(None), _F.withdrawn.is_(False), _F.order_id.is_not(None))
    if ids is not None:
        open_q = open_q.where(_F.order_id.in_(ids))
    open_fu = set(session.scalars(open_q.distinct()))
    out = []
    for (oid, number, status, version, src_id, asg_id, pick, deliv, changed, created, archived,
         c_req, not_inf, c_ref) in rows:
        marks = set(notice_marks.get(oid, ()))
        if c_req:
            marks.add(Mark.CANCELLATION_REQUESTED)
        if not_inf:
            marks.add(Mark.PARTNER_NOT_INFORMED)
        if c_ref:
            marks.add(Mark.CANCELLATION_REFUSED)
        if oid in open_fu:
            marks.add(Mark.FOLLOW_UP_OPEN)
        src_name = names.get(src_id) if src_id else None
        asg_name = names.get(asg_id) if asg_id else None
        direction = Direction.INBOUND if src_name else (Direction.OUTBOUND if asg_name else Direction.OWN)
        out.append(Card(number, Status(status), version, src_name or asg_name or "", direction, pick or "",
                        deliv or "", changed, created, bool(archived), frozenset(marks), oid,
                        src_name or "", asg_name or ""))
    return out


def board_counts(depot: Depot) -> dict[str, int]:
    """How many cards each list of the board holds (keys: LIST_KEYS): read from the counts the
    database keeps with every change (migration 0008), not counted, so it costs the same at any
    size."""
    with depot.uow(write=False) as uow:
        kept = dict(uow.session.execute(select(_B.list, _B.n)).all())
    return {k: int(kept.get(k, 0)) for k in LIST_KEYS}


def board_page(depot: Depot, key: str, offset: int, limit: int) -> list[Card]:
    """The cards of one list from `offset`, in board order (oldest status change first)."""
    with depot.uow(write=False) as uow:
        q = (select(*_CARD_COLUMNS).where(_list_where(key, uow.session))
             .order_by(_O.status_changed_at, _O.id).offset(max(0, offset)).limit(max(0, limit)))
        return _cards(uow.session, uow.session.execute(q).all())


def board_pages(depot: Depot, windows: list[tuple[str, int, int]]) -> list[list[Card]]:
    """Several windows (list key, offset, limit) at once, in one read transaction."""
    with depot.uow(write=False) as uow:
        s = uow.session
        rows = []
        for key, offset, limit in windows:
            q = (select(*_CARD_COLUMNS).where(_list_where(key, s))
                 .order_by(_O.status_changed_at, _O.id).offset(max(0, offset)).limit(max(0, limit)))
            rows.append(s.execute(q).all())
        # the names and the marks of every window's cards at once
        return _cards_of_windows(s, rows)


def cards_by_ids(depot: Depot, ids: list[int]) -> list[Card]:
    """The cards of these orders, in the order given (ids no longer there are left out)."""
    return cards_by_id_lists(depot, [ids])[0]


def cards_by_id_lists(depot: Depot, id_lists: list[list[int]]) -> list[list[Card]]:
    """Several lists of cards by id, in one read transaction (each in the order given)."""
    wanted = [i for ids in id_lists for i in ids]
    if not wanted:
        return [[] for _ in id_lists]
    with depot.uow(write=False) as uow:
        rows: list[Sequence[Any]] = []
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            rows.extend(uow.session.execute(select(*_CARD_COLUMNS).where(_O.id.in_(chunk))).all())
        by_id = {c.id: c for c in _cards(uow.session, rows)}
    return [[by_id[i] for i in ids if i in by_id] for ids in id_lists]


def card_position(depot: Depot, number: str) -> tuple[str, int, int] | None:
    """(list key, index in that list, order id) of the order; None when there is no such order."""
    with depot.uow(write=False) as uow:
        s = uow.session
        row = s.execute(select(Order.id, Order.status, Order.archived, Order.status_changed_at)
                        .where(Order.number == number.strip())).first()
        if row is None:
            return None
        oid, status, archived, changed = row
        key = ARCHIVED if archived else status
        before = s.scalar(select(func.count()).select_from(Order).where(
            _list_where(key, s),
            or_(Order.status_changed_at < changed, and_(Order.status_changed_at == changed, Order.id < oid))))
        return key, int(before or 0), oid


# --------------------------------------------------------------------------- order reception
#
# Order reception (SPEC 5, key 2): the orders that came in, newest first. The screen reads the
# ids that match its filter (one indexed query), then the rows of the window it shows.

#: Quick filter "needs a decision": new (Created), cancellation requested, a notice failed.
NEEDS_DECISION = "decide"


@dataclass(frozen=True)
class ReceptionFilter:
    text: str = ""  # number, partner, their reference, addresses (every word must match)
    quick: str = ""  # "" (everything) or NEEDS_DECISION
    partner: str = ""  # only the orders that came from this partner ("" = every partner)
    archived: bool = False  # include archived orders


@dataclass(frozen=True)
class ReceptionRow:
    card: Card
    partner_ref: str
    received_at: datetime  # when it came in (created here, for own orders)


def _reception_conds(flt: ReceptionFilter) -> list[ColumnElement[bool]]:
    """What reception's filter asks, but its text (matched by services/search.py)."""
    conds: list[ColumnElement[bool]] = []
    if not flt.archived:
        conds.append(Order.archived.is_not(True))
    if flt.partner:
        conds.append(Order.source_id.in_(select(Partner.id).where(Partner.name == flt.partner)))
    if flt.quick == NEEDS_DECISION:
        failed = select(Notice.order_id).where(Notice.state == NoticeState.FAILED.value,
                                               Notice.order_id.is_not(None))
        conds.append(or_(Order.status == Status.CREATED.value, Order.cancellation_requested.is_(True),
                         Order.id.in_(failed)))
    return conds


def reception_ids(depot: Depot, flt: ReceptionFilter = ReceptionFilter()) -> list[int]:
    """The ids of every order reception shows for this filter, newest first (every one of
    them: for a choice the dispatcher made, such as an export of the filter)."""
    conds = _reception_conds(flt)
    if flt.text.strip():
        return search.match_newest(depot, flt.text, conds, 0, 10**12, count_up_to=0).ids
    with depot.uow(write=False) as uow:
        return list(uow.session.scalars(select(Order.id).where(*conds).order_by(Order.id.desc())))


@dataclass(frozen=True)
class ReceptionPage:
    total: int  # how many orders match (at least, when `more`)
    offset: int
    rows: list[ReceptionRow]
    more: bool = False  # more than `total` match: not counted ("1,000+")


#: Reception counts the orders a filter matches up to this many, then says "1,000+".
COUNT_UP_TO = 1000


def reception_page(depot: Depot, flt: ReceptionFilter, offset: int, limit: int) -> ReceptionPage:
    """One page of reception, newest first, by the filter in the database: the text by the
    text index (services/search.py), the page by the primary key; the number of orders read
    from the board's kept counts when nothing but archived is asked, else counted up to
    COUNT_UP_TO. Nothing in it grows with the depot."""
    offset = max(0, offset)
    limit = max(0, limit)
    conds = _reception_conds(flt)
    if flt.text.strip():
        m = search.match_newest(depot, flt.text, conds, offset, limit, count_up_to=COUNT_UP_TO)
        return ReceptionPage(m.total, offset, reception_rows(depot, m.ids), m.more)
    with depot.uow(write=False) as uow:
        s = uow.session
        q = select(Order.id).where(*conds).order_by(Order.id.desc())
        page = list(s.scalars(q.offset(offset).limit(limit)))
        if not flt.quick and not flt.partner:
            kept = dict(s.execute(select(BoardCount.list, BoardCount.n)).all())
            total, more = sum(int(n) for k, n in kept.items() if flt.archived or k != ARCHIVED), False
        else:
            upto = max(COUNT_UP_TO, offset + limit)
            counted = s.scalar(select(func.count()).select_from(q.limit(upto + 1).subquery())) or 0
            total, more = min(counted, upto), counted > upto
    return ReceptionPage(int(total), offset, reception_rows(depot, page), more)


def reception_rows(depot: Depot, ids: list[int]) -> list[ReceptionRow]:
    """The rows of these orders, in the order given."""
    if not ids:
        return []
    with depot.uow(write=False) as uow:
        s = uow.session
        rows: list[Sequence[Any]] = []
        more: dict[int, tuple[str, datetime]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows.extend(s.execute(select(*_CARD_COLUMNS).where(Order.id.in_(chunk))).all())
            for oid, ref, received, created in s.execute(
                    select(Order.id, Order.partner_ref, Order.received_at, Order.created_at)
                    .where(Order.id.in_(chunk))):
                more[oid] = (ref or "", received or created)
        by_id = {c.id: c for c in _cards(s, rows)}
    return [ReceptionRow(by_id[i], *more[i]) for i in ids if i in by_id]


def source_names(depot: Depot) -> list[str]:
    """The partners orders come from (clients and channels), for the quick filter by partner."""
    return partner_names(depot, roles=("client", "channel"))


@dataclass(frozen=True)
class RejectCheckView:
    label: str
    passed: bool
    refusal: str  # "" when it passed


@dataclass(frozen=True)
class RejectContext:
    """What the Reject… dialog shows (SPEC 4.5): the four checks, the buyer, the default code."""

    number: str
    version: int
    status: Status
    buyer: str  # the partner it came from ("" for our own order)
    checks: tuple[RejectCheckView, ...]
    default_reason: str | None  # the reason code in the buyer's settings
    #: the warning the dialog shows: a rejection is final once the undo window has closed
    warning: str = ""
    #: who made the order's last change, as the audit names them (for the conflict sentence)
    last_actor: str | None = None

    @property
    def allowed(self) -> bool:
        return all(c.passed for c in self.checks)


def reject_context(depot: Depot, number: str) -> RejectContext:
    with depot.uow(write=False) as uow:
        o = load_order(uow.session, number)
        facts = order_facts(o, lines=False)
        return RejectContext(
            number=o.number,
            version=o.version,
            status=Status(o.status),
            buyer=o.source.name if o.source else "",
            checks=tuple(RejectCheckView(c.label, c.passed, c.refusal or "") for c in reject_checks(facts)),
            default_reason=o.source.reject_reason if o.source else None,
            warning=_reject_warning(depot.undo_seconds(uow.session)),
            last_actor=last_changed_by(uow.session, o.id),
        )


def _reject_warning(undo_seconds: int) -> str:
    if undo_seconds > 0:
        return (f"A rejection cannot be undone once the undo window ({undo_seconds} s) has closed: "
                "Rejected is final.")
    return "A rejection cannot be undone: Rejected is final."


# --------------------------------------------------------------------------- what the dispatcher may do


@dataclass(frozen=True)
class OrderActions:
    """What each action on one order would meet: None = allowed, else the sentence why not.

    Computed by the domain's plans, so the screens offer exactly what the services allow.
    """

    number: str
    version: int
    status: Status
    archived: bool
    #: Set status to each status (Dispatched still needs a partner; Cancelled the form)
    moves: dict[Status, str | None]
    trash: str | None
    cancel: str | None
    undo_until: datetime | None
    #: the one sentence why nothing moves this order (Rejected, Cancelled), else None
    final: str | None = None
    #: the goods have left: the too-late refusals offer Register return… (SPEC 4.11)
    returnable: bool = False
    #: order reception's Accept (Created → Accepted), and Refuse cancellation request…
    accept: str | None = None
    refuse_request: str | None = None

    #: Set status to Dispatched asks for the subcontractor or warehouse
    NEEDS_PARTNER = Status.DISPATCHED
    #: Set status to Cancelled goes through the cancellation form
    NEEDS_FORM = Status.CANCELLED

    def undoable(self, now: datetime) -> bool:
        return self.undo_until is not None and now < self.undo_until


def _undo_until(session: Session, order_id: int, version: int, now: datetime) -> datetime | None:
    """Until when the order's last action can be undone (the same test services.undo makes)."""
    # entries with no after_version (a rule's effect, a follow-up done) do not hide the action
    last = session.scalars(select(AuditEntry).where(AuditEntry.order_id == order_id, AuditEntry.undo_of.is_(None),
                                                    AuditEntry.after_version.is_not(None))
                           .order_by(AuditEntry.id.desc()).limit(1)).first()
    if (last is not None and last.undoable_until and last.undone_by is None and last.undoable_until > now
            and last.after_version == version):
        return last.undoable_until
    return None


def order_actions(depot: Depot, number: str) -> OrderActions:
    now = depot.now()
    with depot.uow(write=False) as uow:
        s = uow.session
        o = load_order(s, number)
        facts = order_facts(o)
        moves: dict[Status, str | None] = {}
        for st in Status:
            if st is Status.DISPATCHED:
                refusal = move_refusal(facts, st)
                moves[st] = refusal
            elif st is Status.CANCELLED:
                moves[st] = move_refusal(facts, st) or _cancel_refusal(facts, now)
            else:
                plan = plan_set_status(facts, st, now)
                moves[st] = " ".join(plan.refusals) or None
        trash = " ".join(plan_trash(facts, now).refusals) or None
        return OrderActions(
            number=o.number,
            version=o.version,
            status=Status(o.status),
            archived=o.archived,
            moves=moves,
            trash=trash,
            cancel=_cancel_refusal(facts, now),
            undo_until=_undo_until(s, o.id, o.version, now),
            final=move_refusal(facts, Status.CREATED) if facts.status.terminal else None,
            returnable=facts.status in RETURNABLE,
            accept=moves[Status.ACCEPTED],
            refuse_request=_refuse_request_refusal(o, facts, now),
        )


def _refuse_request_refusal(o: Order, facts: OrderFacts, now: datetime) -> str | None:
    """Why Refuse cancellation request… cannot be used (the message aside: the dialog asks)."""
    if not o.cancellation_requested:
        return f"Order {o.number} has no cancellation request to refuse."
    return " ".join(plan_refuse_cancel_request(facts, now).refusals) or None


def _cancel_refusal(facts: OrderFacts, now: datetime) -> str | None:
    """Why the cancellation form cannot be used on this order (reason checks aside: the form asks)."""
    plan = plan_cancellation(facts, CancellationRequest(ReasonCode.OTHER, comment="-"), now)
    return " ".join(plan.refusals) or None


def fresh_cancellation_number(depot: Depot) -> str:
    """A cancellation number nobody has used yet, to fill in the form (the dispatcher may edit it).

    Read-only: two forms opened at once can show the same number; the second to be sent is
    refused with 'already used' and the form offers a new one.
    """
    from .actions import free_cancellation_number

    with depot.uow(write=False) as uow:
        return free_cancellation_number(uow.session)


# --------------------------------------------------------------------------- one order


@dataclass(frozen=True)
class LineView:
    article: str
    description: str
    quantity: int
    cancelled: int


@dataclass(frozen=True)
class NoticeView:
    id: str
    order: str | None
    partner: str
    kind: str
    transport: str
    state: NoticeState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    release_at: datetime | None
    last_error: str | None
    outcome: str | None
    answer: str | None
    #: why it cannot be retried or skipped by hand now (the domain's rule), None when it can
    redo_refusal: str | None = None


@dataclass(frozen=True)
class AuditView:
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    detail: str
    undone: bool


@dataclass(frozen=True)
class FollowUpView:
    id: int
    order: str | None
    partner: str | None
    text: str
    created_at: datetime
    done_at: datetime | None
    done_by: str | None


@dataclass(frozen=True)
class CancellationView:
    number: str
    reason: str | None
    comment: str
    internal_note: str
    lines: dict[str, int]
    partial: bool
    state: str
    answer: str | None
    created_at: datetime
    actor: str


@dataclass(frozen=True)
class ReturnView:
    """A return on the order (SPEC 4.11): registered here, or told by `reported_by`."""

    number: str
    reason: str
    comment: str
    lines: dict[str, int]
    reported_by: str | None
    created_at: datetime
    actor: str


@dataclass(frozen=True)
class OrderDetail:
    number: str
    version: int
    status: Status
    direction: Direction
    source: str | None
    assignee: str | None
    partner_ref: str | None
    pickup_address: str
    delivery_address: str
    pickup_after: datetime | None
    deliver_by: datetime | None
    parcels: int
    weight_kg: float
    archived: bool
    tags: tuple[str, ...]
    lines: tuple[LineView, ...]
    documents: tuple[tuple[str, str], ...]
    backorders: tuple[tuple[str, int], ...]
    cancellation_requested: bool
    cancellation_request: dict | None
    partner_not_informed: bool
    cancellation_refused: str | None
    partner_status: str | None
    partner_status_at: datetime | None
    replaces: str | None
    created_at: datetime
    notices: tuple[NoticeView, ...]
    audit: tuple[AuditView, ...]
    followups: tuple[FollowUpView, ...]
    cancellations: tuple[CancellationView, ...]
    #: status -> None if the move is allowed, else the sentence why not
    moves: dict[Status, str | None] = field(default_factory=dict)
    undo_until: datetime | None = None
    returns: tuple[ReturnView, ...] = ()
    reject_reason: str | None = None  # the reason code it was rejected with

    @property
    def last_actor(self) -> str | None:
        """Who made the order's last change, as the audit names them (for the conflict sentence)."""
        return self.audit[-1].actor if self.audit else None

    @property
    def partner(self) -> str:
        return self.source or self.assignee or ""


def _notice_view(n: Notice, number: str | None, now: datetime) -> NoticeView:
    in_flight = n.claimed_by is not None and n.lease_until is not None and n.lease_until >= now
    from .outbox import notice_label  # not with the board (start-up, issue 13)

    why = redo_refusal(partner=n.partner.name, label=notice_label(n.kind, number), state=NoticeState(n.state),
                       attempts=n.attempts, in_flight=in_flight, link_stopped=n.partner.link_stopped)
    return NoticeView(n.id, number, n.partner.name, n.kind, n.transport, NoticeState(n.state), n.attempts,
                      n.created_at, n.next_attempt_at, n.release_at, n.last_error, n.outcome, n.answer, why)


def order_detail(depot: Depot, number: str) -> OrderDetail:
    now = depot.now()
    with depot.uow(write=False) as uow:
        s = uow.session
        o = load_order(s, number)
        facts = order_facts(o)
        notices = s.scalars(select(Notice).where(Notice.order_id == o.id).order_by(Notice.seq)).unique().all()
        audit = s.scalars(select(AuditEntry).where(AuditEntry.order_id == o.id).order_by(AuditEntry.id)).all()
        fus = s.scalars(select(FollowUp).where(FollowUp.order_id == o.id, FollowUp.withdrawn.is_(False))
                        .order_by(FollowUp.id)).unique().all()
        cancs = s.scalars(select(Cancellation).where(Cancellation.order_id == o.id).order_by(Cancellation.id)).all()
        undo_until = _undo_until(s, o.id, o.version, now)
        return OrderDetail(
            number=o.number,
            version=o.version,
            status=Status(o.status),
            direction=facts.direction,
            source=o.source.name if o.source else None,
            assignee=o.assignee.name if o.assignee else None,
            partner_ref=o.partner_ref,
            pickup_address=o.pickup_address,
            delivery_address=o.delivery_address,
            pickup_after=o.pickup_after,
            deliver_by=o.deliver_by,
            parcels=o.parcels,
            weight_kg=o.weight_kg,
            archived=o.archived,
            tags=tuple(t.name for t in o.tags),
            lines=tuple(LineView(ln.article, ln.description, ln.quantity, ln.cancelled) for ln in o.lines),
            documents=tuple((d.kind, d.number) for d in o.documents),
            backorders=tuple((b.article, b.quantity) for b in o.backorders),
            cancellation_requested=o.cancellation_requested,
            cancellation_request=o.cancellation_request,
            partner_not_informed=o.partner_not_informed,
            cancellation_refused=o.cancellation_refused,
            partner_status=o.partner_status,
            partner_status_at=o.partner_status_at,
            replaces=o.replaces.number if o.replaces else None,
            created_at=o.created_at,
            notices=tuple(_notice_view(n, o.number, now) for n in notices),
            audit=tuple(AuditView(a.at, a.actor, a.action, a.from_status, a.to_status, a.reason, a.detail,
                                  a.undone_by is not None) for a in audit),
            followups=tuple(FollowUpView(f.id, o.number, f.partner.name if f.partner else None, f.text,
                                         f.created_at, f.done_at, f.done_by) for f in fus),
            cancellations=tuple(CancellationView(c.number, c.reason, c.comment, c.internal_note, dict(c.lines),
                                                 c.partial, c.state, c.answer, c.created_at, c.actor) for c in cancs),
            moves={st: move_refusal(facts, st) for st in Status},
            undo_until=undo_until,
            returns=tuple(
                ReturnView(r.number, r.reason, r.comment, dict(r.lines),
                           r.reported_by.name if r.reported_by else None, r.created_at, r.actor)
                for r in s.scalars(select(Return).where(Return.order_id == o.id).order_by(Return.id)).unique()
            ),
            reject_reason=o.reject_reason,
        )


def allowed_moves(depot: Depot, number: str) -> dict[Status, str | None]:
    return order_detail(depot, number).moves


# --------------------------------------------------------------------------- link and follow-ups


def notices(depot: Depot, *, states: tuple[NoticeState, ...] = (), partner: str | None = None,
            limit: int = 1000) -> list[NoticeView]:
    q = select(Notice, Order.number).outerjoin(Order, Notice.order_id == Order.id).order_by(Notice.created_at.desc())
    if states:
        q = q.where(Notice.state.in_([s.value for s in states]))
    if partner:
        q = q.join(Partner, Notice.partner_id == Partner.id).where(Partner.name == partner)
    now = depot.now()
    with depot.uow(write=False) as uow:
        return [_notice_view(n, number, now) for n, number in uow.session.execute(q.limit(limit)).unique().all()]


def followups(depot: Depot, *, open_only: bool = False, limit: int = 1000) -> list[FollowUpView]:
    """Open follow-ups first, the longest waiting at the top (a to-do list); then the done ones,
    the most recently done first."""
    q = (select(FollowUp, Order.number).outerjoin(Order, FollowUp.order_id == Order.id)
         .where(FollowUp.withdrawn.is_(False))
         .order_by(FollowUp.done_at.is_not(None), FollowUp.done_at.desc(), FollowUp.created_at, FollowUp.id))
    if open_only:
        q = q.where(FollowUp.done_at.is_(None))
    with depot.uow(write=False) as uow:
        return [FollowUpView(f.id, number, f.partner.name if f.partner else None, f.text, f.created_at, f.done_at,
                             f.done_by) for f, number in uow.session.execute(q.limit(limit)).unique().all()]


@dataclass(frozen=True)
class PartnerView:
    name: str
    role: str
    link: str
    url: str | None
    email: str | None
    secret_hint: str  # never the whole secret
    cancel_method: str
    window_seconds: int
    reason_required: bool
    follow_up_after_send: bool
    auto_trash: bool
    rejection_maps_to: str
    pass_cancellations: bool
    link_stopped: bool
    last_contact_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    waiting: int
    failed: int
    #: what happens to orders this partner revokes, in words (auto-trash needs both sides over
    #: a link: SPEC 4.2, 7)
    revoked: str = ""
    #: the auto-trash agreement over the link and its date, in words ("" when not linked)
    agreement: str = ""
    auto_trash_agreed_at: datetime | None = None

    reject_reason: str | None = None  # the default reason code of its rejections


def auto_trash_words(p: Partner) -> tuple[str, str]:
    """(what happens to orders this partner revokes, the auto-trash agreement) in words."""
    if p.link != "http":
        return ("cancelled here at once (auto-trash)" if p.auto_trash else "flagged for a dispatcher"), ""
    if p.auto_trash and p.auto_trash_agreed_at is not None:
        when = p.auto_trash_agreed_at.strftime("%Y-%m-%d %H:%M UTC")
        return "cancelled here at once (auto-trash)", f"agreed by both sides since {when}"
    if p.auto_trash:
        return ("flagged for a dispatcher until they agree to auto-trash",
                f"on here; {p.name} has not agreed" + (" (it said no)" if p.peer_auto_trash is False else ""))
    if p.peer_auto_trash:
        return "flagged for a dispatcher", f"{p.name} agrees; off here (switch it on to agree)"
    return "flagged for a dispatcher", ""  # off on both sides: nothing to say


def hide_secret(secret: str | None) -> str:
    if not secret:
        return ""
    return "•" * 8 + secret[-2:] if len(secret) >= 16 else "•" * 8


def partners(depot: Depot) -> list[PartnerView]:
    with depot.uow(write=False) as uow:
        s = uow.session
        waiting = dict(s.execute(select(Notice.partner_id, func.count()).where(
            Notice.state.in_([NoticeState.HELD.value, NoticeState.QUEUED.value, NoticeState.SENT.value])
        ).group_by(Notice.partner_id)).all())
        failed = dict(s.execute(select(Notice.partner_id, func.count()).where(
            Notice.state == NoticeState.FAILED.value).group_by(Notice.partner_id)).all())
        out = []
        for p in s.scalars(select(Partner).order_by(Partner.name)):
            revoked, agreement = auto_trash_words(p)
            out.append(PartnerView(p.name, p.role, p.link, p.url, p.email, hide_secret(p.secret), p.cancel_method,
                                   p.window_seconds, p.reason_required, p.follow_up_after_send, p.auto_trash,
                                   p.rejection_maps_to, p.pass_cancellations, p.link_stopped, p.last_contact_at,
                                   p.last_error, p.last_error_at, waiting.get(p.id, 0), failed.get(p.id, 0),
                                   revoked, agreement, p.auto_trash_agreed_at, p.reject_reason))
        return out


def partner_names(depot: Depot, *, roles: tuple[str, ...] = ()) -> list[str]:
    q = select(Partner.name).order_by(Partner.name)
    if roles:
        q = q.where(Partner.role.in_(roles))
    with depot.uow(write=False) as uow:
        return list(uow.session.scalars(q))


def order_tags(depot: Depot) -> list[str]:
    with depot.uow(write=False) as uow:
        return list(uow.session.scalars(select(Tag.name).distinct().order_by(Tag.name)))


def report(depot: Depot, since: datetime | None = None, until: datetime | None = None) -> dict[str, object]:
    """Counts of work done (Rejected and Cancelled left out) and, apart, rejections and
    cancellations per partner and reason (SPEC 8).

    With a period [since, until) (UTC; either end may be open): the work counts the orders
    taken in (created) in it, by their status now; the rejections and cancellations count the
    orders that became Rejected or Cancelled in it."""
    src = aliased(Partner)
    asg = aliased(Partner)

    def within(col: Any) -> list[Any]:
        out = []
        if since is not None:
            out.append(col >= since)
        if until is not None:
            out.append(col < until)
        return out

    with depot.uow(write=False) as uow:
        s = uow.session
        done = dict(s.execute(select(Order.status, func.count()).where(
            Order.status.not_in([Status.REJECTED.value, Status.CANCELLED.value]), *within(Order.created_at))
            .group_by(Order.status)).all())
        undone = s.execute(
            select(Order.status, func.coalesce(src.name, asg.name, "(own)"), func.coalesce(Cancellation.reason, Order.reject_reason, "-"),
                   func.count(func.distinct(Order.id)))
            .outerjoin(src, Order.source_id == src.id).outerjoin(asg, Order.assignee_id == asg.id)
            .outerjoin(Cancellation, and_(Cancellation.order_id == Order.id, Cancellation.state == "done"))
            .where(Order.status.in_([Status.REJECTED.value, Status.CANCELLED.value]), *within(Order.status_changed_at))
            .group_by(Order.status, func.coalesce(src.name, asg.name, "(own)"), func.coalesce(Cancellation.reason, Order.reject_reason, "-"))
        ).all()
        from .changes import returns_section  # not with the board (start-up, issue 13)

        returns = returns_section(s)["rows"]
    return {
        "work": {Status(k).label: v for k, v in done.items()},
        "rejections_and_cancellations": [
            {"status": Status(st).label, "partner": p, "reason": r, "orders": n} for st, p, r, n in undone
        ],
        # a return is not a cancellation: it stands apart (SPEC 4.11)
        "returns": returns,
    }


__all__ = [
    "ReturnView",
    "NEEDS_DECISION",
    "ReceptionFilter",
    "ReceptionRow",
    "RejectCheckView",
    "RejectContext",
    "reception_ids",
    "reception_page",
    "ReceptionPage",
    "reception_rows",
    "reject_context",
    "source_names",
    "ARCHIVED",
    "LIST_KEYS",
    "OrderActions",
    "board_counts",
    "board_page",
    "board_pages",
    "card_position",
    "cards_by_id_lists",
    "cards_by_ids",
    "fresh_cancellation_number",
    "order_actions",
    "AuditView",
    "BoardFilter",
    "Card",
    "FollowUpView",
    "NoticeView",
    "OrderDetail",
    "PartnerView",
    "allowed_moves",
    "allowed_targets",
    "board",
    "counts",
    "followups",
    "hide_secret",
    "notices",
    "order_detail",
    "order_tags",
    "partner_names",
    "partners",
    "report",
]


def link_health(p: PartnerView) -> str:
    """A partner's link in one word: stopped, by hand (no link), error (the last try failed),
    ok (it answered last time), untried (no contact yet)."""
    if p.link_stopped:
        return "stopped"
    if p.link == "none":
        return "by hand"
    if p.last_error_at is not None and (p.last_contact_at is None or p.last_error_at >= p.last_contact_at):
        return "error"
    if p.last_contact_at is not None:
        return "ok"
    return "untried"


# --------------------------------------------------------------------------- plain lookups (demo, checks)


def row_counts(depot: Depot) -> dict[str, int]:
    """How many partners, orders, notices and follow-ups the depot holds."""
    with depot.uow(write=False) as uow:
        s = uow.session
        return {
            what: s.scalar(select(func.count()).select_from(model)) or 0
            for model, what in ((Partner, "partners"), (Order, "orders"), (Notice, "notices"),
                                (FollowUp, "follow-ups"))
        }


def order_numbers(depot: Depot, *, statuses: Sequence[Status] = (), archived: bool | None = None,
                  offset: int = 0, limit: int | None = None) -> list[str]:
    """Order numbers in the order they were made, optionally of some statuses only."""
    q = select(Order.number).order_by(Order.id)
    if statuses:
        q = q.where(Order.status.in_([st.value for st in statuses]))
    if archived is not None:
        q = q.where(Order.archived.is_(archived))
    q = q.offset(offset)
    if limit is not None:
        q = q.limit(limit)
    with depot.uow(write=False) as uow:
        return list(uow.session.scalars(q))


def partner_ref(depot: Depot, number: str) -> str | None:
    """The partner's own number of the order, if it has one."""
    with depot.uow(write=False) as uow:
        return uow.session.scalar(select(Order.partner_ref).where(Order.number == number))


def waiting_notices(depot: Depot) -> list[tuple[str, str, datetime]]:
    """(id, transport, created at) of every held or queued notice, oldest first."""
    q = (select(Notice.id, Notice.transport, Notice.created_at)
         .where(Notice.state.in_([NoticeState.QUEUED.value, NoticeState.HELD.value]))
         .order_by(Notice.created_at, Notice.order_id, Notice.seq))  # ids are random
    with depot.uow(write=False) as uow:
        return [(r[0], r[1], r[2]) for r in uow.session.execute(q)]


def awaiting_answer(depot: Depot, notice_ids: Sequence[str]) -> set[str]:
    """Those of these notices whose change waits for the partner's answer (warehouses)."""
    if not notice_ids:
        return set()
    with depot.uow(write=False) as uow:
        return set(uow.session.scalars(
            select(Notice.id).where(Notice.id.in_(list(notice_ids)), Notice.awaits_answer.is_(True))))


def open_followup_ids(depot: Depot) -> list[int]:
    """The follow-ups nobody has done yet (not withdrawn), oldest first."""
    with depot.uow(write=False) as uow:
        return list(uow.session.scalars(
            select(FollowUp.id).where(FollowUp.done_at.is_(None), FollowUp.withdrawn.is_(False))
            .order_by(FollowUp.id)))
