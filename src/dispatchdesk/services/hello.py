"""The link's hello (SPEC 7): linked depots tell each other their capabilities, in a signed
message on link start and whenever the settings of the link change.

What a hello carries today: {"capabilities": {"auto_trash": true|false}}: whether the sender
agrees to auto-trash on that link (SPEC 4.2: an order the client revokes is trashed
automatically on the subcontractor's side). Each side's own `auto_trash` setting for the other
is its consent; auto-trash acts only when both consented (`auto_trash_agreed_at` is set), and
both Partners screens show the agreement and its date.

A hello goes out when there is something to agree to: when a link is made or restarted with
auto-trash on, and whenever our auto-trash setting for the link changes (or the link's address
or secret, while it is on). No hello heard means the other side has not agreed. The set-up
marks the partner (`hello_due`); the relay's next cycle writes the hello into the outbox
(outbox.queue_hellos), so a depot without a running relay (a script, an import) sends none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain import LinkKind, NoticeKind, NoticePlan, NoticeState, Transport
from ..store.models import Notice, Partner
from .core import add_notice

__all__ = ["hello_payload", "queue_due_hellos", "queue_hello", "settle_agreement"]


def hello_payload(partner: Partner) -> dict[str, Any]:
    return {"capabilities": {"auto_trash": bool(partner.auto_trash)}}


def settle_agreement(partner: Partner, now: datetime) -> None:
    """Both sides agree to auto-trash since now (kept if they already did), or they do not."""
    agreed = bool(partner.auto_trash) and bool(partner.peer_auto_trash)
    if agreed and partner.auto_trash_agreed_at is None:
        partner.auto_trash_agreed_at = now
    elif not agreed:
        partner.auto_trash_agreed_at = None


def queue_hello(s: Session, partner: Partner, now: datetime) -> Notice | None:
    """Our hello to a partner linked over HTTP, in the caller's transaction. A hello not yet
    sent is replaced by this one (it says the same, newer)."""
    if partner.link != LinkKind.HTTP.value or partner.link_stopped or not partner.url:
        return None
    s.flush()
    for old in s.scalars(
        select(Notice).where(
            Notice.partner_id == partner.id,
            Notice.kind == NoticeKind.HELLO.value,
            Notice.state == NoticeState.QUEUED.value,
            Notice.claimed_by.is_(None),
        )
    ).unique():
        old.state = NoticeState.WITHDRAWN.value
        old.next_attempt_at = None
    return add_notice(
        s,
        None,
        partner,
        NoticePlan(partner.name, NoticeKind.HELLO, Transport.HTTP, False),
        now=now,
        undo_seconds=0,
        payload=hello_payload(partner),
    )


def queue_due_hellos(s: Session, now: datetime) -> int:
    """The relay's cycle: a hello for every partner marked hello_due; returns how many."""
    due = list(s.scalars(select(Partner).where(Partner.hello_due.is_(True))))
    for p in due:
        p.hello_due = False
        queue_hello(s, p, now)
    return len(due)
