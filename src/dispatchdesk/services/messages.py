"""The declared schemas (pydantic 2) of a partner's messages, one per kind, and the check
that services.inbound.receive runs before it opens a transaction.

Every field a handler reads is declared here, with the domain's limits (the same ones the
import and the new-order form use): a message that breaks one is refused whole
(InvalidInput, the field named), and nothing is stored. Keys a kind does not declare are
left alone, but no string anywhere in a message may hold a lone surrogate: the endpoint
hashes the whole body, and nothing that holds one can be stored or written back out.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, PlainValidator, Strict
from pydantic_core import PydanticCustomError

from ..domain import NoticeKind, limits
from .core import InvalidInput
from .validation import (
    Kilos,
    Schema,
    Text,
    ValidationError,
    When,
    bounds,
    longest,
    problems,
    shown,
    surrogate_places,
    type_name,
)

__all__ = ["check_message"]

_Ref = Annotated[str, Strict(), longest(limits.PARTNER_REF)]


def _quantities(value: Any) -> dict[str, int]:
    """Lines of a cancellation: {"article": quantity} or [{"article", "quantity"}], each
    quantity a whole number from 0 (0: that line stays)."""

    def fail(text: str) -> PydanticCustomError:
        return PydanticCustomError("dd_plain", "{text}", {"text": text})

    out: dict[str, int] = {}
    if isinstance(value, list):
        for i, item in enumerate(value, 1):
            if not isinstance(item, dict):
                raise fail(f"line {i} is not an object.")
            art, q = item.get("article"), item.get("quantity", 0)
            if not isinstance(art, str) or not art or len(art) > limits.ARTICLE:
                raise fail(f"line {i} needs an 'article': text of 1 to {limits.ARTICLE} characters.")
            out[art] = q
    elif isinstance(value, dict):
        out = dict(value)
    else:
        raise fail(f"'lines' must map articles to quantities, not {type_name(value)}.")
    for art, q in out.items():
        if not limits.CANCELLED.holds(q):
            raise fail(f"the quantity of {shown(art)} must be a whole number {limits.CANCELLED.words}.")
    return out


_Quantities = Annotated[dict[str, int], PlainValidator(_quantities)]


class _Message(Schema):
    id: Annotated[str, Strict(), longest(limits.MESSAGE_ID)]
    kind: Annotated[str, Strict(), longest(60)]


class _Line(Schema):
    article: Annotated[str, Strict(), longest(limits.ARTICLE)]
    description: Text | None = None
    quantity: Annotated[int, Strict(), bounds(limits.QUANTITY)] | None = None


class _OrderNew(_Message):
    order: _Ref
    pickup_address: Text | None = None
    delivery_address: Text | None = None
    pickup_after: When | None = None
    deliver_by: When | None = None
    parcels: Annotated[int, Strict(), bounds(limits.PARCELS)] | None = None
    weight_kg: Kilos | None = None
    lines: list[_Line] | None = None


class _AboutOrder(_Message):
    order: _Ref
    your_ref: _Ref | None = None
    message: Text | None = None


class _Cancellation(_AboutOrder):
    lines: _Quantities | None = None
    reason: Annotated[str, Strict(), longest(30)] | None = None
    comment: Text | None = None
    cancellation: Annotated[str, Strict(), longest(79)] | None = None


class _CancelRequest(_AboutOrder):
    lines: _Quantities | None = None


class _Status(_AboutOrder):
    status: Annotated[str, Strict(), longest(30)]


class _Changed(_AboutOrder):
    """SPEC 4.10: the order's values as they now are; a field left out stays as it is."""

    pickup_address: Text | None = None
    delivery_address: Text | None = None
    pickup_after: When | None = None
    deliver_by: When | None = None
    parcels: Annotated[int, Strict(), bounds(limits.PARCELS)] | None = None
    weight_kg: Kilos | None = None
    lines: list[_Line] | None = None


class _Return(_AboutOrder):
    """SPEC 4.11: goods of the order come back."""

    lines: _Quantities | None = None
    reason: Annotated[str, Strict(), longest(30)] | None = None
    comment: Text | None = None
    #: the sender's return number
    return_: Annotated[str, Strict(), longest(100)] | None = Field(default=None, alias="return")


class _Answer(_Message):
    order: _Ref | None = None
    your_ref: _Ref | None = None
    notice: Annotated[str, Strict(), longest(limits.MESSAGE_ID)]
    outcome: Annotated[str, Strict(), longest(20)]
    message: Text | None = None


class _Capabilities(Schema):
    auto_trash: Annotated[bool, Strict()] = False


class _Hello(_Message):
    """SPEC 7: what a linked depot agrees to (sent on link start and on change)."""

    capabilities: _Capabilities


_SCHEMAS: dict[NoticeKind, type[_Message]] = {
    NoticeKind.ORDER: _OrderNew,
    NoticeKind.REVOCATION: _AboutOrder,
    NoticeKind.REJECTION: _AboutOrder,
    NoticeKind.CANCELLATION: _Cancellation,
    NoticeKind.STATUS: _Status,
    NoticeKind.CANCEL_REQUEST: _CancelRequest,
    NoticeKind.CANCEL_REQUEST_REFUSED: _AboutOrder,
    NoticeKind.ANSWER: _Answer,
    NoticeKind.CHANGED: _Changed,
    NoticeKind.RETURN: _Return,
    NoticeKind.HELLO: _Hello,
}


def check_message(msg: dict[str, Any], kind: NoticeKind | None) -> dict[str, Any]:
    """The message with every declared field checked and in its type (times as datetimes,
    cancellation lines as {article: quantity}, order lines as dicts); else InvalidInput naming
    each field that is wrong (the first five). ``kind`` None checks only the id and kind.
    Keys no schema declares are passed on as they came (a handler reading one checks it)."""
    for place, found in surrogate_places(msg):
        if place == "a key":
            where = "A key of the message"
        elif place.startswith("a key of "):
            where = f"A key of the message's {place.removeprefix('a key of ')!r}"
        else:
            where = f"The message's {place!r}"
        raise InvalidInput(
            f"{where} holds a lone surrogate (\\u{ord(found):04x}), half of a character that UTF-8 "
            "cannot store; send the whole character or leave it out."
        )
    schema = _SCHEMAS.get(kind, _Message) if kind is not None else _Message
    try:
        checked = schema.model_validate(msg)
    except ValidationError as e:
        raise InvalidInput(" ".join(_sentence(p.place, p.sentence) for p in problems(e)[:5])) from None
    out = dict(msg)
    out.update(checked.model_dump(exclude_unset=True, exclude_none=True))
    return out


def _sentence(place: str, sentence: str) -> str:
    if sentence.endswith("is missing.") and not place:
        return f"The message has no {sentence.removesuffix(' is missing.')}."
    if place:
        return f"The message's {place}: {sentence}"
    if sentence.startswith("'"):
        return f"The message's {sentence}"
    return f"The message: {sentence}"
