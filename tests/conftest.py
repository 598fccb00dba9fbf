"""Shared fixtures: a depot on a fresh SQLite file with a clock the test controls, a realistic
set of partners, a helper to create orders, and a throw-away PostgreSQL database.

Other test folders keep their own fixtures in their own conftest.py (tests/tui, tests/link).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dispatchdesk.services import (
    Depot,
    LineInput,
    OrderInput,
    PartnerInput,
    add_partner,
    create_order,
)
from dispatchdesk.store import Database
from dispatchdesk.store.models import (
    AuditEntry,
    Cancellation,
    FollowUp,
    Notice,
    Order,
    ReceivedMessage,
)
from helpers import Clock

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
SECRET = "s3cret-s3cret-s3cret-0"


@pytest.fixture
def clock() -> Clock:
    """The suite's test clock (tests/helpers.py): it stands still until the test moves it."""
    return Clock()


def _open_depot(
    url_or_path: str | os.PathLike[str], clock: Clock, actor: str = "tester"
) -> Depot:
    return Depot(Database.open(url_or_path), actor=actor, clock=clock)


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty depot database at the newest migration, made once per test session."""
    path = tmp_path_factory.mktemp("template") / "depot.sqlite"
    Database.open(path).close()  # closing the last connection folds the WAL into the file
    return path


@pytest.fixture
def db_path(tmp_path: Path, _migrated_template: Path) -> Path:
    """A fresh, empty, migrated depot database file of this test's own."""
    path = tmp_path / "depot.sqlite"
    shutil.copyfile(_migrated_template, path)
    wal = _migrated_template.with_name(_migrated_template.name + "-wal")
    if wal.exists():  # not folded in after all: the schema may live there
        shutil.copyfile(wal, path.with_name(path.name + "-wal"))
    return path


@pytest.fixture
def depot(db_path: Path, clock: Clock) -> Iterator[Depot]:
    d = _open_depot(db_path, clock)
    yield d
    d.close()


# --------------------------------------------------------------------------- partners

#: name -> settings; one partner of every kind the rules tell apart (SPEC §6)
PARTNERS: dict[str, dict[str, Any]] = {
    # a subcontractor depot linked over HTTP, that agreed to auto-trash
    "Swift Haulage": dict(
        role="subcontractor", url="http://127.0.0.1:9/link", secret=SECRET + "a", auto_trash=True
    ),
    # a client depot whose rejections send our order back to Created
    "Northwind Retail": dict(
        role="client",
        url="http://127.0.0.1:9/nw",
        secret=SECRET + "b",
        rejection_maps_to="created",
        auto_trash=True,
    ),
    # a shop with a 30-minute cancellation window that requires a reason
    "Shopfront": dict(
        role="channel",
        url="http://127.0.0.1:9/shop",
        secret=SECRET + "c",
        cancel_method="api-window",
        window_seconds=1800,
        reason_required=True,
    ),
    # a fulfilment warehouse reached only by e-mail
    "Boxed Fulfilment": dict(role="warehouse", email="ops@boxed.example", cancel_method="email"),
    # a warehouse with an HTTP link; cancellations wait for its answer
    "Central Warehouse": dict(role="warehouse", url="http://127.0.0.1:9/wh", secret=SECRET + "d"),
    # a client with no link at all: every notice is a follow-up
    "Corner Bakery": dict(role="client", cancel_method="manual"),
    # a client linked over HTTP that does not auto-trash
    "Plain Client": dict(role="client", url="http://127.0.0.1:9/pc", secret=SECRET + "e"),
    # a subcontractor with no link, whose rejections send our order back to Created
    "Van Man": dict(role="subcontractor", cancel_method="manual", rejection_maps_to="created"),
}


def _add_partners(d: Depot) -> dict[str, str]:
    for name, settings in PARTNERS.items():
        add_partner(d, PartnerInput(name=name, **settings))
    return {name: name for name in PARTNERS}


@pytest.fixture
def partners(depot: Depot) -> dict[str, str]:
    return _add_partners(depot)


@pytest.fixture(name="add_partners")
def add_partners_fixture() -> Callable[[Depot], dict[str, str]]:
    """add_partners(depot): the partners of the `partners` fixture, on another depot."""
    return _add_partners


# --------------------------------------------------------------------------- orders


def _make_order(
    d: Depot,
    *,
    source: str | None = None,
    ref: str | None = None,
    lines: dict[str, int] | None = None,
    number: str | None = None,
    documents: list[tuple[str, str]] = (),  # type: ignore[assignment]
    backorders: list[tuple[str, int]] = (),  # type: ignore[assignment]
    tags: list[str] = (),  # type: ignore[assignment]
) -> str:
    lines = {"BOX-S": 2, "PALLET": 1} if lines is None else lines
    if source is not None and ref is None:
        ref = f"R-{uuid.uuid4().hex[:8]}"
    return create_order(
        d,
        OrderInput(
            pickup_address="1 Depot Road, Leeds",
            delivery_address="22 High Street, York",
            lines=[LineInput(a, q, f"{a} description") for a, q in lines.items()],
            parcels=3,
            weight_kg=12.5,
            source=source,
            partner_ref=ref,
            number=number,
            tags=list(tags),
        ),
        documents=list(documents),
        backorders=list(backorders),
    )


@pytest.fixture
def new_order(depot: Depot) -> Callable[..., str]:
    def make(**kw: Any) -> str:
        return _make_order(depot, **kw)

    return make


# --------------------------------------------------------------------------- reading rows


@dataclass
class Rows:
    """What the database holds about one order, read in a fresh read-only session."""

    order: Order
    audit: list[AuditEntry]
    notices: list[Notice]
    followups: list[FollowUp]
    cancellations: list[Cancellation]

    @property
    def last(self) -> AuditEntry:
        return self.audit[-1]

    def notices_to(self, partner: str) -> list[Notice]:
        return [n for n in self.notices if n.partner.name == partner]


def _rows(d: Depot, number: str) -> Rows:
    with d.uow(write=False) as uow:
        s = uow.session
        o = s.scalars(select(Order).where(Order.number == number)).unique().one()
        # touch what the tests read, while the session is open
        _ = (o.lines, o.tags, o.documents, o.backorders, o.source, o.assignee)
        audit = list(
            s.scalars(select(AuditEntry).where(AuditEntry.order_id == o.id).order_by(AuditEntry.id))
        )
        notices = list(
            s.scalars(select(Notice).where(Notice.order_id == o.id).order_by(Notice.seq)).unique()
        )
        followups = list(
            s.scalars(
                select(FollowUp).where(FollowUp.order_id == o.id).order_by(FollowUp.id)
            ).unique()
        )
        cancs = list(
            s.scalars(
                select(Cancellation).where(Cancellation.order_id == o.id).order_by(Cancellation.id)
            )
        )
        for n in notices:
            _ = n.partner
        for f in followups:
            _ = f.partner
        s.expunge_all()  # keep the loaded values readable after the session closes
        return Rows(o, audit, notices, followups, cancs)


COUNTED = (Order, AuditEntry, Notice, FollowUp, Cancellation, ReceivedMessage)


def _counts(d: Depot) -> dict[str, int]:
    """Row counts of every table an action writes, and the change sequence."""
    with d.uow(write=False) as uow:
        out = {
            m.__tablename__: uow.session.scalar(select(func.count()).select_from(m)) or 0
            for m in COUNTED
        }
    out["change_seq"] = d.db.change_seq()
    return out


# --------------------------------------------------------------------------- PostgreSQL


def _pg_connect(dbname: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True, connect_timeout=3
    )


def _pg_unavailable() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError as e:
        return f"psycopg is not installed: {e}"
    try:
        _pg_connect().close()
    except Exception as e:  # noqa: BLE001 - any reason the server cannot be used
        return f"PostgreSQL at {PG_HOST}:{PG_PORT} is unreachable: {e}"
    return None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty PostgreSQL databases, all dropped at the end of the session.

    Outside CI an unreachable server SKIPS the test with the reason; in CI (env CI set) it FAILS.
    """
    problem = _pg_unavailable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI is set, so PostgreSQL tests must run)")
        pytest.skip(problem)
    created: list[str] = []

    def make() -> str:
        name = f"dd_test_{uuid.uuid4().hex[:12]}"
        with _pg_connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"

    yield make
    with _pg_connect() as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url(pg_server: Callable[[], str]) -> str:
    """One fresh PostgreSQL database for the test session (dropped afterwards)."""
    return pg_server()


@pytest.fixture
def pg_fresh_url(pg_server: Callable[[], str]) -> str:
    """A fresh PostgreSQL database for one test (dropped at the end of the session)."""
    return pg_server()


# --------------------------------------------------------------------------- helpers as fixtures
# (tests/link and tests/tui have their own conftest.py, so `from conftest import` is ambiguous)


@pytest.fixture(name="rows")
def rows_fixture() -> Callable[[Depot, str], Rows]:
    """rows(depot, number): the order and everything written about it, from the database."""
    return _rows


@pytest.fixture(name="counts")
def counts_fixture() -> Callable[[Depot], dict[str, int]]:
    """counts(depot): row counts of every table an action writes, and the change sequence."""
    return _counts


@pytest.fixture(name="make_order")
def make_order_fixture() -> Callable[..., str]:
    """make_order(depot, source=..., lines=..., documents=..., backorders=...) -> number."""
    return _make_order


@pytest.fixture(name="open_depot")
def open_depot_fixture(clock: Clock) -> Iterator[Callable[..., Depot]]:
    """open_depot(path_or_url, actor=...): another session on a database, same clock."""
    opened: list[Depot] = []

    def make(url_or_path: str | os.PathLike[str], actor: str = "tester") -> Depot:
        d = _open_depot(url_or_path, clock, actor)
        opened.append(d)
        return d

    yield make
    for d in opened:
        d.close()
