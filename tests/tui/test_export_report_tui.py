"""Issue 8 items 7 and 8 in the console: Export… (x) of the list, filter or selection, with its
progress and the file's name; the Report screen (5) for a period; saved views (v) on Dispatch."""

from __future__ import annotations

import csv
import threading
from pathlib import Path
from typing import Any

from textual.widgets import Input, OptionList
from tui_helpers import board_ready, highlight, make_app, screen_text, settle, wait_for

from dispatchdesk.services import InvalidInput
from dispatchdesk.services.views import ViewFilter, saved_views
from dispatchdesk.tui.screens.export import ExportScreen
from dispatchdesk.tui.screens.menu import MenuScreen
from dispatchdesk.tui.screens.name import NameScreen
from dispatchdesk.tui.screens.report import ReportScreen

SMALL = (80, 24)
WIDE = (160, 50)


def _numbers(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return [row["Number"] for row in csv.DictReader(f)]


async def _export_to(pilot: Any, path: Path) -> ExportScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ExportScreen) and pilot.app.screen.is_mounted, "the export dialog")
    screen = pilot.app.screen
    field = screen.query_one("#export-path", Input)
    field.value = str(path)
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, ExportScreen), "the export to be written")
    await settle(pilot)
    return screen


async def _choose(pilot: Any, item_id: str) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, MenuScreen) and pilot.app.screen.is_mounted)
    options = pilot.app.screen.query_one(OptionList)
    target = options.get_option_index(item_id)
    while options.highlighted != target:
        await pilot.press("down")
    await pilot.press("enter")
    await settle(pilot)


# --------------------------------------------------------------------------- export


async def test_export_the_highlighted_list_by_keyboard(desk: Any, tmp_path: Path) -> None:
    app = make_app(desk)
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "dispatched", desk["dispatched"])
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen.is_mounted)
        # the default path is in the documents folder, named after the list
        assert "orders-dispatched-" in app.screen.query_one("#export-path", Input).value
        await _export_to(pilot, tmp_path / "list")
        messages = [n.message for n in app._notifications]
        assert any(f"Exported 2 orders to {tmp_path / 'list.csv'}" in m for m in messages), messages
    assert sorted(_numbers(tmp_path / "list.csv")) == sorted([desk["dispatched"], desk["dispatched_manual"]])


async def test_export_the_selection_to_excel_and_a_bad_path_says_why(desk: Any, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    app = make_app(desk)
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", desk["created_own"])
        await pilot.press("space")
        await highlight(pilot, "delivered", desk["delivered"])
        await pilot.press("space", "x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen.is_mounted)
        screen = app.screen
        await wait_for(pilot, lambda: "the 2 selected orders" in screen_text(app), "the title")
        await pilot.press("shift+tab", "down", "enter")  # from the path to the formats: Excel
        await pilot.pause()
        assert screen.fmt == "xlsx"
        screen.query_one("#export-path", Input).value = str(tmp_path / "missing" / "sel.xlsx")
        screen.query_one("#export-path", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "does not exist" in screen_text(app), "the problem under the path")
        assert isinstance(app.screen, ExportScreen)  # kept open, with what was typed
        await _export_to(pilot, tmp_path / "sel.xlsx")
    ws = load_workbook(tmp_path / "sel.xlsx")["Orders"]
    got = sorted(r[0] for r in ws.iter_rows(min_row=2, values_only=True))
    assert got == sorted([desk["created_own"], desk["delivered"]])


def test_export_dialog_80x24(snap_compare: Any, desk: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await pilot.press("slash", *"Swift", "enter")
        await settle(pilot)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ExportScreen) and pilot.app.screen.is_mounted)
        pilot.app.screen.query_one("#export-path", Input).value = "/home/dispatcher/Documents/orders-Swift.csv"
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)


def test_export_progress_80x24(snap_compare: Any, desk: Any) -> None:
    release = threading.Event()

    def slow(fmt: str, path: str, progress: Any) -> Any:
        progress(0, 100_000)
        progress(37_500, 100_000)  # a whole number of half cells: drawn the same before and after layout
        release.wait(10)
        raise InvalidInput("Stopped by the test.")

    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        pilot.app.push_screen(ExportScreen("every order", Path("/home/dispatcher/Documents/orders.pdf"), slow,
                                           fmt="pdf", blink=False))
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ExportScreen) and pilot.app.screen.is_mounted)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "37,500 of 100,000" in screen_text(pilot.app), "the progress")
        await pilot.pause()

    try:
        assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)
    finally:
        release.set()


# --------------------------------------------------------------------------- report


async def test_report_screen_shows_the_sections_for_the_days_typed(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen) and app.screen.is_mounted)
        await wait_for(pilot, lambda: "Northwind Retail" in screen_text(app), "the report")
        text = screen_text(app)
        assert "Work done" in text and "Rejections and cancellations per partner and reason" in text
        assert "Corner Bakery" in text and "damaged" in text.lower()
        # days long before the seed: nothing counted; a wrong day is one sentence
        app.screen.query_one("#report-first", Input).value = "2000-01-01"
        app.screen.query_one("#report-last", Input).value = "2000-01-31"
        app.screen.query_one("#report-last", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "No order was rejected or cancelled" in screen_text(app))
        app.screen.query_one("#report-first", Input).value = "last week"
        app.screen.query_one("#report-first", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "is not a date like" in screen_text(app))
        app.screen.query_one("#report-body").focus()
        await pilot.press("a")
        await wait_for(pilot, lambda: "Northwind Retail" in screen_text(app))


async def _report(pilot: Any) -> None:
    await pilot.pause()
    await board_ready(pilot)
    await pilot.press("5")
    await wait_for(pilot, lambda: "Northwind Retail" in screen_text(pilot.app), "the report")
    await settle(pilot)


def test_report_80x24(snap_compare: Any, desk: Any) -> None:
    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=_report)


def test_report_160x50(snap_compare: Any, desk: Any) -> None:
    assert snap_compare(make_app(desk), terminal_size=WIDE, run_before=_report)


# --------------------------------------------------------------------------- saved views


async def test_save_show_rename_and_delete_a_view(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted)
        assert "Filter with / first" in screen_text(app)  # nothing to save yet
        await pilot.press("escape")
        await pilot.press("slash", *"Swift", "enter")
        await settle(pilot)
        await pilot.press("v")
        await _choose(pilot, "save")
        await wait_for(pilot, lambda: isinstance(app.screen, NameScreen) and app.screen.is_mounted)
        await pilot.press(*"Swift jobs", "enter")
        await settle(pilot)
        assert [(v.name, v.filter) for v in saved_views(desk.depot)] == [("Swift jobs", ViewFilter("Swift"))]
        # the same name again is refused under the field, and the dialog stays
        await pilot.press("v")
        await _choose(pilot, "save")
        await pilot.press(*"swift JOBS", "enter")
        await wait_for(pilot, lambda: "already a view" in screen_text(app))
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("escape")  # clear the filter
        await settle(pilot)
        assert app.screen.filter_text == ""
        await pilot.press("v")
        await _choose(pilot, "v0")
        assert app.screen.filter_text == "Swift" and app.screen.view_name == "Swift jobs"
        assert "View Swift jobs" in screen_text(app)
        await pilot.press("v")
        await _choose(pilot, "rename")
        await _choose(pilot, "v0")
        await wait_for(pilot, lambda: isinstance(app.screen, NameScreen) and app.screen.is_mounted)
        app.screen.query_one(Input).value = "Swift"
        await pilot.press("enter")
        await settle(pilot)
        assert [v.name for v in saved_views(desk.depot)] == ["Swift"]
        await pilot.press("v")
        await _choose(pilot, "delete")
        await _choose(pilot, "v0")
        await pilot.press("y")
        await settle(pilot)
    assert saved_views(desk.depot) == []


async def test_export_of_one_order_by_its_number(desk: Any, tmp_path: Path) -> None:
    """What the Start menu's Export… calls: Flows.export(number)."""
    app = make_app(desk)
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        app.flows.start(app.flows.export(desk["rejected"]), name="export")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen.is_mounted)
        await wait_for(pilot, lambda: f"Export order {desk['rejected']}" in screen_text(app), "the title")
        await _export_to(pilot, tmp_path / "one.csv")
    assert _numbers(tmp_path / "one.csv") == [desk["rejected"]]  # Rejected exported like any other


async def test_a_saved_view_is_in_the_palette(desk: Any) -> None:
    from dispatchdesk.services.views import SaveView

    SaveView("Bakery", ViewFilter("Bakery")).execute(desk.depot)
    app = make_app(desk)
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        await wait_for(pilot, lambda: app.screen.saved_views, "the views to be read")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"View: Bak")
        await wait_for(pilot, lambda: "View: Bakery" in screen_text(app), "the palette to offer it")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.filter_text == "Bakery" and app.screen.view_name == "Bakery"


def test_views_menu_80x24(snap_compare: Any, desk: Any) -> None:
    from dispatchdesk.services.views import SaveView

    SaveView("Swift jobs", ViewFilter("Swift")).execute(desk.depot)
    SaveView("Archived York", ViewFilter("York", tab="all")).execute(desk.depot)

    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await board_ready(pilot)
        await pilot.press("slash", *"Leeds", "enter")
        await settle(pilot)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, MenuScreen) and pilot.app.screen.is_mounted)
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=SMALL, run_before=run_before)
