"""The rules of correcting an order before pickup (SPEC 4.10) and of registering a return
(SPEC 4.11). Pure, like rules.py: facts in, a Plan out.

An edit is allowed while the order is Created, Dispatched or Accepted; the partner who has the
order (the subcontractor or warehouse it was sent to) is told with an `order.changed` notice,
or a follow-up where the link cannot carry it. A return is registered on a Picked up or
Delivered order, tells the client or channel it came from, and never changes the status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .model import GOODS_MOVED, NoticeKind, OrderFacts, Status
from .rules import FollowUpPlan, NoticePlan, Plan, _notice, chosen_quantities

#: The statuses in which an order can still be corrected.
EDITABLE = frozenset({Status.CREATED, Status.DISPATCHED, Status.ACCEPTED})
#: The statuses in which goods can come back.
RETURNABLE = GOODS_MOVED


class ReturnReason(StrEnum):
    DAMAGED = "DAMAGED"
    WRONG_ARTICLE = "WRONG_ARTICLE"
    NOT_WANTED = "NOT_WANTED"
    REFUSED_ON_DELIVERY = "REFUSED_ON_DELIVERY"
    LATE = "LATE"
    OTHER = "OTHER"

    @classmethod
    def parse(cls, text: str) -> ReturnReason:
        key = text.strip().upper().replace("-", "_").replace(" ", "_")
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise ValueError(f"unknown return reason {text!r}; the reasons are: {names}") from None


@dataclass(frozen=True)
class FieldChange:
    """One corrected field: its name (as the notice carries it), its label, old and new as
    words (for the confirm and the history)."""

    field: str
    label: str
    old: str
    new: str

    def describe(self) -> str:
        return f"{self.label}: {self.old} → {self.new}."


def edit_refusal(order: OrderFacts) -> str | None:
    """Why the order cannot be corrected now, or None."""
    n = order.number
    if order.status.terminal:
        return f"Order {n} is {order.status.label}, which is final: it can no longer be edited."
    if order.status in GOODS_MOVED:
        return (
            f"Order {n} is {order.status.label}: the goods have left, so it can no longer be "
            "edited. Handle it as a return."
        )
    return None


def plan_edit(order: OrderFacts, changes: Sequence[FieldChange], now: datetime) -> Plan:
    """SPEC 4.10: correct the order; the partner who has it is told."""
    refusals: list[str] = []
    r = edit_refusal(order)
    if r:
        refusals.append(r)
    elif not changes:
        refusals.append(f"Nothing was changed on order {order.number}.")
    notices: tuple[NoticePlan, ...] = ()
    followups: tuple[FollowUpPlan, ...] = ()
    if order.assignee is not None:
        n, f = _notice(order.assignee, NoticeKind.CHANGED, order, now)
        notices, followups = (n,), tuple(f)
    return Plan(
        "edit",
        order.number,
        order.status,
        order.status,
        refusals=tuple(refusals),
        notices=notices,
        followups=followups,
        # another edit takes it back; once a partner is told, it cannot be
        reversible=True,
        what="was corrected",
        extra={"changes": tuple(changes)},
    )


def return_quantities(
    order: OrderFacts, lines: Mapping[str, int], returned: Mapping[str, int]
) -> tuple[dict[str, int], list[str]]:
    """The quantities coming back ({} = everything not yet returned), with the refusals.
    `returned` is what earlier returns of the order already brought back."""
    left = {
        ln.article: ln.open_quantity - returned.get(ln.article, 0) for ln in order.lines
    }
    if not lines:
        wanted = {a: q for a, q in left.items() if q > 0}
        if not wanted:
            return {}, [f"Everything on order {order.number} has already been returned."]
        return wanted, []
    return chosen_quantities(
        order.number,
        lines,
        left,
        negative="The quantity returned of {article!r} cannot be negative.",
        too_many="Only {left} of {article!r} can still come back on order {order}; {qty} cannot.",
        none="Choose at least one line and a quantity that comes back.",
    )


def plan_return(
    order: OrderFacts,
    lines: Mapping[str, int],
    returned: Mapping[str, int],
    reason: ReturnReason | None,
    comment: str,
    now: datetime,
) -> Plan:
    """SPEC 4.11: goods come back; the client or channel is told; the status stays."""
    refusals: list[str] = []
    n = order.number
    if order.status not in RETURNABLE:
        refusals.append(
            f"Order {n} is {order.status.label}: only a Picked up or Delivered order can have "
            "a return; "
            + ("cancel it instead." if not order.status.terminal else "nothing left the depot.")
        )
    wanted, qty_refusals = return_quantities(order, lines, returned)
    if order.status in RETURNABLE:
        refusals.extend(qty_refusals)
    if reason is None:
        refusals.append("Choose the reason for the return.")
    elif reason is ReturnReason.OTHER and not comment.strip():
        refusals.append("Reason OTHER needs a comment that says what the reason is.")
    notices: tuple[NoticePlan, ...] = ()
    followups: tuple[FollowUpPlan, ...] = ()
    if order.source is not None:
        np, f = _notice(order.source, NoticeKind.RETURN, order, now)
        notices, followups = (np,), tuple(f)
    return Plan(
        "return",
        n,
        order.status,
        order.status,
        refusals=tuple(refusals),
        notices=notices,
        followups=followups,
        what="had a return registered",
        extra={"quantities": wanted},
    )


def offers_return(plan: Plan) -> bool:
    """A refusal that comes too late (the goods have left) offers Register return… instead."""
    return not plan.allowed and plan.from_status in RETURNABLE
