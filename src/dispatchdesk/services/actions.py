"""One function per dispatcher action. Each is one transaction; each returns an ActionResult
or raises a DispatchError whose message says what to do.

Every action has a `preview_…` twin that returns the Plan and its sentences for the confirm,
with the order's version; passing that version back as `expected_version` makes the action
refuse (Conflict) if someone else changed the order in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from ..domain import (
    CancellationRequest,
    FollowUpPlan,
    NoticeKind,
    NoticePlan,
    NoticeState,
    Outcome,
    Plan,
    ReasonCode,
    Status,
    Transport,
    cancellation_quantities,
    delivery,
    plan_archive,
    plan_cancellation,
    plan_dispatch,
    plan_refuse_cancel_request,
    plan_reject,
    plan_set_status,
    plan_trash,
)
from ..store.models import (
    AuditEntry,
    Cancellation,
    FollowUp,
    Notice,
    Order,
    OrderLine,
    Partner,
    Tag,
)
from .core import (
    ERRORS,
    ActionResult,
    Conflict,
    Depot,
    DispatchError,
    InvalidInput,
    NotFound,
    Preview,
    Refused,
    apply_plan,
    load_order,
    load_partner,
    next_number,
    order_facts,
    partner_facts,
    snapshot,
)

# --------------------------------------------------------------------------- planning


def _plan(
    depot: Depot, session: Session, order: Order, action: str, **kw: Any
) -> tuple[Plan, Partner | None]:
    # only a cancellation looks at the lines: the other actions never load them
    facts = order_facts(order, lines=action == "cancel")
    now = depot.now()
    if action == "set_status":
        to = kw["status"]
        if to is Status.DISPATCHED and kw.get("partner"):
            partner = load_partner(session, kw["partner"])
            return plan_dispatch(facts, partner_facts(partner), now), partner
        return plan_set_status(facts, to, now), None
    if action == "dispatch":
        partner = load_partner(session, kw["partner"])
        return plan_dispatch(facts, partner_facts(partner), now), partner
    if action == "trash":
        return plan_trash(facts, now), None
    if action == "reject":
        return plan_reject(facts, now, notify_buyer=kw.get("notify_buyer", True)), None
    if action == "cancel":
        req: CancellationRequest = kw["request"]
        plan = plan_cancellation(facts, req, now)
        refusals = list(plan.refusals)
        if req.number:
            taken = session.scalar(
                select(Cancellation.id).where(Cancellation.number == req.number.strip())
            )
            if taken is not None:
                refusals.append(
                    f"Cancellation number {req.number.strip()!r} is already used; choose another."
                )
        if refusals != list(plan.refusals):
            plan = Plan(**{**plan.__dict__, "refusals": tuple(refusals)})
        return plan, None
    if action == "archive":
        return plan_archive(facts, kw.get("archived", True)), None
    if action == "refuse_cancel_request":
        plan = plan_refuse_cancel_request(facts, now)
        if not order.cancellation_requested:
            plan = Plan(
                **{
                    **plan.__dict__,
                    "refusals": plan.refusals
                    + (f"Order {order.number} has no cancellation request to refuse.",),
                }
            )
        return plan, None
    raise ValueError(f"unknown action {action!r}")


def preview(depot: Depot, number: str, action: str, **kw: Any) -> Preview:
    """What `action` would do to the order, in sentences, without doing it."""
    with depot.uow(write=False) as uow:
        order = load_order(uow.session, number)
        plan, _ = _plan(depot, uow.session, order, action, **kw)
        return Preview(plan, tuple(plan.describe(depot.undo_seconds(uow.session))), order.version)


def _act(
    depot: Depot,
    number: str,
    action: str,
    *,
    expected_version: int | None,
    reason: str | None = None,
    extra: dict[str, Any] | None = None,
    after: Callable[[Session, Order, Plan, ActionResult], None] | None = None,
    change: Callable[[Order], None] | None = None,
    **kw: Any,
) -> ActionResult:
    with depot.uow() as uow:
        order = load_order(uow.session, number, expected_version=expected_version)
        plan, partner = _plan(depot, uow.session, order, action, **kw)
        before = snapshot(order)
        if change is not None and plan.allowed:
            # changes to the order's own columns go in the same UPDATE as the status, so the
            # version in the result is the one the next action must quote
            change(order)
        result = apply_plan(
            depot,
            uow.session,
            order,
            plan,
            assign=partner,
            reason=reason,
            extra=extra,
            audit_before=before,
        )
        if after is not None:
            after(uow.session, order, plan, result)
        uow.commit()
        return result


# --------------------------------------------------------------------------- status moves


def set_status(
    depot: Depot,
    number: str,
    status: Status | str,
    *,
    partner: str | None = None,
    expected_version: int | None = None,
) -> ActionResult:
    """Set status (and a drop on a list). Created from Dispatched/Accepted cancels the sent
    shipment (SPEC 4.1); Rejected this way tells nobody and marks the order (SPEC 4.3)."""
    to = status if isinstance(status, Status) else _parse_status(status)
    return _act(
        depot, number, "set_status", expected_version=expected_version, status=to, partner=partner
    )


def dispatch(
    depot: Depot, number: str, partner: str, *, expected_version: int | None = None
) -> ActionResult:
    """Created → Dispatched: send to a subcontractor or forward to a warehouse."""
    return _act(depot, number, "dispatch", expected_version=expected_version, partner=partner)


def cancel_shipment(
    depot: Depot, number: str, *, expected_version: int | None = None
) -> ActionResult:
    """SPEC 4.1: bring a sent shipment back to Created; the subcontractor is told."""
    return set_status(depot, number, Status.CREATED, expected_version=expected_version)


def trash(depot: Depot, number: str, *, expected_version: int | None = None) -> ActionResult:
    """SPEC 4.3: reject an order and tell the client (and take it back from a subcontractor)."""
    return _act(depot, number, "trash", expected_version=expected_version)


def reject(
    depot: Depot,
    number: str,
    *,
    notify_buyer: bool = True,
    message: str = "",
    expected_version: int | None = None,
) -> ActionResult:
    """SPEC 4.5: reject from order reception; the buyer is told only if notify_buyer."""
    if notify_buyer and len(message) > 4000:
        raise InvalidInput("The message to the buyer is longer than 4000 characters.")
    return _act(
        depot,
        number,
        "reject",
        expected_version=expected_version,
        notify_buyer=notify_buyer,
        extra={"message": message} if notify_buyer and message else None,
        reason=message or None,
    )


def cancel(
    depot: Depot,
    number: str,
    request: CancellationRequest,
    *,
    expected_version: int | None = None,
) -> ActionResult:
    """SPEC 4.4: create a cancellation (all lines, or some: a partial cancellation)."""
    if request.reason is ReasonCode.OTHER and not request.comment.strip():
        raise InvalidInput("Reason OTHER needs a comment that says what the reason is.")

    def after(session: Session, order: Order, plan: Plan, result: ActionResult) -> None:
        quantities: Mapping[str, int] = plan.extra.get("quantities", {})  # type: ignore[assignment]
        cn = request.number.strip() or next_number(session, "cancellation")
        pending = plan.awaits_answer
        if not pending:
            for ln in order.lines:
                ln.cancelled += quantities.get(ln.article, 0)
        session.add(
            Cancellation(
                number=cn,
                order_id=order.id,
                reason=request.reason.value if request.reason else None,
                comment=request.comment,
                internal_note=request.internal_note,
                lines=dict(quantities),
                partial=bool(plan.extra.get("partial")),
                state="pending" if pending else "done",
                created_at=depot.now(),
                actor=depot.actor,
            )
        )
        # the notices carry the number, lines and quantities: fill them in now they are known
        fill = {
            "lines": dict(quantities),
            "partial": bool(plan.extra.get("partial")),
            "cancellation": cn,
        }
        for nid in result.notices:
            n = session.get(Notice, nid)
            if n is not None:
                n.payload = {**n.payload, **fill}
        entry = session.get(AuditEntry, result.audit_id)
        if entry is not None:
            entry.detail = f"Cancellation {cn}. " + entry.detail
        session.flush()

    extra = {
        "reason": request.reason.value if request.reason else None,
        "comment": request.comment,
    }
    try:
        return _act(
            depot,
            number,
            "cancel",
            expected_version=expected_version,
            request=request,
            reason=request.reason.value if request.reason else None,
            extra=extra,
            after=after,
        )
    except IntegrityError:
        # another session took the same number between our check and our commit
        raise Refused(
            [f"Cancellation number {request.number.strip()!r} is already used; choose another."]
        ) from None


def refuse_cancel_request(
    depot: Depot, number: str, message: str, *, expected_version: int | None = None
) -> ActionResult:
    """SPEC 4.6: answer a channel's cancellation request with No, and why."""
    if not message.strip():
        raise InvalidInput(
            "Say why the cancellation is refused (for example: already picked up; it will be handled as a return)."
        )
    return _act(
        depot,
        number,
        "refuse_cancel_request",
        expected_version=expected_version,
        extra={"message": message},
        reason=message,
    )


def request_cancellation(
    depot: Depot, number: str, message: str = "", lines: Mapping[str, int] | None = None
) -> ActionResult:
    """Ask the partner we sent an order to to cancel it (we act as the channel)."""
    with depot.uow() as uow:
        order = load_order(uow.session, number)
        if order.assignee is None:
            raise Refused([f"Order {order.number} is not with a partner; cancel it here instead."])
        if Status(order.status).terminal:
            raise Refused([f"Order {order.number} is already {Status(order.status).label}."])
        facts = order_facts(order)
        wanted: dict[str, int] = {}
        if lines:
            wanted, refusals = cancellation_quantities(facts, lines)
            if refusals:
                raise Refused(refusals)
        transport, fups = delivery(
            partner_facts(order.assignee),
            NoticeKind.CANCEL_REQUEST,
            order.number,
            now=depot.now(),
            since=order.dispatched_at,
        )
        plan = Plan(
            "request_cancellation",
            order.number,
            Status(order.status),
            Status(order.status),
            notices=(NoticePlan(order.assignee.name, NoticeKind.CANCEL_REQUEST, transport, False),),
            followups=tuple(FollowUpPlan(f.partner, f.text) for f in fups),
        )
        result = apply_plan(
            depot,
            uow.session,
            order,
            plan,
            extra={"message": message, "lines": wanted},
            reason=message or None,
        )
        uow.commit()
        return result


def archive(
    depot: Depot, number: str, archived: bool = True, *, expected_version: int | None = None
) -> ActionResult:
    """Archive (or bring back from the archive). Allowed on every order, final ones included."""

    def change(order: Order) -> None:
        order.archived = archived

    return _act(
        depot,
        number,
        "archive",
        expected_version=expected_version,
        archived=archived,
        change=change,
    )


def set_tags(
    depot: Depot,
    number: str,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    expected_version: int | None = None,
) -> ActionResult:
    """Add and remove tags. Allowed on every order, final ones included."""
    add = [_clean_tag(t) for t in add]
    remove = [t.strip() for t in remove]
    with depot.uow() as uow:
        order = load_order(uow.session, number, expected_version=expected_version)
        before = snapshot(order)
        have = {t.name for t in order.tags}
        for name in add:
            if name not in have:
                order.tags.append(Tag(name=name))
                have.add(name)
        missing = [t for t in remove if t not in have]
        if missing:
            raise InvalidInput(f"Order {order.number} has no tag {missing[0]!r}.")
        order.tags = [t for t in order.tags if t.name not in remove]
        plan = Plan("tags", order.number, Status(order.status), Status(order.status))
        detail = "Tags: " + (", ".join(sorted(have - set(remove))) or "none")
        result = apply_plan(depot, uow.session, order, plan, detail=detail, audit_before=before)
        uow.commit()
        return result


def _clean_tag(tag: str) -> str:
    t = " ".join(tag.split())
    if not t:
        raise InvalidInput("A tag cannot be empty.")
    if len(t) > 50:
        raise InvalidInput(f"The tag {t[:20]!r}… is longer than 50 characters.")
    return t


# --------------------------------------------------------------------------- undo


def undo(depot: Depot, number: str) -> ActionResult:
    """SPEC 4.7: inside the undo window, put the order back and withdraw the held notices."""
    now = depot.now()
    with depot.uow() as uow:
        s = uow.session
        order = load_order(s, number)
        entry = s.scalars(
            select(AuditEntry)
            .where(
                # the last action that changed the order (a follow-up done or a document
                # recorded does not change it, and must not hide the action before it)
                AuditEntry.order_id == order.id,
                AuditEntry.undo_of.is_(None),
                AuditEntry.after_version.is_not(None),
            )
            .order_by(AuditEntry.id.desc())
            .limit(1)
        ).first()
        if entry is None or entry.undoable_until is None or entry.undone_by is not None:
            raise Refused([f"There is nothing to undo on order {order.number}."])
        if now > entry.undoable_until:
            raise Refused(
                [f"The undo window for order {order.number} has closed: the action is final."]
            )
        if order.version != entry.after_version:
            raise Refused(
                [f"Order {order.number} changed again after that action; it cannot be undone."]
            )
        notices = [s.get(Notice, nid) for nid in entry.notices]
        gone = [
            n
            for n in notices
            if n is not None and n.state not in (NoticeState.HELD, NoticeState.FOLLOW_UP)
        ]
        if gone:
            raise Refused(
                [
                    f"The {NoticeKind(gone[0].kind).label} notice to {gone[0].partner.name} "
                    "has already been released for sending; it cannot be undone."
                ]
            )
        followups = [s.get(FollowUp, fid) for fid in entry.followups]
        done = [f for f in followups if f is not None and f.done_at is not None]
        if done:
            raise Refused(
                [
                    f"The follow-up {done[0].text!r} was already marked done by {done[0].done_by}; "
                    "the partner may have been told, so it cannot be undone."
                ]
            )
        with s.no_autoflush:  # one UPDATE of the order: its version goes up by one
            b = entry.before or {}
            frm = Status(order.status)
            order.status = b["status"]
            order.assignee_id = b["assignee_id"]
            if b["assignee_id"] is None:
                order.assignee = None
            else:
                order.assignee = s.get(Partner, b["assignee_id"])
            order.dispatched_at = (
                datetime.fromisoformat(b["dispatched_at"]) if b.get("dispatched_at") else None
            )
            order.partner_not_informed = b["partner_not_informed"]
            order.cancellation_requested = b["cancellation_requested"]
            order.cancellation_request = b["cancellation_request"]
            order.cancellation_refused = b.get("cancellation_refused")
            order.status_changed_at = datetime.fromisoformat(b["status_changed_at"])
            for ln in order.lines:
                if ln.article in b.get("lines", {}):
                    ln.cancelled = b["lines"][ln.article]
            for n in notices:
                if n is not None:
                    n.state = NoticeState.WITHDRAWN.value
                    n.next_attempt_at = None
            for f in followups:
                if f is not None:
                    f.withdrawn = True
            for c in s.scalars(
                select(Cancellation).where(
                    Cancellation.order_id == order.id,
                    Cancellation.state.in_(("done", "pending")),
                    Cancellation.created_at >= entry.at,
                )
            ):
                c.state = "undone"
        flag_modified(order, "status")
        s.flush()
        undo_entry = AuditEntry(
            order_id=order.id,
            at=now,
            actor=depot.actor,
            action="undo",
            from_status=frm.value,
            to_status=order.status,
            detail=f"Undid {entry.action} of {entry.at:%H:%M:%S}; {len(notices)} notice(s) withdrawn.",
            undo_of=entry.id,
            after_version=order.version,
        )
        s.add(undo_entry)
        s.flush()
        entry.undone_by = undo_entry.id
        result = ActionResult(
            order=order.number,
            action="undo",
            from_status=frm,
            to_status=Status(order.status),
            version=order.version,
            audit_id=undo_entry.id,
            message=f"Undone: order {order.number} is {Status(order.status).label} again; nothing was sent.",
        )
        uow.commit()
        return result


def release_held_notices(depot: Depot) -> int:
    """Held notices whose undo window has closed become queued. Returns how many."""
    now = depot.now()
    with depot.uow() as uow:
        held = uow.session.scalars(
            select(Notice).where(Notice.state == NoticeState.HELD.value, Notice.release_at <= now)
        ).all()
        for n in held:
            n.state = NoticeState.QUEUED.value
            n.next_attempt_at = now
        if held:
            uow.commit()
        return len(held)


# --------------------------------------------------------------------------- duplicate


def duplicate(depot: Depot, number: str) -> ActionResult:
    """SPEC 4.8: copy the order under a new number; the copy records which order it replaces."""
    now = depot.now()
    with depot.uow() as uow:
        s = uow.session
        old = load_order(s, number)
        new_number = next_number(s, "order")
        copy = Order(
            number=new_number,
            status=Status.CREATED.value,
            source_id=old.source_id,
            partner_ref=old.partner_ref,
            pickup_address=old.pickup_address,
            delivery_address=old.delivery_address,
            pickup_after=old.pickup_after,
            deliver_by=old.deliver_by,
            parcels=old.parcels,
            weight_kg=old.weight_kg,
            replaces_id=old.id,
            created_at=now,
            received_at=old.received_at,
            status_changed_at=now,
            lines=[
                OrderLine(
                    lineno=ln.lineno,
                    article=ln.article,
                    description=ln.description,
                    quantity=ln.quantity,
                )
                for ln in old.lines
            ],
            tags=[Tag(name=t.name) for t in old.tags],
        )
        s.add(copy)
        s.flush()
        entry = AuditEntry(
            order_id=copy.id,
            at=now,
            actor=depot.actor,
            action="duplicate",
            to_status=Status.CREATED.value,
            detail=f"Duplicated from order {old.number}; it replaces {old.number}.",
            after_version=copy.version,
        )
        s.add(entry)
        s.add(
            AuditEntry(
                order_id=old.id,
                at=now,
                actor=depot.actor,
                action="duplicated",
                from_status=old.status,
                to_status=old.status,
                detail=f"Duplicated as new order {new_number}.",
            )
        )
        s.flush()
        result = ActionResult(
            order=new_number,
            action="duplicate",
            from_status=Status.CREATED,
            to_status=Status.CREATED,
            version=copy.version,
            audit_id=entry.id,
            message=f"Order {old.number} duplicated as {new_number} (Created).",
        )
        uow.commit()
        return result


# --------------------------------------------------------------------------- bulk


@dataclass(frozen=True)
class BulkItem:
    order: str
    ok: bool
    message: str
    result: ActionResult | None = None


@dataclass(frozen=True)
class BulkResult:
    items: tuple[BulkItem, ...] = field(default=())

    @property
    def succeeded(self) -> list[BulkItem]:
        return [i for i in self.items if i.ok]

    @property
    def failed(self) -> list[BulkItem]:
        return [i for i in self.items if not i.ok]

    def summary(self) -> str:
        return f"{len(self.succeeded)} done, {len(self.failed)} refused."


BULK_ACTIONS: dict[str, Callable[..., ActionResult]] = {
    "trash": trash,
    "set_status": set_status,
    "archive": archive,
    "cancel_shipment": cancel_shipment,
}


def bulk(depot: Depot, numbers: Iterable[str], action: str, **kw: Any) -> BulkResult:
    """SPEC 4.9: the same action on several orders; each is checked and committed on its own."""
    fn = BULK_ACTIONS.get(action)
    if fn is None:
        raise InvalidInput(
            f"{action!r} cannot be done in bulk; choose one of: {', '.join(BULK_ACTIONS)}."
        )
    versions: Mapping[str, int] = kw.pop("versions", {}) or {}
    items = []
    for number in numbers:
        try:
            r = fn(depot, number, expected_version=versions.get(number), **kw)
            items.append(BulkItem(number, True, r.message, r))
        except ERRORS as e:
            items.append(BulkItem(number, False, str(e)))
    return BulkResult(tuple(items))


def preview_bulk(
    depot: Depot, numbers: Iterable[str], action: str, **kw: Any
) -> list[tuple[str, Preview | DispatchError]]:
    plan_action = {"cancel_shipment": "set_status"}.get(action, action)
    if action == "cancel_shipment":
        kw = {**kw, "status": Status.CREATED}
    out: list[tuple[str, Preview | DispatchError]] = []
    for n in numbers:
        try:
            out.append((n, preview(depot, n, plan_action, **kw)))
        except DispatchError as e:
            out.append((n, e))
    return out


# --------------------------------------------------------------------------- follow-ups


def set_followup_done(depot: Depot, followup_id: int, done: bool = True) -> None:
    with depot.uow() as uow:
        f = uow.session.get(FollowUp, followup_id)
        if f is None:
            raise NotFound(f"There is no follow-up {followup_id}.")
        f.done_at = depot.now() if done else None
        f.done_by = depot.actor if done else None
        # An e-mail gets no answer over the link: the person who confirmed it with the partner
        # (the follow-up) is the acknowledgement. Reopening the follow-up does not undo that.
        n = f.notice
        if (
            done
            and n is not None
            and n.transport == Transport.EMAIL.value
            and n.state == NoticeState.SENT.value
        ):
            n.state = NoticeState.ACKNOWLEDGED.value
            n.outcome = Outcome.ACCEPTED.value
            n.answer = f"Confirmed by {depot.actor}: {f.text}"
            n.acknowledged_at = depot.now()
        uow.session.add(
            AuditEntry(
                order_id=f.order_id,
                at=depot.now(),
                actor=depot.actor,
                action="follow-up done" if done else "follow-up reopened",
                detail=f.text,
            )
        )
        uow.commit()


def _parse_status(text: str) -> Status:
    try:
        return Status.parse(text)
    except ValueError as e:
        msg = str(e)
        raise InvalidInput(msg[:1].upper() + msg[1:]) from None  # keep the user's text as typed


__all__ = [
    "BULK_ACTIONS",
    "BulkItem",
    "BulkResult",
    "Conflict",
    "archive",
    "bulk",
    "cancel",
    "cancel_shipment",
    "dispatch",
    "duplicate",
    "preview",
    "preview_bulk",
    "refuse_cancel_request",
    "reject",
    "release_held_notices",
    "request_cancellation",
    "set_followup_done",
    "set_status",
    "set_tags",
    "trash",
    "undo",
]
