"""The rules: which moves are allowed, which checks must hold, and what each action causes.

Every function here is pure: it takes facts about an order and its partners and returns a
decision as data (a Plan). The services write that plan to the database in one transaction;
the screens show it in the confirm. Nothing here decides twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from .model import (
    GOODS_MOVED,
    CancelMethod,
    LinkKind,
    NoticeKind,
    NoticeState,
    OrderFacts,
    PartnerFacts,
    ReasonCode,
    RejectionMapsTo,
    Role,
    Status,
    Transport,
)

# --------------------------------------------------------------------------- the move table

#: (from, to) -> what the move means. Anything not here is refused.
MOVES: Mapping[tuple[Status, Status], str] = {
    (Status.CREATED, Status.DISPATCHED): "send to a subcontractor or forward to a warehouse",
    (Status.DISPATCHED, Status.CREATED): "cancel the sent shipment",
    (Status.ACCEPTED, Status.CREATED): "cancel the sent shipment",
    (Status.DISPATCHED, Status.ACCEPTED): "the partner accepted it",
    # Not in the SPEC's table, but the SPEC says "Accepted: the partner (or our own driver)
    # took it" and order reception has an Accept action: an order that nobody else carries
    # can be accepted straight from Created.
    (Status.CREATED, Status.ACCEPTED): "our own driver takes it",
    (Status.ACCEPTED, Status.PICKED_UP): "the goods are picked up",
    (Status.PICKED_UP, Status.DELIVERED): "the goods are delivered",
    # The SPEC's table says "any non-terminal"; its checks (SPEC 4.5, 4.4) refuse an order
    # whose goods have left, so those rows are left out here and refused with "a return".
    **{(s, Status.REJECTED): "reject" for s in Status if not s.terminal and s not in GOODS_MOVED},
    **{(s, Status.CANCELLED): "cancel" for s in Status if not s.terminal and s not in GOODS_MOVED},
}


def allowed_targets(status: Status) -> list[Status]:
    """Where an order in this status can go (the checks of SPEC 4.5 aside)."""
    return [to for (frm, to) in MOVES if frm is status]


def duration_words(seconds: int) -> str:
    """90 -> '90-second', 1800 -> '30-minute', 7200 -> '2-hour'."""
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600}-hour"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60}-minute"
    return f"{seconds}-second"


def move_refusal(order: OrderFacts, to: Status) -> str | None:
    """Why the move table refuses order -> to, or None when the table allows it."""
    frm = order.status
    n = order.number
    if frm is to:
        return f"Order {n} is already {frm.label}."
    if frm.terminal:
        return (
            f"Order {n} is {frm.label}, which is final: nothing moves it again. "
            "Only Archive and Tags are allowed on it."
        )
    if to is Status.CREATED and frm in GOODS_MOVED:
        return (
            f"Order {n} is {frm.label}: the goods have left, so the shipment cannot be "
            "called back. Handle it as a return."
        )
    if to in (Status.REJECTED, Status.CANCELLED) and frm in GOODS_MOVED:
        return (
            f"Order {n} is {frm.label}: the goods have left, so it cannot go to {to.label}. "
            "Handle it as a return."
        )
    if (frm, to) not in MOVES:
        options = ", ".join(s.label for s in allowed_targets(frm))
        if not options:
            return f"Order {n} is {frm.label}: it moves no further, not to {to.label}. Archive it when it is done with."
        return f"Order {n} cannot go from {frm.label} to {to.label}; from {frm.label} it can go to: {options}."
    if (frm, to) == (Status.CREATED, Status.ACCEPTED) and order.assignee is not None:
        return f"Order {n} is with {order.assignee.name}; it is accepted when they accept it."
    return None


# --------------------------------------------------------------------------- the checks


@dataclass(frozen=True)
class RejectCheck:
    """One check of SPEC 4.5, as the reject dialog shows it: what is checked, and the
    sentence that refuses the rejection when it fails (None: it passed)."""

    label: str
    refusal: str | None

    @property
    def passed(self) -> bool:
        return self.refusal is None


def reject_checks(order: OrderFacts) -> list[RejectCheck]:
    """SPEC 4.5: the four checks that must hold before an order is rejected or trashed."""
    n = order.number
    terminal = moved = documents = backorders = None
    if order.status.terminal:
        terminal = f"Order {n} is already {order.status.label}."
    if order.status in GOODS_MOVED:
        moved = f"Order {n} is {order.status.label}: the goods have left. Handle it as a return."
    if order.documents:
        kinds = sorted({d.label for d in order.documents})
        named = " and ".join(("an " if k[0] in "aeiou" else "a ") + k for k in kinds)
        documents = f"Order {n} is referenced by {named}."
    if order.backorders:
        s = "" if order.backorders == 1 else "s"
        backorders = f"Order {n} has {order.backorders} back-ordered line{s}."
    return [
        RejectCheck("Not already Rejected or Cancelled", terminal),
        RejectCheck("The goods are not picked up or delivered", moved),
        RejectCheck("No delivery note or invoice references it", documents),
        RejectCheck("No back-ordered lines", backorders),
    ]


def reject_refusals(order: OrderFacts) -> list[str]:
    """SPEC 4.5: every check that keeps this order from being rejected or trashed."""
    return [c.refusal for c in reject_checks(order) if c.refusal is not None]


def reason_refusals(
    reason: ReasonCode | None, comment: str, partners: list[PartnerFacts]
) -> list[str]:
    out: list[str] = []
    if reason is ReasonCode.OTHER and not comment.strip():
        out.append("Reason OTHER needs a comment that says what the reason is.")
    if reason is None:
        for p in partners:
            if p.reason_required:
                out.append(f"{p.name} requires a reason code for every cancellation.")
    return out


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class NoticePlan:
    partner: str
    kind: NoticeKind
    transport: Transport
    held: bool  # held for the undo window before the relay may send it
    awaits_answer: bool = False  # the change waits for the partner's answer (warehouses)

    def describe(self) -> str:
        what = self.kind.label
        if self.transport is Transport.HTTP:
            how = "over the link"
        elif self.transport is Transport.EMAIL:
            how = "by e-mail"
        else:
            return f"{self.partner} will NOT be told automatically: a follow-up asks a person to tell them ({what})."
        when = " after the undo window" if self.held else ""
        return f"{self.partner} will be told {how}{when} ({what})."

    def record(self) -> str:
        """The same, as the history says it afterwards."""
        what = self.kind.label
        if self.transport is Transport.HTTP:
            return f"{self.partner} to be told over the link ({what})."
        if self.transport is Transport.EMAIL:
            return f"{self.partner} to be told by e-mail ({what})."
        return f"{self.partner} to be told by a person (follow-up, {what})."


@dataclass(frozen=True)
class FollowUpPlan:
    partner: str | None
    text: str


@dataclass(frozen=True)
class Plan:
    """Everything an action will do, decided before it happens."""

    action: str
    order: str
    from_status: Status
    to_status: Status
    refusals: tuple[str, ...] = ()
    notices: tuple[NoticePlan, ...] = ()
    followups: tuple[FollowUpPlan, ...] = ()
    warnings: tuple[str, ...] = ()
    unassign: bool = False
    assign: str | None = None
    partner_not_informed: bool | None = None  # None = leave the mark as it is
    clear_cancellation_request: bool = False
    undoable: bool = False  # within the undo window
    final: bool = False  # the result cannot be changed afterwards (terminal)
    reversible: bool = False  # another action simply takes it back (unarchive, tags)
    #: what a change that keeps the status does, in the past tense ("archived")
    what: str = ""
    extra: Mapping[str, object] = field(default_factory=dict)
    #: what is done only once the partner the change waits for (a warehouse) confirms it, and
    #: never if it refuses: passing a cancellation on to the channel, or the follow-up to
    #: cancel it there too (SPEC 4.4)
    on_confirm: tuple[NoticePlan, ...] = ()
    on_confirm_followups: tuple[FollowUpPlan, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.refusals

    @property
    def awaits_answer(self) -> bool:
        return any(n.awaits_answer for n in self.notices)

    def describe(self, undo_seconds: int) -> list[str]:
        """The confirm's sentences: what happens, who is told, what fails, undo or not."""
        lines: list[str] = []
        if not self.allowed:
            # a refused plan does nothing: say why, and nothing about who would be told
            return [f"Refused: {r}" for r in self.refusals]
        if self.from_status is self.to_status:
            lines.append(f"Order {self.order} stays {self.from_status.label}.")
        else:
            lines.append(f"Order {self.order}: {self.from_status.label} → {self.to_status.label}.")
        if self.assign:
            lines.append(f"It is sent to {self.assign}.")
        if self.unassign:
            lines.append("It is taken back from the partner and can be dispatched again.")
        lines.extend(n.describe() for n in self.notices)
        lines.extend(f"A follow-up is created: {f.text}" for f in self.followups)
        if self.on_confirm or self.on_confirm_followups:
            who = next((n.partner for n in self.notices if n.awaits_answer), "the partner")
            lines.extend(f"Once {who} confirms: {n.describe()}" for n in self.on_confirm)
            lines.extend(
                f"Once {who} confirms, a follow-up is created: {f.text}"
                for f in self.on_confirm_followups
            )
        if not self.notices and not self.warnings:
            lines.append("Nobody outside the depot will be told.")
        lines.extend(self.warnings)
        if self.undoable and undo_seconds > 0:
            lines.append(f"It can be undone for {undo_seconds} s afterwards.")
        elif self.reversible and not self.notices:
            pass
        elif self.final or self.notices or self.from_status is not self.to_status:
            lines.append("It cannot be undone.")
        return lines

    def summary(self, *, to: Status | None = None, followups: int = 0) -> str:
        """The result's sentence once done: what changed (never "Created → Created")."""
        to = to or self.to_status
        if to is not self.from_status:
            out = f"Order {self.order}: {self.from_status.label} → {to.label}."
        elif self.what:
            out = f"Order {self.order} {self.what}; it stays {to.label}."
        else:
            out = f"Order {self.order} stays {to.label}."
        told = sorted({n.partner for n in self.notices if n.transport is not Transport.MANUAL})
        if told:
            out += " " + ", ".join(told) + " will be told."
        if followups:
            out += f" {followups} follow-up{'s' if followups > 1 else ''} created."
        return out

    def record(self) -> str:
        """What the history keeps of it: what happened, in the past tense."""
        if self.from_status is not self.to_status:
            parts = [f"{self.from_status.label} → {self.to_status.label}."]
        else:
            parts = [(self.what[:1].upper() + self.what[1:] + ".") if self.what else "Status kept."]
        if self.assign:
            parts.append(f"Sent to {self.assign}.")
        if self.unassign:
            parts.append("Taken back from the partner.")
        parts.extend(n.record() for n in self.notices)
        parts.extend(f"Follow-up created: {f.text}" for f in self.followups)
        not_told = [w.split(";")[0].rstrip(".").replace(" will NOT be told", " was NOT told") + "."
                    for w in self.warnings if " will NOT be told" in w]
        parts.extend(not_told)
        if not self.notices and not self.followups and not not_told:
            parts.append("Nobody outside the depot was told.")
        return " ".join(parts)

    def without_undo(self, action: str | None = None) -> Plan:
        """The same plan applied on a partner's word: no undo window, nothing held."""
        notices = tuple(replace(n, held=False) for n in self.notices)
        return replace(self, action=action or self.action, notices=notices, undoable=False)

    def leaving_out(self, partner: str) -> Plan:
        """The same plan without telling `partner` (who asked for it and already knows)."""
        return replace(
            self,
            notices=tuple(n for n in self.notices if n.partner != partner),
            followups=tuple(f for f in self.followups if f.partner != partner),
            on_confirm=tuple(n for n in self.on_confirm if n.partner != partner),
            on_confirm_followups=tuple(f for f in self.on_confirm_followups if f.partner != partner),
        )


def delivery(
    partner: PartnerFacts,
    kind: NoticeKind,
    order: str,
    *,
    now: datetime,
    since: datetime | None,
) -> tuple[Transport, list[FollowUpPlan]]:
    """How a notice of this kind reaches this partner, and which follow-ups go with it."""
    what = (
        f"new order {order}" if kind is NoticeKind.ORDER else f"the {kind.label} of order {order}"
    )
    if partner.link_stopped:
        return Transport.MANUAL, [
            FollowUpPlan(
                partner.name,
                f"The link to {partner.name} is stopped; tell them by hand: {what}.",
            )
        ]
    by_link = {
        LinkKind.HTTP: Transport.HTTP,
        LinkKind.EMAIL: Transport.EMAIL,
        LinkKind.NONE: Transport.MANUAL,
    }[partner.link]
    transport = by_link
    followups: list[FollowUpPlan] = []
    if kind is NoticeKind.CANCELLATION:
        method = partner.cancel_method
        if method.has_window:
            inside = since is not None and (now - since).total_seconds() <= partner.window_seconds
            window = duration_words(partner.window_seconds)
            if not inside and method is CancelMethod.API_WINDOW_THEN_EMAIL and partner.has_email:
                return Transport.EMAIL, [
                    FollowUpPlan(
                        partner.name,
                        f"{partner.name}'s {window} API window had passed, so {what} went by "
                        f"e-mail: confirm with {partner.name} that it arrived.",
                    )
                ]
            if not inside:
                return Transport.MANUAL, [
                    FollowUpPlan(
                        partner.name,
                        f"{partner.name}'s {window} cancellation window has passed: "
                        f"cancel order {order} with {partner.name} by hand.",
                    )
                ]
        elif method is CancelMethod.EMAIL:
            transport = Transport.EMAIL
        elif method is CancelMethod.MANUAL:
            transport = Transport.MANUAL
    if transport is Transport.MANUAL:
        followups.append(FollowUpPlan(partner.name, f"Tell {partner.name} by hand: {what}."))
    elif transport is Transport.EMAIL:
        followups.append(
            FollowUpPlan(partner.name, f"Confirm with {partner.name} that {what} arrived.")
        )
    elif partner.follow_up_after_send and kind.undoable:
        followups.append(
            FollowUpPlan(partner.name, f"Check with {partner.name} that {what} was carried out.")
        )
    return transport, followups


def _notice(
    partner: PartnerFacts,
    kind: NoticeKind,
    order: OrderFacts,
    now: datetime,
    awaits: bool = False,
) -> tuple[NoticePlan, list[FollowUpPlan]]:
    since = order.dispatched_at if partner is order.assignee else order.received_at
    transport, fups = delivery(partner, kind, order.number, now=now, since=since)
    held = kind.undoable
    return NoticePlan(
        partner.name, kind, transport, held, awaits and transport is Transport.HTTP
    ), fups


def _tell(
    order: OrderFacts, now: datetime, *whom: tuple[PartnerFacts | None, NoticeKind]
) -> tuple[tuple[NoticePlan, ...], tuple[FollowUpPlan, ...]]:
    """Notices of these kinds to these partners (None = nobody), with their follow-ups."""
    notices: list[NoticePlan] = []
    followups: list[FollowUpPlan] = []
    for partner, kind in whom:
        if partner is not None:
            n, f = _notice(partner, kind, order, now)
            notices.append(n)
            followups.extend(f)
    return tuple(notices), tuple(followups)


def plan_dispatch(order: OrderFacts, partner: PartnerFacts, now: datetime) -> Plan:
    refusals = []
    r = move_refusal(order, Status.DISPATCHED)
    if r:
        refusals.append(r)
    if not partner.role.takes_our_orders:
        refusals.append(
            f"{partner.name} is a {partner.role.value}: orders are sent only to a subcontractor or a warehouse."
        )
    if order.source is not None and order.source.name == partner.name:
        refusals.append(
            f"Order {order.number} came from {partner.name}; it cannot be sent back to them."
        )
    n, f = _notice(partner, NoticeKind.ORDER, order, now)
    return Plan(
        "dispatch",
        order.number,
        order.status,
        Status.DISPATCHED,
        refusals=tuple(refusals),
        notices=(n,),
        followups=tuple(f),
        assign=partner.name,
    )


def plan_set_status(order: OrderFacts, to: Status, now: datetime) -> Plan:
    """Plain Set status (and a drop on a list). Sending and cancelling have their own plans."""
    frm = order.status
    refusal = move_refusal(order, to)
    if refusal:
        return Plan("set_status", order.number, frm, to, refusals=(refusal,))
    if to is Status.DISPATCHED:
        return Plan(
            "set_status",
            order.number,
            frm,
            to,
            refusals=(f"Choose the subcontractor or warehouse to send order {order.number} to.",),
        )
    if to is Status.CANCELLED:
        return Plan(
            "set_status",
            order.number,
            frm,
            to,
            refusals=(
                f"Use Create cancellation… for order {order.number}: it asks for the reason "
                "and tells every partner concerned.",
            ),
        )
    if to is Status.CREATED:
        return plan_revoke(order, now)
    if to is Status.REJECTED:
        refusals = reject_refusals(order)
        told = [p for p in (order.source, order.assignee) if p is not None]
        warnings = tuple(f"{p.name} will NOT be told; use Trash to tell them." for p in told)
        return Plan(
            "set_status",
            order.number,
            frm,
            to,
            refusals=tuple(refusals),
            warnings=warnings,
            partner_not_informed=bool(told),
            clear_cancellation_request=True,
            undoable=True,
            final=True,
        )
    # progress: Accepted, Picked up, Delivered
    notices, followups = _tell(order, now, (order.source, NoticeKind.STATUS))
    return Plan("set_status", order.number, frm, to, notices=notices, followups=followups)


def plan_revoke(order: OrderFacts, now: datetime) -> Plan:
    """SPEC 4.1: bring a sent shipment back to Created; the subcontractor is told."""
    refusal = move_refusal(order, Status.CREATED)
    if refusal:
        return Plan("revoke", order.number, order.status, Status.CREATED, refusals=(refusal,))
    notices, followups = _tell(order, now, (order.assignee, NoticeKind.REVOCATION))
    return Plan(
        "revoke",
        order.number,
        order.status,
        Status.CREATED,
        notices=notices,
        followups=followups,
        unassign=order.assignee is not None,
        undoable=True,
    )


def plan_trash(order: OrderFacts, now: datetime) -> Plan:
    """SPEC 4.3: reject an order and tell every partner it concerns."""
    refusals = reject_refusals(order)
    notices, followups = _tell(
        order, now, (order.source, NoticeKind.REJECTION), (order.assignee, NoticeKind.REVOCATION)
    )
    return Plan(
        "trash",
        order.number,
        order.status,
        Status.REJECTED,
        refusals=tuple(refusals),
        notices=notices,
        followups=followups,
        partner_not_informed=False,
        clear_cancellation_request=True,
        unassign=False,
        undoable=True,
        final=True,
    )


def plan_reject(order: OrderFacts, now: datetime, *, notify_buyer: bool) -> Plan:
    """SPEC 4.5: reject from order reception, with the switch 'notify the buyer'."""
    plan = plan_trash(order, now)
    if notify_buyer or order.source is None:
        return Plan(**{**plan.__dict__, "action": "reject"})
    notices = tuple(n for n in plan.notices if n.partner != order.source.name)
    followups = tuple(f for f in plan.followups if f.partner != order.source.name)
    warning = f"{order.source.name} will NOT be told (notify the buyer is off)."
    return Plan(
        **{
            **plan.__dict__,
            "action": "reject",
            "notices": notices,
            "followups": followups,
            "warnings": (warning,),
            "partner_not_informed": True,
        }
    )


@dataclass(frozen=True)
class CancellationRequest:
    reason: ReasonCode | None
    comment: str = ""
    internal_note: str = ""
    number: str = ""
    #: article -> quantity to cancel; empty means every open quantity
    lines: Mapping[str, int] = field(default_factory=dict)


def cancellation_quantities(
    order: OrderFacts, lines: Mapping[str, int]
) -> tuple[dict[str, int], list[str]]:
    """Resolve the quantities to cancel; return them with the refusals."""
    open_qty = {ln.article: ln.open_quantity for ln in order.lines}
    if not lines:
        return {a: q for a, q in open_qty.items() if q > 0}, (
            []
            if any(q > 0 for q in open_qty.values()) or not order.lines
            else [f"Order {order.number} has nothing left to cancel."]
        )
    return chosen_quantities(
        order.number,
        lines,
        open_qty,
        negative="The quantity to cancel of {article!r} cannot be negative.",
        too_many="Only {left} of {article!r} are open on order {order}; {qty} cannot be cancelled.",
        none="Choose at least one line and a quantity to cancel.",
    )


def chosen_quantities(
    order: str,
    lines: Mapping[str, int],
    left: Mapping[str, int],
    *,
    negative: str,
    too_many: str,
    none: str,
) -> tuple[dict[str, int], list[str]]:
    """The quantities asked for, each checked against what is `left` of its line, with the
    refusals (an unknown article, a negative quantity, more than is left, nothing chosen).
    The sentences are the caller's: {article!r}, {left}, {order} and {qty} are filled in."""
    refusals: list[str] = []
    wanted: dict[str, int] = {}
    for article, qty in lines.items():
        if article not in left:
            refusals.append(f"Order {order} has no line with article {article!r}.")
        elif qty < 0:
            refusals.append(negative.format(article=article))
        elif qty > left[article]:
            refusals.append(too_many.format(left=left[article], article=article, order=order, qty=qty))
        elif qty:
            wanted[article] = qty
    if not wanted and not refusals:
        refusals.append(none)
    return wanted, refusals


def plan_cancellation(order: OrderFacts, req: CancellationRequest, now: datetime) -> Plan:
    """SPEC 4.4: a cancellation, full or partial, told to every partner it concerns."""
    refusals: list[str] = []
    if order.status.terminal:
        refusals.append(f"Order {order.number} is already {order.status.label}.")
    elif order.status in GOODS_MOVED:
        refusals.append(
            f"Order {order.number} is {order.status.label}: it can no longer be cancelled. "
            "Handle it as a return."
        )
    wanted, qty_refusals = cancellation_quantities(order, req.lines)
    refusals.extend(qty_refusals)
    partial = bool(order.lines) and any(
        ln.open_quantity - wanted.get(ln.article, 0) > 0 for ln in order.lines
    )
    notices: list[NoticePlan] = []
    followups: list[FollowUpPlan] = []
    told: list[PartnerFacts] = []
    warehouse = order.assignee if order.assignee and order.assignee.role is Role.WAREHOUSE else None
    if order.assignee is not None:
        n, f = _notice(
            order.assignee, NoticeKind.CANCELLATION, order, now, awaits=warehouse is not None
        )
        notices.append(n)
        followups.extend(f)
        told.append(order.assignee)
    waits = any(n.awaits_answer for n in notices)
    on_confirm: tuple[NoticePlan, ...] = ()
    on_confirm_followups: tuple[FollowUpPlan, ...] = ()
    src = order.source
    if src is not None:
        told_src, fups = tell_source_of_cancellation(order, now, warehouse=warehouse is not None)
        if waits:
            # the warehouse may refuse (picking started): the channel hears nothing until it
            # confirmed, and nothing at all if it refused
            on_confirm = tuple(replace(n, held=False) for n in told_src)
            on_confirm_followups = tuple(fups)
        else:
            notices.extend(told_src)
            followups.extend(fups)
        if told_src:
            told.append(src)
    refusals.extend(reason_refusals(req.reason, req.comment, told))
    awaits = any(n.awaits_answer for n in notices)
    to = order.status if (partial or awaits) else Status.CANCELLED
    warnings: list[str] = []
    if partial:
        warnings.append("This is a partial cancellation: the order stays open with the rest.")
    if awaits and warehouse is not None:
        warnings.append(
            f"The order changes when {warehouse.name} confirms; if picking has started they "
            "refuse, and it must be handled as a return."
        )
    return Plan(
        "cancel",
        order.number,
        order.status,
        to,
        refusals=tuple(refusals),
        notices=tuple(notices),
        followups=tuple(followups),
        warnings=tuple(warnings),
        clear_cancellation_request=not partial and not awaits,
        undoable=True,
        final=to is Status.CANCELLED,
        what=(
            "waits for the partner to confirm the cancellation"
            if awaits
            else "had part of its lines cancelled" if partial else ""
        ),
        extra={"quantities": wanted, "partial": partial},
        on_confirm=on_confirm,
        on_confirm_followups=on_confirm_followups,
    )


def tell_source_of_cancellation(
    order: OrderFacts, now: datetime, *, warehouse: bool
) -> tuple[tuple[NoticePlan, ...], list[FollowUpPlan]]:
    """How the client or channel an order came from hears of its cancellation (SPEC 4.4): a
    cancellation at a warehouse is never passed on to a channel (unless it passes them on);
    a follow-up asks a person to cancel it there too."""
    src = order.source
    if src is None:
        return (), []
    if warehouse and src.role is Role.CHANNEL and not src.pass_cancellations:
        return (), [FollowUpPlan(src.name, f"Cancel order {order.number} at {src.name} too.")]
    n, f = _notice(src, NoticeKind.CANCELLATION, order, now)
    return (n,), f


def plan_archive(order: OrderFacts, archive: bool = True) -> Plan:
    refusals = []
    if archive and order.archived:
        refusals.append(f"Order {order.number} is already archived.")
    if not archive and not order.archived:
        refusals.append(f"Order {order.number} is not archived.")
    return Plan(
        "archive" if archive else "unarchive",
        order.number,
        order.status,
        order.status,
        refusals=tuple(refusals),
        reversible=True,
        what="archived" if archive else "taken out of the archive",
    )


def plan_refuse_cancel_request(order: OrderFacts, now: datetime) -> Plan:
    """SPEC 4.6: refuse a channel customer's cancellation request."""
    refusals = []
    if order.source is None:
        refusals.append(f"Order {order.number} did not come from a partner.")
    notices, followups = _tell(order, now, (order.source, NoticeKind.CANCEL_REQUEST_REFUSED))
    return Plan(
        "refuse_cancel_request",
        order.number,
        order.status,
        order.status,
        refusals=tuple(refusals),
        notices=notices,
        followups=followups,
        clear_cancellation_request=True,
        what="had its cancellation request refused",
    )


# --------------------------------------------------------------------------- messages in


@dataclass(frozen=True)
class Reaction:
    """How we react to a partner's message about one of our orders."""

    to_status: Status | None  # None = the status stays
    flag_cancellation_request: bool = False
    unassign: bool = False
    answer: str | None = None  # "accepted" / "refused" back to the partner, or None
    message: str = ""
    plan: Plan | None = None  # a full plan to apply (tells other partners concerned)


def react_to_revocation(order: OrderFacts, sender: PartnerFacts, now: datetime) -> Reaction:
    """SPEC 4.2: a client took back a shipment it had sent us."""
    if order.status.terminal:
        return Reaction(None, answer="accepted", message=f"Order already {order.status.label}.")
    if order.status in GOODS_MOVED:
        return Reaction(
            None,
            flag_cancellation_request=True,
            answer="refused",
            message=f"Already {order.status.label.lower()}; it will be handled as a return.",
        )
    checks = reject_refusals(order)
    if sender.auto_trash and checks:
        # trashing by itself runs the checks of SPEC 4.5 like trashing by hand
        return Reaction(
            None,
            flag_cancellation_request=True,
            message="Cancellation requested; a dispatcher will decide. " + " ".join(checks),
        )
    if sender.auto_trash:
        plan = plan_cancellation(order, CancellationRequest(ReasonCode.CLIENT_CANCELLED), now)
        # The client already knows; only partners further down are told.
        plan = replace(plan.leaving_out(sender.name).without_undo("auto_trash"), refusals=())
        if plan.awaits_answer:
            waiting_for = next(n.partner for n in plan.notices if n.awaits_answer)
            return Reaction(
                None,
                answer="accepted",
                message=f"Passed on to {waiting_for}; it is cancelled when they confirm.",
                plan=plan,
            )
        return Reaction(plan.to_status, answer="accepted", message="Cancelled.", plan=plan)
    return Reaction(
        None,
        flag_cancellation_request=True,
        answer=None,
        message="Cancellation requested; a dispatcher will decide.",
    )


def react_to_rejection(order: OrderFacts, sender: PartnerFacts) -> Reaction:
    """SPEC 4.3, the client's side: our subcontractor refused the shipment we sent."""
    if order.status.terminal:
        return Reaction(None, answer="accepted", message=f"Order already {order.status.label}.")
    if sender.rejection_maps_to is RejectionMapsTo.CREATED:
        return Reaction(Status.CREATED, unassign=True, answer="accepted")
    return Reaction(Status.REJECTED, answer="accepted")


def react_to_status(order: OrderFacts, sender: PartnerFacts, reported: Status) -> Reaction:
    """A subcontractor or warehouse reports progress on an order we sent them."""
    if order.status is reported or order.status.terminal:
        return Reaction(None)
    chain = [Status.DISPATCHED, Status.ACCEPTED, Status.PICKED_UP, Status.DELIVERED]
    if (
        order.status in chain
        and reported in chain
        and chain.index(reported) > chain.index(order.status)
    ):
        return Reaction(reported)
    return Reaction(
        None, message=f"{sender.name} reported {reported.label}; the order is {order.status.label}."
    )


def react_to_cancel_request(order: OrderFacts) -> Reaction:
    """SPEC 4.6: a channel's customer asks to cancel."""
    if order.status.terminal:
        return Reaction(None, answer="accepted", message=f"Order already {order.status.label}.")
    # the automatic path runs the checks of SPEC 4.5 too: an order a delivery note, an invoice
    # or a back-order refers to is never cancelled without a dispatcher
    untouched = order.status is Status.CREATED and order.untouched and order.assignee is None
    checks = reject_refusals(order) if untouched else []
    if untouched and not checks:
        return Reaction(Status.CANCELLED, answer="accepted", message="Cancelled.")
    why = (" " + " ".join(checks)) if checks else ""
    return Reaction(
        None,
        flag_cancellation_request=True,
        message=f"Cancellation requested; a dispatcher will decide.{why}",
    )


def react_to_cancellation(order: OrderFacts, quantities: Mapping[str, int]) -> Reaction:
    """A partner that sent us the order cancels it (or some lines of it)."""
    if order.status.terminal:
        return Reaction(None, answer="accepted", message=f"Order already {order.status.label}.")
    if order.status in GOODS_MOVED:
        return Reaction(
            None,
            answer="refused",
            message=f"Already {order.status.label.lower()}; it will be handled as a return.",
        )
    return Reaction(None, answer="accepted", message="Cancelled.")


# --------------------------------------------------------------------------- notices by hand


def redo_refusal(
    *,
    partner: str,
    label: str,
    state: NoticeState,
    attempts: int,
    in_flight: bool,
    link_stopped: bool,
) -> str | None:
    """Why a notice cannot be retried or skipped by hand now, or None when it can: it must be
    failed, or queued after a failed attempt and not being sent this very moment."""
    waiting_retry = state is NoticeState.QUEUED and attempts > 0
    if in_flight and waiting_retry:
        return f"The {label} to {partner} is being sent right now; wait for the answer."
    if state is not NoticeState.FAILED and not waiting_retry:
        return (
            f"The {label} to {partner} is {state.value}; only a failed notice "
            "(or one waiting for its next retry) can be retried or skipped."
        )
    if link_stopped:
        return (
            f"The link to {partner} is stopped (they answered 410 Gone). "
            "Restart it on the Partners screen first."
        )
    return None
