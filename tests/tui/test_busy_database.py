"""Issue 7: the console never waits on the database. Another program holds the write lock
(`BEGIN IMMEDIATE` in a second connection, as `sqlite3 depot.db` would): the console's keys and
lists keep working, the waiting action says it waits, and it either goes through when the lock
goes, or is given up with Esc and changes nothing, even when the lock comes free afterwards."""

from __future__ import annotations

import sqlite3
from typing import Any

from tui_helpers import board_ready, highlight, make_app, order_row, settle, wait_for

from dispatchdesk import services
from dispatchdesk.tui.screens.confirm import ConfirmScreen


def _notices(app: Any) -> str:
    return " ".join(str(n.message) for n in app._notifications)


def _hold_lock(desk: Any) -> sqlite3.Connection:
    other = sqlite3.connect(desk.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_a_trash_waits_for_the_lock_while_the_board_stays_live(desk: Any) -> None:
    number = desk["created_inbound"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen.is_mounted, "the confirm")
        lock = _hold_lock(desk)
        try:
            await pilot.press("y")
            await wait_for(pilot, lambda: services.WAITING in _notices(app), "the waiting message")
            # the board answers keys while the write waits: focus moves to the next list
            before = app.screen.active.key
            await pilot.press("l")
            await wait_for(pilot, lambda: app.screen.active.key != before, "the focus to move")
            assert order_row(desk.depot, number)["status"] == "created"
        finally:
            lock.rollback()
            lock.close()
        await wait_for(pilot, lambda: order_row(desk.depot, number)["status"] == "rejected",
                       "the trash to go through once the lock is gone", timeout=30)
        await settle(pilot)
        assert services.WAITING not in _notices(app)


async def test_esc_gives_up_a_waiting_write_and_nothing_changes(desk: Any) -> None:
    number = desk["created_inbound"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen.is_mounted, "the confirm")
        lock = _hold_lock(desk)
        try:
            await pilot.press("y")
            await wait_for(pilot, lambda: services.WAITING in _notices(app), "the waiting message")
            await pilot.press("escape")
            await wait_for(pilot, lambda: services.GIVING_UP in _notices(app), "the given-up message")
        finally:
            lock.rollback()  # the lock goes while the given-up write may still be trying
            lock.close()
        await wait_for(pilot, lambda: not [w for w in app.workers if w.group == "flow" and w.is_running],
                       "the flow to end", timeout=30)
        row = order_row(desk.depot, number)
        assert row["status"] == "created"
        assert [a for a, _ in row["actions"]] == ["created"]


async def test_a_write_slow_but_waiting_for_no_lock_is_not_said_to_wait(desk: Any, monkeypatch: Any) -> None:
    """Issue 12: on a busy machine a write may take seconds without any other program holding
    the lock (it waits for a CPU): the console does not say another program is writing."""
    import time

    number = desk["created_inbound"]
    app = make_app(desk)
    said: list[str] = []
    orig_notify = app.notify

    def notify(message: Any, *a: Any, **kw: Any) -> Any:
        said.append(str(message))
        return orig_notify(message, *a, **kw)

    app.notify = notify
    orig = services.patiently

    def slowly(fn: Any, give_up: Any, **kw: Any) -> Any:
        def slow() -> Any:
            time.sleep(1.5)  # starved of CPU, say: no lock is held by anyone
            return fn()
        return orig(slow, give_up, **kw)

    monkeypatch.setattr(services, "patiently", slowly)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        await pilot.press("y")
        await wait_for(pilot, lambda: order_row(desk.depot, number)["status"] == "rejected", "the trash",
                       timeout=30)
        await settle(pilot)
    assert not [m for m in said if m == services.WAITING]
