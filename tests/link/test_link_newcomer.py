"""The Link screen at 80x24 as a new dispatcher met it (issue 11, items 3 and 16): more notice
rows, new notices never push the highlighted row out of view, follow-ups by age, the whole text
of the highlighted row under the list, and ages that move on without a database read."""

from __future__ import annotations

from typing import Any

from screenkit import ScreenApp, _order, loaded, table_text, wait_for
from textual.widgets import DataTable, Static

from dispatchdesk.services import dispatch, queries
from dispatchdesk.tui.link_screen import LinkScreen

SMALL = (80, 24)


def _visible_rows(table: DataTable[Any]) -> range:
    top = int(table.scroll_y)
    return range(top, top + table.scrollable_content_region.height - 1)  # less the header row


async def test_the_notice_list_shows_eight_rows_at_80x24(link_desk: Any) -> None:
    app = ScreenApp(link_desk.depot, LinkScreen)
    async with app.run_test(size=SMALL) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#link-notices", DataTable)
        assert table.row_count >= 8
        assert len(_visible_rows(table)) >= 8


async def test_new_notices_do_not_push_the_highlighted_row_out_of_view(link_desk: Any) -> None:
    app = ScreenApp(link_desk.depot, LinkScreen)
    async with app.run_test(size=SMALL) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#link-notices", DataTable)
        last = _visible_rows(table)[-1]
        table.move_cursor(row=last, animate=False)
        await pilot.pause()
        key = table.coordinate_to_cell_key((last, 0)).row_key.value
        for _ in range(3):  # three new notices, each newest first: above the cursor
            link_desk.clock.advance(1)
            dispatch(link_desk.depot, _order(link_desk.depot), "Swift Haulage")
        screen.depot_changed()
        await loaded(pilot, 2)
        await pilot.pause()
        assert table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value == key
        assert table.cursor_row in _visible_rows(table), (table.cursor_row, table.scroll_y)


async def test_follow_ups_are_listed_by_age_the_longest_waiting_first(link_desk: Any) -> None:
    depot = link_desk.depot
    shown = queries.followups(depot)
    opened = [f for f in shown if f.done_at is None]
    assert [f.created_at for f in opened] == sorted(f.created_at for f in opened)
    assert shown[: len(opened)] == opened  # the done ones after
    app = ScreenApp(depot, LinkScreen)
    async with app.run_test(size=SMALL) as pilot:
        screen = await loaded(pilot)
        await pilot.press("w")
        table = screen.query_one("#link-followups", DataTable)
        assert [r[2] for r in table_text(table)] == [f.order for f in opened]


async def test_the_highlighted_row_is_shown_whole_under_the_list(link_desk: Any) -> None:
    depot = link_desk.depot
    app = ScreenApp(depot, LinkScreen)
    async with app.run_test(size=SMALL) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#link-notices", DataTable)
        detail = screen.query_one("#link-detail", Static)
        table.move_cursor(row=table.get_row_index(link_desk.notices["failed"]), animate=False)
        await pilot.pause()
        text = str(detail.render())
        assert "failed" in text and "Error: HTTP 422 Unprocessable" in text and "boom" in text
        await pilot.press("w")
        await pilot.pause()
        f = queries.followups(depot, open_only=True)[0]
        assert f.text in str(detail.render()).replace("\n", " ")
        assert len(f.text) > 40  # longer than its cell at 80 columns


async def test_ages_move_on_without_reading_the_database(link_desk: Any, monkeypatch: Any) -> None:
    depot = link_desk.depot
    app = ScreenApp(depot, LinkScreen)
    async with app.run_test(size=SMALL) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#link-notices", DataTable)
        before = [r[0] for r in table_text(table)]

        def no_reads(*a: Any, **k: Any) -> Any:
            raise AssertionError("the tick read the database")

        monkeypatch.setattr(depot, "uow", no_reads)
        link_desk.clock.advance(3600)
        await wait_for(pilot, lambda: [r[0] for r in table_text(table)] != before, "the ages to move on")
        assert all(age.endswith(("h", "d", "w")) for age in (r[0] for r in table_text(table)))
        assert "ago" in str(screen.query_one("#link-detail", Static).render())


# --------------------------------------------------------------------------- the partner form (items 4, 18)


async def test_the_partner_forms_check_boxes_read_on_and_off_without_colour(link_desk: Any,
                                                                            monkeypatch: Any) -> None:
    from screenkit import ScreenApp as App_
    from textual.widgets import Checkbox

    from dispatchdesk.tui.partners_screen import PartnerForm, PartnersScreen

    monkeypatch.setenv("NO_COLOR", "1")
    app = App_(link_desk.depot, PartnersScreen)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnerForm), "the form")
        box = pilot.app.screen.query_one("#f-auto_trash", Checkbox)
        assert str(box.render()).startswith("[ ]")
        box.focus()
        await pilot.press("space")
        assert box.value is True and str(box.render()).startswith("[x]")
        await pilot.press("space")
        assert box.value is False and str(box.render()).startswith("[ ]")


async def test_saving_a_link_url_without_a_path_warns(link_desk: Any) -> None:
    from textual.widgets import Input

    from dispatchdesk.tui.partners_screen import PartnerForm, PartnersScreen

    app = ScreenApp(link_desk.depot, PartnersScreen)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnerForm), "the form")
        form = pilot.app.screen
        form.query_one("#f-name", Input).value = "Depot B"
        form.query_one("#f-url", Input).value = "http://10.0.0.7:8080"
        form.query_one("#f-secret", Input).value = "depot-b-secret-000001"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnersScreen), "the form to close")
        await wait_for(pilot, lambda: any("/link" in str(n.message) for n in app._notifications), "the warning")
