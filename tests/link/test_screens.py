"""Flows on the Link and Partners screens, from the keyboard, checked in the DATABASE afterwards."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from screenkit import ODD, SECRET, ScreenApp, loaded, table_text, wait_for
from sqlalchemy import select
from textual.widgets import Button, Checkbox, DataTable, Input, Select

from dispatchdesk.services import set_link_stopped
from dispatchdesk.store.models import AuditEntry, FollowUp, Notice, Partner
from dispatchdesk.tui.link_screen import LinkScreen
from dispatchdesk.tui.partners_screen import PartnerForm, PartnersScreen
from dispatchdesk.tui.screens.confirm import ConfirmScreen

SIZE = (100, 30)


def notice(desk: Any, nid: str) -> dict[str, Any]:
    with desk.depot.uow(write=False) as uow:
        n = uow.session.get(Notice, nid)
        return {"state": n.state, "attempts": n.attempts}


def actions(desk: Any) -> list[tuple[str, str]]:
    with desk.depot.uow(write=False) as uow:
        return [(a.action, a.actor) for a in uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def partner(desk: Any, name: str) -> Any:
    """The partner's columns as read now, in a fresh session."""
    from types import SimpleNamespace

    with desk.depot.uow(write=False) as uow:
        p = uow.session.scalars(select(Partner).where(Partner.name == name)).one()
        return SimpleNamespace(**{c.key: getattr(p, c.key) for c in Partner.__table__.columns})


async def on_notice(pilot: Any, nid: str) -> None:
    table = pilot.app.screen.query_one("#link-notices", DataTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(nid), animate=False)
    await pilot.pause()


async def confirm(pilot: Any, answer: str) -> ConfirmScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirm")
    screen = pilot.app.screen
    await pilot.press(answer)
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, ConfirmScreen), "the confirm to close")
    return screen


# --------------------------------------------------------------------------- the Link screen


async def test_retry_a_failed_notice(link_desk: Any) -> None:
    app = ScreenApp(link_desk.depot, LinkScreen)
    nid = link_desk.notices["failed"]
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        await on_notice(pilot, nid)
        assert screen.check_action("retry", ()) is True
        await pilot.press("r")
        await confirm(pilot, "y")
        await wait_for(pilot, lambda: notice(link_desk, nid)["state"] == "queued", "the retry")
        await loaded(pilot, 2)
    assert notice(link_desk, nid) == {"state": "queued", "attempts": 0}
    assert ("notice retried", "anna") in actions(link_desk)


async def test_no_means_nothing_changes(link_desk: Any) -> None:
    app = ScreenApp(link_desk.depot, LinkScreen)
    nid = link_desk.notices["failed"]
    before = actions(link_desk)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await on_notice(pilot, nid)
        await pilot.press("s")
        shown = await confirm(pilot, "escape")
        assert shown.final
        await pilot.pause()
    assert notice(link_desk, nid)["state"] == "failed"
    assert actions(link_desk) == before


async def test_skip_asks_with_no_focused_then_skips(link_desk: Any) -> None:
    app = ScreenApp(link_desk.depot, LinkScreen)
    nid = link_desk.notices["failed"]
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await on_notice(pilot, nid)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirm")
        assert pilot.app.screen.query_one("#no", Button).has_focus  # skipping cannot be undone
        await pilot.press("y")
        await wait_for(pilot, lambda: notice(link_desk, nid)["state"] == "skipped", "the skip")
    assert ("notice skipped", "anna") in actions(link_desk)


async def test_retry_and_skip_are_not_offered_for_a_notice_that_did_not_fail(link_desk: Any) -> None:
    app = ScreenApp(link_desk.depot, LinkScreen)
    nid = link_desk.notices["acked"]
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        await on_notice(pilot, nid)
        assert screen.check_action("retry", ()) is None and screen.check_action("skip", ()) is None
        await pilot.press("r", "s")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, ConfirmScreen)
    assert notice(link_desk, nid)["state"] == "acknowledged"


async def test_a_refused_retry_says_why(link_desk: Any) -> None:
    set_link_stopped(link_desk.depot, ODD, True, "gone")
    app = ScreenApp(link_desk.depot, LinkScreen)
    nid = link_desk.notices["failed"]
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        await on_notice(pilot, nid)
        # the services refuse it (the link is stopped): r is not offered, and says why
        assert screen.check_action("retry", ()) is None
        assert "is stopped" in (screen.current_notice().redo_refusal or "")
        await pilot.press("r")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
    assert notice(link_desk, nid)["state"] == "failed"


async def test_filters_by_state_and_partner(link_desk: Any) -> None:
    app = ScreenApp(link_desk.depot, LinkScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#link-notices", DataTable)
        assert table.row_count == 14
        await pilot.press("f", "f")  # failed
        await loaded(pilot, 3)
        assert [r[4] for r in table_text(table)] == ["! FAILED"]
        await pilot.press("escape")
        await loaded(pilot, 4)
        assert table.row_count == 14
        # enter on a partner's health row shows only its notices
        health = screen.query_one("#link-health", DataTable)
        health.focus()
        health.move_cursor(row=health.get_row_index("Swift Haulage"))
        await pilot.press("enter")
        await loaded(pilot, 5)
        assert {r[2] for r in table_text(table)} == {"Swift Haulage"} and table.row_count == 6
        assert screen.partner_filter == "Swift Haulage"
        await pilot.press("p")  # the next partner after Swift Haulage: none left, so all again
        await loaded(pilot, 6)
        assert screen.partner_filter is None and table.row_count == 14


async def test_follow_ups_done_and_not_done(link_desk: Any) -> None:
    app = ScreenApp(link_desk.depot, LinkScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        await pilot.press("w")
        table = screen.query_one("#link-followups", DataTable)
        assert table.has_focus and table.row_count == 2  # open ones only
        fid = int(table.coordinate_to_cell_key((0, 0)).row_key.value)
        await pilot.press("d")
        await wait_for(pilot, lambda: _done(link_desk, fid) is not None, "done")
        await loaded(pilot, 2)
        assert table.row_count == 1  # it left the open list
        await pilot.press("a")  # all of them
        await loaded(pilot, 3)
        table.move_cursor(row=table.get_row_index(str(fid)))
        await pilot.press("space")
        await wait_for(pilot, lambda: _done(link_desk, fid) is None, "open again")
    assert ("follow-up done", "anna") in actions(link_desk)
    assert ("follow-up reopened", "anna") in actions(link_desk)


def _done(desk: Any, fid: int) -> Any:
    with desk.depot.uow(write=False) as uow:
        return uow.session.get(FollowUp, fid).done_at


async def test_enter_opens_the_order(link_desk: Any) -> None:
    app = ScreenApp(link_desk.depot, LinkScreen)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await on_notice(pilot, link_desk.notices["acked"])
        await pilot.press("enter")
        assert app.opened == [link_desk.numbers["acked"]]


async def test_hostile_text_is_shown_literally_and_runs_nothing(link_desk: Any) -> None:
    app = ScreenApp(link_desk.depot, LinkScreen)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await loaded(pilot)
        await on_notice(pilot, link_desk.notices["failed"])
        rows = table_text(screen.query_one("#link-notices", DataTable))
        failed = next(r for r in rows if r[4] == "! FAILED")
        assert failed[2].startswith("Evil Red [@click=app.quit]")
        assert "[@click=app.quit]boom[/]" in failed[6]
        assert not any("\x1b" in c or "\u202e" in c or "\x9b" in c for r in rows for c in r)
        # clicking the text does not run the action in it
        await pilot.click("#link-notices", offset=(60, 2))
        await pilot.pause()
        assert app.is_running and app.return_code is None


# --------------------------------------------------------------------------- the Partners screen


async def fill(pilot: Any, field: str, text: str) -> None:
    widget = pilot.app.screen.query_one(f"#f-{field}", Input)
    widget.focus()
    widget.value = ""
    await pilot.press(*text) if text else None
    await pilot.pause()


async def test_add_a_partner_with_its_settings(link_desk: Any) -> None:
    app = ScreenApp(link_desk.depot, PartnersScreen)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnerForm), "the form")
        await fill(pilot, "name", "Tidy Vans")
        pilot.app.screen.query_one("#f-role", Select).value = "subcontractor"
        await fill(pilot, "url", "http://127.0.0.1:8800/link")
        await fill(pilot, "secret", "tidy-vans-secret-0001")
        pilot.app.screen.query_one("#f-cancel_method", Select).value = "api-window"
        await fill(pilot, "window_seconds", "600")
        pilot.app.screen.query_one("#f-rejection_maps_to", Select).value = "created"
        pilot.app.screen.query_one("#f-auto_trash", Checkbox).focus()
        await pilot.press("space")  # tick it from the keyboard
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnersScreen), "the form to close")
        await loaded(pilot, 2)
        text = " ".join(" ".join(r) for r in table_text(pilot.app.screen.query_one("#partners-table", DataTable)))
        assert "Tidy Vans" in text and "tidy-vans-secret-0001" not in text and "••••••••01" in text
    p = partner(link_desk, "Tidy Vans")
    assert (p.role, p.link, p.url, p.secret) == ("subcontractor", "http", "http://127.0.0.1:8800/link",
                                                  "tidy-vans-secret-0001")
    assert (p.cancel_method, p.window_seconds, p.rejection_maps_to, p.auto_trash) == ("api-window", 600, "created",
                                                                                    True)
    assert ("partner added", "anna") in actions(link_desk)


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("url", "ftp://nowhere", "must start with http://"),
        ("secret", "short", "at least 16 characters"),
        ("secret", SECRET + "a", "already uses that secret"),
        ("email", "not-an-address", "is not an e-mail address"),
        ("window_seconds", "-5", "cannot be negative"),
        ("answer_within_seconds", "-5", "cannot be negative"),
        ("name", "Swift Haulage", "already a partner named"),
    ],
)
async def test_each_problem_is_shown_under_its_field_and_nothing_is_saved(link_desk: Any, field: str, value: str,
                                                                          error: str) -> None:
    app = ScreenApp(link_desk.depot, PartnersScreen)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnerForm), "the form")
        await fill(pilot, "name", "New One")
        if field in ("secret",):
            await fill(pilot, "url", "http://127.0.0.1:8800/link")
        await fill(pilot, field, value)
        await pilot.press("ctrl+s")
        form = pilot.app.screen
        err = form.query_one(f"#err-{field}")
        await wait_for(pilot, lambda: err.has_class("-shown"), f"the error under {field}")
        assert error in str(err.render())
        assert form.query_one(f"#f-{field}").has_focus
    with link_desk.depot.uow(write=False) as uow:
        names = set(uow.session.scalars(select(Partner.name)))
    assert "New One" not in names


async def test_edit_keeps_the_secret_when_left_empty_and_keeps_an_odd_name(link_desk: Any) -> None:
    before = partner(link_desk, ODD)
    app = ScreenApp(link_desk.depot, PartnersScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#partners-table", DataTable)
        table.move_cursor(row=table.get_row_index(ODD))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnerForm), "the form")
        form = pilot.app.screen
        assert form.query_one("#f-secret", Input).value == ""  # never shown, not even masked
        assert "\x1b" not in form.query_one("#f-name", Input).value  # shown cleaned
        form.query_one("#f-reason_required", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnersScreen), "the form to close")
    after = partner(link_desk, ODD)
    assert after.name == before.name == ODD  # unchanged field: the original name is kept
    assert after.secret == before.secret and after.reason_required is True


async def test_edit_keeps_and_sets_the_time_to_wait_for_an_answer(link_desk: Any) -> None:
    """The form has the partner's answer_within_seconds: an edit of another field keeps a value
    set on the command line, and the field itself changes it."""
    from dispatchdesk.services import EditPartner, partner_input

    current = partner_input(link_desk.depot, "Shopfront")
    EditPartner("Shopfront", replace(current, answer_within_seconds=600)).execute(link_desk.depot)
    app = ScreenApp(link_desk.depot, PartnersScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#partners-table", DataTable)
        table.move_cursor(row=table.get_row_index("Shopfront"))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnerForm), "the form")
        form = pilot.app.screen
        assert form.query_one("#f-answer_within_seconds", Input).value == "600"
        form.query_one("#f-reason_required", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnersScreen), "the form to close")
    assert partner(link_desk, "Shopfront").answer_within_seconds == 600
    async with ScreenApp(link_desk.depot, PartnersScreen).run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#partners-table", DataTable)
        table.move_cursor(row=table.get_row_index("Shopfront"))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnerForm), "the form")
        await fill(pilot, "answer_within_seconds", "3600")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PartnersScreen), "the form to close")
    assert partner(link_desk, "Shopfront").answer_within_seconds == 3600


async def test_restart_a_stopped_link(link_desk: Any) -> None:
    set_link_stopped(link_desk.depot, "Shopfront", True, "Link stopped: 410 Gone")
    app = ScreenApp(link_desk.depot, PartnersScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#partners-table", DataTable)
        table.move_cursor(row=table.get_row_index("Shopfront"))
        await pilot.pause()
        assert "stopped" in table_text(table)[table.get_row_index("Shopfront")][2]
        await pilot.press("l")
        await confirm(pilot, "y")
        await wait_for(pilot, lambda: not partner(link_desk, "Shopfront").link_stopped, "the restart")
    assert ("link restarted", "anna") in actions(link_desk)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cancel_method": "api-window", "window_seconds": 0}, "window_seconds"),
        ({"cancel_method": "email"}, "email"),
        ({"url": "http://x.example/link", "secret": "short"}, "secret"),
        ({"role": "driver"}, "role"),
        ({"name": "  "}, "name"),
        ({"url": "ftp://x"}, "url"),
        ({"email": "not-an-address"}, "email"),
    ],
)
def test_refusals_name_their_field(changes: dict, field: str) -> None:
    """The services say which form field a refusal belongs to (no guessing from the words)."""
    from dispatchdesk.services import InvalidInput, PartnerInput, check_partner

    values = {"name": "Acme", "role": "client", **changes}
    with pytest.raises(InvalidInput) as e:
        check_partner(PartnerInput(**values))
    assert e.value.field == field and e.value.code == "invalid"
