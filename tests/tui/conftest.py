"""Fixtures for the console's tests: a depot in tmp_path, filled through the services with a
fixed set of orders (every list, every mark, and one order full of hostile text), under a
clock that stands still so ages and times in snapshots never move.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dispatchdesk import services
from dispatchdesk.services import (
    Depot,
    LineInput,
    OrderInput,
    PartnerInput,
    Status,
    add_document,
    add_partner,
    create_order,
    receive,
)
from dispatchdesk.store import Database
from helpers import Clock

# Snapshots show times; make them the same on every machine.
os.environ["TZ"] = "UTC"
time.tzset()

SECRET = "tui-test-secret-0123456789"

#: Text a hostile partner could send: colour, clear screen, a window title (OSC), C1
#: controls, a bidi override, and markup that would run an action or break the parser.
ODD = "\x1b[31mRED\x1b[0m\x1b[2J\x1b]0;pwned\x07\x9b1m\x85\u202eevil\u202c[@click=app.quit]x[/] [b]"
#: (The services fold runs of white space in a partner's name, and NEL is white space.)
ODD_PARTNER = " ".join(("Evil " + ODD).split())
ODD_NUMBER = "DD-000666"


@dataclass
class Desk:
    """The seeded depot and the numbers of its orders, by what they are for."""

    depot: Depot
    clock: Clock
    path: Path
    numbers: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.numbers[name]

    def other_session(self, actor: str = "colleague") -> Depot:
        """A second session on the same database (another dispatcher)."""
        return Depot(Database.open(self.path), actor=actor, clock=self.clock)


PARTNERS = {
    "Swift Haulage": dict(role="subcontractor", url="http://127.0.0.1:9/swift", secret=SECRET + "a"),
    "Northwind Retail": dict(role="client", url="http://127.0.0.1:9/nw", secret=SECRET + "b"),
    "Shopfront": dict(role="channel", url="http://127.0.0.1:9/shop", secret=SECRET + "c",
                      cancel_method="api-window", window_seconds=1800),
    "Central Warehouse": dict(role="warehouse", url="http://127.0.0.1:9/wh", secret=SECRET + "d"),
    "Corner Bakery": dict(role="client", cancel_method="manual"),
    "Van Man": dict(role="subcontractor", cancel_method="manual"),
    ODD_PARTNER: dict(role="client", url="http://127.0.0.1:9/odd", secret=SECRET + "e"),
}

TOWNS = [("1 Depot Road, Leeds LS1 1AA", "22 High Street, York YO1 7HU"),
         ("5 Mill Lane, Bradford BD1 2QT", "9 Station Road, Harrogate HG1 1TB"),
         ("14 Quay Side, Hull HU1 1AA", "3 Market Place, Wakefield WF1 1DH")]


def seed(depot: Depot, clock: Clock) -> dict[str, str]:
    """The fixed data set. Each order is made 7 minutes after the one before."""
    for name, settings in PARTNERS.items():
        add_partner(depot, PartnerInput(name=name, **settings))
    n: dict[str, str] = {}
    count = 0

    def order(name: str, *, source: str | None = None, lines: dict[str, int] | None = None,
              pickup: str | None = None, delivery: str | None = None, number: str | None = None,
              descriptions: dict[str, str] | None = None) -> str:
        nonlocal count
        count += 1
        clock.advance(7 * 60)
        p, d = TOWNS[count % len(TOWNS)]
        lines = {"BOX-S": 2, "PALLET": 1} if lines is None else lines
        descriptions = descriptions or {}
        n[name] = create_order(depot, OrderInput(
            pickup_address=pickup or p, delivery_address=delivery or d,
            lines=[LineInput(a, q, descriptions.get(a, f"{a.lower()} of goods")) for a, q in lines.items()],
            parcels=3, weight_kg=12.5, source=source,
            partner_ref=f"REF-{count:03d}" if source else None, number=number))
        return n[name]

    order("created_inbound", source="Northwind Retail")
    order("created_own")
    services.dispatch(depot, order("dispatched"), "Swift Haulage")
    services.dispatch(depot, order("dispatched_manual", source="Corner Bakery"), "Van Man")
    services.dispatch(depot, order("accepted"), "Swift Haulage")
    services.set_status(depot, n["accepted"], Status.ACCEPTED)
    services.dispatch(depot, order("picked_up"), "Swift Haulage")
    services.set_status(depot, n["picked_up"], Status.ACCEPTED)
    services.set_status(depot, n["picked_up"], Status.PICKED_UP)
    order("delivered")
    services.set_status(depot, n["delivered"], Status.ACCEPTED)
    services.set_status(depot, n["delivered"], Status.PICKED_UP)
    services.set_status(depot, n["delivered"], Status.DELIVERED)
    order("shop", source="Shopfront", lines={"MUG": 4, "TEAPOT": 1})
    order("invoiced", source="Northwind Retail")
    add_document(depot, n["invoiced"], "invoice", "INV-2025-0042")
    order("rejected", source="Northwind Retail")
    services.trash(depot, n["rejected"])
    order("cancelled", source="Corner Bakery")
    services.cancel(depot, n["cancelled"], services.CancellationRequest(services.ReasonCode.DAMAGED))
    order("archived")
    services.set_status(depot, n["archived"], Status.ACCEPTED)
    services.archive(depot, n["archived"])
    order("requested", source="Northwind Retail")
    receive(depot, "Northwind Retail", {"id": "msg-1", "kind": "order.revoked", "order": "REF-013"})
    order("silent", source="Northwind Retail")
    services.set_status(depot, n["silent"], Status.REJECTED)
    order("odd", source=ODD_PARTNER, pickup="1 " + ODD + ", Leeds", delivery="2 Road, " + ODD,
          lines={"ODD" + ODD[:12]: 2}, descriptions={"ODD" + ODD[:12]: ODD}, number=ODD_NUMBER)
    # every held notice has left the undo window by the time the board is shown
    clock.advance(3600)
    services.release_held_notices(depot)
    return n


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    clock = Clock()
    path = tmp_path / "depot.sqlite"
    depot = Depot(Database.open(path), actor="dispatcher", clock=clock)
    numbers = seed(depot, clock)
    yield Desk(depot, clock, path, numbers)
    depot.close()
