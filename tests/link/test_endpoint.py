"""The link endpoint refuses every bad message with a 4xx and a clear reason, storing nothing;
a good one is committed before the 2xx; a repeat is answered with the first result.
"""

from __future__ import annotations

import json
import time
import uuid

import aiohttp
import pytest
from linkkit import SECRET

from dispatchdesk.link.endpoint import MAX_BODY
from dispatchdesk.link.signing import sign, whsec
from dispatchdesk.services import PartnerInput, add_partner
from dispatchdesk.store.models import AuditEntry, FollowUp, Notice, Order, ReceivedMessage

MODELS = (Order, AuditEntry, Notice, FollowUp, ReceivedMessage)


def _snapshot(d) -> dict:
    from sqlalchemy import func, select

    with d.uow(write=False) as uow:
        out: dict = {m.__tablename__: uow.session.scalar(select(func.count()).select_from(m)) for m in MODELS}
        # what the endpoint itself writes besides new rows: the received messages' results (the
        # replay digest). Not the change counter: the side's relay keeps committing its own
        # attempts at the answers of earlier messages while the test runs.
        out["received"] = sorted((m.id, repr(m.result)) for m in uow.session.scalars(select(ReceivedMessage)))
    return out


@pytest.fixture
async def side(make_side):
    s = await make_side("Bravo")
    add_partner(s.depot, PartnerInput(name="Alpha", role="client", url="http://127.0.0.1:9/link", secret=SECRET))
    add_partner(s.depot, PartnerInput(name="Carrier", role="subcontractor", url="http://127.0.0.1:9/c",
                                      secret=SECRET + "-carrier"))
    return s


def _order_msg(ref: str = "A-1", **kw) -> dict:
    return {"id": str(uuid.uuid4()), "kind": "order.new", "order": ref, "pickup_address": "1 Mill Lane, Leeds",
            "delivery_address": "2 Quay Side, Hull", "lines": [{"article": "BOX", "quantity": 2}], **kw}


async def _post(url: str, body: str | bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
        try:
            data = await resp.json(content_type=None)
        except ValueError:
            data = {"text": await resp.text()}
        return resp.status, data


def _signed(msg: dict | str, *, secret: str = SECRET, mid: str | None = None, now: float | None = None):
    body = msg if isinstance(msg, str) else json.dumps(msg)
    mid = mid or (msg["id"] if isinstance(msg, dict) else str(uuid.uuid4()))
    return body, sign(secret, mid, body, now=now)


async def test_a_good_message_is_committed_then_answered_2xx(side):
    before = _snapshot(side.depot)
    body, headers = _signed(_order_msg("A-100"))
    status, answer = await _post(side.url, body, headers)
    assert status == 200 and answer["ok"] and not answer["duplicate"]
    after = _snapshot(side.depot)
    assert after["orders"] == before["orders"] + 1 and after["received_messages"] == before["received_messages"] + 1
    assert answer["order"] and answer["result"].startswith("Received as")


async def test_a_repeat_answers_the_first_result_and_stores_nothing_more(side):
    msg = _order_msg("A-101")
    body, headers = _signed(msg)
    status1, first = await _post(side.url, body, headers)
    middle = _snapshot(side.depot)
    body2, headers2 = _signed(msg)  # signed again, as the sender's retry would be
    status2, again = await _post(side.url, body2, headers2)
    assert (status1, status2) == (200, 200)
    assert again["duplicate"] is True and again["order"] == first["order"] and again["result"] == first["result"]
    assert _snapshot(side.depot) == middle


async def _refused(side, body, headers, status: int, code: str, words: str) -> dict:
    before = _snapshot(side.depot)
    got, answer = await _post(side.url, body, headers)
    assert (got, answer.get("code")) == (status, code), answer
    assert answer["ok"] is False and words in answer["error"]
    assert _snapshot(side.depot) == before, "nothing may be stored"
    return answer


async def test_unsigned(side):
    await _refused(side, json.dumps(_order_msg()), {"content-type": "application/json"}, 401, "unsigned",
                   "not signed")


async def test_bad_signature(side):
    body, headers = _signed(_order_msg(), secret="somebody-elses-secret-123")
    await _refused(side, body, headers, 401, "bad-signature", "same shared secret")
    body, headers = _signed(_order_msg())
    headers["webhook-signature"] = "v1,not-a-signature"
    await _refused(side, body, headers, 401, "bad-signature", "does not match")
    body, headers = _signed(_order_msg())
    await _refused(side, body.replace("A-1", "A-2"), headers, 401, "bad-signature", "does not match")


@pytest.mark.parametrize("skew", [-301, 400])
async def test_timestamp_out_of_range(side, skew):
    body, headers = _signed(_order_msg(), now=time.time() + skew)
    answer = await _refused(side, body, headers, 401, "timestamp", "clock")
    assert ("behind" in answer["error"]) == (skew < 0)


async def test_a_timestamp_that_is_not_a_number(side):
    body, headers = _signed(_order_msg())
    headers["webhook-timestamp"] = "yesterday"
    await _refused(side, body, headers, 401, "timestamp", "whole number")


async def test_replay_of_an_id_with_another_body(side):
    msg = _order_msg("A-200")
    body, headers = _signed(msg)
    assert (await _post(side.url, body, headers))[0] == 200
    forged = {**msg, "order": "A-201"}
    body2, headers2 = _signed(forged)
    await _refused(side, body2, headers2, 409, "replay", "different body")


async def test_an_id_already_used_by_another_partner_is_another_message(side):
    # ids are unique per partner (issue 9 item 9)
    add_partner(side.depot, PartnerInput(name="Beta", role="client", secret=SECRET + "-beta"))
    msg = _order_msg("A-300")
    body, headers = _signed(msg)
    assert (await _post(side.url, body, headers))[0] == 200
    before = _snapshot(side.depot)
    status, answer = await _post(side.url, *_signed(msg, secret=SECRET + "-beta"))
    assert status == 200 and not answer["duplicate"]
    assert _snapshot(side.depot)["orders"] == before["orders"] + 1


async def test_malformed_json(side):
    mid = str(uuid.uuid4())
    await _refused(side, *_signed('{"id": "' + mid + '", "kind": ', mid=mid), 400, "malformed-json", "not valid JSON")
    await _refused(side, *_signed("[1, 2]"), 400, "malformed-json", "JSON object")
    body = b'{"id": "x", "k\xff": 1}'
    headers = sign(SECRET, "x", body.decode("latin-1"))
    await _refused(side, body, headers, 400, "not-utf8", "UTF-8")


async def test_the_id_must_match_the_webhook_id(side):
    msg = _order_msg()
    body, headers = _signed(msg, mid="something-else")
    await _refused(side, body, headers, 400, "id-mismatch", "webhook-id")


async def test_unknown_order(side):
    msg = {"id": str(uuid.uuid4()), "kind": "order.revoked", "order": "NOPE-1", "your_ref": "DD-999999"}
    await _refused(side, *_signed(msg), 404, "unknown", "does not know")


async def test_an_invalid_message(side):
    await _refused(side, *_signed({"id": str(uuid.uuid4()), "kind": "order.teleported", "order": "A-1"}), 422,
                   "invalid", "Unknown message kind")
    await _refused(side, *_signed(_order_msg(parcels=-3)), 422, "invalid", "parcels")


async def test_a_refused_message(side):
    # a subcontractor cannot send us an order
    await _refused(side, *_signed(_order_msg(), secret=SECRET + "-carrier"), 409, "refused",
                   "only clients and channels send us orders")
    # an order number that was already received
    assert (await _post(side.url, *_signed(_order_msg("A-400"))))[0] == 200
    await _refused(side, *_signed(_order_msg("A-400")), 409, "refused", "already received")


async def test_a_body_over_1_mb(side):
    big = _order_msg(pickup_address="x" * (MAX_BODY + 10))
    body, headers = _signed(big)
    await _refused(side, body, headers, 413, "too-large", "at most")
    # the same without a Content-Length (chunked): still refused
    before = _snapshot(side.depot)

    async def chunks():
        data = body.encode()
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]

    async with aiohttp.ClientSession() as http, http.post(side.url, data=chunks(), headers=headers) as resp:
        assert resp.status == 413
    assert _snapshot(side.depot) == before


async def test_health(side):
    async with aiohttp.ClientSession() as http, http.get(side.url.replace("/link", "/health")) as resp:
        assert resp.status == 200
        data = await resp.json()
    assert data["ok"] is True and "relay" in data and "waiting" in data


async def test_a_partner_added_a_moment_ago_is_recognised(side):
    body, headers = _signed(_order_msg("N-1"), secret="brand-new-partner-secret-1")
    add_partner(side.depot, PartnerInput(name="Newcomer", role="channel", secret="brand-new-partner-secret-1"))
    status, answer = await _post(side.url, body, headers)
    assert status == 200, answer


def test_the_secret_as_a_standard_webhooks_key():
    import base64

    from standardwebhooks import Webhook

    key = whsec("0123456789abcdef")
    assert key == "whsec_" + base64.b64encode(b"0123456789abcdef").decode()
    headers = sign("0123456789abcdef", "msg_1", '{"a":1}')
    assert Webhook(key).verify('{"a":1}', headers) == {"a": 1}




def _raw_order(ref: str, extra: str) -> tuple[str, str]:
    """An order.new body written as text, so that it can hold what json.dumps would not write."""
    mid = str(uuid.uuid4())
    return mid, (f'{{"id": "{mid}", "kind": "order.new", "order": "{ref}", "pickup_address": "1 Mill Lane", '
                 f'"delivery_address": "2 Quay Side", "lines": [{{"article": "BOX", "quantity": 2}}]{extra}}}')


#: issue 10 items 6 and 7: each got a 500 "will be retried", or was stored
POISON = [
    ("weight NaN", ', "weight_kg": NaN', 422, "weight_kg"),
    ("weight 1e999", ', "weight_kg": 1e999', 422, "weight_kg"),
    ("weight Infinity", ', "weight_kg": -Infinity', 422, "weight_kg"),
    ("weight 5e6", ', "weight_kg": 5e6', 422, "weight_kg"),
    ("parcels 10**30", ', "parcels": ' + str(10**30), 422, "parcels"),
    ("parcels 0", ', "parcels": 0', 422, "parcels"),
    ("parcels 50000", ', "parcels": 50000', 422, "parcels"),
    ("quantity 10**30", ', "lines": [{"article": "B", "quantity": ' + str(10**30) + "}]", 422, "quantity"),
    ("a 5000-digit number", ', "parcels": ' + "9" * 5000, 400, "not valid JSON"),
    ("lone surrogate in an address", ', "delivery_address": "x\\ud800y"', 422, "lone surrogate"),
    ("lone surrogate in an unread field", ', "note": {"a": ["\\udc00"]}', 422, "lone surrogate"),
    ("lone surrogate in a key", ', "\\ud800": 1', 422, "lone surrogate"),
    ("nested 100,000 deep", ', "x": ' + "[" * 100_000 + "]" * 100_000, 400, "nested"),
]


@pytest.mark.parametrize("extra, status, words", [p[1:] for p in POISON], ids=[p[0] for p in POISON])
async def test_a_poison_message_gets_a_4xx_and_stores_nothing(side, extra, status, words):
    mid, body = _raw_order(f"P-{uuid.uuid4().hex[:8]}", extra)
    code = {400: "malformed-json", 422: "invalid"}[status]
    await _refused(side, body, sign(SECRET, mid, body), status, code, words)


async def test_a_lone_surrogate_in_the_order_ref_gets_a_4xx(side):
    mid, body = _raw_order("P-\\ud800", "")
    await _refused(side, body, sign(SECRET, mid, body), 422, "invalid", "lone surrogate")


# a Standard Webhooks key as a service hands it out: whsec_ + base64 of 24 random bytes
STANDARD_KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_a_whsec_secret_is_the_standard_webhooks_key_not_a_string():
    import base64
    import hmac
    from hashlib import sha256

    headers = sign(STANDARD_KEY, "msg_2", '{"a":1}', now=1_700_000_000)
    key = base64.b64decode(STANDARD_KEY.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b'msg_2.1700000000.{"a":1}', sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert whsec(STANDARD_KEY) == STANDARD_KEY


async def test_a_partner_on_a_standard_webhooks_library_is_recognised(side):
    from standardwebhooks import Webhook

    add_partner(side.depot, PartnerInput(name="Webshop", role="channel", secret=STANDARD_KEY))
    msg = _order_msg("W-1")
    body = json.dumps(msg)
    now = time.time()
    signature = Webhook(STANDARD_KEY).sign(msg["id"], __import__("datetime").datetime.fromtimestamp(now), body)
    headers = {"webhook-id": msg["id"], "webhook-timestamp": str(int(now)), "webhook-signature": signature}
    status, answer = await _post(side.url, body, headers)
    assert status == 200, answer
