"""The filter in the database (migration 0008, services/search.py): it finds what the old
in-memory match found, the text index and the board's counts stay current after every kind of
change in the same transaction, short queries, archived orders, the upgrade from 0006, and
PostgreSQL."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update

from dispatchdesk.services import Depot, EditOrder, dispatch, queries, search
from dispatchdesk.services.queries import LIST_KEYS, ReceptionFilter
from dispatchdesk.store import Database
from dispatchdesk.store.models import Order, Partner

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from bigdepot import build  # noqa: E402

# --------------------------------------------------------------------------- the old match


def old_match(depot: Depot, query: str) -> dict[str, list[int]]:
    """The in-memory match the console used before (queries.SearchIndex, removed): every word,
    case folded, is part of the number, a partner's name, the reference or an address."""
    words = query.casefold().split()
    out: dict[str, list[tuple[Any, int]]] = {k: [] for k in LIST_KEYS}
    with depot.uow(write=False) as uow:
        s = uow.session
        names = {pid: name.casefold() for pid, name in s.execute(select(Partner.id, Partner.name))}
        for oid, status, archived, number, src, asg, ref, pick, deliv, changed in s.execute(select(
                Order.id, Order.status, Order.archived, Order.number, Order.source_id, Order.assignee_id,
                Order.partner_ref, Order.pickup_address, Order.delivery_address, Order.status_changed_at)):
            hay = "\n".join((number, names.get(src, ""), names.get(asg, ""), ref or "", pick or "",
                             deliv or "")).casefold()
            if all(w in hay for w in words):
                out["archived" if archived else status].append((changed, oid))
    return {k: [oid for _, oid in sorted(v)] for k, v in out.items()}


def new_match(depot: Depot, query: str) -> dict[str, list[int]]:
    """Every match of every list by services/search.py, reading on to each list's end."""
    out: dict[str, list[int]] = {}
    for key, m in search.match_lists(depot, query, LIST_KEYS).items():
        ids = list(m.ids)
        while m.more:
            m = search.more_of_list(depot, query, key, m.resume or 0)
            ids += m.ids
        out[key] = ids
    return out


# --------------------------------------------------------------------------- a seeded depot


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Depot]:
    path = tmp_path_factory.mktemp("seeded") / "depot.sqlite"
    build(path, 400, seed=7)
    d = Depot.open(path, actor="tester")
    # an order whose addresses hold a partner's name, odd characters and a quote
    with d.uow() as uow:
        uow.session.execute(update(Order).where(Order.id == 5).values(
            pickup_address='7 "Swift" Yard, 100%_Hull', partner_ref="x\\y"))
        uow.commit()
    yield d
    d.close()


FRAGMENTS = ["york", "Mill", "LEEDS", "high street", "DD-0001", "DD-00", "dd-0003", "R0", "swift", "north",
             "wind", "haul", "Van", "bakery", "shop", "front", "7AA", "LS1", "albion way", "100%", "_", '"',
             "x\\y", "7", "a", "ee", "no such order", "station road york", "central warehouse", "Q"]
query_st = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS),
              st.text(alphabet="abcdeklmnorswyADLRY-_%0123457 ", min_size=1, max_size=5)),
    min_size=1, max_size=3).map(" ".join).filter(lambda q: q.split())


@pytest.mark.parametrize("small", ["", "by set", "by row"], ids=["as shipped", "tiny chunks", "tiny, rows checked"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=query_st)
def test_the_filter_finds_what_the_old_in_memory_match_found(seeded, small, query):
    """Few matches (the text index) and many (walking the lists by the index's matches, or
    checking the rows, read on in steps): with tiny steps every path and every resume is taken
    on a small depot."""
    with pytest.MonkeyPatch.context() as mp:
        if small:
            mp.setattr(search, "SPARSE", 5)
            mp.setattr(search, "FEW_ORDERS", 5)
            mp.setattr(search, "WALK", 7)
            mp.setattr(search, "SET_WALK", 11)
            mp.setattr(search, "CHUNK", 3)
            if small == "by set":  # no word is common: the lists are walked by the index's matches
                mp.setattr(search, "COMMON", 1)
            else:  # every word the index holds for more than SPARSE orders is common: the rows checked
                mp.setattr(search, "SETMAX", 0)
        assert new_match(seeded, query) == old_match(seeded, query)


def test_the_plan_follows_what_the_index_holds(seeded, monkeypatch):
    """Few in the index: read whole; a word held by at most SETMAX orders: the lists walked by
    the index's matches (or read whole when its AND with the other words is few); only common
    words (or none the index can look up): the rows checked."""
    monkeypatch.setattr(search, "SPARSE", 5)
    monkeypatch.setattr(search, "SETMAX", 50)
    with seeded.uow(write=False) as uow:
        s = uow.session
        n = {q: len(_fts_ids_in(s, q)) for q in ("dd-000100", "dd-00010", "dd-0001", "york", "leeds")}
        assert n["dd-000100"] <= 5 < n["dd-00010"] <= 50 < min(n["dd-0001"], n["york"], n["leeds"])
        both = len(_fts_ids_in(s, "dd-0001") & _fts_ids_in(s, "york"))
        plans = {q: search._plan(s, search.words_of(s, q)).how for q in (
            "DD-000100", "DD-00010", "york", "york DD-000100", "dd-0001 york", "york leeds", "7", "swift")}
    assert plans == {"DD-000100": search.EXACT, "DD-00010": search.BY_SET, "york": search.BY_ROW,
                     "york DD-000100": search.EXACT, "dd-0001 york": search.BY_ROW, "york leeds": search.BY_ROW,
                     "7": search.BY_ROW, "swift": search.BY_ROW}
    assert both > 5  # two common words: their AND is not asked of the index (rows checked)


def test_reception_finds_what_the_old_match_found_newest_first(seeded):
    for query in ("york", "DD-0002", "swift", "7", "mill leeds", "no such order"):
        old = sorted((i for k, ids in old_match(seeded, query).items() if k != "archived" for i in ids),
                     reverse=True)
        assert queries.reception_ids(seeded, ReceptionFilter(text=query)) == old
        page = queries.reception_page(seeded, ReceptionFilter(text=query), 0, 10)
        assert [r.card.id for r in page.rows] == old[:10]
        assert page.total == len(old) and not page.more


@pytest.mark.parametrize("query", ["york", "DD-000", "leeds 7", "swift york", "a"])
def test_reception_with_many_matches_pages_newest_first(seeded, monkeypatch, query):
    """Many matches (a big depot's way, on a small one): the text index read newest first in
    small steps, or the rows walked, give the old match's pages and count."""
    monkeypatch.setattr(search, "SPARSE", 5)
    monkeypatch.setattr(search, "FEW_ORDERS", 5)
    monkeypatch.setattr(search, "INDEX_STEP", 7)
    monkeypatch.setattr(queries, "COUNT_UP_TO", 30)
    old = sorted((i for k, ids in old_match(seeded, query).items() if k != "archived" for i in ids), reverse=True)
    for offset in (0, 10, 25):
        page = queries.reception_page(seeded, ReceptionFilter(text=query), offset, 10)
        assert [r.card.id for r in page.rows] == old[offset:offset + 10]
        assert (page.total, page.more) == (min(len(old), max(30, offset + 10)), len(old) > max(30, offset + 10))


def test_reception_counts_up_to_a_thousand_then_says_more(seeded, monkeypatch):
    monkeypatch.setattr(queries, "COUNT_UP_TO", 20)
    monkeypatch.setattr(search, "SPARSE", 5)  # a big depot's way, on a small one
    monkeypatch.setattr(search, "FEW_ORDERS", 5)
    page = queries.reception_page(seeded, ReceptionFilter(text="a"), 0, 10)
    every = queries.reception_ids(seeded, ReceptionFilter(text="a"))
    assert len(every) > 20 and page.total == 20 and page.more
    assert [r.card.id for r in page.rows] == every[:10]


def test_short_queries_are_matched_whole(seeded):
    """One or two characters (no trigram to look up): walked, the same answer."""
    for query in ("7", "q", "DD", "-0", "%", "_"):
        assert new_match(seeded, query) == old_match(seeded, query)
    assert sum(map(len, new_match(seeded, "%").values())) == 1  # the one with 100%_ in it


def test_archived_orders_are_found(seeded):
    found = new_match(seeded, "DD-000")
    assert found["archived"] and found["archived"] == old_match(seeded, "DD-000")["archived"]


# --------------------------------------------------------------------------- kept current


def _fts_ids(depot: Depot, word: str) -> set[int]:
    with depot.uow(write=False) as uow:
        return set(uow.session.scalars(text("SELECT rowid FROM order_search WHERE order_search MATCH :q"),
                                       {"q": '"' + word + '"'}))


def _integrity(depot: Depot) -> None:
    """FTS5's own check that the index holds exactly the orders' text (external content)."""
    with depot.uow() as uow:
        uow.session.execute(text("INSERT INTO order_search(order_search, rank) VALUES ('integrity-check', 1)"))
        uow.commit()


def _kept_counts(depot: Depot) -> dict[str, int]:
    return queries.board_counts(depot)


def _counted(depot: Depot) -> dict[str, int]:
    out = dict.fromkeys(LIST_KEYS, 0)
    with depot.uow(write=False) as uow:
        for status, archived in uow.session.execute(select(Order.status, Order.archived)):
            out["archived" if archived else status] += 1
    return out


def test_the_index_and_counts_follow_every_kind_of_change(depot, partners, new_order):
    a = new_order(source="Plain Client", ref="REF-ALPHA")
    b = new_order()
    assert _kept_counts(depot) == _counted(depot) and _kept_counts(depot)["created"] == 2
    oid_a = queries.card_position(depot, a)[2]
    assert _fts_ids(depot, "ref-alpha") == {oid_a}  # created: indexed at once
    EditOrder(a, pickup_address="9 Quayside, Whitby").execute(depot)  # edited: old text gone
    assert _fts_ids(depot, "whitby") == {oid_a} and _fts_ids(depot, "depot road") == {
        queries.card_position(depot, b)[2]}
    dispatch(depot, a, "Swift Haulage")  # a status change: counts move, the index stays right
    assert _kept_counts(depot) == _counted(depot) and _kept_counts(depot)["dispatched"] == 1
    assert new_match(depot, "swift whitby")["dispatched"] == [oid_a]
    with depot.uow() as uow:  # archived, then deleted (by hand: no service deletes an order)
        uow.session.execute(update(Order).where(Order.id == oid_a).values(archived=True))
        uow.commit()
    assert _kept_counts(depot) == _counted(depot) and _kept_counts(depot)["archived"] == 1
    assert new_match(depot, "whitby")["archived"] == [oid_a]
    with depot.uow() as uow:
        for table in ("notices", "followups", "audit", "order_lines", "documents", "backorders", "tags"):
            uow.session.execute(text(f"DELETE FROM {table} WHERE order_id = :i"), {"i": oid_a})
        uow.session.execute(delete(Order).where(Order.id == oid_a))
        uow.commit()
    assert _fts_ids(depot, "whitby") == set() and _kept_counts(depot) == _counted(depot)
    _integrity(depot)


def test_a_status_change_does_not_touch_the_text_index(depot, partners, new_order):
    """Lean writes: the index's triggers fire only when a searchable column is written. Counted
    by SQLite itself: the order's row and the two counts, nothing in the index's tables."""
    number = new_order()
    con = sqlite3.connect(depot.db.engine.url.database)
    try:
        before = con.total_changes
        con.execute("UPDATE orders SET status = 'dispatched', status_changed_at = status_changed_at "
                    "WHERE number = ?", (number,))
        assert con.total_changes - before == 3
        before = con.total_changes
        con.execute("UPDATE orders SET delivery_address = 'elsewhere' WHERE number = ?", (number,))
        assert con.total_changes - before > 1  # this one does write the index
        con.rollback()
    finally:
        con.close()


def test_a_rolled_back_change_leaves_the_index_and_counts_as_they_were(depot, partners, new_order):
    number = new_order()
    before_counts = _kept_counts(depot)
    with pytest.raises(RuntimeError), depot.uow() as uow:
        uow.session.execute(update(Order).where(Order.number == number).values(
            pickup_address="1 Rollback Row, Ripon", status="accepted"))
        assert _fts_ids_in(uow.session, "rollback row")  # seen inside the transaction
        raise RuntimeError("changed my mind")
    assert _fts_ids(depot, "rollback row") == set()
    assert _fts_ids(depot, "depot road") and _kept_counts(depot) == before_counts
    _integrity(depot)


def _fts_ids_in(session: Any, word: str) -> set[int]:
    return set(session.scalars(text("SELECT rowid FROM order_search WHERE order_search MATCH :q"),
                               {"q": '"' + word + '"'}))


# --------------------------------------------------------------------------- the upgrade


def test_the_upgrade_from_0006_fills_the_index_and_the_counts(tmp_path):
    path = tmp_path / "old.sqlite"
    db = Database.open(path, migrate=False)
    db.migrate("0006")
    db.close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO depot (id, name, change_seq, next_order_seq, next_cancellation_seq, order_prefix) "
                "VALUES (1, 'Depot', 0, 4, 1, 'DD')")
    for i, (status, archived, addr) in enumerate([("created", 0, "1 Mill Lane, Leeds"),
                                                  ("delivered", 1, "2 Abbey Road, Whitby"),
                                                  ("accepted", 0, "3 Quay, Whitby")], start=1):
        con.execute("INSERT INTO orders (id, number, version, status, pickup_address, delivery_address, parcels, "
                    "weight_kg, archived, cancellation_requested, partner_not_informed, created_at, "
                    "status_changed_at) VALUES (?, ?, 1, ?, ?, 'x', 1, 0, ?, 0, 0, '2025-01-01 00:00:00', "
                    "'2025-01-01 00:00:00')", (i, f"DD-{i:06d}", status, addr, archived))
    con.commit()
    con.close()
    d = Depot.open(path)
    try:
        assert d.db.current_revision() == queries_head()
        assert _fts_ids(d, "whitby") == {2, 3}
        assert new_match(d, "whitby")["archived"] == [2] and new_match(d, "whitby")["accepted"] == [3]
        assert queries.board_counts(d) == {**dict.fromkeys(LIST_KEYS, 0), "created": 1, "accepted": 1,
                                           "archived": 1}
        _integrity(d)
    finally:
        d.close()


def queries_head() -> str:
    from dispatchdesk.store.db import HEAD_REVISION

    return HEAD_REVISION


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_postgres_filters_and_counts_the_same(pg_fresh_url, clock):
    build(pg_fresh_url, 150, seed=3)
    d = Depot.open(pg_fresh_url, actor="tester")
    try:
        with d.uow(write=False) as uow:
            has_index = uow.session.scalar(text("SELECT to_regclass('ix_orders_search') IS NOT NULL"))
        assert has_index
        for query in ("york", "DD-0001", "swift", "7", "mill leeds", "Albion Way", "no such order"):
            assert new_match(d, query) == old_match(d, query), query
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(search, "SPARSE", 5)
            mp.setattr(search, "FEW_ORDERS", 5)
            mp.setattr(search, "WALK", 7)
            mp.setattr(search, "CHUNK", 3)
            for query in ("york", "DD-0001", "swift leeds"):
                assert new_match(d, query) == old_match(d, query), query
        assert _kept_counts(d) == _counted(d)
        with d.uow() as uow:
            uow.session.execute(update(Order).where(Order.id == 1).values(status="cancelled", archived=True,
                                                                          pickup_address="1 Quay, Whitby"))
            uow.commit()
        assert _kept_counts(d) == _counted(d)
        assert new_match(d, "whitby")["archived"] == [1]
    finally:
        d.close()


@pytest.mark.postgres
def test_postgres_without_pg_trgm_says_so_and_still_filters(pg_server, caplog):
    """A role that may not make the extension: one sentence naming what to ask for, and the
    filter works without the index."""
    import psycopg

    url = pg_server()  # postgresql+psycopg://postgres@HOST:PORT/NAME
    where, name = url.split("@", 1)[1].rsplit("/", 1)

    def _pg_connect(dbname: str = "postgres") -> Any:
        host, port = where.split(":")
        return psycopg.connect(host=host, port=int(port), user="postgres", dbname=dbname, autocommit=True)

    with _pg_connect() as conn:
        conn.execute("DROP ROLE IF EXISTS dd_plain_test")
        conn.execute("CREATE ROLE dd_plain_test LOGIN")
        conn.execute(f'REVOKE CREATE ON DATABASE "{name}" FROM PUBLIC')
    with _pg_connect(name) as conn:
        conn.execute("GRANT ALL ON SCHEMA public TO dd_plain_test")
    try:
        with caplog.at_level("WARNING", logger="dispatchdesk.migrations"):
            d = Depot.open(f"postgresql+psycopg://dd_plain_test@{where}/{name}", actor="tester")
        try:
            said = [r.getMessage() for r in caplog.records if r.name == "dispatchdesk.migrations"]
            assert len(said) == 1 and "pg_trgm" in said[0] and "permission denied" in said[0]
            assert "CREATE EXTENSION pg_trgm" in said[0]
            with d.uow() as uow:
                uow.session.execute(text(
                    "INSERT INTO orders (number, version, status, pickup_address, delivery_address, parcels, "
                    "weight_kg, archived, cancellation_requested, partner_not_informed, created_at, "
                    "status_changed_at) VALUES ('DD-000001', 1, 'created', '1 Quay, Whitby', 'x', 1, 0, false, "
                    "false, false, now(), now())"))
                uow.commit()
            assert new_match(d, "WHITBY")["created"] == [1]
            assert queries.board_counts(d)["created"] == 1
        finally:
            d.close()
    finally:
        with _pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute("DROP ROLE IF EXISTS dd_plain_test")
