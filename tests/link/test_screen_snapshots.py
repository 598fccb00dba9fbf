"""Snapshots of the Link and Partners screens at 80x24 and 160x50.

The depot (screenkit.build) has notices in every state, a partner whose name and error
answer are made of escape sequences and markup, and a clock that stands still. Update with
`pytest tests/link --snapshot-update`, then LOOK at every SVG.
"""

from __future__ import annotations

from typing import Any

from screenkit import ScreenApp, loaded, wait_for
from textual.widgets import DataTable

from dispatchdesk.tui.link_screen import LinkScreen
from dispatchdesk.tui.partners_screen import PartnerForm, PartnersScreen
from dispatchdesk.tui.screens.confirm import ConfirmScreen

SMALL = (80, 24)
WIDE = (160, 50)


def _link(desk: Any) -> ScreenApp:
    return ScreenApp(desk.depot, LinkScreen)


def _partners(desk: Any) -> ScreenApp:
    return ScreenApp(desk.depot, PartnersScreen)


async def _ready(pilot: Any) -> None:
    await pilot.pause()
    await loaded(pilot)


async def _on_notice(pilot: Any, notice_id: str) -> None:
    table = pilot.app.screen.query_one("#link-notices", DataTable)
    table.move_cursor(row=table.get_row_index(notice_id), animate=False)
    await pilot.pause()


def test_link_screen_80x24(snap_compare: Any, link_desk: Any) -> None:
    assert snap_compare(_link(link_desk), terminal_size=SMALL, run_before=_ready)


def test_link_screen_160x50(snap_compare: Any, link_desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _ready(pilot)
        await _on_notice(pilot, link_desk.notices["failed"])

    assert snap_compare(_link(link_desk), terminal_size=WIDE, run_before=run_before)


def test_link_failed_filter_and_retry_confirm_80x24(snap_compare: Any, link_desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _ready(pilot)
        await pilot.press("f", "f")  # all -> waiting -> failed
        await loaded(pilot, 3)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirm")
        await pilot.pause()

    assert snap_compare(_link(link_desk), terminal_size=SMALL, run_before=run_before)


def test_link_followups_80x24(snap_compare: Any, link_desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _ready(pilot)
        await pilot.press("w", "a")  # the follow-ups, all of them
        await loaded(pilot, 2)

    assert snap_compare(_link(link_desk), terminal_size=SMALL, run_before=run_before)


def test_partners_screen_80x24(snap_compare: Any, link_desk: Any) -> None:
    assert snap_compare(_partners(link_desk), terminal_size=SMALL, run_before=_ready)


def test_partners_screen_160x50(snap_compare: Any, link_desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _ready(pilot)
        await pilot.press("down", "down")  # the hostile partner's settings in the panel
        await pilot.pause()

    assert snap_compare(_partners(link_desk), terminal_size=WIDE, run_before=run_before)


def test_partner_form_with_errors_80x24(snap_compare: Any, link_desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _ready(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnerForm), "the form")
        await pilot.press(*"Tidy Vans")
        await pilot.press("tab", "tab")
        await pilot.press(*"ftp://tidy")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#form-errors").has_class("-shown"), "errors")
        await pilot.pause()

    assert snap_compare(_partners(link_desk), terminal_size=SMALL, run_before=run_before)


def test_partner_form_edit_160x50(snap_compare: Any, link_desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _ready(pilot)
        await pilot.press("e")  # the first partner
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnerForm), "the form")
        await pilot.pause()

    assert snap_compare(_partners(link_desk), terminal_size=WIDE, run_before=run_before)
