"""Who is here: the consoles (and relay workers) on a depot, and the order each has open.

    me = join(depot)                                  # at start: a console id
    heartbeat(depot, me, open_order="DD-000042")      # every HEARTBEAT_SECONDS, from a thread
    present(depot)                                    # who beat within STALE_AFTER seconds
    others_on(depot, "DD-000042", me)                 # the others with that order open
    leave(depot, me)                                  # on exit

Presence is bookkeeping, not a change: its writes go through `Database.side_write`, which does
not bump the change sequence (no screen refreshes because someone's heartbeat came), never
waits long for a lock and never raises. A beat that finds the database busy is skipped; the
next one makes up for it. A console killed with -9 simply goes stale: `present()` ignores it,
and the next join or beat of anyone prunes it.

Times are the depot's clock (`Depot.now`), so the machines of one PostgreSQL depot should keep
their clocks in step (NTP); a skew of a few seconds only shortens or lengthens the grace.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, delete, insert, select, update

from ..store.models import Console, new_id
from .core import ERRORS, Depot

#: How often a console renews its presence (seconds).
HEARTBEAT_SECONDS = 5.0
#: A console not seen for this long (three heartbeats) is gone: ignored, then pruned.
STALE_AFTER = 3 * HEARTBEAT_SECONDS
#: How long a beat waits for the database's write lock before it is skipped (milliseconds).
BEAT_WAIT_MS = 200

CONSOLE = "console"
RELAY = "relay"

#: the consoles Table (the ORM types ``__table__`` as the wider FromClause)
_table = cast(Table, Console.__table__)
#: every row, plain (no ORM objects: this runs every few seconds in every console)
_ALL = select(_table)


@dataclass(frozen=True)
class ConsoleView:
    """One console (or relay worker) that is here."""

    id: str
    kind: str
    who: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    open_order: str | None
    screen: str | None
    detail: str | None

    @property
    def name(self) -> str:
        """How a dispatcher names it: who@host ("anna@depot2")."""
        return f"{self.who}@{self.host}"


def this_host() -> str:
    try:
        return socket.gethostname() or "?"
    except OSError:
        return "?"


def _row(
    depot: Depot,
    console_id: str,
    *,
    kind: str,
    open_order: str | None,
    screen: str | None,
    detail: str | None,
    now: datetime,
) -> dict[str, object]:
    return dict(
        id=console_id,
        kind=kind,
        who=depot.actor[:100],
        host=this_host()[:255],
        pid=os.getpid(),
        started_at=now,
        seen_at=now,
        open_order=open_order[:50] if open_order else None,
        screen=screen[:50] if screen else None,
        detail=detail[:300] if detail else None,
    )


def _prune(conn: Connection, now: datetime) -> None:
    conn.execute(delete(_table).where(_table.c.seen_at < now - timedelta(seconds=STALE_AFTER)))


def join(
    depot: Depot,
    *,
    kind: str = CONSOLE,
    screen: str | None = None,
    open_order: str | None = None,
    detail: str | None = None,
    console_id: str | None = None,
) -> str:
    """Record this console (or relay worker, `kind="relay"`) as here; its id (`console_id`, or
    a new one). Never fails: when the database is busy the row is written by the first
    heartbeat that gets through."""
    console_id = console_id or new_id()
    now = depot.now()
    row = _row(depot, console_id, kind=kind, open_order=open_order, screen=screen, detail=detail, now=now)

    def write(conn: Connection) -> bool:
        _prune(conn, now)
        conn.execute(insert(_table).values(**row))
        return True

    depot.db.side_write(write, wait_ms=BEAT_WAIT_MS * 5)
    return console_id


def heartbeat(
    depot: Depot,
    console_id: str,
    *,
    open_order: str | None = None,
    screen: str | None = None,
    kind: str = CONSOLE,
    detail: str | None = None,
) -> bool:
    """Renew this console's presence and say which order it has open (None: none) and which
    screen it shows. One short write that bumps nothing; skipped (False) when the database is
    locked for more than BEAT_WAIT_MS or cannot be reached. A row pruned meanwhile (the
    console slept past STALE_AFTER) is written again."""
    return beat(depot, console_id, open_order=open_order, screen=screen, kind=kind, detail=detail) is not None


def beat(
    depot: Depot,
    console_id: str,
    *,
    open_order: str | None = None,
    screen: str | None = None,
    kind: str = CONSOLE,
    detail: str | None = None,
) -> list[ConsoleView] | None:
    """`heartbeat()` and `present()` in the same short transaction (what a console does every
    HEARTBEAT_SECONDS: one transaction, not two): who is here, this console included, or None
    when the beat was skipped. Stale rows seen on the way are pruned."""
    now = depot.now()
    since = now - timedelta(seconds=STALE_AFTER)
    values = dict(
        seen_at=now,
        open_order=open_order[:50] if open_order else None,
        screen=screen[:50] if screen else None,
        detail=detail[:300] if detail else None,
    )

    def write(conn: Connection) -> list[ConsoleView]:
        done = conn.execute(update(_table).where(_table.c.id == console_id).values(**values))
        if not done.rowcount:
            conn.execute(insert(_table).values(**_row(
                depot, console_id, kind=kind, open_order=open_order, screen=screen, detail=detail, now=now
            )))
        rows = conn.execute(_ALL).all()
        stale = [r.id for r in rows if r.seen_at < since]
        if stale:
            conn.execute(delete(_table).where(_table.c.id.in_(stale)))
        return _sorted(_view(r) for r in rows if r.seen_at >= since)

    return depot.db.side_write(write, wait_ms=BEAT_WAIT_MS)


def leave(depot: Depot, console_id: str) -> bool:
    """This console is going: its row goes now (not when it turns stale). Never fails."""

    def write(conn: Connection) -> bool:
        conn.execute(delete(_table).where(_table.c.id == console_id))
        return True

    return bool(depot.db.side_write(write, wait_ms=BEAT_WAIT_MS * 5))


def present(depot: Depot, *, kind: str | None = None) -> list[ConsoleView]:
    """The consoles (and relay workers) seen within STALE_AFTER seconds, by who, host and start;
    `kind` keeps only consoles ("console") or relay workers ("relay"). Raises the usual
    StorageError when the database cannot be read."""
    since = depot.now() - timedelta(seconds=STALE_AFTER)
    q = _ALL.where(_table.c.seen_at >= since)
    if kind is not None:
        q = q.where(_table.c.kind == kind)
    with depot.uow(write=False) as uow:
        return _sorted(_view(r) for r in uow.session.connection().execute(q))


def _view(r: Row[Any]) -> ConsoleView:
    return ConsoleView(
        id=r.id, kind=r.kind, who=r.who, host=r.host, pid=r.pid, started_at=r.started_at,
        seen_at=r.seen_at, open_order=r.open_order, screen=r.screen, detail=r.detail,
    )


def _sorted(views: Iterable[ConsoleView]) -> list[ConsoleView]:
    return sorted(views, key=lambda v: (v.kind, v.who, v.host, v.started_at, v.id))


def others_on(
    depot: Depot, number: str, me: str | None, *, consoles: Sequence[ConsoleView] | None = None
) -> list[ConsoleView]:
    """The other consoles that have order `number` open (its detail or a confirm on it).
    `consoles`: a `present()` already read (else it is read now)."""
    views = present(depot, kind=CONSOLE) if consoles is None else consoles
    return [v for v in views if v.kind == CONSOLE and v.open_order == number and v.id != me]


def also_open(others: Iterable[ConsoleView]) -> str:
    """The sentence the detail and the confirm show: "Also open at: anna@depot2." ('' for none).
    Names come from the environment of other machines: screens show it through the sanitiser."""
    names = sorted({v.name for v in others})
    return f"Also open at: {', '.join(names)}." if names else ""


def here_label(consoles: Iterable[ConsoleView]) -> str:
    """The header's count of the dispatchers' consoles on the depot: "3 here"."""
    n = sum(1 for v in consoles if v.kind == CONSOLE)
    return f"{n} here"


def present_quietly(depot: Depot, *, kind: str | None = None) -> list[ConsoleView] | None:
    """`present()`, or None when the database cannot be read just now (a screen keeps what it
    showed)."""
    try:
        return present(depot, kind=kind)
    except ERRORS:
        return None
