"""The report (SPEC 8) as a list of sections, for a period: the console's Report screen and
`dispatchdesk report` show whatever sections come, in order.

    period = parse_period("2026-11-01", "2026-11-30")      # both days included
    for section in report_sections(depot, period):
        section.title, section.columns, section.rows, section.note

A part of the services adds a section by appending a function ``(depot, period) -> ReportSection``
to ``SECTIONS`` (the returns of issue 8 come that way).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from ..domain import WORKING
from . import queries
from .core import Depot, InvalidInput


@dataclass(frozen=True)
class Period:
    """Whole days, both ends included; None: open at that end."""

    first: date | None = None
    last: date | None = None

    @property
    def since(self) -> datetime | None:
        return datetime.combine(self.first, time(), tzinfo=UTC) if self.first else None

    @property
    def until(self) -> datetime | None:
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=UTC) if self.last else None

    def describe(self) -> str:
        if self.first and self.last:
            if self.first == self.last:
                return f"on {self.first.isoformat()}"
            return f"from {self.first.isoformat()} to {self.last.isoformat()}"
        if self.first:
            return f"since {self.first.isoformat()}"
        if self.last:
            return f"up to {self.last.isoformat()}"
        return "at any time"


def _day(text: str, field_name: str, what: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"The {what} day {text!r} is not a date like 2026-11-30.", field=field_name) from None


def parse_period(first: str = "", last: str = "") -> Period:
    """Two days as typed (YYYY-MM-DD, or empty for an open end), both included."""
    a = _day(first, "first", "first")
    b = _day(last, "last", "last")
    if a and b and b < a:
        raise InvalidInput(f"The last day ({b.isoformat()}) is before the first ({a.isoformat()}).", field="last")
    return Period(a, b)


@dataclass(frozen=True)
class ReportSection:
    """One table of the report: a title, column headings, rows, and a sentence saying what it counts."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str | int, ...], ...]
    note: str = ""
    #: the last row is a total (shown apart)
    total: bool = False
    empty: str = "none"
    extra: dict[str, object] = field(default_factory=dict)


#: the counts read once for all the sections of one report_sections() call
_READ: ContextVar[dict[Period, dict[str, object]] | None] = ContextVar("report_read", default=None)


def _counts(depot: Depot, period: Period) -> dict[str, object]:
    memo = _READ.get()
    if memo is None:
        return queries.report(depot, period.since, period.until)
    if period not in memo:
        memo[period] = queries.report(depot, period.since, period.until)
    return memo[period]


def work_section(depot: Depot, period: Period) -> ReportSection:
    rep = _counts(depot, period)
    work: dict[str, int] = rep["work"]  # type: ignore[assignment]
    rows: list[tuple[str | int, ...]] = [(st.label, work.get(st.label, 0)) for st in WORKING]
    rows.append(("Total", sum(work.values())))
    return ReportSection(
        "work", "Work done", ("Status now", "Orders"), tuple(rows),
        note=f"Orders taken in {period.describe()}, by their status now; Rejected and Cancelled left out.",
        total=True,
    )


def undone_section(depot: Depot, period: Period) -> ReportSection:
    rep = _counts(depot, period)
    found: list[dict[str, object]] = rep["rejections_and_cancellations"]  # type: ignore[assignment]
    rows = sorted(((str(r["status"]), str(r["partner"]), str(r["reason"]), int(r["orders"]))  # type: ignore[call-overload]
                   for r in found), key=lambda r: (r[0], r[1], r[2]))
    return ReportSection(
        "rejections_and_cancellations", "Rejections and cancellations per partner and reason",
        ("Status", "Partner", "Reason", "Orders"), tuple(rows),
        note=f"Orders that became Rejected or Cancelled {period.describe()}.",
        empty="No order was rejected or cancelled in this period.",
    )


#: The report's sections, in the order they are shown.
def returns_section(depot: Depot, period: Period) -> ReportSection:
    """Returns per partner the order came from and reason (a return is not a cancellation)."""
    from .changes import returns_section as returns_rows

    with depot.uow(write=False) as uow:
        raw = returns_rows(uow.session, since=period.since, until=period.until)
    return ReportSection(
        "returns",
        "Returns per partner and reason",
        ("Partner", "Reason", "Returns", "Pieces"),
        tuple((r["partner"], r["reason"], r["returns"], r["pieces"]) for r in raw["rows"]),
        note="Returns registered in the period; a return never changes the order's status.",
        empty="No return was registered in this period.",
    )


SECTIONS: list[Callable[[Depot, Period], ReportSection]] = [work_section, undone_section, returns_section]


def report_sections(depot: Depot, period: Period = Period()) -> list[ReportSection]:
    token = _READ.set({})
    try:
        return [make(depot, period) for make in SECTIONS]
    finally:
        _READ.reset(token)


__all__ = ["SECTIONS", "Period", "ReportSection", "parse_period", "report_sections"]
