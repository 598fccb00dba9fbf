"""The demo depot: partners of every role and setting, and about 300 orders in every status,
direction and mark, built through the services so that everything in it really happened.

    depot = Depot.open(path)
    build_demo(depot)            # refuses a depot that already has orders

Everything is deterministic (a seeded random generator and a clock that the builder moves),
except that by default the clock ends at the time of the build, so the orders' ages look
like a working day: the newest minutes old, the oldest a few weeks. Pass ``now=`` for a
byte-stable build (``python -m dispatchdesk.demo data/demo.json`` writes the JSON copy that
way).

The HTTP partners point at the demo simulator on 127.0.0.1, path ``/link/<slug>`` (see
:func:`demo_partners`), on a free port chosen for this demo and held for it until the
simulator takes it (:func:`reserve_port`, :func:`take_reserved_port`), so that two demos on
one machine do not clash; a byte-stable build (``now=``) uses :data:`DEMO_PARTNER_PORT`. The
console started with ``--demo`` runs the simulator there, so notices are delivered and
answered as a real partner would.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .domain import CancellationRequest, NoticeKind, ReasonCode, Status
from .link import DEMO_PARTNER_PORT
from .link.ports import reserve_port, take_reserved_port
from .services import (
    ERRORS,
    Depot,
    LineInput,
    OrderInput,
    PartnerInput,
    Refused,
    StorageError,
    add_document,
    add_partner,
    archive,
    cancel,
    cancel_shipment,
    create_order,
    dispatch,
    duplicate,
    queries,
    receive,
    refuse_cancel_request,
    reject,
    release_held_notices,
    request_cancellation,
    set_followup_done,
    set_setting,
    set_status,
    set_tags,
    trash,
    undo,
)
from .services.outbox import Delivery, RetryPolicy, claim_due, record_results, release_claims
from .services.queries import order_detail

__all__ = [
    "DEMO_EPOCH",
    "DEMO_PARTNER_PORT",
    "DemoPartner",
    "HOSTILE_PARTNER",
    "build_demo",
    "demo_partners",
    "demo_url",
    "reserve_port",
    "take_reserved_port",
]

#: The fixed "now" of the JSON copy in data/demo.json.
DEMO_EPOCH = datetime(2025, 6, 2, 16, 30, tzinfo=UTC)
SEED = 20250602


def demo_url(slug: str, port: int = DEMO_PARTNER_PORT) -> str:
    """The demo simulator's endpoint for one partner: http://127.0.0.1:<port>/link/<slug>."""
    return f"http://127.0.0.1:{port}/link/{slug}"


@dataclass(frozen=True)
class DemoPartner:
    """One demo partner: its slug (the simulator's path), what it shows, its settings."""

    slug: str
    about: str
    settings: PartnerInput

    @property
    def name(self) -> str:
        return self.settings.name


#: A partner whose name is made of what a terminal or Textual would act on, if shown raw:
#: ANSI colour and screen-clearing sequences, an OSC window title, Textual action markup,
#: a closing tag, a right-to-left override and 8-bit C1 controls.
HOSTILE_PARTNER = (
    "Evil\x1b[31m Red\x1b[0m \x1b]0;owned\x07[@click=app.quit]Trading[/] \u202eLTD\u009b2J"
)


def demo_partners(port: int = DEMO_PARTNER_PORT) -> list[DemoPartner]:
    """The demo's partners, one of every role and setting of SPEC 6; the HTTP ones point at
    the demo simulator on `port`."""

    def secret(slug: str) -> str:
        return f"demo-{slug}-shared-secret-2025"

    P = PartnerInput
    return [
        DemoPartner(
            "northline",
            "Subcontractor depot linked over HTTP; both depots agreed to auto-trash revoked orders.",
            P(
                "Northline Haulage",
                "subcontractor",
                url=demo_url("northline", port),
                secret=secret("northline"),
                auto_trash=True,
            ),
        ),
        DemoPartner(
            "baltic",
            "Client depot linked over HTTP; its rejections send our order back to Created, and "
            "its revocations are trashed here automatically.",
            P(
                "Baltic Freight Depot",
                "client",
                url=demo_url("baltic", port),
                secret=secret("baltic"),
                rejection_maps_to="created",
                auto_trash=True,
            ),
        ),
        DemoPartner(
            "shopwise",
            "Channel (marketplace) over HTTP: a reason is required and cancellations are taken "
            "only within 30 minutes of the order.",
            P(
                "Shopwise Marketplace",
                "channel",
                url=demo_url("shopwise", port),
                secret=secret("shopwise"),
                cancel_method="api-window",
                window_seconds=1800,
                reason_required=True,
            ),
        ),
        DemoPartner(
            "parcelkeep",
            "Fulfilment service reached only by e-mail: cancellations go by e-mail with a "
            "follow-up to confirm.",
            P(
                "Parcelkeep Fulfilment",
                "warehouse",
                email="ops@parcelkeep.example",
                cancel_method="email",
            ),
        ),
        DemoPartner(
            "eastgate",
            "Warehouse over HTTP that refuses a cancellation once picking has started; every "
            "cancellation is also checked on by a person.",
            P(
                "Eastgate Warehouse",
                "warehouse",
                url=demo_url("eastgate", port),
                secret=secret("eastgate"),
                follow_up_after_send=True,
            ),
        ),
        DemoPartner(
            "kowalski",
            "Subcontractor with no link at all: every notice becomes a follow-up; its "
            "rejections send our order back to Created.",
            P(
                "Kowalski Transport",
                "subcontractor",
                cancel_method="manual",
                rejection_maps_to="created",
            ),
        ),
        DemoPartner(
            "harbour",
            "Client that sends orders by e-mail; its revocations only flag the order "
            "(no auto-trash).",
            P(
                "Harbour Foods",
                "client",
                email="orders@harbourfoods.example",
                cancel_method="email",
            ),
        ),
        DemoPartner(
            "cornercrafts",
            "Small shop (channel) over HTTP that wants cancellations passed on to it.",
            P(
                "Corner Crafts Shop",
                "channel",
                url=demo_url("cornercrafts", port),
                secret=secret("cornercrafts"),
                pass_cancellations=True,
            ),
        ),
        DemoPartner(
            "hostile",
            "A client whose name, addresses and lines are crafted to attack the terminal: "
            "everything must show as plain text.",
            P(HOSTILE_PARTNER, "client", cancel_method="manual"),
        ),
    ]


# --------------------------------------------------------------------------- the builder

_ARTICLES = [
    ("PAL-EUR", "Euro pallet, mixed goods"),
    ("BOX-S", "Small box, 5 kg"),
    ("BOX-L", "Large box, 20 kg"),
    ("TYRE-17", "Car tyre, 17 inch"),
    ("FRIDGE-A", "Fridge, energy class A"),
    ("CHAIR-OAK", "Oak dining chair"),
    ("BOOK-SET", "Encyclopaedia, 12 volumes"),
    ("TV-55", "Television, 55 inch, fragile"),
    ("MED-KIT", "First-aid kits, carton of 10"),
    ("PAINT-10L", "Wall paint, 10 l tin"),
    ("BIKE-CITY", "City bike, boxed"),
    ("LAMP-DESK", "Desk lamp"),
    ("COFFEE-1K", "Coffee beans, 1 kg bag"),
    ("SOFA-3", "Three-seat sofa, wrapped"),
]

_STREETS = [
    "Mill Lane",
    "High Street",
    "Station Road",
    "Church Walk",
    "Quay Side",
    "Park Avenue",
    "Market Square",
    "Canal Street",
    "Victoria Road",
    "Orchard Close",
    "Dock Road",
    "King Street",
]
_TOWNS = [
    ("Leeds", "LS1"),
    ("York", "YO1"),
    ("Hull", "HU1"),
    ("Sheffield", "S1"),
    ("Bradford", "BD1"),
    ("Harrogate", "HG1"),
    ("Wakefield", "WF1"),
    ("Doncaster", "DN1"),
    ("Scarborough", "YO11"),
    ("Lincoln", "LN1"),
    ("Manchester", "M1"),
    ("Durham", "DH1"),
]
_COMPANIES = [
    "Acme Ltd",
    "J. Patel",
    "Greenleaf Garden Centre",
    "M. Okafor",
    "Riverside Café",
    "Bright Dental",
    "S. Novak",
    "Hillside School",
    "Nordic Interiors",
    "T. Brennan",
    "Parkway Motors",
    "L. Moreau",
]
_TAGS = ["express", "fragile", "cold chain", "two-man lift", "ADR", "call ahead", "VIP"]
_ACTORS = ["anna", "ben", "chris"]


class _Builder:
    def __init__(self, depot: Depot, now: datetime) -> None:
        self.d = depot
        self.end = now
        self.t = now
        self.rng = random.Random(SEED)
        self.msg_seq = 0
        self.ref_seq = 1000
        self.step = 0
        self.port = DEMO_PARTNER_PORT  # the simulator's, in the partners' URLs
        depot.clock = lambda: self.t

    # ---------------------------------------------------------------- helpers
    def at(self, t: datetime) -> None:
        self.t = min(t, self.end - timedelta(seconds=1)).replace(microsecond=0)
        self.step += 1
        self.d.actor = _ACTORS[self.step % len(_ACTORS)]

    def address(self) -> str:
        r = self.rng
        town, pc = r.choice(_TOWNS)
        return f"{r.choice(_COMPANIES)}, {r.randint(1, 180)} {r.choice(_STREETS)}, {town} {pc} {r.randint(1, 9)}AB"

    def lines(self, n: int | None = None) -> list[LineInput]:
        n = n or self.rng.choice([1, 1, 2, 2, 3, 4])
        picked = self.rng.sample(_ARTICLES, n)
        return [LineInput(a, self.rng.randint(1, 12), desc) for a, desc in picked]

    def ref(self, partner: str) -> str:
        self.ref_seq += 1
        prefix = "".join(w[0] for w in partner.split()[:2]).upper()
        return f"{prefix}-{self.ref_seq}"

    def msg(self, partner: str, kind: NoticeKind, **body: Any) -> Any:
        self.msg_seq += 1
        return receive(
            self.d, partner, {"id": f"demo-{self.msg_seq:05d}", "kind": kind.value, **body}
        )

    def new(
        self,
        start: datetime,
        *,
        source: str | None = None,
        tags: int = 0,
        lines: int | None = None,
        documents: list[tuple[str, str]] = (),
        backorders: list[tuple[str, int]] = (),  # type: ignore[assignment]
        **kw: Any,
    ) -> str:
        self.at(start)
        r = self.rng
        o = OrderInput(
            pickup_address=kw.pop("pickup", None) or self.address(),
            delivery_address=kw.pop("delivery", None) or self.address(),
            lines=kw.pop("line_inputs", None) or self.lines(lines),
            parcels=r.randint(1, 12),
            weight_kg=round(r.uniform(2, 900), 1),
            pickup_after=start + timedelta(hours=r.randint(1, 20)),
            deliver_by=start + timedelta(hours=r.randint(24, 72)),
            source=source,
            partner_ref=kw.pop("partner_ref", None) or (self.ref(source) if source else None),
            tags=r.sample(_TAGS, tags),
        )
        return create_order(self.d, o, documents=list(documents), backorders=list(backorders))

    def age(self, low_min: float, high_min: float) -> datetime:
        return (self.end - timedelta(minutes=self.rng.uniform(low_min, high_min))).replace(
            microsecond=0
        )

    def later(self, minutes: float) -> datetime:
        return (self.t + timedelta(minutes=minutes * self.rng.uniform(0.6, 1.4))).replace(
            microsecond=0
        )


def build_demo(depot: Depot, *, now: datetime | None = None, port: int | None = None) -> None:
    """Fill an empty depot with the demo partners and orders. Refuses a depot with orders.
    The HTTP partners point at the simulator on `port`: by default a free one, reserved for
    this process's simulator (DEMO_PARTNER_PORT in a byte-stable build, with `now`)."""
    n = queries.row_counts(depot)["orders"]
    if n:
        raise Refused(
            [
                f"The database {depot.db.where} already has {n} orders; the demo is built only "
                "into an empty depot. Choose a new file with --db."
            ]
        )
    end = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    saved_clock, saved_actor = depot.clock, depot.actor
    if port is None:
        port = DEMO_PARTNER_PORT if now is not None else reserve_port()
    b = _Builder(depot, end)
    b.port = port
    try:
        _build(b)
    except StorageError as e:
        # each step was its own transaction: say what the steps before the failing one left
        raise StorageError(_cut_short(depot, e)) from None
    finally:
        depot.clock, depot.actor = saved_clock, saved_actor


def _cut_short(depot: Depot, e: StorageError) -> str:
    """The sentence for a demo that stopped part-way: why, and exactly what it left."""
    cause = str(e).split(";", 1)[0].rstrip(".")
    cause = cause[:1].lower() + cause[1:]
    try:
        left = [(n, what) for what, n in queries.row_counts(depot).items()]
    except ERRORS:
        return (f"Building the demo depot stopped part-way: {cause}. Part of the demo may be in "
                f"{depot.db.where} (it could not be read back to say how much): delete that file and "
                "run `dispatchdesk init --demo` again once the problem is solved.")
    if not any(n for n, _ in left):
        return f"Building the demo depot stopped before it began: {cause}. Nothing was written."
    listed = ", ".join(f"{n} {what}" for n, what in left)
    return (f"Building the demo depot stopped part-way: {cause}. What it wrote before that is still in "
            f"{depot.db.where}: {listed} (with their audit entries); the rest of the demo was not "
            "written. Delete that file and run `dispatchdesk init --demo` again once the problem is solved.")


def _partners_names() -> dict[str, str]:
    return {p.slug: p.name for p in demo_partners()}


def add_demo_partners(depot: Depot, port: int = DEMO_PARTNER_PORT) -> list[str]:
    """Only the demo partners (so that data/demo.json or data/sample-import.json can be imported)."""
    names = []
    for p in demo_partners(port):
        names.append(add_partner(depot, p.settings))
        if p.settings.auto_trash and p.settings.url:
            # the linked depot agreed too (its hello): auto-trash acts only when both did
            receive(depot, p.settings.name, {"id": f"demo-hello-{p.slug}", "kind": "link.hello",
                                             "capabilities": {"auto_trash": True}})
    return names


def _build(b: _Builder) -> None:
    d, r = b.d, b.rng
    b.at(b.end - timedelta(days=30))
    add_demo_partners(d, b.port)
    set_setting(d, "depot_name", "Ridings Express Depot")
    set_setting(d, "undo_seconds", "10")
    P = _partners_names()
    clients = [P["baltic"], P["harbour"]]
    channels = [P["shopwise"], P["cornercrafts"]]
    senders = clients + channels
    subs = [P["northline"], P["kowalski"]]
    warehouses = [P["eastgate"], P["parcelkeep"]]
    takers = subs + warehouses
    doc_seq = [5000]

    def doc(kind: str) -> tuple[str, str]:
        doc_seq[0] += 1
        return (kind, f"{'DN' if kind == 'delivery_note' else 'INV'}-{doc_seq[0]}")

    def sent(number: str, partner: str, minutes: float = 20) -> None:
        b.at(b.later(minutes))
        dispatch(d, number, partner)

    def progress(number: str, partner: str | None, to: Status, minutes: float = 90) -> None:
        b.at(b.later(minutes))
        if partner is None:
            set_status(d, number, to)
        else:
            b.msg(partner, NoticeKind.STATUS, order=number, your_ref=number, status=to.value)

    def maybe(p: float) -> bool:
        return r.random() < p

    # --- Created: received, not yet sent on; own orders; some with documents and back-orders
    for i in range(34):
        src = senders[i % len(senders)]
        docs = [doc("invoice")] if i % 9 == 3 else []
        backs = [(_ARTICLES[i % len(_ARTICLES)][0], r.randint(1, 3))] if i % 7 == 5 else []
        b.new(b.age(6, 60 * 30), source=src, tags=int(maybe(0.3)), documents=docs, backorders=backs)
    for i in range(12):
        docs = [doc("delivery_note")] if i == 4 else []
        b.new(b.age(6, 60 * 48), tags=int(maybe(0.3)), documents=docs)

    # --- Dispatched: inbound orders passed on, and our own orders sent out
    for i in range(34):
        src = senders[i % 4] if i % 3 else None
        n = b.new(
            b.age(20, 60 * 50),
            source=src,
            tags=int(maybe(0.25)),
            backorders=[("BOX-S", 2)] if i == 7 else [],
        )
        sent(n, takers[i % len(takers)], minutes=r.uniform(2, 15))

    # --- Accepted, Picked up, Delivered: the partner reports, or our own driver
    for status, count, age_h in (
        (Status.ACCEPTED, 26, (1, 60)),
        (Status.PICKED_UP, 24, (3, 90)),
        (Status.DELIVERED, 44, (8, 24 * 25)),
    ):
        for i in range(count):
            src = senders[i % 4] if i % 4 != 3 else None
            own_driver = i % 5 == 4
            docs = [doc("delivery_note")] if status is Status.DELIVERED and i % 3 == 0 else []
            n = b.new(b.age(age_h[0] * 60, age_h[1] * 60), source=src, tags=int(maybe(0.3)))
            if own_driver:
                chain = [Status.ACCEPTED, Status.PICKED_UP, Status.DELIVERED]
                for st in chain[: chain.index(status) + 1]:
                    progress(n, None, st, minutes=40)
            else:
                taker = takers[i % len(takers)]
                sent(n, taker)
                chain = [Status.ACCEPTED, Status.PICKED_UP, Status.DELIVERED]
                steps = chain[: chain.index(status) + 1]
                if i % 2 == 0 and len(steps) > 1:
                    steps = steps[-1:]  # many partners report only where the goods are now
                for st in steps:
                    progress(n, taker, st)
            if docs or (status is Status.DELIVERED and i % 4 == 1):
                b.at(b.later(30))
                add_document(d, n, "delivery_note", doc("delivery_note")[1])
                if i % 2:
                    add_document(d, n, "invoice", doc("invoice")[1])
            if status is Status.DELIVERED and i % 3 == 2:
                b.at(b.later(60 * 24))
                archive(d, n)

    # --- Rejected by Trash: the client is told (and the subcontractor, if it had the order)
    for i in range(14):
        src = clients[i % 2] if i % 3 else channels[i % 2]
        n = b.new(b.age(60, 60 * 24 * 12), source=src)
        if i % 3 == 0:
            sent(n, subs[i % 2])
        b.at(b.later(30))
        trash(d, n)
        if i % 4 == 3:
            b.at(b.later(60 * 24))
            archive(d, n)

    # --- Rejected with plain Set status: partner not informed
    for i in range(6):
        n = b.new(b.age(60, 60 * 24 * 6), source=senders[i % 4])
        b.at(b.later(25))
        set_status(d, n, Status.REJECTED)

    # --- Rejected from order reception: with and without telling the buyer
    for i in range(8):
        n = b.new(b.age(30, 60 * 24 * 5), source=senders[i % 4])
        b.at(b.later(15))
        if i % 2:
            reject(
                d,
                n,
                notify_buyer=True,
                message="We cannot deliver to this address on the requested day.",
            )
        else:
            reject(d, n, notify_buyer=False)

    # --- Cancellations of channel orders (inside and outside Shopwise's 30-minute window)
    reasons = [
        ReasonCode.NOT_IN_STOCK,
        ReasonCode.DAMAGED,
        ReasonCode.INVALID_ADDRESS,
        ReasonCode.CLIENT_CANCELLED,
        ReasonCode.INCOMPLETE,
    ]
    for i in range(14):
        ch = channels[i % 2]
        n = b.new(b.age(60, 60 * 24 * 10), source=ch)
        b.at(b.later(10 if i % 3 == 0 else 90))
        reason = reasons[i % len(reasons)] if i % 7 else ReasonCode.OTHER
        cancel(
            d,
            n,
            CancellationRequest(
                reason,
                comment="Customer moved abroad."
                if reason is ReasonCode.OTHER
                else ("Sorry, the item is out of stock." if i % 2 else ""),
                internal_note="Checked with the stock list." if i % 4 == 0 else "",
            ),
        )
        if i % 5 == 4:
            b.at(b.later(60 * 24))
            archive(d, n)

    # --- Cancellations of orders forwarded to a warehouse: Eastgate answers (accepts or, once
    #     picking has started, refuses); Parcelkeep is e-mailed
    for i in range(12):
        ch = channels[i % 2]
        wh = warehouses[0] if i < 8 else warehouses[1]
        n = b.new(b.age(90, 60 * 24 * 8), source=ch)
        sent(n, wh)
        b.at(b.later(20))
        res = cancel(
            d,
            n,
            CancellationRequest(
                ReasonCode.NOT_IN_STOCK if i % 2 else ReasonCode.CLIENT_CANCELLED,
                comment="Please stop this order.",
            ),
        )
        if wh == P["eastgate"]:
            b.at(b.later(3))
            release_held_notices(d)
            notice = next(iter(res.notices), None)
            if notice is not None:
                b.at(b.later(5))
                if i % 3 == 2:
                    b.msg(
                        wh,
                        NoticeKind.ANSWER,
                        notice=notice,
                        outcome="refused",
                        message="Picking has started; the order will be handled as a return.",
                    )
                else:
                    b.msg(
                        wh,
                        NoticeKind.ANSWER,
                        notice=notice,
                        outcome="accepted",
                        message="Cancelled, nothing picked.",
                    )

    # --- Partial cancellations: the order stays open with the rest
    for _ in range(5):
        n = b.new(b.age(60, 60 * 24 * 3), source=channels[1], lines=3)
        b.at(b.later(10))
        first = order_detail(d, n).lines[0]
        cancel(
            d,
            n,
            CancellationRequest(
                ReasonCode.NOT_IN_STOCK,
                comment="One article is out of stock.",
                lines={first.article: 1},
            ),
        )

    # --- A client revokes: Baltic (auto-trash) is cancelled here at once; Harbour only flags
    for i in range(12):
        src = clients[i % 2]
        n = b.new(b.age(45, 60 * 24 * 4), source=src)
        if i % 3 == 1:
            sent(n, subs[0])
        b.at(b.later(40))
        ref = _partner_ref(d, n)
        b.msg(
            src,
            NoticeKind.REVOCATION,
            order=ref,
            your_ref=n,
            message="Our customer no longer needs it.",
        )

    # --- A channel's customer asks to cancel: untouched orders are cancelled at once, others flagged
    for i in range(10):
        ch = channels[i % 2]
        n = b.new(b.age(30, 60 * 24 * 2), source=ch)
        if i >= 4:
            sent(n, takers[i % 4])
        b.at(b.later(25))
        ref = _partner_ref(d, n)
        b.msg(
            ch,
            NoticeKind.CANCEL_REQUEST,
            order=ref,
            your_ref=n,
            message="Customer changed their mind.",
            lines={},
        )
        if i in (8, 9):
            b.at(b.later(5))
            try:
                progress(n, takers[i % 4], Status.ACCEPTED, minutes=5)
                progress(n, takers[i % 4], Status.PICKED_UP, minutes=30)
                b.at(b.later(5))
                refuse_cancel_request(d, n, "Already picked up; it will be handled as a return.")
            except ERRORS:
                pass

    # --- We take back shipments we sent (SPEC 4.1): revocations to the subcontractor
    for i in range(9):
        n = b.new(b.age(40, 60 * 24 * 3), source=senders[i % 4] if i % 2 else None)
        sent(n, subs[i % 2])
        if i % 3 == 0:
            progress(n, subs[i % 2], Status.ACCEPTED, minutes=15)
        b.at(b.later(30))
        cancel_shipment(d, n)

    # --- A subcontractor refuses our shipment: Northline -> Rejected; Kowalski -> back to Created
    for i in range(6):
        n = b.new(b.age(60, 60 * 24 * 5), source=clients[0] if i % 2 else None)
        sub = subs[i % 2]
        sent(n, sub)
        b.at(b.later(40))
        b.msg(
            sub, NoticeKind.REJECTION, order=n, your_ref=n, message="No driver free for that slot."
        )

    # --- We ask a warehouse to cancel an order a channel's customer called off
    for i in range(2):
        n = b.new(b.age(60, 60 * 24), source=channels[0])
        sent(n, warehouses[i])
        b.at(b.later(30))
        request_cancellation(d, n, "The customer cancelled; please stop picking.")

    # --- Duplicate as new: a rejected and a cancelled order sent again under new numbers
    finals = queries.order_numbers(d, statuses=(Status.REJECTED, Status.CANCELLED), archived=False,
                                   limit=4)
    for n in finals:
        b.at(b.later(60))
        duplicate(d, n)

    # --- Undo inside the window: the audit keeps both the action and its undo
    for i in range(3):
        n = b.new(b.age(30, 60 * 24), source=clients[i % 2])
        b.at(b.later(10))
        trash(d, n)
        b.at(b.t + timedelta(seconds=4))
        undo(d, n)

    # --- Checks refusing: orders with documents and back-orders in every working status
    for i, st in enumerate((Status.CREATED, Status.DISPATCHED, Status.ACCEPTED)):
        n = b.new(
            b.age(60, 60 * 24 * 2),
            source=senders[i],
            documents=[doc("invoice")],
            backorders=[("TV-55", 1)],
        )
        if st is not Status.CREATED:
            sent(n, subs[0])
        if st is Status.ACCEPTED:
            progress(n, subs[0], Status.ACCEPTED)

    # --- Tags on a few more orders, through the service
    some = queries.order_numbers(d, offset=5, limit=60)
    for n in some[::6]:
        b.at(b.later(1))
        set_tags(d, n, add=[r.choice(_TAGS)])

    # --- The hostile order: text that must show literally everywhere
    _hostile(b)

    # --- The outbox as the relay would have left it: old notices delivered and answered,
    #     some failed after every retry, the newest still waiting
    _settle_outbox(b)


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _partner_ref(d: Depot, number: str) -> str:
    return queries.partner_ref(d, number) or number


def _hostile(b: _Builder) -> None:
    d = b.d
    esc = "\x1b"
    lines = [
        LineInput(
            "EVIL-1", 2, f"{esc}[5mblink{esc}[0m [bold red]not markup[/] \u009b31mC1 CSI\u0085next"
        ),
        LineInput(
            "[@click=app.quit]", 1, "[link=https://evil.example]click me[/link] \u202eelbat\u202c"
        ),
    ]
    n = b.new(
        b.age(15, 50),
        source=HOSTILE_PARTNER,
        pickup=f"{esc}[2J{esc}[H13 Quay Side, {esc}]0;owned{esc}\\Hull HU1",
        delivery="[@click=app.quit]Quit[/] Road, \u202eYork\u202c YO1 \u0090DCS\u009c",
        line_inputs=lines,
        partner_ref=f"\u202eREF-{esc}[31m666",
    )
    b.at(b.later(2))
    set_tags(d, n, add=["[@click=app.quit]", "[/]"])
    # a second one, already trashed, so the hostile text is in the Rejected list and the audit too
    n2 = b.new(
        b.age(60, 120),
        source=HOSTILE_PARTNER,
        delivery=f"{esc}[1;31mRED{esc}[0m Lane, Leeds LS1",
        partner_ref="EVIL-2",
    )
    b.at(b.later(5))
    trash(d, n2)


def _settle_outbox(b: _Builder) -> None:
    """Older notices: delivered (a few failed after every retry) and answered, the way the relay
    and the partners would have done it, through the outbox's and receive()'s services; the
    notices of the last two hours still wait for the relay."""
    d = b.d
    recent = b.end - timedelta(hours=2)
    rows = queries.waiting_notices(d)  # when each notice was made, to deliver it 12 s later
    old = [r for r in rows if _utc(r[2]) < recent]
    failing = {nid for i, (nid, transport, _) in enumerate(old) if transport == "http" and i % 11 == 5}
    failing = set(sorted(failing, key=[r[0] for r in old].index)[:6])
    worker = "demo-relay"
    refused = f"Connection refused by 127.0.0.1:{DEMO_PARTNER_PORT}"
    # eight attempts, then given up (the real schedule spreads them over 33 hours)
    policy = RetryPolicy(delays=(0.0,) * 7, jitter=0.0)
    answers: list[tuple[str, str, datetime]] = []
    # the relay's cycles: one at the end of every hour of the history with something to send
    # (a cycle per notice would be truer to the minute and twice as slow to build)
    steps = sorted({_utc(c).replace(minute=0, second=0) for _, _, c in old})
    for i, step in enumerate(steps):
        b.t = step + timedelta(hours=1, seconds=12)
        last = i == len(steps) - 1
        while True:
            claimed = claim_due(d, worker, limit=1000)
            results: list[tuple[str, Delivery]] = []
            for c in claimed:
                if _utc(c.created_at) >= recent:
                    continue
                if c.id in failing:
                    results.append((c.id, Delivery.retry(refused, contacted=False)))
                    continue
                results.append((c.id, Delivery.sent(200)))
                if c.transport.value == "http" and c.kind != NoticeKind.ANSWER.value:
                    answers.append((c.id, c.partner, b.t + timedelta(minutes=2)))
            record_results(d, worker, results, policy=policy)
            back = [c.id for c in claimed if _utc(c.created_at) >= recent]
            if back:
                release_claims(d, worker, back)
            # again at once only for the failing ones' next attempts (and, at the end, for the
            # notices that waited behind one sent in this cycle); the rest go next cycle
            if not results or not (last or any(nid in failing for nid, _ in results)):
                break
    b.at(b.end - timedelta(seconds=30))
    release_held_notices(d)
    # the partners' business answers, each a message through receive()
    waits = queries.awaiting_answer(d, [a[0] for a in answers])
    # the partners' business answers to every other notice (the rest were taken without one)
    for nid, partner, when in [a for a in answers if a[0] not in waits][::2]:
        b.t = min(when, b.end - timedelta(seconds=25))
        try:
            b.msg(partner, NoticeKind.ANSWER, notice=nid, outcome="accepted", message="OK")
        except ERRORS:
            pass
    # some follow-ups already done by a dispatcher
    fids = queries.open_followup_ids(d)
    b.at(b.end - timedelta(seconds=20))
    for fid in fids[::3]:
        set_followup_done(d, fid)


# --------------------------------------------------------------------------- the JSON copy


def write_demo_json(path: str) -> int:
    """Build the demo at DEMO_EPOCH in a temporary database and export it to ``path``."""
    import tempfile
    from pathlib import Path

    from .services.export import export_json, write_json

    with tempfile.TemporaryDirectory() as tmp:
        depot = Depot.open(Path(tmp) / "demo.db", actor="demo")
        try:
            build_demo(depot, now=DEMO_EPOCH)
            depot.clock = lambda: DEMO_EPOCH
            data = export_json(depot)
        finally:
            depot.close()
    write_json(data, path)
    return len(data["orders"])


def main(argv: list[str] | None = None) -> int:
    """``python -m dispatchdesk.demo data/demo.json``: write the demo's JSON copy."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m dispatchdesk.demo OUTPUT.json", file=sys.stderr)
        return 2
    n = write_demo_json(args[0])
    print(f"Wrote the demo depot ({n} orders) to {args[0]}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
