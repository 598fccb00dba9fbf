"""Partners, settings and new orders: the set-up side of a depot, with field checks."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..domain import CancelMethod, LinkKind, ReasonCode, RejectionMapsTo, Role, Status, limits
from ..domain.limits import lone_surrogate
from ..store.models import AuditEntry, Backorder, Document, Order, OrderLine, Partner, Setting, Tag
from .core import Depot, InvalidInput, NotFound, current_user, load_partner, next_number
from .hello import settle_agreement

MIN_SECRET = 16
WHSEC_PREFIX = "whsec_"  # a Standard Webhooks key: whsec_ + base64 of the key bytes


def secret_form(secret: str | None) -> str | None:
    """Check a shared secret; say in a sentence which form it was taken as (None: no secret).

    A ``whsec_`` secret is a Standard Webhooks key, as the standard means it: the base64 after
    the prefix is the key (link.signing signs with it). Any other is a plain shared secret,
    whose UTF-8 bytes are the key.
    """
    if not secret:
        return None
    if secret.startswith(WHSEC_PREFIX):
        b64 = secret[len(WHSEC_PREFIX):]
        try:
            key = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "The secret starts with whsec_, so it is read as a Standard Webhooks key, but what "
                "follows is not valid base64: copy the whole key, or use a secret without that prefix.",
                field="secret",
            ) from None
        if len(key) < MIN_SECRET:
            raise InvalidInput(
                f"A Standard Webhooks key (whsec_…) must hold at least {MIN_SECRET} bytes; this one "
                f"holds {len(key)}.",
                field="secret",
            )
        return f"The secret was taken as a Standard Webhooks key (whsec_…, a {len(key)}-byte key)."
    if len(secret) < MIN_SECRET:
        raise InvalidInput(
            f"The shared secret must be at least {MIN_SECRET} characters long.", field="secret"
        )
    return (
        "The secret was taken as a plain shared secret (its text is the key; a Standard Webhooks "
        "library knows it as whsec_ + its base64)."
    )


class SavedPartner(str):
    """The partner's name (as before), with the result's sentences in `text`."""

    text: str
    secret_note: str | None

    def __new__(cls, name: str, verb: str, secret_note: str | None) -> SavedPartner:
        self = super().__new__(cls, name)
        self.secret_note = secret_note
        self.text = f"Partner {name} {verb}." + (f" {secret_note}" if secret_note else "")
        return self
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"\+?[0-9 ()./-]+")


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
    #: the reason code a trash or reject of this partner's orders carries unless one is chosen
    reject_reason: str | None = None


def _choice(enum: type[StrEnum], value: str, what: str, *, field: str | None = None) -> str:
    try:
        return enum(value.strip().lower()).value
    except ValueError:
        raise InvalidInput(
            f"{what} {value!r} is not known; choose one of: {', '.join(e.value for e in enum)}.",
            field=field,
        ) from None


def check_partner(p: PartnerInput) -> dict[str, Any]:
    """Check a partner's settings; return the columns to store."""
    name = " ".join((p.name or "").split())
    if not name:
        raise InvalidInput("A partner needs a name.", field="name")
    if len(name) > 200:
        raise InvalidInput("A partner's name can be at most 200 characters.", field="name")
    role = _choice(Role, p.role, "Role", field="role")
    cancel_method = _choice(CancelMethod, p.cancel_method, "Cancel method", field="cancel_method")
    maps_to = _choice(
        RejectionMapsTo, p.rejection_maps_to, "What their rejection does", field="rejection_maps_to"
    )
    url = (p.url or "").strip() or None
    secret = p.secret or None
    email = (p.email or "").strip() or None
    if url:
        if not re.match(r"^https?://[^\s/]+", url):
            raise InvalidInput(
                f"The link URL {url!r} must start with http:// or https:// and name a host.",
                field="url",
            )
        if not secret:
            raise InvalidInput(
                f"A partner linked over HTTP needs the shared secret (at least {MIN_SECRET} characters), the same on both sides.",
                field="secret",
            )
    secret_form(secret)
    if email and not EMAIL_RE.match(email):
        raise InvalidInput(f"{email!r} is not an e-mail address.", field="email")
    if p.window_seconds < 0:
        raise InvalidInput("The cancellation window cannot be negative.", field="window_seconds")
    if p.answer_within_seconds < 0:
        raise InvalidInput(
            "The time to wait for the partner's answer cannot be negative.",
            field="answer_within_seconds",
        )
    if CancelMethod(cancel_method).has_window and p.window_seconds <= 0:
        raise InvalidInput(
            f"Cancel method {cancel_method} needs the window: how many seconds after sending "
            "(more than 0).",
            field="window_seconds",
        )
    if cancel_method == CancelMethod.API_WINDOW_THEN_EMAIL.value and not email:
        raise InvalidInput(
            "Cancel method api-window-then-email needs the partner's e-mail address "
            "(for cancellations after the window).",
            field="email",
        )
    if cancel_method == CancelMethod.EMAIL.value and not email:
        raise InvalidInput(
            "Cancel method email needs the partner's e-mail address.", field="email"
        )
    reject_reason = (p.reject_reason or "").strip() or None
    if reject_reason is not None:
        try:
            reject_reason = ReasonCode.parse(reject_reason).value
        except ValueError:
            raise InvalidInput(
                f"Reason code {reject_reason!r} is not known; choose one of: "
                f"{', '.join(c.value for c in ReasonCode)}.",
                field="reject_reason",
            ) from None
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
        reject_reason=reject_reason,
    )


#: Where a dispatchdesk depot's link endpoint listens (link.endpoint): POST <base URL>/link.
LINK_PATH = "/link"


def partner_url_warning(url: str | None) -> str | None:
    """A sentence for the caller to show when a link URL names no path at all.

    Another dispatchdesk depot takes messages on /link only; a bare host:port is answered 404
    and every notice to that partner fails. A URL with any path is left alone (a partner's
    own system may listen anywhere). None when there is nothing to say.
    """
    url = (url or "").strip()
    m = re.match(r"^(https?://[^\s/?#]+)(/?)(?:[?#].*)?$", url)
    if m is None:
        return None
    fixed = m.group(1) + LINK_PATH
    return (f"The link URL {url} has no path: if the partner runs dispatchdesk, its endpoint listens on "
            f"{LINK_PATH} ({fixed}), and without it every notice is answered 404 and fails.")


def add_partner(depot: Depot, p: PartnerInput) -> SavedPartner:
    """Add a partner; returns its name, with `.text`: "Partner X added." and which form of secret
    was received."""
    cols = check_partner(p)
    with depot.uow() as uow:
        s = uow.session
        if s.scalar(select(Partner.id).where(Partner.name == cols["name"])) is not None:
            raise InvalidInput(f"There is already a partner named {cols['name']!r}.", field="name")
        if (
            cols["secret"]
            and s.scalar(select(Partner.id).where(Partner.secret == cols["secret"])) is not None
        ):
            raise InvalidInput(
                "Another partner already uses that secret; every link needs its own.",
                field="secret",
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
            raise InvalidInput(f"There is already a partner named {cols['name']!r}.", field="name") from None
    return SavedPartner(cols["name"], "added", secret_form(cols["secret"]))


def update_partner(depot: Depot, name: str, p: PartnerInput) -> SavedPartner:
    """Change a partner; returns its name, with `.text` as add_partner's."""
    cols = check_partner(p)
    with depot.uow() as uow:
        s = uow.session
        partner = load_partner(s, name)
        if (
            cols["name"] != partner.name
            and s.scalar(select(Partner.id).where(Partner.name == cols["name"])) is not None
        ):
            raise InvalidInput(f"There is already a partner named {cols['name']!r}.", field="name")
        if (
            cols["secret"]
            and s.scalar(
                select(Partner.id).where(Partner.secret == cols["secret"], Partner.id != partner.id)
            )
            is not None
        ):
            raise InvalidInput(
                "Another partner already uses that secret; every link needs its own.",
                field="secret",
            )
        changed = [k for k, v in cols.items() if getattr(partner, k) != v]
        old_name = partner.name
        for k, v in cols.items():
            setattr(partner, k, v)
        if partner.name != old_name:  # the automation rules that name it follow (issue 14)
            from .rulefold import rename_partner_in_rules

            rename_partner_in_rules(s, old_name, partner.name)
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
    return SavedPartner(cols["name"], "changed", secret_form(cols["secret"]))


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
    "archive_after_days": (
        "Days after which Delivered, Rejected and Cancelled orders are archived by the depot "
        "(0: never)",
        int,
    ),
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
            or (key == "archive_after_days" and n > 36500)
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
    #: an own order's customer (the new-order form and `order new`), and a note for the depot
    customer: str | None = None
    phone: str | None = None
    note: str | None = None


def check_order(o: OrderInput) -> list[tuple[str, str]]:
    """Field -> problem, for every field that is wrong (the form shows each under its field).

    The limits are the domain's (domain.limits): the same that an import and a partner's
    message are held to, so that an order accepted by one door is accepted by the others.
    """
    problems: list[tuple[str, str]] = []

    def text_ok(field: str, label: str, value: str | None, limit: int) -> bool:
        if value is None:
            return True
        if not isinstance(value, str):
            problems.append((field, f"{label} must be text."))
            return False
        if lone_surrogate(value) is not None:
            problems.append((field, f"{label} holds a character that cannot be stored "
                                    f"(a lone surrogate, \\u{ord(lone_surrogate(value) or '?'):04x})."))
            return False
        if len(value) > limit:
            problems.append((field, f"{label} can be at most {limit} characters."))
            return False
        return True

    for key, label in (("pickup_address", "The pickup address"), ("delivery_address", "The delivery address")):
        value = getattr(o, key)
        if text_ok(key, label, value, limits.TEXT) and not value.strip():
            problems.append((key, f"{label} is empty."))
    if not limits.PARCELS.holds(o.parcels):
        problems.append(("parcels", f"Parcels must be a whole number {limits.PARCELS.words}."))
    if not limits.WEIGHT_KG.holds(o.weight_kg):
        problems.append(("weight_kg", f"Weight must be a number of kilograms {limits.WEIGHT_KG.words}."))
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
        art = ln.article.strip() if isinstance(ln.article, str) else ""
        if not art:
            problems.append((f"line{i}", f"Line {i} has no article."))
        elif lone_surrogate(art) is not None:
            problems.append((f"line{i}", f"Line {i}: the article holds a character that cannot be stored."))
        elif len(art) > limits.ARTICLE:
            problems.append((f"line{i}", f"Line {i}: the article can be at most {limits.ARTICLE} characters."))
        elif art in seen:
            problems.append((f"line{i}", f"Article {art!r} appears twice."))
        seen.add(art)
        text_ok(f"line{i}", f"Line {i}: the description", ln.description, limits.TEXT)
        if not limits.QUANTITY.holds(ln.quantity):
            problems.append(
                (f"line{i}", f"Line {i}: the quantity must be a whole number {limits.QUANTITY.words}.")
            )
    if o.number is not None and not (isinstance(o.number, str) and limits.ORDER_NUMBER_RE.fullmatch(o.number)):
        problems.append(
            (
                "number",
                f"Order number {o.number!r} may hold only letters, digits and . _ / - "
                f"(at most {limits.ORDER_NUMBER}).",
            )
        )
    if o.source is None and o.partner_ref:
        problems.append(("partner_ref", "A partner's reference needs the partner it came from."))
    text_ok("partner_ref", "The partner's reference", o.partner_ref, limits.PARTNER_REF)
    text_ok("customer", "The customer's name", o.customer, limits.PARTNER_NAME)
    if text_ok("phone", "The phone number", o.phone, limits.PHONE) and o.phone and o.phone.strip():
        if not PHONE_RE.fullmatch(o.phone.strip()) or sum(c.isdigit() for c in o.phone) < 5:
            problems.append(("phone", "The phone number may hold digits, spaces, + ( ) . / - "
                                      "and needs at least 5 digits."))
    text_ok("note", "The note", o.note, limits.TEXT)
    for tag in o.tags:
        t = " ".join(str(tag).split())
        if not t:
            problems.append(("tags", "A tag cannot be empty."))
        elif lone_surrogate(t) is not None:
            problems.append(("tags", "A tag holds a character that cannot be stored (a lone surrogate)."))
        elif len(t) > limits.TAG:
            problems.append(("tags", f"The tag {t[:20]!r}… is longer than {limits.TAG} characters."))
    return problems


def create_order(
    depot: Depot,
    o: OrderInput,
    *,
    status: Status = Status.CREATED,
    action: str = "created",
    documents: Sequence[tuple[str, str]] = (),
    backorders: Sequence[tuple[str, int]] = (),
    extra: dict[str, Any] | None = None,
) -> str:
    """Register a new order (status Created). Returns its number."""
    return insert_order(depot, o, status=status, action=action, documents=documents,
                        backorders=backorders, extra=extra)[0]


def insert_order(
    depot: Depot,
    o: OrderInput,
    *,
    status: Status = Status.CREATED,
    action: str = "created",
    documents: Sequence[tuple[str, str]] = (),
    backorders: Sequence[tuple[str, int]] = (),
    extra: dict[str, Any] | None = None,
    detail: str = "",
    fold: Callable[[Session, Order, int], None] | None = None,
) -> tuple[str, int, int]:
    """create_order, returning (number, version, audit entry id); `detail` follows the audit's
    first sentence. `fold(session, order, audit id)` writes more in the same transaction (the
    automation rules of a new order taken in here: CreateOrder)."""
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
        entry = AuditEntry(
            order_id=order.id,
            at=now,
            actor=depot.actor,
            action=action,
            to_status=order.status,
            detail=" ".join(filter(None, (f"Order {number} {action}.", detail))),
            after_version=order.version,
        )
        s.add(entry)
        s.flush()
        if fold is not None:
            fold(s, order, entry.id)
        result = (number, order.version, entry.id)
        uow.commit()
        return result


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
    "SavedPartner",
    "add_document",
    "add_partner",
    "check_order",
    "check_partner",
    "create_order",
    "current_user",
    "insert_order",
    "partner_input",
    "secret_form",
    "set_link_stopped",
    "set_setting",
    "update_partner",
]
