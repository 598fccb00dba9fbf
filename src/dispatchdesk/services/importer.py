"""Import of the JSON export's shape (see ``services.export.json``) into a depot.

Import checks everything first and names every problem with its record (``orders[3]
(number 'DD-000004'), lines[0]: 'quantity' must be …``); it writes nothing unless every
record is right, and then writes all of it in one transaction.

Each record is checked in two steps: its schema (declared below with pydantic, the field
types and limits of services.validation and domain.limits: every wrong field of the record
is named), then the checks that need the depot or the rest of the file (partners, numbers
used twice, references). References are checked in every record; the checks that combine
fields of one record (a Dispatched order needs its assignee, deliver_by after pickup_after,
an article twice) run once its fields are right.

Partners are never imported here: they carry secrets, and they are set up with
``dispatchdesk partner add``. An import refers to partners by name.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

from pydantic import AfterValidator, ConfigDict, PlainValidator, Strict
from pydantic_core import PydanticCustomError
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.schema import Table

from ..domain import (
    Direction,
    DocumentKind,
    NoticeKind,
    NoticeState,
    ReasonCode,
    Role,
    Status,
    Transport,
    limits,
)
from ..domain.automation import NAME_LIMIT as RULE_NAME_LIMIT
from ..domain.automation import TEXT_LIMIT as RULE_TEXT_LIMIT
from ..domain.automation import (
    Condition,
    ConditionKind,
    Effect,
    EffectKind,
    Rule,
    RuleError,
    Trigger,
    TriggerKind,
    check_rules,
)
from ..domain.limits import lone_surrogate
from ..store.models import (
    AuditEntry,
    AutomationRule,
    Backorder,
    Cancellation,
    Document,
    FollowUp,
    Notice,
    Order,
    OrderLine,
    Partner,
    Tag,
)
from ..text import clean
from .core import Depot, InvalidInput, next_number
from .rulefold import load_rules, rules_changed
from .validation import (
    NOT_BLANK,
    Flag,
    FreeObject,
    Kilos,
    RequiredText,
    Schema,
    Text,
    ValidationError,
    When,
    bounds,
    longest,
    one_of,
    parsed,
    shown,
    type_name,
)
from .validation import (
    problems as schema_problems,
)

__all__ = ["ImportResult", "import_json", "read_json_file"]

#: SQLite accepts at most 32766 bound values per statement; stay well below.
_CHUNK = 900


# =========================================================================== import


@dataclass(frozen=True)
class ImportResult:
    source: str
    orders: tuple[str, ...] = ()
    notices: int = 0
    followups: int = 0
    rules: int = 0

    def summary(self) -> str:
        n = len(self.orders)
        parts = [f"{n} order{'s' if n != 1 else ''}"]
        parts.append(f"{self.notices} notice{'s' if self.notices != 1 else ''}")
        parts.append(f"{self.followups} follow-up{'s' if self.followups != 1 else ''}")
        if self.rules:
            parts.append(f"{self.rules} rule{'s' if self.rules != 1 else ''}")
        return f"Imported {', '.join(parts)} from {self.source}."


def read_json_file(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; every problem becomes a sentence naming the file (and line, column)."""
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{p}: no such file; nothing was imported.") from None
    except IsADirectoryError:
        raise InvalidInput(f"{p} is a directory, not a JSON file; nothing was imported.") from None
    except OSError as e:
        raise InvalidInput(f"{p}: cannot read it ({e.strerror or e}); nothing was imported.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InvalidInput(
            f"{p}: line {line}: not UTF-8 text (byte {e.start + 1}); nothing was imported."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInput(
            f"{p}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}; nothing was imported."
        ) from None
    except RecursionError:
        raise InvalidInput(f"{p}: the JSON is nested too deeply; nothing was imported.") from None
    except ValueError as e:  # a number of more than 4300 digits (sys.int_max_str_digits)
        m = re.search(r"has (\d+) digits", str(e))
        size = f"a number of {m.group(1)} digits" if m else "a number too long to read"
        raise InvalidInput(f"{p}: not valid JSON: it holds {size}; nothing was imported.") from None


class _Where:
    """A record's place in the file, worded only when a problem names it (most never do)."""

    __slots__ = ("source", "kind", "i", "key", "value")

    def __init__(self, source: str, kind: str, i: int, key: str = "", value: str | None = None) -> None:
        self.source, self.kind, self.i, self.key, self.value = source, kind, i, key, value

    def __str__(self) -> str:
        label = f" ({self.key} {shown(self.value)})" if self.value is not None else ""
        return f"{self.source}: {self.kind}[{self.i}]{label}"


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str | _Where, text: str) -> None:
        self.items.append(f"{where}: {text}")

    def schema(self, where: str | _Where, error: ValidationError) -> None:
        for p in schema_problems(error):
            self.add(f"{where}, {p.place}" if p.place else where, p.sentence)

    def __bool__(self) -> bool:
        return bool(self.items)


# --------------------------------------------------------------------------- the schemas
# What each record of the file must be, declared; the checks that need the depot or the
# rest of the file (partners, numbers, references) follow in _check.

_STATUSES = ", ".join(x.label for x in Status)
_REASONS = ", ".join(x.value for x in ReasonCode)
_CANCELLATION_STATES = ("done", "pending", "refused", "undone")


def _tag(value: str) -> str:
    t = " ".join(value.split())
    if not t:
        raise PydanticCustomError("dd_plain", "{text}", {"text": "must be non-empty text."})
    if len(t) > limits.TAG:
        raise PydanticCustomError("dd_plain", "{text}", {"text": f"is longer than {limits.TAG} characters."})
    return t


def _quantities(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise PydanticCustomError("dd_keyed", "{text}", {"text": f"must be an object, not {type_name(value)}."})
    for art, q in value.items():
        found = lone_surrogate(art)
        if found is not None:
            raise PydanticCustomError("dd_keyed", "{text}", {"text": (
                f"holds a lone surrogate (\\u{ord(found):04x}) in an article, which UTF-8 cannot store.")})
        if not limits.CANCELLED.holds(q):
            raise PydanticCustomError("dd_plain", "{text}", {"text": (
                f"the quantity of {shown(art)} must be a whole number {limits.CANCELLED.words}.")})
    return value


def _state(v: str) -> str:
    if v not in _CANCELLATION_STATES:
        raise ValueError(v)
    return v


_Name = Annotated[str, Strict(), longest(limits.PARTNER_NAME)]
_Number = Annotated[str, Strict(), longest(limits.ORDER_NUMBER)]
_Short = Annotated[str, Strict(), longest(100)]
_Article = Annotated[str, Strict(), longest(limits.ARTICLE), NOT_BLANK]
_Quantity = Annotated[int, Strict(), bounds(limits.QUANTITY)]
_Status = Annotated[Status, parsed(Status.parse, lambda v: f"unknown status {shown(v)}; the statuses are: {_STATUSES}.")]


class _Line(Schema):
    article: _Article
    description: Text | None = None
    quantity: _Quantity | None = None
    cancelled: Annotated[int, Strict(), bounds(limits.CANCELLED)] | None = None


class _Document(Schema):
    kind: Annotated[str, one_of(DocumentKind, "document kind")]
    number: Annotated[str, Strict(), longest(limits.DOCUMENT_NUMBER), NOT_BLANK]


class _Backorder(Schema):
    article: _Article
    quantity: _Quantity | None = None


class _Cancellation(Schema):
    number: Annotated[str, Strict(), longest(100), NOT_BLANK]
    reason: Annotated[str, parsed(lambda v: ReasonCode.parse(v).value,
                                  lambda v: f"unknown reason code {shown(v)}; the codes are: {_REASONS}.")] | None = None
    comment: Text | None = None
    internal_note: Text | None = None
    lines: Annotated[dict[str, int], PlainValidator(_quantities)] | None = None
    partial: Flag | None = None
    state: Annotated[str, parsed(_state, lambda v: (
        f"unknown state {shown(v)}; use {', '.join(_CANCELLATION_STATES)}."))] | None = None
    answer: Text | None = None
    created_at: When | None = None
    actor: _Short | None = None


class _Flags(Schema):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cancellation_requested: Flag | None = None
    partner_not_informed: Flag | None = None
    archived: Flag | None = None


_NO_FLAGS = _Flags()


class _Order(Schema):
    number: _Number | None = None
    status: _Status | None = None
    direction: Annotated[str, one_of(Direction, "direction")] | None = None
    partner: _Name | None = None
    assignee: _Name | None = None
    partner_ref: Annotated[str, Strict(), longest(limits.PARTNER_REF)] | None = None
    pickup_address: RequiredText
    delivery_address: RequiredText
    pickup_after: When | None = None
    deliver_by: When | None = None
    partner_status_at: When | None = None
    created_at: When | None = None
    received_at: When | None = None
    dispatched_at: When | None = None
    status_changed_at: When | None = None
    parcels: Annotated[int, Strict(), bounds(limits.PARCELS)] | None = None
    weight_kg: Kilos | None = None
    flags: _Flags | None = None
    cancellation_request: FreeObject | None = None
    cancellation_refused: Text | None = None
    partner_status: Annotated[Status, parsed(Status.parse, lambda v: f"unknown 'partner_status' {shown(v)}.")] | None = None
    replaces: _Number | None = None
    tags: list[Annotated[str, Strict(), longest(limits.TEXT), AfterValidator(_tag)]] | None = None
    lines: list[_Line] | None = None
    documents: list[_Document] | None = None
    backorders: list[_Backorder] | None = None
    cancellations: list[_Cancellation] | None = None


class _Notice(Schema):
    id: Annotated[str, Strict(), longest(limits.NOTICE_ID), NOT_BLANK]
    order: _Number | None = None
    partner: _Name | None = None
    kind: Annotated[str, one_of(NoticeKind, "kind")]
    state: Annotated[str, one_of(NoticeState, "state")]
    transport: Annotated[str, one_of(Transport, "transport")]
    payload: FreeObject | None = None
    seq: Annotated[int, Strict(), bounds(limits.SEQ)] | None = None
    attempts: Annotated[int, Strict(), bounds(limits.ATTEMPTS)] | None = None
    created_at: When | None = None
    release_at: When | None = None
    next_attempt_at: When | None = None
    sent_at: When | None = None
    acknowledged_at: When | None = None
    last_error: Text | None = None
    outcome: Annotated[str, Strict(), longest(20)] | None = None
    answer: Text | None = None
    awaits_answer: Flag | None = None


class _FollowUp(Schema):
    order: _Number | None = None
    partner: _Name | None = None
    notice: Annotated[str, Strict(), longest(limits.NOTICE_ID)] | None = None
    text: RequiredText
    done: Flag | None = None
    created_at: When | None = None
    done_at: When | None = None
    done_by: _Short | None = None
    withdrawn: Flag | None = None


_TriggerKind = Annotated[str, one_of(TriggerKind, "trigger kind")]


class _Trigger(Schema):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: _TriggerKind
    status: _Status | None = None
    tag: Annotated[str, Strict(), longest(limits.TEXT), AfterValidator(_tag)] | None = None
    role: Annotated[str, one_of(Role, "role")] | None = None
    partner: _Name | None = None


class _Condition(Schema):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Annotated[str, one_of(ConditionKind, "condition kind")]
    value: Annotated[str, Strict(), longest(limits.PARTNER_NAME), NOT_BLANK]


class _Effect(Schema):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Annotated[str, one_of(EffectKind, "effect kind")]
    partner: _Name | None = None
    tag: Annotated[str, Strict(), longest(limits.TEXT), AfterValidator(_tag)] | None = None
    text: Annotated[str, Strict(), longest(RULE_TEXT_LIMIT)] | None = None


class _Rule(Schema):
    name: Annotated[str, Strict(), longest(RULE_NAME_LIMIT), NOT_BLANK]
    enabled: Flag | None = None
    stop_after: Flag | None = None
    trigger: _Trigger
    conditions: list[_Condition] | None = None
    effects: list[_Effect]
    version: Annotated[int, Strict(), bounds(limits.SEQ)] | None = None
    created_at: When | None = None
    created_by: _Short | None = None
    updated_at: When | None = None
    updated_by: _Short | None = None

    def rule(self, position: int) -> Rule:
        t = self.trigger
        return Rule(
            None,
            " ".join(self.name.split()),
            Trigger(TriggerKind(t.kind), status=t.status, tag=t.tag, role=Role(t.role) if t.role else None,
                    partner=t.partner),
            tuple(Condition(ConditionKind(c.kind), c.value.strip()) for c in self.conditions or ()),
            tuple(Effect(EffectKind(e.kind), partner=e.partner, tag=e.tag, text=e.text or "")
                  for e in self.effects),
            position=position,
            enabled=True if self.enabled is None else bool(self.enabled),
            stop_after=bool(self.stop_after),
            version=self.version or 1,
        )


@dataclass
class _Plan:
    orders: list[dict[str, Any]] = field(default_factory=list)
    lines: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    documents: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    backorders: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    tags: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    cancellations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    replaces: list[tuple[str, str]] = field(default_factory=list)
    notices: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    followups: list[tuple[str | None, str | None, dict[str, Any]]] = field(default_factory=list)
    unnumbered: list[int] = field(default_factory=list)  # indexes into orders needing a number
    rules: list[tuple[Rule, _Rule]] = field(default_factory=list)


def _existing(session: Session, column: Any, values: Iterable[str]) -> set[str]:
    values = sorted(set(values))
    out: set[str] = set()
    for i in range(0, len(values), _CHUNK):
        chunk = values[i : i + _CHUNK]
        out.update(session.scalars(select(column).where(column.in_(chunk))))
    return out


def import_json(depot: Depot, path_or_data: str | os.PathLike[str] | dict[str, Any]) -> ImportResult:
    """Read the export shape and write all of it in one transaction, or nothing.

    Every record is checked first; every problem is reported (InvalidInput, with one reason
    per problem naming the record's place in the file and its number). Partners are referred
    to by name and must exist; an order number already in the depot is refused.
    """
    if isinstance(path_or_data, dict):
        source, data = "the data", path_or_data
    else:
        source = str(path_or_data)
        data = read_json_file(path_or_data)
    if not isinstance(data, dict):
        raise InvalidInput(
            f"{source}: the file must hold one JSON object with \"orders\" (and optionally "
            f"\"notices\" and \"followups\"), not {type_name(data)}; nothing was imported."
        )
    problems = _Problems()
    for key in _KEYS:
        if key in data and not isinstance(data[key], list):
            problems.add(source, f"{key!r} must be a list, not {type_name(data[key])}.")
    if not any(k in data for k in _KEYS):
        problems.add(source, "there is no \"orders\" list (nor \"notices\" or \"followups\").")
    unknown = sorted(shown(k) for k in data if k not in _KEYS)
    if unknown:
        problems.add(source, f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                             "the keys are \"orders\", \"notices\", \"followups\" and \"rules\".")
    if problems:
        _refuse(source, problems)
    raw_orders = data.get("orders") or []
    raw_notices = data.get("notices") or []
    raw_followups = data.get("followups") or []
    raw_rules = data.get("rules") or []

    with depot.uow() as uow:
        s = uow.session
        partners = {p.name: p for p in s.scalars(select(Partner))}
        plan = _check(s, source, partners, raw_orders, raw_notices, raw_followups, problems)
        _check_rules(s, source, partners, raw_rules, problems, plan)
        if problems:
            _refuse(source, problems)
        result = _write(depot, s, source, partners, plan)
        uow.commit()
        return result


_KEYS = ("orders", "notices", "followups", "rules")


def _check_rules(
    s: Session,
    source: str,
    partners: dict[str, Partner],
    raw_rules: list[Any],
    problems: _Problems,
    plan: _Plan,
) -> None:
    """The file's automation rules (issue 14): each checked as the rule form checks it, the
    partners it names must exist, its name must be new, and the whole set (the depot's rules
    and the file's) must pass the loop check. They are added after the depot's rules, in the
    file's order, with their versions."""
    existing = load_rules(s)
    last = max((r.position for r in existing), default=0)
    names = {r.name for r in existing}
    seen: dict[str, int] = {}
    for i, rec in enumerate(raw_rules):
        name_v = _ref(rec, "name")
        where = _Where(source, "rules", i, "name", name_v)
        r = _validated(_Rule, rec, where, problems)
        if r is None:
            continue
        rule = r.rule(last + i + 1)
        try:
            rule.check()
        except RuleError as e:
            problems.add(where, f"{e}")
            continue
        if rule.name in seen:
            problems.add(where, f"rule name {shown(rule.name)} appears twice in the file (also rules[{seen[rule.name]}]).")
            continue
        seen[rule.name] = i
        if rule.name in names:
            problems.add(where, f"rule name {shown(rule.name)} is already used in this depot.")
            continue
        named = [rule.trigger.partner] if rule.trigger.partner else []
        named += [c.value for c in rule.conditions if c.kind is ConditionKind.PARTNER_IS]
        named += [e.partner for e in rule.effects if e.partner]
        missing = [n for n in named if n not in partners]
        if missing:
            known = ", ".join(sorted(partners)) or "none yet; add them with dispatchdesk partner add"
            problems.add(where, f"unknown partner {shown(missing[0])} (partners: {clean(known)}).")
            continue
        plan.rules.append((rule, r))
    if plan.rules:
        for problem in check_rules([*existing, *(r for r, _ in plan.rules)]):
            problems.add(f"{source}: rules", problem)


def _refuse(source: str, problems: _Problems) -> None:
    n = len(problems.items)
    head = f"{source}: {n} problem{'s' if n != 1 else ''}; nothing was imported."
    raise InvalidInput(head, [head, *problems.items])


def _ref(rec: Any, key: str) -> str | None:
    """A reference (a number, a partner's name) as it stands in the raw record, if it is text:
    references are checked even in a record whose other fields are wrong."""
    v = rec.get(key) if isinstance(rec, dict) else None
    return v if isinstance(v, str) and v and lone_surrogate(v) is None else None


_S = TypeVar("_S", bound=Schema)


def _validated(schema: type[_S], rec: Any, where: _Where, problems: _Problems) -> _S | None:
    try:
        return schema.model_validate(rec)
    except ValidationError as e:
        problems.schema(where, e)
        return None


def _check(
    s: Session,
    source: str,
    partners: dict[str, Partner],
    raw_orders: list[Any],
    raw_notices: list[Any],
    raw_followups: list[Any],
    problems: _Problems,
) -> _Plan:
    plan = _Plan()
    numbers_in_file: dict[str, int] = {}
    for i, rec in enumerate(raw_orders):
        num = _ref(rec, "number")
        if num is not None and num.strip():
            numbers_in_file.setdefault(num.strip(), i)
    taken = _existing(s, Order.number, numbers_in_file)
    notice_ids_in_file = {nid for n in raw_notices if (nid := _ref(n, "id")) is not None}
    notice_ids_taken = _existing(s, Notice.id, notice_ids_in_file)
    referenced = {r for rec in (*raw_notices, *raw_followups) if (r := _ref(rec, "order")) is not None}
    referenced |= {r for rec in raw_orders if (r := _ref(rec, "replaces")) is not None}
    in_db = _existing(s, Order.number, referenced - set(numbers_in_file)) | taken
    cn_in_file: set[str] = set()
    all_cn = [
        c.get("number") for rec in raw_orders if isinstance(rec, dict) and isinstance(rec.get("cancellations"), list)
        for c in rec["cancellations"] if _ref(c, "number") is not None
    ]
    cn_taken = _existing(s, Cancellation.number, all_cn)

    def partner_ok(where: _Where, rec: Any, key: str, roles: tuple[Role, ...] | None) -> str | None:
        name = _ref(rec, key)
        if name is None:
            return None
        p = partners.get(name) or partners.get(" ".join(name.split()))
        if p is None:
            known = ", ".join(sorted(partners)) or "none yet; add them with dispatchdesk partner add"
            problems.add(where, f"unknown partner {shown(name)} in {key!r} (partners: {clean(known)}).")
            return None
        if roles is not None and Role(p.role) not in roles:
            want = " or ".join(x.value for x in roles)
            problems.add(where, f"{key!r} names {shown(p.name)}, a {p.role}; it must be a {want}.")
        return p.name

    for i, rec in enumerate(raw_orders):
        num_v = _ref(rec, "number")
        where = _Where(source, "orders", i, "number", num_v)
        o = _validated(_Order, rec, where, problems)
        number = num_v.strip() if num_v is not None else None
        if number is not None:
            if not limits.ORDER_NUMBER_RE.fullmatch(number):
                problems.add(where, "the order number may hold only letters, digits and . _ / - (at most 50).")
            elif numbers_in_file.get(number, i) != i:
                problems.add(where, f"order number {shown(number)} appears twice in the file "
                                    f"(also orders[{numbers_in_file[number]}]).")
            elif number in taken:
                problems.add(where, f"order number {shown(number)} is already used in this depot.")
        src = partner_ok(where, rec, "partner", (Role.CLIENT, Role.CHANNEL))
        asg = partner_ok(where, rec, "assignee", (Role.SUBCONTRACTOR, Role.WAREHOUSE))
        replaces = _ref(rec, "replaces")
        if replaces and replaces not in numbers_in_file and replaces not in in_db:
            problems.add(where, f"'replaces' names order {shown(replaces)}, which is neither in the file nor in the depot.")
        if replaces and replaces == number:
            problems.add(where, "an order cannot replace itself.")
        if o is None:
            continue
        status = o.status or Status.CREATED
        if status is Status.DISPATCHED and not o.assignee:
            problems.add(where, "a Dispatched order needs the partner it was sent to in 'assignee'.")
        if o.partner_ref and not o.partner:
            problems.add(where, "'partner_ref' is the reference of the partner the order came from; "
                                "name that partner in 'partner'.")
        if o.pickup_after and o.deliver_by and o.deliver_by < o.pickup_after:
            problems.add(where, "'deliver_by' is before 'pickup_after'.")

        lines = []
        articles: set[str] = set()
        for j, ln in enumerate(o.lines or ()):
            art = ln.article.strip()
            if art in articles:
                problems.add(f"{where}, lines[{j}]", f"article {shown(art)} appears twice in the order.")
            articles.add(art)
            qty = 1 if ln.quantity is None else ln.quantity
            cancelled = ln.cancelled or 0
            if cancelled > qty:
                problems.add(f"{where}, lines[{j}]", f"'cancelled' ({cancelled}) is more than 'quantity' ({qty}).")
            lines.append({"lineno": j + 1, "article": art, "description": ln.description or "",
                          "quantity": qty, "cancelled": cancelled})
        cancs = []
        for j, c in enumerate(o.cancellations or ()):
            cn = c.number.strip()
            if cn in cn_in_file:
                problems.add(f"{where}, cancellations[{j}]", f"cancellation number {shown(cn)} appears twice in the file.")
            elif cn in cn_taken:
                problems.add(f"{where}, cancellations[{j}]",
                             f"cancellation number {shown(cn)} is already used in this depot.")
            cn_in_file.add(cn)
            cancs.append({
                "number": cn, "reason": c.reason, "comment": c.comment or "",
                "internal_note": c.internal_note or "", "lines": c.lines or {},
                "partial": bool(c.partial), "state": c.state or "done", "answer": c.answer,
                "created_at": c.created_at, "actor": c.actor,
            })

        flags = o.flags or _NO_FLAGS
        key = number or f"#new{i}"
        plan.orders.append({
            "number": number,
            "status": status.value,
            "source": src,
            "assignee": asg,
            "partner_ref": o.partner_ref,
            "pickup_address": o.pickup_address.strip(),
            "delivery_address": o.delivery_address.strip(),
            "parcels": 1 if o.parcels is None else o.parcels,
            "weight_kg": 0.0 if o.weight_kg is None else o.weight_kg,
            "archived": bool(flags.archived),
            "cancellation_requested": bool(flags.cancellation_requested),
            "partner_not_informed": bool(flags.partner_not_informed),
            "cancellation_request": o.cancellation_request,
            "cancellation_refused": o.cancellation_refused,
            "partner_status": o.partner_status.value if o.partner_status else None,
            "_key": key,
            "pickup_after": o.pickup_after,
            "deliver_by": o.deliver_by,
            "partner_status_at": o.partner_status_at,
            "created_at": o.created_at,
            "received_at": o.received_at,
            "dispatched_at": o.dispatched_at,
            "status_changed_at": o.status_changed_at,
        })
        if number is None:
            plan.unnumbered.append(len(plan.orders) - 1)
        plan.lines.extend((key, ln) for ln in lines)
        plan.documents.extend((key, {"kind": d.kind, "number": d.number}) for d in o.documents or ())
        plan.backorders.extend((key, {"article": b.article.strip(), "quantity": 1 if b.quantity is None else b.quantity})
                               for b in o.backorders or ())
        plan.tags.extend((key, {"name": t}) for t in dict.fromkeys(o.tags or ()))
        plan.cancellations.extend((key, c) for c in cancs)
        if replaces:
            plan.replaces.append((key, replaces))

    known_orders = set(numbers_in_file) | in_db
    seen_ids: dict[str, int] = {}
    for i, rec in enumerate(raw_notices):
        nid = _ref(rec, "id")
        where = _Where(source, "notices", i, "id", nid)
        n = _validated(_Notice, rec, where, problems)
        if nid is not None:
            if nid in seen_ids:
                problems.add(where, f"notice id {shown(nid)} appears twice in the file (also notices[{seen_ids[nid]}]).")
            elif nid in notice_ids_taken:
                problems.add(where, f"notice id {shown(nid)} is already in this depot.")
            seen_ids.setdefault(nid, i)
        order = _ref(rec, "order")
        if order is not None and order not in known_orders:
            problems.add(where, f"'order' names {shown(order)}, which is neither in the file nor in the depot.")
        partner = partner_ok(where, rec, "partner", None)
        if isinstance(rec, dict) and not rec.get("partner"):
            problems.add(where, "'partner' is missing: a notice goes to a partner.")
        if n is None:
            continue
        plan.notices.append((order, {
            "id": n.id, "partner": partner, "kind": n.kind, "state": n.state, "transport": n.transport,
            "payload": n.payload or {}, "seq": n.seq, "attempts": n.attempts or 0,
            "created_at": n.created_at, "release_at": n.release_at, "next_attempt_at": n.next_attempt_at,
            "sent_at": n.sent_at, "acknowledged_at": n.acknowledged_at, "last_error": n.last_error,
            "outcome": n.outcome, "answer": n.answer, "awaits_answer": bool(n.awaits_answer),
        }))

    known_notices = set(seen_ids) | notice_ids_taken
    refs = {r for rec in raw_followups if (r := _ref(rec, "notice")) is not None}
    known_notices |= _existing(s, Notice.id, refs - known_notices)
    for i, rec in enumerate(raw_followups):
        where = _Where(source, "followups", i)
        f = _validated(_FollowUp, rec, where, problems)
        order = _ref(rec, "order")
        if order is not None and order not in known_orders:
            problems.add(where, f"'order' names {shown(order)}, which is neither in the file nor in the depot.")
        partner = partner_ok(where, rec, "partner", None)
        notice = _ref(rec, "notice")
        if notice is not None and notice not in known_notices:
            problems.add(where, f"'notice' names {shown(notice)}, which is neither in the file nor in the depot.")
        if f is None:
            continue
        plan.followups.append((order, notice, {
            "partner": partner, "text": f.text, "created_at": f.created_at,
            "done": bool(f.done), "done_at": f.done_at, "done_by": f.done_by,
            "withdrawn": bool(f.withdrawn),
        }))
    return plan


def _write(depot: Depot, s: Session, source: str, partners: dict[str, Partner], plan: _Plan) -> ImportResult:
    now = depot.now()
    pid = {name: p.id for name, p in partners.items()}
    for idx in plan.unnumbered:
        plan.orders[idx]["number"] = next_number(s, "order")
    key_to_number = {o["_key"]: o["number"] for o in plan.orders}

    order_rows = []
    for o in plan.orders:
        created = o["created_at"] or now
        order_rows.append({
            "number": o["number"],
            "version": 1,
            "status": o["status"],
            "source_id": pid.get(o["source"]) if o["source"] else None,
            "assignee_id": pid.get(o["assignee"]) if o["assignee"] else None,
            "partner_ref": o["partner_ref"],
            "pickup_address": o["pickup_address"],
            "delivery_address": o["delivery_address"],
            "pickup_after": o["pickup_after"],
            "deliver_by": o["deliver_by"],
            "parcels": o["parcels"],
            "weight_kg": o["weight_kg"],
            "archived": o["archived"],
            "cancellation_requested": o["cancellation_requested"],
            "cancellation_request": o["cancellation_request"],
            "partner_not_informed": o["partner_not_informed"],
            "cancellation_refused": o["cancellation_refused"],
            "partner_status": o["partner_status"],
            "partner_status_at": o["partner_status_at"],
            "created_at": created,
            "received_at": o["received_at"] or (created if o["source"] else None),
            "dispatched_at": o["dispatched_at"] or (created if o["assignee"] else None),
            "status_changed_at": o["status_changed_at"] or created,
        })
    id_of: dict[str, int] = {}
    if order_rows:
        table = cast(Table, Order.__table__)
        for i in range(0, len(order_rows), 5000):
            chunk = order_rows[i : i + 5000]
            res = s.execute(
                insert(table).returning(table.c.id, table.c.number, sort_by_parameter_order=True), chunk
            )
            id_of.update({number: oid for oid, number in res})
    missing = {number for _, number in plan.replaces if number not in id_of}
    missing |= {o for o, _ in plan.notices if o is not None and o not in id_of}
    missing |= {o for o, _, _ in plan.followups if o is not None and o not in id_of}
    missing_list = sorted(missing)
    for i in range(0, len(missing_list), _CHUNK):
        numbers = missing_list[i : i + _CHUNK]
        id_of.update(dict(s.execute(select(Order.number, Order.id).where(Order.number.in_(numbers))).all()))

    def oid(key: str) -> int:
        return id_of[key_to_number[key]]

    def bulk(model: Any, rows: list[dict[str, Any]]) -> None:
        for i in range(0, len(rows), 5000):
            if rows[i : i + 5000]:
                s.execute(insert(model.__table__), rows[i : i + 5000])

    bulk(OrderLine, [{"order_id": oid(k), **ln} for k, ln in plan.lines])
    bulk(Document, [{"order_id": oid(k), **d, "created_at": now} for k, d in plan.documents])
    bulk(Backorder, [{"order_id": oid(k), **b} for k, b in plan.backorders])
    bulk(Tag, [{"order_id": oid(k), **t} for k, t in plan.tags])
    bulk(Cancellation, [
        {"order_id": oid(k), **{**c, "created_at": c["created_at"] or now, "actor": c["actor"] or depot.actor}}
        for k, c in plan.cancellations
    ])
    if plan.replaces:
        t = cast(Table, Order.__table__)
        s.execute(
            update(t).where(t.c.id == bindparam("oid")).values(replaces_id=bindparam("rid")),
            [{"oid": oid(k), "rid": id_of[n]} for k, n in plan.replaces],
        )

    # notices: keep the file's sequence per order when it is usable, else number them after
    # whatever the order already has
    by_order: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for order_number, n in plan.notices:
        by_order[id_of[order_number] if order_number is not None else None].append(n)
    existing_max: dict[int | None, int] = {}
    new_ids = {id_of[x["number"]] for x in plan.orders}
    old_ids = [o for o in by_order if o is not None and o not in new_ids]
    for i in range(0, len(old_ids), _CHUNK):
        ids = old_ids[i : i + _CHUNK]
        existing_max.update(s.execute(select(Notice.order_id, func.max(Notice.seq))
                                      .where(Notice.order_id.in_(ids)).group_by(Notice.order_id)).all())
    notice_rows = []
    for order_id, ns in by_order.items():
        given = [n["seq"] for n in ns]
        base = existing_max.get(order_id, 0) if order_id is not None else 0
        usable = order_id is not None and base == 0 and None not in given and len(set(given)) == len(given)
        ordered = sorted(ns, key=lambda n: n["seq"] if n["seq"] is not None else 1 << 30) if order_id else ns
        for k, n in enumerate(ordered, 1):
            seq = n["seq"] if usable else (base + k if order_id is not None else 0)
            notice_rows.append({
                "id": n["id"], "order_id": order_id, "partner_id": pid[n["partner"]], "kind": n["kind"],
                "transport": n["transport"], "payload": n["payload"], "state": n["state"], "seq": seq,
                "attempts": n["attempts"], "created_at": n["created_at"] or now, "release_at": n["release_at"],
                "next_attempt_at": n["next_attempt_at"], "last_error": n["last_error"], "sent_at": n["sent_at"],
                "acknowledged_at": n["acknowledged_at"], "outcome": n["outcome"], "answer": n["answer"],
                "awaits_answer": n["awaits_answer"],
            })
    bulk(Notice, notice_rows)
    bulk(FollowUp, [
        {
            "order_id": id_of[o] if o is not None else None,
            "partner_id": pid[f["partner"]] if f["partner"] else None,
            "notice_id": notice,
            "text": f["text"],
            "created_at": f["created_at"] or now,
            "done_at": f["done_at"] or (now if f["done"] else None),
            "done_by": f["done_by"] or (depot.actor if f["done"] else None),
            "withdrawn": f["withdrawn"],
        }
        for o, notice, f in plan.followups
    ])
    name = Path(source).name if source != "the data" else source
    bulk(AutomationRule, [
        {
            "position": rule.position, "name": rule.name, "enabled": rule.enabled,
            "stop_after": rule.stop_after, "trigger": rule.trigger.as_json(),
            "conditions": [c.as_json() for c in rule.conditions],
            "effects": [e.as_json() for e in rule.effects], "version": rule.version,
            "created_at": rec.created_at or now, "created_by": rec.created_by or depot.actor,
            "updated_at": rec.updated_at or now, "updated_by": rec.updated_by or depot.actor,
        }
        for rule, rec in plan.rules
    ])
    if plan.rules:
        rules_changed(s)
    bulk(AuditEntry, [
        {
            "order_id": None, "at": now, "actor": depot.actor, "action": "rule imported",
            "detail": f"Rule {rule.label()} imported from {name}: {rule.words()}",
            "notices": [], "followups": [],
        }
        for rule, _ in plan.rules
    ])
    bulk(AuditEntry, [
        {
            "order_id": id_of[o["number"]], "at": now, "actor": depot.actor, "action": "imported",
            "to_status": o["status"], "detail": f"Order {o['number']} imported from {name}.",
            "after_version": 1, "notices": [], "followups": [],
        }
        for o in plan.orders
    ])
    return ImportResult(source, tuple(o["number"] for o in plan.orders), len(notice_rows), len(plan.followups),
                        len(plan.rules))
