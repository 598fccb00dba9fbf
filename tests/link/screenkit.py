"""For the Link and Partners screen tests: a depot with notices in every state, built through
the services under a clock that stands still, and a tiny app that shows one screen.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from textual.app import App
from textual.pilot import Pilot

from dispatchdesk.services import (
    CancellationRequest,
    Depot,
    LineInput,
    OrderInput,
    PartnerInput,
    ReasonCode,
    add_partner,
    cancel,
    cancel_shipment,
    create_order,
    dispatch,
    receive,
    set_followup_done,
    set_setting,
    trash,
)
from dispatchdesk.services.outbox import Delivery, RetryPolicy, claim_due, record_result, skip
from dispatchdesk.store import Database
from dispatchdesk.store.models import FollowUp
from helpers import Clock, wait_for

# Snapshots show times; make them the same on every machine.
os.environ["TZ"] = "UTC"
time.tzset()

SECRET = "screen-test-secret-0001"
#: A partner name and an error answer made of what a terminal or Textual would act on.
ODD = "Evil\x1b[31m Red\x1b[0m \x1b]0;owned\x07[@click=app.quit]Trading[/] \u202eLTD"
ODD_ERROR = "HTTP 422 Unprocessable: \x1b[2J[@click=app.quit]boom[/] \u202eevil \x9b31m"
NO_JITTER = RetryPolicy(jitter=0.0)


@dataclass
class LinkDesk:
    depot: Depot
    clock: Clock
    path: Path
    numbers: dict[str, str]
    notices: dict[str, str]  # what -> notice id


def _order(d: Depot, source: str | None = None, ref: str | None = None) -> str:
    return create_order(d, OrderInput("1 Mill Lane, Leeds LS1", "4 Quay Side, Hull HU1", [LineInput("BOX", 2)],
                                      source=source, partner_ref=ref))


def _one(d: Depot, nid: str, delivery: Delivery) -> None:
    """Claim exactly this notice (it must be due) and record one attempt."""
    for c in claim_due(d, "screens", limit=50, lease_seconds=60):
        if c.id == nid:
            record_result(d, c.id, "screens", delivery, policy=NO_JITTER)
        else:
            from dispatchdesk.services.outbox import release_claims

            release_claims(d, "screens", [c.id])


def _latest(d: Depot, kind: str) -> str:
    from dispatchdesk.store.models import Notice

    with d.uow(write=False) as uow:
        return uow.session.scalars(select(Notice.id).where(Notice.kind == kind).order_by(Notice.created_at.desc())).first()


def build(path: Path) -> LinkDesk:
    clock = Clock()
    d = Depot(Database.open(path), actor="anna", clock=clock)
    set_setting(d, "depot_name", "Ridings Depot")
    set_setting(d, "undo_seconds", "10")
    partners = {
        "Swift Haulage": dict(role="subcontractor", url="http://127.0.0.1:9/swift", secret=SECRET + "a",
                              auto_trash=True),
        "Northwind Retail": dict(role="client", url="http://127.0.0.1:9/nw", secret=SECRET + "b",
                                 rejection_maps_to="created"),
        "Shopfront": dict(role="channel", url="http://127.0.0.1:9/shop", secret=SECRET + "c",
                          cancel_method="api-window", window_seconds=1800, reason_required=True),
        "Boxed Fulfilment": dict(role="warehouse", email="ops@boxed.example", cancel_method="email"),
        "Corner Bakery": dict(role="client", cancel_method="manual"),
        ODD: dict(role="subcontractor", url="http://127.0.0.1:9/odd", secret=SECRET + "d"),
    }
    for name, kw in partners.items():
        add_partner(d, PartnerInput(name=name, **kw))
    # Swift's hello (it has auto-trash on: issue 9 item 5) went out before these scenes
    from sqlalchemy import update

    from dispatchdesk.store.models import Partner

    with d.uow() as uow:
        uow.session.execute(update(Partner).values(hello_due=False))
        uow.commit()
    n: dict[str, str] = {}
    ids: dict[str, str] = {}

    # acknowledged: dispatched to Swift, sent, Swift answered (accepted)
    clock.advance(60)
    n["acked"] = _order(d)
    ids["acked"] = dispatch(d, n["acked"], "Swift Haulage").notices[0]
    _one(d, ids["acked"], Delivery.sent(200))
    receive(d, "Swift Haulage", {"id": "sw-1", "kind": "notice.answer", "notice": ids["acked"], "outcome": "accepted",
                                 "message": "Driver booked for 14:00."})
    # refused answer
    clock.advance(60)
    n["refused"] = _order(d)
    ids["refused"] = dispatch(d, n["refused"], "Swift Haulage").notices[0]
    _one(d, ids["refused"], Delivery.sent(200))
    receive(d, "Swift Haulage", {"id": "sw-2", "kind": "notice.answer", "notice": ids["refused"], "outcome": "refused",
                                 "message": "No lorry free on Friday."})
    # failed, with a hostile error answer, to the odd partner
    clock.advance(60)
    n["failed"] = _order(d)
    ids["failed"] = dispatch(d, n["failed"], ODD).notices[0]
    _one(d, ids["failed"], Delivery.failed(ODD_ERROR, status=422))
    # retrying: Shopfront is down
    clock.advance(60)
    n["retrying"] = _order(d, source="Shopfront", ref="SF-100")
    clock.advance(30)
    ids["retrying"] = trash(d, n["retrying"]).notices[0]
    clock.advance(10)
    _one(d, ids["retrying"], Delivery.retry("Cannot connect to Shopfront: Connection refused", retry_after=3600))
    # sent, no answer yet (status update to Northwind)
    clock.advance(60)
    n["sent"] = _order(d, source="Northwind Retail", ref="NW-7")
    dispatch(d, n["sent"], "Swift Haulage")
    clock.advance(5)
    receive(d, "Swift Haulage", {"id": "sw-3", "kind": "order.status", "order": "S-9", "your_ref": n["sent"],
                                 "status": "accepted"})
    ids["sent"] = _latest(d, "order.status")
    _one(d, ids["sent"], Delivery.sent(200))
    # e-mail cancellation to Boxed (queued, a follow-up to confirm)
    clock.advance(60)
    n["email"] = _order(d, source="Northwind Retail", ref="NW-8")
    dispatch(d, n["email"], "Boxed Fulfilment")
    # manual: a rejection to Corner Bakery is a follow-up
    clock.advance(60)
    n["manual"] = _order(d, source="Corner Bakery", ref="CB-1")
    trash(d, n["manual"])
    # skipped
    clock.advance(60)
    n["skipped"] = _order(d)
    ids["skipped"] = dispatch(d, n["skipped"], ODD).notices[0]
    _one(d, ids["skipped"], Delivery.failed("HTTP 400: unknown order", status=400))
    skip(d, ids["skipped"])
    # held: a revocation inside the undo window
    clock.advance(60)
    n["held"] = _order(d)
    _one(d, dispatch(d, n["held"], "Swift Haulage").notices[0], Delivery.sent(200))
    clock.advance(30)
    ids["held"] = cancel_shipment(d, n["held"]).notices[0]
    # an e-mail cancellation and its follow-up; one follow-up done
    clock.advance(2)
    cancel(d, n["email"], CancellationRequest(ReasonCode.DAMAGED, comment="Crushed."))
    with d.uow(write=False) as uow:
        first = uow.session.scalars(select(FollowUp.id).order_by(FollowUp.id)).first()
    if first is not None:
        set_followup_done(d, first)
    clock.advance(3)
    return LinkDesk(d, clock, path, n, ids)


class ScreenApp(App[None]):
    """Shows one screen the way the console does (same styles, header, relay text)."""

    def __init__(self, depot: Depot, make: Callable[[Depot], Any]) -> None:
        from dispatchdesk.tui.app import stylesheets

        # what the console loads at start; each screen and dialog brings its own stylesheet
        super().__init__(css_path=stylesheets())  # type: ignore[arg-type]
        self.depot = depot
        self.depot_name = "Ridings Depot"
        self.blink = False
        self.make = make
        self.opened: list[str] = []

    def relay_status(self) -> str:
        return "relay: idle · 3 waiting"

    def open_order(self, number: str) -> None:
        self.opened.append(number)

    def on_mount(self) -> None:
        self.push_screen(self.make(self.depot))


async def loaded(pilot: Pilot[Any], at_least: int = 1) -> Any:
    """Wait until the screen has applied `at_least` loads and no load or action is running."""
    from textual.worker import WorkerState

    await pilot.pause()

    def quiet() -> bool:
        screen = pilot.app.screen
        screen = getattr(screen, "loads", None) is not None and screen or pilot.app.screen_stack[1]
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers)
        return screen.loads >= at_least and not busy

    await wait_for(pilot, quiet, "the screen to load")
    await pilot.pause()
    return pilot.app.screen


def table_text(table: Any) -> list[list[str]]:
    """The plain text of every cell of a DataTable."""
    out = []
    for row in range(table.row_count):
        out.append([str(getattr(c, "plain", c)) for c in table.get_row_at(row)])
    return out
