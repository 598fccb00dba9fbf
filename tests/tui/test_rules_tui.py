"""The rules in the console (issue 14): the Rules screen (key 6), the rule form, and every
confirm showing the rules that fire, why the others will not (w), and acting without them (a).

Every flow asserts on the DATABASE afterwards (read in a fresh session), not only the screen.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from textual.widgets import OptionList, Select
from tui_helpers import (
    board_ready,
    card_offset,
    highlight,
    make_app,
    order_row,
    settle,
    status_list,
    text_of,
    wait_for,
)

from dispatchdesk import services
from dispatchdesk.services import RuleInput, SaveRule, parse_condition, parse_effect, parse_trigger
from dispatchdesk.store.models import AuditEntry, Order
from dispatchdesk.tui.screens.confirm import ConfirmScreen
from dispatchdesk.tui.screens.menu import MenuScreen
from dispatchdesk.tui.screens.rule_form import RuleForm
from dispatchdesk.tui.screens.rules import LinesScreen, RulesScreen

RULE = "Back to the warehouse"


def add_rules(depot: Any) -> None:
    """A rule that fires when an order called back from a partner enters Created (it sends it to
    the warehouse and tags it), one that will not fire on it (a condition fails), one that is off."""
    SaveRule(RuleInput(RULE, parse_trigger("enters Created"),
                       conditions=(parse_condition("came-from Dispatched"),),
                       effects=(parse_effect("send Central Warehouse"), parse_effect("add-tag re-sent")))).execute(depot)
    SaveRule(RuleInput("Shop orders: phone", parse_trigger("enters Created"),
                       conditions=(parse_condition("partner Shopfront"),),
                       effects=(parse_effect("follow-up Phone the shop"),))).execute(depot)
    SaveRule(RuleInput("Frozen goods", parse_trigger("tag-added frozen"),
                       effects=(parse_effect("send Central Warehouse"),), enabled=False)).execute(depot)


def audit(depot: Any, number: str) -> list[tuple[str, str]]:
    with depot.uow(write=False) as uow:
        s = uow.session
        oid = s.scalars(select(Order.id).where(Order.number == number)).one()
        return [(a.action, a.detail) for a in s.scalars(select(AuditEntry).where(AuditEntry.order_id == oid)
                                                         .order_by(AuditEntry.id))]


def tags(depot: Any, number: str) -> list[str]:
    return list(services.queries.order_detail(depot, number).tags)


async def confirm_shown(pilot: Any) -> ConfirmScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen.is_mounted, "the confirm")
    await settle(pilot)
    return pilot.app.screen


async def choose(pilot: Any, item_id: str) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, MenuScreen) and pilot.app.screen.is_mounted, "a menu")
    options = pilot.app.screen.query_one(OptionList)
    target = options.get_option_index(item_id)
    for _ in range(len(options.options)):
        if options.highlighted == target:
            break
        await pilot.press("down")
    assert options.highlighted == target, f"cannot reach {item_id}"
    await pilot.press("enter")
    await settle(pilot)


def assert_rule_fired(desk: Any, number: str) -> None:
    row = order_row(desk.depot, number)
    assert row["status"] == "dispatched" and row["assignee"] == "Central Warehouse"
    assert ("order.revoked", "Swift Haulage", "held") in row["notices"]
    assert ("order.new", "Central Warehouse", "held") in row["notices"]
    assert "re-sent" in tags(desk.depot, number)
    rule_entries = [detail for action, detail in audit(desk.depot, number) if action == "rule"]
    assert len(rule_entries) == 2, rule_entries
    assert all(f"'{RULE}' (version 1)" in d for d in rule_entries), rule_entries


# --------------------------------------------------------------------------- the confirm


async def test_a_drag_to_created_fires_a_rule_the_confirm_shows_it_and_yes_does_it(desk: Any) -> None:
    add_rules(desk.depot)
    number = desk["dispatched"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        source = status_list(app, "dispatched")
        target = status_list(app, "created")
        await pilot.mouse_down(source, offset=card_offset(source, number))
        await pilot.hover(source, offset=(4, 10))
        await pilot.hover(target, offset=(4, 6))
        await pilot.mouse_up(target, offset=(4, 6))
        confirm = await confirm_shown(pilot)
        text = text_of(confirm.query_one("#confirm-lines"))
        assert f"Rule '{RULE}' (version 1) fires" in text
        assert "sent to Central Warehouse" in text and "The tag re-sent is added" in text
        # why the other rules will not fire is there, shown on w (or a click)
        why = confirm.query_one("#confirm-why-not")
        assert not why.display
        await pilot.click("#why-not")
        assert why.display
        assert "Frozen goods (version 1): it is off" in text_of(why)
        assert "Shop orders: phone" in text_of(why)
        await pilot.click("#yes")
        await settle(pilot)
    assert_rule_fired(desk, number)


async def test_the_same_by_keyboard_status_menu_then_w_then_y(desk: Any) -> None:
    add_rules(desk.depot)
    number = desk["dispatched"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "dispatched", number)
        await pilot.press("s")
        await choose(pilot, "created")
        confirm = await confirm_shown(pilot)
        assert f"Rule '{RULE}'" in text_of(confirm.query_one("#confirm-lines"))
        await pilot.press("w")
        assert confirm.query_one("#confirm-why-not").display
        await pilot.press("w")
        assert not confirm.query_one("#confirm-why-not").display
        await pilot.press("y")
        await settle(pilot)
        assert any("Rules that fired" in n.message for n in app._notifications)
    assert_rule_fired(desk, number)


async def test_a_asks_again_without_the_rules_and_yes_acts_without_them(desk: Any) -> None:
    add_rules(desk.depot)
    number = desk["dispatched"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "dispatched", number)
        await pilot.press("s")
        await choose(pilot, "created")
        first = await confirm_shown(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen is not first,
                       "the confirm without rules")
        again = app.screen
        text = text_of(again.query_one("#confirm-lines"))
        assert "Without rules" in text and f"'{RULE}'" in text and "fires" not in text
        assert not again.query("#without-rules")  # asked once is enough
        await pilot.press("y")
        await settle(pilot)
    row = order_row(desk.depot, number)
    assert row["status"] == "created" and row["assignee"] is None
    assert "re-sent" not in tags(desk.depot, number)
    entries = audit(desk.depot, number)
    assert not [d for a, d in entries if a == "rule"]
    assert any("without rules" in d.lower() for _, d in entries), entries


async def test_no_on_the_confirm_with_rules_changes_nothing(desk: Any) -> None:
    add_rules(desk.depot)
    number = desk["dispatched"]
    before = order_row(desk.depot, number)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "dispatched", number)
        await pilot.press("s")
        await choose(pilot, "created")
        await confirm_shown(pilot)
        await pilot.press("n")
        await settle(pilot)
    assert order_row(desk.depot, number) == before


# --------------------------------------------------------------------------- the Rules screen


async def rules_screen(pilot: Any) -> RulesScreen:
    await board_ready(pilot)
    await pilot.press("6")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RulesScreen) and pilot.app.screen.loads > 0,
                   "the Rules screen")
    screen = pilot.app.screen
    # the highlighted rule's backtest ("Would have fired on …") is read in a thread
    await wait_for(pilot, lambda: not screen.rules or "Would have fired" in text_of(screen.query_one("#rule-detail")),
                   "the highlighted rule's backtest")
    await settle(pilot)
    return screen


async def pick(pilot: Any, select: Select[Any], label: str) -> None:
    """Choose `label` in a pick list by keyboard: focus it, enter opens it, arrows, enter."""
    select.focus()
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    options = select.query_one(OptionList)
    wanted = next(i for i, o in enumerate(options.options) if str(o.prompt) == label)
    for _ in range(len(options.options) + 1):
        if options.highlighted == wanted:
            break
        await pilot.press("down" if (options.highlighted or 0) < wanted else "up")
    await pilot.press("enter")
    await pilot.pause()


async def test_a_rule_made_in_the_form_by_keyboard_is_saved_and_listed(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await rules_screen(pilot)
        assert screen.query_one("#rules-table").row_count == 0
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, RuleForm) and app.screen.is_mounted, "the rule form")
        form = app.screen
        await pilot.press(*"Shop to Swift")
        await pilot.press("tab")  # the trigger's kind: enters a list (kept)
        await pilot.press("tab")  # the status: Created (kept)
        await pick(pilot, form.query_one("#f-trigger-value", Select), "Created")
        await pilot.press("ctrl+n")  # a condition
        row = form.query(".condition-row").last()
        await pick(pilot, row.query_one(".row-kind", Select), "partner is")
        await pick(pilot, row.query_one(".row-value", Select), "Shopfront")
        effect = form.query(".effect-row").last()
        await pick(pilot, effect.query_one(".row-value", Select), "Swift Haulage")
        await pilot.press("ctrl+t")  # a second effect: a follow-up
        second = form.query(".effect-row").last()
        await pick(pilot, second.query_one(".row-kind", Select), "follow-up")
        second.query_one(".row-text").focus()
        await pilot.press(*"Phone the shop")
        await pilot.press("ctrl+s")
        confirm = await confirm_shown(pilot)
        text = text_of(confirm.query_one("#confirm-lines"))
        assert "Would have fired on" in text and "in the last 7 days" in text
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, RulesScreen) and app.screen.is_mounted, "back to the list")
        await wait_for(pilot, lambda: screen.query_one("#rules-table").row_count == 1, "the rule listed")
        listed = text_of(screen.query_one("#rule-detail"))
        assert "Shop to Swift" in listed
    saved = services.rules(desk.depot)
    assert [r.name for r in saved] == ["Shop to Swift"]
    rule = saved[0].rule
    assert rule.trigger == parse_trigger("enters Created")
    assert rule.conditions == (parse_condition("partner Shopfront"),)
    assert rule.effects == (parse_effect("send Swift Haulage"), parse_effect("follow-up Phone the shop"))


async def test_the_form_shows_each_problem_under_its_field_and_saves_nothing(desk: Any) -> None:
    add_rules(desk.depot)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await rules_screen(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, RuleForm) and app.screen.is_mounted, "the rule form")
        form = app.screen
        await pilot.press("ctrl+s")  # no name
        await wait_for(pilot, lambda: form.query_one("#err-name").has_class("-shown"), "the name's error")
        assert "needs a name" in text_of(form.query_one("#err-name"))
        await pilot.press(*"Send twice")
        await pilot.press("ctrl+s")  # the effect has no partner
        await wait_for(pilot, lambda: form.query_one("#err-effects").has_class("-shown"), "the effects' error")
        assert not form.query_one("#err-name").has_class("-shown")
        assert "partner" in text_of(form.query_one("#err-effects"))
        # a set that contradicts itself is refused, the rules named
        await pick(pilot, form.query_one(".effect-row .row-value", Select), "Van Man")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: form.query_one("#form-errors").has_class("-shown"), "the set's problem")
        problem = text_of(form.query_one("#form-errors"))
        assert "Not saved" in problem and RULE in problem
        assert isinstance(app.screen, RuleForm)
    assert [r.name for r in services.rules(desk.depot)] == [RULE, "Shop orders: phone", "Frozen goods"]


async def test_space_turns_off_j_moves_down_delete_asks_and_deletes(desk: Any) -> None:
    add_rules(desk.depot)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await rules_screen(pilot)
        assert screen.current().name == RULE
        await pilot.press("space")  # off: at once
        await wait_for(pilot, lambda: not screen.current().enabled, "the rule off")
        await pilot.press("J")
        await wait_for(pilot, lambda: [r.name for r in screen.rules][1] == RULE, "the rule moved down")
        assert screen.current().name == RULE  # the cursor stays on it
        await pilot.press("K")
        await wait_for(pilot, lambda: [r.name for r in screen.rules][0] == RULE, "the rule moved up")
        await pilot.press("delete")
        confirm = await confirm_shown(pilot)
        assert app.focused is not None and app.focused.id == "no"  # it cannot be undone
        assert "Delete rule" in confirm.title_text
        await pilot.press("y")
        await wait_for(pilot, lambda: [r.name for r in screen.rules] == ["Shop orders: phone", "Frozen goods"],
                       "the rule deleted")
    assert [(r.name, r.enabled) for r in services.rules(desk.depot)] == [("Shop orders: phone", True),
                                                                          ("Frozen goods", False)]


async def test_right_click_menu_turns_a_rule_on_after_asking(desk: Any) -> None:
    add_rules(desk.depot)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await rules_screen(pilot)
        table = screen.query_one("#rules-table")
        await pilot.click(table, offset=(10, 3), button=3)  # the third rule's line (Frozen goods, off)
        await choose(pilot, "toggle")
        confirm = await confirm_shown(pilot)
        assert "Turn rule 'Frozen goods' on?" in confirm.title_text
        await pilot.press("y")
        await wait_for(pilot, lambda: all(r.enabled for r in screen.rules), "the rule on")
    assert all(r.enabled for r in services.rules(desk.depot))


async def test_t_tries_the_rule_on_an_order_and_says_what_it_would_do(desk: Any) -> None:
    add_rules(desk.depot)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await rules_screen(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: app.screen.query("#name-input"), "the number asked for")
        await pilot.press(*"DD-999999", "enter")
        await wait_for(pilot, lambda: app.screen.query("#name-error"), "the unknown number said")
        assert "DD-999999" in text_of(app.screen.query_one("#name-error"))
        field = app.screen.query_one("#name-input")
        field.value = ""
        await pilot.press(*desk["dispatched"], "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LinesScreen) and app.screen.is_mounted, "the test's answer")
        text = text_of(app.screen.query_one("#rule-test-lines"))
        assert f"rule '{RULE}' (version 1) fires on order {desk['dispatched']}" in text
        assert "Would have fired on" in text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RulesScreen)
    assert order_row(desk.depot, desk["dispatched"])["status"] == "dispatched"  # a test changes nothing


# --------------------------------------------------------------------------- a dialog's Save


async def test_a_tag_saved_in_the_tags_dialog_asks_first_when_a_rule_would_fire(desk: Any) -> None:
    """The tags dialog's Save is the dispatcher's yes, unless a rule fires with it: then the
    confirm shows the rule before anything is written."""
    SaveRule(RuleInput("Frozen goods", parse_trigger("tag-added frozen"),
                       effects=(parse_effect("send Central Warehouse"),))).execute(desk.depot)
    number = desk["created_own"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("g")
        await wait_for(pilot, lambda: app.screen.query("#tags-input"), "the tags dialog")
        await pilot.press(*"frozen", "ctrl+s")
        confirm = await confirm_shown(pilot)
        assert "Rule 'Frozen goods' (version 1) fires" in text_of(confirm.query_one("#confirm-lines"))
        assert order_row(desk.depot, number)["status"] == "created"  # nothing yet
        await pilot.press("y")
        await settle(pilot)
    row = order_row(desk.depot, number)
    assert row["status"] == "dispatched" and row["assignee"] == "Central Warehouse"
    assert "frozen" in tags(desk.depot, number)


async def test_when_only_the_rules_refuse_the_confirm_has_no_yes_and_a_acts_without_them(desk: Any) -> None:
    SaveRule(RuleInput("Frozen goods", parse_trigger("tag-added frozen"),
                       effects=(parse_effect("send Central Warehouse"),))).execute(desk.depot)
    number = desk["picked_up"]  # picked up: it cannot be sent to the warehouse any more
    before = order_row(desk.depot, number)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "picked_up", number)
        await pilot.press("g")
        await wait_for(pilot, lambda: app.screen.query("#tags-input"), "the tags dialog")
        await pilot.press(*"frozen", "ctrl+s")
        refused = await confirm_shown(pilot)
        assert not refused.query("#yes")
        assert app.focused is not None and app.focused.id == "no"
        assert "Frozen goods" in text_of(refused.query_one("#confirm-lines"))
        await pilot.press("y")  # no Yes: nothing happens
        await pilot.pause()
        assert app.screen is refused
        assert order_row(desk.depot, number) == before
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen is not refused,
                       "the confirm without rules")
        assert app.screen.query("#yes")
        await pilot.press("y")
        await settle(pilot)
    row = order_row(desk.depot, number)
    assert row["status"] == "picked_up" and row["assignee"] == "Swift Haulage"
    assert "frozen" in tags(desk.depot, number)


async def test_u_after_a_rule_fired_takes_back_the_whole_chain(desk: Any) -> None:
    add_rules(desk.depot)
    number = desk["dispatched"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "dispatched", number)
        await pilot.press("s")
        await choose(pilot, "created")
        await confirm_shown(pilot)
        await pilot.press("y")
        await settle(pilot)
        await wait_for(pilot, lambda: order_row(desk.depot, number)["assignee"] == "Central Warehouse",
                       "the rule's send")
        assert app.flows.can_undo()
        await pilot.press("u")
        await settle(pilot)
    row = order_row(desk.depot, number)
    assert row["status"] == "dispatched" and row["assignee"] == "Swift Haulage"
    assert "re-sent" not in tags(desk.depot, number)
    assert ("order.new", "Central Warehouse", "held") not in row["notices"]


# --------------------------------------------------------------------------- text from outside


async def test_a_rule_naming_a_hostile_partner_and_tag_is_shown_literally_everywhere(desk: Any) -> None:
    """A rule imported with markup and control characters in its name, a partner's and a
    tag: the Rules screen, the form and its open pick list show them as text."""
    from test_odd_text import assert_literal

    from dispatchdesk.services.queries import partner_names

    # the seeded hostile partner (tests/tui/conftest.py ODD_PARTNER; `from conftest import` is
    # ambiguous when tests/link runs in the same session)
    (ODD_PARTNER,) = [n for n in partner_names(desk.depot) if n.startswith("Evil ")]
    odd_tag = "x[@click=app.quit]x[/] [b]"
    SaveRule(RuleInput("Odd [@click=app.quit]x[/] [b] \x1b[31mred", parse_trigger("enters Created"),
                       conditions=(parse_condition(f"partner {ODD_PARTNER}"),),
                       effects=(parse_effect(f"add-tag {odd_tag}"),))).execute(desk.depot)
    app = make_app(desk)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await rules_screen(pilot)
        assert_literal(app)
        await pilot.click(screen.query_one("#rules-table"), offset=(40, 1))
        await settle(pilot)
        assert app.is_running
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, RuleForm) and app.screen.is_mounted, "the rule form")
        await settle(pilot)
        text = assert_literal(app, expect="")
        assert "Evil" in text and "[@click=app.quit]" in text
        row = app.screen.query_one(".condition-row")
        row.query_one(".row-value", Select).focus()
        await pilot.press("enter")  # the pick list of partners, open
        await pilot.pause()
        assert_literal(app, expect="")
    assert app.return_value is None


async def test_rows_are_added_and_removed_by_keys_and_by_the_mouse(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await rules_screen(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, RuleForm) and app.screen.is_mounted, "the rule form")
        form = app.screen
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+t")
        await settle(pilot)
        assert len(form.query(".condition-row")) == 2 and len(form.query(".effect-row")) == 2
        assert form._row_of(app.focused) is form.query(".effect-row").last()  # the new row has the focus
        await pilot.press("ctrl+r")  # the row the focus is in
        await settle(pilot)
        assert len(form.query(".effect-row")) == 1
        await pilot.click(form.query(".condition-row").first().query_one(".row-remove"))
        await settle(pilot)
        assert len(form.query(".condition-row")) == 1
        await pilot.click("#add-effect")
        await settle(pilot)
        assert len(form.query(".effect-row")) == 2
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RulesScreen)
    assert services.rules(desk.depot) == []


async def test_no_color_the_rules_screen_says_on_and_off_in_words_and_reverses_the_cursor(
        desk: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    add_rules(desk.depot)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await rules_screen(pilot)
        assert app.no_color
        table = screen.query_one("#rules-table")
        assert table.get_component_rich_style("datatable--cursor").reverse
        on_off = [table.get_cell_at((row, 1)).plain for row in range(table.row_count)]
        assert on_off == ["on", "on", "off"]
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, RuleForm) and app.screen.is_mounted, "the rule form")
        await settle(pilot)
        assert app.screen.query_one("#f-enabled").render().plain.startswith("[x]")


async def test_a_phone_order_from_a_partner_with_a_rule_asks_first_then_the_rule_acts(desk: Any) -> None:
    """The new-order form's ctrl+s is the dispatcher's yes, unless a rule fires on the order
    arriving: the confirm shows it first, and Yes creates the order with the rule's effect."""
    from dispatchdesk.tui.screens.neworder import NewOrderScreen

    SaveRule(RuleInput("Northwind orders", parse_trigger("arrives-from Northwind Retail"),
                       effects=(parse_effect("add-tag northwind"),))).execute(desk.depot)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewOrderScreen) and app.screen.is_mounted, "the new-order form")
        await settle(pilot)
        for text in ("north", "PO-77", "5 Mill Lane, Bradford", "9 Quay Side, Hull", "14:00", "tomorrow 10:00",
                     "2", "7,5", "BOX-S", "small boxes"):
            await pilot.press(*text, "tab")
            await pilot.pause()
        await pilot.press(*"3", "ctrl+s")
        confirm = await confirm_shown(pilot)
        assert "Rule 'Northwind orders' (version 1) fires" in text_of(confirm.query_one("#confirm-lines"))
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, (NewOrderScreen, ConfirmScreen)), "the order made")
        await settle(pilot)
    with desk.depot.uow(write=False) as uow:
        o = uow.session.scalars(select(Order).order_by(Order.id.desc())).first()
        number = o.number
        assert o.partner_ref == "PO-77"
    assert "northwind" in tags(desk.depot, number)
    assert any(a == "rule" and "'Northwind orders' (version 1)" in d for a, d in audit(desk.depot, number))
