"""Fixtures for the link tests: real depots (each its own SQLite file) with real relays
listening on loopback. Helpers live in linkkit.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from linkkit import FAST, Side, open_depot

from dispatchdesk.link.relay import Relay
from dispatchdesk.services import set_setting


@pytest.fixture
async def make_side(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    sides: list[Side] = []

    async def make(name: str, *, undo_seconds: int = 0, **relay_kw: Any) -> Side:
        d = open_depot(tmp_path / f"{name}.sqlite", actor=f"{name.lower()}-dispatcher")
        set_setting(d, "undo_seconds", str(undo_seconds))
        set_setting(d, "depot_name", name)
        relay_kw.setdefault("policy", FAST)
        relay_kw.setdefault("poll_interval", 0.05)
        relay_kw.setdefault("deadline", 3.0)
        relay = Relay(d, listen="127.0.0.1:0", worker_id=f"relay-{name}", **relay_kw)
        await relay.start()
        side = Side(name, d, relay)
        sides.append(side)
        return side

    yield make
    for s in sides:
        await s.relay.stop()
        s.depot.close()




@pytest.fixture(scope="session")
def _link_template(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The screens' depot, built once; each test gets its own copy of the file."""
    from screenkit import build

    path = tmp_path_factory.mktemp("link-template") / "screens.sqlite"
    desk = build(path)
    desk.depot.close()
    return desk


@pytest.fixture
def link_desk(_link_template: Any, tmp_path: Path) -> Any:
    """A depot with notices in every state and follow-ups, under a clock that stands still."""
    import dataclasses
    import shutil

    from screenkit import Clock

    from dispatchdesk.services import Depot
    from dispatchdesk.store import Database

    path = tmp_path / "screens.sqlite"
    shutil.copyfile(_link_template.path, path)
    clock = Clock()
    clock.now = _link_template.clock.now
    depot = Depot(Database.open(path), actor="anna", clock=clock)
    desk = dataclasses.replace(_link_template, depot=depot, clock=clock, path=path)
    yield desk
    depot.close()
