"""Import and export (JSON, CSV, Excel, PDF) and the demo depot, read back from the database
and from the files themselves."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from collections import Counter

import pytest

from dispatchdesk.demo import (
    DEMO_PARTNER_PORT,
    HOSTILE_PARTNER,
    add_demo_partners,
    build_demo,
    demo_partners,
)
from dispatchdesk.domain import Direction, Mark, Status
from dispatchdesk.resources import data_dir
from dispatchdesk.services import (
    Depot,
    InvalidInput,
    NotFound,
    Refused,
    Trash,
    cancel,
    dispatch,
    duplicate,
    queries,
    set_tags,
    trash,
)
from dispatchdesk.services.export import (
    export_csv,
    export_json,
    export_json_file,
    export_pdf,
    export_xlsx,
    write_json,
)
from dispatchdesk.services.importer import import_json

ORDER_KEYS = {
    "number", "status", "direction", "partner", "assignee", "partner_ref", "pickup_address",
    "delivery_address", "pickup_after", "deliver_by", "parcels", "weight_kg", "flags", "tags", "lines",
    "documents", "backorders", "replaces", "created_at", "status_changed_at",
}


def _strip_ids(followups):
    return [{k: v for k, v in f.items() if k != "id"} for f in followups]


# (the demo depot and a fresh one: tests/services/conftest.py)


def _all_cards(d: Depot):
    return queries.board(d) + queries.board(d, queries.BoardFilter(archived=True))


def test_demo_has_every_status_direction_and_mark(demo):
    cards = _all_cards(demo)
    assert len(cards) >= 250
    statuses = Counter(c.status for c in cards)
    assert set(statuses) == set(Status), statuses
    assert set(c.direction for c in cards) == set(Direction)
    marks = Counter(m for c in cards for m in c.marks)
    assert set(marks) == set(Mark), marks
    assert sum(c.archived for c in cards) >= 5
    assert {c.status for c in cards if c.archived} >= {Status.DELIVERED, Status.REJECTED, Status.CANCELLED}


def test_demo_partners_cover_every_role_and_setting(demo):
    ps = {p.name: p for p in queries.partners(demo)}
    assert len(ps) == len(demo_partners())
    assert {p.role for p in ps.values()} == {"client", "subcontractor", "channel", "warehouse"}
    assert {p.link for p in ps.values()} == {"http", "email", "none"}
    assert {p.cancel_method for p in ps.values()} == {"api", "api-window", "email", "manual"}
    north = ps["Northline Haulage"]
    assert north.role == "subcontractor" and north.auto_trash and north.link == "http"
    assert north.url == f"http://127.0.0.1:{DEMO_PARTNER_PORT}/link/northline"
    assert ps["Baltic Freight Depot"].rejection_maps_to == "created"
    shop = ps["Shopwise Marketplace"]
    assert (shop.role, shop.reason_required, shop.cancel_method, shop.window_seconds) == (
        "channel", True, "api-window", 1800)
    parcel = ps["Parcelkeep Fulfilment"]
    assert (parcel.link, parcel.cancel_method) == ("email", "email")
    assert any(p.follow_up_after_send for p in ps.values())
    assert any(p.pass_cancellations for p in ps.values())
    for p in ps.values():
        if p.url:
            assert p.url.startswith(f"http://127.0.0.1:{DEMO_PARTNER_PORT}/link/")


def test_every_check_can_be_seen_refusing_in_the_demo(demo):
    """SPEC 4.5: in the demo there is an order for each check that keeps it from being trashed."""
    seen: set[str] = set()
    for c in _all_cards(demo):
        pv = Trash(c.number).preview(demo)
        for r in pv.plan.refusals:
            if "is already" in r:
                seen.add("final")
            elif "goods have left" in r:
                seen.add("goods moved")
            elif "delivery note" in r:
                seen.add("delivery note")
            elif "invoice" in r:
                seen.add("invoice")
            elif "back-ordered" in r:
                seen.add("back-order")
    assert seen == {"final", "goods moved", "delivery note", "invoice", "back-order"}


def test_demo_hostile_order_is_stored_as_it_came(demo):
    hostile = [c for c in _all_cards(demo) if c.partner == HOSTILE_PARTNER]
    assert hostile, "the hostile partner's orders are in the demo"
    detail = queries.order_detail(demo, hostile[0].number)
    text = " ".join([detail.pickup_address, detail.delivery_address, *(ln.description for ln in detail.lines)])
    for needle in ("\x1b[", "[@click=app.quit]", "[/]", "\u202e", "\u009b"):
        assert needle in text + HOSTILE_PARTNER


def test_demo_refuses_a_depot_with_orders(demo):
    with pytest.raises(Refused) as e:
        build_demo(demo)
    assert "already has" in str(e.value)


def test_demo_json_in_data_is_what_build_demo_makes(demo):
    """data/demo.json is current. If this fails after a change to the demo or to the services,
    write it again: `.venv/bin/python -m dispatchdesk.demo data/demo.json` (owner: cli).
    Orders are compared whole; notices and follow-ups by what they are (their texts are the
    services' wording, which may change without the demo changing)."""
    shipped = json.loads((data_dir() / "demo.json").read_text(encoding="utf-8"))
    built = export_json(demo)
    assert shipped["orders"] == built["orders"]

    def shape(ns, keys):
        return Counter(tuple(n.get(k) for k in keys) for n in ns)

    keys = ("order", "partner", "kind", "state", "transport")
    assert shape(shipped["notices"], keys) == shape(built["notices"], keys)
    keys = ("order", "partner", "done", "withdrawn")
    assert shape(shipped["followups"], keys) == shape(built["followups"], keys)


def test_data_files_are_found_and_import(fresh):
    assert (data_dir() / "README.md").is_file()
    result = import_json(fresh, data_dir() / "demo.json")
    assert result.orders >= 250
    result = import_json(fresh, data_dir() / "sample-import.json")
    assert result.orders == 5
    assert result.new_numbers[-1] not in {"IMP-0001", "IMP-0002"}  # the one without a number got a free one
    d = queries.order_detail(fresh, "IMP-0004")
    assert d.status is Status.DELIVERED and d.documents == (("delivery_note", "DN-90001"), ("invoice", "INV-90001"))


# --------------------------------------------------------------------------- export JSON


def test_export_shape(demo):
    data = export_json(demo)
    assert set(data) == {"orders", "notices", "followups"}
    for o in data["orders"]:
        assert ORDER_KEYS <= set(o)
        assert set(o["flags"]) == {"cancellation_requested", "partner_not_informed", "archived"}
        for ln in o["lines"]:
            assert set(ln) == {"article", "description", "quantity", "cancelled"}
    assert {o["status"] for o in data["orders"]} == {s.value for s in Status}
    n = data["notices"][0]
    assert {"id", "order", "partner", "kind", "state", "transport", "attempts", "created_at"} <= set(n)
    f = data["followups"][0]
    assert {"id", "order", "partner", "text", "done"} <= set(f)
    assert any(o["replaces"] for o in data["orders"])
    assert any(o["documents"] for o in data["orders"]) and any(o["backorders"] for o in data["orders"])
    assert all(o["created_at"].endswith("+00:00") for o in data["orders"])


def test_export_filters(demo):
    everything = export_json(demo)["orders"]
    rejected = export_json(demo, status="Rejected")["orders"]
    assert rejected and {o["status"] for o in rejected} == {"rejected"}
    assert len(rejected) == sum(o["status"] == "rejected" for o in everything)
    mine = export_json(demo, partner="Northline Haulage")["orders"]
    assert mine and all("Northline Haulage" in (o["partner"], o["assignee"]) for o in mine)
    archived = export_json(demo, archived=True)["orders"]
    assert archived and all(o["flags"]["archived"] for o in archived)
    live = export_json(demo, archived=False)["orders"]
    assert len(archived) + len(live) == len(everything)
    with pytest.raises(NotFound):
        export_json(demo, partner="Nobody")
    with pytest.raises(InvalidInput):
        export_json(demo, status="lost")


@pytest.mark.parametrize(
    "filters",
    [{}, {"status": "cancelled"}, {"status": "created"}, {"partner": "Northline Haulage"},
     {"partner": HOSTILE_PARTNER}, {"archived": True}, {"archived": False}],
)
def test_the_fast_json_file_is_exactly_export_json(demo, tmp_path, filters):
    """On SQLite the file is built by SQLite's JSON functions; it must parse to export_json."""
    path = tmp_path / "fast.json"
    n = export_json_file(demo, path, **filters)
    written = json.loads(path.read_text(encoding="utf-8"))
    expected = export_json(demo, **filters)
    assert n == len(expected["orders"])
    for key in ("orders", "notices", "followups"):
        assert written[key] == expected[key], key


def test_the_fast_json_file_keeps_odd_values(fresh, tmp_path):
    import_json(fresh, {"orders": [
        {"number": "Z-1", "pickup_address": "\x1b[31m\u202e\"quoted\" \\ back", "delivery_address": "東京\n2",
         "weight_kg": 0, "parcels": 1, "created_at": "2025-06-01T10:00:00.5+00:00",
         "cancellation_request": {"lines": {"A": 1}, "message": "x"}, "lines": []},
        {"number": "Z-2", "pickup_address": "a", "delivery_address": "b", "weight_kg": 12.25,
         "created_at": "2025-06-01T10:00:00+02:00", "tags": ["b", "a"]},
    ]})
    path = tmp_path / "odd.json"
    export_json_file(fresh, path)
    assert json.loads(path.read_text(encoding="utf-8")) == export_json(fresh)


def test_filtered_export_carries_only_its_orders_notices(demo):
    data = export_json(demo, status="cancelled")
    numbers = {o["number"] for o in data["orders"]}
    assert data["notices"] and all(n["order"] in numbers for n in data["notices"])
    assert all(f["order"] in numbers for f in data["followups"])


# --------------------------------------------------------------------------- round trip


def test_round_trip_into_a_fresh_database_is_equal(demo, fresh, tmp_path):
    first = export_json(demo)
    path = tmp_path / "export.json"
    write_json(first, path)
    result = import_json(fresh, path)
    assert result.orders == len(first["orders"])
    again = export_json(fresh)
    assert again["orders"] == first["orders"]
    assert again["notices"] == first["notices"]
    assert _strip_ids(again["followups"]) == _strip_ids(first["followups"])
    # what the screens and the report see is the same too
    assert queries.report(fresh) == queries.report(demo)
    a = {c.number: (c.status, c.marks, c.archived) for c in _all_cards(demo)}
    b = {c.number: (c.status, c.marks, c.archived) for c in _all_cards(fresh)}
    assert a == b


def test_a_filtered_export_names_what_it_leaves_out(demo, fresh):
    """Copies made by Duplicate as new name the order they replace: an export without those
    cannot be imported alone, and says which records and why."""
    data = export_json(demo, status="created")
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, data)
    assert any("'replaces' names order" in r for r in e.value.reasons)


def test_imported_orders_work_with_the_services(demo, fresh):
    data = export_json(demo, status="created")
    for o in data["orders"]:
        o["replaces"] = None
    import_json(fresh, data)
    number = next(o["number"] for o in export_json(fresh)["orders"] if o["partner"] == "Baltic Freight Depot"
                  and not o["documents"] and not o["backorders"])
    dispatch(fresh, number, "Northline Haulage")
    trash(fresh, number)
    d = queries.order_detail(fresh, number)
    assert d.status is Status.REJECTED
    assert [n.kind for n in d.notices][-2:] == ["order.rejected", "order.revoked"]


def test_import_keeps_everything(fresh):
    data = {"orders": [{
        "number": "K-1", "status": "Picked up", "partner": "Shopwise Marketplace", "partner_ref": "SW-1",
        "assignee": "Eastgate Warehouse", "pickup_address": "a, Leeds", "delivery_address": "b, York",
        "flags": {"cancellation_requested": True, "partner_not_informed": True, "archived": True},
        "tags": ["b", "a"], "lines": [{"article": "X", "description": "x", "quantity": 3, "cancelled": 1}],
        "documents": [{"kind": "invoice", "number": "I-1"}], "backorders": [{"article": "X", "quantity": 2}],
        "cancellations": [{"number": "CN-K-1", "reason": "damaged", "lines": {"X": 1}, "partial": True}],
        "pickup_after": "2025-06-01T10:00:00Z", "parcels": 2, "weight_kg": 3.5,
    }], "notices": [{"id": "n-1", "order": "K-1", "partner": "Eastgate Warehouse", "kind": "order.new",
                     "state": "failed", "transport": "http", "attempts": 8, "last_error": "refused"}],
        "followups": [{"order": "K-1", "partner": "Shopwise Marketplace", "text": "Call them", "done": False}]}
    import_json(fresh, data)
    d = queries.order_detail(fresh, "K-1")
    assert d.status is Status.PICKED_UP
    assert (d.source, d.assignee, d.partner_ref) == ("Shopwise Marketplace", "Eastgate Warehouse", "SW-1")
    assert d.cancellation_requested and d.partner_not_informed and d.archived
    assert d.tags == ("a", "b")
    assert [(ln.article, ln.quantity, ln.cancelled) for ln in d.lines] == [("X", 3, 1)]
    assert d.documents == (("invoice", "I-1"),) and d.backorders == (("X", 2),)
    assert d.cancellations[0].number == "CN-K-1" and d.cancellations[0].reason == "DAMAGED"
    assert [(n.state.value, n.attempts) for n in d.notices] == [("failed", 8)]
    assert [f.text for f in d.followups] == ["Call them"]
    assert d.pickup_after.isoformat() == "2025-06-01T10:00:00+00:00"
    assert d.audit[-1].action == "imported"


# --------------------------------------------------------------------------- bad imports


def _table_counts(d: Depot) -> dict[str, int]:
    from sqlalchemy import func, select

    from dispatchdesk.store.models import (
        AuditEntry,
        Backorder,
        Cancellation,
        Document,
        FollowUp,
        Notice,
        Order,
        OrderLine,
        Tag,
    )

    with d.uow(write=False) as uow:
        return {m.__tablename__: uow.session.scalar(select(func.count()).select_from(m)) or 0
                for m in (Order, OrderLine, Tag, Document, Backorder, Cancellation, Notice, FollowUp, AuditEntry)}


GOOD = {"number": "G-1", "pickup_address": "a", "delivery_address": "b",
        "lines": [{"article": "A", "quantity": 1}]}


@pytest.mark.parametrize(
    ("records", "words"),
    [
        ([GOOD, {**GOOD, "number": "G-2", "partner": "Nobody Ltd"}],
         ["orders[1] (number 'G-2')", "unknown partner 'Nobody Ltd'"]),
        ([GOOD, {**GOOD}], ["orders[1] (number 'G-1')", "appears twice in the file (also orders[0])"]),
        ([GOOD, {**GOOD, "number": "G-2", "parcels": "three"}],
         ["orders[1] (number 'G-2')", "'parcels' must be a whole number, not text 'three'"]),
        ([GOOD, {**GOOD, "number": "G-2", "lines": {"A": 1}}], ["'lines' must be a list"]),
        ([GOOD, {**GOOD, "number": "G-2", "lines": [{"article": "A", "quantity": 0}]}],
         ["lines[0]", "'quantity' must be from 1 to 1000000, not 0"]),
        ([GOOD, {**GOOD, "number": "G-2", "status": "lost"}], ["unknown status 'lost'"]),
        ([GOOD, {**GOOD, "number": "G-2", "status": 3}], ["'status' must be text, not a number 3"]),
        ([GOOD, {**GOOD, "number": "G-2", "partner": "Northline Haulage"}],
         ["names 'Northline Haulage', a subcontractor; it must be a client or channel"]),
        ([GOOD, {**GOOD, "number": "G-2", "deliver_by": "tomorrow"}], ["'deliver_by' is not an ISO 8601 time"]),
        ([GOOD, {**GOOD, "number": "G-2", "deliver_by": "2025-06-01T10:00:00"}], ["has no time zone"]),
        ([GOOD, {**GOOD, "number": "G-2", "flags": {"archived": "yes"}}], ["'archived' must be true or false"]),
        ([GOOD, {**GOOD, "number": "G-2", "documents": [{"kind": "receipt", "number": "R"}]}],
         ["unknown document kind 'receipt'"]),
        ([GOOD, {**GOOD, "number": "bad number!"}], ["may hold only letters, digits"]),
        ([GOOD, "just text"], ["orders[1]: must be an object, not text"]),
        ([GOOD, {**GOOD, "number": "G-2", "status": "dispatched"}], ["a Dispatched order needs the partner"]),
        ([GOOD, {**GOOD, "number": "G-2", "replaces": "NOPE"}], ["'replaces' names order 'NOPE'"]),
    ],
)
def test_bad_order_records_are_named_and_nothing_is_written(fresh, records, words):
    before = _table_counts(fresh)
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, {"orders": records})
    text = "\n".join(e.value.reasons)
    for w in words:
        assert w in text, text
    assert "nothing was imported" in str(e.value)
    assert _table_counts(fresh) == before


def test_bad_notice_and_followup_records(fresh):
    before = _table_counts(fresh)
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, {"orders": [GOOD], "notices": [
            {"id": "n1", "order": "G-1", "partner": "Nobody", "kind": "order.new", "state": "queued", "transport": "http"},
            {"id": "n2", "order": "G-9", "partner": "Northline Haulage", "kind": "order.sent", "state": "lost",
             "transport": "pigeon"},
        ], "followups": [{"order": "G-1", "text": ""}, {"order": "G-1", "text": "x", "done": "no"}]})
    text = "\n".join(e.value.reasons)
    assert "notices[0] (id 'n1'): unknown partner 'Nobody'" in text
    assert "notices[1] (id 'n2'): 'order' names 'G-9'" in text
    assert "unknown kind 'order.sent'" in text and "unknown state 'lost'" in text
    assert "unknown transport 'pigeon'" in text
    assert "followups[0]: 'text' is empty." in text
    assert "followups[1]: 'done' must be true or false" in text
    assert _table_counts(fresh) == before


def test_duplicate_number_against_the_depot(fresh):
    import_json(fresh, {"orders": [GOOD]})
    before = _table_counts(fresh)
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, {"orders": [{**GOOD, "number": "G-2"}, GOOD]})
    assert "the data: orders[1] (number 'G-1'): order number 'G-1' is already used in this depot." in e.value.reasons
    assert _table_counts(fresh) == before


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"orders": [\n {"number": "A"\n]}', ["line 3, column 1", "not valid JSON"]),
        ("", ["line 1, column 1"]),
        ("[1, 2]", ["must hold one JSON object", "not a list"]),
        ('{"orders": {}}', ["'orders' must be a list, not an object"]),
        ('{"order": []}', ["unknown key 'order'"]),
        (b"\xff\xfe\x00garbage", ["not UTF-8"]),
        pytest.param('{"orders": [{"parcels": ' + "9" * 5000 + "}]}", ["not valid JSON: it holds a number of 5000 digits"],
                     id="a 5000-digit number"),
        pytest.param('{"orders": ' + "[" * 100_000 + "]" * 100_000 + "}", ["nested too deeply"], id="deep"),
    ],
)
def test_malformed_files_name_the_file_and_change_nothing(fresh, tmp_path, content, words):
    path = tmp_path / "in.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    before = _table_counts(fresh)
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, path)
    text = "\n".join(e.value.reasons)
    assert str(path) in text
    for w in words:
        assert w in text, text
    assert _table_counts(fresh) == before


def test_a_failing_write_leaves_nothing(fresh, monkeypatch):
    """Everything was checked, and the write still fails half-way: one transaction, so nothing."""
    import dispatchdesk.services.importer as importer

    real = importer._Import.finish

    def broken(self):
        real(self)
        assert self.orders.written == 2  # both orders were written in the transaction…
        raise RuntimeError("disk gone")  # …and then the disk went

    monkeypatch.setattr(importer._Import, "finish", broken)
    before = _table_counts(fresh)
    with pytest.raises(RuntimeError):
        import_json(fresh, {"orders": [GOOD, {**GOOD, "number": "G-2"}]})
    assert _table_counts(fresh) == before


# --------------------------------------------------------------------------- CSV, Excel, PDF


@pytest.fixture
def tricky(fresh):
    """Orders with text a spreadsheet or a terminal would act on, one rejected."""
    import_json(fresh, {"orders": [
        {"number": "T-1", "status": "rejected", "partner": HOSTILE_PARTNER,
         "pickup_address": "=HYPERLINK(\"http://evil.example\",\"x\")", "delivery_address": "@SUM(A1)",
         "lines": [{"article": "A", "description": "\x1b[31mred\x1b[0m \u202eevil", "quantity": 2}]},
        {"number": "T-2", "status": "created", "pickup_address": "Café Straße, Łódź", "delivery_address": "東京",
         "tags": ["+1"], "lines": [{"article": "B", "quantity": 1}]},
    ]})
    return fresh


def test_csv(tricky, tmp_path):
    path = tmp_path / "x.csv"
    assert export_csv(tricky, path) == 2
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [r["Number"] for r in rows] == ["T-1", "T-2"]
    assert rows[0]["Status"] == "Rejected"
    assert rows[0]["Pickup address"].startswith("'=HYPERLINK")
    assert rows[0]["Delivery address"] == "'@SUM(A1)"
    assert rows[1]["Tags"] == "'+1"
    assert "\x1b" not in path.read_text() and "\u202e" not in path.read_text()
    assert rows[0]["Lines"] == "2× A"
    assert rows[1]["Delivery address"] == "東京"
    out = io.StringIO()
    export_csv(tricky, out, status="created")
    assert out.getvalue().count("\n") == 2


def test_xlsx(tricky, tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "x.xlsx"
    assert export_xlsx(tricky, path) == 2
    wb = load_workbook(path)
    assert wb.sheetnames == ["Orders", "Lines"]
    orders = list(wb["Orders"].iter_rows(values_only=True))
    assert orders[0][0] == "Number" and [r[0] for r in orders[1:]] == ["T-1", "T-2"]
    cell = wb["Orders"]["G2"]
    assert cell.value.startswith("=HYPERLINK") and cell.data_type == "s"  # text, never a formula
    lines = list(wb["Lines"].iter_rows(values_only=True))
    assert lines[1][:5] == ("T-1", "Rejected", "A", "red evil", 2)


def test_pdf(tricky, demo, tmp_path):
    path = tmp_path / "x.pdf"
    assert export_pdf(demo, path) >= 250
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert pages >= 5
    small = tmp_path / "t.pdf"
    assert export_pdf(tricky, small, status="rejected") == 1
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-layout", str(small), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "T-1" in text and "Rejected" in text and "[@click=app.quit]" in text
        assert "\x1b" not in text and "\u202e" not in text
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(path), str(tmp_path / "page")],
                       check=True, timeout=60)
        png = next(tmp_path.glob("page*.png"))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000


def test_pdf_without_a_unicode_font_still_writes(tricky, tmp_path, monkeypatch):
    import dispatchdesk.services.export.pdf as pdf_module

    monkeypatch.setattr(pdf_module, "_unicode_font", lambda: None)
    path = tmp_path / "latin.pdf"
    assert export_pdf(tricky, path) == 2
    assert path.read_bytes().startswith(b"%PDF")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_failed_export_leaves_no_half_file(tricky, tmp_path, monkeypatch):
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"the previous export")
    import openpyxl.workbook.workbook as wbmod

    def boom(self, f):
        f.write(b"PK half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wbmod.Workbook, "save", boom)
    with pytest.raises(InvalidInput) as e:
        export_xlsx(tricky, path)
    assert "No space left on device" in str(e.value) and "Nothing was written" in str(e.value)
    assert path.read_bytes() == b"the previous export"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
    import gc

    gc.collect()  # the workbook's unfinished row writer goes now, inside this test


def test_export_includes_rejected_and_cancelled(demo, tmp_path):
    path = tmp_path / "x.csv"
    export_csv(demo, path)
    statuses = Counter(r["Status"] for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert statuses["Rejected"] > 0 and statuses["Cancelled"] > 0


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_round_trip_on_postgresql(demo, pg_fresh_url):
    pg = Depot.open(pg_fresh_url, actor="tester")
    try:
        add_demo_partners(pg)
        first = export_json(demo)
        import_json(pg, first)
        again = export_json(pg)
        assert again["orders"] == first["orders"]
        assert again["notices"] == first["notices"]
        number = next(o["number"] for o in again["orders"] if o["status"] == "created"
                      and not o["documents"] and not o["backorders"])
        set_tags(pg, number, add=["pg"])
        res = duplicate(pg, number)
        cancel_number = res.order
        from dispatchdesk.domain import CancellationRequest, ReasonCode

        cancel(pg, cancel_number, CancellationRequest(ReasonCode.DAMAGED, comment="x"))
        assert export_json(pg, status="cancelled")["orders"]
    finally:
        pg.close()


# --------------------------------------------------------------------------- poison values
# (issue 10 items 7 and 11): the import refuses what the database cannot hold or a backup
# could not write back, each named with its place; a lone surrogate is a problem, not a crash.

_G1 = '{"number": "P-1", "pickup_address": "a", "delivery_address": "b", "lines": [{"article": "A"}]'


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (', "weight_kg": NaN', "orders[0] (number 'P-1'): 'weight_kg' must be a number from 0 to 100000, not nan"),
        (', "weight_kg": 1e999', "'weight_kg' must be a number from 0 to 100000, not inf"),
        (', "weight_kg": 5e6', "'weight_kg' must be a number from 0 to 100000, not 5000000.0"),
        (', "parcels": ' + str(10**30), "'parcels' must be from 1 to 9999, not 1000000000000000000000000000000"),
        (', "parcels": 0', "'parcels' must be from 1 to 9999, not 0"),
        (', "pickup_address": "Mill \\ud800 Lane"', "'pickup_address' holds a lone surrogate (\\ud800)"),
        (', "tags": ["ok", "\\udfff"]', "tags[1]"),
        (', "lines": [{"article": "A", "quantity": ' + str(10**30) + "}]", "orders[0] (number 'P-1'), lines[0]: "
                                                                           "'quantity' must be from 1 to"),
        (', "lines": [{"article": "A", "description": "\\ud800"}]', "lines[0]: 'description' holds a lone surrogate"),
        (', "cancellation_request": {"message": "\\ud800"}', "'cancellation_request' holds a lone surrogate"),
        (', "cancellations": [{"number": "C-1", "lines": {"\\ud800": 1}}]', "cancellations[0]: 'lines' holds a lone"),
    ],
)
def test_poison_values_in_an_import_file_are_named_and_nothing_is_written(fresh, tmp_path, extra, words):
    path = tmp_path / "poison.json"
    path.write_text('{"orders": [' + _G1 + extra + "}]}", encoding="utf-8")
    before = _table_counts(fresh)
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, path)
    text = "\n".join(e.value.reasons)
    assert words in text, text
    assert _table_counts(fresh) == before


def test_poison_values_in_notices_and_followups(fresh, tmp_path):
    path = tmp_path / "poison.json"
    path.write_text('{"orders": [' + _G1 + '}], "notices": [{"id": "n-1", "order": "P-1", '
                    '"partner": "Northline Haulage", "kind": "order.new", "state": "queued", "transport": "http", '
                    '"attempts": ' + str(10**30) + ', "seq": ' + str(10**30) + ', "payload": {"a": "\\ud800"}}], '
                    '"followups": [{"order": "P-1", "text": "call \\ud800"}]}', encoding="utf-8")
    before = _table_counts(fresh)
    with pytest.raises(InvalidInput) as e:
        import_json(fresh, path)
    text = "\n".join(e.value.reasons)
    for words in ("notices[0] (id 'n-1'): 'attempts' must be from 0 to", "notices[0] (id 'n-1'): 'seq' must be",
                  "notices[0] (id 'n-1'): 'payload' holds a lone surrogate", "followups[0]: 'text' holds a lone"):
        assert words in text, text
    assert _table_counts(fresh) == before


def test_one_set_of_limits_for_import_link_and_form(fresh):
    """The new-order form (check_order), the import and a partner's message refuse the same values."""
    from dispatchdesk.domain import limits
    from dispatchdesk.services import LineInput, OrderInput, check_order, receive

    def form(**kw):
        lines = [LineInput("A", kw.pop("quantity", 1))]
        return not check_order(OrderInput(**{"pickup_address": "a", "delivery_address": "b", "lines": lines, **kw}))

    def imported(**kw):
        lines = [{"article": "A", "quantity": kw.pop("quantity", 1)}]
        try:
            import_json(fresh, {"orders": [{"pickup_address": "a", "delivery_address": "b", "lines": lines, **kw}]})
        except InvalidInput:
            return False
        return True

    refs = iter(range(10**6))

    def message(**kw):
        lines = [{"article": "A", "quantity": kw.pop("quantity", 1)}]
        m = {"id": f"lim-{next(refs)}", "kind": "order.new", "order": f"L-{next(refs)}", "pickup_address": "a",
             "delivery_address": "b", "lines": lines, **kw}
        try:
            receive(fresh, "Baltic Freight Depot", m)
        except InvalidInput:
            return False
        return True

    cases = [
        ({"parcels": limits.PARCELS.low}, True), ({"parcels": limits.PARCELS.high}, True),
        ({"parcels": limits.PARCELS.low - 1}, False), ({"parcels": limits.PARCELS.high + 1}, False),
        ({"weight_kg": limits.WEIGHT_KG.high}, True), ({"weight_kg": limits.WEIGHT_KG.high + 0.5}, False),
        ({"weight_kg": float("nan")}, False), ({"weight_kg": float("inf")}, False),
        ({"quantity": limits.QUANTITY.high}, True), ({"quantity": limits.QUANTITY.high + 1}, False),
        ({"quantity": 0}, False), ({"pickup_address": "x" * limits.TEXT}, True),
        ({"pickup_address": "x" * (limits.TEXT + 1)}, False), ({"pickup_address": "a\ud800"}, False),
    ]
    for kw, ok in cases:
        got = (form(**dict(kw)), imported(**dict(kw)), message(**dict(kw)))
        assert got == (ok, ok, ok), (kw, got)
