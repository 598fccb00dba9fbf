"""Keys typed in the same burst as the key that opens a screen land on that screen.

A flow reads what its screen shows (a confirm's words, a form's pick lists) in a thread before
the screen opens. Over SSH a dispatcher's `t` `y`, or `n` and a rule's name, arrive in one read;
the keys after the first used to reach the screen underneath and were lost. Here the read is held
open until the burst has been taken, so the race is certain, not a matter of timing: without the
hold these tests fail.
"""

from __future__ import annotations

import threading
from typing import Any

from textual.widgets import Input
from tui_helpers import board_ready, burst, highlight, make_app, order_row, settle, wait_for

from dispatchdesk import services
from dispatchdesk.tui.screens.dispatch import DispatchScreen
from dispatchdesk.tui.screens.rule_form import RuleForm
from dispatchdesk.tui.screens.rules import RulesScreen


def _held_open(monkeypatch: Any, owner: Any, name: str) -> threading.Event:
    """Make `owner.name` wait (in its thread) until the returned event is set."""
    go = threading.Event()
    real = getattr(owner, name)

    def slow(*args: Any, **kw: Any) -> Any:
        assert go.wait(10), "the test never let the read go on"
        return real(*args, **kw)

    monkeypatch.setattr(owner, name, slow)
    return go


async def test_t_then_y_in_one_burst_trashes_the_order(desk: Any, monkeypatch: Any) -> None:
    number = desk.numbers["created_own"]
    go = _held_open(monkeypatch, services.Trash, "preview")
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        burst(pilot, "t", "y")
        await pilot.pause()
        go.set()
        await wait_for(pilot, lambda: order_row(desk.depot, number)["status"] == "rejected",
                       "the order trashed by the y typed with t")
        await settle(pilot)
        assert isinstance(app.screen, DispatchScreen)


async def test_keys_after_the_confirms_answer_go_on_to_the_board(desk: Any, monkeypatch: Any) -> None:
    """Keys after the screen's own answer go on to the screen under it, in order: `n` says No
    to the confirm, then `l` moves to the next list."""
    number = desk.numbers["created_own"]
    go = _held_open(monkeypatch, services.Trash, "preview")
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        board = app.screen
        created = await highlight(pilot, "created", number)
        burst(pilot, "t", "n", "l")
        await pilot.pause()
        assert board.focused is created  # nothing moved yet: the keys wait for the confirm
        go.set()
        await wait_for(pilot, lambda: app.screen is board and board.focused is not None
                       and board.focused is not created, "the next list focused")
        await settle(pilot)
        assert getattr(board.focused, "key", None) == "dispatched"
        assert order_row(desk.depot, number)["status"] == "created"  # n said No


async def test_n_then_a_rules_name_in_one_burst_lands_in_the_form(desk: Any, monkeypatch: Any) -> None:
    import dispatchdesk.tui.screens.rules as rules_module

    go = _held_open(monkeypatch, rules_module, "read_choices")
    go.set()  # the Rules screen itself is opened first, without waiting
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, RulesScreen) and app.screen.loads > 0,
                       "the Rules screen")
        await settle(pilot)
        go.clear()
        burst(pilot, "n", "Frozen goods")
        await pilot.pause()
        go.set()
        await wait_for(pilot, lambda: isinstance(app.screen, RuleForm) and app.screen.is_mounted, "the rule form")
        form = app.screen
        await wait_for(pilot, lambda: bool(form.query("#f-name"))
                       and form.query_one("#f-name", Input).value == "Frozen goods",
                       "the name typed in the burst")
