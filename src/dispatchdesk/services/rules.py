"""Automation rules (issue 14): the typed actions that add, edit, move, turn on and off and delete
them, and the read models the Rules screen and `dispatchdesk rule` show.

    SaveRule(RuleInput("Frozen to Kälte", parse_trigger("enters Created"),
             conditions=(parse_condition("has-tag frozen"),),
             effects=(parse_effect("send Kälte"),))).preview(depot)
    rules(depot)                          # one RuleView per rule, in position order
    rule_test(depot, "Frozen to Kälte", number="DD-000001")

Saving runs the loop check (domain.automation.check_rules) over the whole set and a backtest
against the audit: "would have fired on 14 changes in the last 7 days".
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ..domain import Direction, OrderFacts, Role, Status
from ..domain.automation import (
    CONDITION_HELP,
    EFFECT_HELP,
    TRIGGER_HELP,
    ChangeFacts,
    Condition,
    ConditionKind,
    Effect,
    EffectKind,
    Rule,
    RuleError,
    Trigger,
    TriggerKind,
    check_rules,
    plan_rules,
    trigger_matches,
    why_not,
)
from ..store.models import AuditEntry, AutomationRule, Order, Partner, Tag
from .actions import Action
from .core import (
    Conflict,
    Depot,
    InvalidInput,
    NotFound,
    Preview,
    Refused,
    load_order,
    partner_facts,
)
from .rulefold import light_facts, load_rules, rule_from_row, rules_changed

#: How far back a rule is tried against the audit unless told otherwise.
BACKTEST_DAYS = 7
#: The audit actions by which an order arrives (from a partner, or taken in here).
ARRIVALS = ("received", "created", "taken by phone")


# --------------------------------------------------------------------------- reading typed text


_TRIGGER_WORDS = {
    "enters": TriggerKind.ENTERS,
    "tag-added": TriggerKind.TAG_ADDED,
    "arrives-from": TriggerKind.ARRIVES,
    "arrives": TriggerKind.ARRIVES,
}
_CONDITION_WORDS = {
    "partner": ConditionKind.PARTNER_IS,
    "role": ConditionKind.ROLE_IS,
    "direction": ConditionKind.DIRECTION,
    "has-tag": ConditionKind.HAS_TAG,
    "lacks-tag": ConditionKind.LACKS_TAG,
    "came-from": ConditionKind.CAME_FROM,
}
_EFFECT_WORDS = {
    "send": EffectKind.SEND,
    "add-tag": EffectKind.ADD_TAG,
    "remove-tag": EffectKind.REMOVE_TAG,
    "follow-up": EffectKind.FOLLOW_UP,
    "cancel-at": EffectKind.CANCEL_AT,
}


def _split(text: str, words: dict[str, Any], what: str, help_: str, field_: str) -> tuple[Any, str]:
    head, _, rest = " ".join(text.split()).partition(" ")
    key = head.lower().replace("_", "-")
    if key not in words:
        raise InvalidInput(f"{what} {text.strip()!r} is not one I know; write {help_}.", field=field_)
    return words[key], rest.strip()


def _status(text: str, field_: str) -> Status:
    try:
        return Status.parse(text)
    except ValueError as e:
        msg = str(e)
        raise InvalidInput(msg[:1].upper() + msg[1:] + ".", field=field_) from None


def parse_trigger(text: str) -> Trigger:
    """'enters Created', 'tag-added frozen', 'arrives-from Shopwise', 'arrives-from channel'."""
    kind, rest = _split(text, _TRIGGER_WORDS, "The trigger", TRIGGER_HELP, "trigger")
    if kind is TriggerKind.ENTERS:
        return Trigger(kind, status=_status(rest, "trigger"))
    if kind is TriggerKind.TAG_ADDED:
        return Trigger(kind, tag=rest or None)
    if not rest:
        return Trigger(kind)
    try:
        return Trigger(kind, role=Role(rest.lower()))
    except ValueError:
        return Trigger(kind, partner=rest)


def parse_condition(text: str) -> Condition:
    """'partner Shopwise', 'role channel', 'direction inbound', 'has-tag frozen', 'lacks-tag
    frozen', 'came-from Dispatched'."""
    kind, rest = _split(text, _CONDITION_WORDS, "The condition", CONDITION_HELP, "conditions")
    if kind is ConditionKind.CAME_FROM and rest:
        rest = _status(rest, "conditions").value
    elif kind in (ConditionKind.ROLE_IS, ConditionKind.DIRECTION):
        rest = rest.lower()
    return Condition(kind, rest)


def parse_effect(text: str) -> Effect:
    """'send Kälte', 'add-tag frozen', 'remove-tag new', 'follow-up Phone them', 'cancel-at
    Warehouse: client cancelled'."""
    kind, rest = _split(text, _EFFECT_WORDS, "The effect", EFFECT_HELP, "effects")
    if kind is EffectKind.SEND:
        return Effect(kind, partner=rest or None)
    if kind in (EffectKind.ADD_TAG, EffectKind.REMOVE_TAG):
        return Effect(kind, tag=rest or None)
    if kind is EffectKind.FOLLOW_UP:
        return Effect(kind, text=rest)
    partner, _, reason = rest.partition(":")
    return Effect(kind, partner=partner.strip() or None, text=reason.strip())


# --------------------------------------------------------------------------- read models


@dataclass(frozen=True)
class RuleView:
    """One rule as the Rules screen and `rule list` show it."""

    id: int
    name: str
    position: int
    enabled: bool
    stop_after: bool
    version: int
    trigger: str  # in words: "an order enters Created"
    conditions: tuple[str, ...]
    effects: tuple[str, ...]
    words: str  # the whole rule in one sentence
    updated_at: datetime
    updated_by: str
    rule: Rule  # the domain's rule (the form's fields)


def _view(row: AutomationRule) -> RuleView:
    r = rule_from_row(row)
    return RuleView(
        id=row.id,
        name=row.name,
        position=row.position,
        enabled=row.enabled,
        stop_after=row.stop_after,
        version=row.version,
        trigger=r.trigger.words(),
        conditions=tuple(c.words() for c in r.conditions),
        effects=tuple(e.words() for e in r.effects),
        words=r.words(),
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        rule=r,
    )


def rules(depot: Depot) -> list[RuleView]:
    """Every rule, in position order (the order they are tried in)."""
    with depot.uow(write=False) as uow:
        rows = uow.session.scalars(
            select(AutomationRule).order_by(AutomationRule.position, AutomationRule.id)
        ).all()
        return [_view(r) for r in rows]


def _find(session: Session, ref: str | int) -> AutomationRule:
    """A rule by id (3, "3", "#3") or by name."""
    if isinstance(ref, int):
        row = session.get(AutomationRule, ref)
    else:
        text = " ".join(str(ref).split())
        row = None
        if re.fullmatch(r"#?\d+", text):
            row = session.get(AutomationRule, int(text.lstrip("#")))
        if row is None:
            row = session.scalars(select(AutomationRule).where(AutomationRule.name == text)).first()
    if row is None:
        names = session.scalars(select(AutomationRule.name).order_by(AutomationRule.position)).all()
        known = ", ".join(names) if names else "none yet"
        raise NotFound(f"There is no rule {ref!r} (rules: {known}).")
    return row


@dataclass(frozen=True)
class BacktestHit:
    order: str
    at: datetime
    change: str  # the change it would have fired on, in words


@dataclass(frozen=True)
class RuleTest:
    """What `rule test` says: on one order, whether the rule fires and what it does (or why
    not); over a period, how many changes in the audit it would have fired on."""

    rule: str
    version: int
    lines: tuple[str, ...]
    fires: bool | None = None  # on the order asked about (None: no order asked about)
    count: int = 0
    since: datetime | None = None
    hits: tuple[BacktestHit, ...] = ()


_TAGS_RE = re.compile(r"^Tags: (.*)\.$")
_RULE_TAG_RE = re.compile(r"The tag (.+) is added\.")


@dataclass(frozen=True)
class _Entry:
    """What a backtest reads of an audit entry."""

    order_id: int
    at: datetime
    action: str
    from_status: str | None
    to_status: str | None
    detail: str


def _changes(
    session: Session, since: datetime, trigger: Trigger | None = None, *, tags_needed: bool = True
) -> list[tuple[_Entry, ChangeFacts]]:
    """The changes in the audit since `since` that could be `trigger`'s (every kind when None),
    as the rules see them: partners and tags as they are now, the status before and after
    from the entry. Arrivals, status changes, tags added. Only the columns it needs are read,
    and only the entries the trigger can match (the database does the picking)."""
    a = AuditEntry
    arrival = a.from_status.is_(None) & a.action.in_(ARRIVALS)
    moved = a.from_status.is_not(None) & (a.from_status != a.to_status)
    kind = trigger.kind if trigger is not None else None
    which: ColumnElement[bool]
    if kind is TriggerKind.ENTERS and trigger is not None and trigger.status is not None:
        which = (a.to_status == trigger.status.value) & (moved | arrival)
    elif kind is TriggerKind.ARRIVES:
        which = arrival
    elif kind is TriggerKind.TAG_ADDED:
        which = a.action.in_(("tags", "rule"))
    else:
        which = moved | arrival | a.action.in_(("tags", "rule"))
    q = (
        select(a.order_id, a.at, a.action, a.from_status, a.to_status, a.detail)
        .where(a.at >= since, a.order_id.is_not(None), a.undo_of.is_(None), a.undone_by.is_(None), which)
        .order_by(a.id)
    )
    entries = [_Entry(oid, at, action, frm, to, detail or "")
               for oid, at, action, frm, to, detail in session.execute(q) if oid is not None]
    ids = sorted({e.order_id for e in entries})
    if not ids:
        return []
    partners = {p.id: partner_facts(p) for p in session.scalars(select(Partner))}
    o = Order
    facts: dict[int, OrderFacts] = {}
    tags: dict[int, set[str]] = defaultdict(set)
    for k in range(0, len(ids), 900):
        chunk = ids[k : k + 900]
        for oid, number, status, src, asg, dispatched, received, created in session.execute(
            select(o.id, o.number, o.status, o.source_id, o.assignee_id, o.dispatched_at, o.received_at,
                   o.created_at).where(o.id.in_(chunk))
        ):
            facts[oid] = OrderFacts(number, Status(status), source=partners.get(src) if src else None,
                                    assignee=partners.get(asg) if asg else None, dispatched_at=dispatched,
                                    received_at=received or created)
        if tags_needed:
            for oid, name in session.execute(select(Tag.order_id, Tag.name).where(Tag.order_id.in_(chunk))):
                tags[oid].add(name)
    last_tags: dict[int, frozenset[str]] = {}
    out: list[tuple[_Entry, ChangeFacts]] = []
    for e in entries:
        f = facts.get(e.order_id)
        if f is None:
            continue
        now_tags = frozenset(tags[e.order_id])
        if e.action in ARRIVALS and e.from_status is None:
            out.append((e, ChangeFacts(replace(f, status=Status.CREATED), None, now_tags)))
            continue
        if e.from_status and e.to_status and e.from_status != e.to_status:
            out.append((e, ChangeFacts(replace(f, status=Status(e.to_status)),
                                       Status(e.from_status), now_tags, now_tags)))
        added: frozenset[str] = frozenset()
        m = _TAGS_RE.match(e.detail or "") if e.action == "tags" else None
        if m:
            after = frozenset(t.strip() for t in m.group(1).split(",") if t.strip() and m.group(1) != "none")
            added = after - last_tags.get(e.order_id, frozenset())
            last_tags[e.order_id] = after
        elif e.action == "rule":
            added = frozenset(_RULE_TAG_RE.findall(e.detail or ""))
        if added:
            st = Status(e.to_status) if e.to_status else f.status
            out.append((e, ChangeFacts(replace(f, status=st), st, now_tags | added, now_tags - added)))
    return out


def backtest(session: Session, rule: Rule, since: datetime) -> tuple[int, list[BacktestHit]]:
    """How many changes in the audit since `since` the rule would have fired on (on its
    own: other rules and their chains aside), and which."""
    hits: list[BacktestHit] = []
    probe = replace(rule, enabled=True)
    needs_tags = rule.trigger.kind is TriggerKind.TAG_ADDED or any(
        c.kind in (ConditionKind.HAS_TAG, ConditionKind.LACKS_TAG) for c in rule.conditions)
    for entry, change in _changes(session, since, rule.trigger, tags_needed=needs_tags):
        if why_not(probe, change) is None:
            hits.append(BacktestHit(change.order.number, entry.at, trigger_matches(rule.trigger, change) or ""))
    return len(hits), hits


def _since(depot: Depot, since: datetime | timedelta | None) -> datetime:
    if since is None:
        return depot.now() - timedelta(days=BACKTEST_DAYS)
    if isinstance(since, timedelta):
        return depot.now() - since
    return since


def _period(since: datetime | timedelta | None) -> str:
    """The period a backtest covers, in words: "the last 7 days", "the last 12 hours"."""
    if since is None:
        since = timedelta(days=BACKTEST_DAYS)
    if isinstance(since, datetime):
        return f"since {since:%Y-%m-%d %H:%M} UTC"
    seconds = int(since.total_seconds())
    for size, unit in ((86400 * 7, "week"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            if unit == "week":
                n, unit = n * 7, "day"
            return f"the last {n} {unit}{'s' if n != 1 else ''}"
    return f"the last {seconds} seconds"


def _fired_on(count: int, period: str) -> str:
    return f"Would have fired on {count} change{'s' if count != 1 else ''} in {period}."


def rule_test(
    depot: Depot,
    rule: str | int | Rule,
    number: str | None = None,
    since: datetime | timedelta | None = None,
) -> RuleTest:
    """Try a rule without it acting: on order `number` (would it fire if its trigger happened
    now, and with what effects; or its first failing condition), and against the audit since
    `since` (default the last 7 days)."""
    start = _since(depot, since)
    with depot.uow(write=False) as uow:
        s = uow.session
        r = rule if isinstance(rule, Rule) else rule_from_row(_find(s, rule))
        lines: list[str] = []
        fires: bool | None = None
        if number is not None:
            order = load_order(s, number)
            facts = light_facts(order)
            tags = frozenset(t.name for t in order.tags)
            change = _hypothetical(s, order, r, facts, tags)
            if change is None:
                fires = False
                lines.append(f"Rule {r.label()} cannot fire on order {order.number}: "
                             f"{_no_trigger(r, facts)}.")
            else:
                probe = replace(r, enabled=True)
                names = {e.partner for e in r.effects if e.partner}
                partners = {p.name: partner_facts(p) for p in
                            s.scalars(select(Partner).where(Partner.name.in_(names)))} if names else {}
                plan = plan_rules(change, [probe], partners, depot.now())
                fired = next((f for f in plan.fired if f.rule.key == probe.key), None)
                trig = r.trigger.words()
                if fired is not None and plan.allowed:
                    fires = True
                    lines.append(f"If {trig} now, rule {r.label()} fires on order {order.number}:")
                    lines.extend(f"  {step.words}" for step in fired.steps)
                elif fired is not None:
                    fires = False
                    lines.append(f"If {trig} now, rule {r.label()} would be refused on order {order.number}:")
                    lines.extend(f"  {x}" for x in plan.refusals)
                else:
                    fires = False
                    reason = next((n.reason for n in plan.not_firing if n.rule.key == probe.key), "")
                    lines.append(f"If {trig} now, rule {r.label()} does not fire on order "
                                 f"{order.number}: {reason}.")
                if not r.enabled:
                    lines.append(f"Rule {r.label()} is off: it fires on nothing until it is turned on.")
        count, hits = backtest(s, r, start)
        lines.append(_fired_on(count, _period(since)))
        return RuleTest(r.name, r.version, tuple(lines), fires, count, start, tuple(hits))


def _hypothetical(
    session: Session, order: Order, rule: Rule, facts: OrderFacts, tags: frozenset[str]
) -> ChangeFacts | None:
    """The change the rule's trigger waits for, happening to this order now (None when it
    cannot happen to it: an order arrives only once, from the partner it came from). An order
    already in the status the rule waits for is taken as entering it as it last did (the
    status it came from, from its history)."""
    t = rule.trigger
    if t.kind is TriggerKind.ENTERS and t.status is not None:
        after = replace(facts, status=t.status)
        if t.status is Status.CREATED:  # back in Created, it is with no partner any more
            after = replace(after, assignee=None, dispatched_at=None)
        if facts.status is not t.status:
            return ChangeFacts(after, facts.status, tags, tags)
        came = session.scalar(
            select(AuditEntry.from_status)
            .where(AuditEntry.order_id == order.id, AuditEntry.to_status == t.status.value,
                   AuditEntry.from_status.is_not(None), AuditEntry.from_status != t.status.value)
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
        return ChangeFacts(after, Status(came) if came else None, tags, tags)
    if t.kind is TriggerKind.TAG_ADDED:
        tag = (t.tag or "").strip()
        return ChangeFacts(facts, facts.status, tags | {tag}, tags - {tag})
    change = ChangeFacts(replace(facts, status=Status.CREATED), None, tags)
    return change if trigger_matches(t, change) else None


def _no_trigger(rule: Rule, facts: OrderFacts) -> str:
    src = facts.source
    came = f"it came from {src.name} ({src.role.value})" if src else "it came from no partner"
    return f"it fires when {rule.trigger.words()}, and {came}"


# --------------------------------------------------------------------------- the actions


@dataclass(frozen=True)
class RuleInput:
    """A rule as the form or the command line gives it."""

    name: str
    trigger: Trigger
    conditions: tuple[Condition, ...] = ()
    effects: tuple[Effect, ...] = ()
    enabled: bool = True
    stop_after: bool = False


@dataclass(frozen=True)
class RuleResult:
    rule: RuleView | None  # None once deleted
    message: str


def _check_input(session: Session, rule: Rule) -> Rule:
    """The rule, tidied, or InvalidInput naming the form field (name, trigger, conditions,
    effects) and the problem in one sentence."""
    try:
        rule.check()
    except RuleError as problem:
        raise InvalidInput(str(problem), field=problem.field) from None
    named = {e.partner for e in rule.effects if e.partner} | {
        c.value for c in rule.conditions if c.kind is ConditionKind.PARTNER_IS
    }
    if rule.trigger.partner:
        named.add(rule.trigger.partner)
    found = {p.name: p for p in session.scalars(select(Partner).where(Partner.name.in_(named)))} if named else {}
    known = None
    for place, name in (
        [("trigger", rule.trigger.partner)] if rule.trigger.partner else []
    ) + [("conditions", c.value) for c in rule.conditions if c.kind is ConditionKind.PARTNER_IS] + [
        ("effects", e.partner) for e in rule.effects if e.partner
    ]:
        if name not in found:
            if known is None:
                known = ", ".join(session.scalars(select(Partner.name).order_by(Partner.name)).all()) or "none yet"
            raise InvalidInput(f"There is no partner named {name!r} (partners: {known}).", field=place)
    if rule.trigger.partner and not Role(found[rule.trigger.partner].role).sends_us_orders:
        p = found[rule.trigger.partner]
        raise InvalidInput(f"{p.name} is a {p.role}: orders arrive only from clients and channels.",
                           field="trigger")
    for e in rule.effects:
        if e.kind is EffectKind.SEND and e.partner:
            p = found[e.partner]
            if not Role(p.role).takes_our_orders:
                raise InvalidInput(
                    f"{p.name} is a {p.role}: orders are sent only to a subcontractor or a warehouse.",
                    field="effects",
                )
    for c in rule.conditions:
        if c.kind is ConditionKind.DIRECTION and c.value not in {d.value for d in Direction}:
            raise InvalidInput(f"Direction {c.value!r} is not inbound, outbound or own.", field="conditions")
    return replace(rule, name=" ".join(rule.name.split()))


def _audit(depot: Depot, session: Session, action: str, detail: str) -> None:
    session.add(AuditEntry(order_id=None, at=depot.now(), actor=depot.actor, action=action, detail=detail))


@dataclass(frozen=True)
class SaveRule(Action):
    """Add a rule (rule_id None: at the end, or at `position`) or edit one (its version goes up).
    Saving checks the rule, refuses a set that can loop or contradict itself (the rules named)
    and says how often it would have fired in the last 7 days (the backtest)."""

    rule: RuleInput
    rule_id: int | None = None
    #: the version the dispatcher saw when editing: someone else's edit since is a Conflict
    expected_version: int | None = None

    def _prepare(self, depot: Depot, session: Session) -> tuple[Rule, AutomationRule | None, list[str]]:
        row = session.get(AutomationRule, self.rule_id) if self.rule_id is not None else None
        if self.rule_id is not None and row is None:
            raise NotFound(f"There is no rule {self.rule_id}.")
        if row is not None and self.expected_version is not None and row.version != self.expected_version:
            raise Conflict(f"Rule {row.name!r} was changed by someone else (it is now version "
                           f"{row.version}); nothing was saved. Look again and retry.")
        ri = self.rule
        existing = load_rules(session)
        if row is not None:
            position, version = row.position, row.version + 1
        else:
            position = max((r.position for r in existing), default=0) + 1
            version = 1
        rule = Rule(row.id if row else None, ri.name, ri.trigger, tuple(ri.conditions), tuple(ri.effects),
                    position, ri.enabled, ri.stop_after, version)
        rule = _check_input(session, rule)
        clash = session.scalars(select(AutomationRule).where(AutomationRule.name == rule.name)).first()
        if clash is not None and (row is None or clash.id != row.id):
            raise InvalidInput(f"There is already a rule named {rule.name!r}.", field="name")
        others = [r for r in existing if row is None or r.id != row.id]
        problems = check_rules([*others, rule])
        return rule, row, problems

    def preview(self, depot: Depot) -> Preview:
        with depot.uow(write=False) as uow:
            rule, row, problems = self._prepare(depot, uow.session)
            since = _since(depot, None)
            count, _ = backtest(uow.session, rule, since)
            title = f"Save the changes to rule {row.name!r}?" if row else f"Add the rule {rule.name!r}?"
            lines = [rule.words()]
            if problems:
                lines += [f"Refused: {p}" for p in problems]
            else:
                lines.append(_fired_on(count, _period(None)))
                lines.append("It is on: it acts from now on, and every confirm shows it before it acts."
                             if rule.enabled else "It is off: it does nothing until it is turned on.")
            return Preview(title, tuple(lines), yes="Save", refusals=tuple(problems),
                           version=row.version if row else None)

    def execute(self, depot: Depot) -> RuleResult:
        with depot.uow() as uow:
            s = uow.session
            rule, row, problems = self._prepare(depot, s)
            if problems:
                raise Refused(problems)
            count, _ = backtest(s, rule, _since(depot, None))
            now = depot.now()
            data = dict(
                name=rule.name,
                enabled=rule.enabled,
                stop_after=rule.stop_after,
                trigger=rule.trigger.as_json(),
                conditions=[c.as_json() for c in rule.conditions],
                effects=[e.as_json() for e in rule.effects],
                updated_at=now,
                updated_by=depot.actor,
            )
            if row is None:
                row = AutomationRule(position=rule.position, version=1, created_at=now,
                                     created_by=depot.actor, **data)
                s.add(row)
                verb = "added"
            else:
                for k, v in data.items():
                    setattr(row, k, v)
                row.version = rule.version
                verb = "changed"
            s.flush()
            view = _view(row)
            _audit(depot, s, f"rule {verb}", f"Rule {view.name!r} (version {view.version}) {verb}: {view.words}")
            rules_changed(s)
            uow.commit()
            return RuleResult(view, f"Rule {view.name!r} {verb} (version {view.version}). "
                              + _fired_on(count, _period(None)))


def _renumber(session: Session) -> list[AutomationRule]:
    rows = list(session.scalars(select(AutomationRule).order_by(AutomationRule.position, AutomationRule.id)))
    for i, r in enumerate(rows, 1):
        r.position = i
    return rows


@dataclass(frozen=True)
class MoveRule(Action):
    """Move a rule up (earlier: tried first) or down in the order rules are tried in."""

    rule: str | int
    up: bool = True

    def _target(self, session: Session) -> tuple[AutomationRule, AutomationRule | None]:
        row = _find(session, self.rule)
        rows = list(session.scalars(select(AutomationRule).order_by(AutomationRule.position, AutomationRule.id)))
        i = next(i for i, r in enumerate(rows) if r.id == row.id)
        j = i - 1 if self.up else i + 1
        return row, rows[j] if 0 <= j < len(rows) else None

    def preview(self, depot: Depot) -> Preview:
        with depot.uow(write=False) as uow:
            row, other = self._target(uow.session)
            where = "up" if self.up else "down"
            if other is None:
                edge = "first" if self.up else "last"
                msg = f"Rule {row.name!r} is already {edge}."
                return Preview(f"Move rule {row.name!r} {where}?", (msg,), yes="Move", refusals=(msg,))
            rel = "before" if self.up else "after"
            return Preview(
                f"Move rule {row.name!r} {where}?",
                (f"Rule {row.name!r} is tried {rel} rule {other.name!r}.",),
                yes="Move",
            )

    def execute(self, depot: Depot) -> RuleResult:
        with depot.uow() as uow:
            s = uow.session
            row, other = self._target(s)
            if other is None:
                raise Refused([f"Rule {row.name!r} is already {'first' if self.up else 'last'}."])
            _renumber(s)
            row.position, other.position = other.position, row.position
            s.flush()
            _renumber(s)
            s.flush()
            rel = "before" if self.up else "after"
            _audit(depot, s, "rule moved", f"Rule {row.name!r} moved {rel} rule {other.name!r}.")
            view = _view(row)
            rules_changed(s)
            uow.commit()
            return RuleResult(view, f"Rule {row.name!r} is now tried {rel} rule {other.name!r}.")


@dataclass(frozen=True)
class EnableRule(Action):
    """Turn a rule on (it acts from now on; the loop check runs again) or off."""

    rule: str | int
    enabled: bool = True

    def _check(self, session: Session) -> tuple[AutomationRule, list[str]]:
        row = _find(session, self.rule)
        if not self.enabled:
            return row, []
        rules = [replace(r, enabled=True) if r.id == row.id else r for r in load_rules(session)]
        return row, check_rules(rules)

    def preview(self, depot: Depot) -> Preview:
        with depot.uow(write=False) as uow:
            row, problems = self._check(uow.session)
            verb = "on" if self.enabled else "off"
            if row.enabled == self.enabled:
                msg = f"Rule {row.name!r} is already {verb}."
                return Preview(f"Turn rule {row.name!r} {verb}?", (msg,), yes=f"Turn {verb}", refusals=(msg,))
            lines = (
                [f"Rule {row.name!r} acts from now on: " + _view(row).words]
                if self.enabled
                else [f"Rule {row.name!r} stops acting; it is kept and can be turned on again."]
            )
            lines += [f"Refused: {p}" for p in problems]
            return Preview(f"Turn rule {row.name!r} {verb}?", tuple(lines), yes=f"Turn {verb}",
                           refusals=tuple(problems))

    def execute(self, depot: Depot) -> RuleResult:
        with depot.uow() as uow:
            s = uow.session
            row, problems = self._check(s)
            verb = "on" if self.enabled else "off"
            if row.enabled == self.enabled:
                raise Refused([f"Rule {row.name!r} is already {verb}."])
            if problems:
                raise Refused(problems)
            row.enabled = self.enabled
            row.updated_at = depot.now()
            row.updated_by = depot.actor
            s.flush()
            _audit(depot, s, f"rule turned {verb}", f"Rule {row.name!r} (version {row.version}) turned {verb}.")
            view = _view(row)
            rules_changed(s)
            uow.commit()
            return RuleResult(view, f"Rule {row.name!r} is {verb}.")


@dataclass(frozen=True)
class DeleteRule(Action):
    """Delete a rule. The history keeps what it did (every effect names the rule and version)."""

    rule: str | int

    def preview(self, depot: Depot) -> Preview:
        with depot.uow(write=False) as uow:
            row = _find(uow.session, self.rule)
            return Preview(
                f"Delete rule {row.name!r}?",
                (_view(row).words, "It acts no more; the history keeps what it did.",
                 "It cannot be undone (add it again to have it back)."),
                yes="Delete",
                final=True,
                focus_note="No has the focus: a deleted rule is gone.",
            )

    def execute(self, depot: Depot) -> RuleResult:
        with depot.uow() as uow:
            s = uow.session
            row = _find(s, self.rule)
            name, version = row.name, row.version
            s.delete(row)
            s.flush()
            _renumber(s)
            _audit(depot, s, "rule deleted", f"Rule {name!r} (version {version}) deleted.")
            rules_changed(s)
            uow.commit()
            return RuleResult(None, f"Rule {name!r} deleted.")


def rule_count(session: Session) -> int:
    return session.scalar(select(func.count(AutomationRule.id))) or 0


def rule_names(depot: Depot) -> list[str]:
    with depot.uow(write=False) as uow:
        return list(uow.session.scalars(select(AutomationRule.name).order_by(AutomationRule.position)))


def tag_names(depot: Depot) -> list[str]:
    """Every tag in use, for the rule form's pick lists."""
    with depot.uow(write=False) as uow:
        return list(uow.session.scalars(select(Tag.name).distinct().order_by(Tag.name)))


__all__ = [
    "BACKTEST_DAYS",
    "CONDITION_HELP",
    "EFFECT_HELP",
    "TRIGGER_HELP",
    "BacktestHit",
    "DeleteRule",
    "EnableRule",
    "MoveRule",
    "RuleInput",
    "RuleResult",
    "RuleTest",
    "RuleView",
    "SaveRule",
    "backtest",
    "parse_condition",
    "parse_effect",
    "parse_trigger",
    "rule_names",
    "rule_test",
    "rules",
    "tag_names",
]
