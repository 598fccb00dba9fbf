"""What a new dispatcher tripped over in the console (issue 11, items 1-6): each with the test
that shows it fixed. The screens' looks are in the snapshots; these check the words and keys."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta
from typing import Any

from rich.console import Console, Group
from tui_helpers import board_ready, make_app, screen_text, settle, status_list, wait_for

from dispatchdesk.domain import NoticeState
from dispatchdesk.services import queries, set_setting
from dispatchdesk.tui.widgets.status_list import parties_line

SMALL = (80, 24)


def _render(renderables: list[Any], width: int) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(Group(*renderables))
    return console.export_text()


# --------------------------------------------------------------------------- 1: who has it now


def test_the_partners_line_names_source_and_holder_in_any_width() -> None:
    assert parties_line("Baltic Freight Depot", "Northline Haulage", 45).rstrip() == \
        "← Baltic Freight Depot → Northline Haulage"
    for width in (13, 14, 16, 20, 30, 60):
        line = parties_line("Baltic Freight Depot", "Northline Haulage", width)
        assert len(line) == width
        assert line.startswith("←") and "→" in line, line
        assert "Northline"[: min(5, width - 9)] in line, line
    assert parties_line("", "Swift Haulage", 30).rstrip() == "→ Swift Haulage"
    assert parties_line("Shopfront", "", 30).rstrip() == "← Shopfront"
    assert parties_line("", "", 30).rstrip() == "own order"


async def test_a_card_at_80_columns_shows_its_source_and_its_holder(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        text = screen_text(app)
        # DD-000004: from Corner Bakery, with Van Man
        assert any("Corner" in ln and "→ Van" in ln for ln in text.splitlines()), text
        lst = status_list(app, "dispatched")
        assert "Van Man" in {c.holder for c in lst.loaded_cards()}


async def test_filtering_by_the_holder_shows_cards_that_name_it(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        app.screen.set_filter("Swift")
        await wait_for(pilot, lambda: app.screen.filter_ids is not None)
        await settle(pilot)
        shown = [c for lst in app.screen.board.lists() for c in lst.loaded_cards()]
        assert len(shown) == 3  # dispatched, accepted, picked up: all with Swift Haulage
        text = screen_text(app)
        assert text.count("→ Swift Haul") == 3, text


# --------------------------------------------------------------------------- 2: titles and header at 80 columns


async def test_list_titles_keep_their_counts_at_80_columns_with_a_filter(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        assert "Dispatched 2" in screen_text(app)
        app.screen.set_filter("Swift")
        await wait_for(pilot, lambda: app.screen.filter_ids is not None)
        await settle(pilot)
        titles = screen_text(app).splitlines()[2]
        for count in ("0/6", "1/2", "1/1"):  # Created, Dispatched, Accepted, Picked up, Delivered
            assert count in titles, titles
        assert "Dispatc… 1/2" in titles, titles


async def test_the_header_keeps_the_screens_name_whole_at_80_columns(desk: Any) -> None:
    set_setting(desk.depot, "depot_name", "Ridings Express Depot and Warehouse")
    app = make_app(desk)
    app.relay_status = lambda: "relay: idle · 123 waiting"  # type: ignore[method-assign]
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        await pilot.press("i")
        await settle(pilot)
        await pilot.pause(0.6)  # the header reads the relay's state twice a second
        header = screen_text(app).splitlines()[0]
        assert "All information" in header and "relay: idle · 123 waiting" in header, header
        assert "Ridings" in header, header


# --------------------------------------------------------------------------- 2: tables at 80 columns


def test_the_order_details_tables_never_break_a_word_at_80_columns(desk: Any) -> None:
    from dispatchdesk.tui.screens.detail import render_detail

    d = queries.order_detail(desk.depot, desk["cancelled"])
    wordy = queries.NoticeView("n-1", d.number, "Northwind Retail", "order.cancellation", "http",
                               NoticeState.ACKNOWLEDGED, 12, d.created_at, None, None, None, "accepted",
                               "We have cancelled the whole order and told the driver, thank you.")
    failed = replace(wordy, id="n-2", state=NoticeState.FAILED, outcome=None, answer=None,
                     last_error="Cannot connect to Northwind Retail: connection refused (http://10.0.0.7:8080/link)")
    d = replace(d, notices=(wordy, failed), created_at=d.created_at - timedelta(days=3))
    text = _render(render_detail(d), 78)  # the detail's width in an 80-column terminal
    words = text.split()
    for word in ("acknowledged", "cancellation", "Cancelled", "Cancellation", "Northwind", "failed"):
        assert word in words, f"{word!r} is broken in:\n{text}"


# --------------------------------------------------------------------------- 5: space


def _help_text(app: Any) -> str:
    from textual.containers import VerticalScroll
    from textual.widgets import Static

    return str(app.screen.query_one(VerticalScroll).query_one(Static).content)


async def test_space_toggles_the_highlighted_card_and_does_not_move(desk: Any) -> None:
    from dispatchdesk.tui.screens.help import HelpScreen

    app = make_app(desk)
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        lst = status_list(app, "created")
        lst.focus()
        await pilot.press("down")
        second = lst.current.number
        await pilot.press("space")
        assert lst.cursor == 1 and set(app.screen.selected) == {second}
        await pilot.press("space")
        assert lst.cursor == 1 and not app.screen.selected
        await pilot.press("space", "down", "space")  # Down then Space selects the next card, skipping none
        numbers = [c.number for c in lst.loaded_cards()]
        assert set(app.screen.selected) == {numbers[1], numbers[2]}
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen.is_mounted)
        assert "the cursor stays on it" in _help_text(app)


# --------------------------------------------------------------------------- 6: the order detail's ?


async def test_the_order_details_help_names_keys_as_people_write_them(desk: Any) -> None:
    from dispatchdesk.tui.screens.detail import OrderDetailScreen
    from dispatchdesk.tui.screens.help import HelpScreen

    app = make_app(desk)
    async with app.run_test(size=(100, 40)) as pilot:
        await board_ready(pilot)
        app.open_order(desk["invoiced"])  # trash is refused on it: an invoice references it
        await wait_for(pilot, lambda: isinstance(app.screen, OrderDetailScreen) and app.screen.is_mounted)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen.is_mounted)
        text = _help_text(app)
        for raw in ("question_mark", "f16", "card", "escape,"):
            assert raw not in text, text
        for shown in ("?", "shift+F10", "esc  q  backspace", "ctrl+z"):
            assert shown in text, text
        assert "(not now: the key says why)" in text  # trash, on an invoiced order


# --------------------------------------------------------------------------- 3: ages tick


async def test_ages_on_the_cards_move_on_without_reading_the_database(desk: Any, monkeypatch: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        lst = status_list(app, "created")
        assert " 2h" in screen_text(app)

        def no_reads(*a: Any, **k: Any) -> Any:
            raise AssertionError("the tick read the database")

        monkeypatch.setattr(desk.depot, "uow", no_reads)
        desk.clock.advance(2 * 86400)
        await wait_for(pilot, lambda: " 2h" not in screen_text(app), "the ages to move on")
        assert " 2d" in screen_text(app)
        assert lst.now == desk.clock.now
