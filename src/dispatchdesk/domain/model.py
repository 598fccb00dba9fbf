"""The vocabulary of a depot: statuses, roles, partner settings, reason codes.

Plain Python only: no database, no screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    CREATED = "created"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @classmethod
    def parse(cls, text: str) -> Status:
        """Accept 'picked_up', 'Picked up', 'picked-up', 'PICKED UP'."""
        key = text.strip().lower().replace("-", "_").replace(" ", "_")
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown status {text!r}; the statuses are: {names}") from None


_STATUS_LABELS = {
    Status.CREATED: "Created",
    Status.DISPATCHED: "Dispatched",
    Status.ACCEPTED: "Accepted",
    Status.PICKED_UP: "Picked up",
    Status.DELIVERED: "Delivered",
    Status.REJECTED: "Rejected",
    Status.CANCELLED: "Cancelled",
}

TERMINAL = frozenset({Status.REJECTED, Status.CANCELLED})
#: The lists on the tab Dispatch, left to right.
WORKING = (Status.CREATED, Status.DISPATCHED, Status.ACCEPTED, Status.PICKED_UP, Status.DELIVERED)
#: Every list, as on the tab All information.
ALL_STATUSES = tuple(Status)
#: Statuses in which the goods are moving or have arrived.
GOODS_MOVED = frozenset({Status.PICKED_UP, Status.DELIVERED})


class Direction(StrEnum):
    INBOUND = "inbound"  # received from a client or a channel
    OUTBOUND = "outbound"  # sent to a subcontractor or forwarded to a warehouse
    OWN = "own"  # entered here, not linked


class Role(StrEnum):
    CLIENT = "client"
    SUBCONTRACTOR = "subcontractor"
    CHANNEL = "channel"
    WAREHOUSE = "warehouse"

    @property
    def sends_us_orders(self) -> bool:
        return self in (Role.CLIENT, Role.CHANNEL)

    @property
    def takes_our_orders(self) -> bool:
        return self in (Role.SUBCONTRACTOR, Role.WAREHOUSE)


class LinkKind(StrEnum):
    HTTP = "http"
    EMAIL = "email"
    NONE = "none"


class CancelMethod(StrEnum):
    API = "api"  # sent at once
    API_WINDOW = "api-window"  # sent only within N seconds of dispatch, else a follow-up
    EMAIL = "email"  # e-mail plus a follow-up to confirm
    MANUAL = "manual"  # follow-up only
    #: by API within N seconds of dispatch, after that by e-mail (plus a follow-up to confirm)
    API_WINDOW_THEN_EMAIL = "api-window-then-email"

    @property
    def has_window(self) -> bool:
        return self in (CancelMethod.API_WINDOW, CancelMethod.API_WINDOW_THEN_EMAIL)


class RejectionMapsTo(StrEnum):
    REJECTED = "rejected"
    CREATED = "created"


class ReasonCode(StrEnum):
    NOT_IN_STOCK = "NOT_IN_STOCK"
    DAMAGED = "DAMAGED"
    INCOMPLETE = "INCOMPLETE"
    CLIENT_CANCELLED = "CLIENT_CANCELLED"
    INVALID_ADDRESS = "INVALID_ADDRESS"
    OTHER = "OTHER"

    @classmethod
    def parse(cls, text: str) -> ReasonCode:
        key = text.strip().upper().replace("-", "_").replace(" ", "_")
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise ValueError(f"unknown reason code {text!r}; the codes are: {names}") from None


class Transport(StrEnum):
    HTTP = "http"
    EMAIL = "email"
    MANUAL = "manual"  # nothing is sent: a follow-up for a person instead


class NoticeKind(StrEnum):
    """What a notice tells the partner. These are also the kinds of the link messages."""

    ORDER = "order.new"  # here is an order for you
    REVOCATION = "order.revoked"  # we take back the shipment we sent you (SPEC 4.1)
    REJECTION = "order.rejected"  # we refuse the order you sent us (SPEC 4.3)
    CANCELLATION = "order.cancellation"  # we cancel (all or some lines) (SPEC 4.4)
    STATUS = "order.status"  # the order moved on (accepted, picked up, delivered)
    CANCEL_REQUEST = "order.cancel_request"  # your customer asks to cancel (SPEC 4.6)
    CANCEL_REQUEST_REFUSED = "order.cancel_request_refused"  # we cannot cancel it any more
    ANSWER = "notice.answer"  # our business answer to one of your notices
    CHANGED = "order.changed"  # we corrected the order before pickup (SPEC 4.10)
    RETURN = "order.return"  # goods of the order come back (SPEC 4.11)
    HELLO = "link.hello"  # what this depot agrees to on the link (sent on link start and change)

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]

    @property
    def undoable(self) -> bool:
        """Cancellation and rejection notices are held for the undo window (SPEC 4.7)."""
        return self in (NoticeKind.REVOCATION, NoticeKind.REJECTION, NoticeKind.CANCELLATION)


_KIND_LABELS = {
    NoticeKind.ORDER: "order",
    NoticeKind.REVOCATION: "revocation",
    NoticeKind.REJECTION: "rejection",
    NoticeKind.CANCELLATION: "cancellation",
    NoticeKind.STATUS: "status update",
    NoticeKind.CANCEL_REQUEST: "cancellation request",
    NoticeKind.CANCEL_REQUEST_REFUSED: "refusal of a cancellation request",
    NoticeKind.ANSWER: "answer",
    NoticeKind.CHANGED: "change",
    NoticeKind.RETURN: "return",
    NoticeKind.HELLO: "hello",
}


class NoticeState(StrEnum):
    HELD = "held"  # inside the undo window; never sent
    QUEUED = "queued"  # due for delivery (now or at next_attempt_at)
    SENT = "sent"  # the partner's transport said yes
    ACKNOWLEDGED = "acknowledged"  # the partner's business answer came (accepted or refused)
    FAILED = "failed"  # retries exhausted or refused outright; retry or skip by hand
    FOLLOW_UP = "follow-up"  # not sent automatically; a person must do it
    WITHDRAWN = "withdrawn"  # undone inside the window
    SKIPPED = "skipped"  # a dispatcher gave up on it by hand

    @property
    def waiting(self) -> bool:
        return self in (NoticeState.HELD, NoticeState.QUEUED, NoticeState.SENT)


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"


class DocumentKind(StrEnum):
    DELIVERY_NOTE = "delivery_note"
    INVOICE = "invoice"

    @property
    def label(self) -> str:
        return "delivery note" if self is DocumentKind.DELIVERY_NOTE else "invoice"


class Mark(StrEnum):
    """The marks a card shows (SPEC 5). The symbol legend lives with the screen."""

    CANCELLATION_REQUESTED = "cancellation requested"
    NOTICE_WAITING = "notice waiting"
    PARTNER_ACKNOWLEDGED = "partner acknowledged"
    NOTICE_FAILED = "notice failed"
    PARTNER_NOT_INFORMED = "partner not informed"
    FOLLOW_UP_OPEN = "follow-up open"
    CANCELLATION_REFUSED = "cancellation refused"


@dataclass(frozen=True)
class PartnerFacts:
    """What the rules need to know of a partner."""

    name: str
    role: Role
    link: LinkKind = LinkKind.NONE
    cancel_method: CancelMethod = CancelMethod.API
    window_seconds: int = 0
    reason_required: bool = False
    follow_up_after_send: bool = False
    auto_trash: bool = False
    rejection_maps_to: RejectionMapsTo = RejectionMapsTo.REJECTED
    pass_cancellations: bool = False
    link_stopped: bool = False  # the partner answered 410 Gone: nothing more is sent
    has_email: bool = False  # an e-mail address is known (api-window-then-email uses it)
    #: how long we wait for this partner's business answer (a warehouse's yes or no to a
    #: cancellation) before a follow-up asks a person to chase it; 0 = no limit
    answer_within_seconds: int = 1800
    #: the reason code a trash or reject of this partner's orders carries unless one is chosen
    reject_reason: ReasonCode | None = None


@dataclass(frozen=True)
class LineFacts:
    article: str
    quantity: int
    cancelled: int = 0

    @property
    def open_quantity(self) -> int:
        return self.quantity - self.cancelled


@dataclass(frozen=True)
class OrderFacts:
    """What the rules need to know of an order."""

    number: str
    status: Status
    source: PartnerFacts | None = None  # the client or channel that sent it to us
    assignee: PartnerFacts | None = None  # the subcontractor or warehouse we sent it to
    documents: tuple[DocumentKind, ...] = ()
    backorders: int = 0
    archived: bool = False
    untouched: bool = False  # nobody here has acted on it since it arrived
    dispatched_at: datetime | None = None
    received_at: datetime | None = None
    lines: tuple[LineFacts, ...] = field(default=())

    @property
    def direction(self) -> Direction:
        if self.source is not None:
            return Direction.INBOUND
        if self.assignee is not None:
            return Direction.OUTBOUND
        return Direction.OWN
