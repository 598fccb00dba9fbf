"""Automation rules (issue 14): "when an order enters a list, act at a partner", decided here as
data before anything happens, so the confirm can show it and the action can commit exactly that.

A rule has a trigger that is a *change* (an order enters a status, a tag is added, an order
arrives from a role or a partner), conditions joined by AND, and effects. `plan_rules` takes the
facts of one change and the depot's rules and returns which rules fire (in position order, each
with its effects in words and as notices and follow-ups), why each other rule does not, and
the refusals (an effect the order rules refuse, a chain deeper than `DEPTH_CAP`). Effects that
are themselves changes (adding a tag, sending: the order enters Dispatched) can trigger rules
in turn; each (rule, order) fires at most once per chain. `check_rules` refuses rule sets that
can loop or contradict themselves, naming the rules.

Plain Python only (no rule-engine library: the maintained ones run actions directly and have
no preview, which is the point of these rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from . import limits
from .model import Direction, NoticeKind, OrderFacts, PartnerFacts, Role, Status, Transport
from .rules import FollowUpPlan, NoticePlan, Plan, delivery, plan_dispatch

#: How many steps a chain of rules may take (the action's own change is step 0).
DEPTH_CAP = 5
NAME_LIMIT = 100
TEXT_LIMIT = 500
#: How a trigger, a condition and an effect are typed (the command line; services.rules reads them).
TRIGGER_HELP = "enters STATUS | tag-added TAG | arrives-from PARTNER or ROLE (client, channel)"
CONDITION_HELP = (
    "partner NAME | role ROLE | direction inbound/outbound/own | has-tag TAG | lacks-tag TAG "
    "| came-from STATUS"
)
EFFECT_HELP = "send PARTNER | add-tag TAG | remove-tag TAG | follow-up TEXT | cancel-at PARTNER[: REASON]"


# --------------------------------------------------------------------------- the model


class TriggerKind(StrEnum):
    ENTERS = "enters"  # the order enters status S
    TAG_ADDED = "tag_added"  # tag T is added to the order
    ARRIVES = "arrives"  # a new order arrives from a role or from a partner


class ConditionKind(StrEnum):
    PARTNER_IS = "partner_is"  # the partner it came from or is with
    ROLE_IS = "role_is"  # the role of the partner it came from or is with
    DIRECTION = "direction"  # inbound / outbound / own
    HAS_TAG = "has_tag"
    LACKS_TAG = "lacks_tag"
    CAME_FROM = "came_from"  # the status it was in before the change


class EffectKind(StrEnum):
    SEND = "send"  # send to a subcontractor or warehouse (Created → Dispatched)
    ADD_TAG = "add_tag"
    REMOVE_TAG = "remove_tag"
    FOLLOW_UP = "follow_up"  # a follow-up for a person, with a text
    CANCEL_AT = "cancel_at"  # tell a partner of the cancellation, by that partner's cancel method


class RuleError(ValueError):
    """A rule that cannot be: `field` names the part of the rule form it belongs to."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


@dataclass(frozen=True)
class Trigger:
    kind: TriggerKind
    status: Status | None = None  # ENTERS
    tag: str | None = None  # TAG_ADDED
    role: Role | None = None  # ARRIVES from any partner of this role
    partner: str | None = None  # ARRIVES from this partner

    def words(self) -> str:
        if self.kind is TriggerKind.ENTERS:
            return f"an order enters {self.status.label if self.status else '?'}"
        if self.kind is TriggerKind.TAG_ADDED:
            return f"the tag {self.tag} is added"
        if self.partner:
            return f"an order arrives from {self.partner}"
        if self.role:
            return f"an order arrives from {_article(self.role.value)}"
        return "an order arrives"

    def short(self) -> str:
        """The trigger in a few words, for a rule's line in a list."""
        if self.kind is TriggerKind.ENTERS:
            return f"enters {self.status.label if self.status else '?'}"
        if self.kind is TriggerKind.TAG_ADDED:
            return f"tag {self.tag} added"
        if self.partner:
            return f"arrives from {self.partner}"
        return f"arrives from any {self.role.value}" if self.role else "arrives"

    def check(self) -> None:
        if self.kind is TriggerKind.ENTERS and self.status is None:
            raise RuleError("Choose the status the order enters.", "trigger")
        if self.kind is TriggerKind.TAG_ADDED and not (self.tag or "").strip():
            raise RuleError("Choose the tag whose adding starts the rule.", "trigger")
        if len((self.tag or "").strip()) > limits.TAG:
            raise RuleError(f"The tag {(self.tag or '')[:20]!r}… is longer than {limits.TAG} characters.", "trigger")
        if self.kind is TriggerKind.ARRIVES and self.role is not None and not self.role.sends_us_orders:
            raise RuleError(
                f"Orders arrive only from clients and channels, not from {_article(self.role.value)}.",
                "trigger",
            )

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            **({"status": self.status.value} if self.status else {}),
            **({"tag": self.tag} if self.tag else {}),
            **({"role": self.role.value} if self.role else {}),
            **({"partner": self.partner} if self.partner else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Trigger:
        return cls(
            TriggerKind(data["kind"]),
            status=Status(data["status"]) if data.get("status") else None,
            tag=data.get("tag") or None,
            role=Role(data["role"]) if data.get("role") else None,
            partner=data.get("partner") or None,
        )


@dataclass(frozen=True)
class Condition:
    kind: ConditionKind
    value: str

    def words(self) -> str:
        k, v = self.kind, self.value
        if k is ConditionKind.PARTNER_IS:
            return f"the partner is {v}"
        if k is ConditionKind.ROLE_IS:
            return f"the partner is {_article(v)}"
        if k is ConditionKind.DIRECTION:
            return f"the order is {v}"
        if k is ConditionKind.HAS_TAG:
            return f"it has the tag {v}"
        if k is ConditionKind.LACKS_TAG:
            return f"it lacks the tag {v}"
        return f"it came from {Status(v).label}"

    def check(self) -> None:
        v = self.value.strip()
        if not v:
            raise RuleError(f"A condition '{self.kind.value.replace('_', ' ')}' needs a value.", "conditions")
        try:
            if self.kind is ConditionKind.ROLE_IS:
                Role(v)
            elif self.kind is ConditionKind.DIRECTION:
                Direction(v)
            elif self.kind is ConditionKind.CAME_FROM:
                Status(v)
        except ValueError:
            raise RuleError(f"{v!r} is not a {self.kind.value.split('_')[0]} a condition can name.",
                            "conditions") from None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "value": self.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Condition:
        return cls(ConditionKind(data["kind"]), str(data["value"]))


@dataclass(frozen=True)
class Effect:
    kind: EffectKind
    partner: str | None = None  # SEND, CANCEL_AT
    tag: str | None = None  # ADD_TAG, REMOVE_TAG
    text: str = ""  # FOLLOW_UP: the follow-up; CANCEL_AT: the reason

    def words(self) -> str:
        k = self.kind
        if k is EffectKind.SEND:
            return f"send it to {self.partner}"
        if k is EffectKind.ADD_TAG:
            return f"add the tag {self.tag}"
        if k is EffectKind.REMOVE_TAG:
            return f"remove the tag {self.tag}"
        if k is EffectKind.FOLLOW_UP:
            return f"create a follow-up: {self.text}"
        return f"cancel it at {self.partner} (reason: {self.text or 'none given'})"

    def short(self) -> str:
        """The effect in a few words, for a rule's line in a list."""
        k = self.kind
        if k is EffectKind.SEND:
            return f"send to {self.partner}"
        if k is EffectKind.ADD_TAG:
            return f"+tag {self.tag}"
        if k is EffectKind.REMOVE_TAG:
            return f"-tag {self.tag}"
        if k is EffectKind.FOLLOW_UP:
            return "follow-up"
        return f"cancel at {self.partner}"

    def check(self) -> None:
        k = self.kind
        if k in (EffectKind.SEND, EffectKind.CANCEL_AT) and not (self.partner or "").strip():
            raise RuleError(f"The effect '{self.words().split(' ')[0]}' needs a partner.", "effects")
        if k in (EffectKind.ADD_TAG, EffectKind.REMOVE_TAG):
            tag = (self.tag or "").strip()
            if not tag:
                raise RuleError("A tag effect needs the tag.", "effects")
            if len(tag) > limits.TAG:
                raise RuleError(f"The tag {tag[:20]!r}… is longer than {limits.TAG} characters.", "effects")
        if k is EffectKind.FOLLOW_UP and not self.text.strip():
            raise RuleError("A follow-up effect needs the text of the follow-up.", "effects")
        if len(self.text) > TEXT_LIMIT:
            raise RuleError(f"An effect's text is longer than {TEXT_LIMIT} characters.", "effects")

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            **({"partner": self.partner} if self.partner else {}),
            **({"tag": self.tag} if self.tag else {}),
            **({"text": self.text} if self.text else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Effect:
        return cls(
            EffectKind(data["kind"]),
            partner=data.get("partner") or None,
            tag=data.get("tag") or None,
            text=str(data.get("text") or ""),
        )


@dataclass(frozen=True)
class Rule:
    id: int | None
    name: str
    trigger: Trigger
    conditions: tuple[Condition, ...] = ()
    effects: tuple[Effect, ...] = ()
    position: int = 0
    enabled: bool = True
    stop_after: bool = False
    version: int = 1

    @property
    def key(self) -> Any:
        """What identifies the rule within a chain (its id, or its name before it is saved)."""
        return self.id if self.id is not None else self.name

    def check(self) -> None:
        """RuleError (with the form field) when the rule cannot be saved as it is."""
        name = " ".join(self.name.split())
        if not name:
            raise RuleError("A rule needs a name.", "name")
        if len(name) > NAME_LIMIT:
            raise RuleError(f"The rule's name is longer than {NAME_LIMIT} characters.", "name")
        self.trigger.check()
        for c in self.conditions:
            c.check()
        if not self.effects:
            raise RuleError("A rule needs at least one effect.", "effects")
        for e in self.effects:
            e.check()

    def words(self) -> str:
        when = f"When {self.trigger.words()}"
        if self.conditions:
            when += " and " + " and ".join(c.words() for c in self.conditions)
        return when + ": " + "; ".join(e.words() for e in self.effects) + (
            "; then stop" if self.stop_after else ""
        ) + "."

    def short(self) -> str:
        """The rule in short words, for its line in a list: trigger (how many conditions) →
        effects; `words()` is the whole sentence."""
        when = self.trigger.short()
        if self.conditions:
            n = len(self.conditions)
            when += f" (+{n} condition{'s' if n > 1 else ''})"
        then = ", ".join(e.short() for e in self.effects)
        return f"{when} → {then}" + (" · stop" if self.stop_after else "")

    def label(self) -> str:
        return f"{self.name!r} (version {self.version})"


# --------------------------------------------------------------------------- the facts of a change


@dataclass(frozen=True)
class ChangeFacts:
    """One change to one order, as the rules see it: the order after it, where it was before.

    `before` is the status before the change (None: the order has just arrived); `tags` the
    tags after it, `tags_before` those before. `planned` are the notices the action itself
    already sends (a rule's effect that would send the same does nothing)."""

    order: OrderFacts
    before: Status | None
    tags: frozenset[str] = frozenset()
    tags_before: frozenset[str] = frozenset()
    planned: tuple[NoticePlan, ...] = ()
    undoable: bool = False  # the action can be undone: what rules send waits for the window

    @property
    def arrived(self) -> bool:
        return self.before is None

    @property
    def entered(self) -> Status | None:
        if self.before is None or self.before is not self.order.status:
            return self.order.status
        return None

    @property
    def added(self) -> frozenset[str]:
        return self.tags - self.tags_before

    def partners(self) -> tuple[PartnerFacts, ...]:
        return tuple(p for p in (self.order.source, self.order.assignee) if p is not None)


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class EffectStep:
    """One effect of a firing rule: in words, and what it writes. `noop` when it changes
    nothing (the tag is there already, the order is already with that partner)."""

    effect: Effect
    words: str
    notices: tuple[NoticePlan, ...] = ()
    followups: tuple[FollowUpPlan, ...] = ()
    plan: Plan | None = None  # a send: the order rules' own dispatch plan
    noop: bool = False


@dataclass(frozen=True)
class Firing:
    rule: Rule
    steps: tuple[EffectStep, ...]
    depth: int  # 0: on the action's own change; 1: on a change an earlier rule made …
    because: str  # the change that triggered it, in words


@dataclass(frozen=True)
class NotFiring:
    rule: Rule
    reason: str


@dataclass(frozen=True)
class RulePlan:
    fired: tuple[Firing, ...] = ()
    not_firing: tuple[NotFiring, ...] = ()
    refusals: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()  # the order's tags once every rule has acted
    tags_before: frozenset[str] = frozenset()

    @property
    def allowed(self) -> bool:
        return not self.refusals

    @property
    def empty(self) -> bool:
        return not self.fired and not self.refusals

    @property
    def notices(self) -> tuple[NoticePlan, ...]:
        return tuple(n for f in self.fired for s in f.steps for n in s.notices)

    @property
    def followups(self) -> tuple[FollowUpPlan, ...]:
        return tuple(x for f in self.fired for s in f.steps for x in s.followups)

    def lines(self) -> list[str]:
        """What the confirm says of the rules, one sentence per effect."""
        out: list[str] = []
        for f in self.fired:
            out.append(f"Rule {f.rule.label()} fires ({f.because}):")
            out.extend(f"  {s.words}" for s in f.steps)
        out.extend(f"Refused: {r}" for r in self.refusals)
        return out


def _enters(status: Status) -> str:
    return f"it enters {status.label}"


def _events(change: ChangeFacts) -> list[str]:
    out = []
    if change.arrived:
        src = change.order.source
        out.append(f"it arrives from {src.name}" if src else "it is taken in")
    if change.entered is not None:
        out.append(_enters(change.entered))
    out.extend(f"the tag {t} is added" for t in sorted(change.added))
    return out


def trigger_matches(trigger: Trigger, change: ChangeFacts) -> str | None:
    """The change, in words, when it is this trigger's; None when it is not."""
    k = trigger.kind
    if k is TriggerKind.ENTERS:
        if change.entered is not None and change.entered is trigger.status:
            return _enters(change.entered)
        return None
    if k is TriggerKind.TAG_ADDED:
        tag = (trigger.tag or "").strip()
        return f"the tag {tag} is added" if tag in change.added else None
    if not change.arrived:
        return None
    src = change.order.source
    if trigger.partner is not None and (src is None or src.name != trigger.partner):
        return None
    if trigger.role is not None and (src is None or src.role is not trigger.role):
        return None
    return f"it arrives from {src.name}" if src else "it is taken in"


def failing_condition(conditions: Iterable[Condition], change: ChangeFacts) -> str | None:
    """The first condition that does not hold, worded for the confirm; None when all hold."""
    order = change.order
    partners = change.partners()
    for c in conditions:
        v = c.value
        k = c.kind
        if k is ConditionKind.PARTNER_IS:
            if not any(p.name == v for p in partners):
                named = " or ".join(p.name for p in partners) or "no partner"
                return f"the partner is not {v} (it is {named})"
        elif k is ConditionKind.ROLE_IS:
            if not any(p.role.value == v for p in partners):
                return f"no partner of the order is {_article(v)}"
        elif k is ConditionKind.DIRECTION:
            if order.direction.value != v:
                return f"the order is {order.direction.value}, not {v}"
        elif k is ConditionKind.HAS_TAG:
            if v not in change.tags:
                return f"it lacks the tag {v}"
        elif k is ConditionKind.LACKS_TAG:
            if v in change.tags:
                return f"it has the tag {v}"
        elif k is ConditionKind.CAME_FROM:
            before = change.before
            if before is None or before.value != v:
                was = before.label if before is not None else "nowhere (it is new)"
                return f"it came from {was}, not {Status(v).label}"
    return None


def why_not(rule: Rule, change: ChangeFacts) -> str | None:
    """Why the rule does not fire on this change ("off", "not this trigger", or its first
    failing condition); None when it fires."""
    if not rule.enabled:
        return "it is off"
    if trigger_matches(rule.trigger, change) is None:
        return f"not this trigger: it fires when {rule.trigger.words()}"
    failing = failing_condition(rule.conditions, change)
    if failing is not None:
        return failing
    return None


@dataclass
class _State:
    """The order as the chain leaves it so far."""

    order: OrderFacts
    tags: set[str]
    told: set[tuple[str, NoticeKind]]
    followups: set[tuple[str | None, str]]


def plan_rules(
    change: ChangeFacts,
    rules: Sequence[Rule],
    partners: Mapping[str, PartnerFacts],
    now: datetime,
    *,
    cap: int = DEPTH_CAP,
) -> RulePlan:
    """Which rules fire on this change (and on the changes their effects make), in position
    order, with their effects; why the others do not; and what refuses the whole (an effect
    the order rules refuse, a chain longer than `cap`). `partners` are the partners the rules'
    effects name (one missing is a refusal)."""
    ordered = sorted(rules, key=lambda r: (r.position, r.name))
    state = _State(
        change.order,
        set(change.tags),
        {(n.partner, n.kind) for n in change.planned},
        set(),
    )
    fired: list[Firing] = []
    done: set[Any] = set()
    first_reason: dict[Any, str] = {}
    refusals: list[str] = []
    queue: list[tuple[ChangeFacts, int, str]] = [(change, 0, "")]
    while queue and not refusals:
        current, depth, path = queue.pop(0)
        stopped_by: Rule | None = None
        for rule in ordered:
            if rule.key in done:
                continue
            if stopped_by is not None:
                first_reason.setdefault(
                    rule.key, f"rule {stopped_by.label()} fired first and stops the rules after it"
                )
                continue
            reason = why_not(rule, current)
            if reason is not None:
                first_reason.setdefault(rule.key, reason)
                continue
            because = trigger_matches(rule.trigger, current) or ""
            if depth >= cap:
                refusals.append(
                    f"Rules go more than {cap} steps deep on order {change.order.number} "
                    f"({path} → {rule.name}): nothing is done. Change the rules, or act without rules."
                )
                break
            done.add(rule.key)
            steps, changes = _apply(rule, current, state, partners, now, change.undoable, refusals)
            fired.append(Firing(rule, tuple(steps), depth, because))
            trail = f"{path} → {rule.name}" if path else rule.name
            queue.extend((c, depth + 1, trail) for c in changes)
            if rule.stop_after:
                stopped_by = rule
    fired_keys = {f.rule.key for f in fired}
    not_firing = tuple(
        NotFiring(r, first_reason.get(r.key, "it is off" if not r.enabled else "not this trigger"))
        for r in ordered
        if r.key not in fired_keys
    )
    return RulePlan(
        tuple(fired),
        not_firing,
        tuple(refusals),
        tags=frozenset(state.tags),
        tags_before=change.tags_before,
    )


def _apply(
    rule: Rule,
    change: ChangeFacts,
    state: _State,
    partners: Mapping[str, PartnerFacts],
    now: datetime,
    undoable: bool,
    refusals: list[str],
) -> tuple[list[EffectStep], list[ChangeFacts]]:
    """The rule's effects on the chain's state, in order: their steps and the new changes."""
    steps: list[EffectStep] = []
    changes: list[ChangeFacts] = []
    n = state.order.number
    for e in rule.effects:
        k = e.kind
        if k is EffectKind.ADD_TAG:
            tag = (e.tag or "").strip()
            if tag in state.tags:
                steps.append(EffectStep(e, f"The tag {tag} is there already: nothing to add.", noop=True))
                continue
            before = frozenset(state.tags)
            state.tags.add(tag)
            steps.append(EffectStep(e, f"The tag {tag} is added."))
            changes.append(
                ChangeFacts(state.order, state.order.status, frozenset(state.tags), before)
            )
        elif k is EffectKind.REMOVE_TAG:
            tag = (e.tag or "").strip()
            if tag not in state.tags:
                steps.append(EffectStep(e, f"The tag {tag} is not there: nothing to remove.", noop=True))
                continue
            state.tags.discard(tag)
            steps.append(EffectStep(e, f"The tag {tag} is removed."))
        elif k is EffectKind.FOLLOW_UP:
            key = (None, e.text.strip())
            if key in state.followups:
                steps.append(EffectStep(e, "The same follow-up is already created: no second one.", noop=True))
                continue
            state.followups.add(key)
            steps.append(
                EffectStep(e, f"A follow-up is created: {e.text.strip()}",
                           followups=(FollowUpPlan(None, e.text.strip()),))
            )
        elif k is EffectKind.SEND:
            name = e.partner or ""
            p = partners.get(name)
            if p is None:
                refusals.append(f"Rule {rule.label()} sends to {name}, which is not a partner any more.")
                continue
            if state.order.assignee is not None and state.order.assignee.name == name:
                steps.append(EffectStep(e, f"Order {n} is already with {name}: nothing to send.", noop=True))
                continue
            plan = plan_dispatch(state.order, p, now)
            if not plan.allowed:
                refusals.append(f"Rule {rule.label()} cannot send order {n} to {name}: {plan.refusals[0]}")
                continue
            notices = tuple(_held(x, undoable) for x in plan.notices if (x.partner, x.kind) not in state.told)
            state.told.update((x.partner, x.kind) for x in notices)
            fups = _new_followups(plan.followups, state)
            words = [f"Order {n} is sent to {name}: {plan.from_status.label} → {plan.to_status.label}."]
            words.extend(x.describe() for x in notices)
            words.extend(f"A follow-up is created: {f.text}" for f in fups)
            steps.append(EffectStep(e, " ".join(words), notices, fups, plan=plan))
            was = state.order.status
            state.order = replace(state.order, status=Status.DISPATCHED, assignee=p, dispatched_at=now)
            changes.append(
                ChangeFacts(state.order, was, frozenset(state.tags), frozenset(state.tags))
            )
        elif k is EffectKind.CANCEL_AT:
            name = e.partner or ""
            p = partners.get(name)
            if p is None:
                refusals.append(f"Rule {rule.label()} cancels at {name}, which is not a partner any more.")
                continue
            if (name, NoticeKind.CANCELLATION) in state.told:
                steps.append(EffectStep(e, f"{name} is already told of the cancellation: no second notice.", noop=True))
                continue
            since = state.order.dispatched_at if p is state.order.assignee else state.order.received_at
            transport, fups_l = delivery(p, NoticeKind.CANCELLATION, n, now=now, since=since)
            notice = NoticePlan(name, NoticeKind.CANCELLATION, transport, held=undoable)
            state.told.add((name, NoticeKind.CANCELLATION))
            fups = _new_followups(fups_l, state)
            reason = f" (reason: {e.text.strip()})" if e.text.strip() else ""
            words = [f"Order {n} is cancelled at {name}{reason}: {notice.describe()}"]
            words.extend(f"A follow-up is created: {f.text}" for f in fups)
            steps.append(EffectStep(e, " ".join(words), (notice,), fups))
    return steps, changes


def _held(n: NoticePlan, undoable: bool) -> NoticePlan:
    """What rules send on an action that can be undone waits for the undo window with it."""
    if undoable and n.transport is not Transport.MANUAL:
        return replace(n, held=True)
    return n


def _new_followups(fups: Iterable[FollowUpPlan], state: _State) -> tuple[FollowUpPlan, ...]:
    out = []
    for f in fups:
        key = (f.partner, f.text)
        if key not in state.followups:
            state.followups.add(key)
            out.append(f)
    return tuple(out)


# --------------------------------------------------------------------------- the rule-set check


def _produces(effect: Effect, trigger: Trigger) -> bool:
    """Can this effect make the change this trigger waits for?"""
    if trigger.kind is TriggerKind.TAG_ADDED:
        return effect.kind is EffectKind.ADD_TAG and (effect.tag or "").strip() == (trigger.tag or "").strip()
    if trigger.kind is TriggerKind.ENTERS:
        return effect.kind is EffectKind.SEND and trigger.status is Status.DISPATCHED
    return False


def check_rules(rules: Sequence[Rule]) -> list[str]:
    """Why this rule set cannot be saved: a tag added and removed on the same trigger, two
    partners sent to on the same trigger, or rules that trigger each other in a circle. Each
    problem names the rules. Rules that are off are left out (turning one on checks again)."""
    on = [r for r in sorted(rules, key=lambda r: (r.position, r.name)) if r.enabled]
    problems: list[str] = []
    by_trigger: dict[Trigger, list[Rule]] = {}
    for r in on:
        by_trigger.setdefault(r.trigger, []).append(r)
    for trig, group in by_trigger.items():
        adds = {(e.tag or "").strip(): r for r in group for e in r.effects if e.kind is EffectKind.ADD_TAG}
        for r in group:
            for e in r.effects:
                tag = (e.tag or "").strip()
                if e.kind is EffectKind.REMOVE_TAG and tag in adds:
                    a = adds[tag]
                    who = f"rule {a.label()} adds it and rule {r.label()} removes it" if a is not r \
                        else f"rule {r.label()} both adds and removes it"
                    problems.append(f"The tag {tag} is added and removed when {trig.words()}: {who}.")
        sends = [(r, e.partner) for r in group for e in r.effects if e.kind is EffectKind.SEND]
        targets = sorted({p for _, p in sends if p})
        if len(targets) > 1:
            names = " and ".join(dict.fromkeys(r.label() for r, _ in sends))
            problems.append(
                f"When {trig.words()}, the order would be sent to {' and '.join(targets)} "
                f"({names}); an order goes to one partner."
            )
    # rule A → rule B when one of A's effects makes the change B waits for; every group of
    # rules that can reach each other (a strongly connected component, or a rule reaching
    # itself) is a loop, named once by its shortest ring through its first rule
    edges = {r.key: [b for b in on if any(_produces(e, b.trigger) for e in r.effects)] for r in on}
    for group in _components(on, edges):
        first = group[0]
        if len(group) == 1 and all(b.key != first.key for b in edges[first.key]):
            continue
        ring = _ring(first, edges, {r.key for r in group})
        problems.append(
            "These rules trigger each other in a loop: " + " → ".join(r.label() for r in ring) + "."
        )
    return problems


def _components(rules: Sequence[Rule], edges: Mapping[Any, list[Rule]]) -> list[list[Rule]]:
    """The strongly connected components of the rules' graph (Kosaraju, without recursion),
    each in position order, in the order of their first rule."""
    done: set[Any] = set()
    finished: list[Any] = []
    for root in rules:
        if root.key in done:
            continue
        done.add(root.key)
        stack: list[tuple[Any, int]] = [(root.key, 0)]
        while stack:
            key, i = stack.pop()
            nexts = edges[key]
            if i < len(nexts):
                stack.append((key, i + 1))
                nxt = nexts[i].key
                if nxt not in done:
                    done.add(nxt)
                    stack.append((nxt, 0))
            else:
                finished.append(key)
    reverse: dict[Any, list[Any]] = {r.key: [] for r in rules}
    for r in rules:
        for b in edges[r.key]:
            reverse[b.key].append(r.key)
    placed: set[Any] = set()
    groups: list[list[Rule]] = []
    for key in reversed(finished):
        if key in placed:
            continue
        placed.add(key)
        members, todo = [key], [key]
        while todo:
            for prev in reverse[todo.pop()]:
                if prev not in placed:
                    placed.add(prev)
                    members.append(prev)
                    todo.append(prev)
        groups.append([r for r in rules if r.key in set(members)])
    order = {r.key: i for i, r in enumerate(rules)}
    return sorted(groups, key=lambda g: order[g[0].key])


def _ring(first: Rule, edges: Mapping[Any, list[Rule]], inside: set[Any]) -> list[Rule]:
    """The shortest way from `first` back to itself, through rules of its group."""
    parent: dict[Any, Rule | None] = {first.key: None}
    queue = [first]
    while queue:
        node = queue.pop(0)
        for nxt in edges[node.key]:
            if nxt.key == first.key:
                path = [node]
                while (up := parent[path[-1].key]) is not None:
                    path.append(up)
                return [*reversed(path), first]
            if nxt.key in inside and nxt.key not in parent:
                parent[nxt.key] = node
                queue.append(nxt)
    return [first, first]


__all__ = [
    "CONDITION_HELP",
    "DEPTH_CAP",
    "EFFECT_HELP",
    "TRIGGER_HELP",
    "ChangeFacts",
    "Condition",
    "ConditionKind",
    "Effect",
    "EffectKind",
    "EffectStep",
    "Firing",
    "NotFiring",
    "Rule",
    "RuleError",
    "RulePlan",
    "Trigger",
    "TriggerKind",
    "check_rules",
    "failing_condition",
    "plan_rules",
    "trigger_matches",
    "why_not",
]
