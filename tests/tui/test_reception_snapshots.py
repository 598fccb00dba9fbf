"""Snapshots of order reception (key 2): the screen at 80x24 and 160x50, the Start menu, the
Reject dialog with the switch on and a message typed, and the Refuse request dialog. The
depot is the seeded one under a clock that stands still. Update with --snapshot-update for
just these tests, then LOOK at the SVGs."""

from __future__ import annotations

from typing import Any

from reception_helpers import go_to, reception_ready
from tui_helpers import make_app, settle, wait_for

from dispatchdesk.tui.screens.menu import MenuScreen
from dispatchdesk.tui.screens.reject import RefuseRequestForm, RejectForm

SMALL = (80, 24)
WIDE = (160, 50)


def test_reception_80x24(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await reception_ready(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_reception_160x50(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await reception_ready(pilot)

    assert snap_compare(make_app(desk), terminal_size=WIDE, run_before=run_before)


def test_reception_start_menu(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await go_to(pilot, desk["requested"])
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, MenuScreen) and pilot.app.screen.is_mounted, "the Start menu")
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_reject_dialog_switch_on(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await go_to(pilot, desk["created_inbound"])
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RejectForm) and pilot.app.screen.is_mounted, "the reject dialog")
        await pilot.press("tab", "tab")
        await pilot.press(*"We do not deliver there")
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_reject_dialog_failed_checks(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await go_to(pilot, desk["invoiced"])
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RejectForm) and pilot.app.screen.is_mounted, "the reject dialog")
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_refuse_request_dialog(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await go_to(pilot, desk["requested"])
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RefuseRequestForm) and pilot.app.screen.is_mounted, "the dialog")
        await pilot.press(*"Already loaded; it will be handled as a return")
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)
