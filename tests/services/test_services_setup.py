"""Set-up services: partners, settings, new orders, documents, follow-ups, asking a partner to
cancel. Each bad input is refused with a sentence and writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from dispatchdesk.services import (
    InvalidInput,
    LineInput,
    NotFound,
    OrderInput,
    PartnerInput,
    Refused,
    add_document,
    add_partner,
    create_order,
    dispatch,
    partner_input,
    request_cancellation,
    set_followup_done,
    set_setting,
    trash,
    update_partner,
)
from dispatchdesk.store.models import FollowUp, Notice, Partner


def order_input(**kw) -> OrderInput:
    base = dict(
        pickup_address="1 Quay, Hull",
        delivery_address="2 Mill Lane, York",
        lines=[LineInput("CRATE", 2)],
    )
    return OrderInput(**{**base, **kw})


# --------------------------------------------------------------------------- partners


@pytest.mark.parametrize(
    "p, why",
    [
        (PartnerInput("", "client"), "needs a name"),
        (PartnerInput("X", "shipper"), "Role 'shipper' is not known"),
        (PartnerInput("X", "client", cancel_method="fax"), "Cancel method 'fax' is not known"),
        (PartnerInput("X", "client", url="ftp://x"), "must start with http:// or https://"),
        (PartnerInput("X", "client", url="http://x.example"), "needs the shared secret"),
        (PartnerInput("X", "client", url="http://x.example", secret="short"), "at least 16"),
        (PartnerInput("X", "client", email="not-an-address"), "is not an e-mail address"),
        (PartnerInput("X", "channel", cancel_method="api-window"), "needs the window"),
        (PartnerInput("X", "warehouse", cancel_method="email"), "needs the partner's e-mail"),
        (PartnerInput("X", "client", rejection_maps_to="lost"), "'lost' is not known"),
    ],
)
def test_bad_partner_settings_refused(depot, counts, p, why):
    c = counts(depot)
    with pytest.raises(InvalidInput, match=why):
        add_partner(depot, p)
    assert counts(depot) == c


def test_partner_names_and_secrets_are_unique(depot, partners):
    with pytest.raises(InvalidInput, match="already a partner named 'Swift Haulage'"):
        add_partner(depot, PartnerInput("  Swift   Haulage ", "subcontractor"))
    secret = partner_input(depot, "Swift Haulage").secret
    with pytest.raises(InvalidInput, match="already uses that secret"):
        add_partner(depot, PartnerInput("Copycat", "client", url="http://c.example", secret=secret))


def test_update_partner_renames_and_audits(depot, partners, new_order, rows):
    n = new_order(source="Plain Client")
    p = partner_input(depot, "Plain Client")
    p.name, p.auto_trash = "Plain Client Ltd", True
    update_partner(depot, "Plain Client", p)
    assert rows(depot, n).order.source.name == "Plain Client Ltd"
    assert partner_input(depot, "Plain Client Ltd").auto_trash is True
    with pytest.raises(NotFound):
        partner_input(depot, "Plain Client")


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "key, value, why",
    [
        ("colour", "blue", "Unknown setting 'colour'"),
        ("smtp_port", "70000", "out of range"),
        ("smtp_port", "x", "must be a whole number"),
        ("smtp_sender", "nobody", "is not an e-mail address"),
    ],
)
def test_bad_settings_refused(depot, key, value, why):
    with pytest.raises(InvalidInput, match=why):
        set_setting(depot, key, value)


# --------------------------------------------------------------------------- new orders


def test_create_order_writes_order_lines_tags_and_audit(depot, partners, rows, clock):
    n = create_order(
        depot,
        order_input(
            source="Plain Client", partner_ref="PC-1", tags=["  fragile  ", "fragile", "cold"]
        ),
    )
    x = rows(depot, n)
    assert n == "DD-000001"
    assert (x.order.status, x.order.source.name, x.order.partner_ref) == (
        "created",
        "Plain Client",
        "PC-1",
    )
    assert x.order.received_at == clock.now
    assert [t.name for t in x.order.tags] == ["cold", "fragile"]
    assert (x.last.action, x.last.actor) == ("created", "tester")


@pytest.mark.parametrize(
    "kw, why",
    [
        (dict(pickup_address="  "), "The pickup address is empty."),
        (dict(parcels=0), "Parcels must be a whole number from 1 to 9999."),
        (dict(weight_kg=-1), "Weight must be a number"),
        (dict(lines=[LineInput("A", 1), LineInput("A", 2)]), "Article 'A' appears twice."),
        (dict(lines=[LineInput("A", 0)]), "the quantity must be a whole number from 1 to 1000000"),
        (dict(lines=[LineInput("A" * 101, 1)]), "at most 100 characters"),
        (dict(number="bad number!"), "may hold only letters"),
        (dict(partner_ref="X-1"), "needs the partner it came from"),
        (dict(tags=[" "]), "A tag cannot be empty."),
        (dict(tags=["t" * 51]), "longer than 50 characters"),
        (dict(deliver_by=datetime(2025, 3, 1, 10, 0)), "Deliver-by needs a time zone"),
        (
            dict(
                pickup_after=datetime(2025, 3, 2, tzinfo=UTC),
                deliver_by=datetime(2025, 3, 1, tzinfo=UTC),
            ),
            "Deliver-by is before pickup-after.",
        ),
    ],
)
def test_bad_orders_refused_with_nothing_written(depot, counts, kw, why):
    c = counts(depot)
    with pytest.raises(InvalidInput, match=why):
        create_order(depot, order_input(**kw))
    assert counts(depot) == c


def test_order_from_unknown_or_wrong_partner(depot, partners, counts):
    c = counts(depot)
    with pytest.raises(NotFound, match="no partner named 'Nobody'"):
        create_order(depot, order_input(source="Nobody"))
    with pytest.raises(InvalidInput, match="orders come in only from clients and channels"):
        create_order(depot, order_input(source="Swift Haulage"))
    assert counts(depot) == c


def test_duplicate_order_number_refused(depot, counts):
    create_order(depot, order_input(number="MY-1"))
    c = counts(depot)
    with pytest.raises(InvalidInput, match="Order number MY-1 is already used."):
        create_order(depot, order_input(number="MY-1"))
    assert counts(depot) == c


def test_automatic_numbers_skip_numbers_given_by_hand(depot):
    create_order(depot, order_input(number="DD-000001"))
    assert create_order(depot, order_input()) == "DD-000002"


# --------------------------------------------------------------------------- documents


def test_document_makes_the_reject_check_refuse(depot, partners, new_order, rows):
    n = new_order(source="Plain Client")
    add_document(depot, n, "delivery_note", "DN-5")
    x = rows(depot, n)
    assert [(d.kind, d.number) for d in x.order.documents] == [("delivery_note", "DN-5")]
    assert (x.last.action, x.last.detail) == ("document", "delivery note DN-5")
    with pytest.raises(Refused, match="referenced by a delivery note"):
        trash(depot, n)


@pytest.mark.parametrize(
    "kind, number, why",
    [
        ("receipt", "R-1", "Document kind 'receipt' is not known"),
        ("invoice", "  ", "needs its number"),
    ],
)
def test_bad_documents_refused(depot, new_order, counts, kind, number, why):
    n = new_order()
    c = counts(depot)
    with pytest.raises(InvalidInput, match=why):
        add_document(depot, n, kind, number)
    assert counts(depot) == c


# --------------------------------------------------------------------------- follow-ups


def test_follow_up_done_and_reopened(depot, partners, new_order, rows, clock):
    n = new_order(source="Corner Bakery")
    [fid] = trash(depot, n).followups
    set_followup_done(depot, fid)
    x = rows(depot, n)
    assert (x.followups[0].done_at, x.followups[0].done_by) == (clock.now, "tester")
    assert x.last.action == "follow-up done"
    set_followup_done(depot, fid, done=False)
    x = rows(depot, n)
    assert (x.followups[0].done_at, x.last.action) == (None, "follow-up reopened")
    with pytest.raises(NotFound, match="no follow-up 999"):
        set_followup_done(depot, 999)


# --------------------------------------------------------------------------- asking to cancel


def test_request_cancellation_from_the_partner_we_sent_it_to(depot, partners, new_order, rows):
    n = new_order()
    dispatch(depot, n, "Swift Haulage")
    request_cancellation(depot, n, "customer called", {"BOX-S": 1})
    x = rows(depot, n)
    m = x.notices[-1]
    assert (m.partner.name, m.kind, m.state) == ("Swift Haulage", "order.cancel_request", "queued")
    assert m.payload["message"] == "customer called" and m.payload["lines"] == {"BOX-S": 1}
    assert x.order.status == "dispatched"


def test_request_cancellation_refused_when_not_with_a_partner(depot, new_order):
    with pytest.raises(Refused, match="not with a partner"):
        request_cancellation(depot, new_order())


def test_request_cancellation_checks_the_lines(depot, partners, new_order, counts):
    n = new_order()
    dispatch(depot, n, "Swift Haulage")
    c = counts(depot)
    with pytest.raises(Refused, match="has no line with article 'CRATE'"):
        request_cancellation(depot, n, "", {"CRATE": 1})
    with pytest.raises(Refused, match="Only 2 of 'BOX-S' are open"):
        request_cancellation(depot, n, "", {"BOX-S": 3})
    assert counts(depot) == c


def test_confirming_an_email_follow_up_acknowledges_the_email_notice(depot, partners, make_order):
    """An e-mail gets no answer over the link; the follow-up that confirmed it is the answer."""
    with depot.uow(write=False) as uow:
        name = uow.session.scalars(
            select(Partner.name).where(
                Partner.link == "email", Partner.role.in_(("warehouse", "subcontractor"))
            )
        ).first()
    assert name, "the partners fixture needs an e-mail partner that takes orders"
    number = make_order(depot)
    dispatch(depot, number, name)
    with depot.uow() as uow:
        n = uow.session.scalars(select(Notice).where(Notice.transport == "email")).one()
        n.state = "sent"  # the relay handed it to the SMTP server
        fid = uow.session.scalars(select(FollowUp.id).where(FollowUp.notice_id == n.id)).one()
        uow.commit()
    set_followup_done(depot, fid)
    with depot.uow(write=False) as uow:
        n = uow.session.scalars(select(Notice).where(Notice.transport == "email")).one()
        assert (n.state, n.outcome) == ("acknowledged", "accepted")
        assert n.acknowledged_at is not None
    set_followup_done(depot, fid, done=False)  # reopening the task does not un-confirm the e-mail
    with depot.uow(write=False) as uow:
        assert (
            uow.session.scalars(select(Notice.state).where(Notice.transport == "email")).one()
            == "acknowledged"
        )


# --------------------------------------------------------------------------- the link URL's path


@pytest.mark.parametrize("url", ["http://depot-b.example:8080", "http://depot-b.example:8080/",
                                 "https://10.0.0.7"])
def test_a_link_url_without_a_path_gets_a_warning_naming_link(url: str) -> None:
    from dispatchdesk.services.setup import partner_url_warning

    warning = partner_url_warning(url)
    assert warning is not None
    assert "/link" in warning and url.rstrip("/") + "/link" in warning
    assert "404" in warning


@pytest.mark.parametrize("url", [None, "", "http://depot-b.example:8080/link", "https://api.partner.example/v2/hooks",
                                 "http://127.0.0.1:8731/link/baltic"])
def test_a_link_url_with_a_path_or_none_gets_no_warning(url: str | None) -> None:
    from dispatchdesk.services.setup import partner_url_warning

    assert partner_url_warning(url) is None


def test_the_partner_result_says_which_form_of_secret_was_received(depot):
    from dispatchdesk.services import PartnerInput, add_partner, partner_input, update_partner

    plain = add_partner(depot, PartnerInput(name="Plain Co", role="client", url="http://p.example/link",
                                            secret="a-plain-shared-secret-01"))
    assert plain == "Plain Co"
    assert "plain shared secret" in plain.text and "Partner Plain Co added." in plain.text
    std = add_partner(depot, PartnerInput(name="Std Co", role="client", url="http://s.example/link",
                                          secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
    assert "Standard Webhooks key" in std.text and "24-byte" in std.text
    p = partner_input(depot, "Plain Co")
    p.secret = "whsec_c2l4dGVlbi1ieXRlcy1rZXkh"
    changed = update_partner(depot, "Plain Co", p)
    assert "Standard Webhooks key" in changed.text and "Partner Plain Co changed." in changed.text
    none = add_partner(depot, PartnerInput(name="Phone Co", role="client"))
    assert none.text == "Partner Phone Co added."


@pytest.mark.parametrize("secret, words", [
    ("whsec_not base64!!", "not valid base64"),
    ("whsec_c2hvcnQ=", "at least 16 bytes"),
    ("whsec_", "at least 16 bytes"),
])
def test_a_bad_whsec_secret_is_refused_with_a_sentence(depot, secret, words):
    from dispatchdesk.services import InvalidInput, PartnerInput, add_partner

    with pytest.raises(InvalidInput, match=words):
        add_partner(depot, PartnerInput(name="Bad Co", role="client", url="http://b.example/link", secret=secret))
