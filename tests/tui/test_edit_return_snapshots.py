"""Snapshots of issue 8's edit confirm and return form (80x24 and 160x50), the edit form with an
error, the offer of a return, and an order detail with its returns. Update with
`pytest tests/tui/test_edit_return_snapshots.py --snapshot-update`, then LOOK at the SVGs."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input
from tui_helpers import board_ready, highlight, make_app, settle, wait_for

from dispatchdesk.services import RegisterReturn, ReturnReason
from dispatchdesk.tui.screens.confirm import ConfirmScreen
from dispatchdesk.tui.screens.detail import OrderDetailScreen
from dispatchdesk.tui.screens.edit_return import EditForm, ReturnForm
from dispatchdesk.tui.screens.menu import MenuScreen

SMALL = (80, 24)
WIDE = (160, 50)


def _edit_confirm(desk: Any) -> Any:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await highlight(pilot, "dispatched", desk["dispatched"])
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, EditForm) and pilot.app.screen.is_mounted)
        form = pilot.app.screen
        form.query_one("#delivery_address", Input).value = "9 Low Street, York YO1 8AB"
        form.query_one("#parcels", Input).value = "5"
        form.query_one("#qty-0", Input).value = "4"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen.is_mounted)
        await settle(pilot)

    return run_before


def test_edit_confirm_80x24(snap_compare: Any, desk: Any) -> None:
    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=_edit_confirm(desk))


def test_edit_confirm_160x50(snap_compare: Any, desk: Any) -> None:
    assert snap_compare(make_app(desk), terminal_size=WIDE, run_before=_edit_confirm(desk))


def test_edit_form_with_an_error(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await highlight(pilot, "created", desk["created_own"])
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, EditForm) and pilot.app.screen.is_mounted)
        pilot.app.screen.query_one("#deliver_by", Input).value = "next tuesday"
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def _return_form(desk: Any) -> Any:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await highlight(pilot, "delivered", desk["delivered"])
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReturnForm) and pilot.app.screen.is_mounted)
        await settle(pilot)

    return run_before


def test_return_form_80x24(snap_compare: Any, desk: Any) -> None:
    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=_return_form(desk))


def test_return_form_160x50(snap_compare: Any, desk: Any) -> None:
    assert snap_compare(make_app(desk), terminal_size=WIDE, run_before=_return_form(desk))


def test_too_late_offers_the_return(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await highlight(pilot, "picked_up", desk["picked_up"])
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, MenuScreen) and pilot.app.screen.is_mounted)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_order_detail_with_a_return_160x50(snap_compare: Any, desk: Any) -> None:
    RegisterReturn(desk["delivered"], lines={"BOX-S": 1}, reason_code=ReturnReason.DAMAGED,
                   comment="Crushed corner", return_number="RT-000001").execute(desk.depot)

    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        pilot.app.open_order(desk["delivered"])
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, OrderDetailScreen)
                       and pilot.app.screen.detail is not None)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=WIDE, run_before=run_before)
