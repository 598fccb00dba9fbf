"""Import and export as streams (issue 13 item 4): read and written a page at a time, memory
that does not grow with the depot, the import still all or nothing, and the progress told
as it goes. Page and batch sizes are made small here, so that a handful of orders spans
several pages, and spies count what is loaded at once (never a timing)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text

from dispatchdesk.demo import add_demo_partners
from dispatchdesk.services import (
    Depot,
    InvalidInput,
    RuleInput,
    SaveRule,
    importer,
    parse_condition,
    parse_effect,
    parse_trigger,
    queries,
    rules,
    search,
)
from dispatchdesk.services.export import (
    common,
    export_csv,
    export_json,
    export_json_file,
    export_pdf,
    export_xlsx,
)
from dispatchdesk.services.export import json as json_module
from dispatchdesk.services.export import pdf as pdf_module
from dispatchdesk.services.importer import import_json
from dispatchdesk.store.models import (
    AuditEntry,
    AutomationRule,
    FollowUp,
    Notice,
    Order,
    OrderLine,
    Tag,
)


def _counts(d: Depot) -> dict[str, int]:
    with d.uow(write=False) as uow:
        return {m.__tablename__: uow.session.scalar(select(func.count()).select_from(m))
                for m in (Order, OrderLine, Tag, Notice, FollowUp, AuditEntry, AutomationRule)}


def _add_rule(depot: Depot, name: str, when: str, *do: str, ifs: tuple[str, ...] = (), enabled: bool = True):
    return SaveRule(RuleInput(name, parse_trigger(when), tuple(parse_condition(c) for c in ifs),
                              tuple(parse_effect(e) for e in do), enabled=enabled)).execute(depot)




@pytest.fixture
def small(monkeypatch):
    """Pages of 7 orders for the export, batches of 5 records for the import."""
    monkeypatch.setattr(common, "BATCH", 7)
    monkeypatch.setattr(importer, "BATCH", 5)


def _orders(n: int, *, start: int = 0) -> list[dict]:
    return [{"number": f"S-{i:04d}", "pickup_address": f"{i} Mill Lane", "delivery_address": "York",
             "tags": ["express"] if i % 3 == 0 else [],
             "lines": [{"article": "BOX", "quantity": 1 + i % 4}, {"article": "PAL", "quantity": 1}]}
            for i in range(start, start + n)]


# --------------------------------------------------------------------------- export in pages


def test_the_export_reads_a_page_at_a_time(demo, small, monkeypatch):
    """Memory follows the page, not the depot: no select brings more than a page of orders,
    and their children come by the page too (a spy on every fetch)."""
    fetched: list[int] = []
    real = common.Reader.tuples

    def spy(self, q):
        rows = real(self, q)
        fetched.append(len(rows))
        return rows

    monkeypatch.setattr(common.Reader, "tuples", spy)
    with common.reading(demo) as ex:
        total = ex.count()
        pages = [len(p) for p in ex.pages()]
    assert total > 3 * 7
    assert sum(pages) == total and max(pages) == 7 and len(pages) == -(-total // 7)
    order_fetches = fetched[::7]  # each page: the orders, then six kinds of child
    assert max(order_fetches) <= 7
    lines_per_order = 4  # the demo's orders have at most a few lines each
    assert max(fetched) <= 7 * lines_per_order, fetched


def test_every_format_is_the_same_in_pages_as_in_one(demo, tmp_path, small, monkeypatch):
    """The pages are seamless: the same records as one page of everything, in the same order."""
    paged = export_json(demo)
    monkeypatch.setattr(common, "BATCH", 100_000)
    assert export_json(demo) == paged
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    export_csv(demo, a)
    monkeypatch.setattr(common, "BATCH", 3)
    export_csv(demo, b)
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf", "json"])
def test_progress_moves_as_pages_are_written(demo, tmp_path, small, monkeypatch, fmt):
    """Each format tells its progress a page at a time; the PDF's moves while its table is
    drawn, not all at once before the document is put together."""
    calls: list[tuple[int, int]] = []
    drawn_at_output: list[int] = []
    if fmt == "pdf":
        monkeypatch.setattr(pdf_module, "PDF_ROWS", 4)
        from fpdf import FPDF

        real_output = FPDF.output

        def output(self, *a, **k):
            drawn_at_output.append(len(calls))
            return real_output(self, *a, **k)

        monkeypatch.setattr(FPDF, "output", output)
    writer = {"csv": export_csv, "xlsx": export_xlsx, "pdf": export_pdf, "json": export_json_file}[fmt]
    n = writer(demo, tmp_path / f"x.{fmt}", progress=lambda done, total: calls.append((done, total)))
    total = calls[0][1]
    assert n == total and calls[0] == (0, total) and calls[-1] == (total, total)
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and len(set(dones)) > 3  # it moved, in steps
    if fmt == "pdf":
        assert drawn_at_output == [len(calls)]  # every step came before the document was output


# --------------------------------------------------------------------------- import in batches


def test_round_trip_through_streamed_files_in_small_batches(demo, fresh, tmp_path, small):
    """Export (as a stream) then import (in batches of 5) into a fresh depot: the same depot."""
    path = tmp_path / "export.json"
    export_json_file(demo, path)
    first = export_json(demo)
    result = import_json(fresh, path)
    assert result.orders == len(first["orders"]) and result.notices == len(first["notices"])
    again = export_json(fresh)
    assert again["orders"] == first["orders"]
    assert again["notices"] == first["notices"]
    strip = lambda fs: [{k: v for k, v in f.items() if k != "id"} for f in fs]  # noqa: E731
    assert strip(again["followups"]) == strip(first["followups"])


def test_an_old_layout_imports(fresh, tmp_path):
    """Files written before the stream: indented, keys in another order, follow-ups and notices
    before the orders they name, an order replacing one further down, no 'returns' key."""
    orders = _orders(3)
    orders[0]["replaces"] = "S-0002"
    data = {
        "followups": [{"order": "S-0001", "notice": "n-1", "text": "Call the driver", "done": False}],
        "notices": [{"id": "n-1", "order": "S-0001", "partner": "Northline Haulage", "kind": "order.new",
                     "state": "acknowledged", "transport": "http", "seq": 1}],
        "orders": orders,
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    result = import_json(fresh, path)
    assert (result.orders, result.notices, result.followups) == (3, 1, 1)
    out = export_json(fresh)
    by_number = {o["number"]: o for o in out["orders"]}
    assert by_number["S-0000"]["replaces"] == "S-0002"
    assert out["notices"][0]["order"] == "S-0001" and out["followups"][0]["notice"] == "n-1"


def test_a_bad_last_record_leaves_the_depot_unchanged(fresh, tmp_path, small, monkeypatch):
    """Twelve good orders (two batches written inside the transaction), then a bad one: named,
    and the depot is as it was."""
    written: list[int] = []
    real = importer._Writer.write

    def spy(self, rows):
        if self.table.name == "orders":
            written.append(len(rows))
        return real(self, rows)

    monkeypatch.setattr(importer._Writer, "write", spy)
    import_json(fresh, {"orders": _orders(2, start=900)})
    before = _counts(fresh)
    records = [*_orders(12), {"number": "S-BAD", "pickup_address": "a", "delivery_address": "b", "parcels": -1}]
    path = tmp_path / "bad-last.json"
    path.write_text(json.dumps({"orders": records}), encoding="utf-8")
    written.clear()
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, path)
    assert sum(written) == 10 and max(written) <= 5  # two batches went in before the bad one
    assert "1 problem; nothing was imported." in str(e.value)
    assert any("orders[12] (number 'S-BAD'): 'parcels'" in r for r in e.value.reasons), e.value.reasons
    assert _counts(fresh) == before


def test_problems_across_batches_are_all_named(fresh, small):
    """A number twice, far apart (different batches); a follow-up naming a missing notice."""
    records = _orders(9)
    records.append({**records[1]})
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, {"orders": records, "followups": [{"notice": "nope", "text": "x"}]})
    text = "\n".join(e.value.reasons)
    assert "orders[9] (number 'S-0001'): order number 'S-0001' appears twice in the file (also orders[1])." in text
    assert "followups[0]: 'notice' names 'nope', which is neither in the file nor in the depot." in text
    assert "2 problems" in str(e.value)


def test_the_reader_holds_a_window_of_the_file_not_the_file(fresh, tmp_path, monkeypatch):
    """With a 64-byte read size the file goes through a small window, records and UTF-8
    characters cut at every place, and the values are those json.loads reads."""
    monkeypatch.setattr(importer._JsonStream, "CHUNK", 64)
    widest: list[int] = []
    real = importer._JsonStream._more

    def spy(self, want=0):
        more = real(self, want)
        widest.append(len(self.buf))
        return more

    monkeypatch.setattr(importer._JsonStream, "_more", spy)
    orders = _orders(40)
    orders[5]["pickup_address"] = "Łódź, Café Straße 東京 " + "9" * 70
    orders[6]["weight_kg"] = 1234.78125
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"orders": orders}, ensure_ascii=False), encoding="utf-8")
    assert import_json(fresh, path).orders == 40
    assert path.stat().st_size > 40 * 64 and max(widest) < 600
    got = {o["number"]: o for o in export_json(fresh)["orders"]}
    assert got["S-0005"]["pickup_address"] == orders[5]["pickup_address"]
    assert got["S-0006"]["weight_kg"] == 1234.78125


@pytest.mark.parametrize(
    "content",
    ['{"orders": [\n  {"number": "A", "pickup_address": "a"},\n  {"number": "B",, }\n]}',
     '{"orders": [{"number": "A"}\n\n  {"number": "B"}]}',
     '{"orders": []} trailing',
     '{"orders": [1, 2,]}'],
)
def test_a_broken_file_names_the_line_and_column_json_would(fresh, tmp_path, monkeypatch, content):
    monkeypatch.setattr(importer._JsonStream, "CHUNK", 8)
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(content)
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, path)
    assert f"line {expected.value.lineno}, column {expected.value.colno}" in str(e.value), str(e.value)


def test_import_tells_its_progress_in_bytes(fresh, tmp_path, small):
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"orders": _orders(23)}))
    calls: list[tuple[int, int]] = []
    import_json(fresh, path, progress=lambda done, total: calls.append((done, total)))
    size = path.stat().st_size
    assert calls[0] == (0, size) and calls[-1] == (size, size)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_the_spreadsheets_flat_rows_are_the_records_flattened(demo, small):
    """CSV and Excel build their rows straight from the page (no record): the same rows as
    flat_row of each record, for every kind of order the demo has."""
    with common.reading(demo) as ex:
        flat = [row for page in ex.flat_pages() for row, _ in page]
        lines = [[(a, d, q, x) for a, d, q, x in ls] for page in ex.flat_pages() for _, ls in page]
    records = export_json(demo)["orders"]
    assert flat == [common.flat_row(o) for o in records]
    assert lines == [[(ln["article"], ln["description"], ln["quantity"], ln["cancelled"]) for ln in o["lines"]]
                     for o in records]
    assert any(o["documents"] for o in records) and any(o["cancellations"] for o in records)


def test_on_postgresql_batches_and_pages_round_trip_and_a_bad_last_record_changes_nothing(
        demo, tmp_path, small, pg_fresh_url):
    """The same streams on PostgreSQL (Core inserts with RETURNING, a temporary table dropped
    at commit, a server-side cursor for the notices)."""
    pg = Depot.open(pg_fresh_url, actor="tester")
    try:
        add_demo_partners(pg)
        _add_rule(demo, "Frozen to Northline", "enters Created", "send Northline Haulage", ifs=("has-tag frozen",))
        path = tmp_path / "export.json"
        export_json_file(demo, path)
        assert import_json(pg, path).orders == len(export_json(demo)["orders"])
        first = export_json(demo)
        again = export_json(pg)
        assert again["orders"] == first["orders"] and again["notices"] == first["notices"]
        out = tmp_path / "pg.json"
        export_json_file(pg, out)  # the pages' writer (not SQLite's JSON)
        assert json.loads(out.read_text(encoding="utf-8")) == again
        assert [r["name"] for r in again["rules"]] == ["Frozen to Northline"]
        before = _counts(pg)
        bad = [*_orders(12), {"number": "S-BAD", "pickup_address": "", "delivery_address": "b"}]
        with pytest.raises(InvalidInput) as e:
            import_json(pg, {"orders": bad})
        assert any("orders[12] (number 'S-BAD')" in r for r in e.value.reasons)
        assert _counts(pg) == before
        assert import_json(pg, {"orders": _orders(12)}).orders == 12  # and the temporary table is gone
    finally:
        pg.close()


# --------------------------------------------------------------------------- rules (issue 14)


def test_rules_travel_with_the_streamed_export_and_import(demo, fresh, tmp_path, small):
    """A whole depot's rules are written last by SQLite's JSON and by the pages' writer alike,
    and the streamed import adds them after the fresh depot's own, in order, with their
    versions, without firing them."""
    _add_rule(demo, "Frozen to Northline", "enters Created", "send Northline Haulage", "follow-up Pack it with ice",
              ifs=("has-tag frozen",))
    _add_rule(demo, "Mark express", "tag-added express", "add-tag fast", enabled=False)
    _add_rule(fresh, "Already here", "enters Delivered", "follow-up Send the invoice")
    whole = export_json(demo)
    assert [r["name"] for r in whole["rules"]] == ["Frozen to Northline", "Mark express"]
    path = tmp_path / "export.json"
    export_json_file(demo, path)  # SQLite's JSON
    assert json.loads(path.read_text(encoding="utf-8"))["rules"] == whole["rules"]
    pages = tmp_path / "pages.json"
    with common.reading(demo) as ex, pages.open("w", encoding="utf-8") as f:
        json_module._write_records(ex, f, common.Counting(None, 0), ascii_only=False)  # other databases' writer
    assert json.loads(pages.read_text(encoding="utf-8")) == whole
    assert "rules" not in export_json(demo, status="Created")  # a selection carries none

    orders_before = _counts(fresh)["orders"]
    result = import_json(fresh, path)
    assert result.rules == 2 and result.summary().endswith(" follow-ups, 2 rules from " + str(path) + ".")
    got = rules(fresh)
    assert [(r.name, r.position, r.enabled, r.version) for r in got] == [
        ("Already here", 1, True, 1), ("Frozen to Northline", 2, True, 1), ("Mark express", 3, False, 1)]
    assert [r.words for r in got[1:]] == [r.words for r in rules(demo)]
    assert _counts(fresh)["orders"] - orders_before == len(whole["orders"])
    with fresh.uow(write=False) as uow:  # import never fires rules: no rule's tag, no audit of a firing
        assert not uow.session.scalar(select(func.count()).select_from(Tag).where(Tag.name == "fast"))
        actions = set(uow.session.scalars(select(AuditEntry.action)))
    assert "rule imported" in actions and not any("fired" in a for a in actions)


def test_bad_rules_after_good_orders_are_all_named_and_nothing_is_written(fresh, tmp_path, small):
    """Twelve good orders (written in batches inside the transaction), then rules with a
    problem each: every one named with its place, and the depot is as it was."""
    _add_rule(fresh, "Already here", "enters Delivered", "follow-up Send the invoice")
    before = _counts(fresh)
    good = {"name": "Fine", "trigger": {"kind": "enters", "status": "Created"},
            "effects": [{"kind": "follow_up", "text": "Call them"}]}
    bad_rules = [
        good,
        {**good, "name": "Fine"},
        {**good, "name": "Already here"},
        {**good, "name": "To nobody", "effects": [{"kind": "send", "partner": "Nobody Ltd"}]},
        {**good, "name": "Odd", "trigger": {"kind": "sometimes"}},
    ]
    path = tmp_path / "bad-rules.json"
    path.write_text(json.dumps({"orders": _orders(12), "rules": bad_rules}), encoding="utf-8")
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, path)
    text = "\n".join(e.value.reasons)
    assert "rules[1] (name 'Fine'): rule name 'Fine' appears twice in the file (also rules[0])." in text
    assert "rules[2] (name 'Already here'): rule name 'Already here' is already used in this depot." in text
    assert "rules[3] (name 'To nobody'): unknown partner 'Nobody Ltd' (partners: " in text
    assert "rules[4] (name 'Odd'), trigger: unknown trigger kind 'sometimes'; use one of: " in text
    assert "4 problems; nothing was imported." in str(e.value)
    assert _counts(fresh) == before


def test_a_rules_value_that_is_not_a_list_is_named(fresh):
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, {"orders": _orders(1), "rules": {"name": "x"}})
    assert "the data: 'rules' must be a list, not an object." in e.value.reasons
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, {"orders": [], "rulez": []})
    assert any('the keys are "orders", "notices", "followups" and "rules".' in r for r in e.value.reasons)


# --------------------------------------------------------------------------- search and board counts


def test_imported_orders_are_found_by_search_and_counted_on_the_board(fresh, tmp_path, small):
    """The raw batched inserts fire migration 0008's triggers: the text index finds every
    imported order, and the board's kept counts hold them in their lists."""
    counts = queries.board_counts(fresh)
    records = _orders(11)
    for o in records:
        o["delivery_address"] = "Quarrystone Wharf, Hull"
    records[3]["flags"] = {"archived": True}
    path = tmp_path / "wharf.json"
    path.write_text(json.dumps({"orders": records}), encoding="utf-8")
    assert import_json(fresh, path).orders == 11
    after = queries.board_counts(fresh)
    assert after["created"] - counts["created"] == 10
    assert after[search.ARCHIVED] - counts[search.ARCHIVED] == 1
    with fresh.uow(write=False) as uow:
        id_of = dict(uow.session.execute(select(Order.number, Order.id)).all())
    for query in ("quarrystone", "S-0007"):
        found = search.match_lists(fresh, query, queries.LIST_KEYS)
        ids = {k: set(m.ids) for k, m in found.items() if m.ids}
        if query == "S-0007":
            assert ids == {"created": {id_of["S-0007"]}}
        else:
            assert ids == {"created": {id_of[o["number"]] for o in records if o is not records[3]},
                           search.ARCHIVED: {id_of["S-0003"]}}


def test_the_import_writes_with_a_bigger_page_cache_on_sqlite(fresh, monkeypatch):
    """With SQLite's default 2 MB page cache one long import transaction re-reads its pages and
    slows down faster than the file grows (before the bulk fill of the text index: 40,000 raw
    inserts 200 s, against 8 s with the bigger cache). The import's own connection has the
    bigger cache while it writes."""
    seen: list[int] = []
    real = importer._Writer.write

    def spy(self, rows):
        seen.append(self.conn.execute(text("PRAGMA cache_size")).scalar())
        return real(self, rows)

    monkeypatch.setattr(importer._Writer, "write", spy)
    import_json(fresh, {"orders": _orders(3, start=700)})
    assert seen and set(seen) == {-importer.IMPORT_CACHE_KIB}


# --------------------------------------------------------------------------- the text index in bulk (SQLite)


def _index_state(d: Depot) -> dict[str, object]:
    """Everything 0008 keeps for the search and the board on SQLite, as stored: the triggers'
    text, the FTS5 index's own tables (its segments, byte for byte) and the kept counts."""
    with d.uow(write=False) as uow:
        s = uow.session
        return {
            "triggers": sorted(s.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()),
            "data": s.execute(text("SELECT id, block FROM order_search_data ORDER BY id")).all(),
            "idx": s.execute(text("SELECT segid, term, pgno FROM order_search_idx ORDER BY 1, 2")).all(),
            "counts": sorted(s.execute(text("SELECT list, n FROM board_counts")).all()),
            "config": s.execute(text("SELECT k, v FROM order_search_config ORDER BY k")).all(),
        }


def _counted_now(d: Depot) -> dict[str, int]:
    with d.uow(write=False) as uow:
        return dict(uow.session.execute(text(
            "SELECT CASE WHEN archived THEN 'archived' ELSE status END, count(*) FROM orders GROUP BY 1")).all())


def _search_ids(d: Depot, query: str) -> set[int]:
    return {oid for m in search.match_lists(d, query, queries.LIST_KEYS).values() for oid in m.ids}


def test_on_sqlite_the_orders_go_in_with_the_index_triggers_off_and_are_indexed_at_the_end(fresh, small, monkeypatch):
    """0008's per-order triggers make a big import grow faster than its file: the import drops
    them in its transaction, writes, then indexes and counts the new orders in bulk and makes
    the triggers again (store/bulk.py)."""
    before = _index_state(fresh)
    assert len(before["triggers"]) >= 6  # type: ignore[arg-type]
    seen: list[int] = []
    real = importer._Writer.write

    def spy(self, rows):
        if self.table.name == "orders":
            seen.append(self.conn.execute(text(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'orders' "
                "AND (name LIKE 'orders_search_%' OR name LIKE 'orders_count_%')")).scalar())
        return real(self, rows)

    monkeypatch.setattr(importer._Writer, "write", spy)
    import_json(fresh, {"orders": _orders(12)})
    assert len(seen) == 3 and set(seen) == {0}  # three batches, none with the triggers
    after = _index_state(fresh)
    assert after["triggers"] == before["triggers"]  # made again, the same
    assert after["config"] == before["config"]  # the bigger FTS5 buffer was for the import only


def test_a_successful_import_is_searchable_and_counted_and_the_triggers_work_again(demo, tmp_path, small):
    """On a depot that already holds orders: the imported orders are found, the kept counts are
    a fresh count, FTS5's own check passes, and a later edit is indexed by the triggers again."""
    records = _orders(13, start=300)
    for o in records:
        o["delivery_address"] = "Quarrystone Wharf, Hull"
    records[4]["flags"] = {"archived": True}
    records[5]["status"] = "delivered"
    records[5]["assignee"] = "Northline Haulage"
    path = tmp_path / "wharf.json"
    path.write_text(json.dumps({"orders": records}), encoding="utf-8")
    assert import_json(demo, path).orders == 13
    with demo.uow(write=False) as uow:
        id_of = dict(uow.session.execute(select(Order.number, Order.id)).all())
    assert _search_ids(demo, "quarrystone") == {id_of[o["number"]] for o in records}
    assert _search_ids(demo, "S-0307") == {id_of["S-0307"]}
    assert {k: v for k, v in queries.board_counts(demo).items() if v} == _counted_now(demo)
    with demo.uow() as uow:
        uow.session.execute(text("INSERT INTO order_search(order_search, rank) VALUES ('integrity-check', 1)"))
        uow.session.execute(text("UPDATE orders SET delivery_address = 'Zebrafinch Yard' WHERE number = 'S-0308'"))
        uow.session.execute(text("UPDATE orders SET archived = 1 WHERE number = 'S-0309'"))
        uow.commit()
    assert _search_ids(demo, "zebrafinch") == {id_of["S-0308"]}
    assert id_of["S-0308"] not in _search_ids(demo, "quarrystone")
    assert {k: v for k, v in queries.board_counts(demo).items() if v} == _counted_now(demo)


@pytest.mark.parametrize("where", ["a bad last record", "an error while indexing", "an error making the triggers"])
def test_an_import_that_fails_half_way_leaves_triggers_index_and_counts_as_they_were(
        demo, tmp_path, small, monkeypatch, where):
    """Orders written with the triggers off, then a failure: the one transaction rolls back the
    dropped triggers, the index and the counts with the orders, byte for byte."""
    from dispatchdesk.store import bulk

    before, orders_before = _index_state(demo), _counts(demo)["orders"]
    records = _orders(12, start=500)
    if where == "a bad last record":
        records.append({"number": "S-BAD", "pickup_address": "a", "delivery_address": "b", "parcels": -1})
        expected: type[Exception] = InvalidInput
    else:
        m = bulk._m0008()
        name = "create_counts" if where == "an error while indexing" else "create_search_triggers"
        real = getattr(m, name)

        def broken(bind):
            if name == "create_search_triggers":
                real(bind)  # the triggers made, then the failure
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(m, name, broken)
        expected = RuntimeError
    path = tmp_path / "half.json"
    path.write_text(json.dumps({"orders": records}), encoding="utf-8")
    with pytest.raises(expected):
        import_json(demo, path)
    assert _index_state(demo) == before
    assert _counts(demo)["orders"] == orders_before
    assert _search_ids(demo, "S-0503") == set()
    # and the depot still keeps its index: the next import is indexed and counted
    monkeypatch.undo()
    assert import_json(demo, {"orders": _orders(2, start=600)}).orders == 2
    assert len(_search_ids(demo, "S-0601")) == 1
    assert {k: v for k, v in queries.board_counts(demo).items() if v} == _counted_now(demo)
