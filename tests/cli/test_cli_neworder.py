"""Issue 8 item 4: `dispatchdesk order new`, from flags or one JSON object on standard input,
prints the new number; what it wrote is read back from the database."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import pytest

from dispatchdesk.cli import main

pytestmark = pytest.mark.usefixtures("partners")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DISPATCHDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DISPATCHDESK_DB", raising=False)


@pytest.fixture
def cli(capsys, db_path, monkeypatch):
    def run(*args: str, stdin: str | None = None):
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        rc = main([*args, "--db", str(db_path)])
        cap = capsys.readouterr()
        return rc, cap.out, cap.err

    return run


def test_order_new_from_flags_prints_the_number(cli, depot, rows) -> None:
    rc, out, err = cli("order", "new", "--from", "plain", "--ref", "PO-1", "--pickup", "1 Depot Road",
                       "--delivery", "22 High Street", "--pickup-after", "14:00", "--deliver-by", "mon 8",
                       "--parcels", "2", "--weight", "7.5", "--line", "BOX-S=3 small boxes",
                       "--line", "PALLET=1", "--tag", "fragile", "--note", "call first")
    assert rc == 0, err
    number = out.strip()
    assert number.startswith("DD-") and "\n" not in number
    assert f"Order {number} created (Created), taken by phone from Plain Client" in err
    r = rows(depot, number)
    o = r.order
    assert o.status == "created" and o.source.name == "Plain Client" and o.partner_ref == "PO-1"
    assert o.parcels == 2 and o.weight_kg == 7.5 and [t.name for t in o.tags] == ["fragile"]
    assert [(ln.article, ln.quantity, ln.description) for ln in o.lines] == [
        ("BOX-S", 3, "small boxes"), ("PALLET", 1, "")]
    # the command line reads times on the machine's clock, in its zone
    now = datetime.now().astimezone()
    assert o.pickup_after.astimezone().strftime("%H:%M") == "14:00"
    assert timedelta(0) < o.pickup_after - now <= timedelta(days=1)
    assert o.deliver_by.astimezone().strftime("%a %H:%M") == "Mon 08:00"
    assert r.last.action == "taken by phone" and "Note: call first" in r.last.detail


def test_order_new_from_json_on_standard_input(cli, depot, rows) -> None:
    order = {"partner": "Shopfront", "partner_ref": "S-9", "pickup_address": "a", "delivery_address": "b",
             "pickup_after": "2025-03-15T10:00:00+00:00", "parcels": 3, "weight_kg": 2.25,
             "lines": [{"article": "MUG", "description": "blue", "quantity": 4}], "tags": ["gift"]}
    rc, out, err = cli("order", "new", "--json", stdin=json.dumps(order))
    assert rc == 0, err
    o = rows(depot, out.strip()).order
    assert o.source.name == "Shopfront" and o.parcels == 3 and o.weight_kg == 2.25
    assert [(ln.article, ln.quantity, ln.description) for ln in o.lines] == [("MUG", 4, "blue")]


def test_order_new_names_every_problem_and_writes_nothing(cli, depot, counts) -> None:
    before = counts(depot)
    rc, out, err = cli("order", "new", "--pickup", "a", "--parcels", "two", "--deliver-by", "soon")
    assert rc == 1 and out == ""
    assert "An own order needs the customer's name; or name the partner it comes from." in err
    assert "The delivery address is empty." in err and "Parcels must be a whole number, not 'two'." in err
    assert "Deliver by: 'soon' is not a time I can read" in err
    rc, out, err = cli("order", "new", "--json", stdin='{"pickup_address": "a", "status": "delivered"}')
    assert rc == 2 and "A new order has no key 'status'" in err
    rc, out, err = cli("order", "new", "--json", stdin="[1]")
    assert rc == 2 and "must be one JSON object" in err
    rc, out, err = cli("order", "new", "--json", "--pickup", "a", stdin="{}")
    assert rc == 2 and "not both" in err
    assert counts(depot) == before
