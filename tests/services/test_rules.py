"""Issue 14: rules folded into the actions. What the confirm lists is what is committed, in the
action's one transaction; a failure rolls back all of it; undo withdraws the whole chain;
the audit names every rule and its version; undo and import never fire rules."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import event, select

from dispatchdesk.domain import Status
from dispatchdesk.services import (
    CallBack,
    Conflict,
    CreateOrder,
    DeleteRule,
    EnableRule,
    InvalidInput,
    MoveRule,
    NotFound,
    OrderForm,
    Refused,
    RuleInput,
    SaveRule,
    SetStatus,
    SetTags,
    Undo,
    dispatch,
    parse_condition,
    parse_effect,
    parse_trigger,
    release_held_notices,
    rule_test,
    rulefold,
    rules,
    set_status,
)
from dispatchdesk.services.importer import import_json
from dispatchdesk.store.models import AuditEntry

pytestmark = pytest.mark.usefixtures("partners")


def add_rule(depot, name, when, *do, ifs=(), enabled=True, stop=False):
    return SaveRule(RuleInput(name, parse_trigger(when), tuple(parse_condition(c) for c in ifs),
                              tuple(parse_effect(e) for e in do), enabled=enabled, stop_after=stop)).execute(depot)


@pytest.fixture
def frozen_rule(depot):
    """Frozen orders that come back to Created go to Swift Haulage, with a follow-up."""
    return add_rule(depot, "Frozen to Swift", "enters Created", "send Swift Haulage", "follow-up Pack it with ice",
                    ifs=("has-tag frozen",))


def _called_back(depot, new_order):
    n = new_order(source="Plain Client", tags=["frozen"])
    dispatch(depot, n, "Van Man")
    return n


def test_the_confirm_lists_the_rules_and_that_is_what_is_committed(rows, depot, new_order, frozen_rule):
    add_rule(depot, "Tag what is sent", "enters Dispatched", "add-tag sent", ifs=("partner Swift Haulage",))
    add_rule(depot, "Harbour only", "enters Created", "add-tag harbour", ifs=("partner Corner Bakery",))
    n = _called_back(depot, new_order)
    before = rows(depot, n)

    pv = CallBack(n, expected_version=before.order.version).preview(depot)

    assert pv.allowed
    assert [(r.rule, r.version, r.depth) for r in pv.rules] == [
        ("Frozen to Swift", 1, 0), ("Tag what is sent", 1, 1)]
    assert pv.rules[0].effects[0].startswith(f"Order {n} is sent to Swift Haulage: Created → Dispatched.")
    assert pv.rules[0].effects[1] == "A follow-up is created: Pack it with ice"
    assert [(r.rule, r.reason) for r in pv.not_firing] == [
        ("Harbour only", "the partner is not Corner Bakery (it is Plain Client)")]
    assert "Rule 'Frozen to Swift' (version 1) fires (it enters Created):" in pv.lines

    result = CallBack(n, expected_version=pv.version).execute(depot)

    x = rows(depot, n)
    assert x.order.status == "dispatched" and x.order.assignee.name == "Swift Haulage"
    assert sorted(t.name for t in x.order.tags) == ["frozen", "sent"]
    to_swift = x.notices_to("Swift Haulage")
    assert [(m.kind, m.state) for m in to_swift] == [("order.new", "held")]  # held with the undo window
    assert [f.text for f in x.followups if f.text == "Pack it with ice"]
    rule_entries = [a for a in x.audit if a.action == "rule"]
    assert [a.detail.split(":")[0] for a in rule_entries] == [
        "Rule 'Frozen to Swift' (version 1), on it enters Created",
        "Rule 'Frozen to Swift' (version 1), on it enters Created",
        "Rule 'Tag what is sent' (version 1), on it enters Dispatched",
    ]
    main = next(a for a in x.audit if a.id == result.audit_id)
    assert set(result.notices) == set(main.notices) >= {m.id for m in to_swift}
    assert main.after_version == x.order.version == result.version
    assert result.to_status is Status.DISPATCHED
    assert "Rules that fired: 'Frozen to Swift' (version 1), 'Tag what is sent' (version 1)." in result.message


def test_undo_withdraws_the_whole_chain_notices_included(rows, depot, clock, new_order, frozen_rule):
    add_rule(depot, "Tag what is sent", "enters Dispatched", "add-tag sent", ifs=("partner Swift Haulage",))
    n = _called_back(depot, new_order)
    before = rows(depot, n)
    result = CallBack(n).execute(depot)
    pv = Undo(n).preview(depot)
    assert "Its tags are put back as they were: frozen." in pv.lines

    # the screens offer the undo too (the rules' entries after the action do not hide it)
    from dispatchdesk.services.queries import order_actions

    assert order_actions(depot, n).undo_until == result.undo_until is not None
    Undo(n).execute(depot)

    x = rows(depot, n)
    assert (x.order.status, x.order.assignee.name) == ("dispatched", "Van Man")
    assert [t.name for t in x.order.tags] == ["frozen"]
    chain = [m for m in x.notices if m.id in result.notices]
    assert chain and {m.state for m in chain} == {"withdrawn"}
    assert all(f.withdrawn for f in x.followups if f.id in result.followups)
    assert x.order.version == result.version + 1
    assert before.order.version < result.version
    # the undo fires no rule (it puts Dispatched back; a rule waits for Dispatched)
    assert [a.action for a in x.audit[-1:]] == ["undo"]
    clock.advance(60)
    assert release_held_notices(depot) == 0


def test_a_failure_in_the_chain_rolls_back_all_of_it(rows, counts, depot, new_order, frozen_rule, monkeypatch):
    n = _called_back(depot, new_order)
    before, c = rows(depot, n), counts(depot)

    def broken(*a, **kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(rulefold, "write_followups", broken)
    with pytest.raises(RuntimeError):
        CallBack(n).execute(depot)

    assert counts(depot) == c
    x = rows(depot, n)
    assert (x.order.status, x.order.version, x.order.assignee.name) == (
        "dispatched", before.order.version, "Van Man")


def test_acting_without_rules_is_audited_and_fires_nothing(rows, depot, new_order, frozen_rule):
    n = _called_back(depot, new_order)
    pv = CallBack(n, without_rules=True).preview(depot)
    assert pv.rules == () and pv.without_rules
    assert pv.not_firing[0].reason == "set aside: acting without rules"
    assert "Without rules: 'Frozen to Swift' (version 1) will not fire; the history says so." in pv.lines

    r = CallBack(n, without_rules=True).execute(depot)

    x = rows(depot, n)
    assert x.order.status == "created" and x.order.assignee is None
    assert not x.notices_to("Swift Haulage")
    assert next(a for a in x.audit if a.id == r.audit_id).detail.endswith("Acted without rules.")


def test_a_chain_past_the_cap_is_refused_in_the_confirm_and_nothing_is_written(rows, counts, depot, new_order):
    for i in range(6):
        add_rule(depot, f"Step {i}", f"tag-added t{i}", f"add-tag t{i + 1}")
    n = new_order()
    pv = SetTags(n, add=("t0",)).preview(depot)
    assert not pv.allowed
    assert pv.refusals[0].startswith(f"Rules go more than 5 steps deep on order {n} (Step 0 → Step 1")
    c = counts(depot)
    with pytest.raises(Refused):
        SetTags(n, add=("t0",)).execute(depot)
    assert counts(depot) == c
    SetTags(n, add=("t0",), without_rules=True).execute(depot)
    assert [t.name for t in rows(depot, n).order.tags] == ["t0"]


def test_a_rule_whose_send_is_refused_refuses_the_action(depot, new_order):
    add_rule(depot, "Accepted to Swift", "enters Accepted", "send Swift Haulage")
    n = new_order()
    pv = SetStatus(n, status=Status.ACCEPTED).preview(depot)
    assert pv.refusals == (
        f"Rule 'Accepted to Swift' (version 1) cannot send order {n} to Swift Haulage: "
        f"Order {n} cannot go from Accepted to Dispatched; from Accepted it can go to: "
        "Created, Picked up, Rejected, Cancelled.",)


def test_a_new_order_taken_by_phone_fires_the_rules_and_its_confirm_shows_them(rows, depot):
    add_rule(depot, "Bakery call", "arrives-from Corner Bakery", "follow-up Phone the bakery back")
    form = OrderForm(source="Corner Bakery", pickup_address="1 Mill Lane", delivery_address="2 Oven Road")
    pv = CreateOrder(form).preview(depot)
    assert [(r.rule, r.effects) for r in pv.rules] == [
        ("Bakery call", ("A follow-up is created: Phone the bakery back",))]
    r = CreateOrder(form).execute(depot)
    x = rows(depot, r.order)
    assert [f.text for f in x.followups] == ["Phone the bakery back"]
    assert x.audit[-1].detail.startswith("Rule 'Bakery call' (version 1), on it arrives from Corner Bakery")


def test_import_never_fires_rules(rows, depot):
    add_rule(depot, "Tag new ones", "enters Created", "add-tag new")
    data = {"orders": [{"number": "IMP-1", "status": "created", "pickup_address": "A",
                        "delivery_address": "B", "partner": "Plain Client"}]}
    import_json(depot, data)
    x = rows(depot, "IMP-1")
    assert x.order.tags == [] and [a.action for a in x.audit] == ["imported"]


def test_rules_are_parsed_once_per_change_to_them(depot, new_order, frozen_rule):
    """An action reads the rules' sequence with its order; while it stays the same, the rules
    parsed before are used (no query); a change to the rules is seen by the next action."""
    add_rule(depot, "Tag what is sent", "enters Dispatched", "add-tag sent", ifs=("partner Swift Haulage",))
    orders = [_called_back(depot, new_order) for _ in range(3)]
    seen: list[str] = []

    def log(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    def rule_reads() -> int:
        return sum(1 for s in seen if "FROM rules" in s and "count(" not in s)

    event.listen(depot.db.engine, "before_cursor_execute", log)
    try:
        CallBack(orders[0]).execute(depot)
        assert rule_reads() <= 1
        seen.clear()
        CallBack(orders[1]).execute(depot)
        assert rule_reads() == 0
        EnableRule("Tag what is sent", enabled=False).execute(depot)
        seen.clear()
        r = CallBack(orders[2]).execute(depot)
        assert rule_reads() == 1
    finally:
        event.remove(depot.db.engine, "before_cursor_execute", log)
    assert "'Tag what is sent'" not in r.message  # the change was seen


# --------------------------------------------------------------------------- the rule actions


def test_saving_a_rule_backtests_it_against_the_audit(depot, new_order, clock):
    for _ in range(3):
        n = new_order(source="Plain Client")
        set_status(depot, n, "accepted")
    clock.advance(8 * 86400)
    n = new_order(source="Plain Client")
    set_status(depot, n, "accepted")
    pv = SaveRule(RuleInput("Accepted note", parse_trigger("enters Accepted"), (),
                            (parse_effect("follow-up Book the van"),))).preview(depot)
    assert pv.lines[-2] == "Would have fired on 1 change in the last 7 days."
    res = SaveRule(RuleInput("Accepted note", parse_trigger("enters Accepted"), (),
                             (parse_effect("follow-up Book the van"),))).execute(depot)
    assert res.message.endswith("Would have fired on 1 change in the last 7 days.")
    from datetime import timedelta

    assert rule_test(depot, "Accepted note", since=timedelta(days=30)).count == 4


def test_rule_test_on_an_order_says_what_it_would_do_or_why_not(depot, new_order, frozen_rule):
    cold = new_order(source="Plain Client", tags=["frozen"])
    warm = new_order(source="Plain Client")
    t = rule_test(depot, "Frozen to Swift", number=cold)
    assert t.fires is True
    assert t.lines[0] == f"If an order enters Created now, rule 'Frozen to Swift' (version 1) fires on order {cold}:"
    t = rule_test(depot, "Frozen to Swift", number=warm)
    assert t.fires is False
    assert t.lines[0] == (f"If an order enters Created now, rule 'Frozen to Swift' (version 1) does not fire "
                          f"on order {warm}: it lacks the tag frozen.")
    add_rule(depot, "Bakery", "arrives-from Corner Bakery", "add-tag bakery", enabled=False)
    t = rule_test(depot, "Bakery", number=warm)
    assert t.fires is False
    assert t.lines == (
        f"Rule 'Bakery' (version 1) cannot fire on order {warm}: it fires when an order arrives from "
        "Corner Bakery, and it came from Plain Client (client).",
        "Would have fired on 0 changes in the last 7 days.",
    )


@pytest.mark.parametrize("rule_input, field, sentence", [
    (RuleInput(" ", parse_trigger("enters Created"), (), (parse_effect("add-tag x"),)), "name", "A rule needs a name."),
    (RuleInput("No effect", parse_trigger("enters Created")), "effects", "A rule needs at least one effect."),
    (RuleInput("To a client", parse_trigger("enters Created"), (), (parse_effect("send Plain Client"),)), "effects",
     "Plain Client is a client: orders are sent only to a subcontractor or a warehouse."),
    (RuleInput("Nobody", parse_trigger("arrives-from Nobody"), (), (parse_effect("add-tag x"),)), "trigger",
     "There is no partner named 'Nobody'"),
])
def test_a_rule_form_error_names_its_field(depot, rule_input, field, sentence):
    with pytest.raises(InvalidInput) as e:
        SaveRule(rule_input).preview(depot)
    assert e.value.field == field and str(e.value).startswith(sentence)


def test_text_that_is_not_a_trigger_is_one_sentence_naming_the_field():
    with pytest.raises(InvalidInput) as e:
        parse_trigger("whenever")
    assert e.value.field == "trigger"
    assert str(e.value).startswith("The trigger 'whenever' is not one I know; write enters STATUS")


def test_saving_a_tag_ping_pong_is_refused_naming_the_rules(depot, counts):
    add_rule(depot, "Ping", "tag-added hot", "add-tag cold")
    pong = RuleInput("Pong", parse_trigger("tag-added cold"), (), (parse_effect("add-tag hot"),))
    pv = SaveRule(pong).preview(depot)
    assert pv.refusals == ("These rules trigger each other in a loop: 'Ping' (version 1) → 'Pong' (version 1) "
                           "→ 'Ping' (version 1).",)
    with pytest.raises(Refused):
        SaveRule(pong).execute(depot)
    assert [v.name for v in rules(depot)] == ["Ping"]
    # added off, it is kept; turning it on runs the check again
    add_rule(depot, "Pong", "tag-added cold", "add-tag hot", enabled=False)
    assert not EnableRule("Pong").preview(depot).allowed
    with pytest.raises(Refused):
        EnableRule("Pong").execute(depot)


def test_edit_move_turn_off_and_delete(depot):
    a = add_rule(depot, "A", "enters Created", "add-tag a").rule
    add_rule(depot, "B", "enters Created", "add-tag b")
    edited = SaveRule(RuleInput("A2", parse_trigger("enters Accepted"), (), (parse_effect("add-tag a"),)),
                      rule_id=a.id, expected_version=1).execute(depot)
    assert (edited.rule.name, edited.rule.version) == ("A2", 2)
    with pytest.raises(Conflict):
        SaveRule(RuleInput("A3", parse_trigger("enters Accepted"), (), (parse_effect("add-tag a"),)),
                 rule_id=a.id, expected_version=1).execute(depot)
    assert not MoveRule("A2", up=True).preview(depot).allowed
    MoveRule("B", up=True).execute(depot)
    assert [(v.position, v.name) for v in rules(depot)] == [(1, "B"), (2, "A2")]
    EnableRule("B", enabled=False).execute(depot)
    assert [v.enabled for v in rules(depot)] == [False, True]
    DeleteRule("B").execute(depot)
    assert [(v.position, v.name) for v in rules(depot)] == [(1, "A2")]
    with pytest.raises(NotFound):
        DeleteRule("B").execute(depot)
    with depot.uow(write=False) as uow:
        actions = uow.session.scalars(select(AuditEntry.action).where(AuditEntry.order_id.is_(None))).all()
    assert {"rule added", "rule changed", "rule moved", "rule turned off", "rule deleted"} <= set(actions)


def test_an_order_from_a_partner_is_taken_in_even_when_its_rules_refuse_and_a_follow_up_says_why(rows, depot):
    from test_inbound import new_order_msg

    from dispatchdesk.services import receive

    add_rule(depot, "Arrivals", "arrives-from Plain Client", "add-tag t0")
    for i in range(6):
        add_rule(depot, f"Step {i}", f"tag-added t{i}", f"add-tag t{i + 1}")
    r = receive(depot, "Plain Client", new_order_msg("PC-RULES"))
    x = rows(depot, r.order)
    assert x.order.tags == [] and [a.action for a in x.audit] == ["received"]
    (f,) = [f for f in x.followups if f.text.startswith("The rules were not applied")]
    assert f.text.startswith(f"The rules were not applied to order {r.order}: Rules go more than 5 steps deep")


@pytest.mark.postgres
def test_a_chain_and_its_undo_on_postgresql(pg_fresh_url, open_depot, add_partners, make_order, rows):
    pg = open_depot(pg_fresh_url)
    add_partners(pg)
    add_rule(pg, "Frozen to Swift", "enters Created", "send Swift Haulage", "add-tag iced", ifs=("has-tag frozen",))
    n = make_order(pg, source="Plain Client", tags=["frozen"])
    dispatch(pg, n, "Van Man")
    r = CallBack(n).execute(pg)
    x = rows(pg, n)
    assert (x.order.assignee.name, sorted(t.name for t in x.order.tags)) == ("Swift Haulage", ["frozen", "iced"])
    Undo(n).execute(pg)
    x = rows(pg, n)
    assert (x.order.assignee.name, [t.name for t in x.order.tags]) == ("Van Man", ["frozen"])
    assert {m.state for m in x.notices if m.id in r.notices} == {"withdrawn"}


def test_when_only_the_rules_tell_a_partner_the_confirm_says_so_and_puts_the_focus_on_no(depot, new_order):
    add_rule(depot, "Frozen goes out", "tag-added frozen", "send Swift Haulage")
    n = new_order()
    plain = SetTags(n, add=("fragile",)).preview(depot)
    assert "Nobody outside the depot will be told." in plain.lines and not plain.final
    pv = SetTags(n, add=("frozen",)).preview(depot)
    assert "Nobody outside the depot will be told." not in pv.lines
    assert "Only the rules below tell anyone outside the depot." in pv.lines
    assert pv.final and pv.focus_note == "No has the focus: the rules tell partners, and this cannot be undone."


def test_a_status_a_partner_reports_fires_the_rules_waiting_for_it(rows, depot, new_order):
    from test_inbound import msg, sent_order

    from dispatchdesk.services import receive

    add_rule(depot, "Invoice", "enters Delivered", "follow-up Send the invoice", "add-tag to-invoice",
             ifs=("came-from Picked up",))
    add_rule(depot, "Never", "enters Delivered", "add-tag never", ifs=("came-from Accepted",))
    n = sent_order(depot, new_order)
    for status in ("accepted", "picked up"):
        receive(depot, "Swift Haulage", msg("order.status", order="SW-1", your_ref=n, status=status))
    assert rows(depot, n).order.tags == []
    receive(depot, "Swift Haulage", msg("order.status", order="SW-1", your_ref=n, status="delivered"))
    x = rows(depot, n)
    assert x.order.status == "delivered" and [t.name for t in x.order.tags] == ["to-invoice"]
    assert [f.text for f in x.followups if f.text == "Send the invoice"]
    assert [(a.action, a.actor) for a in x.audit[-3:]] == [
        ("partner status", "partner:Swift Haulage"), ("rule", "partner:Swift Haulage"),
        ("rule", "partner:Swift Haulage")]
    assert x.audit[-1].detail.startswith("Rule 'Invoice' (version 1), on it enters Delivered")


def test_renaming_a_partner_carries_the_rules_that_name_it(depot, new_order, rows, frozen_rule):
    from dispatchdesk.services import partner_input, update_partner

    update_partner(depot, "Swift Haulage", replace(partner_input(depot, "Swift Haulage"), name="Swift Freight"))
    assert rules(depot)[0].effects[0] == "send it to Swift Freight"
    n = _called_back(depot, new_order)
    CallBack(n).execute(depot)
    assert rows(depot, n).order.assignee.name == "Swift Freight"


def test_the_preview_says_which_of_its_lines_are_the_rules(depot, new_order, frozen_rule):
    n = _called_back(depot, new_order)
    pv = CallBack(n).preview(depot)
    assert pv.lines[len(pv.lines) - pv.rule_lines:] == (
        "Rule 'Frozen to Swift' (version 1) fires (it enters Created):", *(f"  {e}" for e in pv.rules[0].effects))
    assert CallBack(n, without_rules=True).preview(depot).rule_lines == 1


def test_the_new_order_confirm_names_its_number_and_who_the_rules_tell(depot, new_order):
    new_order()  # DD-000001 is taken
    add_rule(depot, "Bakery to the van", "arrives-from Corner Bakery", "send Van Man")
    form = OrderForm(source="Corner Bakery", pickup_address="1 Mill Lane", delivery_address="2 Oven Road")
    pv = CreateOrder(form).preview(depot)
    assert "Only the rules below tell anyone outside the depot." in pv.lines
    assert pv.rules[0].effects[0].startswith("Order DD-000002 is sent to Van Man: Created → Dispatched.")
    r = CreateOrder(form).execute(depot)
    assert (r.order, r.to_status) == ("DD-000002", Status.DISPATCHED)
