"""The field types of the declared schemas (pydantic 2) that check what comes from outside,
an import file (services.importer) and a partner's message (services.messages), and the
translation of pydantic's errors into our sentences, each naming its field.

The limits are the domain's (domain.limits), the same ones the new-order form checks.
Numbers are strict (``"2"`` and ``true`` are not numbers; ``2.0`` is not a whole number);
weights must be finite; text is strict, limited in length, and holds no lone surrogate:
pydantic-core refuses one (error ``string_unicode``) in every str field that has a length
limit, so every text field here has one (``longest``, ``Text``); free-form parts
(``FreeObject``) and mapping keys are walked for them here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from ..domain import limits
from ..domain.limits import Range, lone_surrogate
from ..text import clean

__all__ = [
    "NOT_BLANK",
    "Flag",
    "FreeObject",
    "Kilos",
    "Problem",
    "RequiredText",
    "Schema",
    "Text",
    "ValidationError",
    "When",
    "bounds",
    "longest",
    "one_of",
    "parsed",
    "problems",
    "shown",
    "surrogate_places",
    "type_name",
]


class Schema(BaseModel):
    """A record from outside: keys it does not know are left alone (a newer export may carry
    more), every key it knows is checked."""

    model_config = ConfigDict(extra="ignore", frozen=True, revalidate_instances="never")


# --------------------------------------------------------------------------- words


def shown(value: Any, limit: int = 40) -> str:
    """A value from outside, quoted for a sentence (text cleaned and cut short)."""
    if isinstance(value, str):
        return repr(clean(_escape_surrogates(value), single_line=True, limit=limit))
    return repr(value)


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _escape_surrogates(text: str) -> str:
    if lone_surrogate(text) is None:
        return text
    return "".join(f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def _surrogate_words(found: str) -> str:
    return (f"holds a lone surrogate (\\u{ord(found):04x}), half of a character that UTF-8 "
            "cannot store; send the whole character or leave it out.")


def _fail(tail: str, *, keyed: bool = True) -> PydanticCustomError:
    """An error whose sentence we wrote: ``keyed`` ones follow the field's name ("'x' " + tail)."""
    return PydanticCustomError("dd_keyed" if keyed else "dd_plain", "{text}", {"text": tail})


# --------------------------------------------------------------------------- field types
# Used as Annotated[...] metadata in the schemas, e.g. Annotated[int, Strict(), bounds(PARCELS)].


def bounds(r: Range) -> Any:
    """A whole number inside ``r`` (with Strict(): 2.0, "2" and true are refused)."""
    return Field(ge=r.low, le=r.high)


def longest(limit: int) -> Any:
    """Text of at most ``limit`` characters."""
    return Field(max_length=limit)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise _fail("is empty.")
    return value


#: text that may not be blank
NOT_BLANK = AfterValidator(_not_blank)

#: free text of the usual length (addresses, descriptions, comments), and the same not blank
Text = Annotated[str, Strict(), Field(max_length=limits.TEXT)]
RequiredText = Annotated[str, Strict(), Field(max_length=limits.TEXT), NOT_BLANK]


def _kilos(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(f"must be a number, not {type_name(value)} {shown(value)}.")
    if not limits.WEIGHT_KG.holds(value):
        raise _fail(f"must be a number {limits.WEIGHT_KG.words}, not {value}.")
    return float(value)


#: kilograms: a finite number in the domain's range (NaN and 1e999 are refused)
Kilos = Annotated[float, PlainValidator(_kilos)]


def _when(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _fail(f"must be an ISO 8601 time, not {type_name(value)} {shown(value)}.")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"is not an ISO 8601 time: {shown(value)}.") from None
    if t.tzinfo is None:
        raise _fail(f"has no time zone: {shown(value)} (add +00:00 or Z).")
    return t


#: a time as ISO 8601 text with its time zone
When = Annotated[datetime, PlainValidator(_when)]

#: true or false (not 0/1, not "yes")
Flag = Annotated[bool, Strict()]


def _free_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(f"must be an object, not {type_name(value)} {shown(value)}.")
    for found in _surrogates_in(value):
        raise _fail(_surrogate_words(found))
    return value


#: an object of any shape kept as it came (a notice's payload): it only has to be storable
FreeObject = Annotated[dict[str, Any], PlainValidator(_free_object)]


def parsed(parse: Callable[[str], Any], wrong: Callable[[str], str], *, limit: int = 60) -> Any:
    """Text that ``parse`` turns into a value (an enum member…); ``wrong(text)`` words a
    refusal. Use as Annotated[TheType, parsed(...)]."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise _fail(f"must be text, not {type_name(value)} {shown(value)}.")
        if len(value) > limit:
            raise _fail(f"is longer than {limit} characters.")
        try:
            return parse(value)
        except ValueError:
            raise _fail(wrong(value), keyed=False) from None

    return PlainValidator(check)


def one_of(enum: type[Enum], what: str) -> Any:
    """One of an enum's values, kept as text. Use as Annotated[str, one_of(Kind, "kind")]."""
    values = ", ".join(str(e.value) for e in enum)
    return parsed(lambda v: str(enum(v).value), lambda v: f"unknown {what} {shown(v)}; use one of: {values}.")


def _surrogates_in(value: Any) -> Iterator[str]:
    """Every lone surrogate in a JSON-like value, keys included."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            found = lone_surrogate(v)
            if found is not None:
                yield found
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def surrogate_places(value: Any, place: str = "") -> Iterator[tuple[str, str]]:
    """(place, the surrogate) for every string holding one: ``lines[0].description``, or
    ``a key of lines[0]`` (``a key`` at the top) when it is in a key."""
    if isinstance(value, str):
        found = lone_surrogate(value)
        if found is not None:
            yield place, found
    elif isinstance(value, dict):
        for k, v in value.items():
            key = str(k)
            found = lone_surrogate(k) if isinstance(k, str) else None
            if found is not None:
                yield (f"a key of {place}" if place else "a key"), found
                key = _escape_surrogates(k)
            yield from surrogate_places(v, f"{place}.{key}" if place else key)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from surrogate_places(v, f"{place}[{i}]")


# --------------------------------------------------------------------------- errors to words


class Problem:
    """One problem: where it is below the record (``lines[0]``, or ''), and the sentence."""

    __slots__ = ("place", "sentence")

    def __init__(self, place: str, sentence: str) -> None:
        self.place = place
        self.sentence = sentence

    def __repr__(self) -> str:
        return f"Problem({self.place!r}, {self.sentence!r})"


def _place(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _range_words(err: Any, key: str | None) -> str:
    r = _RANGES.get(key or "")
    if r is not None:
        return r.words
    ctx = err.get("ctx") or {}
    if "ge" in ctx:
        return f"{ctx['ge']} or more"
    return f"{ctx.get('le')} or less"


#: the range of a whole-number field, by the field's name, to word "from … to …"
_RANGES: dict[str, Range] = {
    "parcels": limits.PARCELS,
    "quantity": limits.QUANTITY,
    "cancelled": limits.CANCELLED,
    "attempts": limits.ATTEMPTS,
    "seq": limits.SEQ,
}


def problems(error: ValidationError) -> list[Problem]:
    """Our sentences for pydantic's errors: ``'quantity' must be from 1 to 1000000, not 0.``,
    each with the place of the field's record below the top (``lines[0]``)."""
    out: list[Problem] = []
    for err in error.errors(include_url=False, include_context=True):
        loc = tuple(err["loc"])
        kind = err["type"]
        value = err.get("input")
        # the field is the last name in loc; an index after it is an item of a list
        if loc and isinstance(loc[-1], str):
            key: str | None = loc[-1]
            place = _place(loc[:-1])
        else:
            key = None
            place = _place(loc)
        name = f"{key!r} " if key is not None else ""
        if kind == "dd_plain":
            sentence = err["ctx"]["text"]
        elif kind == "dd_keyed":
            sentence = name + err["ctx"]["text"]
        elif kind == "missing" or (kind in ("string_type", "model_type", "list_type") and value is None
                                   and key is not None):
            sentence = f"{name}is missing."
        elif kind == "string_unicode" and isinstance(value, str):
            sentence = name + _surrogate_words(lone_surrogate(value) or "?")
        elif kind == "string_type":
            sentence = f"{name}must be text, not {type_name(value)} {shown(value)}."
        elif kind == "string_too_long":
            sentence = f"{name}is longer than {err['ctx']['max_length']} characters."
        elif kind in ("int_type", "int_parsing", "int_from_float"):
            sentence = f"{name}must be a whole number, not {type_name(value)} {shown(value)}."
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            sentence = f"{name}must be {_range_words(err, key)}, not {value}."
        elif kind == "bool_type":
            sentence = f"{name}must be true or false, not {type_name(value)} {shown(value)}."
        elif kind == "list_type":
            sentence = f"{name}must be a list, not {type_name(value)} {shown(value)}."
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            sentence = f"{name}must be an object, not {type_name(value)}."
        elif kind == "extra_forbidden":
            sentence = f"unknown key {key!r}."
        else:  # a check of ours or one not worded above: pydantic's own words
            sentence = f"{name}{err['msg'][0].lower()}{err['msg'][1:]}."
        out.append(Problem(place, sentence))
    return out
