"""``dispatchdesk order list|show|new|send|status|trash|cancel|reject|undo|duplicate|archive|unarchive|tag|
refuse-request``: look at orders and act on them.

Each command that changes an order is a small function: it reads its arguments, and ``_do``
previews, asks, and calls the one services function with the previewed version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import click

from .. import cli as _package
from .root import (
    CONTEXT,
    EXIT_OK,
    EXIT_REFUSED,
    LINE,
    REASON,
    STATUS,
    LazyGroup,
    _age,
    _cell,
    _col,
    _open,
    _usage,
    _when,
    complete_order,
    complete_partner,
    db_option,
    err,
    out,
    yes_option,
)


def _confirm(yes: bool, lines: Sequence[str]) -> None:
    """The question, looked up on the package at call time (tests stand in for it there)."""
    _package._confirm(yes, lines)


@click.group(cls=LazyGroup, context_settings=CONTEXT, short_help="look at orders and act on them")
@db_option
def order() -> None:
    """Look at orders and act on them. Every command that changes an order prints what will
    happen and asks "Go ahead? [y/N]", unless --yes."""


def _number(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.argument("number", metavar="NUMBER", shell_complete=complete_order)(f)


def _acting(name: str, short_help: str) -> Callable[[Callable[..., Any]], click.Command]:
    """An order command that changes the order: NUMBER, --yes and --db."""

    def wrap(f: Callable[..., Any]) -> click.Command:
        return order.command(name, context_settings=CONTEXT, short_help=short_help)(
            db_option(yes_option(_without_rules(_number(f)))))

    return wrap


def _remember_without_rules(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta["dispatchdesk.without_rules"] = True


def _without_rules(f: Callable[..., Any]) -> Callable[..., Any]:
    """--without-rules: act with the automation rules set aside (the history says so)."""
    return click.option("--without-rules", is_flag=True, expose_value=False,
                        callback=_remember_without_rules,
                        help="act with the automation rules set aside (the history says so)")(f)


# =========================================================================== orders: reading

_MARK_WORDS = {
    "cancellation requested": "cancel requested",
    "notice waiting": "notice waiting",
    "partner acknowledged": "acknowledged",
    "notice failed": "NOTICE FAILED",
    "partner not informed": "not informed",
    "follow-up open": "follow-up",
    "cancellation refused": "cancel refused",
}


@order.command("list", context_settings=CONTEXT, short_help="list orders")
@db_option
@click.option("--status", "statuses", type=STATUS, multiple=True, help="only this status (repeatable)")
@click.option("--search", metavar="TEXT", default="", help="number, partner, address or reference")
@click.option("--archived", is_flag=True, help="list archived orders instead")
@click.option("--limit", type=int, default=None, metavar="N", help="at most N orders")
def order_list(statuses: tuple[Any, ...], search: str, archived: bool, limit: int | None) -> int:
    """List orders, by status, oldest status change first."""
    from ..domain import ALL_STATUSES
    from ..services import queries

    flt = queries.BoardFilter(text=search, archived=archived, statuses=tuple(statuses) if statuses else ALL_STATUSES)
    depot = _open()
    try:
        cards = queries.board(depot, flt, limit=limit)
        now = depot.now()
    finally:
        depot.close()
    rank = {s: i for i, s in enumerate(ALL_STATUSES)}
    cards.sort(key=lambda c: (rank[c.status], c.status_changed_at))
    if not cards:
        out("No orders match.")
        return EXIT_OK
    out(f"{'NUMBER':<12} {'STATUS':<10} {'DIR':<8} {'FROM → WITH':<40} {'ROUTE':<28} {'AGE':>6}  MARKS")
    for c in cards:
        marks = ", ".join(sorted(_MARK_WORDS.get(m.value, m.value) for m in c.marks))
        out(f"{_col(c.number, 12)} {c.status.label:<10} {c.direction.value:<8} {_col(c.parties or '(own)', 40)} "
            f"{_col(c.route, 28)} {_age(now, c.status_changed_at):>6}  {marks}")
    out(f"{len(cards)} order{'s' if len(cards) != 1 else ''}.")
    return EXIT_OK


@order.command("show", context_settings=CONTEXT, short_help="everything about one order")
@db_option
@_number
def order_show(number: str) -> int:
    """Everything about one order: lines, notices, follow-ups, history, the moves it can make."""
    from ..services import queries

    depot = _open()
    try:
        o = queries.order_detail(depot, number)
        undo_s = depot.undo_seconds()
        now = depot.now()
    finally:
        depot.close()
    _print_detail(o, now, undo_s)
    return EXIT_OK


def _print_detail(o: Any, now: datetime, undo_s: int) -> None:
    from ..domain import Status

    out(f"Order {_cell(o.number)} · {o.status.label} · {o.direction.value}"
        + (" · ARCHIVED" if o.archived else "") + f" · version {o.version}")
    if o.source:
        out(f"  From:        {_cell(o.source)}" + (f" (their order {_cell(o.partner_ref)})" if o.partner_ref else ""))
    if o.assignee:
        out(f"  With:        {_cell(o.assignee)}")
    if o.partner_status:
        out(f"  They report: {Status(o.partner_status).label} at {_when(o.partner_status_at)}")
    out(f"  Pickup:      {_cell(o.pickup_address)}" + (f" (after {_when(o.pickup_after)})" if o.pickup_after else ""))
    out(f"  Delivery:    {_cell(o.delivery_address)}" + (f" (by {_when(o.deliver_by)})" if o.deliver_by else ""))
    out(f"  Goods:       {o.parcels} parcel{'s' if o.parcels != 1 else ''}, {o.weight_kg:g} kg")
    out(f"  Created:     {_when(o.created_at)} ({_age(now, o.created_at)} ago)")
    if o.tags:
        out(f"  Tags:        {', '.join(_cell(t) for t in o.tags)}")
    if o.replaces:
        out(f"  Replaces:    {_cell(o.replaces)}")
    marks = []
    if o.cancellation_requested:
        req = o.cancellation_request or {}
        what = f" by {_cell(req.get('from'))}" if req.get("from") else ""
        msg = f": {_cell(req.get('message'), 120)}" if req.get("message") else ""
        marks.append(f"cancellation requested{what}{msg}")
    if o.partner_not_informed:
        marks.append("partner not informed")
    if o.cancellation_refused:
        marks.append(f"cancellation refused: {_cell(o.cancellation_refused, 160)}")
    for m in marks:
        out(f"  Mark:        {m}")
    if o.undo_until is not None and o.undo_until > now:
        out(f"  Undo:        possible until {o.undo_until.astimezone().strftime('%H:%M:%S')} "
            f"(dispatchdesk order undo {o.number})")
    out("Lines:")
    if not o.lines:
        out("  none")
    for ln in o.lines:
        extra = f", {ln.cancelled} cancelled" if ln.cancelled else ""
        out(f"  {ln.quantity:>4} × {_col(ln.article, 20)} {_cell(ln.description, 60)}{extra}")
    if o.documents:
        out("Documents: " + "; ".join(f"{k.replace('_', ' ')} {_cell(n)}" for k, n in o.documents))
    if o.backorders:
        out("Back-ordered: " + "; ".join(f"{q} × {_cell(a)}" for a, q in o.backorders))
    if o.cancellations:
        out("Cancellations:")
        for c in o.cancellations:
            lines = ", ".join(f"{q} × {_cell(a)}" for a, q in c.lines.items())
            out(f"  {_cell(c.number)} {c.reason or 'no reason'} ({c.state}{', partial' if c.partial else ''}) "
                f"{lines}" + (f" — {_cell(c.comment, 100)}" if c.comment else ""))
            if c.internal_note:
                out(f"    internal note: {_cell(c.internal_note, 200)}")
            if c.answer:
                out(f"    answer: {_cell(c.answer, 200)}")
    if o.returns:
        out("Returns:")
        for r in o.returns:
            lines = ", ".join(f"{q} × {_cell(a)}" for a, q in r.lines.items())
            by = f" (told by {_cell(r.reported_by)})" if r.reported_by else ""
            out(f"  {_cell(r.number)} {_cell(r.reason)} {_when(r.created_at)} {lines}{by}"
                + (f" — {_cell(r.comment, 100)}" if r.comment else ""))
    if o.notices:
        out("Notices:")
        for n in o.notices:
            kind = n.kind.split(".")[-1].replace("_", " ")
            info = f"{n.state.value}"
            if n.attempts:
                info += f", {n.attempts} attempt{'s' if n.attempts != 1 else ''}"
            if n.outcome:
                info += f", {n.outcome}"
            out(f"  {kind:<22} to {_col(n.partner, 28)} by {n.transport:<6} {info}")
            if n.last_error:
                out(f"    last error: {_cell(n.last_error, 200)}")
            if n.answer:
                out(f"    answer: {_cell(n.answer, 200)}")
    if o.followups:
        out("Follow-ups:")
        for f in o.followups:
            state = f"done by {_cell(f.done_by)} {_when(f.done_at)}" if f.done_at else "OPEN"
            out(f"  [{state}] {_cell(f.text, 200)}")
    out("History:")
    for a in o.audit:
        move = ""
        if a.from_status and a.to_status and a.from_status != a.to_status:
            move = f" {Status(a.from_status).label} → {Status(a.to_status).label}"
        undone = " (undone)" if a.undone else ""
        out(f"  {_when(a.at)}  {_col(a.actor, 20)}  {a.action}{move}{undone}")
        if a.detail:
            out(f"      {_cell(a.detail, 300)}")
    allowed = [s.label for s, why in o.moves.items() if why is None]
    out("Can move to: " + (", ".join(allowed) if allowed else "nothing (final)"))



# =========================================================================== orders: new

#: The keys `order new --json` takes: the import's field names, and an own order's customer.
NEW_KEYS = ("partner", "customer", "phone", "partner_ref", "pickup_address", "delivery_address",
            "pickup_after", "deliver_by", "parcels", "weight_kg", "lines", "tags", "note")


def _text(value: Any, key: str) -> str:
    """A JSON value as the form's text: text as it is, numbers written out; others refused."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _usage(f"'{key}' must be text or a number, not {json_type(value)}.")
    return value if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)


def json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true/false"}.get(type(value), type(value).__name__)


def _form_from_json(raw: str) -> Any:
    import json

    from ..services import LineForm, OrderForm

    try:
        data = json.loads(raw)
    except ValueError as e:
        raise _usage(f"Standard input is not one JSON object: {e}.") from None
    if not isinstance(data, dict):
        raise _usage(f"Standard input must be one JSON object (an order), not {json_type(data)}.")
    unknown = [k for k in data if k not in NEW_KEYS]
    if unknown:
        raise _usage(f"A new order has no key {_cell(unknown[0], 40)!r}; it takes: {', '.join(NEW_KEYS)}.")
    lines = data.get("lines") or []
    if not isinstance(lines, list) or not all(isinstance(ln, dict) for ln in lines):
        raise _usage("'lines' must be a list of objects with article, description and quantity.")
    tags = data.get("tags") or []
    if not isinstance(tags, list):
        raise _usage("'tags' must be a list of text.")
    return OrderForm(
        source=_text(data.get("partner"), "partner"),
        **{k: _text(data.get(k), k) for k in NEW_KEYS if k not in ("partner", "lines", "tags")},
        lines=tuple(LineForm(_text(ln.get("article"), "article"), _text(ln.get("description"), "description"),
                             _text(ln.get("quantity"), "quantity")) for ln in lines),
        tags=", ".join(_text(t, "tags") for t in tags),
    )


def _parse_new_line(text: str) -> tuple[str, str, str]:
    """'BOX-S=3 small boxes' -> (article, quantity, description)."""
    article, eq, rest = text.partition("=")
    if not eq or not article.strip():
        raise _usage(f"--line {_cell(text, 40)!r}: write ARTICLE=QTY, optionally followed by a description.")
    qty, _, description = rest.strip().partition(" ")
    return article.strip(), qty, description.strip()


@order.command("new", context_settings=CONTEXT, short_help="a new order (taken by phone); prints its number")
@db_option
@click.option("--from", "source", default="", metavar="PARTNER", shell_complete=complete_partner,
              help="the client or channel it comes from (part of the name will do); none = an own order")
@click.option("--customer", default="", help="an own order: the customer's name")
@click.option("--phone", default="", help="an own order: the customer's phone number")
@click.option("--ref", "partner_ref", default="", help="the partner's own order number")
@click.option("--pickup", "pickup_address", default="", metavar="ADDRESS", help="pickup address")
@click.option("--delivery", "delivery_address", default="", metavar="ADDRESS", help="delivery address")
@click.option("--pickup-after", default="", metavar="WHEN", help="14:00, tomorrow 10:00, mon 8 or ISO 8601")
@click.option("--deliver-by", default="", metavar="WHEN", help="14:00, tomorrow 10:00, mon 8 or ISO 8601")
@click.option("--parcels", default="", metavar="N", help="number of parcels (default 1)")
@click.option("--weight", "weight_kg", default="", metavar="KG", help="weight in kilograms")
@click.option("--line", "lines", multiple=True, metavar="ARTICLE=QTY [DESCRIPTION]",
              help="a line (repeatable), e.g. --line 'BOX-S=3 small boxes'")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="a tag (repeatable)")
@click.option("--note", default="", help="a note for the depot")
@click.option("--json", "from_json", is_flag=True,
              help="read one JSON object from standard input instead (the import's field names)")
@_without_rules
def order_new(from_json: bool, **fields: Any) -> int:
    """Register a new order taken by phone, as the console's new-order form does: Created,
    from a client or channel (--from, part of its name will do) or our own for a named
    customer (--customer, --phone). Every field is checked; each problem is named and nothing
    is written. Prints the new order's number. Nothing is sent to anyone but as the
    automation rules say (the message names those that fired; --without-rules sets them aside).

    With --json, standard input holds one object with the import's field names (partner,
    partner_ref, pickup_address, delivery_address, pickup_after, deliver_by, parcels,
    weight_kg, lines [{article, description, quantity}], tags) and customer, phone, note."""
    import sys

    from ..services import CreateOrder, LineForm, OrderForm

    if from_json:
        given = [k for k, v in fields.items() if v]
        if given:
            raise _usage("Give the order either as options or with --json on standard input, not both.")
        form = _form_from_json(sys.stdin.read())
    else:
        lines = tuple(LineForm(a, d, q) for a, q, d in map(_parse_new_line, fields.pop("lines")))
        tags = ", ".join(fields.pop("tags"))
        form = OrderForm(lines=lines, tags=tags, **fields)
    depot = _open()
    try:
        ctx = click.get_current_context()
        without = bool(ctx.meta.get("dispatchdesk.without_rules"))
        result = CreateOrder(form, without_rules=without).execute(depot)
    finally:
        depot.close()
    err(result.message)
    out(result.order)
    return EXIT_OK


# =========================================================================== orders: acting


def _do(yes: bool, action: Any, *, hint: str = "") -> int:
    """Preview (the confirm's words, from the services), ask, then execute the same typed action
    with the previewed version: if someone changed the order in between, it is refused."""
    import dataclasses

    from ..services import OrderAction

    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get("dispatchdesk.without_rules") and hasattr(action, "without_rules"):
        action = dataclasses.replace(action, without_rules=True)
    depot = _open()
    try:
        pv = action.preview(depot)
        if not pv.allowed:
            for r in pv.refusals:
                err(r)
            if hint:
                err(hint)
            if pv.rules or any(r.startswith("Rule") for r in pv.refusals):
                err("To act with the automation rules set aside, add --without-rules.")
            if "return" in pv.offers:
                err(f"Register the return instead: dispatchdesk order return {action.number} --reason REASON")
            return EXIT_REFUSED
        _confirm(yes, pv.lines)
        if isinstance(action, OrderAction):
            action = dataclasses.replace(action, expected_version=pv.version)
        result = action.execute(depot)
        _print_result(result)
    finally:
        depot.close()
    return EXIT_OK


def _print_result(result: Any) -> None:
    out(result.message)
    if getattr(result, "undo_until", None) is not None:
        out(f"It can be undone until {result.undo_until.astimezone().strftime('%H:%M:%S')}: "
            f"dispatchdesk order undo {result.order}")


@_acting("send", "send to a subcontractor or forward to a warehouse (Created → Dispatched)")
@click.option("--partner", required=True, metavar="NAME", shell_complete=complete_partner)
def order_send(number: str, yes: bool, partner: str) -> int:
    """Send to a subcontractor or forward to a warehouse (Created → Dispatched)."""
    from ..services import Send

    return _do(yes, Send(number, partner=partner))


@_acting("status", "set the status (Created = cancel the sent shipment; Rejected tells nobody)")
@click.argument("status", type=STATUS, metavar="STATUS")
@click.option("--partner", metavar="NAME", shell_complete=complete_partner,
              help="with status dispatched: who to send it to")
def order_status(number: str, yes: bool, status: Any, partner: str | None) -> int:
    """Set the status: created, dispatched, accepted, picked_up, delivered, rejected, cancelled.
    Created takes back a shipment sent; Rejected tells nobody (trash tells them)."""
    from ..domain import Status
    from ..services import SetStatus

    hint = ""
    if status is Status.DISPATCHED and not partner:
        hint = f"Name the partner: dispatchdesk order send {number} --partner NAME"
    elif status is Status.CANCELLED:
        hint = f"Use: dispatchdesk order cancel {number} --reason CODE"
    return _do(yes, SetStatus(number, status=status, partner=partner or None), hint=hint)


@_acting("trash", "reject the order and tell every partner it concerns")
@click.option("--reason", type=REASON, metavar="CODE",
              help="the reason code (default: the one in the partner's settings)")
def order_trash(number: str, yes: bool, reason: Any) -> int:
    """Reject the order and tell every partner it concerns."""
    from ..services import Trash

    return _do(yes, Trash(number, code=reason))


@_acting("cancel", "create a cancellation (all lines, or some with --line)")
@click.option("--reason", type=REASON, metavar="CODE",
              help="NOT_IN_STOCK, DAMAGED, INCOMPLETE, CLIENT_CANCELLED, INVALID_ADDRESS, OTHER")
@click.option("--comment", default="", help="goes to the partner (OTHER needs one)")
@click.option("--note", default="", help="internal note: never leaves the depot")
@click.option("--number", "cancellation_number", default="", metavar="CN",
              help="the cancellation number (default: a fresh one)")
@click.option("--line", "line", type=LINE, multiple=True, metavar="ARTICLE=QTY",
              help="cancel only this quantity of this article (repeatable)")
def order_cancel(number: str, yes: bool, reason: Any, comment: str, note: str, cancellation_number: str,
                 line: tuple[tuple[str, int], ...]) -> int:
    """Create a cancellation (SPEC 4.4). Without --line every open quantity is cancelled."""
    from ..domain import CancellationRequest
    from ..services import Cancel

    lines: dict[str, int] = {}
    for article, qty in line:
        if article in lines:
            raise _usage(f"--line {article}= is given twice.")
        lines[article] = qty
    req = CancellationRequest(reason, comment=comment, internal_note=note,
                              number=cancellation_number, lines=lines)
    return _do(yes, Cancel(number, request=req))


@_acting("reject", "reject with the checks of order reception (SPEC 4.5)")
@click.option("--notify-buyer", is_flag=True, help="tell the partner it came from")
@click.option("--message", default="", help="with --notify-buyer: the message that goes with it")
@click.option("--reason", type=REASON, metavar="CODE",
              help="the reason code (default: the one in the partner's settings)")
def order_reject(number: str, yes: bool, notify_buyer: bool, message: str, reason: Any) -> int:
    """Reject with the checks of order reception (SPEC 4.5)."""
    from ..services import Reject

    if message and not notify_buyer:
        raise _usage("--message goes with --notify-buyer (the message is sent to the buyer).")
    return _do(yes, Reject(number, notify_buyer=notify_buyer, message=message, code=reason))


@_acting("undo", "undo the last action while its undo window is open")
def order_undo(number: str, yes: bool) -> int:
    """Undo the last action while its undo window is open."""
    from ..services import Undo

    return _do(yes, Undo(number))


@_acting("duplicate", "copy as a new order with a new number (it records what it replaces)")
def order_duplicate(number: str, yes: bool) -> int:
    """Copy as a new order with a new number (it records what it replaces)."""
    from ..services import Duplicate

    return _do(yes, Duplicate(number))


@_acting("archive", "archive the order (or bring it back with --restore)")
@click.option("--restore", is_flag=True, help="take it out of the archive")
def order_archive(number: str, yes: bool, restore: bool) -> int:
    """Archive the order (or bring it back with --restore)."""
    from ..services import Archive

    return _do(yes, Archive(number, archived=not restore))


@_acting("unarchive", "bring an archived order back to the working lists")
def order_unarchive(number: str, yes: bool) -> int:
    """Bring an archived order back to the working lists (archived by a dispatcher or
    automatically by the depot); it stays there until its status changes again."""
    from ..services import Unarchive

    return _do(yes, Unarchive(number))


@_acting("tag", "add and remove tags")
@click.option("--add", multiple=True, metavar="TAG")
@click.option("--remove", multiple=True, metavar="TAG")
def order_tag(number: str, yes: bool, add: tuple[str, ...], remove: tuple[str, ...]) -> int:
    """Add and remove tags."""
    from ..services import SetTags

    if not add and not remove:
        raise _usage("Give --add TAG or --remove TAG (or both).")
    return _do(yes, SetTags(number, add=tuple(add), remove=tuple(remove)))


@_acting("refuse-request", "refuse a partner's cancellation request, saying why")
@click.option("--message", required=True, help="why (for example: already picked up; handled as a return)")
def order_refuse_request(number: str, yes: bool, message: str) -> int:
    """Refuse a partner's cancellation request, saying why."""
    from ..services import RefuseRequest

    return _do(yes, RefuseRequest(number, message=message))


from . import order_edit as _order_edit  # noqa: E402,F401 - registers `order edit` and `order return`
