"""The depot's health for an admin: what ``dispatchdesk doctor`` prints, as a read model.

    report = examine("depot.db")          # opens the database read-only in spirit: no migration
    report.lines()                        # one line per fact
    report.problems                       # the sentences naming what needs a person
    report.as_json()                      # the same for machines

The facts: the database (engine and version, whether this SQLite has the WAL-reset bug and
whether the guard against it is on, journal mode, schema version against the code's, size,
free disk where the file is), the relay workers seen alive and their lag (since when the
oldest due notice has waited for a relay), each partner's link health, the consoles
connected. A problem is something a person must act on: a schema newer than this code, an
affected SQLite without the guard, a disk nearly full, notices due with no relay delivering
them, a relay lagging, a failing link, notices failed and waiting for a dispatcher.

Nothing here changes the depot's data: the schema is read without migrating (an older one is
upgraded by the next program that opens it, a newer one refused by all of them).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from ..domain import NoticeState
from ..store import HEAD_REVISION, Database
from ..store.checkpoint import WAL_ALARM_BYTES, GuardStatus, wal_reset_affected
from ..store.db import known_revisions
from ..store.models import utcnow
from ..text import clean
from . import queries
from .core import Depot
from .outbox import live_workers, notice_counts, oldest_due
from .presence import CONSOLE, RELAY, present

__all__ = [
    "DatabaseFacts",
    "HealthReport",
    "LinkFacts",
    "MAX_LAG_SECONDS",
    "RelayFacts",
    "examine",
    "schema_version",
]

#: A relay further behind than this (seconds) needs a person (`doctor --max-lag`).
MAX_LAG_SECONDS = 60.0
#: A notice due this long with no relay holding any claim: no relay is delivering.
NO_RELAY_AFTER_SECONDS = 10.0
#: Free disk under either of these where the database file is: nearly full.
MIN_FREE_BYTES = 1024**3
MIN_FREE_FRACTION = 0.05


@dataclass(frozen=True)
class DatabaseFacts:
    where: str
    engine: str  # "SQLite" or "PostgreSQL" (or another dialect's name)
    version: str
    wal_reset_affected: bool | None  # None: not SQLite
    guard: dict[str, Any] | None  # the WAL-reset guard's state (store.checkpoint.GuardStatus)
    journal_mode: str | None
    schema: str | None
    code_schema: str
    size_bytes: int | None
    wal_bytes: int | None
    free_bytes: int | None
    disk_bytes: int | None


@dataclass(frozen=True)
class RelayFacts:
    workers: list[str]  # relay workers seen alive (present, or holding a live claim)
    oldest_due: datetime | None
    lag_seconds: float  # 0 when nothing is due
    waiting: int  # held or queued
    failed: int


@dataclass(frozen=True)
class LinkFacts:
    partner: str
    link: str  # http, email, none
    health: str  # queries.link_health: ok, error, stopped, untried, by hand
    last_contact_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    waiting: int
    failed: int


@dataclass
class HealthReport:
    database: DatabaseFacts
    relay: RelayFacts | None = None  # None: not checked (the schema is not this code's)
    links: list[LinkFacts] = field(default_factory=list)
    consoles: list[str] = field(default_factory=list)  # who@host of each console connected
    problems: list[str] = field(default_factory=list)
    #: why the depot's own facts (relay, links, consoles) were not read, if they were not
    skipped: str | None = None
    max_lag: float = MAX_LAG_SECONDS

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """One line per fact, for a person (outside text through the sanitiser)."""
        db = self.database
        out = [f"database: {_c(db.where)} ({db.engine} {db.version})"]
        if db.journal_mode is not None:
            out.append(f"journal mode: {db.journal_mode}")
        out.append(f"schema: {db.schema or 'none'} (this dispatchdesk: {db.code_schema})")
        if db.size_bytes is not None:
            wal = f" (WAL {_size(db.wal_bytes)})" if db.wal_bytes else ""
            out.append(f"size: {_size(db.size_bytes)}{wal}")
        if db.free_bytes is not None and db.disk_bytes:
            out.append(f"free disk: {_size(db.free_bytes)} of {_size(db.disk_bytes)} "
                       f"({100 * db.free_bytes / db.disk_bytes:.0f}%) where the database is")
        elif db.engine != "SQLite":
            out.append("free disk: not checked (the database lives on its server)")
        if db.wal_reset_affected is not None:
            out.append(f"WAL-reset bug: {_wal_reset_words(db)}")
        if self.skipped:
            out.append(f"relay, links, consoles: not checked ({self.skipped})")
            return out
        r = self.relay
        if r is not None:
            out.append("relay workers: " + (f"{len(r.workers)} alive ({', '.join(_c(w) for w in r.workers)})"
                                            if r.workers else "none alive"))
            out.append("relay lag: " + (f"{r.lag_seconds:.0f} s (a notice has been due since "
                                        f"{_when(r.oldest_due)})" if r.oldest_due else "0 s (nothing due)"))
            out.append(f"notices: {r.waiting} waiting, {r.failed} failed")
        for ln in self.links:
            line = f"link {_c(ln.partner)}: {ln.health}"
            if ln.health == "error" and ln.last_error:
                line += f" since {_when(ln.last_error_at)}: {_c(ln.last_error, limit=120)}"
            elif ln.last_contact_at is not None:
                line += f" (last contact {_when(ln.last_contact_at)})"
            if ln.waiting or ln.failed:
                line += f"; {ln.waiting} waiting, {ln.failed} failed"
            out.append(line)
        if not self.links:
            out.append("links: no partners yet")
        out.append(f"consoles connected: {len(self.consoles)}"
                   + (f" ({', '.join(_c(c) for c in self.consoles)})" if self.consoles else ""))
        return out

    def as_json(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, datetime):
                return v.astimezone(UTC).isoformat()
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            return v

        body: dict[str, Any] = plain({
            "ok": self.ok,
            "problems": list(self.problems),
            "database": asdict(self.database),
            "relay": asdict(self.relay) if self.relay is not None else None,
            "links": [asdict(ln) for ln in self.links],
            "consoles": self.consoles,
            "skipped": self.skipped,
            "max_lag_seconds": self.max_lag,
        })
        return body


def _c(value: object, *, limit: int | None = None) -> str:
    return clean(value, single_line=True, limit=limit)


def _when(dt: datetime | None) -> str:
    return "-" if dt is None else dt.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def _wal_reset_words(db: DatabaseFacts) -> str:
    if not db.wal_reset_affected:
        return f"SQLite {db.version} is not affected"
    g = db.guard or {}
    if g.get("active") and g.get("holds"):
        return (f"SQLite {db.version} is affected; the guard is on (no other program held the "
                "checkpointer role, so this check took it while it ran)")
    if g.get("active"):
        who = g.get("holder") or "the next program to open the depot"
        return f"SQLite {db.version} is affected; the guard is on (checkpoints run by {who} only)"
    if g.get("taken"):
        return (f"SQLite {db.version} is affected; the guard is on in the depot's programs "
                f"(checkpoints run by {g.get('holder') or 'another program'} only), not in this "
                f"check: {g.get('problem') or 'not started'}")
    return f"SQLite {db.version} is affected and the guard is OFF: {g.get('problem') or 'not started'}"


# --------------------------------------------------------------------------- reading the facts


def schema_version(depot: Depot) -> str | None:
    """The depot's schema version (for /healthz)."""
    return depot.db.current_revision()


def examine(location: str, *, max_lag: float = MAX_LAG_SECONDS,
            clock: Callable[[], datetime] = utcnow) -> HealthReport:
    """Open the depot at `location` (never creating or upgrading it), read every fact, close it.
    A file or database that is not a depot raises StorageError with the usual sentence."""
    db = Database.open(location, migrate=False, create=False)
    try:
        tables, revision = db.peek_schema()
        known = known_revisions()
        newer = revision is not None and revision not in known and "depot" in tables
        if not newer:
            db.check_is_depot(create=False)  # a non-depot is refused, unchanged
        report = HealthReport(_database_facts(db, revision), max_lag=max_lag)
        if newer:
            report.problems.append(
                f"The database {db.where} has schema version {revision}, newer than this "
                f"dispatchdesk knows (up to {HEAD_REVISION}): it was last opened by a newer "
                "dispatchdesk, and every program here refuses it. Upgrade dispatchdesk on this "
                "machine (the other checks were skipped).")
            report.skipped = f"schema {revision} is newer than this dispatchdesk"
        elif revision != HEAD_REVISION:
            report.skipped = (f"schema {revision or 'none'} is upgraded to {HEAD_REVISION} when "
                              "dispatchdesk next opens the depot")
        _database_problems(report)
        if report.skipped is None:
            depot = Depot(db, actor="doctor", clock=clock)
            _depot_facts(report, depot, max_lag)
        return report
    finally:
        db.close()


def _database_facts(db: Database, revision: str | None) -> DatabaseFacts:
    with db.engine.connect() as conn:
        if db.is_sqlite:
            version = sqlite3.sqlite_version
            journal = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())
            path = _sqlite_path(db)
            size = _file_size(path) if path else None
            wal = _file_size(Path(str(path) + "-wal")) if path else None
            free = disk = None
            if path is not None:
                try:
                    usage = shutil.disk_usage(path.parent)
                    free, disk = usage.free, usage.total
                except OSError:
                    pass
            status: GuardStatus | None = db.checkpoint_status()
            return DatabaseFacts(
                where=db.where, engine="SQLite", version=version,
                wal_reset_affected=wal_reset_affected() if path is not None else False,
                guard=asdict(status) if status is not None else None,
                journal_mode=journal, schema=revision, code_schema=HEAD_REVISION,
                size_bytes=size, wal_bytes=wal, free_bytes=free, disk_bytes=disk)
        dialect = db.engine.dialect.name
        if dialect == "postgresql":
            version = str(conn.execute(text("SHOW server_version")).scalar())
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
            engine = "PostgreSQL"
        else:  # pragma: no cover - the depot runs on SQLite or PostgreSQL
            version = ".".join(str(p) for p in (db.engine.dialect.server_version_info or ()))
            size = None
            engine = dialect
        return DatabaseFacts(
            where=db.where, engine=engine, version=version, wal_reset_affected=None, guard=None,
            journal_mode=None, schema=revision, code_schema=HEAD_REVISION,
            size_bytes=int(size) if size is not None else None, wal_bytes=None,
            free_bytes=None, disk_bytes=None)


def _sqlite_path(db: Database) -> Path | None:
    name = db.engine.url.database
    if not name or name == ":memory:":
        return None
    return Path(os.path.abspath(name))


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _worker_id(detail: str | None) -> str | None:
    """The worker id in a relay's presence detail ("worker host:1234:ab12cd; endpoint URL")."""
    if not detail or not detail.startswith("worker "):
        return None
    return detail[len("worker "):].split(";", 1)[0].strip() or None


def _database_problems(report: HealthReport) -> None:
    db = report.database
    guard = db.guard or {}
    if db.wal_reset_affected and not guard.get("active") and not guard.get("taken"):
        why = (db.guard or {}).get("problem") or "it did not start"
        report.problems.append(
            f"SQLite {db.version} has the WAL-reset bug (rare corruption when two connections "
            f"checkpoint while a third commits), and the guard that leaves checkpoints to one "
            f"connection is off: {why}. Fix that, or use an SQLite of 3.51.3 or newer.")
    if db.wal_bytes is not None and db.wal_bytes > WAL_ALARM_BYTES:
        who = (db.guard or {}).get("holder") or "no process"
        report.problems.append(
            f"The database's write-ahead log is {_size(db.wal_bytes)}: checkpoints are not keeping "
            f"up (they are run by {who}). Check that process, or restart it.")
    if db.free_bytes is not None and db.disk_bytes:
        if db.free_bytes < MIN_FREE_BYTES or db.free_bytes < MIN_FREE_FRACTION * db.disk_bytes:
            report.problems.append(
                f"The disk holding the database is nearly full: {_size(db.free_bytes)} free of "
                f"{_size(db.disk_bytes)} ({100 * db.free_bytes / db.disk_bytes:.0f}%). Free some "
                "space before it fills: a full disk stops every write.")


def _depot_facts(report: HealthReport, depot: Depot, max_lag: float) -> None:
    now = depot.now()
    since = oldest_due(depot)
    here = present(depot)
    report.consoles = [v.name for v in here if v.kind == CONSOLE]
    # a relay worker registers itself ("worker <id>; endpoint <url>"); one that holds a claim
    # is alive too, registered or not
    workers = sorted({_worker_id(v.detail) or v.name for v in here if v.kind == RELAY}
                     | set(live_workers(depot)))
    views = queries.partners(depot)
    lag = max(0.0, (now - since).total_seconds()) if since is not None else 0.0
    counts = notice_counts(depot)
    waiting = counts[NoticeState.HELD] + counts[NoticeState.QUEUED]
    failed = counts[NoticeState.FAILED]
    report.relay = RelayFacts(workers, since, lag, waiting, failed)
    if since is not None and not workers and lag > NO_RELAY_AFTER_SECONDS:
        report.problems.append(
            f"Notices have been due for {lag:.0f} s and no relay is delivering them: start "
            "`dispatchdesk relay` (or a console without --no-relay).")
    elif since is not None and lag > max_lag:
        report.problems.append(
            f"The relay is {lag:.0f} s behind (over the {max_lag:.0f} s allowed): a notice has "
            f"been due since {_when(since)}. Check the relay's log, or start another relay.")
    for p in views:
        health = queries.link_health(p)
        report.links.append(LinkFacts(p.name, p.link, health, p.last_contact_at, p.last_error_at,
                                      p.last_error, p.waiting, p.failed))
        if health == "error":
            report.problems.append(
                f"The link to {_c(p.name)} is failing: the last attempt, at {_when(p.last_error_at)}, "
                f"failed: {_c(p.last_error or 'no answer', limit=200).rstrip('.')}. Check the "
                "partner's settings (`dispatchdesk partner list`) and the depot's, or ask them about "
                "their server.")
        if p.failed:
            report.problems.append(
                f"{p.failed} notice(s) to {_c(p.name)} failed and wait for a dispatcher to retry or "
                "skip them (the Link screen, key 3).")
