"""Edit before picking (SPEC 4.10) and Register return (SPEC 4.11), as typed actions.

    EditOrder("DD-000001", parcels=4, lines=(LineEdit("BOX-S", 3),)).preview(depot).lines
    RegisterReturn("DD-000002", lines={"BOX-S": 1}, reason_code=ReturnReason.DAMAGED).execute(depot)

An edit lists old → new per field in its confirm, tells the partner who has the order
(`order.changed`, or a follow-up where the link cannot carry it) and keeps old and new in the
history. A return records lines, quantities, a reason and a return number, tells the client or
channel the order came from (`order.return`), and never changes the status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..domain import (
    RETURNABLE,
    FieldChange,
    Plan,
    ReturnReason,
    edit_refusal,
    limits,
    plan_edit,
    plan_return,
)
from ..store.models import AuditEntry, Notice, Order, OrderLine, Partner, Return
from .actions import OrderAction
from .core import ActionResult, Depot, InvalidInput, apply_plan, load_order, order_facts, snapshot
from .setup import LineInput, OrderInput, check_order


class _Keep(Enum):
    KEEP = "keep"


#: "leave this field as it is" (None is a value: no time)
KEEP = _Keep.KEEP


@dataclass(frozen=True)
class LineEdit:
    """A line as it should be: `quantity` ordered (0 removes the line); an article the order
    does not have is added. `description` None keeps the one it has."""

    article: str
    quantity: int
    description: str | None = None


# --------------------------------------------------------------------------- words


def when_words(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "none"


def _kilos(value: float) -> str:
    return f"{value:g} kg"


_TEXT_FIELDS = (("pickup_address", "Pickup address"), ("delivery_address", "Delivery address"))
_TIME_FIELDS = (("pickup_after", "Pickup after"), ("deliver_by", "Deliver by"))


# --------------------------------------------------------------------------- the edit itself


@dataclass(frozen=True)
class Wanted:
    """The new values of the fields that change (a field left out stays as it is)."""

    values: Mapping[str, Any]
    #: article -> (quantity ordered, description); quantity 0 removes the line
    lines: Mapping[str, tuple[int, str]]


def diff(
    order: Order,
    values: Mapping[str, Any],
    lines: Mapping[str, tuple[int, str | None]],
) -> tuple[Wanted, list[FieldChange]]:
    """What changes, checked: the same limits as a new order (services.setup.check_order),
    else InvalidInput naming the field."""
    have = {ln.article: ln for ln in order.lines}
    merged: dict[str, Any] = {
        "pickup_address": order.pickup_address,
        "delivery_address": order.delivery_address,
        "pickup_after": order.pickup_after,
        "deliver_by": order.deliver_by,
        "parcels": order.parcels,
        "weight_kg": order.weight_kg,
        **values,
    }
    new_lines: dict[str, tuple[int, str]] = {
        a: (ln.quantity, ln.description) for a, ln in have.items()
    }
    for article, (qty, desc) in lines.items():
        old = have.get(article)
        new_lines[article] = (qty, desc if desc is not None else (old.description if old else ""))
    problems = check_order(
        OrderInput(
            pickup_address=merged["pickup_address"],
            delivery_address=merged["delivery_address"],
            pickup_after=merged["pickup_after"],
            deliver_by=merged["deliver_by"],
            parcels=merged["parcels"],
            weight_kg=merged["weight_kg"],
            lines=[LineInput(a, q or 1, d) for a, (q, d) in new_lines.items()],
        )
    )
    if problems:
        fld, text = problems[0]
        raise InvalidInput(text, field=fld if not fld.startswith("line") else "lines")
    for article, (qty, _) in lines.items():
        old = have.get(article)
        if qty and not limits.QUANTITY.holds(qty):
            raise InvalidInput(
                f"The quantity of {article!r} must be a whole number {limits.QUANTITY.words}.",
                field="lines",
            )
        if qty < 0:
            raise InvalidInput(f"The quantity of {article!r} cannot be negative.", field="lines")
        if old is not None and old.cancelled and qty < old.cancelled:
            raise InvalidInput(
                f"{old.cancelled} of {article!r} are already cancelled on order {order.number}; "
                f"the quantity cannot go below that.",
                field="lines",
            )
        if old is None and qty == 0:
            raise InvalidInput(f"Order {order.number} has no line {article!r} to remove.", field="lines")
    if not any(q for q, _ in new_lines.values()):
        raise InvalidInput(
            f"Order {order.number} would have no lines left; cancel it instead.", field="lines"
        )

    changes: list[FieldChange] = []
    changed: dict[str, Any] = {}
    for key, label in _TEXT_FIELDS:
        new = merged[key]
        if new != getattr(order, key):
            changed[key] = new
            changes.append(FieldChange(key, label, getattr(order, key) or "(empty)", new))
    for key, label in _TIME_FIELDS:
        new = merged[key]
        if new != getattr(order, key):
            changed[key] = new
            changes.append(FieldChange(key, label, when_words(getattr(order, key)), when_words(new)))
    if merged["parcels"] != order.parcels:
        changed["parcels"] = merged["parcels"]
        changes.append(FieldChange("parcels", "Parcels", str(order.parcels), str(merged["parcels"])))
    if float(merged["weight_kg"]) != order.weight_kg:
        changed["weight_kg"] = float(merged["weight_kg"])
        changes.append(
            FieldChange("weight_kg", "Weight", _kilos(order.weight_kg), _kilos(merged["weight_kg"]))
        )
    changed_lines: dict[str, tuple[int, str]] = {}
    for article, (qty, desc) in new_lines.items():
        old = have.get(article)
        if old is None:
            changed_lines[article] = (qty, desc)
            changes.append(FieldChange("lines", f"Line {article}", "none", f"{qty}"))
            continue
        if qty == old.quantity and desc == old.description:
            continue
        changed_lines[article] = (qty, desc)
        if qty == 0:
            changes.append(FieldChange("lines", f"Line {article}", f"{old.quantity}", "removed"))
        elif qty != old.quantity:
            changes.append(FieldChange("lines", f"Line {article}", f"{old.quantity}", f"{qty}"))
        if qty and desc != old.description:
            changes.append(
                FieldChange("lines", f"Line {article} description", old.description or "(empty)", desc)
            )
    return Wanted(changed, changed_lines), changes


def apply_wanted(order: Order, wanted: Wanted) -> None:
    for key, value in wanted.values.items():
        setattr(order, key, value)
    have = {ln.article: ln for ln in order.lines}
    next_no = max((ln.lineno for ln in order.lines), default=0) + 1
    for article, (qty, desc) in wanted.lines.items():
        ln = have.get(article)
        if ln is None:
            order.lines.append(
                OrderLine(lineno=next_no, article=article, description=desc, quantity=qty)
            )
            next_no += 1
        elif qty == 0 and not ln.cancelled:
            order.lines.remove(ln)
        else:
            ln.quantity = max(qty, ln.cancelled)
            ln.description = desc


def changed_payload(order: Order, changes: list[FieldChange]) -> dict[str, Any]:
    """What an `order.changed` notice carries besides the order: the order's values as they now
    are (in the shape of a new order) and each change, old and new, in words."""
    return {
        "pickup_address": order.pickup_address,
        "delivery_address": order.delivery_address,
        "pickup_after": order.pickup_after.isoformat() if order.pickup_after else None,
        "deliver_by": order.deliver_by.isoformat() if order.deliver_by else None,
        "parcels": order.parcels,
        "weight_kg": order.weight_kg,
        "lines": [
            {"article": ln.article, "description": ln.description, "quantity": ln.quantity - ln.cancelled}
            for ln in order.lines
            if ln.quantity - ln.cancelled > 0
        ],
        "changes": [{"field": c.field, "label": c.label, "old": c.old, "new": c.new} for c in changes],
    }


def record_changes(
    session: Session, result: ActionResult, order: Order, changes: list[FieldChange]
) -> None:
    """Fill in what the notices carry and what the history keeps (old and new), once known."""
    payload = changed_payload(order, changes)
    for nid in result.notices:
        n = session.get(Notice, nid)
        if n is not None:
            n.payload = {**n.payload, **payload}
    entry = session.get(AuditEntry, result.audit_id)
    if entry is not None:
        entry.detail = " ".join(c.describe() for c in changes) + " " + entry.detail
        entry.before = {
            **(entry.before or {}),
            "edited": {c.label: [c.old, c.new] for c in changes},
        }
    session.flush()


@dataclass(frozen=True)
class EditOrder(OrderAction):
    """SPEC 4.10: correct addresses, times, parcels, weight, lines and quantities while the order
    is Created, Dispatched or Accepted; the partner who has it is told; old and new are kept."""

    pickup_address: str | _Keep = KEEP
    delivery_address: str | _Keep = KEEP
    pickup_after: datetime | None | _Keep = KEEP
    deliver_by: datetime | None | _Keep = KEEP
    parcels: int | _Keep = KEEP
    weight_kg: float | _Keep = KEEP
    lines: tuple[LineEdit, ...] = ()
    verb: ClassVar[str] = "Save the changes"
    needs_lines: ClassVar[bool] = True

    def _values(self) -> dict[str, Any]:
        keys = ("pickup_address", "delivery_address", "pickup_after", "deliver_by", "parcels",
                "weight_kg")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not KEEP}

    def _lines(self) -> dict[str, tuple[int, str | None]]:
        out: dict[str, tuple[int, str | None]] = {}
        for ln in self.lines:
            art = ln.article.strip()
            if not art:
                raise InvalidInput("A line needs its article.", field="lines")
            if art in out:
                raise InvalidInput(f"Article {art!r} is given twice.", field="lines")
            out[art] = (ln.quantity, ln.description)
        return out

    def plan(self, depot: Depot, session: Session, order: Order) -> tuple[Plan, Partner | None]:
        facts = self.facts(order)
        if edit_refusal(facts):  # say why it cannot be edited, before judging the values
            return plan_edit(facts, (), depot.now()), None
        _, changes = diff(order, self._values(), self._lines())
        return plan_edit(facts, changes, depot.now()), None

    def title(self, plan: Plan) -> str:
        return f"Save the changes to order {plan.order}?"

    def details(self, plan: Plan) -> list[str]:
        changes: tuple[FieldChange, ...] = plan.extra.get("changes", ())  # type: ignore[assignment]
        return [c.describe() for c in changes]

    def change(self, order: Order) -> None:
        wanted, _ = diff(order, self._values(), self._lines())
        apply_wanted(order, wanted)

    def execute(self, depot: Depot) -> ActionResult:
        with depot.uow() as uow:
            session = uow.session
            order = load_order(session, self.number, expected_version=self.expected_version)
            plan, _ = self.plan(depot, session, order)
            changes = list(plan.extra.get("changes", ()))  # type: ignore[call-overload]
            before = snapshot(order)
            if plan.allowed:
                self.change(order)
            result = apply_plan(depot, session, order, plan, audit_before=before)
            record_changes(session, result, order, changes)
            uow.commit()
            return result


# --------------------------------------------------------------------------- from a form


def parse_time(text: str, field_name: str = "time") -> datetime | None:
    """A time typed in a form or on the command line: ISO ("2025-03-15T14:00", a zone
    optional: without one it is local time), or as shown ("2025-03-15 14:00 UTC"); empty or
    "none" clears it. Else InvalidInput naming the field."""
    t = text.strip()
    if t.lower() in ("", "none", "-"):
        return None
    utc = t.upper().endswith(" UTC")
    if utc:
        t = t[:-4].strip()
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise InvalidInput(
            f"{text.strip()!r} is not a date and time (for example 2025-03-15 14:00, or none).",
            field=field_name,
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC) if utc else dt.astimezone()
    return dt


def edit_from_form(
    number: str,
    fields: Mapping[str, str],
    lines: Mapping[str, str],
    *,
    expected_version: int | None = None,
) -> EditOrder:
    """The EditOrder for what a form holds: `fields` the text of the fields the dispatcher
    changed (pickup_address, delivery_address, pickup_after, deliver_by, parcels, weight_kg),
    `lines` article -> the quantity typed. InvalidInput names the field that does not read."""
    kw: dict[str, Any] = {}
    for key in ("pickup_address", "delivery_address"):
        if key in fields:
            kw[key] = fields[key]
    for key in ("pickup_after", "deliver_by"):
        if key in fields:
            kw[key] = parse_time(fields[key], key)
    if "parcels" in fields:
        try:
            kw["parcels"] = int(fields["parcels"].strip())
        except ValueError:
            raise InvalidInput(
                f"Parcels must be a whole number {limits.PARCELS.words}.", field="parcels"
            ) from None
    if "weight_kg" in fields:
        try:
            kw["weight_kg"] = float(fields["weight_kg"].strip().removesuffix("kg").strip())
        except ValueError:
            raise InvalidInput(
                f"Weight must be a number of kilograms {limits.WEIGHT_KG.words}.", field="weight_kg"
            ) from None
    edits = []
    for article, raw in lines.items():
        try:
            qty = int(raw.strip() or "0")
        except ValueError:
            raise InvalidInput(
                f"The quantity of {article!r} must be a whole number (0 removes the line).",
                field="lines",
            ) from None
        edits.append(LineEdit(article, qty))
    return EditOrder(number, lines=tuple(edits), expected_version=expected_version, **kw)


def edit_refusal_of(depot: Depot, number: str) -> tuple[str | None, bool]:
    """Why the order cannot be edited now (None: it can), and whether a return is offered."""
    with depot.uow(write=False) as uow:
        order = load_order(uow.session, number)
        facts = order_facts(order, lines=False)
        refusal = edit_refusal(facts)
        return refusal, refusal is not None and facts.status in RETURNABLE


# --------------------------------------------------------------------------- returns


def returned_so_far(session: Session, order_id: int) -> dict[str, int]:
    """article -> quantity already come back, over every return of the order."""
    out: dict[str, int] = {}
    for lines in session.scalars(select(Return.lines).where(Return.order_id == order_id)):
        for a, q in (lines or {}).items():
            out[a] = out.get(a, 0) + int(q)
    return out


def _return_number_taken(session: Session, number: str) -> bool:
    return (
        session.scalar(
            select(Return.id).where(Return.number == number, Return.reported_by_id.is_(None))
        )
        is not None
    )


def free_return_number(session: Session) -> str:
    """The next return number nobody here has used, without taking it."""
    n = (session.scalar(select(func.count()).select_from(Return)) or 0) + 1
    while True:
        number = f"RT-{n:06d}"
        if not _return_number_taken(session, number):
            return number
        n += 1


def fresh_return_number(depot: Depot) -> str:
    with depot.uow(write=False) as uow:
        return free_return_number(uow.session)


@dataclass(frozen=True)
class RegisterReturn(OrderAction):
    """SPEC 4.11: goods of a Picked up or Delivered order come back (lines and quantities, a
    reason, a return number); the client or channel is told; the status never changes."""

    lines: Mapping[str, int] = field(default_factory=dict)
    reason_code: ReturnReason | None = None
    comment: str = ""
    return_number: str = ""
    #: the number was pre-filled and left as it was: if someone took it meanwhile, use the next
    renumber: bool = False
    verb: ClassVar[str] = "Register the return"
    needs_lines: ClassVar[bool] = True

    def plan(self, depot: Depot, session: Session, order: Order) -> tuple[Plan, Partner | None]:
        if len(self.comment) > limits.TEXT:
            raise InvalidInput(
                f"The comment can be at most {limits.TEXT} characters.", field="comment"
            )
        returned = returned_so_far(session, order.id)
        plan = plan_return(
            self.facts(order), self.lines, returned, self.reason_code, self.comment, depot.now()
        )
        refusals = list(plan.refusals)
        number = self.return_number.strip()
        if len(number) > 100:
            refusals.append("The return number can be at most 100 characters.")
        elif number and _return_number_taken(session, number):
            if self.renumber:
                number = free_return_number(session)
            else:
                refusals.append(f"Return number {number!r} is already used; choose another.")
        if not number:
            number = free_return_number(session)
        plan = Plan(
            **{**plan.__dict__, "refusals": tuple(refusals), "extra": {**plan.extra, "number": number}}
        )
        return plan, None

    def title(self, plan: Plan) -> str:
        return f"Register a return on order {plan.order}?"

    def details(self, plan: Plan) -> list[str]:
        quantities: Mapping[str, int] = plan.extra.get("quantities", {})  # type: ignore[assignment]
        out = [
            f"Return number: {plan.extra.get('number')}.",
            f"Reason: {self.reason_code.value if self.reason_code else 'none given'}.",
        ]
        if self.comment.strip():
            out.append(f"Comment to the partner: {self.comment.strip()}")
        out.append(
            "Coming back: " + ", ".join(f"{a} × {q}" for a, q in quantities.items()) + "."
        )
        out.append("A return is not a cancellation: the status stays as it is.")
        return out

    def reason(self) -> str | None:
        return self.reason_code.value if self.reason_code else None

    def after(
        self, depot: Depot, session: Session, order: Order, plan: Plan, result: ActionResult
    ) -> ActionResult:
        quantities: Mapping[str, int] = plan.extra.get("quantities", {})  # type: ignore[assignment]
        number = str(plan.extra["number"])
        reason = self.reason() or ""
        session.add(
            Return(
                number=number,
                order_id=order.id,
                reason=reason,
                comment=self.comment.strip(),
                lines=dict(quantities),
                created_at=depot.now(),
                actor=depot.actor,
            )
        )
        fill = {
            "return": number,
            "lines": dict(quantities),
            "reason": reason,
            "comment": self.comment.strip(),
        }
        for nid in result.notices:
            n = session.get(Notice, nid)
            if n is not None:
                n.payload = {**n.payload, **fill}
        entry = session.get(AuditEntry, result.audit_id)
        what = ", ".join(f"{a} × {q}" for a, q in quantities.items())
        if entry is not None:
            entry.detail = f"Return {number} ({reason}): {what}. " + entry.detail
        session.flush()
        return ActionResult(
            **{
                **result.__dict__,
                "message": f"Return {number} registered on order {order.number} ({what}); "
                + result.message.split("; ", 1)[-1],
            }
        )


@dataclass(frozen=True)
class ReturnLine:
    article: str
    description: str
    #: how many can still come back (delivered less earlier returns)
    left: int


@dataclass(frozen=True)
class ReturnContext:
    """What the return form starts from."""

    number: str
    version: int
    status: str
    lines: tuple[ReturnLine, ...]
    #: why no return can be registered now, or None
    refusal: str | None
    #: a fresh return number, pre-filled
    return_number: str


def return_from_form(
    number: str,
    reason: str | None,
    comment: str,
    return_number: str,
    lines: Mapping[str, str],
    *,
    expected_version: int | None = None,
    renumber: bool = False,
) -> RegisterReturn:
    """The RegisterReturn for what the form holds (every line's quantity as typed: 0 = that line
    does not come back). InvalidInput names the field that does not read."""
    quantities: dict[str, int] = {}
    for article, raw in lines.items():
        try:
            quantities[article] = int(raw.strip() or "0")
        except ValueError:
            raise InvalidInput(
                f"The quantity of {article!r} must be a whole number.", field="lines"
            ) from None
    try:
        code = ReturnReason.parse(reason) if reason else None
    except ValueError as e:
        raise InvalidInput(str(e), field="reason") from None
    return RegisterReturn(
        number,
        lines=quantities,
        reason_code=code,
        comment=comment,
        return_number=return_number,
        renumber=renumber,
        expected_version=expected_version,
    )


def return_context(depot: Depot, number: str) -> ReturnContext:
    with depot.uow(write=False) as uow:
        s = uow.session
        order = load_order(s, number)
        returned = returned_so_far(s, order.id)
        facts = order_facts(order)
        plan = plan_return(facts, {}, returned, ReturnReason.OTHER, "-", depot.now())
        return ReturnContext(
            number=order.number,
            version=order.version,
            status=order.status,
            lines=tuple(
                ReturnLine(ln.article, ln.description, ln.quantity - ln.cancelled - returned.get(ln.article, 0))
                for ln in order.lines
            ),
            refusal=plan.refusals[0] if plan.refusals else None,
            return_number=free_return_number(s),
        )


def returns_section(
    session: Session, *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """The report's section of returns (SPEC 8): per partner the order came from and reason,
    how many returns and how many pieces came back, registered from `since` until `until`."""
    src = Partner.__table__.alias("src")
    q = (
        select(func.coalesce(src.c.name, "(own)"), Return.reason, Return.lines)
        .join(Order, Order.id == Return.order_id)
        .outerjoin(src, src.c.id == Order.source_id)
    )
    if since is not None:
        q = q.where(Return.created_at >= since)
    if until is not None:
        q = q.where(Return.created_at < until)
    rows: dict[tuple[str, str], list[int]] = {}
    for partner, reason, lines in session.execute(q):
        acc = rows.setdefault((partner, reason), [0, 0])
        acc[0] += 1
        acc[1] += sum(int(v) for v in (lines or {}).values())
    return {
        "key": "returns",
        "title": "Returns per partner and reason",
        "columns": ["partner", "reason", "returns", "pieces"],
        "rows": [
            {"partner": p, "reason": r, "returns": n, "pieces": pieces}
            for (p, r), (n, pieces) in sorted(rows.items())
        ],
    }


__all__ = [
    "KEEP",
    "returns_section",
    "ReturnContext",
    "ReturnLine",
    "edit_from_form",
    "edit_refusal_of",
    "parse_time",
    "return_context",
    "return_from_form",
    "EditOrder",
    "LineEdit",
    "RegisterReturn",
    "apply_wanted",
    "changed_payload",
    "diff",
    "fresh_return_number",
    "free_return_number",
    "returned_so_far",
    "when_words",
]
