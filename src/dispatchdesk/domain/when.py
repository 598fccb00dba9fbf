"""Times as a dispatcher types them on the phone: ``14:00``, ``tomorrow 10:00``, ``mon 8``,
``2026-12-03 14:00`` (ISO 8601, with or without a time zone), and what was understood, in
words, so the form can show it under the field.

    understood = parse_when("mon 8", now)      # now: an aware datetime in the depot's zone
    understood.at                              # 2026-12-07 08:00 in now's zone
    understood.words                           # 'Mon 7 Dec 2026 08:00'

Rules (one place, used by the form and by ``dispatchdesk order new``):
- a bare time (``14:00``, ``14``, ``1400``, ``2pm``) is the next one to come: today, or
  tomorrow when it has passed today;
- ``today`` / ``tomorrow`` (``tmrw``) and a weekday (``mon`` … ``sun``, or in full) may come
  before a time; a weekday is the next such day (today when it is today and the time is
  still to come); a day with no time is 00:00, or 23:59 for a deadline (``end_of_day``);
- ISO dates and times are taken as written; without a zone, in now's zone.
Anything else is refused with a sentence that shows how to write it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

__all__ = ["EXAMPLES", "Understood", "parse_when", "words"]

#: How to write a time, for the sentence that refuses one.
EXAMPLES = "14:00, tomorrow 10:00, mon 8 or 2026-12-03 14:00"

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {
    **{d: i for i, d in enumerate(_DAYS)},
    **{n: i for i, n in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday",
                                   "saturday", "sunday"))},
    "tues": 1, "wednes": 2, "thur": 3, "thurs": 3,
}
_RELATIVE = {"today": 0, "tod": 0, "tomorrow": 1, "tmrw": 1, "tmw": 1, "tom": 1}
_TIME = re.compile(
    r"(?P<h>\d{1,2})(?:(?::|\.|h)(?P<m>\d{2})|(?P<m4>\d{2}))?\s*(?P<ampm>am|pm|a|p)?$"
)


@dataclass(frozen=True)
class Understood:
    """The time meant, and how it reads back to the dispatcher."""

    at: datetime
    words: str


def words(at: datetime, now: datetime) -> str:
    """'Tue 1 Dec 2026 14:00 (today)': a time read back, in now's zone."""
    local = at.astimezone(now.tzinfo)
    text = f"{_DAYS[local.weekday()].title()} {local.day} {local:%b %Y %H:%M}"
    delta = (local.date() - now.date()).days
    if delta == 0:
        text += " (today)"
    elif delta == 1:
        text += " (tomorrow)"
    if local < now:
        text += ", in the past"
    return text


def _time_of(text: str) -> time | None:
    m = _TIME.match(text)
    if m is None:
        return None
    hour = int(m["h"])
    minute = int(m["m"] or m["m4"] or 0)
    ampm = m["ampm"]
    if m["m4"] and len(m["h"]) != 2:
        return None  # "915" is ambiguous; 0915 or 9:15
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.startswith("p") else 0)
    if hour == 24 and minute == 0:
        return None
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour, minute)


def _refuse(text: str) -> ValueError:
    shown = " ".join(text.split())[:40]
    return ValueError(f"{shown!r} is not a time I can read; write it like {EXAMPLES}.")


def parse_when(text: str, now: datetime, *, end_of_day: bool = False) -> Understood:
    """The time ``text`` means, seen at ``now`` (aware; its zone is the depot's).

    Raises ValueError with a sentence for the dispatcher when it cannot be read."""
    if now.tzinfo is None:
        raise ValueError("now must carry its time zone")
    raw = " ".join(text.strip().lower().replace(",", " ").split())
    if not raw:
        raise ValueError("No time given.")
    zone = now.tzinfo
    day_default = time(23, 59) if end_of_day else time(0, 0)

    # ISO 8601: a date, or a date and a time, with or without a zone
    if re.match(r"\d{4}-\d{2}-\d{2}", raw):
        try:
            at = datetime.fromisoformat(raw.upper().replace(" ", "T", 1) if len(raw) > 10 else raw)
        except ValueError:
            raise _refuse(text) from None
        if len(raw) == 10:
            at = datetime.combine(at.date(), day_default)
        if at.tzinfo is None:
            at = at.replace(tzinfo=zone)
        return Understood(at, words(at, now))

    parts = raw.split(" ", 1)
    first, rest = parts[0], (parts[1] if len(parts) > 1 else "")
    day: date | None = None
    if first in _RELATIVE:
        day = now.date() + timedelta(days=_RELATIVE[first])
    elif first.rstrip(".") in _DAY_NAMES:
        target = _DAY_NAMES[first.rstrip(".")]
        day = now.date() + timedelta(days=(target - now.weekday()) % 7)
    else:
        rest = raw  # no day: the whole text is the time
    if rest.startswith("at "):
        rest = rest[3:]
    if day is not None and not rest:
        at = datetime.combine(day, day_default, zone)
        return Understood(at, words(at, now))
    t = _time_of(rest.replace(" ", ""))
    if t is None:
        raise _refuse(text)
    if day is None:
        at = datetime.combine(now.date(), t, zone)
        if at <= now:
            at += timedelta(days=1)
    else:
        at = datetime.combine(day, t, zone)
        if first.rstrip(".") in _DAY_NAMES and at <= now:
            at += timedelta(days=7)  # "mon 8" on a Monday at 9: next Monday
    return Understood(at, words(at, now))
