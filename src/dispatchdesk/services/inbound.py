"""Receive a partner's message: apply it once, in one transaction, and answer it.

The wire shape (the link endpoint hands the parsed JSON body here):
    {"id": "<stable message id>", "kind": "<NoticeKind value>", "order": "<sender's number>",
     "your_ref": "<our number, when the sender knows it>", ...kind-specific fields}

A repeat of an id already applied changes nothing and returns the first result. Anything
malformed raises InvalidInput, an unknown order NotFound, a message we must refuse Refused;
in every such case nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from ..domain import (
    CancellationRequest,
    FollowUpPlan,
    LinkKind,
    NoticeKind,
    NoticePlan,
    NoticeState,
    Outcome,
    Plan,
    ReasonCode,
    Role,
    Status,
    Transport,
    delivery,
    edit_refusal,
    plan_cancellation,
    plan_edit,
    react_to_cancel_request,
    react_to_cancellation,
    react_to_rejection,
    react_to_revocation,
    react_to_status,
    tell_source_of_cancellation,
)
from ..domain.automation import ChangeFacts, trigger_matches
from ..store.models import (
    AuditEntry,
    Cancellation,
    Notice,
    Order,
    OrderLine,
    Partner,
    ReceivedMessage,
    Return,
)
from .changes import apply_wanted, diff, record_changes
from .core import (
    ActionResult,
    Depot,
    InvalidInput,
    NotFound,
    Refused,
    add_notice,
    apply_plan,
    next_number,
    order_facts,
    partner_facts,
    snapshot,
    write_followups,
)
from .hello import settle_agreement
from .rulefold import apply_rules, arrival_change, light_facts, load_rules, rules_for, rules_on

MAX_TEXT = 4000


@dataclass(frozen=True)
class ReceiveResult:
    message_id: str
    kind: str
    order: str | None
    text: str
    duplicate: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "kind": self.kind,
            "order": self.order,
            "result": self.text,
            "duplicate": self.duplicate,
        }


def _str(msg: dict[str, Any], key: str, *, required: bool = True, limit: int = 200) -> str:
    v = msg.get(key)
    if v is None or v == "":
        if required:
            raise InvalidInput(f"The message has no {key!r}.")
        return ""
    if not isinstance(v, str):
        raise InvalidInput(f"The message's {key!r} must be text, not {type(v).__name__}.")
    if len(v) > limit:
        raise InvalidInput(f"The message's {key!r} is longer than {limit} characters.")
    return v


# The fields below were checked by the message's schema (services.messages) before a handler
# runs, against the domain's limits: these read them, with the default for a field left out.


def _int(msg: dict[str, Any], key: str, default: int) -> int:
    v = msg.get(key)
    return default if v is None else int(v)


def _float(msg: dict[str, Any], key: str, default: float) -> float:
    v = msg.get(key)
    return default if v is None else float(v)


def _when(msg: dict[str, Any], key: str) -> datetime | None:
    v = msg.get(key)
    return v if isinstance(v, datetime) else None


def _lines(msg: dict[str, Any], key: str = "lines") -> dict[str, int]:
    """{article: quantity}, from either form a message may use (the schema made it a dict)."""
    return dict(msg.get(key) or {})


def _find_order(s: Session, partner: Partner, msg: dict[str, Any]) -> Order:
    """Our order the message is about: by our number (your_ref) or by the partner's."""
    ours = _str(msg, "your_ref", required=False, limit=100)
    theirs = _str(msg, "order", limit=100)
    if ours:
        o = s.scalars(select(Order).where(Order.number == ours)).unique().one_or_none()
        if o is not None and partner.id in (o.source_id, o.assignee_id):
            return o
        if o is not None:
            # we dispatched it to them once, then took it back: still theirs to speak about
            involved = s.scalar(
                select(Notice.id)
                .where(Notice.order_id == o.id, Notice.partner_id == partner.id)
                .limit(1)
            )
            if involved is not None:
                return o
    o = (
        s.scalars(
            select(Order)
            .where(Order.source_id == partner.id, Order.partner_ref == theirs)
            .order_by(Order.id.desc())
        )
        .unique()
        .first()
    )
    if o is None:
        raise NotFound(
            f"{partner.name} wrote about order {theirs!r}, which this depot does not know."
        )
    return o


def receive(depot: Depot, partner_name: str, msg: Any, *, digest: str | None = None) -> ReceiveResult:
    """Apply one message from a partner, exactly once. An id is unique per partner. `digest`
    (the link endpoint's, of the body) is kept with it in the same transaction, so that the id
    reused with another body is recognised as a replay."""
    from .messages import check_message  # here: pydantic costs a command that never receives ~75 ms

    if not isinstance(msg, dict):
        raise InvalidInput("The message must be a JSON object.")
    msg = check_message(msg, None)
    mid = _str(msg, "id", limit=100)
    kind_s = _str(msg, "kind", limit=60)
    try:
        kind = NoticeKind(kind_s)
    except ValueError:
        raise InvalidInput(f"Unknown message kind {kind_s!r}.") from None
    msg = check_message(msg, kind)
    with depot.uow() as uow:
        s = uow.session
        partner = s.scalars(select(Partner).where(Partner.name == partner_name)).one_or_none()
        if partner is None:
            raise NotFound(f"No partner named {partner_name!r}.")
        seen = s.scalars(
            select(ReceivedMessage).where(
                ReceivedMessage.partner_id == partner.id, ReceivedMessage.id == mid
            )
        ).one_or_none()
        if seen is not None:
            r = seen.result or {}
            return ReceiveResult(
                mid, kind.value, r.get("order"), r.get("result", "already applied"), duplicate=True
            )
        handler = _HANDLERS.get(kind)
        if handler is None:
            raise InvalidInput(f"A partner cannot send us a {kind.label} message.")
        order_number, text = handler(depot, s, partner, msg)
        if (
            kind in _ANSWERED_HERE
            and order_number is not None
            and partner.link == LinkKind.HTTP.value
        ):
            # The sender's notice is acknowledged only by a business answer: say we applied it.
            order = s.scalars(select(Order).where(Order.number == order_number)).unique().one()
            _answer(depot, s, order, partner, msg, Outcome.ACCEPTED.value, text)
        partner.last_contact_at = depot.now()
        s.add(
            ReceivedMessage(
                id=mid,
                partner_id=partner.id,
                kind=kind.value,
                received_at=depot.now(),
                result={
                    "order": order_number,
                    "result": text,
                    **({"digest": digest} if digest else {}),
                },
            )
        )
        try:
            uow.commit()
        except IntegrityError:
            # the same id arrived twice at the same moment and the other one won
            raise Refused([f"Message {mid} was applied by a parallel delivery."]) from None
        return ReceiveResult(mid, kind.value, order_number, text)


# --------------------------------------------------------------------------- handlers


def _audit(
    depot: Depot,
    s: Session,
    order: Order,
    action: str,
    frm: str,
    detail: str,
    partner: Partner,
    notices: Sequence[Notice] = (),
) -> AuditEntry:
    entry = AuditEntry(
        order_id=order.id,
        at=depot.now(),
        actor=f"partner:{partner.name}",
        action=action,
        from_status=frm,
        to_status=order.status,
        detail=detail,
        notices=[n.id for n in notices],
        after_version=order.version,
    )
    s.add(entry)
    return entry


def _answer(
    depot: Depot,
    s: Session,
    order: Order | None,
    partner: Partner,
    msg: dict[str, Any],
    outcome: str,
    text: str,
) -> Notice:
    """Our business answer to a partner's message, queued like any notice."""
    facts = partner_facts(partner)
    transport, followups = delivery(
        facts, NoticeKind.ANSWER, order.number if order else "", now=depot.now(), since=None
    )
    payload = {
        "notice": msg["id"],
        "outcome": outcome,
        "message": text,
        "order": order.number if order else None,
        "your_ref": msg.get("order"),
    }
    notice = add_notice(
        s,
        order,
        partner,
        NoticePlan(partner.name, NoticeKind.ANSWER, transport, False),
        now=depot.now(),
        undo_seconds=0,
        payload=payload,
    )
    # an answer that cannot go over the link (stopped) is a task for a person, like any notice
    write_followups(s, order, followups, [notice], {partner.name: partner}, depot.now())
    return notice


def _on_order(depot: Depot, s: Session, partner: Partner, msg: dict[str, Any]) -> tuple[str, str]:
    if not Role(partner.role).sends_us_orders:
        raise Refused(
            [f"{partner.name} is a {partner.role}; only clients and channels send us orders."]
        )
    ref = _str(msg, "order", limit=100)
    existing = (
        s.scalars(select(Order).where(Order.source_id == partner.id, Order.partner_ref == ref))
        .unique()
        .first()
    )
    if existing is not None:
        raise Refused(
            [
                f"Order {ref!r} from {partner.name} was already received as {existing.number} "
                f"({Status(existing.status).label}); send it under a new number."
            ]
        )
    lines = msg.get("lines") or []
    if not isinstance(lines, list):
        raise InvalidInput("The order's 'lines' must be a list.")
    parsed = []
    seen: set[str] = set()
    for i, ln in enumerate(lines, 1):
        if not isinstance(ln, dict):
            raise InvalidInput(f"Line {i} of order {ref!r} is not an object.")
        art = _str(ln, "article", limit=100)
        if art in seen:
            raise InvalidInput(f"Article {art!r} appears twice in order {ref!r}.")
        seen.add(art)
        qty = _int(ln, "quantity", 1)
        if qty < 1:
            raise InvalidInput(f"Line {i} of order {ref!r} has quantity 0.")
        parsed.append(
            OrderLine(
                lineno=i,
                article=art,
                description=_str(ln, "description", required=False, limit=MAX_TEXT),
                quantity=qty,
            )
        )
    now = depot.now()
    order = Order(
        number=next_number(s, "order"),
        status=Status.CREATED.value,
        source_id=partner.id,
        partner_ref=ref,
        pickup_address=_str(msg, "pickup_address", required=False, limit=MAX_TEXT),
        delivery_address=_str(msg, "delivery_address", required=False, limit=MAX_TEXT),
        pickup_after=_when(msg, "pickup_after"),
        deliver_by=_when(msg, "deliver_by"),
        parcels=_int(msg, "parcels", 1),
        weight_kg=_float(msg, "weight_kg", 0.0),
        created_at=now,
        received_at=now,
        status_changed_at=now,
        lines=parsed,
    )
    s.add(order)
    s.flush()
    entry = AuditEntry(
        order_id=order.id,
        at=now,
        actor=f"partner:{partner.name}",
        action="received",
        to_status=order.status,
        detail=f"Received from {partner.name} as their order {ref}.",
        after_version=order.version,
    )
    s.add(entry)
    s.flush()
    _fold_rules(depot, s, order, entry, partner, lambda tags: arrival_change(order, light_facts(order), tags))
    return order.number, f"Received as {order.number}."


def _fold_rules(
    depot: Depot,
    s: Session,
    order: Order,
    entry: AuditEntry,
    partner: Partner,
    change: Callable[[frozenset[str]], ChangeFacts],
) -> None:
    """The automation rules on a change a partner's message made (issue 14: an order that
    arrived over the link, or entered the status a partner reported), in the same transaction.
    Rules that refuse (a chain too deep, a send the order rules refuse) do not refuse the
    partner's message: it is applied without them, and a follow-up says why. `change(tags)`
    gives the change's facts; the tags are read only when a rule waits for such a change."""
    if not rules_on(s):
        return
    if not any(r.enabled and trigger_matches(r.trigger, change(frozenset())) for r in load_rules(s)):
        return
    rp = rules_for(depot, s, change(frozenset(t.name for t in order.tags)))
    if rp.empty:
        return
    if not rp.allowed:
        why = " ".join(rp.refusals)
        write_followups(
            s, order, [FollowUpPlan(None, f"The rules were not applied to order {order.number}: {why}")],
            [], {}, depot.now(),
        )
        return
    result = ActionResult(
        order=order.number, action=entry.action, from_status=Status(entry.from_status or order.status),
        to_status=Status(order.status), version=order.version, audit_id=entry.id,
    )
    apply_rules(depot, s, order, rp, result, actor=f"partner:{partner.name}",
                base_before=snapshot(order))


def _on_revoked(depot: Depot, s: Session, partner: Partner, msg: dict[str, Any]) -> tuple[str, str]:
    order = _find_order(s, partner, msg)
    if order.source_id != partner.id:
        raise Refused(
            [f"{partner.name} did not send us order {order.number}; it cannot revoke it."]
        )
    r = react_to_revocation(order_facts(order), partner_facts(partner), depot.now())
    return order.number, _react(
        depot,
        s,
        order,
        partner,
        msg,
        r,
        "revoked",
        request_message=_str(msg, "message", required=False, limit=MAX_TEXT),
    )


def _on_cancel_request(
    depot: Depot, s: Session, partner: Partner, msg: dict[str, Any]
) -> tuple[str, str]:
    order = _find_order(s, partner, msg)
    if order.source_id != partner.id:
        raise Refused([f"{partner.name} did not send us order {order.number}."])
    quantities = _lines(msg)
    facts = order_facts(order)
    r = react_to_cancel_request(facts)
    if r.to_status is Status.CANCELLED:
        req = CancellationRequest(
            ReasonCode.CLIENT_CANCELLED, lines={a: q for a, q in quantities.items() if q}
        )
        plan = plan_cancellation(facts, req, depot.now())
        _refuse_bad_lines(plan)
        plan = replace(plan, action="cancel_request_granted")
        text = "Cancelled." if plan.to_status is Status.CANCELLED else "Lines cancelled."
        r = replace(r, to_status=plan.to_status, message=text, plan=plan)
    return order.number, _react(
        depot,
        s,
        order,
        partner,
        msg,
        r,
        "cancellation request",
        request_lines=quantities,
        request_message=_str(msg, "message", required=False, limit=MAX_TEXT),
    )


def _refuse_bad_lines(plan: Plan) -> None:
    """Lines or quantities the order does not have: the message is wrong, store nothing."""
    bad = [x for x in plan.refusals if "has no line" in x or "are open" in x or "negative" in x]
    if bad:
        raise InvalidInput(" ".join(bad))


def _on_cancellation(
    depot: Depot, s: Session, partner: Partner, msg: dict[str, Any]
) -> tuple[str, str]:
    """The partner that gave us the order cancels it (all of it or some lines); or the partner
    we sent it to cancels it, as we asked (our cancellation request, SPEC 4.6 on their side)."""
    order = _find_order(s, partner, msg)
    from_assignee = order.assignee_id == partner.id and order.source_id != partner.id
    if order.source_id != partner.id and not from_assignee:
        raise Refused(
            [f"{partner.name} did not send us order {order.number}; it cannot cancel it."]
        )
    quantities = _lines(msg)
    facts = order_facts(order)
    r = react_to_cancellation(facts, quantities)
    if from_assignee and r.answer == "accepted":
        # their cancellation is the answer to our request: it reaches its final state
        _settle_requests(
            depot, s, order, partner, Outcome.ACCEPTED,
            _str(msg, "comment", required=False, limit=MAX_TEXT) or "Cancelled.",
        )
    if r.answer == "accepted" and not facts.status.terminal:
        reason_s = msg.get("reason")
        if reason_s is not None and not isinstance(reason_s, str):
            raise InvalidInput("The message's 'reason' must be a reason code.")
        try:
            reason = ReasonCode.parse(reason_s) if reason_s else None
        except ValueError as e:
            raise InvalidInput(str(e)) from None
        req = CancellationRequest(
            reason or ReasonCode.CLIENT_CANCELLED,
            comment=_str(msg, "comment", required=False, limit=MAX_TEXT),
            lines={a: q for a, q in quantities.items() if q},
        )
        plan = plan_cancellation(facts, req, depot.now())
        _refuse_bad_lines(plan)
        plan = replace(plan, action="cancelled_by_partner")
        text = "Cancelled." if plan.to_status is Status.CANCELLED else "Lines cancelled."
        r = replace(r, to_status=plan.to_status, message=text, plan=plan)
        return order.number, _react(
            depot,
            s,
            order,
            partner,
            msg,
            r,
            "cancellation",
            reason=req.reason,
            comment=req.comment,
            their_number=_str(msg, "cancellation", required=False, limit=79) or None,
        )
    return order.number, _react(depot, s, order, partner, msg, r, "cancellation")


def _apply_cancellation(
    depot: Depot,
    s: Session,
    order: Order,
    partner: Partner,
    plan: Plan,
    *,
    reason: ReasonCode | None,
    comment: str,
    their_number: str | None,
    detail: str,
    message_id: str | None = None,
) -> ActionResult:
    """A cancellation on a partner's word: the change, the cancellation record with its number,
    the cancelled quantities, and notices (not held: nothing to undo) to the partners further
    down, carrying the number so that their answer finds it."""
    plan = replace(plan.leaving_out(partner.name).without_undo(), refusals=())
    quantities = dict(plan.extra.get("quantities", {}))  # type: ignore[call-overload]
    partial = bool(plan.extra.get("partial"))
    pending = plan.awaits_answer
    number = f"{partner.name[:20]}:{their_number}" if their_number else None
    if number is None or s.scalar(select(Cancellation.id).where(Cancellation.number == number)):
        number = next_number(s, "cancellation")
    extra = {
        "reason": reason.value if reason else None,
        "comment": comment,
        "lines": quantities,
        "partial": partial,
        "cancellation": number,
    }
    result = apply_plan(
        depot,
        s,
        order,
        plan,
        actor=f"partner:{partner.name}",
        reason=reason.value if reason else None,
        detail=f"Cancellation {number}. {detail}",
        extra=extra,
        undoable=False,
    )
    if not pending:
        for ln in order.lines:
            ln.cancelled += quantities.get(ln.article, 0)
    s.add(
        Cancellation(
            number=number,
            order_id=order.id,
            reason=reason.value if reason else None,
            comment=comment,
            lines=quantities,
            partial=partial,
            state="pending" if pending else "done",
            created_at=depot.now(),
            actor=f"partner:{partner.name}",
            # the partner's answer waits for the warehouse's (SPEC 7): who gets it, for which
            requested_by_id=partner.id if pending else None,
            request_message_id=message_id if pending else None,
        )
    )
    s.flush()
    return result


def _react(
    depot: Depot,
    s: Session,
    order: Order,
    partner: Partner,
    msg: dict[str, Any],
    r: Any,
    what: str,
    request_lines: dict[str, int] | None = None,
    request_message: str = "",
    reason: ReasonCode | None = ReasonCode.CLIENT_CANCELLED,
    comment: str = "",
    their_number: str | None = None,
) -> str:
    frm = order.status
    entry_id: int | None = None
    if r.plan is not None:
        result = _apply_cancellation(
            depot,
            s,
            order,
            partner,
            r.plan,
            reason=reason,
            comment=comment,
            their_number=their_number,
            detail=f"{partner.name} sent a {what}: {r.message}",
            message_id=msg["id"],
        )
        text = r.message if r.plan.awaits_answer else result.message
        entry_id = result.audit_id
        if r.plan.leaving_out(partner.name).awaits_answer and r.answer == Outcome.ACCEPTED.value:
            # a warehouse has the order: our answer is its answer, given when it comes
            r = replace(r, answer=None)
    else:
        if r.to_status is not None and r.to_status.value != order.status:
            order.status = r.to_status.value
            order.status_changed_at = depot.now()
        if r.flag_cancellation_request:
            order.cancellation_requested = True
            order.cancellation_request = {
                "lines": request_lines or {},
                "message": request_message,
                "from": partner.name,
                "at": depot.now().isoformat(),
            }
        flag_modified(order, "status")
        s.flush()
        text = r.message or f"{what} applied."
    notices = []
    if r.answer:
        notices.append(_answer(depot, s, order, partner, msg, r.answer, r.message))
    if entry_id is not None:
        entry = s.get(AuditEntry, entry_id)
        if entry is not None:
            entry.notices = [*entry.notices, *(n.id for n in notices)]
    else:
        _audit(
            depot,
            s,
            order,
            f"partner {what}",
            frm,
            f"{partner.name}: {r.message}".strip(),
            partner,
            notices,
        )
    return text


def _on_rejected(
    depot: Depot, s: Session, partner: Partner, msg: dict[str, Any]
) -> tuple[str, str]:
    order = _find_order(s, partner, msg)
    if order.assignee_id != partner.id:
        # we took it back from them (a revocation they flagged), and now they trashed it: that
        # is their answer to the revocation; our order was already taken back and stays
        settled = _settle_requests(
            depot, s, order, partner, Outcome.ACCEPTED,
            _str(msg, "message", required=False, limit=MAX_TEXT) or f"{partner.name} trashed it.",
            NoticeKind.REVOCATION,
        )
        if settled:
            _audit(
                depot, s, order, "partner rejected", order.status,
                f"{partner.name} trashed the order we had taken back from them; it stays "
                f"{Status(order.status).label}.",
                partner,
            )
            return order.number, f"Order {order.number} was already taken back; it stays {Status(order.status).label}."
        raise Refused(
            [f"Order {order.number} is not with {partner.name}; its rejection changes nothing."]
        )
    facts = order_facts(order)
    r = react_to_rejection(facts, partner_facts(partner))
    frm = order.status
    before = snapshot(order)
    order.partner_status = Status.REJECTED.value
    order.partner_status_at = depot.now()
    text = _str(msg, "message", required=False, limit=MAX_TEXT)
    fups: list[FollowUpPlan] = []
    if r.to_status is not None:
        order.status = r.to_status.value
        order.status_changed_at = depot.now()
        if r.unassign:
            order.assignee_id = None
            order.assignee = None
            order.dispatched_at = None
        if order.source is not None:
            fups.append(
                FollowUpPlan(
                    order.source.name,
                    f"{partner.name} rejected order {order.number}; "
                    f"decide what to tell {order.source.name}.",
                )
            )
    flag_modified(order, "status")
    s.flush()
    write_followups(s, order, fups, [], {p.name: p for p in (order.source,) if p}, depot.now())
    result = f"Order {order.number}: {Status(frm).label} → {Status(order.status).label}."
    s.add(
        AuditEntry(
            order_id=order.id,
            at=depot.now(),
            actor=f"partner:{partner.name}",
            action="partner rejected",
            from_status=frm,
            to_status=order.status,
            detail=f"{partner.name} rejected it. {text}".strip(),
            before=before,
            after_version=order.version,
        )
    )
    return order.number, result


def _on_status(depot: Depot, s: Session, partner: Partner, msg: dict[str, Any]) -> tuple[str, str]:
    order = _find_order(s, partner, msg)
    if order.assignee_id != partner.id:
        raise Refused([f"Order {order.number} is not with {partner.name}."])
    try:
        reported = Status.parse(_str(msg, "status", limit=30))
    except ValueError as e:
        raise InvalidInput(str(e)) from None
    if reported not in (Status.ACCEPTED, Status.PICKED_UP, Status.DELIVERED):
        raise InvalidInput(
            f"A status update cannot report {reported.label}; send a rejection or an answer instead."
        )
    r = react_to_status(order_facts(order), partner_facts(partner), reported)
    frm = order.status
    order.partner_status = reported.value
    order.partner_status_at = depot.now()
    notices: list[Notice] = []
    if r.to_status is not None:
        order.status = r.to_status.value
        order.status_changed_at = depot.now()
    flag_modified(order, "status")
    s.flush()
    if r.to_status is not None and order.source is not None:
        transport, fups = delivery(
            partner_facts(order.source),
            NoticeKind.STATUS,
            order.number,
            now=depot.now(),
            since=None,
        )
        n = add_notice(
            s,
            order,
            order.source,
            NoticePlan(order.source.name, NoticeKind.STATUS, transport, False),
            now=depot.now(),
            undo_seconds=0,
        )
        notices.append(n)
        write_followups(s, order, fups, notices, {order.source.name: order.source}, depot.now())
    entry = _audit(
        depot,
        s,
        order,
        "partner status",
        frm,
        f"{partner.name} reported {reported.label}. {r.message}".strip(),
        partner,
        notices,
    )
    if order.status != frm:  # the order entered a status: the automation rules may fire
        s.flush()
        before = Status(frm)
        _fold_rules(depot, s, order, entry, partner, lambda tags: ChangeFacts(
            light_facts(order), before, tags, tags,
            tuple(NoticePlan(n.partner.name, NoticeKind(n.kind), Transport(n.transport), False)
                  for n in notices),
        ))
    return order.number, f"Order {order.number} is {Status(order.status).label}."


def _on_answer(
    depot: Depot, s: Session, partner: Partner, msg: dict[str, Any]
) -> tuple[str | None, str]:
    nid = _str(msg, "notice", limit=100)
    notice = s.get(Notice, nid)
    if notice is None or notice.partner_id != partner.id:
        raise NotFound(f"{partner.name} answered notice {nid!r}, which was never sent to them.")
    try:
        outcome = Outcome(_str(msg, "outcome", limit=20))
    except ValueError:
        raise InvalidInput("The answer's 'outcome' must be 'accepted' or 'refused'.") from None
    text = _str(msg, "message", required=False, limit=MAX_TEXT)
    if notice.state == NoticeState.ACKNOWLEDGED.value:
        return (notice.order.number if notice.order else None), "Already acknowledged."
    notice.state = NoticeState.ACKNOWLEDGED.value
    notice.outcome = outcome.value
    notice.answer = text
    notice.acknowledged_at = depot.now()
    notice.next_attempt_at = None
    order = notice.order
    if order is None:
        return None, f"Notice {nid} {outcome.value}."
    frm = order.status
    kind = NoticeKind(notice.kind)
    notice.answer_due_at = None
    if kind is NoticeKind.CANCELLATION and notice.awaits_answer:
        cn = (notice.payload or {}).get("cancellation")
        canc = (
            s.scalars(select(Cancellation).where(Cancellation.number == cn)).first() if cn else None
        )
        if outcome is Outcome.ACCEPTED:
            # the quantities of the cancellation record; else those the notice carried;
            # else everything still open
            qty = canc.lines if canc else (notice.payload or {}).get("lines")
            if not isinstance(qty, dict):
                qty = {ln.article: ln.quantity - ln.cancelled for ln in order.lines}
            for ln in order.lines:
                ln.cancelled += int(qty.get(ln.article, 0))
            if all(ln.cancelled >= ln.quantity for ln in order.lines):
                order.status = Status.CANCELLED.value
                order.status_changed_at = depot.now()
                order.cancellation_requested = False
                order.cancellation_request = None
            if canc:
                canc.state = "done"
                canc.answer = text
        else:
            order.cancellation_refused = text or f"{partner.name} refused the cancellation."
            if canc:
                canc.state = "refused"
                canc.answer = text
            write_followups(
                s,
                order,
                [
                    FollowUpPlan(
                        partner.name,
                        f"{partner.name} refused to cancel order {order.number}: "
                        f"{text or 'no reason given'}."
                        + ("" if "return" in (text or "").lower() else " Handle it as a return."),
                    )
                ],
                [notice],
                {partner.name: partner},
                depot.now(),
            )
        flag_modified(order, "status")
        s.flush()
        _pass_on_answer(depot, s, order, partner, canc, outcome, text)
    elif kind is NoticeKind.CHANGED and outcome is Outcome.REFUSED:
        # the partner did not take our correction: a person must sort it out with them
        write_followups(
            s,
            order,
            [
                FollowUpPlan(
                    partner.name,
                    f"{partner.name} refused the change of order {order.number}: "
                    f"{text or 'no reason given'}.",
                )
            ],
            [notice],
            {partner.name: partner},
            depot.now(),
        )
    elif (
        kind is NoticeKind.CANCEL_REQUEST
        and outcome is Outcome.ACCEPTED
        and order.assignee_id == partner.id
    ):
        pass  # their cancellation of our order arrives as its own message
    flag_modified(order, "status")
    s.flush()
    _audit(
        depot,
        s,
        order,
        f"partner {outcome.value}",
        frm,
        f"{partner.name} {outcome.value} the {kind.label}" + (f": {text}" if text else "."),
        partner,
    )
    return order.number, f"Notice {nid} {outcome.value}."


def _settle_requests(
    depot: Depot,
    s: Session,
    order: Order,
    partner: Partner,
    outcome: Outcome,
    text: str,
    kind: NoticeKind = NoticeKind.CANCEL_REQUEST,
) -> list[Notice]:
    """Our cancellation requests to `partner` about `order` that its later message answers (a
    refusal, or the cancellation itself): acknowledged with that outcome and message, so the
    request reaches a final state and the order stops showing it as waiting."""
    open_requests = list(
        s.scalars(
            select(Notice).where(
                Notice.order_id == order.id,
                Notice.partner_id == partner.id,
                Notice.kind == kind.value,
                Notice.state.in_((NoticeState.SENT.value, NoticeState.QUEUED.value)),
            )
        ).unique()
    )
    for n in open_requests:
        n.state = NoticeState.ACKNOWLEDGED.value
        n.outcome = outcome.value
        n.answer = text
        n.acknowledged_at = depot.now()
        n.next_attempt_at = None
        n.claimed_by = None
        n.lease_until = None
    return open_requests


def _pass_on_answer(
    depot: Depot,
    s: Session,
    order: Order,
    warehouse: Partner,
    canc: Cancellation | None,
    outcome: Outcome,
    text: str,
) -> None:
    """A warehouse answered a cancellation: now, and only now, the partners further up hear of
    it. The partner whose cancellation it was gets the warehouse's answer as ours (accepted, or
    refused with its message); otherwise the client or channel the order came from is told of
    the cancellation (or a follow-up asks a person to cancel it there too), and only if the
    warehouse accepted (SPEC 4.4)."""
    requester = s.get(Partner, canc.requested_by_id) if canc and canc.requested_by_id else None
    if requester is not None and canc is not None and canc.request_message_id:
        words = text or (
            "Cancelled." if outcome is Outcome.ACCEPTED else f"{warehouse.name} refused it."
        )
        if outcome is Outcome.REFUSED:
            words = f"{warehouse.name} refused: {words}" if text else words
        _answer(
            depot,
            s,
            order,
            requester,
            {"id": canc.request_message_id, "order": order.partner_ref},
            outcome.value,
            words,
        )
    if outcome is not Outcome.ACCEPTED or order.source is None:
        return
    if requester is not None and requester.id == order.source_id:
        return  # it was theirs: the answer above tells them
    facts = order_facts(order)
    notices, fups = tell_source_of_cancellation(facts, depot.now(), warehouse=True)
    written = [
        add_notice(
            s,
            order,
            order.source,
            replace(n, held=False),
            now=depot.now(),
            undo_seconds=0,
            extra={
                "reason": canc.reason if canc else None,
                "comment": canc.comment if canc else "",
                "lines": dict(canc.lines) if canc else {},
                "partial": bool(canc.partial) if canc else False,
                "cancellation": canc.number if canc else None,
            },
        )
        for n in notices
    ]
    write_followups(s, order, fups, written, {order.source.name: order.source}, depot.now())


def _on_cancel_request_refused(
    depot: Depot, s: Session, partner: Partner, msg: dict[str, Any]
) -> tuple[str, str]:
    order = _find_order(s, partner, msg)
    text = _str(msg, "message", required=False, limit=MAX_TEXT)
    _settle_requests(depot, s, order, partner, Outcome.REFUSED, text)
    order.partner_status_at = depot.now()
    write_followups(
        s,
        order,
        [
            FollowUpPlan(
                partner.name,
                f"{partner.name} refused to cancel order {order.number}: "
                f"{text or 'no reason given'}.",
            )
        ],
        [],
        {partner.name: partner},
        depot.now(),
    )
    flag_modified(order, "status")
    s.flush()
    _audit(
        depot, s, order, "partner refused request", order.status, f"{partner.name}: {text}", partner
    )
    return order.number, "Refusal recorded."


def _on_changed(
    depot: Depot, s: Session, partner: Partner, msg: dict[str, Any]
) -> tuple[str, str]:
    """SPEC 4.10, the receiving side: the partner who sent us the order corrected it before
    pickup. Applied as our own edit would be (the partner we passed it on to is told in turn);
    refused, with the reason, once the goods have left."""
    order = _find_order(s, partner, msg)
    if order.source_id != partner.id:
        raise Refused([f"{partner.name} did not send us order {order.number}; it cannot change it."])
    facts = order_facts(order)
    refusal = edit_refusal(facts)
    if refusal:
        _answer(depot, s, order, partner, msg, Outcome.REFUSED.value, refusal)
        write_followups(
            s, order,
            [FollowUpPlan(partner.name, f"{partner.name} changed order {order.number} too late: {refusal}")],
            [], {partner.name: partner}, depot.now(),
        )
        _audit(depot, s, order, "partner change refused", order.status,
               f"{partner.name} sent a change; refused: {refusal}", partner)
        return order.number, refusal
    keys: tuple[str, ...] = (
        "pickup_address", "delivery_address", "pickup_after", "deliver_by", "parcels", "weight_kg",
    )
    values: dict[str, Any] = {k: msg[k] for k in keys if k in msg}
    lines: dict[str, tuple[int, str | None]] = {}
    if isinstance(msg.get("lines"), list):
        # the lines as they now are, in open quantities: ours add what we cancelled ourselves
        have = {ln.article: ln for ln in order.lines}
        sent = {}
        for ln in msg["lines"]:
            art = ln["article"]
            if art in sent:
                raise InvalidInput(f"Article {art!r} appears twice in the change of order {order.number}.")
            sent[art] = ln
        for art, ln in sent.items():
            old = have.get(art)
            lines[art] = (int(ln.get("quantity") or 1) + (old.cancelled if old else 0), ln.get("description"))
        for art, old in have.items():
            if art not in sent and old.quantity > old.cancelled:
                lines[art] = (old.cancelled, None)
    try:
        wanted, changes = diff(order, values, lines)
    except InvalidInput as e:
        raise InvalidInput(f"The change of order {order.number}: {e}") from None
    if not changes:
        return order.number, "Nothing changed."
    plan = plan_edit(facts, changes, depot.now())
    before = snapshot(order)
    apply_wanted(order, wanted)
    result = apply_plan(depot, s, order, plan, actor=f"partner:{partner.name}", audit_before=before)
    record_changes(s, result, order, changes)
    entry = s.get(AuditEntry, result.audit_id)
    if entry is not None:
        entry.action = "partner changed"
        entry.detail = f"{partner.name} corrected it. " + entry.detail
    if partner.link == LinkKind.HTTP.value:
        _answer(depot, s, order, partner, msg, Outcome.ACCEPTED.value, "Changed.")
    return order.number, f"Order {order.number} changed: " + " ".join(c.describe() for c in changes)


def _on_return(depot: Depot, s: Session, partner: Partner, msg: dict[str, Any]) -> tuple[str, str]:
    """SPEC 4.11, the receiving side: goods of an order we sent the partner come back. The
    return is recorded on our order; its status stays."""
    order = _find_order(s, partner, msg)
    if partner.id not in (order.assignee_id, order.source_id):
        raise Refused([f"Order {order.number} is not with {partner.name}."])
    quantities = {a: q for a, q in _lines(msg).items() if q}
    known = {ln.article for ln in order.lines}
    unknown = sorted(set(quantities) - known)
    if unknown:
        raise InvalidInput(f"Order {order.number} has no line with article {unknown[0]!r}.")
    number = _str(msg, "return", required=False, limit=100) or _str(msg, "id", limit=100)
    reason = _str(msg, "reason", required=False, limit=30) or "OTHER"
    comment = _str(msg, "comment", required=False, limit=MAX_TEXT)
    s.add(
        Return(
            number=number,
            order_id=order.id,
            reason=reason,
            comment=comment,
            lines=quantities,
            reported_by_id=partner.id,
            created_at=depot.now(),
            actor=f"partner:{partner.name}",
        )
    )
    order.partner_status_at = depot.now()
    flag_modified(order, "status")
    s.flush()
    what = ", ".join(f"{a} × {q}" for a, q in quantities.items()) or "no lines named"
    text = f"Return {number} ({reason}) recorded: {what}."
    _audit(depot, s, order, "partner return", order.status,
           f"{partner.name} registered return {number} ({reason}): {what}. {comment}".strip(), partner)
    return order.number, text


def _on_hello(
    depot: Depot, s: Session, partner: Partner, msg: dict[str, Any]
) -> tuple[str | None, str]:
    """A linked depot tells us what it agrees to (SPEC 7). No answer: our endpoint's 2xx after
    the commit is its acknowledgement."""
    caps = msg.get("capabilities")
    if not isinstance(caps, dict) or not isinstance(caps.get("auto_trash", False), bool):
        raise InvalidInput("A hello's 'capabilities' must be an object; its 'auto_trash' true or false.")
    before = partner.auto_trash_agreed_at
    partner.peer_auto_trash = bool(caps.get("auto_trash", False))
    partner.peer_hello_at = depot.now()
    settle_agreement(partner, depot.now())
    if partner.auto_trash_agreed_at is not None:
        text = "Auto-trash agreed by both sides."
    elif partner.peer_auto_trash:
        text = f"{partner.name} agrees to auto-trash; this depot does not."
    else:
        text = f"{partner.name} does not agree to auto-trash."
    if (before is None) != (partner.auto_trash_agreed_at is None):
        s.add(
            AuditEntry(
                at=depot.now(),
                actor=f"partner:{partner.name}",
                action="partner hello",
                detail=f"{partner.name}: {text}",
            )
        )
    return None, text


#: Kinds whose handler decides no answer of its own: we answer "accepted" once applied —
#: over the link only (a receipt is no task to give a person for a partner who phoned it in).
#: (Revocations, cancellations and cancellation requests answer accepted or refused themselves.)
_ANSWERED_HERE = frozenset(
    {
        NoticeKind.ORDER,
        NoticeKind.REJECTION,
        NoticeKind.STATUS,
        NoticeKind.CANCEL_REQUEST_REFUSED,
        NoticeKind.RETURN,
    }
)

_HANDLERS = {
    NoticeKind.ORDER: _on_order,
    NoticeKind.REVOCATION: _on_revoked,
    NoticeKind.REJECTION: _on_rejected,
    NoticeKind.CANCELLATION: _on_cancellation,
    NoticeKind.STATUS: _on_status,
    NoticeKind.CANCEL_REQUEST: _on_cancel_request,
    NoticeKind.CANCEL_REQUEST_REFUSED: _on_cancel_request_refused,
    NoticeKind.ANSWER: _on_answer,
    NoticeKind.CHANGED: _on_changed,
    NoticeKind.RETURN: _on_return,
    NoticeKind.HELLO: _on_hello,
}
