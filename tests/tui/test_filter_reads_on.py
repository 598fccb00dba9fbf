"""A filter that matches many orders (issue 13): each list shows the first matches with "+" in
its title and reads on as the dispatcher scrolls to its end, until it has every match; a list
that has not yet found a page's worth reads on by itself. Small steps stand in for a big depot."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from tui_helpers import board_ready, settle, status_list

from dispatchdesk.services import Depot, search
from helpers import wait_for

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from bigdepot import build  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1] / "store"))
from test_search_index import old_match  # noqa: E402


@pytest.fixture
def big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    path = tmp_path / "depot.sqlite"
    build(path, 1500, seed=5)
    monkeypatch.setattr(search, "SPARSE", 5)  # "leeds" is "many matches" here
    monkeypatch.setattr(search, "FEW_ORDERS", 5)
    monkeypatch.setattr(search, "WALK", 40)
    monkeypatch.setattr(search, "CHUNK", 60)
    d = Depot.open(path, actor="tester")
    yield d
    d.close()


async def test_a_wide_filter_shows_more_and_reads_on_to_the_end(big: Depot) -> None:
    from dispatchdesk.tui.app import DeskApp

    app = DeskApp(big, relay=False, blink=False)
    want = old_match(big, "leeds")
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await pilot.press("slash", *"leeds", "enter")
        await wait_for(pilot, lambda: app.screen.filter_text == "leeds" and app.screen.filter_ids is not None)
        await settle(pilot)
        lst = status_list(app, "created")
        assert len(want["created"]) > 60
        # the first page is there; the title says more may match
        assert "+/" in str(lst.border_title)
        assert [c.id for c in lst.loaded_cards()][:5] == want["created"][:5]
        lst.focus()
        for _ in range(40):
            if "+" not in str(lst.border_title):
                break
            await pilot.press("end")
            await settle(pilot)
        assert "+" not in str(lst.border_title)
        assert f" {len(want['created'])}/{lst.count}" in str(lst.border_title)
        assert app.screen.filter_ids["created"] == want["created"]
        assert lst.total == len(want["created"])
        await pilot.press("end")
        await settle(pilot)
        assert lst.current is not None and lst.current.id == want["created"][-1]
