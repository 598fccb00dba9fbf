"""An order whose partner name, addresses and lines carry escape sequences (colour, clear
screen, a window title), C1 controls, a bidi override and markup (`[@click=app.quit]`, an
unbalanced `[/]`): every screen shows those characters as text, sends no control character to
the terminal, runs nothing when clicked and does not crash.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Input
from tui_helpers import (
    board_ready,
    card_offset,
    highlight,
    make_app,
    order_row,
    screen_text,
    settle,
    status_list,
    wait_for,
)

from dispatchdesk.tui.screens.cancellation import CancellationForm
from dispatchdesk.tui.screens.confirm import ConfirmScreen
from dispatchdesk.tui.screens.detail import OrderDetailScreen
from dispatchdesk.tui.screens.menu import MenuScreen
from dispatchdesk.tui.screens.tags import TagsScreen

CONTROLS = "\x1b\x07\x9b\x9d\x85\u202e\u202c"
MARKUP = "[@click=app.quit]x[/] [b]"


def assert_literal(app: Any, *, expect: str = MARKUP) -> str:
    text = screen_text(app)
    bad = sorted({f"U+{ord(c):04X}" for c in text if c in CONTROLS})
    assert not bad, f"control characters reached the terminal: {bad}"
    if expect:
        assert expect in text.replace("\n", ""), f"{expect!r} is not shown literally"
    return text


async def test_the_board_shows_it_literally_and_clicks_run_nothing(desk: Any) -> None:
    number = desk["odd"]
    before = order_row(desk.depot, number)
    app = make_app(desk)
    async with app.run_test(size=(160, 50)) as pilot:
        await board_ready(pilot)
        assert_literal(app, expect="evil[@click=app.quit]")
        lst = status_list(app, "created")
        for row in range(3):
            for x in range(1, lst.size.width - 1, 3):
                await pilot.click(lst, offset=(x, card_offset(lst, number, row)[1]))
        await settle(pilot)
        assert app.is_running and app.return_value is None
        assert app.screen.card.number == number
    assert order_row(desk.depot, number) == before


async def test_menu_confirm_and_notification(desk: Any) -> None:
    number = desk["odd"]
    app = make_app(desk)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await board_ready(pilot)
        lst = status_list(app, "created")
        await pilot.click(lst, offset=card_offset(lst, number, row=1), button=3)
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted)
        assert_literal(app, expect="")
        await pilot.press("down", "down", "enter")  # Trash
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen.is_mounted)
        text = assert_literal(app)
        assert "will be told" in text
        await pilot.press("y")
        await settle(pilot)
        # the toast names the partner
        await wait_for(pilot, lambda: "Created → Rejected" in screen_text(app), "the toast")
        assert_literal(app)
        assert app.is_running
    assert order_row(desk.depot, number)["status"] == "rejected"


async def test_the_detail_shows_it_literally(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=(160, 50)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", desk["odd"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderDetailScreen) and app.screen.is_mounted)
        await settle(pilot)
        text = assert_literal(app)
        assert "Evil RED evil" in text and "ODDRED" in text
        await pilot.click("#detail", offset=(20, 3))
        await settle(pilot)
        assert app.is_running


async def test_the_cancellation_form_and_tags(desk: Any) -> None:
    number = desk["odd"]
    app = make_app(desk)
    async with app.run_test(size=(120, 40)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CancellationForm) and app.screen.is_mounted)
        assert_literal(app, expect="ODDRED")
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, TagsScreen) and app.screen.is_mounted)
        app.screen.query_one(Input).value = "[b]urgent[/b], [@click=app.quit]"
        await pilot.press("enter")
        await settle(pilot)
        assert app.is_running
    from dispatchdesk.services import queries

    assert set(queries.order_detail(desk.depot, number).tags) == {"[b]urgent[/b]", "[@click=app.quit]"}


async def test_the_command_palette_and_help(desk: Any) -> None:
    from textual.command import CommandPalette

    from dispatchdesk.tui.screens.help import HelpScreen

    app = make_app(desk)
    async with app.run_test(size=(120, 40)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", desk["odd"])
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette) and app.screen.is_mounted)
        await pilot.press(*"trash")
        await pilot.pause(0.3)
        assert_literal(app, expect="Trash order DD-000666")
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen.is_mounted)
        assert_literal(app, expect="Dispatch: keys")
        assert app.is_running


async def test_the_bulk_confirm_and_result(desk: Any) -> None:
    from dispatchdesk.tui.screens.confirm import BulkConfirmScreen, ResultScreen

    app = make_app(desk)
    async with app.run_test(size=(120, 40)) as pilot:
        await board_ready(pilot)
        for name in ("odd", "invoiced"):
            await highlight(pilot, "created", desk[name])
            await pilot.press("space")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmScreen) and app.screen.is_mounted)
        assert_literal(app, expect="[@click=app.quit]")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen) and app.screen.is_mounted)
        assert_literal(app, expect="")
        await pilot.press("escape")
        await settle(pilot)
        assert app.is_running
    assert order_row(desk.depot, desk["odd"])["status"] == "rejected"
    assert order_row(desk.depot, desk["invoiced"])["status"] == "created"
