"""Engines, migrations and the unit of work.

Nothing is opened at import time: `Database.open(url)` does it. SQLite runs in WAL mode with
foreign keys on and a busy timeout; write transactions start with BEGIN IMMEDIATE so two
writers queue instead of failing half-way.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    exists,
    insert,
    inspect,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.schema import Table

from .checkpoint import CheckpointGuard, GuardStatus, wal_reset_affected
from .fast import Prepared
from .listen import CHANNEL, SQLITE_POLL, ChangeWaiter
from .models import DepotMeta

#: The newest migration. tests/store/test_migrations.py checks it matches Alembic's head.
HEAD_REVISION = "0009"
MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 5000
#: How long bookkeeping writes (Database.side_write) wait for a lock before they skip.
SIDE_WAIT_MS = 200

T = TypeVar("T")


class LockWatch:
    """Whether a write is held up by another connection's lock, for another thread to look at
    (the console, while the write runs in its worker thread). Set for the writes of one thread
    with `watching_locks`; read with `Database.lock_wait`. A write that is merely slow (starved
    of CPU, or doing much) is not held up by a lock."""

    def __init__(self) -> None:
        #: time.monotonic() since when it has been waiting for a lock (None: not waiting)
        self.since: float | None = None
        #: PostgreSQL: the server process of the write's connection
        self.pid: int | None = None


_LOCK_WATCH: ContextVar[LockWatch | None] = ContextVar("dispatchdesk_lock_watch", default=None)


@contextmanager
def watching_locks(watch: LockWatch) -> Iterator[LockWatch]:
    """The writes made in this context (this thread) keep `watch` up to date."""
    token = _LOCK_WATCH.set(watch)
    try:
        yield watch
    finally:
        watch.since = None
        _LOCK_WATCH.reset(token)


def _sqlite_begin_write(dbapi_conn: Any) -> None:
    """BEGIN IMMEDIATE: the write lock up front. Watched (LockWatch), it is first tried without
    waiting; when another connection holds the lock, the watch says since when this one waits
    (the busy timeout's wait), and stops saying so once the lock is taken or the wait ends."""
    watch = _LOCK_WATCH.get()
    if watch is None:
        dbapi_conn.execute("BEGIN IMMEDIATE")
        return
    dbapi_conn.execute("PRAGMA busy_timeout = 0")
    try:
        dbapi_conn.execute("BEGIN IMMEDIATE")
        return
    except sqlite3.OperationalError as e:
        if not _is_lock(e):
            raise
    finally:
        dbapi_conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    watch.since = time.monotonic()  # another connection writes: wait for it (up to the busy timeout)
    try:
        dbapi_conn.execute("BEGIN IMMEDIATE")
    finally:
        watch.since = None


def _pg_watched(dbapi_conn: Any) -> None:
    """A watched write on PostgreSQL: note its connection's server process (no query: the
    driver knows it), whose lock waits `Database.lock_wait` asks the server about."""
    watch = _LOCK_WATCH.get()
    if watch is not None:
        pid = getattr(getattr(dbapi_conn, "info", None), "backend_pid", None)
        watch.pid = pid if isinstance(pid, int) else None


class StorageError(Exception):
    """The database cannot be used; the message says why in words. `locked`: another program
    holds the write lock (waiting may help)."""

    def __init__(self, message: str, *, locked: bool = False) -> None:
        super().__init__(message)
        self.locked = locked


def _is_lock(exc: BaseException) -> bool:
    msg = str(getattr(exc, "orig", exc)).lower()
    return "locked" in msg or "busy" in msg


def to_url(db: str | os.PathLike[str]) -> str:
    """A path or an SQLAlchemy URL -> a URL. Refuses a path whose directory does not exist."""
    s = os.fspath(db)
    if "://" in s:
        try:
            make_url(s)
        except ArgumentError as e:
            raise StorageError(f"{s!r} is not a database URL or path: {e}") from None
        return s
    path = Path(s).expanduser()
    if not path.parent.is_dir():
        raise StorageError(
            f"Cannot open the database {path}: the directory {path.parent} does not exist."
        )
    return f"sqlite:///{path}"


def _read_only_fs(where: str) -> bool:
    """Is the file (or the directory SQLite must write its -wal/-shm in) on a read-only mount,
    or not writable by us?"""
    path = Path(where)
    folder = path.parent if path.parent.is_dir() else None
    if folder is None:
        return False
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except (OSError, AttributeError):
        pass
    return not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK))


def _disk_full(where: str) -> bool:
    """Is the disk holding the file (nearly) full: under 1 MB or 0.1% free?"""
    folder = Path(where).parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return False
    return usage.free < max(1024 * 1024, usage.total // 1000)


def describe_db_error(exc: BaseException, where: str) -> str:
    """Turn a driver's error into a sentence a dispatcher can act on."""
    orig = getattr(exc, "orig", exc)
    msg = str(orig).lower()
    is_file = "://" not in where and where != "(in memory)"
    if "locked" in msg or "busy" in msg:
        return f"The database {where} is locked by another program; nothing was changed. Try again in a moment."
    if "readonly" in msg or "read-only" in msg or "read only" in msg:
        return (
            f"The database {where} is read-only; nothing was changed. Check its file permissions."
        )
    if "disk is full" in msg or "database or disk is full" in msg or "no space" in msg:
        return f"The disk holding the database {where} is full; nothing was changed. Free some space and try again."
    if is_file and ("unable to open" in msg or "disk i/o error" in msg or "i/o error" in msg):
        # SQLite says only that it could not open or write a file (the database, its -wal or
        # its -shm): look at the file system to say why
        if _read_only_fs(where):
            return (
                f"The database {where} is on a read-only file system (or in a folder we cannot "
                "write to); nothing was changed. A depot needs to write next to its file: "
                "copy it to a writable place, or mount the disk read-write."
            )
        if _disk_full(where):
            return (
                f"The disk holding the database {where} is full; nothing was changed. "
                "Free some space and try again."
            )
    if "unable to open" in msg:
        return f"Cannot open the database {where}: {orig}"
    if "not a database" in msg or "malformed" in msg:
        return f"{where} is not a dispatchdesk database (or it is damaged): {orig}"
    if "connection" in msg and ("refused" in msg or "failed" in msg):
        return f"Cannot reach the database {where}: {orig}"
    return f"The database {where} could not be used; nothing was changed: {orig}"


def known_revisions() -> list[str]:
    """The schema versions this dispatchdesk knows, oldest first (the migrations' file names
    start with their revision)."""
    return sorted(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def _sqlite_setup(engine: Engine, guard: CheckpointGuard | None) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        try:
            cur.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            pass  # a read-only database keeps its mode; writes will say so
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()
        if guard is not None:  # an SQLite with the WAL-reset bug: one checkpointer (checkpoint.py)
            guard.configure(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if conn.get_execution_options().get("dispatchdesk_write"):
            if _LOCK_WATCH.get() is None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                _sqlite_begin_write(conn.connection.driver_connection)
        else:
            conn.exec_driver_sql("BEGIN")


def _postgres_setup(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if _LOCK_WATCH.get() is not None and conn.get_execution_options().get("dispatchdesk_write"):
            _pg_watched(conn.connection.driver_connection)


class Database:
    """One depot's database: the engine, its session factories, its migrations."""

    def __init__(self, engine: Engine, where: str, checkpoint_guard: CheckpointGuard | None = None) -> None:
        self.engine = engine
        self.where = where
        #: on an SQLite with the WAL-reset bug, the guard that leaves checkpoints to one
        #: connection per depot (store.checkpoint); None elsewhere
        self.checkpoint_guard = checkpoint_guard
        self._write_engine = engine.execution_options(dispatchdesk_write=True)
        self.reader = sessionmaker(bind=engine, expire_on_commit=False)
        self.writer = sessionmaker(bind=self._write_engine, expire_on_commit=False)
        self._waiter: ChangeWaiter | None = None
        self._waiter_lock = threading.Lock()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @classmethod
    def open(cls, db: str | os.PathLike[str], *, migrate: bool = True, create: bool = True) -> Database:
        """Open a depot's database and bring its schema up to date.

        `create`: a database with no tables (or an SQLite file not there yet) becomes a new
        depot; without it, such a database is refused and an SQLite file is not made (only
        ``init``, and the first run on the default path, create a depot). Either way a database
        holding some other application's tables is refused, unchanged, and one from a newer
        dispatchdesk is refused with both schema versions named.
        """
        url = to_url(db)
        where = _display(url)
        if not create:
            path = _sqlite_file(url)
            if path is not None and not path.exists():
                raise StorageError(_no_depot(where))
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        try:
            engine = create_engine(url, **kwargs)
        except Exception as e:  # noqa: BLE001 - an unusable URL or a missing driver
            raise StorageError(f"Cannot open the database {where}: {e}") from None
        guard = None
        if engine.dialect.name == "sqlite":
            path = _sqlite_file(url)
            if path is not None and wal_reset_affected():
                # started by the first connection: a file refused as not a depot gets no lock file
                guard = CheckpointGuard(Path(os.path.abspath(path)))
            _sqlite_setup(engine, guard)
        elif engine.dialect.name == "postgresql":
            _postgres_setup(engine)
        self = cls(engine, where, guard)
        if migrate:
            try:
                self.check_is_depot(create=create)
                self.migrate()
            except BaseException:
                self.close()
                raise
        return self

    def check_is_depot(self, *, create: bool) -> None:
        """Refuse, changing nothing, a database that is not a dispatchdesk depot (see open)."""
        tables, revision = self._peek()
        if not tables:
            if not create:
                raise StorageError(_no_depot(self.where))
            return
        known = known_revisions()
        if "depot" in tables or revision in known:
            if revision is not None and revision not in known:
                raise StorageError(
                    f"The database {self.where} has schema version {revision}, newer than this "
                    f"dispatchdesk knows (up to {HEAD_REVISION}): it was last opened by a newer "
                    "dispatchdesk. Upgrade dispatchdesk to use it; nothing was changed."
                )
            return
        shown = sorted(tables - {"alembic_version"}) or sorted(tables)
        listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
        raise StorageError(
            f"{self.where} is not a dispatchdesk database: it holds other tables ({listed}); "
            "nothing was changed. Give --db a depot's database, or a new file to `init`."
        )

    def _peek(self) -> tuple[set[str], str | None]:
        """The tables and the schema version, read without changing a byte: an SQLite file is
        read through a read-only connection of its own (the engine's connections switch the
        file to WAL mode, which writes its header)."""
        path = _sqlite_file(str(self.engine.url))
        try:
            if path is None:
                tables = set(inspect(self.engine).get_table_names())
                revision = self.current_revision() if "alembic_version" in tables else None
                return tables, revision
            if not path.exists() or path.stat().st_size == 0:
                return set(), None
            conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True,
                                   timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                revision = None
                if "alembic_version" in tables:
                    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                    revision = row[0] if row else None
                return tables, revision
            finally:
                conn.close()
        except (sqlite3.Error, OperationalError, DBAPIError) as e:
            raise StorageError(describe_db_error(e, self.where)) from None

    def close(self) -> None:
        if self._waiter is not None:
            self._waiter.close()
        self.engine.dispose()
        if self.checkpoint_guard is not None:
            self.checkpoint_guard.stop()

    def peek_schema(self) -> tuple[set[str], str | None]:
        """The tables and the schema version, read without changing anything (not even the
        journal mode of an SQLite file): for `dispatchdesk doctor`."""
        return self._peek()

    def checkpoint_status(self) -> GuardStatus | None:
        """The WAL-reset guard's state (None: not needed here, nothing changed)."""
        g = self.checkpoint_guard
        return g.status() if g is not None else None

    # ------------------------------------------------------------------ migrations
    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError as e:
            if "no such table" in str(e).lower() or "does not exist" in str(e).lower():
                return None
            raise StorageError(describe_db_error(e, self.where)) from None
        except DBAPIError as e:
            if "does not exist" in str(e).lower():
                return None
            raise StorageError(describe_db_error(e, self.where)) from None

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to date; cheap when it already is.

        On SQLite, Alembic's batch mode rebuilds a table by copying it; with foreign keys on,
        dropping the old copy fails once other rows reference it. So foreign keys are off for
        the upgrade (a PRAGMA that only works outside a transaction) and every reference is
        checked before it commits: a broken one rolls the whole upgrade back.
        """
        if revision == "head" and self.current_revision() == HEAD_REVISION:
            return
        from alembic import command

        cfg = alembic_config()
        try:
            with self._write_engine.connect() as conn:
                raw = conn.connection.driver_connection if self.is_sqlite else None
                if raw is not None:
                    raw.execute("PRAGMA foreign_keys = OFF")
                try:
                    with conn.begin():
                        cfg.attributes["connection"] = conn
                        command.upgrade(cfg, revision)
                        if raw is not None:
                            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                            if broken:
                                raise StorageError(
                                    f"Upgrading the database {self.where} would break "
                                    f"{len(broken)} reference(s) (first in table {broken[0][0]}); "
                                    "nothing was changed."
                                )
                        if revision == "head":
                            conn.execute(
                                insert(_depot).from_select(
                                    ["id"],
                                    select(literal(1)).where(
                                        ~exists().where(_depot.c.id == 1)
                                    ),
                                )
                            )
                finally:
                    if raw is not None:
                        raw.execute("PRAGMA foreign_keys = ON")
        except (OperationalError, DBAPIError) as e:
            raise StorageError(describe_db_error(e, self.where)) from None

    def change_seq(self) -> int:
        """A number that grows with every committed change; screens watch it."""
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT change_seq FROM depot WHERE id = 1")).scalar() or 0

    @property
    def changes(self) -> ChangeWaiter:
        """What waits for changes (store/listen.py); made on first use."""
        with self._waiter_lock:
            if self._waiter is None:
                self._waiter = ChangeWaiter(self)
            return self._waiter

    @property
    def changes_pushed(self) -> bool:
        """Do other sessions' changes arrive pushed (PostgreSQL: LISTEN/NOTIFY), not polled?"""
        return self.changes.pushed

    def wait_for_change(
        self, last_seq: int, timeout: float, *, stop: threading.Event | None = None,
        poll: float = SQLITE_POLL,
    ) -> int:
        """The change sequence once it is no longer `last_seq` (some session committed), or
        `last_seq` after `timeout` seconds, once `stop` is set, or while the database cannot be
        read. Pushed on PostgreSQL (LISTEN/NOTIFY, with a slow poll as a safety net), polled
        every `poll` seconds on SQLite. Never raises; blocks: call it from a thread."""
        return self.changes.wait(last_seq, timeout, stop=stop, poll=poll)

    def lock_wait(self, watch: LockWatch) -> float | None:
        """How long (seconds) the write `watch` follows has been held up by another
        connection's lock; None when it is not held up now. SQLite: the write waits for the
        write lock (its BEGIN IMMEDIATE found it taken). PostgreSQL: the server says the
        write's process waits for a lock another holds (one short query, made only while a
        write is slow; the first time it is seen counts from then)."""
        if self.is_sqlite:
            since = watch.since
            return None if since is None else max(0.0, time.monotonic() - since)
        pid = watch.pid
        if pid is None or not self.is_postgres:
            return None
        try:
            with self.engine.connect() as conn:
                blockers = conn.execute(text("SELECT cardinality(pg_blocking_pids(:pid))"), {"pid": pid}).scalar()
        except (OperationalError, DBAPIError):
            return None
        if not blockers:
            watch.since = None
            return None
        if watch.since is None:
            watch.since = time.monotonic()
        return time.monotonic() - watch.since

    def wake_waiters(self) -> None:
        """Get every `wait_for_change` of this database out of its sleep now (to stop)."""
        if self._waiter is not None:
            self._waiter.wake()

    def side_write(self, fn: Callable[[Connection], T], *, wait_ms: int = SIDE_WAIT_MS) -> T | None:
        """Run `fn` in one short write transaction of its own that does NOT bump the change
        sequence (bookkeeping nobody's screen shows as a change: presence heartbeats). It never
        waits long and never raises: when the database is locked or busy for more than
        `wait_ms` (or cannot be reached), nothing is written and None comes back."""
        try:
            # on SQLite the write engine begins IMMEDIATE: the lock is taken (or not) up front
            with self._write_engine.connect() as conn:
                raw = conn.connection.driver_connection if self.is_sqlite else None
                if raw is not None:
                    raw.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
                try:
                    with conn.begin():
                        if raw is None:  # PostgreSQL: give up instead of queueing on a row lock
                            conn.execute(_SIDE_TIMEOUTS, {"lock": f"{int(wait_ms)}ms",
                                                          "stmt": f"{int(wait_ms) * 5}ms"})
                        return fn(conn)
                finally:
                    if raw is not None:
                        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except (OperationalError, DBAPIError, sqlite3.Error, OSError):
            return None


def alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (None for other databases and for memory)."""
    u = make_url(url)
    if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
        return None
    if u.database.startswith("file:"):
        return Path(u.database[5:].split("?", 1)[0])
    return Path(u.database)


def _no_depot(where: str) -> str:
    return (
        f"There is no depot in {where} yet: `dispatchdesk --db {where} init` makes one there "
        "(add --demo for the demo depot). Nothing was changed."
    )


def _display(url: str) -> str:
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        return u.database or "(in memory)"
    return u.render_as_string(hide_password=True)


#: PostgreSQL: a side write's lock and statement timeouts, for its transaction only (one statement)
_SIDE_TIMEOUTS = text("SELECT set_config('lock_timeout', :lock, true), set_config('statement_timeout', :stmt, true)")
#: The depot row's Table (the ORM types ``__table__`` as the wider FromClause).
_depot = cast(Table, DepotMeta.__table__)
#: Built once: every commit runs it, so it skips the ORM.
_BUMP_CHANGE_SEQ = update(_depot).where(_depot.c.id == 1).values(change_seq=_depot.c.change_seq + 1)
#: The same on PostgreSQL, telling every listening console in the same statement; the
#: notification is delivered when (and only if) the transaction commits.
_BUMP_AND_NOTIFY = text(
    "WITH bumped AS (UPDATE depot SET change_seq = change_seq + 1 WHERE id = 1 RETURNING change_seq) "
    f"SELECT pg_notify('{CHANNEL}', CAST(change_seq AS text)) FROM bumped"
)


class UnitOfWork:
    """One transaction. Rolls back unless `commit()` was called; translates storage errors.

    The ORM session is made when first asked for (`session`). A lean action that writes with
    statements compiled once asks for `cursor()` instead and never pays for a session or a
    Core connection (issue 13 item 3)."""

    def __init__(
        self, db: Database, *, write: bool = True, before_commit: Callable[[], None] | None = None
    ) -> None:
        self.db = db
        self.write = write
        #: called just before the commit; raising there rolls everything back
        self.before_commit = before_commit
        self._session: Session | None = None
        #: the lean path's pooled DBAPI connection and its cursor (cursor())
        self._raw: Any = None
        self._cursor: Any = None
        self._committed = False

    @property
    def session(self) -> Session:
        if self._session is None:
            if self._raw is not None:
                raise RuntimeError("this unit of work writes on the lean path: it has no session")
            self._session = (self.db.writer if self.write else self.db.reader)()
        return self._session

    @property
    def dialect(self) -> Dialect:
        return self.db.engine.dialect

    def cursor(self) -> Any:
        """The lean path: a DBAPI cursor in this unit of work's own transaction (BEGIN IMMEDIATE
        for a write on SQLite), with no ORM session and no Core connection: for statements
        compiled once (store.fast.Prepared). A unit of work uses one way or the other."""
        if self._session is not None:
            raise RuntimeError("this unit of work already has a session")
        if self._raw is None:
            engine = self.db.engine
            driver_error = getattr(engine.dialect, "loaded_dbapi", sqlite3).Error
            try:
                raw = engine.raw_connection()
            except (OperationalError, DBAPIError) as e:
                raise StorageError(describe_db_error(e, self.db.where), locked=_is_lock(e)) from None
            try:
                if self.db.is_sqlite:
                    if self.write:
                        _sqlite_begin_write(raw.dbapi_connection)
                    else:
                        raw.dbapi_connection.execute("BEGIN")  # type: ignore[union-attr]
                elif self.write:
                    _pg_watched(raw.driver_connection)
            except driver_error as e:
                raw.close()
                if _is_storage_problem(e):
                    raise StorageError(describe_db_error(e, self.db.where), locked=_is_lock(e)) from None
                raise
            self._raw = raw
            self._cursor = raw.cursor()
        return self._cursor

    def leave_lean(self) -> None:
        """Give up the lean path's transaction (rolled back: nothing was written on it) so
        that this unit of work goes on with a session, in a new transaction."""
        if self._raw is not None:
            raw, self._raw, self._cursor = self._raw, None, None
            try:
                raw.rollback()
            finally:
                raw.close()  # back to the pool

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if not self._committed:
                if self._session is not None:
                    self._session.rollback()
                if self._raw is not None:
                    self._raw.rollback()
        finally:
            if self._session is not None:
                self._session.close()
            if self._raw is not None:
                self._raw.close()  # back to the pool
        # the lean path's statements run on the DBAPI cursor: the driver's own errors too
        driver_error = getattr(self.db.engine.dialect, "loaded_dbapi", sqlite3).Error
        if isinstance(exc, (OperationalError, StatementError, DBAPIError, driver_error)) and not isinstance(
            exc, StorageError
        ):
            if _is_storage_problem(exc):
                raise StorageError(
                    describe_db_error(exc, self.db.where), locked=_is_lock(exc)
                ) from exc

    def commit(self) -> None:
        """Commit, and bump the change sequence that other sessions watch."""
        if self.before_commit is not None:
            self.before_commit()
        try:
            postgres = self.db.is_postgres
            if self._raw is not None:
                # the lean path's bump tells listening consoles too (pg_notify, same transaction)
                (_BUMP_NOTIFY if postgres else _BUMP).run(self._cursor, self.dialect)
                self._raw.commit()
            else:
                self.session.connection().execute(_BUMP_AND_NOTIFY if postgres else _BUMP_CHANGE_SEQ)
                self.session.commit()
        except (OperationalError, DBAPIError, getattr(self.db.engine.dialect, "loaded_dbapi", sqlite3).Error) as e:
            if self._session is not None:
                self._session.rollback()
            if self._raw is not None:
                self._raw.rollback()
            if _is_storage_problem(e):
                raise StorageError(describe_db_error(e, self.db.where), locked=_is_lock(e)) from None
            raise
        self._committed = True


#: the change sequence's bump, run on the lean path's own cursor (and on PostgreSQL with its NOTIFY)
_BUMP = Prepared(_BUMP_CHANGE_SEQ)
_BUMP_NOTIFY = Prepared(_BUMP_AND_NOTIFY)


def _is_storage_problem(exc: BaseException) -> bool:
    msg = str(getattr(exc, "orig", exc)).lower()
    return any(
        w in msg
        for w in (
            "locked",
            "busy",
            "readonly",
            "read-only",
            "disk",
            "unable to open",
            "not a database",
            "malformed",
            "no space",
            "connection",
        )
    )


@contextmanager
def read(db: Database) -> Iterator[Session]:
    """A read-only session for queries."""
    with UnitOfWork(db, write=False) as uow:
        yield uow.session
