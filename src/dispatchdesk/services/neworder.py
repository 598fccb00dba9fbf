"""A new order taken by phone (issue 8 item 4, SPEC 4.12): the form's text read into an order,
every field checked with the one set of checks (setup.check_order, domain.limits), and the
typed action that creates it.

    check = check_form(depot, OrderForm(source="plain", pickup_address="A", ...))
    check.problems      # {"deliver_by": "Deliver-by is before pickup-after."}: one per field
    check.understood    # {"source": "Plain Client (client)", "pickup_after": "Tue 1 Dec 2026 14:00 (today)"}
    CreateOrder(form).preview(depot) / .execute(depot)

The console's form and `dispatchdesk order new` both go through here: what one accepts the
other accepts too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain import OrderFacts, Role, Status
from ..domain.automation import ChangeFacts, RulePlan
from ..domain.when import parse_when
from ..domain.when import words as when_words
from ..store.models import DepotMeta, Order, Partner
from .actions import Action
from .core import (
    ActionResult,
    Depot,
    InvalidInput,
    Preview,
    load_partner,
    partner_facts,
    snapshot,
)
from .queries import partner_names
from .rulefold import (
    apply_rules,
    arrival_change,
    confirm_lines,
    light_facts,
    note_without_rules,
    preview_fields,
    refuse,
    rules_for,
)
from .setup import LineInput, OrderInput, check_order, insert_order

__all__ = [
    "FORM_FIELDS",
    "DISCARD",
    "CreateOrder",
    "FormCheck",
    "LineForm",
    "OrderForm",
    "check_form",
    "match_partner",
    "read_form",
    "sender_names",
]

#: How the order came in, in the audit (issue 8: "taken by phone").
TAKEN_BY_PHONE = "taken by phone"


@dataclass(frozen=True)
class LineForm:
    """One line as typed: article, description, quantity (empty quantity = 1)."""

    article: str = ""
    description: str = ""
    quantity: str = ""

    @property
    def blank(self) -> bool:
        return not (self.article.strip() or self.description.strip() or self.quantity.strip())


@dataclass(frozen=True)
class OrderForm:
    """The new-order form as typed: every value is the text of its field.

    `source` is the partner (a client or channel) or part of its name; empty for an own order,
    which then names the customer and their phone. `tags` are separated by commas."""

    source: str = ""
    customer: str = ""
    phone: str = ""
    partner_ref: str = ""
    pickup_address: str = ""
    delivery_address: str = ""
    pickup_after: str = ""
    deliver_by: str = ""
    parcels: str = ""
    weight_kg: str = ""
    lines: tuple[LineForm, ...] = ()
    tags: str = ""
    note: str = ""

    @property
    def empty(self) -> bool:
        """Nothing typed (Esc can close the form without asking)."""
        return not any(
            str(getattr(self, f)).strip() for f in FORM_FIELDS if f != "lines"
        ) and all(ln.blank for ln in self.lines)


#: The form's fields, in the order a dispatcher fills them in (lines are "line1", "line2"…).
FORM_FIELDS = (
    "source", "customer", "phone", "partner_ref", "pickup_address", "delivery_address",
    "pickup_after", "deliver_by", "parcels", "weight_kg", "lines", "tags", "note",
)


@dataclass(frozen=True)
class FormCheck:
    """What the form means: the order (None while anything is wrong), one sentence per wrong
    field, and what was understood of the fields read loosely (partner, times, weight)."""

    order: OrderInput | None
    problems: dict[str, str] = field(default_factory=dict)
    understood: dict[str, str] = field(default_factory=dict)
    #: the partner's whole name, when the From field names one (the form writes it out)
    partner: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def match_partner(names: Sequence[str], typed: str) -> tuple[str | None, str | None]:
    """(the partner's name, None), or (None, why not): ``typed`` is the name or part of it,
    in any case; a whole name wins, then one that starts so, then one that holds it."""
    want = " ".join(typed.split()).casefold()
    if not want:
        return None, None
    for rule in (lambda n: n == want, lambda n: n.startswith(want), lambda n: want in n):
        found = [name for name in names if rule(" ".join(name.split()).casefold())]
        if len(found) == 1:
            return found[0], None
        if len(found) > 1:
            shown = ", ".join(found[:4]) + (" …" if len(found) > 4 else "")
            return None, f"{typed.strip()!r} could be {shown}: type more of the name."
    return None, (f"No client or channel is called like {typed.strip()!r}; "
                  "leave it empty for an own order.")


_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")


def _whole(text: str, default: int) -> int | str:
    """A whole number typed, the default when empty, or the text back when it is none."""
    t = text.strip()
    if not t:
        return default
    return int(t) if re.fullmatch(r"[+-]?\d{1,9}", t) else t


def read_form(form: OrderForm, now: datetime, partners: Sequence[tuple[str, str]]) -> FormCheck:
    """Read the form, seen at ``now`` (aware, in the depot's zone), against the partners who
    send us orders (name, role). Every problem is named with its field."""
    problems: dict[str, str] = {}
    understood: dict[str, str] = {}

    def problem(key: str, sentence: str) -> None:
        problems.setdefault(key, sentence)

    source, why = match_partner([n for n, _ in partners], form.source)
    if why:
        problem("source", why)
    elif source is not None:
        role = dict(partners)[source]
        understood["source"] = f"{source} ({role}): an inbound order"
    elif not form.source.strip():
        understood["source"] = "none: an own order, for the customer below"
        if not form.customer.strip():
            problem("customer", "An own order needs the customer's name; or name the partner it comes from.")
        if not form.phone.strip():
            problem("phone", "An own order needs the customer's phone number.")

    times: dict[str, datetime | None] = {}
    for key, label in (("pickup_after", "Pickup after"), ("deliver_by", "Deliver by")):
        text = getattr(form, key)
        times[key] = None
        if text.strip():
            try:
                got = parse_when(text, now, end_of_day=key == "deliver_by")
            except ValueError as e:
                problem(key, f"{label}: {e}")
                continue
            times[key] = got.at
            understood[key] = got.words

    parcels = _whole(form.parcels, 1)
    if isinstance(parcels, str):
        problem("parcels", f"Parcels must be a whole number, not {parcels[:20]!r}.")
        parcels = 1
    weight: Any = 0.0
    w = form.weight_kg.strip().lower().removesuffix("kg").strip()
    if w:
        if _NUMBER.fullmatch(w):
            weight = float(w.replace(",", "."))
            understood["weight_kg"] = f"{weight:g} kg"
        else:
            problem("weight_kg", f"Weight must be a number of kilograms, not {form.weight_kg.strip()[:20]!r}.")

    lines: list[LineInput] = []
    place: dict[int, int] = {}  # line number in the order -> line number in the form
    for i, ln in enumerate(form.lines, 1):
        if ln.blank:
            continue
        qty = _whole(ln.quantity, 1)
        if isinstance(qty, str):
            problem(f"line{i}", f"Line {i}: the quantity must be a whole number, not {qty[:20]!r}.")
            continue
        lines.append(LineInput(article=ln.article, quantity=qty, description=ln.description.strip()))
        place[len(lines)] = i

    tags = [t for t in (" ".join(p.split()) for p in form.tags.split(",")) if t]
    order = OrderInput(
        pickup_address=form.pickup_address,
        delivery_address=form.delivery_address,
        lines=lines,
        parcels=parcels,
        weight_kg=weight,
        pickup_after=times["pickup_after"],
        deliver_by=times["deliver_by"],
        source=source,
        partner_ref=form.partner_ref.strip() or None,
        tags=tags,
        customer=form.customer.strip() or None,
        phone=form.phone.strip() or None,
        note=form.note.strip() or None,
    )
    for key, sentence in check_order(order):
        if key.startswith("line") and key[4:].isdigit():
            n = place.get(int(key[4:]), int(key[4:]))
            key = f"line{n}"
            sentence = re.sub(r"^Line \d+", f"Line {n}", sentence)
        if key == "partner_ref" and form.source.strip() and "source" in problems:
            continue  # the partner is the problem, said once
        problem(key, sentence)
    if source is None and form.partner_ref.strip() and not form.source.strip():
        problems["partner_ref"] = "Their reference needs the partner it came from (the From field)."
    problems = dict(sorted(problems.items(), key=lambda kv: _place_in_form(kv[0])))
    return FormCheck(None if problems else order, problems, understood, partner=source)


def _place_in_form(key: str) -> tuple[int, int]:
    """Where a field is in the form (lines by their number), to name problems top to bottom."""
    if key.startswith("line") and key[4:].isdigit():
        return FORM_FIELDS.index("lines"), int(key[4:])
    return (FORM_FIELDS.index(key) if key in FORM_FIELDS else len(FORM_FIELDS)), 0


_SENDS_US_ORDERS = tuple(r.value for r in Role if r.sends_us_orders)


def _senders(depot: Depot) -> list[tuple[str, str]]:
    q = select(Partner.name, Partner.role).where(Partner.role.in_(_SENDS_US_ORDERS)).order_by(Partner.name)
    with depot.uow(write=False) as uow:
        return [(name, role) for name, role in uow.session.execute(q)]


def check_form(depot: Depot, form: OrderForm) -> FormCheck:
    """read_form against this depot's clients and channels, now, in the depot's zone."""
    return read_form(form, depot.now().astimezone(), _senders(depot))


def sender_names(depot: Depot) -> list[str]:
    """The partners a new order can come from (clients and channels), for the form's hints."""
    return partner_names(depot, roles=_SENDS_US_ORDERS)


#: Esc on a form with typing in it asks this first.
DISCARD = Preview(
    "Throw away the new order?",
    ("What you typed is not saved; no order is created.",
     "No goes back to the form with everything as you left it."),
    yes="Throw it away",
    final=True,
    focus_note="No has the focus: what you typed cannot be brought back.",
)


# --------------------------------------------------------------------------- the action


def _next_free_number(session: Session) -> str:
    """The number the next new order will get, without taking it (what the confirm names)."""
    meta = session.get(DepotMeta, 1)
    prefix, n = (meta.order_prefix, meta.next_order_seq) if meta is not None else ("DD", 1)
    while True:
        number = f"{prefix}-{n:06d}"
        if session.scalar(select(Order.id).where(Order.number == number)) is None:
            return number
        n += 1



@dataclass(frozen=True)
class CreateOrder(Action):
    """Issue 8 item 4: a new order taken by phone (the form, `dispatchdesk order new`): Created,
    inbound from a client or channel or our own for a named customer, "taken by phone" in the
    audit with who took it. Nobody outside the depot is told until it is sent."""

    form: OrderForm
    #: take the order in with the automation rules set aside (the audit says so)
    without_rules: bool = field(default=False, kw_only=True)

    def _rules(self, depot: Depot, session: Session, o: OrderInput) -> RulePlan:
        """What the rules do with the new order (it arrives, and enters Created)."""
        source = load_partner(session, o.source) if o.source else None
        facts = OrderFacts(number=_next_free_number(session), status=Status.CREATED,
                           source=partner_facts(source))
        tags = frozenset(" ".join(t.split()) for t in o.tags)
        return rules_for(depot, session, ChangeFacts(facts, None, tags))

    def _words(self, depot: Depot, check: FormCheck) -> list[str]:
        o = check.order
        assert o is not None
        now = depot.now().astimezone()
        out = ["A new order is created in Created with the next free number, marked taken by phone."]
        if o.source:
            ref = f", their reference {o.partner_ref}" if o.partner_ref else ""
            out.append(f"It comes from {o.source}{ref}: an inbound order.")
        else:
            out.append(f"It is our own order, for {o.customer} (phone {o.phone}); no partner.")
        out.append(f"Pickup: {o.pickup_address.strip()}")
        out.append(f"Delivery: {o.delivery_address.strip()}")
        if o.pickup_after:
            out.append(f"Pickup after {when_words(o.pickup_after, now)}.")
        if o.deliver_by:
            out.append(f"Deliver by {when_words(o.deliver_by, now)}.")
        out.append(f"{o.parcels} parcel{'s' if o.parcels != 1 else ''}, {float(o.weight_kg):g} kg.")
        if o.lines:
            out.append("Lines: " + ", ".join(
                f"{ln.article.strip()} × {ln.quantity}" for ln in o.lines) + ".")
        if o.tags:
            out.append("Tags: " + ", ".join(o.tags) + ".")
        if o.note:
            out.append(f"Note: {o.note}")
        out.append("Nobody outside the depot is told: the order waits in Created until it is sent.")
        return out

    def preview(self, depot: Depot) -> Preview:
        check = check_form(depot, self.form)
        if not check.ok or check.order is None:
            sentences = tuple(check.problems.values())
            return Preview("Create the new order?", sentences, yes="Create", refusals=sentences)
        with depot.uow(write=False) as uow:
            rp = self._rules(depot, uow.session, check.order)
        lines = self._words(depot, check)
        if rp.notices and not self.without_rules:
            lines[-1] = "Only the rules below tell anyone outside the depot."
        about_rules = confirm_lines(rp, self.without_rules)
        lines += about_rules
        refusals = () if self.without_rules else rp.refusals
        return Preview("Create the new order?", tuple(lines), yes="Create", refusals=refusals,
                       rule_lines=len(about_rules), **preview_fields(rp, self.without_rules))

    def execute(self, depot: Depot) -> ActionResult:
        check = check_form(depot, self.form)
        if not check.ok or check.order is None:
            first = next(iter(check.problems))
            raise InvalidInput(" ".join(check.problems.values()), list(check.problems.values()),
                               field=first)
        o = check.order
        who = (f"from {o.source}" + (f" (their reference {o.partner_ref})" if o.partner_ref else "")
               if o.source else f"for {o.customer}, phone {o.phone}")
        detail = f"{who[:1].upper()}{who[1:]}." + (f" Note: {o.note}" if o.note else "")
        done: list[ActionResult] = []

        def fold(session: Session, order: Order, audit_id: int) -> None:
            result = ActionResult(
                order=order.number,
                action=TAKEN_BY_PHONE,
                from_status=Status.CREATED,
                to_status=Status.CREATED,
                version=order.version,
                audit_id=audit_id,
                message=f"Order {order.number} created (Created), taken by phone {who}.",
            )
            if self.without_rules:
                note_without_rules(session, result)
            else:
                facts = light_facts(order)
                tags = (t.name for t in order.tags)
                rp = rules_for(depot, session, arrival_change(order, facts, tags))
                refuse(rp)
                result = apply_rules(depot, session, order, rp, result, base_before=snapshot(order))
            done.append(result)

        insert_order(depot, o, action=TAKEN_BY_PHONE, detail=detail, fold=fold)
        return done[0]
