"""`dispatchdesk order edit` and `dispatchdesk order return` (issue 8 items 5 and 6), read back
from the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dispatchdesk.cli import main
from dispatchdesk.services import Send, Status, set_status
from dispatchdesk.store.models import Return

pytestmark = pytest.mark.usefixtures("partners")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DISPATCHDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DISPATCHDESK_DB", raising=False)


@pytest.fixture
def cli(capsys, db_path):
    def run(*args: str):
        rc = main([*args, "--db", str(db_path)])
        cap = capsys.readouterr()
        return rc, cap.out, cap.err

    return run


def test_order_edit_prints_old_and_new_and_tells_the_subcontractor(cli, depot, rows, new_order):
    n = new_order(source="Plain Client")
    Send(n, partner="Swift Haulage").execute(depot)
    rc, out, err = cli("order", "edit", n, "--parcels", "4", "--deliver-by", "2025-03-15T17:00+00:00",
                       "--line", "BOX-S=5", "--line", "PALLET=0", "--yes")
    assert rc == 0, err
    assert "Parcels: 3 → 4." in out
    assert "Deliver by: none → 2025-03-15 17:00 UTC." in out
    assert "Line BOX-S: 2 → 5." in out and "Line PALLET: 1 → removed." in out
    assert "Swift Haulage will be told over the link (change)." in out
    assert f"Order {n} was corrected; it stays Dispatched." in out
    got = rows(depot, n)
    assert got.order.parcels == 4
    assert {ln.article: ln.quantity for ln in got.order.lines} == {"BOX-S": 5}
    assert got.notices_to("Swift Haulage")[-1].kind == "order.changed"


def test_order_edit_refused_once_picked_up_says_why_and_changes_nothing(cli, depot, rows, new_order):
    n = new_order()
    for st in (Status.ACCEPTED, Status.PICKED_UP):
        set_status(depot, n, st)
    version = rows(depot, n).order.version
    rc, out, err = cli("order", "edit", n, "--parcels", "9", "--yes")
    assert rc == 1
    assert "the goods have left, so it can no longer be edited. Handle it as a return." in err
    assert f"dispatchdesk order return {n}" in err
    assert rows(depot, n).order.version == version


def test_order_edit_needs_something_to_change_and_good_values(cli, new_order):
    n = new_order()
    rc, _, err = cli("order", "edit", n, "--yes")
    assert rc == 2 and "Say what to change" in err
    rc, _, err = cli("order", "edit", n, "--pickup-after", "tomorrowish", "--yes")
    assert rc == 2 and "is not a date and time" in err
    rc, _, err = cli("order", "edit", n, "--parcels", "0", "--yes")
    assert rc == 1 and "Parcels must be a whole number from 1 to 9999." in err


def test_order_return_records_it_and_keeps_the_status(cli, depot, rows, new_order):
    n = new_order(source="Plain Client")
    for st in (Status.ACCEPTED, Status.PICKED_UP, Status.DELIVERED):
        set_status(depot, n, st)
    rc, out, err = cli("order", "return", n, "--reason", "damaged", "--line", "BOX-S=1",
                       "--comment", "Crushed", "--number", "RT-CLI-1", "--yes")
    assert rc == 0, err
    assert "Return number: RT-CLI-1." in out and "Coming back: BOX-S × 1." in out
    assert f"Return RT-CLI-1 registered on order {n} (BOX-S × 1); it stays Delivered." in out
    assert rows(depot, n).order.status == "delivered"
    with depot.uow(write=False) as uow:
        assert uow.session.scalars(select(Return.number)).all() == ["RT-CLI-1"]
    rc, out, _ = cli("order", "show", n)
    assert "Returns:" in out and "RT-CLI-1 DAMAGED" in out
    rc, _, err = cli("order", "return", n, "--reason", "broken", "--yes")
    assert rc == 2 and "unknown return reason 'broken'" in err


def test_the_return_is_in_the_export_and_the_report(cli, depot, new_order, tmp_path):
    import csv
    import json

    n = new_order(source="Plain Client")
    for st in (Status.ACCEPTED, Status.PICKED_UP, Status.DELIVERED):
        set_status(depot, n, st)
    assert cli("order", "return", n, "--reason", "wrong_article", "--line", "PALLET=1",
               "--number", "RT-5", "--yes")[0] == 0
    rc, out, err = cli("report")
    assert rc == 0, err
    assert "Returns per partner and reason" in out
    assert "Plain Client" in out.split("Returns per partner")[1] and "WRONG_ARTICLE" in out
    rc, out, _ = cli("report", "--json")
    assert json.loads(out)["returns"] == [
        {"partner": "Plain Client", "reason": "WRONG_ARTICLE", "returns": 1, "pieces": 1}]
    # the work counts still count the order as Delivered: a return changes no status
    assert json.loads(out)["work"]["Delivered"] == 1
    target = tmp_path / "out.csv"
    assert cli("export", "--format", "csv", "-o", str(target))[0] == 0
    (row,) = [r for r in csv.DictReader(target.open(encoding="utf-8-sig")) if r["Number"] == n]
    assert row["Returns"] == "RT-5 WRONG_ARTICLE: 1× PALLET"
    target = tmp_path / "out.json"
    assert cli("export", "--format", "json", "-o", str(target))[0] == 0
    (o,) = [o for o in json.loads(target.read_text())["orders"] if o["number"] == n]
    assert o["returns"][0]["number"] == "RT-5" and o["returns"][0]["lines"] == {"PALLET": 1}
