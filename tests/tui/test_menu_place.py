"""The context menu opens at the pointer, kept on the screen near its edges (screens/menu.py).
Its first frame in a real terminal: tests/tui/test_real_keys.py."""

from __future__ import annotations

from typing import Any

import pytest
from textual.containers import Vertical
from textual.geometry import Offset, Region
from tui_helpers import board_ready, make_app, wait_for

from dispatchdesk.tui.screens.menu import MenuItem, MenuScreen

ITEMS = [MenuItem("a", "Open"), MenuItem("b", "Set status", submenu=True), MenuItem("c", "Trash", key="t")]


@pytest.mark.parametrize("at", [Offset(5, 6), Offset(79, 23), Offset(60, 0), Offset(0, 20)],
                         ids=["middle", "bottom-right", "top-right", "bottom-left"])
async def test_the_menu_is_at_the_pointer_and_on_the_screen(desk: Any, at: Offset) -> None:
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        app.push_screen(MenuScreen("Order DD-1", ITEMS, at=at))
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted, "the menu")
        await pilot.pause()
        menu = app.screen.query_one(".menu", Vertical).region
        assert Region(0, 0, 80, 24).contains_region(menu), menu
        # where it fits, its corner is the pointer; else it is moved in just enough to fit
        assert menu.x == min(at.x, 80 - menu.width) and menu.y == min(at.y, 24 - menu.height), (menu, at)
