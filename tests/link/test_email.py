"""E-mail notices go to a real SMTP server (aiosmtpd) on loopback, with a follow-up to confirm."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from linkkit import eventually, free_port, make_order
from sqlalchemy import select

from dispatchdesk.services import (
    CancellationRequest,
    PartnerInput,
    ReasonCode,
    add_partner,
    cancel,
    dispatch,
    set_setting,
)
from dispatchdesk.store.models import FollowUp, Notice


class Inbox:
    def __init__(self, refuse: int | None = None) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse = refuse

    async def handle_RCPT(self, server: SMTP, session, envelope, address: str, rcpt_options) -> str:
        if self.refuse:
            return f"{self.refuse} No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session, envelope) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    servers = []

    def start(refuse: int | None = None) -> tuple[Inbox, int]:
        inbox = Inbox(refuse)
        port = free_port()
        c = Controller(inbox, hostname="127.0.0.1", port=port)
        c.start()
        servers.append(c)
        return inbox, port

    yield start
    for c in servers:
        c.stop()


def _notices(d):
    with d.uow(write=False) as uow:
        return [(n.kind, n.state, n.last_error) for n in uow.session.scalars(select(Notice).order_by(Notice.seq)).unique()]


async def test_an_email_partner_gets_each_notice_by_mail_and_a_follow_up_asks_to_confirm(make_side, smtp):
    inbox, port = smtp()
    a = await make_side("Alpha")
    set_setting(a.depot, "smtp_host", "127.0.0.1")
    set_setting(a.depot, "smtp_port", str(port))
    set_setting(a.depot, "smtp_sender", "dispatch@alpha.example")
    add_partner(a.depot, PartnerInput(name="Boxed", role="warehouse", email="ops@boxed.example", cancel_method="email"))
    number = make_order(a.depot)
    dispatch(a.depot, number, "Boxed")
    cancel(a.depot, number, CancellationRequest(ReasonCode.DAMAGED, comment="Crushed in the yard."))
    await eventually(lambda: [s for _, s, _ in _notices(a.depot)] == ["sent", "sent"], what="both e-mails sent")
    assert len(inbox.messages) == 2
    sender, rcpts, raw = inbox.messages[1]
    assert sender == "dispatch@alpha.example" and rcpts == ["ops@boxed.example"]
    mail = message_from_bytes(raw, policy=default)
    assert mail["Subject"] == f"Alpha: cancellation of order {number}"
    with a.depot.uow(write=False) as uow:
        ids = [n.id for n in uow.session.scalars(select(Notice).order_by(Notice.seq)).unique()]
        texts = [f.text for f in uow.session.scalars(select(FollowUp))]
    assert mail["Message-ID"] == f"<{ids[1]}@dispatchdesk>"
    body = mail.get_content()
    assert "Reason: DAMAGED" in body and "Crushed in the yard." in body and ids[1] in body
    assert any(t.startswith("Confirm with Boxed that the cancellation of order") for t in texts)


async def test_a_mailbox_the_server_refuses_fails_the_notice_with_its_answer(make_side, smtp):
    inbox, port = smtp(refuse=550)
    a = await make_side("Alpha")
    set_setting(a.depot, "smtp_host", "127.0.0.1")
    set_setting(a.depot, "smtp_port", str(port))
    add_partner(a.depot, PartnerInput(name="Boxed", role="warehouse", email="nobody@boxed.example"))
    dispatch(a.depot, make_order(a.depot), "Boxed")
    [(kind, state, error)] = await eventually(lambda: (n := _notices(a.depot)) and n[0][1] == "failed" and n,
                                              what="the notice to fail")
    assert "550" in error and "No such mailbox" in error and inbox.messages == []


async def test_without_an_smtp_server_the_notice_waits_and_says_what_to_set(make_side, smtp):
    from linkkit import RetryPolicy

    a = await make_side("Alpha", policy=RetryPolicy(delays=(0.3,) * 30, jitter=0.0))
    add_partner(a.depot, PartnerInput(name="Boxed", role="warehouse", email="ops@boxed.example"))
    dispatch(a.depot, make_order(a.depot), "Boxed")
    [(kind, state, error)] = await eventually(lambda: (n := _notices(a.depot)) and n[0][2] and n,
                                              what="a first attempt")
    assert state == "queued" and "smtp_host" in error
    # once the setting is made, it goes out by itself
    inbox, port = smtp()
    set_setting(a.depot, "smtp_port", str(port))
    set_setting(a.depot, "smtp_host", "127.0.0.1")
    await eventually(lambda: _notices(a.depot)[0][1] == "sent", what="sent once set")
    assert len(inbox.messages) == 1


async def test_an_smtp_server_that_is_down_is_retried(make_side):
    a = await make_side("Alpha")
    set_setting(a.depot, "smtp_host", "127.0.0.1")
    set_setting(a.depot, "smtp_port", str(free_port()))
    add_partner(a.depot, PartnerInput(name="Boxed", role="warehouse", email="ops@boxed.example"))
    dispatch(a.depot, make_order(a.depot), "Boxed")
    [(kind, state, error)] = await eventually(lambda: (n := _notices(a.depot)) and n[0][2] and n,
                                              what="a first failed attempt")
    assert "Cannot send e-mail through 127.0.0.1" in error
