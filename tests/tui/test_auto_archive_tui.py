"""Issue 13 item 2 in the console: an order the depot archived by itself is in All information's
Archived list, its detail says who archived it and why, and Unarchive (a, on the detail or from
the card's menu) brings it back to the working lists."""

from __future__ import annotations

from typing import Any

from textual.widgets import OptionList
from tui_helpers import board_ready, highlight, make_app, order_row, settle, status_list, text_of

from dispatchdesk.services import run_auto_archive
from dispatchdesk.tui.screens.confirm import ConfirmScreen
from dispatchdesk.tui.screens.menu import MenuScreen
from helpers import wait_for

DAYS_31 = 31 * 24 * 3600


async def _confirm(pilot: Any) -> str:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen.is_mounted, "the confirm")
    return text_of(pilot.app.screen.query_one("#confirm-lines"))


async def test_unarchive_from_the_order_detail(desk: Any) -> None:
    from dispatchdesk.tui.screens.detail import OrderDetailScreen

    number = desk["delivered"]
    desk.clock.advance(DAYS_31)
    assert run_auto_archive(desk.depot) >= 1
    assert order_row(desk.depot, number)["actions"][-1] == ("archive", "depot")
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        assert number not in [c.number for c in status_list(app, "delivered").loaded_cards()]
        await pilot.press("i")  # All information: the Archived list
        await wait_for(pilot, lambda: app.screen.query("#list-all-archived"), "the All information tab")
        await settle(pilot)
        await highlight(pilot, "archived", number, board="all")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderDetailScreen) and app.screen.is_mounted, "the order detail")
        await settle(pilot)
        shown = text_of(app.screen.query_one("#detail"))
        assert "archived" in shown.split("\n")[0]
        assert f"Order {number} archived automatically after 30 days in Delivered." in " ".join(shown.split())
        await pilot.press("a")
        lines = await _confirm(pilot)
        assert "It comes back to the working lists." in lines
        await pilot.press("y")
        await settle(pilot)
        await wait_for(pilot, lambda: "archived" not in text_of(app.screen.query_one("#detail")).split("\n")[0],
                       "the detail to drop the archived mark")
    row = order_row(desk.depot, number)
    assert row["archived"] is False and row["actions"][-1] == ("unarchive", "dispatcher")


async def test_unarchive_from_the_cards_menu(desk: Any) -> None:
    number = desk["rejected"]
    desk.clock.advance(DAYS_31)
    run_auto_archive(desk.depot)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: app.screen.query("#list-all-archived"), "the All information tab")
        await settle(pilot)
        await highlight(pilot, "archived", number, board="all")
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted, "the card's menu")
        options = app.screen.query_one(OptionList)
        prompts = [str(o.prompt) for o in options.options]
        assert any(p.startswith("Unarchive") for p in prompts), prompts
        target = options.get_option_index("unarchive")
        while options.highlighted != target:
            await pilot.press("down")
        await pilot.press("enter")
        await _confirm(pilot)
        await pilot.press("y")
        await settle(pilot)
        await wait_for(pilot, lambda: number in [c.number for c in status_list(app, "rejected", "all").loaded_cards()],
                       "the order back in its status list")
    assert order_row(desk.depot, number)["archived"] is False
