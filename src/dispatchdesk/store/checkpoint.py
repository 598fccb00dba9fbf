"""SQLite's WAL-reset bug, and the one checkpointer per depot that keeps clear of it.

The bug (SQLite's own write-up: https://sqlite.org/wal.html#walresetbug, "The WAL-Reset Bug";
the fix shipped in 3.51.3 of 2026-03-13, after 3.52.0 was withdrawn, and was backported to
3.44.6 and 3.50.7): every SQLite from 3.7.0 (2010, the first with WAL) through 3.51.2 has a
data race in which a checkpoint that starts just as another checkpoint finished, while a third
connection commits the transaction that resets the WAL, misses the reset and writes a wrong
field into the WAL-index header; a later checkpoint then skips frames, and the database loses
committed pages (corruption). It needs two connections checkpointing at about the same moment.

A depot on one machine is exactly that shape: sixteen consoles and the relay, each with a pool
of connections on one file, each connection checkpointing by itself after a commit (SQLite's
automatic checkpoint, every 1000 pages). So on an affected SQLite:

- every connection of the engine turns automatic checkpoints off (``PRAGMA
  wal_autocheckpoint=0``), in every process;
- ONE connection per depot, across all processes, checkpoints: the one that holds an exclusive
  ``flock`` on the side file ``<db>-checkpoint.lock``. It is a connection of its own (not one
  of the pool, whose connections come and go and write), opened by the process that got the
  lock, which runs ``PRAGMA wal_checkpoint(PASSIVE)`` every second from one background thread
  per process (a passive checkpoint never waits for, nor blocks, a writer or a reader);
- every other process tries to take the lock at the same pace (non-blocking), so when the
  holder exits (the kernel drops a dead process's flock) another takes the role within a
  second. The lock file names the holder (pid and host) for ``dispatchdesk doctor``.

Closing the last connection of all still folds the WAL into the file, as SQLite always does:
that one runs alone (it holds the database's exclusive lock), so it cannot race another.

The WAL must not grow without bound: it is folded in every second while anyone holds the role,
and every process with the database open competes for the role, so the role is held whenever
the depot is open at all. Folding in is not enough under a steady stream of writes: SQLite
starts the WAL over only when a writer begins while every frame is already folded in, and with
writers queued one has always committed again by the time a passive checkpoint ends (measured:
the WAL grew by 3 MB a second with six writers). So once the WAL holds ``RESTART_FRAMES`` (the
1000 pages of SQLite's own automatic checkpoint), the holder runs a RESTART checkpoint, which
waits up to 200 ms for the writer of the moment and makes the next writer start the WAL over
(TRUNCATE, which also gives the disk back, once the file passed ``WAL_TRUNCATE_BYTES``). A WAL
past ``WAL_ALARM_BYTES`` means the holder is not keeping up (or is stopped), and
``dispatchdesk doctor`` says so.

When the lock file cannot be used (a directory in its place, no permission), the guard is off in
that process: its connections keep SQLite's automatic checkpoints (the old behaviour, the bug's
exposure), and ``dispatchdesk doctor`` names it as something a person must fix. On a fixed
SQLite (or an in-memory database, or PostgreSQL) nothing here runs and nothing changes.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CheckpointGuard",
    "GuardStatus",
    "WAL_ALARM_BYTES",
    "lock_path",
    "wal_reset_affected",
]

log = logging.getLogger("dispatchdesk.store.checkpoint")

#: The first SQLite with WAL, and the first release of the main line with the fix.
FIRST_AFFECTED = (3, 7, 0)
FIXED_IN = (3, 51, 3)
#: Older release lines that received the fix in a patch release: (major, minor) -> patch.
BACKPORTED = {(3, 44): 6, (3, 50): 7}

#: How often the holder checkpoints, and the others try to take the role (seconds).
TICK_SECONDS = 1.0
#: Once the WAL holds this many frames, the holder makes the next writer start it over
#: (SQLite's own automatic checkpoint runs at 1000 pages).
RESTART_FRAMES = 1000
#: ... and gives the disk back when the file has grown past this (after a burst).
WAL_TRUNCATE_BYTES = 16 * 1024 * 1024
#: A WAL bigger than this means checkpoints are not keeping up: a person should look.
WAL_ALARM_BYTES = 256 * 1024 * 1024


def _version_tuple(version: str) -> tuple[int, int, int]:
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")[:3]]
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def wal_reset_affected(version: str | None = None) -> bool:
    """Has this SQLite (the one Python's sqlite3 links, or `version`) the WAL-reset bug?"""
    v = _version_tuple(version if version is not None else sqlite3.sqlite_version)
    if v < FIRST_AFFECTED or v >= FIXED_IN:
        return False
    patch = BACKPORTED.get((v[0], v[1]))
    return not (patch is not None and v[2] >= patch)


def lock_path(db_file: Path) -> Path:
    return db_file.with_name(db_file.name + "-checkpoint.lock")


def wal_path(db_file: Path) -> Path:
    return db_file.with_name(db_file.name + "-wal")


@dataclass(frozen=True)
class GuardStatus:
    """What ``dispatchdesk doctor`` says about the guard."""

    active: bool  # this process's connections leave checkpoints to the one holder
    problem: str | None  # why the guard is off (None when it is on)
    holds: bool  # this process (this Database) is the checkpointer
    holder: str | None  # "pid 1234 on host", from the lock file (None: nobody yet)
    taken: bool  # some connection (here or in another process) holds the role now
    wal_bytes: int  # the WAL file's size now
    last_checkpoint: tuple[int, int, int] | None  # (busy, frames in the WAL, frames folded in)


class CheckpointGuard:
    """One depot file's guard in this process (see the module's doc).

    ``start()`` opens the lock file and tries for the role at once; a background thread (one per
    process) then calls ``tick()`` every ``TICK_SECONDS``; ``stop()`` gives the role up.
    """

    def __init__(self, db_file: Path) -> None:
        self.db_file = db_file
        self.lock_file = lock_path(db_file)
        self.problem: str | None = None
        self.started = False
        self.stopped = False
        self.last_checkpoint: tuple[int, int, int] | None = None
        self._fd: int | None = None
        self._conn: sqlite3.Connection | None = None
        self._mutex = threading.RLock()
        self._alarmed_at = -1e9
        self._rejoin = False  # forked: open the lock file again at the next connection

    # ------------------------------------------------------------------ state
    @property
    def active(self) -> bool:
        """Do this process's connections turn automatic checkpoints off?"""
        return self.started and self.problem is None and not self.stopped

    @property
    def holds(self) -> bool:
        return self._conn is not None

    def configure(self, dbapi_conn: sqlite3.Connection) -> None:
        """For each new connection of the engine: start the guard (once), then leave the
        checkpoints to the holder, unless the guard could not start."""
        self.start()
        if self.active:
            dbapi_conn.execute("PRAGMA wal_autocheckpoint = 0")

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.started and not self._rejoin:
            return  # every new connection asks: no wait behind a checkpoint under way
        with self._mutex:
            if self.started:
                if self._rejoin:  # in a child made by fork(): take part again, as itself
                    self._rejoin = False
                    self._join()
                return
            self.started = True
            try:
                import fcntl  # noqa: F401 - POSIX only
            except ImportError:
                self.problem = "file locks (fcntl) are not available on this system"
                return
            self._join()

    def _join(self) -> None:
        try:
            self._fd = _open_lock_file(self.lock_file, self.db_file)
        except OSError as e:
            self.problem = f"its lock file {self.lock_file} cannot be used ({e.strerror or e})"
            log.warning("checkpoint guard off for %s: %s", self.db_file, self.problem)
            return
        _register(self)
        self.tick()

    def stop(self) -> None:
        with self._mutex:
            if self.stopped:
                return
            self.stopped = True
            _unregister(self)
            self._let_go()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _let_go(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass
            if self._fd is not None:
                try:
                    import fcntl

                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                except OSError:
                    pass

    def _forget_after_fork(self) -> None:
        """In a child made by fork(): the parent's role and connection are not ours, and the lock
        stays the parent's (closing our copy of the descriptor does not release it). The child's
        connections keep automatic checkpoints off; its next one opens the lock file again and
        competes for the role like any other process."""
        self._mutex = threading.RLock()
        self._conn = None  # never closed here: SQLite connections do not cross a fork
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        self._rejoin = self.active

    # ------------------------------------------------------------------ the work
    def tick(self) -> None:
        """Take the role if it is free; checkpoint if we hold it; watch the WAL's size."""
        with self._mutex:
            if self.stopped or self._fd is None:
                return
            if self._conn is None and not self._take_role():
                self._watch()
                return
            conn = self._conn
            assert conn is not None
            try:
                row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self.last_checkpoint = (int(row[0]), int(row[1]), int(row[2])) if row else None
                _busy, frames, _folded = self.last_checkpoint or (1, 0, 0)
                if frames >= RESTART_FRAMES:
                    mode = "TRUNCATE" if self.wal_bytes() > WAL_TRUNCATE_BYTES else "RESTART"
                    row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
                    self.last_checkpoint = (int(row[0]), int(row[1]), int(row[2])) if row else None
            except sqlite3.Error as e:
                log.debug("checkpoint of %s: %s", self.db_file, e)
            self._watch()

    def _take_role(self) -> bool:
        import fcntl

        assert self._fd is not None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # another connection holds it (EWOULDBLOCK), or locks fail here
        try:
            conn = sqlite3.connect(str(self.db_file), timeout=0.2, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 200")  # RESTART waits this long for a writer
        except sqlite3.Error as e:
            log.debug("checkpointer connection to %s: %s", self.db_file, e)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            return False
        self._conn = conn
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        except OSError:
            pass  # only the name of the holder is lost (a read-only lock file)
        log.debug("pid %d runs the checkpoints of %s", os.getpid(), self.db_file)
        return True

    def _watch(self) -> None:
        size = self.wal_bytes()
        now = time.monotonic()
        if size > WAL_ALARM_BYTES and now - self._alarmed_at > 600:
            self._alarmed_at = now
            log.warning("the WAL of %s is %d MB: checkpoints are not keeping up (run by %s)",
                        self.db_file, size // (1024 * 1024), self.holder() or "no process")

    # ------------------------------------------------------------------ facts
    def wal_bytes(self) -> int:
        try:
            return wal_path(self.db_file).stat().st_size
        except OSError:
            return 0

    def holder(self) -> str | None:
        """Who runs the checkpoints, as the lock file says ("pid 1234 on host")."""
        if self.holds:
            return f"pid {os.getpid()} on {socket.gethostname()}"
        try:
            text = self.lock_file.read_text(encoding="utf-8", errors="replace").split()
        except OSError:
            return None
        if len(text) >= 2 and text[0].isdigit():
            return f"pid {text[0]} on {text[1]}"
        return None

    def role_taken(self) -> bool:
        """Does some connection, in this process or another, hold the role now? (Asked with a
        descriptor of its own, so it works when this process's guard could not start.)"""
        if self.holds:
            return True
        try:
            import fcntl

            fd = os.open(self.lock_file, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except (ImportError, OSError):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True  # held exclusively: the checkpointer is there
        finally:
            os.close(fd)  # also drops our shared lock, if we got it
        return False

    def status(self) -> GuardStatus:
        with self._mutex:
            taken = self.role_taken()
            return GuardStatus(self.active, self.problem, self.holds,
                               self.holder() if taken else None, taken,
                               self.wal_bytes(), self.last_checkpoint)


def _open_lock_file(path: Path, db_file: Path) -> int:
    """The lock file, made with the database file's permissions (as SQLite makes its -wal and
    -shm), so that every user who may write the depot may take the role."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    try:
        mode = db_file.stat().st_mode & 0o666
    except OSError:
        mode = 0o644
    try:
        fd = os.open(path, flags, mode)
    except PermissionError:
        # another user's lock file we may not write: a lock needs only a read descriptor
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    return fd


# --------------------------------------------------------------------------- the one thread

_guards: weakref.WeakSet[CheckpointGuard] = weakref.WeakSet()
_lock = threading.Lock()
_thread: threading.Thread | None = None
_wake = threading.Event()


def _register(guard: CheckpointGuard) -> None:
    global _thread
    with _lock:
        _guards.add(guard)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="dispatchdesk-checkpoints", daemon=True)
            _thread.start()


def _unregister(guard: CheckpointGuard) -> None:
    with _lock:
        _guards.discard(guard)


def _run() -> None:
    while True:
        _wake.wait(TICK_SECONDS)
        _wake.clear()
        with _lock:
            guards = list(_guards)
        for g in guards:
            try:
                g.tick()
            except Exception:  # noqa: BLE001 - the checkpoints must go on for the others
                log.exception("checkpoint guard of %s", g.db_file)


def _after_fork_in_child() -> None:
    global _thread, _lock
    _thread = None  # threads do not survive a fork, nor do the locks they held
    _lock = threading.Lock()
    for g in list(_guards):
        g._forget_after_fork()
    _guards.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
