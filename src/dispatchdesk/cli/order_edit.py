"""``dispatchdesk order edit`` (SPEC 4.10) and ``dispatchdesk order return`` (SPEC 4.11).

Both preview, ask and execute the services' typed action (EditOrder, RegisterReturn) through
``order._do``, like every other order command.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from .order import _acting, _do
from .root import ArgType, _usage


def _parse_time(text: str) -> datetime | None:
    """The services' reading of a typed time (ISO, local unless it has a zone; none clears)."""
    from ..services import InvalidInput
    from ..services.changes import parse_time

    try:
        return parse_time(text)
    except InvalidInput as e:
        raise ValueError(str(e).rstrip(".")) from None


def _parse_edit_line(text: str) -> tuple[str, int]:
    article, sep, qty = text.rpartition("=")
    if not sep or not article.strip():
        raise ValueError(f"{text!r} is not ARTICLE=QUANTITY (for example BOX-S=2; 0 removes it)")
    try:
        n = int(qty)
    except ValueError:
        raise ValueError(f"the quantity in {text!r} is not a whole number") from None
    if n < 0:
        raise ValueError(f"the quantity in {text!r} cannot be negative")
    return article.strip(), n


def _parse_return_line(text: str) -> tuple[str, int]:
    article, n = _parse_edit_line(text)
    if n < 1:
        raise ValueError(f"the quantity in {text!r} must be 1 or more")
    return article, n


def _parse_return_reason(text: str) -> Any:
    from ..domain import ReturnReason

    return ReturnReason.parse(text)


def _return_reason_words() -> list[str]:
    from ..domain import ReturnReason

    return [r.value.lower() for r in ReturnReason]


WHEN = ArgType("WHEN", _parse_time)
EDIT_LINE = ArgType("ARTICLE=QTY", _parse_edit_line)
RETURN_LINE = ArgType("ARTICLE=QTY", _parse_return_line)
RETURN_REASON = ArgType("REASON", _parse_return_reason, _return_reason_words)


def _lines(given: tuple[tuple[str, int], ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for article, qty in given:
        if article in out:
            raise _usage(f"--line {article}= is given twice.")
        out[article] = qty
    return out


_UNSET = object()


@_acting("edit", "correct an order before pickup (addresses, times, goods, lines)")
@click.option("--pickup-address", default=None, metavar="TEXT")
@click.option("--delivery-address", default=None, metavar="TEXT")
@click.option("--pickup-after", type=WHEN, default=_UNSET, metavar="WHEN",
              help="ISO date and time (local unless it has a zone), or none")
@click.option("--deliver-by", type=WHEN, default=_UNSET, metavar="WHEN",
              help="ISO date and time (local unless it has a zone), or none")
@click.option("--parcels", type=int, default=None, metavar="N")
@click.option("--weight", "weight_kg", type=float, default=None, metavar="KG")
@click.option("--line", "line", type=EDIT_LINE, multiple=True, metavar="ARTICLE=QTY",
              help="the quantity ordered of this article; a new article adds a line, 0 removes it "
                   "(repeatable)")
def order_edit(number: str, yes: bool, pickup_address: str | None, delivery_address: str | None,
               pickup_after: Any, deliver_by: Any, parcels: int | None, weight_kg: float | None,
               line: tuple[tuple[str, int], ...]) -> int:
    """Correct an order while it is Created, Dispatched or Accepted (SPEC 4.10). The confirm
    lists old → new per field; the partner who has the order is told."""
    from ..services import KEEP, EditOrder, LineEdit

    kw: dict[str, Any] = {}
    for key, value in (("pickup_address", pickup_address), ("delivery_address", delivery_address),
                       ("parcels", parcels), ("weight_kg", weight_kg)):
        if value is not None:
            kw[key] = value
    for key, value in (("pickup_after", pickup_after), ("deliver_by", deliver_by)):
        if value is not _UNSET:
            kw[key] = value
    lines = tuple(LineEdit(a, q) for a, q in _lines(line).items())
    if not kw and not lines:
        raise _usage("Say what to change: --pickup-address, --delivery-address, --pickup-after, "
                     "--deliver-by, --parcels, --weight or --line ARTICLE=QTY.")
    assert KEEP  # every field not given is kept
    return _do(yes, EditOrder(number, lines=lines, **kw))


@_acting("return", "register a return on a Picked up or Delivered order")
@click.option("--reason", "reason", type=RETURN_REASON, required=True, metavar="REASON",
              help="DAMAGED, WRONG_ARTICLE, NOT_WANTED, REFUSED_ON_DELIVERY, LATE, OTHER")
@click.option("--comment", default="", help="goes to the client or channel (OTHER needs one)")
@click.option("--number", "return_number", default="", metavar="RN",
              help="the return number (default: a fresh one)")
@click.option("--line", "line", type=RETURN_LINE, multiple=True, metavar="ARTICLE=QTY",
              help="only this quantity of this article comes back (repeatable; default all)")
def order_return(number: str, yes: bool, reason: Any, comment: str, return_number: str,
                 line: tuple[tuple[str, int], ...]) -> int:
    """Register a return (SPEC 4.11): goods of a Picked up or Delivered order come back. The
    client or channel is told; the status does not change."""
    from ..services import RegisterReturn

    return _do(yes, RegisterReturn(number, lines=_lines(line), reason_code=reason, comment=comment,
                                   return_number=return_number))
