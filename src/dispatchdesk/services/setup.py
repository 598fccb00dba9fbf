"""Partners, settings and new orders: the set-up side of a depot, with field checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..domain import CancelMethod, LinkKind, RejectionMapsTo, Role, Status
from ..store.models import AuditEntry, Backorder, Document, Order, OrderLine, Partner, Setting, Tag
from .core import Depot, InvalidInput, NotFound, current_user, load_partner, next_number
from .hello import settle_agreement

MIN_SECRET = 16
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class PartnerInput:
    name: str
    role: str
    url: str | None = None
    secret: str | None = None
    email: str | None = None
    cancel_method: str = "api"
    window_seconds: int = 0
    reason_required: bool = False
    follow_up_after_send: bool = False
    auto_trash: bool = False
    rejection_maps_to: str = "rejected"
    pass_cancellations: bool = False
    #: how long we wait for this partner's answer (a warehouse's yes or no to a cancellation)
    #: before a follow-up chases it; 0 = no limit
    answer_within_seconds: int = 1800


def _choice(enum: Any, value: str, what: str) -> str:
    try:
        return enum(value.strip().lower()).value
    except ValueError:
        raise InvalidInput(
            f"{what} {value!r} is not known; choose one of: {', '.join(e.value for e in enum)}."
        ) from None


def check_partner(p: PartnerInput) -> dict[str, Any]:
    """Check a partner's settings; return the columns to store."""
    name = " ".join((p.name or "").split())
    if not name:
        raise InvalidInput("A partner needs a name.")
    if len(name) > 200:
        raise InvalidInput("A partner's name can be at most 200 characters.")
    role = _choice(Role, p.role, "Role")
    cancel_method = _choice(CancelMethod, p.cancel_method, "Cancel method")
    maps_to = _choice(RejectionMapsTo, p.rejection_maps_to, "--rejection-maps-to")
    url = (p.url or "").strip() or None
    secret = p.secret or None
    email = (p.email or "").strip() or None
    if url:
        if not re.match(r"^https?://[^\s/]+", url):
            raise InvalidInput(
                f"The link URL {url!r} must start with http:// or https:// and name a host."
            )
        if not secret:
            raise InvalidInput(
                f"A partner linked over HTTP needs the shared secret (at least {MIN_SECRET} characters), the same on both sides."
            )
    if secret is not None and len(secret) < MIN_SECRET:
        raise InvalidInput(f"The shared secret must be at least {MIN_SECRET} characters long.")
    if email and not EMAIL_RE.match(email):
        raise InvalidInput(f"{email!r} is not an e-mail address.")
    if p.window_seconds < 0:
        raise InvalidInput("The cancellation window cannot be negative.")
    if p.answer_within_seconds < 0:
        raise InvalidInput("The time to wait for the partner's answer cannot be negative.")
    if CancelMethod(cancel_method).has_window and p.window_seconds <= 0:
        raise InvalidInput(f"Cancel method {cancel_method} needs --window SECONDS (more than 0).")
    if cancel_method == CancelMethod.API_WINDOW_THEN_EMAIL.value and not email:
        raise InvalidInput(
            "Cancel method api-window-then-email needs the partner's --email address "
            "(for cancellations after the window)."
        )
    if cancel_method == CancelMethod.EMAIL.value and not email:
        raise InvalidInput("Cancel method email needs the partner's --email address.")
    link = LinkKind.HTTP.value if url else (LinkKind.EMAIL.value if email else LinkKind.NONE.value)
    return dict(
        name=name,
        role=role,
        link=link,
        url=url,
        secret=secret,
        email=email,
        cancel_method=cancel_method,
        window_seconds=p.window_seconds,
        reason_required=p.reason_required,
        follow_up_after_send=p.follow_up_after_send,
        auto_trash=p.auto_trash,
        rejection_maps_to=maps_to,
        pass_cancellations=p.pass_cancellations,
        answer_within_seconds=p.answer_within_seconds,
    )


def add_partner(depot: Depot, p: PartnerInput) -> str:
    cols = check_partner(p)
    with depot.uow() as uow:
        s = uow.session
        if s.scalar(select(Partner.id).where(Partner.name == cols["name"])) is not None:
            raise InvalidInput(f"There is already a partner named {cols['name']!r}.")
        if (
            cols["secret"]
            and s.scalar(select(Partner.id).where(Partner.secret == cols["secret"])) is not None
        ):
            raise InvalidInput(
                "Another partner already uses that secret; every link needs its own."
            )
        partner = Partner(**cols, created_at=depot.now())
        s.add(partner)
        partner.hello_due = bool(partner.auto_trash)  # a linked depot hears what we agree to
        s.add(
            AuditEntry(
                at=depot.now(),
                actor=depot.actor,
                action="partner added",
                detail=f"{cols['name']} ({cols['role']})",
            )
        )
        try:
            uow.commit()
        except IntegrityError:
            raise InvalidInput(f"There is already a partner named {cols['name']!r}.") from None
    return cols["name"]


def update_partner(depot: Depot, name: str, p: PartnerInput) -> str:
    cols = check_partner(p)
    with depot.uow() as uow:
        s = uow.session
        partner = load_partner(s, name)
        if (
            cols["name"] != partner.name
            and s.scalar(select(Partner.id).where(Partner.name == cols["name"])) is not None
        ):
            raise InvalidInput(f"There is already a partner named {cols['name']!r}.")
        if (
            cols["secret"]
            and s.scalar(
                select(Partner.id).where(Partner.secret == cols["secret"], Partner.id != partner.id)
            )
            is not None
        ):
            raise InvalidInput(
                "Another partner already uses that secret; every link needs its own."
            )
        changed = [k for k, v in cols.items() if getattr(partner, k) != v]
        for k, v in cols.items():
            setattr(partner, k, v)
        partner.link_stopped = False if "url" in changed else partner.link_stopped
        settle_agreement(partner, depot.now())
        if "auto_trash" in changed or (partner.auto_trash and {"url", "secret"} & set(changed)):
            partner.hello_due = True  # what we agree to on the link changed: say so
        s.add(
            AuditEntry(
                at=depot.now(),
                actor=depot.actor,
                action="partner changed",
                detail=f"{partner.name}: "
                + (
                    ", ".join(c for c in changed if c != "secret")
                    + (", secret" if "secret" in changed else "")
                    or "nothing"
                ),
            )
        )
        uow.commit()
    return cols["name"]


def partner_input(depot: Depot, name: str) -> PartnerInput:
    """A partner's settings as an editable form (the secret included, for the edit form)."""
    with depot.uow(write=False) as uow:
        p = load_partner(uow.session, name)
        return PartnerInput(**{f.name: getattr(p, f.name) for f in fields(PartnerInput)})


def set_link_stopped(depot: Depot, name: str, stopped: bool, reason: str = "") -> None:
    with depot.uow() as uow:
        p = load_partner(uow.session, name)
        was = p.link_stopped
        p.link_stopped = stopped
        if was and not stopped and p.auto_trash:
            p.hello_due = True  # the link starts again
        if reason:
            p.last_error = reason
            p.last_error_at = depot.now()
        uow.session.add(
            AuditEntry(
                at=depot.now(),
                actor=depot.actor,
                action="link stopped" if stopped else "link restarted",
                detail=f"{p.name}: {reason}".strip(": "),
            )
        )
        uow.commit()


# --------------------------------------------------------------------------- settings

SETTINGS = {
    "undo_seconds": ("Undo window in seconds (0 switches it off)", int),
    "smtp_host": ("SMTP server for e-mail notices", str),
    "smtp_port": ("SMTP port", int),
    "smtp_sender": ("Sender address of e-mail notices", str),
    "depot_name": ("The depot's name, as partners see it", str),
}


def set_setting(depot: Depot, key: str, value: str) -> None:
    if key not in SETTINGS:
        raise InvalidInput(f"Unknown setting {key!r}; the settings are: {', '.join(SETTINGS)}.")
    _, typ = SETTINGS[key]
    if typ is int:
        try:
            n = int(value)
        except ValueError:
            raise InvalidInput(f"Setting {key} must be a whole number, not {value!r}.") from None
        if (
            n < 0
            or (key == "smtp_port" and not 0 < n < 65536)
            or (key == "undo_seconds" and n > 3600)
        ):
            raise InvalidInput(f"Setting {key} is out of range: {n}.")
    if key == "smtp_sender" and value and not EMAIL_RE.match(value):
        raise InvalidInput(f"{value!r} is not an e-mail address.")
    with depot.uow() as uow:
        row = uow.session.get(Setting, key)
        if row is None:
            uow.session.add(Setting(key=key, value=value))
        else:
            row.value = value
        uow.session.add(
            AuditEntry(
                at=depot.now(), actor=depot.actor, action="setting", detail=f"{key} = {value}"
            )
        )
        uow.commit()


# --------------------------------------------------------------------------- new orders


@dataclass
class LineInput:
    article: str
    quantity: int
    description: str = ""


@dataclass
class OrderInput:
    """A new order, as typed into the reception form or read from an import."""

    pickup_address: str
    delivery_address: str
    lines: list[LineInput] = field(default_factory=list)
    parcels: int = 1
    weight_kg: float = 0.0
    pickup_after: datetime | None = None
    deliver_by: datetime | None = None
    source: str | None = None  # partner name (client/channel), None for our own order
    partner_ref: str | None = None
    number: str | None = None  # None = the next free number
    tags: list[str] = field(default_factory=list)


def check_order(o: OrderInput) -> list[tuple[str, str]]:
    """Field -> problem, for every field that is wrong (the form shows each under its field)."""
    problems: list[tuple[str, str]] = []
    if not o.pickup_address.strip():
        problems.append(("pickup_address", "The pickup address is empty."))
    if not o.delivery_address.strip():
        problems.append(("delivery_address", "The delivery address is empty."))
    if not isinstance(o.parcels, int) or isinstance(o.parcels, bool) or not 1 <= o.parcels <= 9999:
        problems.append(("parcels", "Parcels must be a whole number from 1 to 9999."))
    if (
        not isinstance(o.weight_kg, (int, float))
        or isinstance(o.weight_kg, bool)
        or not 0 <= o.weight_kg <= 100000
    ):
        problems.append(("weight_kg", "Weight must be a number of kilograms from 0 to 100000."))
    times_ok = True
    for key, label in (("pickup_after", "Pickup-after"), ("deliver_by", "Deliver-by")):
        value = getattr(o, key)
        if value is None:
            continue
        if not isinstance(value, datetime):
            problems.append((key, f"{label} must be a date and time."))
            times_ok = False
        elif value.tzinfo is None:
            problems.append((key, f"{label} needs a time zone (for example +00:00)."))
            times_ok = False
    if times_ok and o.pickup_after and o.deliver_by and o.deliver_by < o.pickup_after:
        problems.append(("deliver_by", "Deliver-by is before pickup-after."))
    seen = set()
    for i, ln in enumerate(o.lines, 1):
        if not ln.article.strip():
            problems.append((f"line{i}", f"Line {i} has no article."))
        elif len(ln.article.strip()) > 100:
            problems.append((f"line{i}", f"Line {i}: the article can be at most 100 characters."))
        elif ln.article.strip() in seen:
            problems.append((f"line{i}", f"Article {ln.article.strip()!r} appears twice."))
        seen.add(ln.article.strip())
        if not isinstance(ln.quantity, int) or isinstance(ln.quantity, bool) or ln.quantity < 1:
            problems.append(
                (f"line{i}", f"Line {i}: the quantity must be a whole number of 1 or more.")
            )
    if o.number is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,49}", o.number):
        problems.append(
            (
                "number",
                f"Order number {o.number!r} may hold only letters, digits and . _ / - (at most 50).",
            )
        )
    if o.source is None and o.partner_ref:
        problems.append(("partner_ref", "A partner's reference needs the partner it came from."))
    if o.partner_ref and len(o.partner_ref) > 100:
        problems.append(("partner_ref", "The partner's reference can be at most 100 characters."))
    for tag in o.tags:
        t = " ".join(str(tag).split())
        if not t:
            problems.append(("tags", "A tag cannot be empty."))
        elif len(t) > 50:
            problems.append(("tags", f"The tag {t[:20]!r}… is longer than 50 characters."))
    return problems


def create_order(
    depot: Depot,
    o: OrderInput,
    *,
    status: Status = Status.CREATED,
    action: str = "created",
    documents: list[tuple[str, str]] = (),
    backorders: list[tuple[str, int]] = (),  # type: ignore[assignment]
    extra: dict[str, Any] | None = None,
) -> str:
    """Register a new order (status Created). Returns its number."""
    problems = check_order(o)
    if problems:
        raise InvalidInput(" ".join(p for _, p in problems))
    now = depot.now()
    with depot.uow() as uow:
        s = uow.session
        source = None
        if o.source:
            source = load_partner(s, o.source)
            if not Role(source.role).sends_us_orders:
                raise InvalidInput(
                    f"{source.name} is a {source.role}; orders come in only from clients and channels."
                )
        number = o.number or next_number(s, "order")
        if s.scalar(select(Order.id).where(Order.number == number)) is not None:
            raise InvalidInput(f"Order number {number} is already used.")
        order = Order(
            number=number,
            status=status.value,
            source_id=source.id if source else None,
            partner_ref=o.partner_ref,
            pickup_address=o.pickup_address.strip(),
            delivery_address=o.delivery_address.strip(),
            pickup_after=o.pickup_after,
            deliver_by=o.deliver_by,
            parcels=o.parcels,
            weight_kg=float(o.weight_kg),
            created_at=now,
            received_at=now if source else None,
            status_changed_at=now,
            lines=[
                OrderLine(
                    lineno=i,
                    article=ln.article.strip(),
                    description=ln.description,
                    quantity=ln.quantity,
                )
                for i, ln in enumerate(o.lines, 1)
            ],
            tags=[Tag(name=t) for t in dict.fromkeys(" ".join(t.split()) for t in o.tags)],
            documents=[Document(kind=k, number=n, created_at=now) for k, n in documents],
            backorders=[Backorder(article=a, quantity=q) for a, q in backorders],
        )
        for k, v in (extra or {}).items():
            setattr(order, k, v)
        s.add(order)
        s.flush()
        s.add(
            AuditEntry(
                order_id=order.id,
                at=now,
                actor=depot.actor,
                action=action,
                to_status=order.status,
                detail=f"Order {number} {action}.",
                after_version=order.version,
            )
        )
        uow.commit()
        return number


def add_document(depot: Depot, number: str, kind: str, doc_number: str) -> None:
    """Record a delivery note or invoice that references the order."""
    from ..domain import DocumentKind
    from .core import load_order

    try:
        k = DocumentKind(kind)
    except ValueError:
        raise InvalidInput(
            f"Document kind {kind!r} is not known; use delivery_note or invoice."
        ) from None
    doc_number = " ".join((doc_number or "").split())
    if not doc_number:
        raise InvalidInput(f"The {k.label} needs its number.")
    if len(doc_number) > 100:
        raise InvalidInput(f"The {k.label} number can be at most 100 characters.")
    with depot.uow() as uow:
        order = load_order(uow.session, number)
        order.documents.append(Document(kind=k.value, number=doc_number, created_at=depot.now()))
        uow.session.add(
            AuditEntry(
                order_id=order.id,
                at=depot.now(),
                actor=depot.actor,
                action="document",
                detail=f"{k.label} {doc_number}",
            )
        )
        uow.commit()


__all__ = [
    "SETTINGS",
    "LineInput",
    "NotFound",
    "OrderInput",
    "PartnerInput",
    "add_document",
    "add_partner",
    "check_order",
    "check_partner",
    "create_order",
    "current_user",
    "partner_input",
    "set_link_stopped",
    "set_setting",
    "update_partner",
]
