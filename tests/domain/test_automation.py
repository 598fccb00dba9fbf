"""Issue 14: automation rules in the domain. Facts of a change + rules → which fire, with what
effects, why the others do not, and what refuses the whole; the rule-set check."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatchdesk.domain import (
    CancelMethod,
    LinkKind,
    NoticeKind,
    OrderFacts,
    PartnerFacts,
    Role,
    Status,
    Transport,
)
from dispatchdesk.domain.automation import (
    DEPTH_CAP,
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
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SHOP = PartnerFacts("Shopwise", Role.CHANNEL, LinkKind.HTTP)
HARBOUR = PartnerFacts("Harbour", Role.CLIENT, LinkKind.NONE, cancel_method=CancelMethod.MANUAL)
KALTE = PartnerFacts("Kälte", Role.SUBCONTRACTOR, LinkKind.HTTP)
VAN = PartnerFacts("Van Man", Role.SUBCONTRACTOR, LinkKind.NONE)
WAREHOUSE = PartnerFacts("Warehouse", Role.WAREHOUSE, LinkKind.EMAIL, cancel_method=CancelMethod.EMAIL,
                         has_email=True)
PARTNERS = {p.name: p for p in (SHOP, HARBOUR, KALTE, VAN, WAREHOUSE)}


def enters(status: Status) -> Trigger:
    return Trigger(TriggerKind.ENTERS, status=status)


def tag_added(tag: str) -> Trigger:
    return Trigger(TriggerKind.TAG_ADDED, tag=tag)


def cond(kind: ConditionKind, value: str) -> Condition:
    return Condition(kind, value)


def send(p: str) -> Effect:
    return Effect(EffectKind.SEND, partner=p)


def add(tag: str) -> Effect:
    return Effect(EffectKind.ADD_TAG, tag=tag)


def remove(tag: str) -> Effect:
    return Effect(EffectKind.REMOVE_TAG, tag=tag)


def follow(text: str) -> Effect:
    return Effect(EffectKind.FOLLOW_UP, text=text)


def rule(i: int, name: str, trigger: Trigger, *effects: Effect, conditions: tuple[Condition, ...] = (),
         enabled: bool = True, stop: bool = False) -> Rule:
    return Rule(i, name, trigger, conditions, effects, position=i, enabled=enabled, stop_after=stop)


def order(status: Status = Status.CREATED, source: PartnerFacts | None = SHOP,
          assignee: PartnerFacts | None = None) -> OrderFacts:
    return OrderFacts("DD-000001", status, source=source, assignee=assignee, received_at=NOW)


def moved(frm: Status | None, to: Status, *, tags: set[str] = frozenset(), source=SHOP, assignee=None,
          added: set[str] = frozenset()) -> ChangeFacts:
    tags = frozenset(tags) | frozenset(added)
    return ChangeFacts(order(to, source, assignee), frm, tags, tags - frozenset(added))


FROZEN_TO_KALTE = rule(1, "Frozen to Kälte", enters(Status.CREATED), send("Kälte"),
                       conditions=(cond(ConditionKind.PARTNER_IS, "Shopwise"),
                                   cond(ConditionKind.HAS_TAG, "frozen")))
HARBOUR_CALL = rule(2, "Phone Harbour", Trigger(TriggerKind.ARRIVES, partner="Harbour"),
                    follow("Phone Harbour to confirm"))
CANCEL_AT_WH = rule(3, "Cancel at the warehouse", enters(Status.CANCELLED),
                    Effect(EffectKind.CANCEL_AT, partner="Warehouse", text="client cancelled"))
OFF = rule(4, "Off one", enters(Status.CREATED), add("x"), enabled=False)
TAG_SENT = rule(5, "Tag what is sent", enters(Status.DISPATCHED), add("sent"))

ALL = [FROZEN_TO_KALTE, HARBOUR_CALL, CANCEL_AT_WH, OFF, TAG_SENT]

#: (what happens, the change, rules expected to fire in order, {rule: why it does not fire})
TABLE = [
    (
        "a frozen Shopwise order arriving is sent to Kälte, which tags it sent (a chain)",
        ChangeFacts(order(), None, frozenset({"frozen"})),
        ["Frozen to Kälte", "Tag what is sent"],
        {"Phone Harbour": "not this trigger: it fires when an order arrives from Harbour", "Cancel at the warehouse": "not this trigger",
         "Off one": "it is off"},
    ),
    (
        "an order without the tag: the first failing condition is named",
        ChangeFacts(order(), None, frozenset()),
        [],
        {"Frozen to Kälte": "it lacks the tag frozen"},
    ),
    (
        "an order from Harbour: a follow-up, and the Shopwise rule says which partner it is",
        ChangeFacts(order(source=HARBOUR), None, frozenset({"frozen"})),
        ["Phone Harbour"],
        {"Frozen to Kälte": "the partner is not Shopwise (it is Harbour)"},
    ),
    (
        "moved back to Created from Dispatched is a change too (enters Created)",
        moved(Status.DISPATCHED, Status.CREATED, tags={"frozen"}),
        ["Frozen to Kälte", "Tag what is sent"],
        {"Phone Harbour": "not this trigger"},
    ),
    (
        "a tag added is not entering a status",
        moved(Status.CREATED, Status.CREATED, added={"frozen"}),
        [],
        {"Frozen to Kälte": "not this trigger"},
    ),
    (
        "cancelled: the warehouse is told by its own cancel method",
        moved(Status.CREATED, Status.CANCELLED),
        ["Cancel at the warehouse"],
        {},
    ),
]


@pytest.mark.parametrize("what,change,fires,why", TABLE, ids=[t[0] for t in TABLE])
def test_facts_and_rules_give_the_plan(what, change, fires, why):
    plan = plan_rules(change, ALL, PARTNERS, NOW)
    assert plan.allowed, plan.refusals
    assert [f.rule.name for f in plan.fired] == fires
    reasons = {n.rule.name: n.reason for n in plan.not_firing}
    assert set(reasons) | {f.rule.name for f in plan.fired} == {r.name for r in ALL}
    for name, start in why.items():
        assert reasons[name].startswith(start), (name, reasons[name])


def test_the_chain_says_what_each_effect_does():
    plan = plan_rules(ChangeFacts(order(), None, frozenset({"frozen"})), ALL, PARTNERS, NOW)
    send_step = plan.fired[0].steps[0]
    assert send_step.words.startswith("Order DD-000001 is sent to Kälte: Created → Dispatched.")
    assert [(n.partner, n.kind, n.transport) for n in plan.notices] == [
        ("Kälte", NoticeKind.ORDER, Transport.HTTP)
    ]
    assert plan.fired[1].depth == 1 and plan.fired[1].because == "it enters Dispatched"
    assert plan.tags == {"frozen", "sent"}
    assert plan.lines()[0] == "Rule 'Frozen to Kälte' (version 1) fires (it enters Created):"


def test_cancel_at_uses_the_partners_cancel_method():
    plan = plan_rules(moved(Status.CREATED, Status.CANCELLED), ALL, PARTNERS, NOW)
    (n,) = plan.notices
    assert (n.partner, n.kind, n.transport) == ("Warehouse", NoticeKind.CANCELLATION, Transport.EMAIL)
    assert [f.text for f in plan.followups] == [
        "Confirm with Warehouse that the cancellation of order DD-000001 arrived."
    ]
    assert "reason: client cancelled" in plan.fired[0].steps[0].words


def test_effects_are_idempotent():
    tagger = rule(1, "Tag frozen", enters(Status.CREATED), add("frozen"), remove("nothing-here"))
    already = rule(2, "Send to Kälte", enters(Status.CREATED), send("Kälte"))
    change = ChangeFacts(order(assignee=None), None, frozenset({"frozen"}))
    plan = plan_rules(change, [tagger], PARTNERS, NOW)
    assert all(s.noop for s in plan.fired[0].steps)
    # an order already with Kälte is not sent again (no second notice)
    at_kalte = ChangeFacts(order(Status.CREATED, assignee=KALTE), Status.DISPATCHED, frozenset())
    plan = plan_rules(at_kalte, [already], PARTNERS, NOW)
    assert plan.fired[0].steps[0].noop and plan.notices == ()
    # the action already tells the warehouse of the cancellation: the rule adds no second notice
    from dispatchdesk.domain import NoticePlan

    told = NoticePlan("Warehouse", NoticeKind.CANCELLATION, Transport.EMAIL, True)
    change = ChangeFacts(order(Status.CANCELLED), Status.CREATED, planned=(told,))
    plan = plan_rules(change, [CANCEL_AT_WH], PARTNERS, NOW)
    assert plan.notices == () and plan.fired[0].steps[0].noop


def test_stop_after_keeps_the_later_rules_from_firing():
    first = rule(1, "First", enters(Status.CREATED), add("a"), stop=True)
    second = rule(2, "Second", enters(Status.CREATED), add("b"))
    plan = plan_rules(ChangeFacts(order(), None), [second, first], PARTNERS, NOW)
    assert [f.rule.name for f in plan.fired] == ["First"]
    assert plan.not_firing[0].reason == "rule 'First' (version 1) fired first and stops the rules after it"


def test_a_send_the_order_rules_refuse_refuses_the_whole():
    to_client = rule(1, "To Harbour", enters(Status.ACCEPTED), send("Kälte"))
    plan = plan_rules(moved(Status.CREATED, Status.ACCEPTED), [to_client], PARTNERS, NOW)
    assert not plan.allowed
    assert plan.refusals[0].startswith("Rule 'To Harbour' (version 1) cannot send order DD-000001 to Kälte:")


def test_going_past_the_depth_cap_is_a_refusal_never_a_silent_skip():
    chain = [rule(i, f"Step {i}", tag_added(f"t{i}"), add(f"t{i + 1}")) for i in range(DEPTH_CAP + 2)]
    change = moved(Status.CREATED, Status.CREATED, added={"t0"})
    plan = plan_rules(change, chain, PARTNERS, NOW)
    assert not plan.allowed
    assert plan.refusals[0].startswith(f"Rules go more than {DEPTH_CAP} steps deep on order DD-000001")
    assert "Step 0 → Step 1" in plan.refusals[0]
    short = plan_rules(change, chain[:DEPTH_CAP], PARTNERS, NOW)
    assert short.allowed and len(short.fired) == DEPTH_CAP


def test_each_rule_fires_once_per_chain():
    a = rule(1, "A", tag_added("x"), add("y"))
    b = rule(2, "B", tag_added("y"), remove("x"), follow("once"))
    c = rule(3, "C", tag_added("y"), add("x"))
    plan = plan_rules(moved(Status.CREATED, Status.CREATED, added={"x"}), [a, b, c], PARTNERS, NOW)
    assert [f.rule.name for f in plan.fired] == ["A", "B", "C"]
    assert [f.text for f in plan.followups] == ["once"]


def test_the_loop_check_refuses_a_tag_ping_pong_naming_the_rules():
    ping = rule(1, "Ping", tag_added("hot"), add("cold"), remove("hot"))
    pong = rule(2, "Pong", tag_added("cold"), add("hot"), remove("cold"))
    problems = check_rules([ping, pong])
    assert problems == [
        "These rules trigger each other in a loop: 'Ping' (version 1) → 'Pong' (version 1) → 'Ping' (version 1)."
    ]
    assert check_rules([ping]) == []
    assert check_rules([ping, Rule(**{**pong.__dict__, "enabled": False})]) == []


def test_the_loop_check_refuses_contradictions_and_two_partners():
    a = rule(1, "Add", enters(Status.CREATED), add("x"))
    r = rule(2, "Remove", enters(Status.CREATED), remove("x"))
    assert check_rules([a, r]) == [
        "The tag x is added and removed when an order enters Created: rule 'Add' (version 1) adds it "
        "and rule 'Remove' (version 1) removes it."
    ]
    k = rule(3, "To Kälte", enters(Status.CREATED), send("Kälte"))
    v = rule(4, "To Van", enters(Status.CREATED), send("Van Man"))
    (problem,) = check_rules([k, v])
    assert "sent to Kälte and Van Man ('To Kälte' (version 1) and 'To Van' (version 1))" in problem
    # a send from Dispatched triggering itself is a loop too
    loop = rule(5, "Resend", enters(Status.DISPATCHED), send("Kälte"))
    assert check_rules([loop]) == [
        "These rules trigger each other in a loop: 'Resend' (version 1) → 'Resend' (version 1)."
    ]
    assert check_rules(ALL) == []


def test_a_rule_that_cannot_be_names_its_field():
    with pytest.raises(RuleError) as e:
        rule(1, " ", enters(Status.CREATED), add("x")).check()
    assert e.value.field == "name"
    with pytest.raises(RuleError) as e:
        rule(1, "No effect", enters(Status.CREATED)).check()
    assert (e.value.field, str(e.value)) == ("effects", "A rule needs at least one effect.")
    with pytest.raises(RuleError) as e:
        rule(1, "From a shop", Trigger(TriggerKind.ARRIVES, role=Role.WAREHOUSE), add("x")).check()
    assert e.value.field == "trigger"


def test_a_rule_reads_back_from_its_json():
    r = FROZEN_TO_KALTE
    back = Rule(r.id, r.name, Trigger.from_json(r.trigger.as_json()),
                tuple(Condition.from_json(c.as_json()) for c in r.conditions),
                tuple(Effect.from_json(e.as_json()) for e in r.effects), r.position)
    assert back == r
    assert r.words() == (
        "When an order enters Created and the partner is Shopwise and it has the tag frozen: "
        "send it to Kälte."
    )


# --------------------------------------------------------------------------- property

TAGS = ["a", "b", "c", "d"]
triggers = st.one_of(
    st.sampled_from([enters(s) for s in Status]),
    st.sampled_from([tag_added(t) for t in TAGS]),
    st.just(Trigger(TriggerKind.ARRIVES)),
)
effects = st.one_of(
    st.sampled_from([add(t) for t in TAGS] + [remove(t) for t in TAGS]),
    st.sampled_from([send("Kälte"), send("Van Man")]),
    st.sampled_from([follow("call"), follow("check")]),
    st.sampled_from([Effect(EffectKind.CANCEL_AT, partner=p, text="r") for p in ("Warehouse", "Harbour")]),
)
conditions = st.lists(
    st.sampled_from([cond(ConditionKind.HAS_TAG, t) for t in TAGS]
                    + [cond(ConditionKind.LACKS_TAG, t) for t in TAGS]
                    + [cond(ConditionKind.CAME_FROM, s.value) for s in Status]),
    max_size=2,
)


@st.composite
def rule_sets(draw):
    n = draw(st.integers(1, 8))
    return [
        Rule(i, f"R{i}", draw(triggers), tuple(draw(conditions)),
             tuple(draw(st.lists(effects, min_size=1, max_size=3))), position=draw(st.integers(0, 9)),
             enabled=draw(st.booleans()), stop_after=draw(st.booleans()))
        for i in range(n)
    ]


@settings(max_examples=300, deadline=None)
@given(rules=rule_sets(), tags=st.sets(st.sampled_from(TAGS)), frm=st.sampled_from([None, *Status]),
       to=st.sampled_from(list(Status)), cap=st.integers(1, DEPTH_CAP))
def test_random_rule_sets_stay_within_the_cap_and_never_send_two_identical_notices(rules, tags, frm, to, cap):
    change = ChangeFacts(order(to), frm, frozenset(tags), frozenset())
    plan = plan_rules(change, rules, PARTNERS, NOW, cap=cap)
    assert all(f.depth < cap for f in plan.fired)
    assert len({f.rule.key for f in plan.fired}) == len(plan.fired)  # each rule at most once
    notices = [(n.partner, n.kind) for n in plan.notices]
    assert len(notices) == len(set(notices))
    followups = [(f.partner, f.text) for f in plan.followups]
    assert len(followups) == len(set(followups))
    # every rule is either fired or has a reason (the confirm can say why)
    assert {f.rule.key for f in plan.fired} | {n.rule.key for n in plan.not_firing} == {r.key for r in rules}
    assert all(n.reason for n in plan.not_firing)


def test_a_longer_loop_is_named_once_by_its_shortest_ring():
    a = rule(1, "A", tag_added("a"), add("b"))
    b = rule(2, "B", tag_added("b"), add("c"), add("a"))
    c = rule(3, "C", tag_added("c"), add("a"))
    d = rule(4, "D", tag_added("z"), add("a"))  # leads into the loop, is not in it
    assert check_rules([a, b, c, d]) == [
        "These rules trigger each other in a loop: 'A' (version 1) → 'B' (version 1) → 'A' (version 1)."
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(TAGS), st.lists(st.sampled_from(TAGS), max_size=2)),
                min_size=1, max_size=7))
def test_the_loop_check_finds_a_loop_exactly_when_a_rule_can_trigger_itself(spec):
    """Against a plain reachability search: rule i triggers on tag t_i and adds its tags."""
    rs = [rule(i, f"R{i}", tag_added(t), *(add(x) for x in adds)) for i, (t, adds) in enumerate(spec)]
    reach = {i: {j for j, (t, _) in enumerate(spec) if t in adds} for i, (_, adds) in enumerate(spec)}
    for _ in spec:  # transitive closure
        reach = {i: js | {k for j in js for k in reach[j]} for i, js in reach.items()}
    loops = [p for p in check_rules(rs) if "loop" in p]
    assert bool(loops) == any(i in js for i, js in reach.items())
    # each loop is named once: a rule is in at most one reported loop
    named = [r.name for p in loops for r in rs if f"'{r.name}'" in p]
    assert len(named) == len(set(named))


@pytest.mark.parametrize(
    ("r", "line"),
    [
        (rule(1, "Frozen", Trigger(TriggerKind.ENTERS, status=Status.CREATED),
              Effect(EffectKind.SEND, partner="Kälte"), Effect(EffectKind.ADD_TAG, tag="re-sent"),
              conditions=(Condition(ConditionKind.HAS_TAG, "frozen"),)),
         "enters Created (+1 condition) → send to Kälte, +tag re-sent"),
        (rule(2, "Harbour", Trigger(TriggerKind.ARRIVES, partner="Harbour"),
              Effect(EffectKind.FOLLOW_UP, text="phone them"), stop=True),
         "arrives from Harbour → follow-up · stop"),
        (rule(3, "Clients", Trigger(TriggerKind.ARRIVES, role=Role.CLIENT),
              Effect(EffectKind.REMOVE_TAG, tag="new"),
              conditions=(Condition(ConditionKind.LACKS_TAG, "x"), Condition(ConditionKind.ROLE_IS, "client"))),
         "arrives from any client (+2 conditions) → -tag new"),
        (rule(4, "Tagged", Trigger(TriggerKind.TAG_ADDED, tag="void"),
              Effect(EffectKind.CANCEL_AT, partner="Kälte", text="client-cancelled")),
         "tag void added → cancel at Kälte"),
    ],
)
def test_a_rule_in_short_words_for_its_line_in_a_list(r: Rule, line: str) -> None:
    assert r.short() == line
