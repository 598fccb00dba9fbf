"""Rules folded into an action's own plan and transaction (issue 14 item 2).

An action asks `rules_for()` which rules fire on its change (the rules are read once per
transaction), shows them in its confirm (`rule_lines`), and, once its own plan is written,
writes the rules' effects with `apply_rules()` in the same transaction: tags, sends, notices
(through the outbox), follow-ups, and an audit entry per effect naming the rule and its
version. The action's own audit entry then lists every notice and follow-up of the chain, so
its undo withdraws all of them; undo and import never fire rules.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from ..domain import NoticeKind, OrderFacts, Status
from ..domain.automation import (
    ChangeFacts,
    Condition,
    Effect,
    EffectKind,
    NotFiring,
    Rule,
    RulePlan,
    Trigger,
    plan_rules,
)
from ..store.models import AuditEntry, AutomationRule, DepotMeta, Notice, Order, Partner, Tag
from .core import (
    RULES_ON,
    RULES_SEQ,
    ActionResult,
    Depot,
    Refused,
    RuleLine,
    _Written,
    notice_row,
    partner_facts,
    write_followups,
)

_RULES = "dispatchdesk.rules"
_PARTNERS = "dispatchdesk.rule_partners"
#: What the audit says of an action done with the rules set aside (issue 14 item 4).
WITHOUT_RULES = "Acted without rules."


def rule_from_row(row: AutomationRule) -> Rule:
    return Rule(
        id=row.id,
        name=row.name,
        trigger=Trigger.from_json(row.trigger),
        conditions=tuple(Condition.from_json(c) for c in row.conditions or ()),
        effects=tuple(Effect.from_json(e) for e in row.effects or ()),
        position=row.position,
        enabled=row.enabled,
        stop_after=row.stop_after,
        version=row.version,
    )




def rules_on(session: Session) -> bool:
    """Is any rule on? Known without a query when the action read its order's facts (the
    count comes with them, core._CONTEXT_Q); else the rules are read (once per transaction)."""
    known: int | None = session.info.get(RULES_ON)
    if known is not None and _RULES not in session.info:
        return known > 0
    return any(r.enabled for r in load_rules(session))


_RULE_COLUMNS_Q = select(
    AutomationRule.id, AutomationRule.name, AutomationRule.trigger, AutomationRule.conditions,
    AutomationRule.effects, AutomationRule.position, AutomationRule.enabled, AutomationRule.stop_after,
    AutomationRule.version,
).order_by(AutomationRule.position, AutomationRule.id)
_SEQ_Q = select(DepotMeta.rules_seq).where(DepotMeta.id == 1)
#: per database (its connection pool, which the reading and the writing engines share):
#: (rules_seq, the rules parsed at that sequence)
_PARSED: weakref.WeakKeyDictionary[Any, tuple[int, tuple[Rule, ...]]] = weakref.WeakKeyDictionary()
_PARSED_LOCK = threading.Lock()  # the console's actions run in worker threads


def load_rules(session: Session) -> tuple[Rule, ...]:
    """The depot's rules, read once per transaction (kept in the session until it ends), and
    parsed once per change to them: while depot.rules_seq (read with the action's order, or
    here) stays the same, the rules parsed before are used without reading them again."""
    cached: tuple[Rule, ...] | None = session.info.get(_RULES)
    if cached is not None:
        return cached
    conn = session.connection()
    seq: int | None = session.info.get(RULES_SEQ)
    if seq is None:
        seq = conn.scalar(_SEQ_Q)
    pool = conn.engine.pool
    with _PARSED_LOCK:
        known = _PARSED.get(pool)
    if seq is not None and known is not None and known[0] == seq:
        cached = known[1]
    else:
        cached = tuple(
            Rule(
                id=rid,
                name=name,
                trigger=Trigger.from_json(_json(trigger)),
                conditions=tuple(Condition.from_json(c) for c in _json(conditions) or ()),
                effects=tuple(Effect.from_json(e) for e in _json(effects) or ()),
                position=position,
                enabled=bool(enabled),
                stop_after=bool(stop_after),
                version=version,
            )
            for rid, name, trigger, conditions, effects, position, enabled, stop_after, version in conn.execute(
                _RULE_COLUMNS_Q
            )
        )
        if seq is not None:
            with _PARSED_LOCK:
                _PARSED[pool] = (seq, cached)
    session.info[_RULES] = cached
    return cached


def parsed_rules(pool: Any, seq: int | None) -> tuple[Rule, ...] | None:
    """The rules parsed at rules_seq `seq` in this process (load_rules() keeps them), without
    a query; None when they were not parsed at that sequence yet (or `seq` is unknown)."""
    if seq is None:
        return None
    with _PARSED_LOCK:
        known = _PARSED.get(pool)
    return known[1] if known is not None and known[0] == seq else None


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


_BUMP = update(DepotMeta).where(DepotMeta.id == 1).values(rules_seq=DepotMeta.rules_seq + 1)


def rename_partner_in_rules(session: Session, old: str, new: str) -> list[str]:
    """A partner was renamed: the rules that name it follow (the same partner, the same rule
    version). Returns the names of the rules changed."""
    changed = []
    for row in session.scalars(select(AutomationRule)):
        trigger = dict(row.trigger)
        conditions = [dict(c) for c in row.conditions or ()]
        effects = [dict(e) for e in row.effects or ()]
        hit = False
        if trigger.get("partner") == old:
            trigger["partner"], hit = new, True
        for c in conditions:
            if c.get("kind") == "partner_is" and c.get("value") == old:
                c["value"], hit = new, True
        for e in effects:
            if e.get("partner") == old:
                e["partner"], hit = new, True
        if hit:
            row.trigger, row.conditions, row.effects = trigger, conditions, effects
            changed.append(row.name)
    if changed:
        rules_changed(session)
    return changed


def rules_changed(session: Session) -> None:
    """Every write to the rules calls this in its transaction: the parsed rules are stale."""
    session.execute(_BUMP)
    forget_rules(session)


def forget_rules(session: Session) -> None:
    session.info.pop(_RULES, None)
    session.info.pop(_PARTNERS, None)


def _named_partners(session: Session, rules: Iterable[Rule]) -> dict[str, Partner]:
    """The partners the rules' effects name, in one query (once per transaction)."""
    cached: dict[str, Partner] | None = session.info.get(_PARTNERS)
    if cached is not None:
        return cached
    names = {e.partner for r in rules if r.enabled for e in r.effects if e.partner}
    found: dict[str, Partner] = {}
    if names:
        found = {p.name: p for p in session.scalars(select(Partner).where(Partner.name.in_(names)))}
    session.info[_PARTNERS] = found
    return found


def idle_plan(session: Session) -> RulePlan:
    """No rule is on: nothing fires, and each rule is listed as off."""
    return RulePlan(not_firing=tuple(NotFiring(r, "it is off") for r in load_rules(session)))


def rules_for(depot: Depot, session: Session, change: ChangeFacts) -> RulePlan:
    """What the depot's rules do on this change (an empty plan when there are none on)."""
    rules = load_rules(session)
    if not any(r.enabled for r in rules):
        return RulePlan(
            not_firing=plan_rules(change, rules, {}, depot.now()).not_firing if rules else (),
            tags=change.tags,
            tags_before=change.tags_before,
        )
    partners = {n: partner_facts(p) for n, p in _named_partners(session, rules).items()}
    return plan_rules(change, rules, partners, depot.now())


def order_change(
    order: Order,
    facts: OrderFacts,
    *,
    to: Status,
    assign: Partner | None = None,
    unassign: bool = False,
    tags_before: Iterable[str] | None = None,
    tags_after: Iterable[str] | None = None,
    planned: Sequence[Any] = (),
    undoable: bool = False,
    now: Any = None,
) -> ChangeFacts:
    """The facts of an action's change on `order`, before it is written: the order as the
    action leaves it (status, partner, tags) and where it was."""
    after = replace(facts, status=to)
    if unassign:
        after = replace(after, assignee=None, dispatched_at=None)
    if assign is not None:
        after = replace(after, assignee=partner_facts(assign), dispatched_at=now)
    have = frozenset(tags_before) if tags_before is not None else frozenset(t.name for t in order.tags)
    return ChangeFacts(
        after,
        Status(order.status),
        frozenset(tags_after) if tags_after is not None else have,
        have,
        tuple(planned),
        undoable,
    )


def light_facts(order: Order) -> OrderFacts:
    """What the rules look at of an order (its partners, status and times), read without a
    query beyond the order itself."""
    return OrderFacts(
        number=order.number,
        status=Status(order.status),
        source=partner_facts(order.source),
        assignee=partner_facts(order.assignee),
        dispatched_at=order.dispatched_at,
        received_at=order.received_at or order.created_at,
    )


def arrival_change(order: Order, facts: OrderFacts, tags: Iterable[str]) -> ChangeFacts:
    """The facts of a new order arriving (from a partner, or taken in here)."""
    return ChangeFacts(facts, None, frozenset(tags), frozenset())


def rule_lines(rp: RulePlan) -> tuple[tuple[RuleLine, ...], tuple[RuleLine, ...]]:
    """(the rules that fire, the rules that do not) as the confirm lists them."""
    fired = tuple(
        RuleLine(
            f.rule.name,
            f.rule.version,
            f.rule.id,
            tuple(s.words for s in f.steps),
            because=f.because,
            depth=f.depth,
        )
        for f in rp.fired
    )
    not_firing = tuple(
        RuleLine(n.rule.name, n.rule.version, n.rule.id, reason=n.reason) for n in rp.not_firing
    )
    return fired, not_firing


def preview_fields(rp: RulePlan | None, without_rules: bool) -> dict[str, Any]:
    """The Preview's rule fields (rules, not_firing, without_rules)."""
    if rp is None:
        return {"without_rules": without_rules}
    fired, not_firing = rule_lines(rp)
    if without_rules:
        skipped = tuple(replace(f, effects=(), reason="set aside: acting without rules") for f in fired)
        return {"rules": (), "not_firing": skipped + not_firing, "without_rules": True}
    return {"rules": fired, "not_firing": not_firing, "without_rules": False}


def confirm_lines(rp: RulePlan | None, without_rules: bool) -> list[str]:
    """The confirm's sentences about the rules, after the action's own."""
    if rp is None:
        return []
    if without_rules:
        if rp.fired:
            names = ", ".join(f.rule.label() for f in rp.fired)
            return [f"Without rules: {names} will not fire; the history says so."]
        return []
    return rp.lines()


def refuse(rp: RulePlan) -> None:
    if rp.refusals:
        raise Refused(rp.refusals)


# --------------------------------------------------------------------------- writing


_INSERT_NOTICE = insert(Notice)
_INSERT_AUDIT = insert(AuditEntry)
_MAX_SEQ_Q = select(func.max(Notice.seq)).where(Notice.order_id == bindparam("oid"))



def apply_rules(
    depot: Depot,
    session: Session,
    order: Order,
    rp: RulePlan,
    result: ActionResult,
    *,
    actor: str | None = None,
    base_before: dict[str, Any] | None = None,
) -> ActionResult:
    """Write what the rules decided, in the action's transaction, after its own plan: then
    fold the chain's notices and follow-ups into the action's audit entry (so its undo
    withdraws them all) and return the action's result with them."""
    refuse(rp)
    if not rp.fired:
        return result
    now = depot.now()
    partners = _named_partners(session, load_rules(session))
    conn = session.connection()
    chain_notices = rp.notices
    undo_s = depot.undo_seconds(session) if any(n.held for n in chain_notices) else 0
    seq = (conn.scalar(_MAX_SEQ_Q, {"oid": order.id}) or 0) if chain_notices else 0
    audit_rows: list[dict[str, Any]] = []
    all_notices: list[str] = []
    all_followups: list[int] = []
    tags_changed = False
    for firing in rp.fired:
        rule = firing.rule
        for step in firing.steps:
            if step.noop:
                continue
            frm = order.status
            e = step.effect
            if e.kind is EffectKind.ADD_TAG:
                order.tags.append(Tag(name=(e.tag or "").strip()))
                tags_changed = True
            elif e.kind is EffectKind.REMOVE_TAG:
                order.tags = [t for t in order.tags if t.name != (e.tag or "").strip()]
                tags_changed = True
            elif e.kind is EffectKind.SEND:
                p = partners[e.partner or ""]
                order.status = Status.DISPATCHED.value
                order.status_changed_at = now
                order.assignee = p
                order.assignee_id = p.id
                order.dispatched_at = now
                session.flush()  # the order's UPDATE (its version goes up)
            by_name = {p.name: p for p in (order.source, order.assignee) if p is not None}
            by_name.update(partners)
            rows = []
            for np in step.notices:
                seq += 1
                extra = {"reason": e.text.strip()} if e.kind is EffectKind.CANCEL_AT and e.text.strip() else None
                if np.kind is NoticeKind.CANCELLATION:
                    extra = {**(extra or {}), "rule": rule.name}
                rows.append(
                    notice_row(order, by_name[np.partner], np, now=now, undo_seconds=undo_s,
                               seq=seq, extra=extra)
                )
            if rows:
                conn.execute(_INSERT_NOTICE, rows)
            fups = write_followups(
                session, order, step.followups,
                [_Written(r["id"], r["partner_id"]) for r in rows], by_name, now,
            )
            notice_ids = [r["id"] for r in rows]
            fup_ids = [f.id for f in fups]
            all_notices += notice_ids
            all_followups += fup_ids
            audit_rows.append(
                dict(
                    order_id=order.id,
                    at=now,
                    actor=actor or depot.actor,
                    action="rule",
                    from_status=frm,
                    to_status=order.status,
                    reason=None,
                    detail=f"Rule {rule.label()}, on {firing.because}: {step.words}",
                    notices=notice_ids,
                    followups=fup_ids,
                    before=None,
                    after_version=None,
                    undoable_until=None,
                    undone_by=None,
                    undo_of=None,
                ),
            )
    if audit_rows:
        conn.execute(_INSERT_AUDIT, audit_rows)
    # the action's own entry covers the whole chain: its undo withdraws all of it
    values: dict[str, Any] = {
        "notices": [*result.notices, *all_notices],
        "followups": [*result.followups, *all_followups],
        "after_version": order.version,
    }
    if tags_changed and base_before is not None:
        values["before"] = {**base_before, "tags": sorted(rp.tags_before)}
    conn.execute(update(AuditEntry).where(AuditEntry.id == result.audit_id).values(**values))
    names = ", ".join(dict.fromkeys(f.rule.label() for f in rp.fired))
    to = Status(order.status)
    message = result.message
    if to is not result.to_status:
        message += f" Rules moved it on to {to.label}."
    message += f" Rules that fired: {names}."
    return replace(
        result,
        to_status=to,
        version=order.version,
        notices=(*result.notices, *all_notices),
        followups=(*result.followups, *all_followups),
        message=message,
    )


def note_without_rules(session: Session, result: ActionResult) -> None:
    """The action's audit entry says it was done with the rules set aside."""
    conn = session.connection()
    detail = conn.scalar(select(AuditEntry.detail).where(AuditEntry.id == result.audit_id)) or ""
    conn.execute(
        update(AuditEntry)
        .where(AuditEntry.id == result.audit_id)
        .values(detail=f"{detail} {WITHOUT_RULES}".strip())
    )


__all__ = [
    "WITHOUT_RULES",
    "RuleLine",
    "apply_rules",
    "arrival_change",
    "confirm_lines",
    "forget_rules",
    "idle_plan",
    "light_facts",
    "load_rules",
    "note_without_rules",
    "parsed_rules",
    "order_change",
    "preview_fields",
    "rule_from_row",
    "rule_lines",
    "rename_partner_in_rules",
    "rules_changed",
    "rules_for",
    "rules_on",
]
