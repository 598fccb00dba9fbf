"""The limits an order's values keep, wherever the order comes from: a partner's message over
the link, an import file, the new-order form or the command line. One set, used by the
import and message schemas (services.validation) and by services.setup.check_order, so that
what one door accepts the others accept too, and a JSON backup always reads back.

The ranges also keep every number inside what the databases hold (a 32-bit INTEGER on
PostgreSQL, a finite REAL), and text is refused when it holds a lone surrogate: half of a
UTF-16 pair, which JSON can spell ("\\ud800") but no UTF-8 file or database can store.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "ARTICLE",
    "ATTEMPTS",
    "CANCELLED",
    "DOCUMENT_NUMBER",
    "MESSAGE_ID",
    "NOTICE_ID",
    "ORDER_NUMBER",
    "ORDER_NUMBER_RE",
    "PARCELS",
    "PARTNER_NAME",
    "PARTNER_REF",
    "PHONE",
    "QUANTITY",
    "SEQ",
    "TAG",
    "TEXT",
    "WEIGHT_KG",
    "Range",
    "lone_surrogate",
]


@dataclass(frozen=True)
class Range:
    """A closed range of numbers; ``whole`` ones are integers (true/false is neither)."""

    low: int
    high: int
    whole: bool = True

    def holds(self, value: object) -> bool:
        if isinstance(value, bool):
            return False
        if self.whole:
            return isinstance(value, int) and self.low <= value <= self.high
        return isinstance(value, (int, float)) and math.isfinite(value) and self.low <= value <= self.high

    @property
    def words(self) -> str:
        """'from 1 to 9999', for a sentence."""
        return f"from {self.low} to {self.high}"


PARCELS = Range(1, 9_999)
WEIGHT_KG = Range(0, 100_000, whole=False)
#: a line's quantity (and a back-order's)
QUANTITY = Range(1, 1_000_000)
#: how many of a line are cancelled (and a cancellation's quantity of an article)
CANCELLED = Range(0, QUANTITY.high)
#: a notice's delivery attempts and its place in its order's sequence
ATTEMPTS = Range(0, 1_000_000)
SEQ = Range(0, 1_000_000_000)

#: free text: addresses, descriptions, comments, messages, follow-ups
TEXT = 4000
ARTICLE = 100
PARTNER_REF = 100
PARTNER_NAME = 200
#: a customer's phone number (the new-order form)
PHONE = 40
DOCUMENT_NUMBER = 100
TAG = 50
ORDER_NUMBER = 50
ORDER_NUMBER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,49}")
MESSAGE_ID = 100
NOTICE_ID = 36

_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in ``text`` (a str can hold one; UTF-8 cannot), or None."""
    if text.isascii():
        return None
    m = _SURROGATE.search(text)
    return m.group() if m else None
