"""The link endpoint: where partners' signed messages come in (aiohttp, on the caller's loop).

    POST /link    one message, signed in the Standard Webhooks scheme (see link.signing)
    GET  /health  {"ok": true, ...}: the endpoint is up
    GET  /healthz for a service manager: 200 {"ok": true, "lag", "schema"} while the relay's
                  loop turns and the database answers; 503 {"ok": false, "reason", ...} when not.
                  Unauthenticated and cheap: it reads what the relay last saw, never the
                  database, and names no order.

What POST /link checks, in this order, answering 4xx with {"ok": false, "code", "error"} and
storing nothing when a check fails:

    413 body over 1 MB                      401 headers missing (unsigned)
    401 timestamp more than 5 minutes off   401 no partner's secret matches the signature
    400 body not UTF-8 / not JSON / not an object / its "id" differs from webhook-id
    409 the webhook-id was already used by this partner with a different body (replay)
    422 a field is wrong (services.InvalidInput)   404 the order is unknown (NotFound)
    409 the message is refused (Refused)           503 the database is busy or unusable

A repeat of a message already applied (same id, same body) answers 200 with the first result
("duplicate": true): delivery is at least once. 2xx is answered only after receive() committed.
The business answer to a partner's notice (accepted / refused) goes back later through our own
outbox (notice.answer); this HTTP answer only says the message was taken.

The sender is identified by trying the secrets of the partners that have one; every link has
its own secret (services.setup refuses a duplicate).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..services import (
    ERRORS,
    Conflict,
    Depot,
    InvalidInput,
    NotFound,
    Refused,
    StorageError,
    receive,
)
from ..services.outbox import LinkPartner, link_partners, received
from ..text import clean
from .signing import SignatureError, TimestampError, check_timestamp, verify

__all__ = ["HEALTHZ", "MAX_BODY", "Healthz", "make_app"]

#: The path a service manager probes (link.guard keeps places for it on the loopback address).
HEALTHZ = "/healthz"

log = logging.getLogger("dispatchdesk.link")

MAX_BODY = 1024 * 1024
PARTNER_CACHE_SECONDS = 2.0


def _error(status: int, code: str, error: str, **headers: str) -> web.Response:
    return web.json_response({"ok": False, "code": code, "error": error}, status=status, headers=headers or None)


#: What a relay answers /healthz with: (HTTP status, the JSON body).
Healthz = Callable[[], tuple[int, dict[str, Any]]]


class _Endpoint:
    def __init__(self, depot: Depot, *, clock: Callable[[], float], status: Callable[[], dict[str, Any]] | None,
                 healthz: Healthz | None = None) -> None:
        self.depot = depot
        self.clock = clock
        self.status = status
        self._healthz = healthz
        self._partners: list[LinkPartner] = []
        self._partners_at = -1e9

    async def partners(self) -> list[LinkPartner]:
        now = time.monotonic()
        if now - self._partners_at > PARTNER_CACHE_SECONDS:
            self._partners = await asyncio.to_thread(link_partners, self.depot)
            self._partners_at = now
        return self._partners

    async def health(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {"ok": True, "service": "dispatchdesk link"}
        if self.status is not None:
            body.update(self.status())
        return web.json_response(body)

    async def healthz(self, request: web.Request) -> web.Response:
        code, body = self._healthz() if self._healthz is not None else (200, {"ok": True})
        return web.json_response(body, status=code, headers={"Cache-Control": "no-store"})

    async def post(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _error(413, "too-large", f"The message is {request.content_length} bytes; at most {MAX_BODY} are accepted.")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "too-large", f"The message is over {MAX_BODY} bytes; at most {MAX_BODY} are accepted.")
        if len(raw) > MAX_BODY:
            return _error(413, "too-large", f"The message is {len(raw)} bytes; at most {MAX_BODY} are accepted.")
        headers = {k.lower(): v for k, v in request.headers.items()}
        missing = [h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if not headers.get(h)]
        if missing:
            return _error(401, "unsigned", f"The message is not signed: missing header {', '.join(missing)}.")
        try:
            check_timestamp(headers, clock=self.clock)
        except SignatureError as e:
            return _error(401, "timestamp", str(e))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            return _error(400, "not-utf8", f"The body is not UTF-8 text (byte {e.start}).")
        try:
            sender = self._sender(await self.partners(), text, headers)
            if sender is None:  # a partner added or changed a moment ago: look again once
                self._partners_at = -1e9
                sender = self._sender(await self.partners(), text, headers)
        except TimestampError as e:
            return _error(401, "timestamp", str(e))
        except ERRORS as e:
            return _error(503, "busy", clean(str(e), limit=1000), **{"Retry-After": "5"})
        if sender is None:
            return _error(401, "bad-signature",
                          "The signature does not match the secret of any partner of this depot: "
                          "check that both depots have the same shared secret for this link.")
        try:
            msg = json.loads(text)
        except ValueError as e:
            return _error(400, "malformed-json", f"The body is not valid JSON: {e}.")
        except RecursionError:
            return _error(400, "malformed-json", "The body's JSON is nested too deeply.")
        if not isinstance(msg, dict):
            return _error(400, "malformed-json", "The body must be a JSON object.")
        mid = headers["webhook-id"]
        if msg.get("id") != mid:
            return _error(400, "id-mismatch",
                          "The message's \"id\" must equal its webhook-id header.")
        # the digest of the message's content, not of its bytes: a sender may re-encode a retry
        canonical = json.dumps(msg, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        # (a lone surrogate, "\ud800", passes here; receive() refuses it with a 422)
        digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
        try:
            first = await asyncio.to_thread(received, self.depot, mid, sender.name)
            if first is not None:
                return self._repeat(sender, first, digest)
            # the message and its digest in one transaction (ids are unique per partner)
            result = await asyncio.to_thread(lambda: receive(self.depot, sender.name, msg, digest=digest))
        except InvalidInput as e:
            return _error(422, "invalid", clean(str(e), limit=1000))
        except NotFound as e:
            return _error(404, "unknown", clean(str(e), limit=1000))
        except Refused as e:
            # a parallel delivery of the same message may have won the race: that is a repeat
            first = await asyncio.to_thread(received, self.depot, mid, sender.name)
            if first is not None:
                return self._repeat(sender, first, digest)
            return _error(409, "refused", clean(str(e), limit=1000))
        except (StorageError, Conflict) as e:
            # busy database, or a dispatcher changed the order at the same moment: try again
            return _error(503, "busy", clean(str(e), limit=1000), **{"Retry-After": "5"})
        except ERRORS as e:
            return _error(422, "invalid", clean(str(e), limit=1000))
        except Exception:  # noqa: BLE001 - never leak a traceback to a partner
            log.exception("link message %s from %s could not be applied", mid, sender.name)
            return _error(500, "internal", "The message could not be applied; it will be retried.")
        log.info("applied %s %s from %s: %s", msg.get("kind"), mid, sender.name, result.text)
        return web.json_response({"ok": True, **result.as_json()})

    @staticmethod
    def _sender(partners: list[LinkPartner], text: str, headers: dict[str, str]) -> LinkPartner | None:
        for p in partners:
            try:
                verify(p.secret or "", text, headers)
            except TimestampError:
                raise
            except SignatureError:
                continue
            return p
        return None

    def _repeat(self, sender: LinkPartner, first: Any, digest: str) -> web.Response:
        if first.partner != sender.name:
            return _error(409, "replay", f"Message id {first.message_id} was already used by another partner.")
        if first.digest is not None and first.digest != digest:
            return _error(409, "replay",
                          f"Message id {first.message_id} was already applied with a different body; "
                          "a new message needs a new id.")
        return web.json_response({
            "ok": True,
            "id": first.message_id,
            "kind": first.kind,
            "order": first.result.get("order"),
            "result": first.result.get("result", "already applied"),
            "duplicate": True,
        })


def make_app(depot: Depot, *, clock: Callable[[], float] = time.time,
             status: Callable[[], dict[str, Any]] | None = None,
             healthz: Healthz | None = None) -> web.Application:
    """The endpoint as an aiohttp application; `status` adds the relay's state to /health,
    `healthz` answers /healthz (the relay's health for a service manager)."""
    ep = _Endpoint(depot, clock=clock, status=status, healthz=healthz)
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/link", ep.post)
    app.router.add_get("/health", ep.health)
    app.router.add_get(HEALTHZ, ep.healthz)
    return app
