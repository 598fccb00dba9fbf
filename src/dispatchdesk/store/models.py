"""SQLAlchemy 2 typed models. One database = one depot.

Timestamps are stored timezone-aware in UTC (`UTCDateTime` normalises what SQLite hands back).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false, text

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime that always comes back aware, in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class DepotMeta(Base):
    """One row: the depot's counters and the change sequence other sessions watch."""

    __tablename__ = "depot"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="Depot")
    change_seq: Mapped[int] = mapped_column(Integer, default=0)
    next_order_seq: Mapped[int] = mapped_column(Integer, default=1)
    next_cancellation_seq: Mapped[int] = mapped_column(Integer, default=1)
    order_prefix: Mapped[str] = mapped_column(String(20), default="DD")
    #: goes up with every change to the automation rules: an action reads it with its order
    #: and keeps the rules it parsed while it stays the same (issue 14)
    rules_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Partner(Base):
    __tablename__ = "partners"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    link: Mapped[str] = mapped_column(String(10), default="none")
    url: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(320))
    cancel_method: Mapped[str] = mapped_column(String(30), default="api")
    window_seconds: Mapped[int] = mapped_column(Integer, default=0)
    reason_required: Mapped[bool] = mapped_column(Boolean, default=False)
    follow_up_after_send: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_trash: Mapped[bool] = mapped_column(Boolean, default=False)
    rejection_maps_to: Mapped[str] = mapped_column(String(20), default="rejected")
    pass_cancellations: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the reason code a trash or reject of this partner's orders carries unless one is chosen
    reject_reason: Mapped[str | None] = mapped_column(String(30))
    link_stopped: Mapped[bool] = mapped_column(Boolean, default=False)
    #: how long we wait for this partner's business answer before a follow-up chases it
    answer_within_seconds: Mapped[int] = mapped_column(Integer, default=1800, server_default="1800")
    #: what a linked depot told us in its last hello: does it agree to auto-trash (SPEC 4.2, 7)
    peer_auto_trash: Mapped[bool | None] = mapped_column(Boolean)
    peer_hello_at: Mapped[datetime | None]
    #: since when both sides agree to auto-trash (None: not both)
    auto_trash_agreed_at: Mapped[datetime | None]
    #: our hello to them is due (the link started, or what we agree to changed): the relay sends it
    hello_due: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_contact_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(50), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), index=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    partner_ref: Mapped[str | None] = mapped_column(String(100))
    pickup_address: Mapped[str] = mapped_column(Text, default="")
    delivery_address: Mapped[str] = mapped_column(Text, default="")
    pickup_after: Mapped[datetime | None]
    deliver_by: Mapped[datetime | None]
    parcels: Mapped[int] = mapped_column(Integer, default=1)
    weight_kg: Mapped[float] = mapped_column(default=0.0)
    archived: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    cancellation_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cancellation_request: Mapped[dict[str, Any] | None]  # {"lines": {article: qty}, "message": ...}
    partner_not_informed: Mapped[bool] = mapped_column(Boolean, default=False)
    cancellation_refused: Mapped[str | None] = mapped_column(Text)  # a warehouse's refusal
    reject_reason: Mapped[str | None] = mapped_column(String(30))  # the reason code it was rejected with
    partner_status: Mapped[str | None] = mapped_column(String(20))
    partner_status_at: Mapped[datetime | None]
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    source: Mapped[Partner | None] = relationship(foreign_keys=[source_id], lazy="joined")
    assignee: Mapped[Partner | None] = relationship(foreign_keys=[assignee_id], lazy="joined")
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.lineno", cascade="all, delete-orphan"
    )
    documents: Mapped[list[Document]] = relationship(cascade="all, delete-orphan")
    backorders: Mapped[list[Backorder]] = relationship(cascade="all, delete-orphan")
    tags: Mapped[list[Tag]] = relationship(cascade="all, delete-orphan", order_by="Tag.name")
    replaces: Mapped[Order | None] = relationship(remote_side=[id])

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_orders_source_ref", "source_id", "partner_ref"),
        # each status list reads its first page in this order without sorting the whole list
        Index("ix_orders_board", "status", "status_changed_at", "id"),
        # the list Archived in the same order, without sorting every archived order (0008)
        Index("ix_orders_archived_board", "status_changed_at", "id",
              sqlite_where=text("archived IS 1"), postgresql_where=text("archived IS true")),
    )


class OrderLine(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    lineno: Mapped[int] = mapped_column(Integer)
    article: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    quantity: Mapped[int] = mapped_column(Integer)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    order: Mapped[Order] = relationship(back_populates="lines")
    __table_args__ = (UniqueConstraint("order_id", "article"),)


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Backorder(Base):
    __tablename__ = "backorders"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    article: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    __table_args__ = (UniqueConstraint("order_id", "name"),)


class AuditEntry(Base):
    """Append-only: who did what to which order, from which state to which."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    notices: Mapped[list[Any]] = mapped_column(default=list)  # notice ids caused
    followups: Mapped[list[Any]] = mapped_column(default=list)  # follow-up ids created
    before: Mapped[dict[str, Any] | None]  # the order as it was, for undo
    after_version: Mapped[int | None] = mapped_column(Integer)
    undoable_until: Mapped[datetime | None]
    undone_by: Mapped[int | None] = mapped_column(Integer)
    undo_of: Mapped[int | None] = mapped_column(Integer)


class Notice(Base):
    """The outbox: a message to a partner, written in the same transaction as its action."""

    __tablename__ = "notices"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    transport: Mapped[str] = mapped_column(String(10))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(20), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # per order: notices go out in this order
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    release_at: Mapped[datetime | None]  # end of the undo window
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20))
    answer: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    awaits_answer: Mapped[bool] = mapped_column(Boolean, default=False)
    #: sent and awaiting the partner's answer: when a follow-up chases it (then cleared)
    answer_due_at: Mapped[datetime | None]

    partner: Mapped[Partner] = relationship(lazy="joined")
    order: Mapped[Order | None] = relationship()
    __table_args__ = (
        UniqueConstraint("order_id", "seq"),
        Index("ix_notices_due", "state", "next_attempt_at"),
        # the relay's "no earlier notice to this partner still open" check, index-only
        Index("ix_notices_order_partner_seq", "order_id", "partner_id", "seq"),
    )


class FollowUp(Base):
    """A task for a person: phone the partner, cancel at the shop too, confirm an e-mail."""

    __tablename__ = "followups"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    notice_id: Mapped[str | None] = mapped_column(ForeignKey("notices.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(100))
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)

    partner: Mapped[Partner | None] = relationship(lazy="joined")
    order: Mapped[Order | None] = relationship()
    notice: Mapped[Notice | None] = relationship()  # so a flush writes the notice first


class Cancellation(Base):
    __tablename__ = "cancellations"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(100), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    reason: Mapped[str | None] = mapped_column(String(30))
    comment: Mapped[str] = mapped_column(Text, default="")
    internal_note: Mapped[str] = mapped_column(Text, default="")
    lines: Mapped[dict[str, Any]]  # article -> quantity
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20))  # done, pending, refused, undone
    answer: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    #: a partner's cancellation (or revocation) whose answer waits for a warehouse's: who sent
    #: it and the id of their message, answered once the warehouse has
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    request_message_id: Mapped[str | None] = mapped_column(String(100))


class ReceivedMessage(Base):
    """Ids of partners' messages already applied, so a repeat is applied once. An id is unique
    per partner (two partners may well use the same id); the result keeps the body's digest,
    written in the same transaction as the message, so a reused id with another body is a replay."""

    __tablename__ = "received_messages"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    result: Mapped[dict[str, Any] | None]
    __table_args__ = (PrimaryKeyConstraint("partner_id", "id"),)


class Return(Base):
    """Goods of a Picked up or Delivered order coming back (SPEC 4.11). Never changes the
    order's status. `reported_by_id` is the partner whose notice recorded it (None: here)."""

    __tablename__ = "returns"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(100), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    reason: Mapped[str] = mapped_column(String(30))
    comment: Mapped[str] = mapped_column(Text, default="")
    lines: Mapped[dict[str, Any]]  # article -> quantity
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))

    reported_by: Mapped[Partner | None] = relationship(lazy="joined")


class Console(Base):
    """Presence: one row per console (or relay worker) on the depot, renewed by its heartbeat.

    Written outside the unit of work: a heartbeat never bumps the change sequence. A row whose
    `seen_at` is older than a few heartbeats is stale (its process is gone) and is pruned."""

    __tablename__ = "consoles"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    #: "console" (a dispatcher's screen) or "relay" (a `dispatchdesk relay` worker)
    kind: Mapped[str] = mapped_column(String(10), default="console")
    #: the dispatcher, as the audit names them (Depot.actor)
    who: Mapped[str] = mapped_column(String(100))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: the order whose detail or confirm this console has open
    open_order: Mapped[str | None] = mapped_column(String(50))
    #: the screen shown ("dispatch", "reception"...) or, for a relay, its state
    screen: Mapped[str | None] = mapped_column(String(50))
    #: a relay's worker id (its notice claims' claimed_by) and endpoint
    detail: Mapped[str | None] = mapped_column(String(300))


class AutomationRule(Base):
    """An automation rule (issue 14): when an order enters a list, act at a partner. The
    trigger, conditions and effects are the domain's (domain.automation) as JSON; `version`
    goes up with every edit, and the audit of every effect names it."""

    __tablename__ = "rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    stop_after: Mapped[bool] = mapped_column(Boolean, default=False)
    trigger: Mapped[dict[str, Any]]
    conditions: Mapped[list[Any]] = mapped_column(default=list)
    effects: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))


class BoardCount(Base):
    """How many orders each list of the board holds: a status, or "archived" (every archived
    order). Kept by triggers on `orders` in the same transaction as the change (migration 0008),
    so the board's titles are read, never counted."""

    __tablename__ = "board_counts"
    list: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


#: What the models do not describe: SQLite's FTS5 text index of the orders (migration 0008)
#: with its shadow tables, and PostgreSQL's pg_trgm index on an expression. Alembic's
#: comparisons leave them out (`include_name`).
TEXT_INDEX_TABLES = ("order_search",)
TEXT_INDEX = "ix_orders_search"


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For Alembic's `include_name`: everything but the text index."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(TEXT_INDEX_TABLES)
    return not (type_ == "index" and name == TEXT_INDEX)
