"""How a claimed notice reaches its partner: signed HTTP, or e-mail over SMTP.

Each transport turns one attempt into a Delivery (sent / retry / failed / gone); nothing here
touches the database. Text that came back from a partner is sanitised before it is kept.

HTTP (SPEC 7): POST the JSON body {"id", "kind", **payload} to the partner's URL, signed in the
Standard Webhooks scheme. One deadline for the whole attempt (15 s by default: a partner that
drips its answer times out too). 2xx = sent; 408, 429, 5xx = retry, honouring Retry-After;
410 = the partner closed the link; any other answer = failed at once, with the answer shown.
No answer at all (refused connection, reset, timeout) = retry.

E-mail: one message per notice to the partner's address, through the SMTP server in the depot's
settings (smtp_host, smtp_port, smtp_sender). A follow-up to confirm it arrived was already
planned when the action was taken (domain.rules.delivery).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.message import EmailMessage
from email.utils import formatdate, parsedate_to_datetime

import aiohttp

from .. import __version__
from ..domain import NoticeKind
from ..services.outbox import ClaimedNotice, Delivery
from ..text import clean
from .signing import sign

__all__ = [
    "DEADLINE_SECONDS",
    "EmailTransport",
    "HttpTransport",
    "SmtpSettings",
    "encode_body",
    "parse_retry_after",
]

DEADLINE_SECONDS = 15.0
#: How much of a partner's error answer is read and kept.
ANSWER_LIMIT = 4096
USER_AGENT = f"dispatchdesk/{__version__}"


def encode_body(notice: ClaimedNotice) -> str:
    """The exact text that is signed and sent."""
    return json.dumps(notice.body(), ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date. None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _answer_text(raw: bytes) -> str:
    """A partner's error answer, short and sanitised. Our own endpoint answers {"error": ...}."""
    text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "reason"):
            if isinstance(data.get(key), str) and data[key].strip():
                text = data[key]
                break
    return clean(text, single_line=True, limit=300).strip()


class HttpTransport:
    """Signed JSON over HTTP, on a shared aiohttp session (the caller owns the session)."""

    def __init__(self, session: aiohttp.ClientSession, *, deadline: float = DEADLINE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.session = session
        self.deadline = deadline
        self.clock = clock

    async def deliver(self, notice: ClaimedNotice) -> Delivery:
        if not notice.partner_url:
            return Delivery.failed(f"{notice.partner} has no link URL; set one on the Partners screen.",
                                   contacted=False)
        if not notice.partner_secret:
            return Delivery.failed(f"{notice.partner} has no shared secret; set one on the Partners screen.",
                                   contacted=False)
        body = encode_body(notice)
        headers = {
            "content-type": "application/json; charset=utf-8",
            "user-agent": USER_AGENT,
            **sign(notice.partner_secret, notice.id, body, now=self.clock()),
        }
        timeout = aiohttp.ClientTimeout(total=self.deadline)
        try:
            async with self.session.post(notice.partner_url, data=body.encode("utf-8"), headers=headers,
                                         timeout=timeout, allow_redirects=False) as resp:
                status = resp.status
                raw = await resp.content.read(ANSWER_LIMIT) if status >= 300 else b""
                if 200 <= status < 300:
                    return Delivery.sent(status)
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), now=self.clock())
                what = f"HTTP {status} {clean(resp.reason or '', single_line=True, limit=60)}".strip()
                answer = _answer_text(raw)
                error = f"{what}: {answer}" if answer else what
        except TimeoutError:
            return Delivery.retry(f"No complete answer from {notice.partner} within {self.deadline:g} s.")
        except aiohttp.InvalidURL:
            return Delivery.failed(f"The link URL of {notice.partner} is not a valid URL: {notice.partner_url}",
                                   contacted=False)
        except aiohttp.ClientConnectorError as e:
            return Delivery.retry(f"Cannot connect to {notice.partner}: {e.os_error or e}")
        except (aiohttp.ClientError, OSError) as e:
            return Delivery.retry(f"The connection to {notice.partner} broke: {type(e).__name__}: {e}")
        if status == 410:
            return Delivery.gone(error)
        if status in (408, 429) or status >= 500:
            return Delivery.retry(error, status=status, retry_after=retry_after, contacted=True)
        if 300 <= status < 400:
            where = clean(resp.headers.get("Location", ""), single_line=True, limit=200)
            return Delivery.failed(f"{error}; the partner redirects to {where or 'elsewhere'}: "
                                   "check the link URL.", status=status)
        return Delivery.failed(error, status=status)


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None
    port: int
    sender: str | None
    depot_name: str

    @classmethod
    def from_settings(cls, get: Callable[[str], str | None]) -> SmtpSettings:
        try:
            port = int(get("smtp_port") or 25)
        except ValueError:
            port = 25
        return cls(get("smtp_host") or None, port, get("smtp_sender") or None, get("depot_name") or "Our depot")


_E_MAIL_FIELDS = (
    ("order", "Our order number"),
    ("your_ref", "Your order number"),
    ("status", "Status"),
    ("cancellation", "Cancellation number"),
    ("return", "Return number"),
    ("reason", "Reason"),
    ("comment", "Comment"),
    ("message", "Message"),
    ("outcome", "Outcome"),
    ("pickup_address", "Pickup address"),
    ("delivery_address", "Delivery address"),
    ("pickup_after", "Pickup after"),
    ("deliver_by", "Deliver by"),
    ("parcels", "Parcels"),
    ("weight_kg", "Weight (kg)"),
)


def email_message(notice: ClaimedNotice, settings: SmtpSettings) -> EmailMessage:
    """One notice as a plain-text e-mail. The Message-ID carries the notice's stable id."""
    try:
        what = NoticeKind(notice.kind).label
    except ValueError:
        what = notice.kind
    if notice.kind == NoticeKind.ORDER.value:
        what = "new order"
    p = notice.payload
    subject = f"{settings.depot_name}: {notice.label}"
    if p.get("your_ref"):
        subject += f" (your {p['your_ref']})"
    lines = [f"{settings.depot_name} sends you a {what}.", ""]
    for key, label in _E_MAIL_FIELDS:
        v = p.get(key)
        if v not in (None, "", [], {}):
            lines.append(f"{label}: {v}")
    items = p.get("lines")
    if isinstance(items, Mapping) and items:
        lines += ["", "Lines:"] + [f"  {a}: {q}" for a, q in items.items()]
    elif isinstance(items, list) and items:
        lines += ["", "Lines:"] + [
            f"  {i.get('article')}: {i.get('quantity')}  {i.get('description') or ''}".rstrip()
            for i in items if isinstance(i, dict)
        ]
    changes = p.get("changes")
    if isinstance(changes, list) and changes:  # an order.changed: old → new per field
        lines += ["", "Changed:"] + [
            f"  {c.get('label')}: {c.get('old')} → {c.get('new')}" for c in changes if isinstance(c, dict)
        ]
    lines += ["", f"Reference: {notice.id}", "Please reply to confirm you received it."]
    msg = EmailMessage()
    msg["From"] = settings.sender or "dispatchdesk@localhost"
    msg["To"] = notice.partner_email or ""
    msg["Subject"] = clean(subject, single_line=True, limit=200)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = f"<{notice.id}@dispatchdesk>"
    msg["X-Dispatchdesk-Notice"] = notice.id
    msg["X-Dispatchdesk-Kind"] = notice.kind
    msg.set_content("\n".join(clean(x) for x in lines) + "\n")
    return msg


class EmailTransport:
    """E-mail over SMTP with aiosmtplib. `settings` (async) is read fresh for every attempt."""

    def __init__(self, settings: Callable[[], Awaitable[SmtpSettings]], *, deadline: float = DEADLINE_SECONDS) -> None:
        self.settings = settings
        self.deadline = deadline

    async def deliver(self, notice: ClaimedNotice) -> Delivery:
        import aiosmtplib

        s = await self.settings()
        if not notice.partner_email:
            return Delivery.failed(f"{notice.partner} has no e-mail address; set one on the Partners screen.",
                                   contacted=False)
        if not s.host:
            # a setting missing, not a refusal: it goes out by itself once the setting is made
            return Delivery.retry("No SMTP server is set: set smtp_host (and smtp_port, smtp_sender) "
                                  "in the depot's settings.")
        msg = email_message(notice, s)
        try:
            await asyncio.wait_for(
                aiosmtplib.send(msg, hostname=s.host, port=s.port, timeout=self.deadline, start_tls=False,
                                use_tls=False),
                timeout=self.deadline,
            )
        except TimeoutError:
            return Delivery.retry(f"The SMTP server {s.host}:{s.port} did not answer within {self.deadline:g} s.")
        except aiosmtplib.SMTPRecipientsRefused as e:
            codes = [r.code for r in e.recipients]
            text = "; ".join(f"{r.code} {r.message}" for r in e.recipients)
            if codes and all(400 <= c < 500 for c in codes):
                return Delivery.retry(f"The SMTP server deferred {notice.partner_email}: {text}", contacted=True)
            return Delivery.failed(f"The SMTP server refused {notice.partner_email}: {text}")
        except aiosmtplib.SMTPResponseException as e:
            text = f"SMTP {e.code} {e.message}"
            if 400 <= e.code < 500:
                return Delivery.retry(text, contacted=True)
            return Delivery.failed(text)
        except (aiosmtplib.SMTPException, OSError) as e:
            return Delivery.retry(f"Cannot send e-mail through {s.host}:{s.port}: {type(e).__name__}: {e}")
        return Delivery.sent()

