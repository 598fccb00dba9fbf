"""Snapshots of every screen of the dispatch console, at 80x24 and at 160x50.

The depot is the seeded one (tests/tui/conftest.py) under a clock that stands still, so ages
and times never move. Update with `pytest tests/tui --snapshot-update`, then LOOK at the SVGs.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import OptionList
from tui_helpers import board_ready, card_offset, highlight, make_app, settle, status_list, wait_for

from dispatchdesk.tui.screens.cancellation import CancellationForm
from dispatchdesk.tui.screens.confirm import ConfirmScreen
from dispatchdesk.tui.screens.detail import OrderDetailScreen
from dispatchdesk.tui.screens.help import HelpScreen
from dispatchdesk.tui.screens.menu import MenuScreen

SMALL = (80, 24)
WIDE = (160, 50)


async def _choose(pilot: Any, item_id: str) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, MenuScreen) and pilot.app.screen.is_mounted)
    options = pilot.app.screen.query_one(OptionList)
    target = options.get_option_index(item_id)
    while options.highlighted != target:
        await pilot.press("down")
    await pilot.press("enter")
    await settle(pilot)


def test_board_80x24(snap_compare: Any, desk: Any) -> None:
    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=board_ready)


def test_board_160x50(snap_compare: Any, desk: Any) -> None:
    assert snap_compare(make_app(desk), terminal_size=WIDE, run_before=board_ready)


def test_all_information_160x50(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await pilot.press("i")
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=WIDE, run_before=run_before)


def test_menu_open(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        lst = status_list(pilot.app, "dispatched")
        await pilot.click(lst, offset=card_offset(lst, desk["dispatched"], row=1), button=3)
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, MenuScreen) and pilot.app.screen.is_mounted)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_status_menu_with_reasons(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await highlight(pilot, "picked_up", desk["picked_up"])
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, MenuScreen) and pilot.app.screen.is_mounted)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=WIDE, run_before=run_before)


def test_confirm_trash(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await highlight(pilot, "created", desk["created_inbound"])
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen.is_mounted)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_confirm_silent_rejected(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await highlight(pilot, "created", desk["created_inbound"])
        await pilot.press("s")
        await _choose(pilot, "rejected")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen.is_mounted)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_drag_under_way(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        source = status_list(pilot.app, "dispatched")
        target = status_list(pilot.app, "created")
        await pilot.mouse_down(source, offset=card_offset(source, desk["dispatched"]))
        await pilot.hover(source, offset=(5, 8))
        await pilot.hover(target, offset=(5, 8))
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_keyboard_move_under_way(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await highlight(pilot, "accepted", desk["accepted"])
        await pilot.press("m", "left", "left")
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_order_detail(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await highlight(pilot, "dispatched", desk["dispatched_manual"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, OrderDetailScreen) and pilot.app.screen.is_mounted)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_order_detail_odd_text_160x50(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await highlight(pilot, "created", desk["odd"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, OrderDetailScreen) and pilot.app.screen.is_mounted)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=WIDE, run_before=run_before)


def test_cancellation_form(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await highlight(pilot, "created", desk["shop"])
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CancellationForm) and pilot.app.screen.is_mounted)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_help(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen) and pilot.app.screen.is_mounted)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=WIDE, run_before=run_before)


def test_all_information_80x24_scrolled_to_cancelled(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await pilot.press("i")
        await settle(pilot)
        await pilot.press(*["l"] * 6)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_board_filtered_80x24(snap_compare: Any, desk: Any) -> None:
    """Filtered counts read whole at 80 columns (the list's name gives way, not its count)."""

    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await pilot.press("slash", *"Swift", "enter")
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_order_detail_help_80x24(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await highlight(pilot, "created", desk["invoiced"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, OrderDetailScreen) and pilot.app.screen.is_mounted)
        await settle(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen) and pilot.app.screen.is_mounted)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)
