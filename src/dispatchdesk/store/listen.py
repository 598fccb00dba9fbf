"""Waiting for the depot's change sequence to move: pushed on PostgreSQL, polled on SQLite.

    seq = db.change_seq()
    seq = db.wait_for_change(seq, timeout=1.0, stop=stop)   # the new number, or seq on timeout

On PostgreSQL every commit that bumps the change sequence also sends
``pg_notify('dispatchdesk_changes', <seq>)`` in the same transaction (store/db.py), so the
notification goes out exactly when the change can be seen. A waiter holds a dedicated psycopg 3
connection (not one of the engine's pool) that LISTENs on the channel and sleeps in
``Connection.notifies(timeout=..., stop_after=1)`` until one comes. As a safety net it still
reads the sequence itself every SAFETY_POLL seconds, and a dropped connection is made again
(meanwhile the sequence is polled). Consoles on other machines get the same notification: they
see each other's commits as fast as the ones of their own machine.

On SQLite (one file, one machine) the sequence is cheap to read: it is polled every `poll`
seconds, as before.

`Database.wake_waiters()` (on closing) gets every waiter out of its wait at once: it sets
nothing, but a waiter whose `stop` event is set returns as soon as it wakes.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .db import Database

#: The channel the commits notify on (one PostgreSQL database = one depot).
CHANNEL = "dispatchdesk_changes"
#: On PostgreSQL, how often a waiter reads the sequence itself, in case a notification is lost.
SAFETY_POLL = 5.0
#: On SQLite, how often a waiter reads the sequence (SPEC 8: others' changes within ~1 s).
SQLITE_POLL = 0.5
#: After the listening connection dropped: how long before it is made again.
RECONNECT_WAIT = 1.0
#: The longest a waiter sleeps without looking at its `stop` event (should a wake-up be lost).
SLICE = 1.0
#: How the listening connections name themselves to the server (pg_stat_activity).
APPLICATION_NAME = "dispatchdesk listen"
_READ = "SELECT change_seq FROM depot WHERE id = 1"


class _Listener:
    """One dedicated connection, LISTENing on the changes channel and on its own wake channel."""

    def __init__(self, conn: Any, wake_channel: str) -> None:
        self.conn = conn
        self.wake_channel = wake_channel
        self.next_read = 0.0  # time.monotonic() of the next safety read (0: at once)

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


class ChangeWaiter:
    """The waiting part of one Database (see the module's doc)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._idle: list[_Listener] = []
        self._busy: set[_Listener] = set()
        self._closed = False
        #: how the last wait ended with a change: "notify", "read" (the safety net) or "poll"
        self.woken_by = ""
        self._push = db.is_postgres and db.engine.dialect.driver == "psycopg"

    @property
    def pushed(self) -> bool:
        """Are changes pushed (PostgreSQL with psycopg 3), rather than polled?"""
        return self._push

    # ------------------------------------------------------------------ waiting
    def wait(self, last: int, timeout: float, *, stop: threading.Event | None = None,
             poll: float = SQLITE_POLL) -> int:
        """The change sequence once it is no longer `last`, or `last` when `timeout` seconds
        pass, `stop` is set, or the database cannot be read meanwhile. Never raises."""
        deadline = time.monotonic() + max(0.0, timeout)
        if not self._push:
            return self._poll(last, deadline, stop, poll)
        listener: _Listener | None = None
        try:
            while not (stop is not None and stop.is_set()) and not self._closed:
                if listener is None:
                    listener = self._take()
                    if listener is None:  # cannot connect: poll until it comes back
                        polled = self._poll(last, min(deadline, time.monotonic() + RECONNECT_WAIT), stop, poll)
                        if polled != last or time.monotonic() >= deadline:
                            return polled
                        continue
                try:
                    got = self._wait_on(listener, last, deadline, stop)
                except Exception:  # noqa: BLE001 - the connection dropped: make it again
                    listener.close()
                    with self._lock:
                        self._busy.discard(listener)
                    listener = None
                    continue
                if got is not None:
                    return got
                if time.monotonic() >= deadline:
                    return last
            return last
        finally:
            if listener is not None:
                self._give_back(listener)

    def _wait_on(self, listener: _Listener, last: int, deadline: float,
                 stop: threading.Event | None) -> int | None:
        """One round on the listening connection: the new sequence, or None (not yet)."""
        now = time.monotonic()
        if now >= listener.next_read:
            # LISTEN was issued before this read: a commit after it is notified for sure
            listener.next_read = now + SAFETY_POLL
            row = listener.conn.execute(_READ).fetchone()
            seq = int(row[0] or 0) if row else 0
            if seq != last:
                self.woken_by = "read"
                return seq
        wait = min(deadline, listener.next_read, now + SLICE) - now
        if wait <= 0:
            return None
        newest: int | None = None
        # stop_after=1 returns with the first packet; several notifications in it all come
        for n in listener.conn.notifies(timeout=wait, stop_after=1):
            if n.channel != CHANNEL:
                continue  # a wake-up: look at `stop`
            try:
                seq = int(n.payload)
            except ValueError:
                continue
            newest = seq if newest is None else max(newest, seq)
        if newest is not None and newest > last:
            self.woken_by = "notify"
            return newest
        return None

    def _poll(self, last: int, deadline: float, stop: threading.Event | None, poll: float) -> int:
        while True:
            try:
                seq = self.db.change_seq()
            except Exception:  # noqa: BLE001 - unreadable just now: as if unchanged
                seq = last
            if seq != last:
                self.woken_by = "poll"
                return seq
            left = deadline - time.monotonic()
            if left <= 0 or self._closed:
                return last
            step = min(poll, left)
            if stop is not None:
                if stop.wait(step):
                    return last
            else:
                time.sleep(step)

    # ------------------------------------------------------------------ connections
    def _take(self) -> _Listener | None:
        with self._lock:
            if self._idle:
                listener = self._idle.pop()
                self._busy.add(listener)
                return listener
        try:
            listener = self._connect()
        except Exception:  # noqa: BLE001 - the server cannot be reached just now
            return None
        with self._lock:
            if self._closed:
                listener.close()
                return None
            self._busy.add(listener)
        return listener

    def _give_back(self, listener: _Listener) -> None:
        with self._lock:
            self._busy.discard(listener)
            if not self._closed:
                self._idle.append(listener)
                return
        listener.close()

    def _connect(self) -> _Listener:
        import psycopg

        engine = self.db.engine
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        params = dict(cparams)
        params.setdefault("connect_timeout", 5)
        params.setdefault("application_name", APPLICATION_NAME)
        # find out within seconds that a connection silently went away (a machine, a network)
        for key, value in (("keepalives", 1), ("keepalives_idle", 5), ("keepalives_interval", 2),
                           ("keepalives_count", 3)):
            params.setdefault(key, value)
        conn = psycopg.connect(*cargs, autocommit=True, **params)
        wake = f"dispatchdesk_wake_{uuid.uuid4().hex}"
        try:
            conn.execute(f"LISTEN {CHANNEL}")
            conn.execute(f"LISTEN {wake}")
        except BaseException:
            conn.close()
            raise
        return _Listener(conn, wake)

    def wake(self) -> None:
        """Get every waiter of this Database out of its sleep now (each returns if its `stop`
        is set, else waits on)."""
        if not self._push:
            return
        with self._lock:
            channels = [lst.wake_channel for lst in self._busy]
        if not channels:
            return
        try:
            with self.db.engine.connect() as conn:
                for ch in channels:
                    conn.exec_driver_sql(f"NOTIFY {ch}")
                conn.commit()
        except Exception:  # noqa: BLE001 - then they wake by themselves within SLICE
            pass

    def close(self) -> None:
        """Close the listening connections; a waiter still waiting returns at once and closes
        its own."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for listener in idle:
            listener.close()
        self.wake()
