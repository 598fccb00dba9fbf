"""Snapshots of the rules in the console (issue 14): the Rules screen, the rule form with an
error under its field, and a confirm with the rule that fires (and, wide, why the others will
not), at 80x24 and 160x50. Update with `pytest tests/tui/test_rules_snapshots.py
--snapshot-update`, then LOOK at the SVGs."""

from __future__ import annotations

from typing import Any

import pytest
from test_rules_tui import add_rules, choose, confirm_shown, rules_screen
from tui_helpers import highlight, make_app, settle, wait_for

from dispatchdesk.tui.screens.rule_form import RuleForm

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])


@SIZES
def test_rules_screen(snap_compare: Any, desk: Any, size: tuple[int, int]) -> None:
    add_rules(desk.depot)

    async def run_before(pilot: Any) -> None:
        await rules_screen(pilot)

    assert snap_compare(make_app(desk), terminal_size=size, run_before=run_before)


@SIZES
def test_rule_form_with_an_error_under_its_field(snap_compare: Any, desk: Any, size: tuple[int, int]) -> None:
    add_rules(desk.depot)

    async def run_before(pilot: Any) -> None:
        await rules_screen(pilot)
        await pilot.press("enter")  # edit the first rule: its conditions and effects filled in
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RuleForm) and pilot.app.screen.is_mounted, "the rule form")
        form = pilot.app.screen
        form.query_one("#f-name").value = ""
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: form.query_one("#err-name").has_class("-shown"), "the name's error")
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=size, run_before=run_before)


@SIZES
def test_confirm_with_a_rule_that_fires(snap_compare: Any, desk: Any, size: tuple[int, int]) -> None:
    add_rules(desk.depot)

    async def run_before(pilot: Any) -> None:
        from tui_helpers import board_ready

        await board_ready(pilot)
        await highlight(pilot, "dispatched", desk["dispatched"])
        await pilot.press("s")
        await choose(pilot, "created")
        await confirm_shown(pilot)
        if size[1] >= 50:
            await pilot.press("w")  # wide: why the other rules will not fire, too
        await settle(pilot)

    assert snap_compare(make_app(desk), terminal_size=size, run_before=run_before)
