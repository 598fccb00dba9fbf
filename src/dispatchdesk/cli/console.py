"""The console (``dispatchdesk`` with no command) and ``dispatchdesk relay``.

textual and aiohttp are imported only here, and only when the console or the relay starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .root import (
    CONTEXT,
    ENV_DB,
    EXIT_OK,
    EXIT_REFUSED,
    LISTEN,
    Command,
    _open,
    database_location,
    db_option,
    err,
)


def cmd_console(db: str | None, *, demo: bool, listen: str | None, relay: bool) -> int:
    import gc

    # Starting makes some hundred thousand objects (the modules of SQLAlchemy and Textual, the
    # styles, the first board) and none of them is garbage: the collector's passes over them
    # were 10-15% of the start (tests/bench/README.md, start-up). It is paused until the board
    # is first drawn (DeskApp then freezes what was made and turns it back on), or the console
    # ends, whichever comes first.
    gc.disable()
    try:
        return _console(db, demo=demo, listen=listen, relay=relay)
    finally:
        gc.enable()


def _console(db: str | None, *, demo: bool, listen: str | None, relay: bool) -> int:
    import shutil
    import tempfile

    from ..services import Depot

    tmpdir: str | None = None
    with _note_hangup() as hung_up:
        if demo and not db:
            tmpdir = tempfile.mkdtemp(prefix="dispatchdesk-demo-")
            location = str(Path(tmpdir) / "demo.db")
        else:
            location = database_location(db)
        # a demo writes a new depot; else only the first run on the default path makes one
        create = demo or not (db or os.environ.get(ENV_DB))
        try:
            try:
                from ..tui.app import run
            except ModuleNotFoundError as e:
                if e.name and (e.name == "dispatchdesk.tui" or e.name.startswith("dispatchdesk.tui.")):
                    err("The console (dispatchdesk.tui) is not part of this installation; "
                        "the other commands work: see dispatchdesk --help.")
                    return EXIT_REFUSED
                raise
            depot = Depot.open(location, create=create)
            try:
                if demo and not hung_up:
                    from ..demo import build_demo

                    err(f"Building the demo depot in {location} …")
                    build_demo(depot)
                if not hung_up:  # a hang-up while starting: the console does not start
                    run(depot, demo=demo, listen=listen, relay=relay)
            finally:
                depot.close()
        finally:
            if tmpdir is not None:
                shutil.rmtree(tmpdir, ignore_errors=True)
    return EXIT_OK


@contextmanager
def _note_hangup() -> Iterator[list[int]]:
    """Until the console's own handling takes over (tui.terminal: through the event loop),
    SIGTERM and SIGHUP are only noted, never raised: opening the database or building the demo
    finishes, then the console does not start, and every ``finally`` runs (the database is
    closed, a temporary demo copy removed)."""
    import signal

    noted: list[int] = []

    def note(signum: int, _frame: Any) -> None:
        noted.append(signum)

    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            previous[sig] = signal.signal(sig, note)
        except (ValueError, OSError):  # not the main thread
            pass
    try:
        yield noted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command(cls=Command, context_settings=CONTEXT, short_help="run the relay and link endpoint, no screen")
@db_option
@click.option("--listen", type=LISTEN, metavar="HOST:PORT", default=None, help="where the link endpoint listens")
def relay(listen: str | None) -> int:
    """Deliver notices and receive partners' messages until stopped (Ctrl-C)."""
    depot = _open()
    try:
        try:
            from ..link.relay import run_relay
        except ModuleNotFoundError as e:
            if e.name and (e.name == "dispatchdesk.link.relay" or e.name.startswith("dispatchdesk.link")):
                err("The relay (dispatchdesk.link.relay) is not part of this installation.")
                return EXIT_REFUSED
            raise
        run_relay(depot, listen)
    finally:
        depot.close()
    return EXIT_OK
