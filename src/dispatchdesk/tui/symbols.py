"""How the screen writes marks, statuses and ages: one symbol per mark, each a single cell.

The legend under `?` is built from MARKS, so a new mark shows up there by itself.
"""

from __future__ import annotations

from datetime import datetime

from ..domain import Mark, Status
from ..services.queries import ARCHIVED

#: mark -> (symbol, what it means). Distinct shapes, so they read without colour (NO_COLOR).
MARKS: dict[Mark, tuple[str, str]] = {
    Mark.CANCELLATION_REQUESTED: ("⊘", "cancellation requested by the partner"),
    Mark.NOTICE_WAITING: ("»", "a notice is waiting to go out or for the partner"),
    Mark.PARTNER_ACKNOWLEDGED: ("✓", "the partner acknowledged our last notice"),
    Mark.NOTICE_FAILED: ("!", "a notice failed: retry or skip it on the Link screen"),
    Mark.PARTNER_NOT_INFORMED: ("∅", "partner not informed (set Rejected without Trash)"),
    Mark.FOLLOW_UP_OPEN: ("☎", "a follow-up is open: someone must act by hand"),
    Mark.CANCELLATION_REFUSED: ("⚠", "the warehouse refused the cancellation: handle as a return"),
}

#: Marks in the order they are written on a card (most urgent first).
MARK_ORDER: tuple[Mark, ...] = (
    Mark.NOTICE_FAILED,
    Mark.CANCELLATION_REQUESTED,
    Mark.CANCELLATION_REFUSED,
    Mark.PARTNER_NOT_INFORMED,
    Mark.FOLLOW_UP_OPEN,
    Mark.NOTICE_WAITING,
    Mark.PARTNER_ACKNOWLEDGED,
)

#: Marks drawn in the warning style (they ask for a person).
URGENT: frozenset[Mark] = frozenset(
    {Mark.NOTICE_FAILED, Mark.CANCELLATION_REQUESTED, Mark.CANCELLATION_REFUSED, Mark.PARTNER_NOT_INFORMED}
)

SELECTED = "●"  # a card selected for a bulk action
CARRIED = "↕"  # a card being dragged or carried from the keyboard


def mark_symbols(marks: frozenset[Mark]) -> str:
    return "".join(MARKS[m][0] for m in MARK_ORDER if m in marks)


def list_title(key: str) -> str:
    return "Archived" if key == ARCHIVED else Status(key).label


def age(since: datetime | None, now: datetime) -> str:
    """A short age: 45s, 12m, 3h, 5d, 7w."""
    if since is None:
        return ""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    if seconds < 86400 * 14:
        return f"{seconds // 86400}d"
    return f"{seconds // (86400 * 7)}w"


def when(at: datetime | None) -> str:
    """A timestamp in the local time zone, to the minute."""
    if at is None:
        return "—"
    return at.astimezone().strftime("%Y-%m-%d %H:%M")
