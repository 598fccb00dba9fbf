"""Snapshots of the new-order form with errors under its fields (issue 8), at 80x24 and 160x50.
Update with `--snapshot-update` for just these tests, then LOOK at the SVGs."""

from __future__ import annotations

from typing import Any

from tui_helpers import board_ready, make_app, settle, wait_for

from dispatchdesk.tui.screens.neworder import NewOrderScreen

SMALL = (80, 24)
WIDE = (160, 50)


async def _form_with_errors(pilot: Any) -> None:
    await pilot.pause()
    await board_ready(pilot)
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, NewOrderScreen) and pilot.app.screen.is_mounted, "the form")
    form = pilot.app.screen
    await pilot.press(*"north", "tab", *"PO-55", "tab", *"5 Mill Lane, Bradford", "tab", "tab",
                      *"14:00", "tab", *"12:00", "tab", *"two", "tab", *"7,5", "tab", *"BOX-S", "tab",
                      *"small boxes", "tab", *"0", "tab")
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: "The delivery address is empty." in str(
        form.query_one("#msg-delivery_address").render()), "the problems")
    await settle(pilot)


def test_new_order_form_with_errors_80x24(snap_compare: Any, desk: Any) -> None:
    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=_form_with_errors)


def test_new_order_form_with_errors_160x50(snap_compare: Any, desk: Any) -> None:
    assert snap_compare(make_app(desk), terminal_size=WIDE, run_before=_form_with_errors)
