"""The console as a real process in a terminal (tests/tui/real_terminal.py): a SIGTERM, a
hang-up (an SSH connection that drops, a tmux session killed) or a terminal that just goes
away ends it the normal way, whatever it is doing: the relay gives back its claims, the
database is closed, and the terminal, when it is still there, is put back."""

from __future__ import annotations

import re
import signal
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from real_terminal import Console
from sqlalchemy import select

from dispatchdesk import services
from dispatchdesk.services import Depot, LineInput, OrderInput, PartnerInput
from dispatchdesk.store import Database
from dispatchdesk.store.models import Notice

LEAVE_ALT_SCREEN = b"\x1b[?1049l"
ENTER_ALT_SCREEN = b"\x1b[?1049h"


@pytest.fixture
def db(desk: Any) -> Path:
    """The seeded depot (tests/tui/conftest.py), closed: the console alone has it open."""
    desk.depot.close()
    return Path(desk.path)


def closed(db: Path) -> bool:
    """The console closed the database: SQLite removes the write-ahead log with the last
    connection that closes it cleanly, and leaves it when a process just dies."""
    return not Path(f"{db}-wal").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_ends_the_console_and_puts_the_terminal_back(db: Path, sig: int) -> None:
    with Console(db) as con:
        con.read_until(b"Created")
        con.signal(sig)
        assert con.gone() == 0
        assert LEAVE_ALT_SCREEN in con.output
    assert closed(db)


def test_a_hang_up_while_the_console_starts_ends_it(db: Path) -> None:
    """SIGHUP before the board is drawn (Textual still starting): noted, then acted on."""
    with Console(db) as con:
        while not con.read(0.05):  # its first bytes: Python and Textual are up, the board is not drawn
            pass
        con.hang_up()
        assert con.gone() == 0
    assert closed(db)


def test_a_hang_up_after_the_first_frame_ends_the_console(db: Path) -> None:
    with Console(db) as con:
        con.read_until(b"Created")
        con.hang_up()
        assert con.gone() == 0
    assert closed(db)


def change_seq(db: Path) -> int:
    depot = Depot.open(db)
    try:
        return depot.db.change_seq()
    finally:
        depot.close()


def test_a_hang_up_during_a_confirm_ends_the_console_and_changes_nothing(db: Path) -> None:
    before = change_seq(db)
    with Console(db) as con:
        con.read_until(b"Created")
        # trash the highlighted order: the confirm asks first (on a loaded machine the first
        # list may take its focus a moment after it is drawn, so press t until it asks)
        for _ in range(20):
            con.type(b"t")
            try:
                con.read_until(b"No (n)", timeout=1.5)
                break
            except AssertionError:
                continue
        else:
            con.read_until(b"No (n)")
        con.hang_up()
        assert con.gone() == 0
    assert closed(db)
    assert change_seq(db) == before


def test_a_hang_up_during_live_refreshes_ends_the_console(db: Path) -> None:
    """Another dispatcher keeps changing the depot, so the board keeps reloading and redrawing."""
    stop = threading.Event()

    def colleague() -> None:
        other = Depot.open(db, actor="colleague")
        try:
            n = 0
            while not stop.is_set():
                n += 1
                services.create_order(other, OrderInput(
                    pickup_address=f"{n} Mill Lane, Leeds", delivery_address="2 Road, York",
                    lines=[LineInput("BOX", 1, "a box")], parcels=1, weight_kg=1.0))
                stop.wait(0.05)
        finally:
            other.close()

    with Console(db) as con:
        con.read_until(b"Created")
        writer = threading.Thread(target=colleague)
        writer.start()
        try:
            con.read_until(re.compile(rb"Created \d\d"), timeout=30)  # redrawn with their new orders
            con.read(0.3)
            con.hang_up()
            assert con.gone() == 0
        finally:
            stop.set()
            writer.join()
    assert closed(db)


def test_the_end_of_the_terminals_input_ends_the_console_without_a_signal(db: Path) -> None:
    """The terminal goes away but no SIGHUP comes (the console is not its controlling
    process): its input ends, and the console ends as after a hang-up (as yazi does)."""
    with Console(db, controlling=False) as con:
        con.read_until(b"Created")
        con.hang_up()
        assert con.gone() == 0
    assert closed(db)


@pytest.fixture
def silent_partner() -> Iterator[tuple[int, threading.Event]]:
    """An HTTP partner that takes the connection and the request, and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    asked = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conns.append(conn)
            if conn.recv(65536):
                asked.set()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield server.getsockname()[1], asked
    server.close()
    for c in conns:
        c.close()


def test_a_hang_up_gives_back_the_relays_claims(tmp_path: Path, silent_partner: tuple[int, threading.Event]) -> None:
    """A notice being delivered when the terminal goes away: its claim is given back at once
    (another relay, or this one restarted, sends it without waiting for the lease to run out)."""
    port, asked = silent_partner
    path = tmp_path / "depot.db"
    now = [datetime.now(UTC) - timedelta(hours=1)]
    depot = Depot(Database.open(path), actor="dispatcher", clock=lambda: now[0])
    services.add_partner(depot, PartnerInput(name="Slow Haulage", role="subcontractor",
                                             url=f"http://127.0.0.1:{port}/slow", secret="s" * 32))
    number = services.create_order(depot, OrderInput(
        pickup_address="1 Mill Lane, Leeds", delivery_address="2 Road, York",
        lines=[LineInput("BOX", 1, "a box")], parcels=1, weight_kg=1.0))
    services.dispatch(depot, number, "Slow Haulage")
    now[0] += timedelta(minutes=10)
    services.release_held_notices(depot)
    depot.close()

    with Console(path, "--db", str(path)) as con:  # the relay runs inside the console
        con.read_until(b"Created")
        assert asked.wait(30), "the relay never sent the notice"
        con.hang_up()
        assert con.gone() == 0
    assert closed(path)
    depot = Depot.open(path)
    try:
        with depot.uow(write=False) as uow:
            claims = uow.session.execute(select(Notice.state, Notice.claimed_by)).all()
    finally:
        depot.close()
    assert claims and all(by is None for _, by in claims), claims


def test_a_sigcont_does_not_start_the_terminal_over_again(db: Path) -> None:
    """The kernel sends SIGCONT with every hang-up; Textual's handler set the terminal up
    again (alternate screen, new writer and input threads) from inside the signal handler,
    wherever the main thread was. Only a console suspended with ctrl+z is resumed."""
    with Console(db) as con:
        con.read_until(b"Created")
        start = len(con.output)
        con.signal(signal.SIGCONT)
        con.type(b"?")  # the keys screen: something that is drawn after the SIGCONT was handled
        con.read_until(b"Dispatch: keys")
        assert ENTER_ALT_SCREEN not in con.output[start:]
        con.signal(signal.SIGTERM)
        assert con.gone() == 0
    assert closed(db)


async def test_a_late_timer_after_the_last_screen_raises_nothing(desk: Any) -> None:
    """The undo window's timer (or a change the watcher saw) can land while the console closes:
    refreshing the key line then must not raise ScreenStackError (seen once as 16 consoles quit)."""
    from tui_helpers import make_app

    app = make_app(desk)
    async with app.run_test(size=(80, 24)):
        pass
    assert not app.screen_stack
    app.refresh_bindings()
