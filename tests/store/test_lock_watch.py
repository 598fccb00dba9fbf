"""Issue 12: the console says "Waiting for the database: another program is writing to it"
only when a write is really held up by another connection's lock, never when it is merely slow
(a busy machine). `patiently(..., watch=LockWatch())` keeps the watch; `Depot.lock_wait(watch)`
reads it from another thread: SQLite, the write waits for the write lock another connection
holds; PostgreSQL, the server says the write's process waits for another's lock."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dispatchdesk.services import LockWatch, patiently, set_setting
from helpers import wait_for

LONG = 30.0


def _write_watched(depot: Any, watch: LockWatch, before: Any = None) -> Any:
    """set_setting through patiently in a thread, watched; the future of its result."""
    def run() -> None:
        def act() -> None:
            if before is not None:
                before()
            set_setting(depot, "depot_name", "Leeds")
        patiently(act, threading.Event(), watch=watch)

    pool = ThreadPoolExecutor(1)
    fut = pool.submit(run)
    pool.shutdown(wait=False)
    return fut


async def test_sqlite_a_write_waiting_for_another_connections_lock_is_seen(depot: Any, db_path: Any) -> None:
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    watch = LockWatch()
    try:
        fut = _write_watched(depot, watch)
        held = await wait_for(None, lambda: depot.lock_wait(watch) is not None, "the lock wait to be seen",
                              timeout=LONG)
        assert held
        assert not fut.done()
    finally:
        other.rollback()
        other.close()
    fut.result(timeout=LONG)
    assert depot.lock_wait(watch) is None
    assert depot.setting("depot_name") == "Leeds"


async def test_sqlite_a_slow_write_that_waits_for_no_lock_is_not_said_to_wait(depot: Any) -> None:
    watch = LockWatch()
    slow = threading.Event()
    seen: list[float | None] = []

    def before() -> None:
        slow.set()
        time.sleep(0.5)  # a write held up by anything but a lock (a busy CPU, its own work)

    fut = _write_watched(depot, watch, before)
    await wait_for(None, slow.is_set, "the write to begin")
    while not fut.done():
        seen.append(depot.lock_wait(watch))
        time.sleep(0.02)
    fut.result(timeout=LONG)
    assert seen and all(x is None for x in seen)


async def test_postgres_a_write_waiting_for_another_connections_row_lock_is_seen(pg_fresh_url: str,
                                                                                  open_depot: Any) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    depot = open_depot(pg_fresh_url)
    set_setting(depot, "depot_name", "York")
    u = make_url(pg_fresh_url)
    other = psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database)
    # every commit bumps the depot row's change counter: holding that row holds every write
    other.execute("UPDATE depot SET change_seq = change_seq WHERE id = 1")
    watch = LockWatch()
    try:
        fut = _write_watched(depot, watch)
        await wait_for(None, lambda: depot.lock_wait(watch) is not None, "the lock wait to be seen",
                       in_thread=True, timeout=LONG)
        assert not fut.done()
    finally:
        other.rollback()
        other.close()
    fut.result(timeout=LONG)
    assert depot.lock_wait(watch) is None
    assert depot.setting("depot_name") == "Leeds"


async def test_postgres_a_slow_write_that_waits_for_no_lock_is_not_said_to_wait(pg_fresh_url: str,
                                                                              open_depot: Any) -> None:
    depot = open_depot(pg_fresh_url)
    watch = LockWatch()
    slow = threading.Event()
    seen: list[float | None] = []

    def before() -> None:
        slow.set()
        time.sleep(0.5)

    fut = _write_watched(depot, watch, before)
    await wait_for(None, slow.is_set, "the write to begin")
    while not fut.done():
        seen.append(depot.lock_wait(watch))
        time.sleep(0.05)
    fut.result(timeout=LONG)
    assert seen and all(x is None for x in seen)
