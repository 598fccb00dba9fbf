"""Signatures on link messages: the Standard Webhooks scheme, over the partners' shared secret.

Every HTTP attempt carries three headers (https://www.standardwebhooks.com/):

    webhook-id:        the notice's stable id (the same on every attempt)
    webhook-timestamp: seconds since the epoch when this attempt was signed
    webhook-signature: v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">

The shared secret of a link is typed the same on both depots, in one of two forms:

- a Standard Webhooks key, ``whsec_`` + base64 of the key bytes (what a Standard Webhooks
  library or service hands out): the HMAC key is the decoded bytes, as the standard means it;
- any other string of 16 characters or more (a plain secret): the HMAC key is its UTF-8 bytes,
  which in Standard Webhooks' notation is ``whsec_`` + base64(secret) (see :func:`whsec`), so a
  partner using a Standard Webhooks library can sign and verify with that value.

services.setup checks a ``whsec_`` secret when a partner is added or changed and says which
form it took.

A receiver refuses a timestamp more than 5 minutes off its own clock.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

__all__ = [
    "TOLERANCE_SECONDS",
    "SignatureError",
    "TimestampError",
    "check_timestamp",
    "sign",
    "verify",
    "webhook",
    "whsec",
    "WHSEC_PREFIX",
]

TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The message is not signed, or not with this secret."""


class TimestampError(SignatureError):
    """The signature's timestamp is missing, malformed, or more than 5 minutes off."""


def whsec(secret: str) -> str:
    """The shared secret as a Standard Webhooks key: a whsec_ secret is one already; a plain one
    becomes whsec_ + base64 of its UTF-8 bytes."""
    if secret.startswith(WHSEC_PREFIX):
        return secret
    return WHSEC_PREFIX + base64.b64encode(secret.encode("utf-8")).decode("ascii")


WHSEC_PREFIX = "whsec_"


@lru_cache(maxsize=256)
def webhook(secret: str) -> Webhook:
    return Webhook(whsec(secret))


def sign(secret: str, msg_id: str, body: str, *, now: float | None = None) -> dict[str, str]:
    """The three signature headers for one attempt."""
    ts = int(time.time() if now is None else now)
    signature = webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, UTC), body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def check_timestamp(headers: Mapping[str, str], *, clock: Callable[[], float] = time.time) -> int:
    """The signed timestamp, if it is within 5 minutes of our clock; else TimestampError."""
    raw = _header(headers, "webhook-timestamp")
    if raw is None:
        raise SignatureError("The message is not signed: the webhook-timestamp header is missing.")
    try:
        ts = int(raw.strip())
    except ValueError:
        raise TimestampError(f"The webhook-timestamp {raw[:30]!r} is not a whole number of seconds.") from None
    off = ts - clock()
    if abs(off) > TOLERANCE_SECONDS:
        direction = "behind" if off < 0 else "ahead of"
        raise TimestampError(
            f"The message's timestamp is {abs(off):.0f} s {direction} this depot's clock "
            f"(at most {TOLERANCE_SECONDS} s allowed): check both machines' clocks."
        )
    return ts


def verify(secret: str, body: str, headers: Mapping[str, str]) -> None:
    """Raise SignatureError unless `body` was signed with `secret` (timestamp checked too)."""
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        if _header(headers, name) is None:
            raise SignatureError(f"The message is not signed: the {name} header is missing.")
    try:
        webhook(secret).verify(body, {k.lower(): v for k, v in headers.items()}, json_parse=False)
    except WebhookVerificationError as e:
        text = str(e)
        if "timestamp" in text.lower():
            raise TimestampError(f"The message's timestamp is out of range: {text}.") from None
        raise SignatureError("The signature does not match.") from None
    except (ValueError, TypeError):  # a malformed signature header (no comma, bad base64)
        raise SignatureError("The webhook-signature header is malformed.") from None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        for k, v in headers.items():
            if k.lower() == name:
                value = v
                break
    return value if value else None
