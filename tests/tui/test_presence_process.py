"""Who is here, with the real console in a terminal (tests/tui/real_terminal.py): it joins the
depot when it starts, shows itself in the header, and leaves when a SIGTERM or a hang-up ends
it (its row goes, it does not merely turn stale); one killed with -9 just goes stale."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from real_terminal import Console

from dispatchdesk.services import Depot, presence


@pytest.fixture
def db(desk: Any) -> Path:
    desk.depot.close()
    return Path(desk.path)


def consoles(db: Path) -> list[presence.ConsoleView]:
    d = Depot.open(db)  # the real clock, as the console's
    try:
        return presence.present(d, kind=presence.CONSOLE)
    finally:
        d.close()


@pytest.mark.parametrize("end", ["SIGTERM", "SIGHUP", "hang-up"])
def test_a_console_joins_and_leaves_when_it_is_ended(db: Path, end: str) -> None:
    with Console(db) as con:
        con.read_until(b"1 here")  # it joined, read who is here and shows it
        [me] = consoles(db)
        assert me.pid == con.pid and me.screen == "dispatch"
        if end == "hang-up":
            con.hang_up()
        else:
            con.signal(getattr(signal, end))
        assert con.gone() == 0
    assert consoles(db) == []


def test_a_console_killed_with_9_goes_stale(db: Path) -> None:
    with Console(db) as con:
        con.read_until(b"1 here")
        con.signal(signal.SIGKILL)
        con.gone()
    [ghost] = consoles(db)  # still there for up to three heartbeats
    d = Depot.open(db)
    try:
        d.clock = lambda: ghost.seen_at + timedelta(seconds=presence.STALE_AFTER + 1)
        assert presence.present(d) == []
    finally:
        d.close()
