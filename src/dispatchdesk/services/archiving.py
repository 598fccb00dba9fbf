"""Working lists stay small (issue 13 item 2): the depot archives Delivered, Rejected and
Cancelled orders whose status is older than the `archive_after_days` setting (default 30; 0
switches it off).

`AutoArchive` is a typed action like every other: `preview()` says how many orders are due and
what happens to them, `execute()` archives one batch in one transaction, each order with its own
audit entry ("archived automatically after 30 days in Delivered", who: the depot). The relay
(in the console and as `dispatchdesk relay`) runs it now and then (`run_auto_archive`).

Several workers on one database archive each order once: the candidates are found by a plain
read (no write lock while the depot is searched), and the write is one conditional UPDATE that
checks the whole rule again, so an order another worker (or a dispatcher) changed meanwhile is
left alone and gets no second audit entry.

Unarchive is the undo: an order a dispatcher brings back from the archive stays in the working
lists until its status changes again (the rule skips orders unarchived since their last status
change).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, exists, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ..domain import Status
from ..store.models import AuditEntry, Order, Setting
from .actions import Action
from .core import Depot, Preview

__all__ = [
    "ARCHIVE_AFTER_DAYS",
    "AUTO_ACTOR",
    "AUTO_ARCHIVE_BATCH",
    "DEFAULT_ARCHIVE_AFTER_DAYS",
    "AutoArchive",
    "AutoArchiveResult",
    "archive_after_days",
    "due_for_archive",
    "run_auto_archive",
]

#: The setting's key, and its value when it was never set.
ARCHIVE_AFTER_DAYS = "archive_after_days"
DEFAULT_ARCHIVE_AFTER_DAYS = 30
#: Orders archived per transaction: the write lock is held for one batch at a time (about
#: 50 ms for 200 on 2 CPUs), so a dispatcher's action waits at most that long for it.
AUTO_ARCHIVE_BATCH = 200
#: Who the audit names for the automatic archive.
AUTO_ACTOR = "depot"
#: The statuses an order is done with.
DONE = (Status.DELIVERED, Status.REJECTED, Status.CANCELLED)

_orders = cast(Table, Order.__table__)
_audit = cast(Table, AuditEntry.__table__)


def _days(value: str | None) -> int:
    try:
        return max(0, int(value)) if value is not None else DEFAULT_ARCHIVE_AFTER_DAYS
    except ValueError:
        return DEFAULT_ARCHIVE_AFTER_DAYS


def archive_after_days(depot: Depot, session: Session | None = None) -> int:
    """The setting (0: the depot archives nothing by itself)."""
    if session is not None:
        row = session.get(Setting, ARCHIVE_AFTER_DAYS)
        return _days(row.value if row else None)
    return _days(depot.setting(ARCHIVE_AFTER_DAYS))


def _due(cutoff: datetime) -> ColumnElement[bool]:
    """The rule, as one condition on the orders table (used by the read AND by the UPDATE):
    done with, not archived, its status older than the cutoff, and not brought back from the
    archive by a dispatcher since its status last changed."""
    o, a = _orders.c, _audit.c
    brought_back = exists().where(
        a.order_id == o.id, a.action == "unarchive", a.at >= o.status_changed_at
    )
    return and_(
        o.archived.is_(False),
        o.status.in_([s.value for s in DONE]),
        o.status_changed_at < cutoff,
        ~brought_back,
    )


def due_for_archive(depot: Depot, *, limit: int = AUTO_ARCHIVE_BATCH) -> list[int]:
    """The ids of up to `limit` orders the depot should archive now (a plain read). Not sorted:
    SQLite walks the orders not archived (its index on `archived`: the working lists, small
    once the depot keeps them so) and stops at the `limit`-th one due, so that a depot
    archiving for the first time does not sort its whole history for every batch."""
    days = archive_after_days(depot)
    if days <= 0 or limit <= 0:
        return []
    cutoff = depot.now() - timedelta(days=days)
    with depot.uow(write=False) as uow:
        q = select(_orders.c.id).where(_due(cutoff)).limit(limit)
        return list(uow.session.execute(q).scalars())


def _count_due(depot: Depot, days: int) -> int:
    cutoff = depot.now() - timedelta(days=days)
    with depot.uow(write=False) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(_orders).where(_due(cutoff))) or 0)


def _record(number: str, status: Status, days: int) -> str:
    return (
        f"Order {number} archived automatically after {days} day{'s' if days != 1 else ''} "
        f"in {status.label}."
    )


@dataclass(frozen=True)
class AutoArchiveResult:
    archived: tuple[str, ...]
    message: str

    @property
    def count(self) -> int:
        return len(self.archived)


_INSERT_AUDIT = insert(AuditEntry)


def archive_ids(depot: Depot, ids: list[int]) -> AutoArchiveResult:
    """Archive those of `ids` that are still due, in one transaction; each gets an audit entry.
    The UPDATE checks the rule again, so an order archived (or changed) by someone else since
    it was found is left alone."""
    days = archive_after_days(depot)
    if days <= 0 or not ids:
        return AutoArchiveResult((), "Nothing to archive.")
    now = depot.now()
    cutoff = now - timedelta(days=days)
    with depot.uow() as uow:
        conn = uow.session.connection()
        o = _orders.c
        done = conn.execute(
            update(_orders)
            .where(o.id.in_(ids), _due(cutoff))
            .values(archived=True, version=o.version + 1)
            .returning(o.id, o.number, o.status, o.version)
        ).all()
        if done:
            conn.execute(
                _INSERT_AUDIT,
                [
                    dict(
                        order_id=oid,
                        at=now,
                        actor=AUTO_ACTOR,
                        action="archive",
                        from_status=status,
                        to_status=status,
                        reason=None,
                        detail=_record(number, Status(status), days),
                        notices=[],
                        followups=[],
                        before=None,
                        after_version=version,
                        undoable_until=None,
                        undone_by=None,
                        undo_of=None,
                    )
                    for oid, number, status, version in done
                ],
            )
            uow.commit()
    numbers = tuple(sorted(r[1] for r in done))
    n = len(numbers)
    if not n:
        return AutoArchiveResult((), "Nothing to archive.")
    return AutoArchiveResult(
        numbers,
        f"{n} order{'s' if n != 1 else ''} archived automatically "
        f"(done with more than {days} day{'s' if days != 1 else ''} ago).",
    )


@dataclass(frozen=True)
class AutoArchive(Action):
    """The depot archives Delivered, Rejected and Cancelled orders whose status is older than
    the archive_after_days setting (0: never), one batch per transaction, each order audited
    with the depot as who did it. Unarchive brings one back."""

    batch: int = AUTO_ARCHIVE_BATCH

    def preview(self, depot: Depot) -> Preview:
        days = archive_after_days(depot)
        if days <= 0:
            sentence = "The depot archives nothing by itself: archive_after_days is 0."
            return Preview("Archive the orders done with?", (sentence,), yes="Archive",
                           refusals=(sentence,))
        n = _count_due(depot, days)
        plural = "s" if days != 1 else ""
        lines = [
            f"{n} order{'s' if n != 1 else ''} Delivered, Rejected or Cancelled more than "
            f"{days} day{plural} ago leave the working lists.",
            "They stay in All information, searches, exports and reports; Unarchive brings "
            "one back.",
        ]
        if n > self.batch:
            lines.append(f"They are archived {self.batch} at a time.")
        refusals = () if n else ("There is no order to archive.",)
        return Preview(f"Archive {n} order{'s' if n != 1 else ''} done with?", tuple(lines),
                       yes="Archive", refusals=refusals)

    def execute(self, depot: Depot) -> AutoArchiveResult:
        """One batch (at most `batch` orders), in one transaction."""
        return archive_ids(depot, due_for_archive(depot, limit=self.batch))


def run_auto_archive(depot: Depot, *, batch: int = AUTO_ARCHIVE_BATCH,
                     max_batches: int = 20) -> int:
    """Archive every order due, a batch per transaction (other writers get their turn between
    batches), up to `max_batches` this time; the number archived."""
    total = 0
    for _ in range(max_batches):
        ids = due_for_archive(depot, limit=batch)
        if not ids:
            break
        total += archive_ids(depot, ids).count
        if len(ids) < batch:
            break
    return total
