"""The dispatch screen driven like a dispatcher would: keys, clicks, right-click, drag.

Every test asserts on the DATABASE afterwards (read in a fresh session), not only the screen.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import OptionList
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

from dispatchdesk.tui.screens.confirm import BulkConfirmScreen, ConfirmScreen, ResultScreen
from dispatchdesk.tui.screens.menu import MenuScreen


async def choose(pilot: Any, item_id: str) -> None:
    """In the open menu, move to `item_id` with the arrow keys and press enter."""
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


async def confirm_shown(pilot: Any) -> ConfirmScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen.is_mounted, "the confirm")
    return pilot.app.screen


def confirm_text(screen: ConfirmScreen) -> str:
    return text_of(screen.query_one("#confirm-lines"))


# --------------------------------------------------------------------------- mouse


async def test_drag_dispatched_to_created_cancels_the_shipment(desk: Any) -> None:
    number = desk["dispatched"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        source = status_list(app, "dispatched")
        target = status_list(app, "created")
        await pilot.mouse_down(source, offset=card_offset(source, number))
        await pilot.hover(source, offset=(4, 10))
        await pilot.hover(target, offset=(4, 6))
        assert app.screen.carry is not None and app.screen.carry.target == "created"
        assert app.screen.query_one("#list-work-created").has_class("-drop-target")
        await pilot.mouse_up(target, offset=(4, 6))
        confirm = await confirm_shown(pilot)
        text = confirm_text(confirm)
        assert "Dispatched → Created" in text and "Swift Haulage will be told" in text
        await pilot.press("y")
        await settle(pilot)
    row = order_row(desk.depot, number)
    assert row["status"] == "created"
    assert row["assignee"] is None
    assert ("order.revoked", "Swift Haulage", "held") in row["notices"]


async def test_a_drop_the_move_table_refuses_changes_nothing_and_says_why(desk: Any) -> None:
    number = desk["picked_up"]
    before = order_row(desk.depot, number)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        source = status_list(app, "picked_up")
        target = status_list(app, "created")
        await pilot.mouse_down(source, offset=card_offset(source, number))
        await pilot.hover(target, offset=(4, 4))
        await pilot.mouse_up(target, offset=(4, 4))
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        messages = [n.message for n in app._notifications]
        assert any("Handle it as a return" in m for m in messages), messages
    assert order_row(desk.depot, number) == before


async def test_right_click_trash_yes_rejects_and_tells_the_client(desk: Any) -> None:
    number = desk["created_inbound"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        lst = status_list(app, "created")
        await pilot.click(lst, offset=card_offset(lst, number, row=1), button=3)
        await choose(pilot, "trash")
        confirm = await confirm_shown(pilot)
        assert "Northwind Retail will be told" in confirm_text(confirm)
        assert app.focused is not None and app.focused.id == "no"  # final: No has the focus
        await pilot.press("y")
        await settle(pilot)
    row = order_row(desk.depot, number)
    assert row["status"] == "rejected"
    assert ("order.rejected", "Northwind Retail", "held") in row["notices"]
    assert row["actions"][-1] == ("trash", "dispatcher")


async def test_right_click_trash_no_changes_nothing(desk: Any) -> None:
    number = desk["created_inbound"]
    before = order_row(desk.depot, number)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        lst = status_list(app, "created")
        await pilot.click(lst, offset=card_offset(lst, number), button=3)
        await choose(pilot, "trash")
        await confirm_shown(pilot)
        await pilot.press("enter")  # No has the focus
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
    assert order_row(desk.depot, number) == before


async def test_escape_on_the_confirm_is_no(desk: Any) -> None:
    number = desk["created_inbound"]
    before = order_row(desk.depot, number)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("t")
        await confirm_shown(pilot)
        await pilot.press("escape")
        await settle(pilot)
    assert order_row(desk.depot, number) == before


# --------------------------------------------------------------------------- keyboard


async def test_set_status_from_the_keyboard(desk: Any) -> None:
    number = desk["accepted"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await pilot.press("l", "l")  # Created -> Dispatched -> Accepted
        assert app.screen.card.number == number
        await pilot.press("s")
        await choose(pilot, "picked_up")
        confirm = await confirm_shown(pilot)
        assert "Accepted → Picked up" in confirm_text(confirm)
        await pilot.press("y")
        await settle(pilot)
    assert order_row(desk.depot, number)["status"] == "picked_up"


async def test_set_status_menu_shows_refused_statuses_with_the_reason(desk: Any) -> None:
    number = desk["picked_up"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "picked_up", number)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted)
        options = app.screen.query_one(OptionList)
        created = options.get_option("created")
        assert created.disabled
        assert "Handle it as a return" in str(created.prompt)
        assert not options.get_option("delivered").disabled
        await pilot.press("escape")
        await settle(pilot)
    assert order_row(desk.depot, number)["status"] == "picked_up"


async def test_keyboard_pick_up_move_and_drop(desk: Any) -> None:
    number = desk["dispatched"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "dispatched", number)
        await pilot.press("m")
        assert app.screen.carry is not None
        await pilot.press("left")
        assert app.screen.carry.target == "created"
        assert app.screen.query_one("#list-work-created").has_class("-drop-target")
        await pilot.press("enter")
        confirm = await confirm_shown(pilot)
        assert "Dispatched → Created" in confirm_text(confirm)
        await pilot.press("y")
        await settle(pilot)
    row = order_row(desk.depot, number)
    assert row["status"] == "created"
    assert ("order.revoked", "Swift Haulage", "held") in row["notices"]


async def test_escape_puts_a_carried_card_back(desk: Any) -> None:
    number = desk["dispatched"]
    before = order_row(desk.depot, number)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "dispatched", number)
        await pilot.press("m", "left", "escape")
        await settle(pilot)
        assert app.screen.carry is None
    assert order_row(desk.depot, number) == before


async def test_bulk_trash_where_one_order_is_refused(desk: Any) -> None:
    ok, refused = desk["created_inbound"], desk["invoiced"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", ok)
        await pilot.press("space")
        await highlight(pilot, "created", refused)
        await pilot.press("space")
        assert set(app.screen.selected) == {ok, refused}
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmScreen) and app.screen.is_mounted, "the bulk confirm")
        text = text_of(app.screen.query_one("#confirm-lines"))
        assert ok in text and refused in text and "referenced by an invoice" in text
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen) and app.screen.is_mounted, "the result")
        result = text_of(app.screen.query_one("#result-lines"))
        assert "✓ done" in result and "✗ refused" in result
        await pilot.press("escape")
        await settle(pilot)
        assert not app.screen.selected
    assert order_row(desk.depot, ok)["status"] == "rejected"
    assert order_row(desk.depot, refused)["status"] == "created"


async def test_undo_inside_the_window(desk: Any) -> None:
    number = desk["created_inbound"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("t")
        await confirm_shown(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert order_row(desk.depot, number)["status"] == "rejected"
        assert any("Press u to undo" in n.message for n in app._notifications)
        desk.clock.advance(5)  # still inside the 10 s window
        await pilot.press("u")
        await settle(pilot)
    row = order_row(desk.depot, number)
    assert row["status"] == "created"
    assert ("order.rejected", "Northwind Retail", "withdrawn") in row["notices"]
    assert [a for a, _ in row["actions"]][-2:] == ["trash", "undo"]


async def test_undo_after_the_window_is_refused(desk: Any) -> None:
    number = desk["created_inbound"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("t")
        await confirm_shown(pilot)
        await pilot.press("y")
        await settle(pilot)
        desk.clock.advance(11)
        app.refresh_bindings()
        await pilot.press("u")
        await settle(pilot)
        assert any("nothing to undo" in n.message for n in app._notifications)
    assert order_row(desk.depot, number)["status"] == "rejected"


async def test_conflict_with_another_session(desk: Any) -> None:
    number = desk["created_inbound"]
    app = make_app(desk, poll=60)  # the board does not see the other session's change in time
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        other = desk.other_session()
        from dispatchdesk import services

        services.set_status(other, number, "accepted")
        other.close()
        await pilot.press("t")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        messages = " ".join(n.message for n in app._notifications)
        assert f"Order {number} was changed by colleague" in messages and "Accepted" in messages
        # the board shows the new state: the card now sits, highlighted, in Accepted
        await wait_for(pilot, lambda: app.screen.card is not None and app.screen.card.number == number
                       and app.screen.active.key == "accepted", "the card in its new list")
    row = order_row(desk.depot, number)
    assert row["status"] == "accepted"
    assert row["actions"][-1] == ("set_status", "colleague")  # nothing of ours was written


async def test_another_sessions_change_appears_on_the_board(desk: Any) -> None:
    number = desk["created_own"]
    app = make_app(desk, poll=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        other = desk.other_session()
        from dispatchdesk import services

        services.set_status(other, number, "accepted")
        other.close()
        accepted = status_list(app, "accepted")
        await wait_for(pilot, lambda: number in [c.number for c in accepted.loaded_cards()], "the change")
        assert number not in [c.number for c in status_list(app, "created").loaded_cards()]


async def test_the_keys_say_why_an_action_is_refused(desk: Any) -> None:
    number = desk["delivered"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "delivered", number)
        active = {b.binding.action for b in app.screen.active_bindings.values()
                  if b.enabled and b.binding.show}
        assert "trash" not in active and "cancel" not in active and "open" in active
        await pilot.press("t")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("goods have left" in n.message for n in app._notifications)
    assert order_row(desk.depot, number)["status"] == "delivered"


async def test_filter_by_partner(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await pilot.press("slash")
        await pilot.press(*"shopfront")
        await wait_for(pilot, lambda: app.screen.filter_ids is not None and app.screen.filter_text == "shopfront")
        await settle(pilot)
        assert [c.number for c in status_list(app, "created").loaded_cards()] == [desk["shop"]]
        assert status_list(app, "dispatched").total == 0
        await pilot.press("enter")
        assert app.screen.filter_text == "shopfront"
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.filter_ids is None
        assert status_list(app, "created").total > 1


async def test_menu_key_opens_the_menu_and_open_shows_the_detail(desk: Any) -> None:
    from dispatchdesk.tui.screens.detail import OrderDetailScreen

    number = desk["shop"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        for key in ("o", "shift+f10", "f16"):
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted, f"the menu on {key}")
            await pilot.press("escape")
            await settle(pilot)
        await pilot.press("o")
        await choose(pilot, "open")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderDetailScreen) and app.screen.is_mounted)
        text = text_of(app.screen.query_one("#detail"))
        assert number in text and "MUG" in text and "History" in text
        await pilot.press("escape")
        await settle(pilot)


async def test_cancellation_form_partial(desk: Any) -> None:
    from textual.widgets import Input

    from dispatchdesk.tui.screens.cancellation import CancellationForm

    number = desk["shop"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CancellationForm) and app.screen.is_mounted, "the form")
        form = app.screen
        assert form.query_one("#number", Input).value.startswith("CN-")
        form.query_one("#qty-0", Input).value = "3"  # MUG: 3 of 4
        form.query_one("#qty-1", Input).value = "0"  # TEAPOT: none
        await pilot.press("ctrl+s")
        confirm = await confirm_shown(pilot)
        assert "partial" in confirm_text(confirm)
        await pilot.press("y")
        await settle(pilot)
    from dispatchdesk.services import queries

    detail = queries.order_detail(desk.depot, number)
    assert detail.status.value == "created"  # partial: the order stays open
    assert detail.cancellations[0].lines == {"MUG": 3}
    assert {ln.article: ln.cancelled for ln in detail.lines} == {"MUG": 3, "TEAPOT": 0}


async def test_cancellation_form_refuses_a_used_number(desk: Any) -> None:
    from textual.widgets import Input, Static

    from dispatchdesk.services import queries
    from dispatchdesk.tui.screens.cancellation import CancellationForm

    used = queries.order_detail(desk.depot, desk["cancelled"]).cancellations[0].number
    number = desk["shop"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CancellationForm) and app.screen.is_mounted, "the form")
        app.screen.query_one("#number", Input).value = used
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, CancellationForm)
        assert "already used" in text_of(app.screen.query_one("#form-errors", Static))
        await pilot.press("ctrl+n")
        assert app.screen.query_one("#number", Input).value != used
        await pilot.press("escape")
        await settle(pilot)
    assert queries.order_detail(desk.depot, number).cancellations == ()


async def test_keys_1_3_4_switch_screens_when_installed(desk: Any) -> None:
    import importlib.util

    from dispatchdesk.tui.screens.dispatch import DispatchScreen

    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        for key, module, name in (("3", "dispatchdesk.tui.link_screen", "LinkScreen"),
                                  ("4", "dispatchdesk.tui.partners_screen", "PartnersScreen")):
            installed = importlib.util.find_spec(module) is not None
            await pilot.press(key)
            await pilot.pause()
            if installed:
                await wait_for(pilot, lambda name=name: type(app.screen).__name__ == name, name)
            else:
                assert isinstance(app.screen, DispatchScreen)
            await pilot.press("1")
            await wait_for(pilot, lambda: isinstance(app.screen, DispatchScreen) and app.screen.is_mounted, "the board again")


async def test_drag_created_to_dispatched_asks_for_the_partner(desk: Any) -> None:
    number = desk["created_own"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        source = status_list(app, "created")
        target = status_list(app, "dispatched")
        await pilot.mouse_down(source, offset=card_offset(source, number))
        await pilot.hover(target, offset=(4, 8))
        await pilot.mouse_up(target, offset=(4, 8))
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted, "the partner menu")
        options = app.screen.query_one(OptionList)
        names = [str(o.prompt) for o in options.options]
        assert any("Swift Haulage" in n for n in names) and not any("Northwind" in n for n in names)
        index = next(i for i, n in enumerate(names) if "Swift Haulage" in n)
        await choose(pilot, options.options[index].id)
        confirm = await confirm_shown(pilot)
        assert "It is sent to Swift Haulage." in confirm_text(confirm)
        await pilot.press("y")
        await settle(pilot)
    row = order_row(desk.depot, number)
    assert row["status"] == "dispatched" and row["assignee"] == "Swift Haulage"
    assert ("order.new", "Swift Haulage", "queued") in row["notices"]


async def test_duplicate_and_archive_from_the_menu(desk: Any) -> None:
    from dispatchdesk.services import queries

    number = desk["delivered"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "delivered", number)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted)
        trash = app.screen.query_one(OptionList).get_option("trash")
        assert trash.disabled and "goods have left" in str(trash.prompt)
        await choose(pilot, "duplicate")
        await confirm_shown(pilot)
        await pilot.press("y")
        await settle(pilot)
        await highlight(pilot, "delivered", number)
        await pilot.press("a")
        await confirm_shown(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert number not in [c.number for c in status_list(app, "delivered").loaded_cards()]
    assert order_row(desk.depot, number)["archived"] is True
    copies = [c for c in queries.board(desk.depot) if c.number not in desk.numbers.values()]
    assert len(copies) == 1 and copies[0].status.value == "created"
    assert queries.order_detail(desk.depot, copies[0].number).replaces == number


async def test_actions_from_the_order_detail(desk: Any) -> None:
    from dispatchdesk.tui.screens.detail import OrderDetailScreen

    number = desk["created_inbound"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderDetailScreen) and app.screen.is_mounted)
        await pilot.press("t")
        await confirm_shown(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, OrderDetailScreen)
        await wait_for(pilot, lambda: "Rejected" in text_of(app.screen.query_one("#detail")).split("\n")[0],
                       "the detail to show the new status")
        assert "rejection" in text_of(app.screen.query_one("#detail"))
    assert order_row(desk.depot, number)["status"] == "rejected"


async def test_a_click_on_the_key_line_runs_the_key(desk: Any) -> None:
    from dispatchdesk.tui.widgets.keybar import KeyBar

    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", desk["created_inbound"])
        bar = app.screen.query_one(KeyBar)
        bar.render()
        trash = next(k for k in bar._keys if k.action == "trash")
        await pilot.click(bar, offset=(trash.start + 1, 0))
        await confirm_shown(pilot)
        await pilot.press("n")
        await settle(pilot)
    assert order_row(desk.depot, desk["created_inbound"])["status"] == "created"


class FakeRelay:
    def __init__(self) -> None:
        self.state = "sending 3"
        self.waiting = 5
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


async def test_the_header_shows_the_relay(desk: Any) -> None:
    from dispatchdesk.tui.widgets.header import DeskHeader

    relay = FakeRelay()
    app = make_app(desk, relay=relay)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        header = app.screen.query_one(DeskHeader)
        await wait_for(pilot, lambda: "relay: sending 3 · 5 waiting" in str(header.render()), "the relay state")
        relay.state, relay.waiting = "partner Swift Haulage down", 7
        await wait_for(pilot, lambda: "partner Swift Haulage down · 7 waiting" in str(header.render()))
        assert relay.started
    assert relay.stopped


async def test_no_color_keeps_every_state_visible(desk: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        assert app.no_color
        lst = status_list(app, "created")
        cursor = lst.get_component_rich_style("card--cursor")
        assert cursor.reverse  # the highlighted card is reversed, not only coloured
        assert lst.get_component_rich_style("card--number").bold
        assert lst.get_component_rich_style("card--urgent").bold


async def test_filter_by_number_and_by_address(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        # the seed's addresses take turns: Leeds -> York, Bradford -> Harrogate, Hull (Quay Side) -> Wakefield
        for text, expected in (("000005", {"accepted": [desk["accepted"]]}),
                               ("quay side", {"created": [desk["created_own"], desk["shop"]],
                                              "accepted": [desk["accepted"]]})):
            app.screen.set_filter(text)
            await wait_for(pilot, lambda text=text: app.screen.filter_text == text
                           and app.screen.filter_ids is not None)
            await settle(pilot)
            shown = {lst.key: [c.number for c in lst.loaded_cards()] for lst in app.screen.board.lists()}
            assert {k: v for k, v in shown.items() if v} == expected


async def test_no_on_the_cancellation_confirm_goes_back_to_the_form_with_what_was_typed(desk: Any) -> None:
    """Issue 11, item 13: No on the confirm returns to the form; nothing is cancelled, nothing lost.
    Issue 11, item 14: an untouched pre-filled number that someone took meanwhile is renumbered."""
    from textual.widgets import Input

    from dispatchdesk import services
    from dispatchdesk.tui.screens.cancellation import CancellationForm

    number = desk["shop"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CancellationForm) and app.screen.is_mounted, "the form")
        form = app.screen
        prefilled = form.query_one("#number", Input).value
        form.query_one("#comment", Input).value = "Customer changed their mind"
        form.query_one("#qty-0", Input).value = "3"
        form.query_one("#qty-1", Input).value = "0"
        # someone else takes the pre-filled number while the form is open
        services.cancel(desk.other_session(), desk["created_inbound"],
                        services.CancellationRequest(None, number=prefilled))
        await pilot.press("ctrl+s")
        confirm = await confirm_shown(pilot)
        text = confirm_text(confirm)
        assert "Cancellation number: " in text and prefilled not in text  # renumbered, not refused
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CancellationForm) and app.screen.is_mounted, "the form again")
        again = app.screen
        assert again.query_one("#comment", Input).value == "Customer changed their mind"
        assert again.query_one("#qty-0", Input).value == "3"
        assert again.query_one("#qty-1", Input).value == "0"
        await pilot.press("escape")
        await settle(pilot)
    assert order_row(desk.depot, number)["status"] == "created"
    assert [a for a, _ in order_row(desk.depot, number)["actions"]] == ["created"]
