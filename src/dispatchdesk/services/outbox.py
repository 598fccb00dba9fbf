"""The outbox side of the relay: claim due notices with a lease, record what each attempt did.

Transactions only, no network. The relay (dispatchdesk.link.relay) calls these from a thread:

    claimed = claim_due(depot, worker, limit=64, lease_seconds=60)   # one write transaction
    ...deliver each one, outside any transaction...
    record_result(depot, notice.id, worker, Delivery.sent())         # one write transaction

Rules kept here (SPEC 7):
- Only one worker ever delivers a notice: a claim sets claimed_by / lease_until in one write
  transaction (BEGIN IMMEDIATE on SQLite serialises claimers; PostgreSQL claims with
  SELECT ... FOR UPDATE SKIP LOCKED). A result counts only while the claim is still held: the
  same worker, lease not expired. Otherwise it is dropped; delivery is at least once with a
  stable id, so a repeat is harmless.
- Notices of one order go out in sequence, per partner: only the first unfinished notice of an
  (order, partner) pair is ever due. Unfinished = held (undo window), queued (due, retrying, or
  in flight) or failed (waiting for a dispatcher's retry or skip). A later notice never overtakes
  an earlier one.
- Retries back off (about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, with jitter, and never sooner
  than the partner's Retry-After); after the last the notice is failed, never dropped.
- 410 Gone stops the link to that partner: the notice is failed, the partner's other waiting
  notices become follow-ups for a person, and the partner shows the error on the Link screen.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from ..domain import NoticeKind, NoticeState, Transport, redo_refusal
from ..store.models import (
    AuditEntry,
    Cancellation,
    FollowUp,
    Notice,
    Order,
    Partner,
    ReceivedMessage,
)
from ..text import clean
from .core import Depot, NotFound, Refused
from .hello import queue_due_hellos

__all__ = [
    "BACKOFF",
    "ClaimedNotice",
    "Delivery",
    "LinkPartner",
    "Outcome",
    "Peek",
    "ReceivedInfo",
    "RetryPolicy",
    "claim_due",
    "link_partners",
    "notice_counts",
    "notice_label",
    "note_received",
    "oldest_due",
    "live_workers",
    "open_orders_from",
    "peek",
    "received",
    "record_and_claim",
    "record_result",
    "queue_hellos",
    "record_results",
    "release_claims",
    "renew_claims",
    "retry",
    "skip",
]

#: SPEC 7: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; then the notice is failed.
BACKOFF: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)

#: States that keep later notices of the same order and partner waiting.
BLOCKING = (NoticeState.HELD.value, NoticeState.QUEUED.value, NoticeState.FAILED.value)

#: Transports the relay delivers; manual notices are follow-ups and never claimed.
DELIVERED = (Transport.HTTP.value, Transport.EMAIL.value)

ERROR_LIMIT = 500
RELAY_ACTOR = "relay"


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again. `delays[i]` is the wait after the (i+1)-th failed attempt."""

    delays: tuple[float, ...] = BACKOFF
    jitter: float = 0.2  # +- this fraction of each delay
    max_retry_after: float = 36000.0  # a partner asking for more than 10 h gets 10 h
    rnd: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    @property
    def attempts(self) -> int:
        """How many attempts in all before the notice is failed."""
        return len(self.delays) + 1

    def delay(self, attempts_made: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after `attempts_made` attempts failed, or None: give up."""
        if attempts_made < 1 or attempts_made > len(self.delays):
            return None
        base = self.delays[attempts_made - 1]
        wait = base * (1 + self.jitter * (2 * self.rnd() - 1))
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return max(0.0, wait)


class Outcome(StrEnum):
    SENT = "sent"  # the partner's transport said yes (2xx, or the SMTP server took it)
    RETRY = "retry"  # try again later (408, 429, 5xx, no connection, no answer in time)
    FAILED = "failed"  # refused outright (another 4xx); a person must look at it
    GONE = "gone"  # 410: the partner closed the link


@dataclass(frozen=True)
class Delivery:
    """What one delivery attempt did. `error` is already sanitised for the screen."""

    outcome: Outcome
    error: str = ""
    status: int | None = None
    retry_after: float | None = None
    contacted: bool = True  # the partner's server answered at all (for its health)

    @classmethod
    def sent(cls, status: int | None = None) -> Delivery:
        return cls(Outcome.SENT, status=status)

    @classmethod
    def retry(cls, error: str, *, status: int | None = None, retry_after: float | None = None,
              contacted: bool = False) -> Delivery:
        return cls(Outcome.RETRY, clean(error, limit=ERROR_LIMIT), status, retry_after, contacted)

    @classmethod
    def failed(cls, error: str, *, status: int | None = None, contacted: bool = True) -> Delivery:
        return cls(Outcome.FAILED, clean(error, limit=ERROR_LIMIT), status, None, contacted)

    @classmethod
    def gone(cls, error: str, *, status: int = 410) -> Delivery:
        return cls(Outcome.GONE, clean(error, limit=ERROR_LIMIT), status, None, True)


@dataclass(frozen=True)
class ClaimedNotice:
    """Everything a transport needs to deliver one notice; no session, no ORM object."""

    id: str
    kind: str
    payload: dict[str, Any]
    transport: Transport
    attempts: int  # attempts made before this one
    seq: int
    order: str | None
    partner: str
    partner_url: str | None
    partner_secret: str | None
    partner_email: str | None
    created_at: datetime
    lease_until: datetime

    def body(self) -> dict[str, Any]:
        """The message as the partner's receive() expects it: {"id", "kind", **payload}."""
        return {**self.payload, "id": self.id, "kind": self.kind}

    @property
    def label(self) -> str:
        return notice_label(self.kind, self.order)


def notice_label(kind: str, order: str | None) -> str:
    """'new order DD-000012', 'revocation of order DD-000012', 'answer'... for sentences."""
    if kind == NoticeKind.ORDER.value:
        return f"new order {order}" if order else "new order"
    try:
        what = NoticeKind(kind).label
    except ValueError:
        what = kind
    return f"{what} of order {order}" if order else what


# --------------------------------------------------------------------------- claiming


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _release_held(s: Session, now: datetime, pg: bool) -> int:
    """Held notices whose undo window closed become queued (as release_held_notices does)."""
    q = select(Notice.id).where(Notice.state == NoticeState.HELD.value, Notice.release_at <= now)
    if pg:
        q = q.with_for_update(skip_locked=True)
    ids = list(s.scalars(q))
    if ids:
        s.execute(
            update(Notice)
            .where(Notice.id.in_(ids), Notice.state == NoticeState.HELD.value)
            .values(state=NoticeState.QUEUED.value, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(ids)


def _park_stopped(s: Session, now: datetime, pg: bool) -> int:
    """Queued notices to a partner whose link is stopped (410) become follow-ups."""
    stopped = list(s.scalars(select(Partner.id).where(Partner.link_stopped.is_(True))))
    if not stopped:
        return 0
    q = select(Notice).where(
        Notice.partner_id.in_(stopped),
        Notice.state == NoticeState.QUEUED.value,
        or_(Notice.lease_until.is_(None), Notice.lease_until < now),
    )
    if pg:
        q = q.with_for_update(skip_locked=True, of=Notice)
    parked = list(s.scalars(q).unique())
    for n in parked:
        _to_follow_up(s, n, now, f"The link to {n.partner.name} is stopped")
    return len(parked)


def _chase_answers(s: Session, now: datetime, pg: bool) -> int:
    """Sent notices whose answer the change waits for (a warehouse's yes or no to a
    cancellation), unanswered past the partner's answer_within_seconds: a follow-up asks a
    person to chase it, once; the notice stays sent (the answer may still come)."""
    q = select(Notice).where(
        Notice.state == NoticeState.SENT.value,
        Notice.answer_due_at.is_not(None),
        Notice.answer_due_at <= now,
    )
    if pg:
        q = q.with_for_update(skip_locked=True, of=Notice)
    late = list(s.scalars(q).unique())
    for n in late:
        n.answer_due_at = None
        what = "the " + notice_label(n.kind, n.order.number if n.order is not None else None)
        waits = ""
        if n.order is not None:
            asked = s.scalars(
                select(Partner.name)
                .join(Cancellation, Cancellation.requested_by_id == Partner.id)
                .where(Cancellation.order_id == n.order_id, Cancellation.state == "pending")
            ).first()
            if asked:
                waits = f"; {asked} is waiting for our answer too"
        s.add(FollowUp(
            order_id=n.order_id,
            partner_id=n.partner_id,
            notice_id=n.id,
            text=f"{n.partner.name} has not answered {what} within "
                 f"{_duration(n.partner.answer_within_seconds)}: ask them whether it is done{waits}.",
            created_at=now,
        ))
    return len(late)


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds >= 3600:
        h = seconds // 3600
        return f"{h} hour{'s' if h > 1 else ''}"
    if seconds % 60 == 0 and seconds >= 60:
        m = seconds // 60
        return f"{m} minute{'s' if m > 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _to_follow_up(s: Session, n: Notice, now: datetime, why: str) -> FollowUp:
    n.state = NoticeState.FOLLOW_UP.value
    n.next_attempt_at = None
    n.claimed_by = None
    n.lease_until = None
    what = "the " + notice_label(n.kind, n.order.number if n.order is not None else None)
    f = FollowUp(
        order_id=n.order_id,
        partner_id=n.partner_id,
        notice_id=n.id,
        text=f"{why}; tell {n.partner.name} by hand: {what}.",
        created_at=now,
    )
    s.add(f)
    return f


def _due_query(now: datetime, limit: int) -> Any:
    earlier = aliased(Notice)
    blocked = exists().where(
        earlier.order_id == Notice.order_id,
        earlier.seq < Notice.seq,
        # expressions, so that no database combines the partner or state index into this
        # look-up: the (order_id, seq) index finds the few earlier notices of the order at
        # once, while PostgreSQL with stale statistics (after a burst of new notices) would
        # otherwise AND in an index holding every notice of the partner, for each row
        func.coalesce(earlier.partner_id, 0) == Notice.partner_id,
        func.coalesce(earlier.state, "").in_(BLOCKING),
    )
    return (
        select(Notice.id)
        .join(Partner, Notice.partner_id == Partner.id)
        .where(
            Notice.state == NoticeState.QUEUED.value,
            Notice.next_attempt_at <= now,
            Notice.transport.in_(DELIVERED),
            or_(Notice.lease_until.is_(None), Notice.lease_until < now),
            Partner.link_stopped.is_(False),
            or_(Notice.order_id.is_(None), ~blocked),
        )
        .order_by(Notice.next_attempt_at)  # the due index gives this order: no sort, stops at `limit`
        .limit(limit)
    )


def claim_due(depot: Depot, worker_id: str, *, limit: int = 64, lease_seconds: float = 60) -> list[ClaimedNotice]:
    """Claim up to `limit` due notices for `worker_id`, in one write transaction.

    Due: queued, next attempt reached, not claimed by a live lease, the partner's link not
    stopped, and the first unfinished notice of its order for that partner. Held notices whose
    undo window closed are released first; queued notices to stopped links become follow-ups.
    """
    return record_and_claim(depot, worker_id, (), limit=limit, lease_seconds=lease_seconds)[1]


def _claim(s: Session, worker_id: str, limit: int, now: datetime, lease_until: datetime) -> tuple[list[ClaimedNotice], int]:
    pg = _is_pg(s)
    changed = _release_held(s, now, pg) + _park_stopped(s, now, pg) + _chase_answers(s, now, pg)
    q = _due_query(now, limit)
    if pg:
        q = q.with_for_update(skip_locked=True, of=Notice)
    ids = list(s.scalars(q))
    out: list[ClaimedNotice] = []
    if not ids:
        return out, changed
    s.execute(
        update(Notice)
        .where(Notice.id.in_(ids))
        .values(claimed_by=worker_id, lease_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    rows = s.execute(
        select(Notice.id, Notice.kind, Notice.payload, Notice.transport, Notice.attempts, Notice.seq,
               Notice.created_at, Order.number, Partner.name, Partner.url, Partner.secret, Partner.email)
        .join(Partner, Notice.partner_id == Partner.id)
        .outerjoin(Order, Notice.order_id == Order.id)
        .where(Notice.id.in_(ids))
    ).all()
    by_id = {r[0]: r for r in rows}
    for nid in ids:  # keep the due order
        _, kind, payload, transport, attempts, seq, created, number, name, url, secret, email = by_id[nid]
        out.append(
            ClaimedNotice(
                id=nid,
                kind=kind,
                payload=dict(payload or {}),
                transport=Transport(transport),
                attempts=attempts,
                seq=seq,
                order=number,
                partner=name,
                partner_url=url,
                partner_secret=secret,
                partner_email=email,
                created_at=created,
                lease_until=lease_until,
            )
        )
    return out, changed + len(ids)


# --------------------------------------------------------------------------- results


def record_result(depot: Depot, notice_id: str, worker_id: str, outcome: Delivery, *,
                  policy: RetryPolicy | None = None) -> bool:
    """Record one attempt. True if recorded, False if the claim was no longer held (dropped)."""
    return record_results(depot, worker_id, [(notice_id, outcome)], policy=policy)[0]


def record_results(depot: Depot, worker_id: str, results: Sequence[tuple[str, Delivery]], *,
                   policy: RetryPolicy | None = None) -> list[bool]:
    """Record several attempts in one transaction; see record_result."""
    return record_and_claim(depot, worker_id, results, limit=0, policy=policy)[0]


def record_and_claim(depot: Depot, worker_id: str, results: Sequence[tuple[str, Delivery]], *, limit: int,
                     lease_seconds: float = 60, policy: RetryPolicy | None = None
                     ) -> tuple[list[bool], list[ClaimedNotice]]:
    """Record attempts, then claim up to `limit` due notices, in ONE write transaction (the
    relay's cycle: half the transactions of doing each on its own)."""
    if not results and limit <= 0:
        return [], []
    now = depot.now()
    with depot.uow() as uow:
        s = uow.session
        applied, changed = _record(s, worker_id, results, now, policy or RetryPolicy())
        claimed: list[ClaimedNotice] = []
        if limit > 0:
            claimed, more = _claim(s, worker_id, limit, now, now + timedelta(seconds=lease_seconds))
            changed += more
        if changed:
            uow.commit()
        return applied, claimed


def _record(s: Session, worker_id: str, results: Sequence[tuple[str, Delivery]], now: datetime,
            policy: RetryPolicy) -> tuple[list[bool], int]:
    if not results:
        return [], 0
    applied: list[bool] = []
    ids = [nid for nid, _ in results]
    q = (
        select(Notice.id, Notice.claimed_by, Notice.lease_until, Notice.state, Notice.partner_id,
               Notice.kind, Notice.awaits_answer, Partner.answer_within_seconds)
        .join(Partner, Notice.partner_id == Partner.id)
        .where(Notice.id.in_(ids))
    )
    if _is_pg(s):
        q = q.with_for_update(of=Notice)
    held: dict[str, int] = {}
    answers: set[str] = set()
    awaiting: dict[str, int] = {}  # sent, the change waits for the answer: chased after N s
    for nid, claimed_by, lease_until, state, partner_id, kind, awaits, within in s.execute(q):
        if (claimed_by == worker_id and lease_until is not None and lease_until >= now
                and state == NoticeState.QUEUED.value):
            held[nid] = partner_id
            if kind in (NoticeKind.ANSWER.value, NoticeKind.HELLO.value):
                answers.add(nid)
            elif awaits and within:
                awaiting[nid] = within
    sent: list[str] = []
    contacted: set[int] = set()
    others: list[tuple[str, Delivery]] = []
    for nid, d in results:
        ok = nid in held
        applied.append(ok)
        if not ok:
            continue
        if d.outcome is Outcome.SENT:
            sent.append(nid)
            contacted.add(held[nid])
        else:
            others.append((nid, d))
    # the common case in bulk: sent, and the partner was in contact
    for i in range(0, len(sent), 500):
        s.execute(
            update(Notice)
            .where(Notice.id.in_(sent[i:i + 500]))
            .values(state=NoticeState.SENT.value, sent_at=now, next_attempt_at=None, last_error=None,
                    claimed_by=None, lease_until=None, attempts=Notice.attempts + 1)
            .execution_options(synchronize_session=False)
        )
    # An answer (or a hello) gets no answer of its own: the receiver's 2xx, given only once it
    # committed it, is its acknowledgement (else it would stay "sent", and its order "waiting", for ever).
    done = [nid for nid in sent if nid in answers]
    for i in range(0, len(done), 500):
        s.execute(
            update(Notice)
            .where(Notice.id.in_(done[i:i + 500]))
            .values(state=NoticeState.ACKNOWLEDGED.value, acknowledged_at=now)
            .execution_options(synchronize_session=False)
        )
    sent_ids = set(sent)
    for nid, within in awaiting.items():
        if nid in sent_ids:
            s.execute(
                update(Notice).where(Notice.id == nid)
                .values(answer_due_at=now + timedelta(seconds=within))
                .execution_options(synchronize_session=False)
            )
    if contacted:
        s.execute(
            update(Partner).where(Partner.id.in_(contacted)).values(last_contact_at=now)
            .execution_options(synchronize_session=False)
        )
    if others:
        notices = {n.id: n for n in s.scalars(select(Notice).where(Notice.id.in_([x for x, _ in others]))).unique()}
        for nid, d in others:
            _apply(s, notices[nid], d, now, policy)
        s.flush()
    return applied, len(sent) + len(others)


def _apply(s: Session, n: Notice, d: Delivery, now: datetime, policy: RetryPolicy) -> None:
    p = n.partner
    n.claimed_by = None
    n.lease_until = None
    n.attempts += 1
    if d.contacted:
        p.last_contact_at = now
    if d.outcome is Outcome.SENT:
        n.state = NoticeState.SENT.value
        n.sent_at = now
        n.next_attempt_at = None
        n.last_error = None
        if n.kind in (NoticeKind.ANSWER.value, NoticeKind.HELLO.value):
            n.state = NoticeState.ACKNOWLEDGED.value
            n.acknowledged_at = now
        elif n.awaits_answer and p.answer_within_seconds:
            n.answer_due_at = now + timedelta(seconds=p.answer_within_seconds)
        return
    error = d.error or "no reason given"
    p.last_error = f"{_label(n)}: {error}"
    p.last_error_at = now
    if d.outcome is Outcome.RETRY:
        wait = policy.delay(n.attempts, d.retry_after)
        if wait is not None:
            n.next_attempt_at = now + timedelta(seconds=wait)
            n.last_error = error
            return
        n.state = NoticeState.FAILED.value
        n.next_attempt_at = None
        n.last_error = f"Gave up after {n.attempts} attempts. Last: {error}"
        _audit(s, n, now, "notice failed", f"The {_label(n)} to {p.name} failed: {n.last_error}")
        return
    n.state = NoticeState.FAILED.value
    n.next_attempt_at = None
    n.last_error = error
    if d.outcome is Outcome.FAILED:
        _audit(s, n, now, "notice failed", f"{p.name} refused the {_label(n)}: {error}")
        return
    # GONE: the partner closed the link. Stop it, and let people tell them what still waits.
    p.link_stopped = True
    p.last_error = f"Link stopped: {p.name} answered 410 Gone ({error})"
    _audit(s, n, now, "link stopped",
           f"{p.name} answered 410 Gone to the {_label(n)}; nothing more is sent to them until the "
           "link is restarted on the Partners screen. Waiting notices became follow-ups.")
    waiting = s.scalars(
        select(Notice).where(
            Notice.partner_id == p.id,
            Notice.state == NoticeState.QUEUED.value,
            Notice.id != n.id,
        )
    ).unique()
    for other in waiting:
        if other.claimed_by is not None and other.lease_until is not None and other.lease_until >= now:
            continue  # in flight elsewhere: its own result decides; the sweep parks it later
        _to_follow_up(s, other, now, f"{p.name} closed the link (410 Gone)")


def _label(n: Notice) -> str:
    return notice_label(n.kind, n.order.number if n.order is not None else None)


def _audit(s: Session, n: Notice, now: datetime, action: str, detail: str, actor: str = RELAY_ACTOR) -> None:
    s.add(AuditEntry(order_id=n.order_id, at=now, actor=actor, action=action, detail=detail,
                     notices=[n.id]))


def renew_claims(depot: Depot, worker_id: str, notice_ids: Sequence[str], *,
                 lease_seconds: float) -> set[str]:
    """The heartbeat: extend the leases this worker still holds (same worker, lease not yet
    run out, still queued) to now + lease_seconds, in one write transaction. Returns the ids
    still held; a claim that already ran out is not taken back (another worker may have it)."""
    if not notice_ids:
        return set()
    now = depot.now()
    until = now + timedelta(seconds=lease_seconds)
    held: set[str] = set()
    with depot.uow() as uow:
        s = uow.session
        for i in range(0, len(notice_ids), 500):
            chunk = list(notice_ids[i:i + 500])
            mine = (Notice.id.in_(chunk), Notice.claimed_by == worker_id,
                    Notice.state == NoticeState.QUEUED.value, Notice.lease_until >= now)
            s.execute(
                update(Notice).where(*mine).values(lease_until=until)
                .execution_options(synchronize_session=False)
            )
            held.update(s.scalars(select(Notice.id).where(
                Notice.id.in_(chunk), Notice.claimed_by == worker_id, Notice.lease_until == until)))
        uow.commit()
    return held


def release_claims(depot: Depot, worker_id: str, notice_ids: Sequence[str]) -> int:
    """Give back claims this worker holds but will not use (it is stopping). Returns how many."""
    if not notice_ids:
        return 0
    with depot.uow() as uow:
        n = 0
        for i in range(0, len(notice_ids), 500):
            # an UPDATE gives a CursorResult (Session.execute is typed as the wider Result)
            n += cast(CursorResult[Any], uow.session.execute(
                update(Notice)
                .where(Notice.id.in_(list(notice_ids[i:i + 500])), Notice.claimed_by == worker_id,
                       Notice.state == NoticeState.QUEUED.value)
                .values(claimed_by=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )).rowcount or 0
        if n:
            uow.commit()
        return n


# --------------------------------------------------------------------------- by hand (Link screen)


def _load_notice(s: Session, notice_id: str) -> Notice:
    n = s.get(Notice, notice_id)
    if n is None:
        raise NotFound(f"There is no notice {notice_id!r}.")
    return n


def _in_flight(n: Notice, now: datetime) -> bool:
    return n.claimed_by is not None and n.lease_until is not None and n.lease_until >= now


def _redo_refusal(n: Notice, now: datetime, label: str, *, for_skip: bool = False) -> str | None:
    """The domain's rule for retrying or skipping by hand, on a stored notice."""
    return redo_refusal(
        partner=n.partner.name,
        label=label,
        state=NoticeState(n.state),
        attempts=n.attempts,
        in_flight=_in_flight(n, now),
        link_stopped=n.partner.link_stopped and not for_skip,
    )


def retry(depot: Depot, notice_id: str) -> str:
    """Send a failed notice again now, with a fresh series of retries. Returns a sentence."""
    now = depot.now()
    with depot.uow() as uow:
        s = uow.session
        n = _load_notice(s, notice_id)
        label = _label(n)
        refusal = _redo_refusal(n, now, label)
        if refusal:
            raise Refused([refusal])
        before = n.attempts
        n.state = NoticeState.QUEUED.value
        n.next_attempt_at = now
        n.attempts = 0
        n.claimed_by = None
        n.lease_until = None
        _audit(s, n, now, "notice retried",
               f"{depot.actor} retried the {label} to {n.partner.name} by hand after {before} attempt(s)"
               + (f"; last error: {n.last_error}" if n.last_error else "."), actor=depot.actor)
        uow.commit()
        return f"The {label} to {n.partner.name} will be sent again now."


def skip(depot: Depot, notice_id: str) -> str:
    """Give up on a failed notice: it is never sent, and later notices may go. Returns a sentence."""
    now = depot.now()
    with depot.uow() as uow:
        s = uow.session
        n = _load_notice(s, notice_id)
        label = _label(n)
        refusal = _redo_refusal(n, now, label, for_skip=True)
        if refusal:
            raise Refused([refusal])
        n.state = NoticeState.SKIPPED.value
        n.next_attempt_at = None
        n.claimed_by = None
        n.lease_until = None
        _audit(s, n, now, "notice skipped",
               f"{depot.actor} skipped the {label} to {n.partner.name}: it will not be sent; "
               f"{n.partner.name} has NOT been told.", actor=depot.actor)
        uow.commit()
        return f"The {label} to {n.partner.name} is skipped: they have not been told."


# --------------------------------------------------------------------------- relay status


@dataclass(frozen=True)
class Peek:
    waiting: int  # held or queued: not yet delivered
    failed: int
    due: bool  # a claim now would find work (a due notice, a held one to release, one to park)
    hellos: bool = False  # a hello to a linked depot is due (queue_hellos writes it)
    #: when the oldest due notice nobody holds became due (the relay's lag), None: none is
    oldest_due: datetime | None = None


def peek(depot: Depot) -> Peek:
    """A cheap read-only look: how many notices wait, and is there work for a claim now?"""
    now = depot.now()
    with depot.uow(write=False) as uow:
        s = uow.session
        rows = dict(s.execute(
            select(Notice.state, func.count())
            .where(Notice.state.in_(BLOCKING))
            .group_by(Notice.state)
        ).all())
        first = s.execute(_due_query(now, 1).add_columns(Notice.next_attempt_at)).first()
        oldest = first[1] if first is not None else None
        due = first is not None
        if not due:
            due = s.scalar(
                select(Notice.id).where(Notice.state == NoticeState.HELD.value, Notice.release_at <= now).limit(1)
            ) is not None
        if not due:
            due = s.scalar(
                select(Notice.id).join(Partner, Notice.partner_id == Partner.id).where(
                    Notice.state == NoticeState.QUEUED.value,
                    Partner.link_stopped.is_(True),
                    or_(Notice.lease_until.is_(None), Notice.lease_until < now),
                ).limit(1)
            ) is not None
        hellos = s.scalar(select(Partner.id).where(Partner.hello_due.is_(True)).limit(1)) is not None
        if not due:
            due = s.scalar(
                select(Notice.id).where(
                    Notice.state == NoticeState.SENT.value,
                    Notice.answer_due_at.is_not(None),
                    Notice.answer_due_at <= now,
                ).limit(1)
            ) is not None
    waiting = rows.get(NoticeState.HELD.value, 0) + rows.get(NoticeState.QUEUED.value, 0)
    return Peek(waiting, rows.get(NoticeState.FAILED.value, 0), due, hellos, oldest)


def oldest_due(depot: Depot) -> datetime | None:
    """Since when the relays are behind: the earliest moment a notice nobody holds became due
    (a queued notice whose attempt time came, or a held one whose undo window closed and which
    no relay has released yet). None: nothing is due."""
    now = depot.now()
    with depot.uow(write=False) as uow:
        s = uow.session
        first = s.execute(_due_query(now, 1).add_columns(Notice.next_attempt_at)).first()
        held = s.scalar(select(func.min(Notice.release_at)).where(
            Notice.state == NoticeState.HELD.value, Notice.release_at <= now))
    times = [t for t in ((first[1] if first is not None else None), held) if t is not None]
    return min(times) if times else None


def live_workers(depot: Depot) -> list[str]:
    """The relay workers holding a live claim now (a worker with nothing to send holds none)."""
    now = depot.now()
    with depot.uow(write=False) as uow:
        return sorted(uow.session.scalars(
            select(Notice.claimed_by).distinct().where(
                Notice.state == NoticeState.QUEUED.value, Notice.claimed_by.is_not(None),
                Notice.lease_until >= now)))


def queue_hellos(depot: Depot) -> int:
    """The relay: write the hellos that are due (services.hello) into the outbox, in one
    transaction; returns how many."""
    with depot.uow() as uow:
        n = queue_due_hellos(uow.session, depot.now())
        if n:
            uow.commit()
        return n


def notice_counts(depot: Depot, *, partner: str | None = None) -> dict[NoticeState, int]:
    """How many notices are in each state (of one partner, when given)."""
    q = select(Notice.state, func.count()).group_by(Notice.state)
    if partner is not None:
        q = q.join(Partner, Notice.partner_id == Partner.id).where(Partner.name == partner)
    with depot.uow(write=False) as uow:
        rows = dict(uow.session.execute(q).all())
    return {st: int(rows.get(st.value, 0)) for st in NoticeState}


# --------------------------------------------------------------------------- the link endpoint


@dataclass(frozen=True)
class LinkPartner:
    name: str
    role: str
    url: str | None
    secret: str | None
    email: str | None
    link_stopped: bool


def link_partners(depot: Depot) -> list[LinkPartner]:
    """Partners that share a secret with us (they can sign messages to our endpoint)."""
    with depot.uow(write=False) as uow:
        return [
            LinkPartner(p.name, p.role, p.url, p.secret, p.email, p.link_stopped)
            for p in uow.session.scalars(
                select(Partner).where(Partner.secret.is_not(None)).order_by(Partner.id)
            )
        ]


@dataclass(frozen=True)
class ReceivedInfo:
    message_id: str
    partner: str
    kind: str
    result: dict[str, Any]
    digest: str | None


def received(depot: Depot, message_id: str, partner: str | None = None) -> ReceivedInfo | None:
    """A partner's message already applied, with its original result (for repeats). Ids are
    unique per partner: give the partner, else the first partner's message with that id."""
    with depot.uow(write=False) as uow:
        q = (
            select(ReceivedMessage, Partner.name)
            .join(Partner, ReceivedMessage.partner_id == Partner.id)
            .where(ReceivedMessage.id == message_id)
            .order_by(ReceivedMessage.received_at)
        )
        if partner is not None:
            q = q.where(Partner.name == partner)
        row = uow.session.execute(q).first()
        if row is None:
            return None
        m, name = row
        result = dict(m.result or {})
        return ReceivedInfo(m.id, name, m.kind, result, result.get("digest"))


def note_received(depot: Depot, message_id: str, digest: str, partner: str | None = None) -> None:
    """Remember the body digest of an applied message, so that its id reused with another body
    is recognised as a replay. (receive(..., digest=) keeps it in the message's own transaction;
    this is for a message applied without one.)"""
    with depot.uow() as uow:
        q = select(ReceivedMessage).where(ReceivedMessage.id == message_id)
        if partner is not None:
            q = q.join(Partner, ReceivedMessage.partner_id == Partner.id).where(Partner.name == partner)
        m = uow.session.scalars(q).first()
        if m is None or (m.result or {}).get("digest") == digest:
            return
        m.result = {**(m.result or {}), "digest": digest}
        uow.commit()


# --------------------------------------------------------------------------- the demo simulator


def open_orders_from(depot: Depot, partner_name: str, *, statuses: Iterable[str] | None = None) -> list[tuple[str, str | None, str, bool]]:
    """Orders a partner sent us that are not final: (number, partner_ref, status, cancellation requested)."""
    with depot.uow(write=False) as uow:
        s = uow.session
        q = (
            select(Order.number, Order.partner_ref, Order.status, Order.cancellation_requested)
            .join(Partner, Order.source_id == Partner.id)
            .where(Partner.name == partner_name, Order.status.not_in(("rejected", "cancelled")))
            .order_by(Order.id)
        )
        if statuses is not None:
            q = q.where(Order.status.in_(list(statuses)))
        return [(a, b, c, bool(d)) for a, b, c, d in s.execute(q)]
