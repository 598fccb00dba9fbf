"""The Report screen (key 5, SPEC 8): work done without Rejected and Cancelled, and the
rejections, cancellations (and returns) per partner and reason, for a period of days.

| Key | Action |
| --- | --- |
| tab / shift+tab | First day, last day, the report |
| enter (in a day) | Show the report for these days |
| up / down, page up / page down | Scroll the report |
| w / m / a | This week, the last 30 days, all time |
| r | Read the report again |
| ? | These keys |

The screen shows whatever sections the services return (`services.report.report_sections`),
each as a titled table with the sentence saying what it counts; it reads in a thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static

from ...services import ERRORS
from ...services.report import Period, ReportSection, parse_period, report_sections
from ...text import clean
from ..widgets.header import DeskHeader
from ..widgets.keybar import KeyBar
from .help import HelpScreen


def section_table(section: ReportSection) -> Table:
    """One section as a table (outside text, such as partner names, shown literally)."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", expand=False,
                  padding=(0, 2, 0, 0))
    for i, heading in enumerate(section.columns):
        numeric = bool(section.rows) and all(isinstance(r[i], int) for r in section.rows if i < len(r))
        table.add_column(heading, justify="right" if numeric else "left", overflow="ellipsis",
                         no_wrap=True, max_width=None if numeric else 34)
    for n, row in enumerate(section.rows):
        cells = [f"{v:,}" if isinstance(v, int) else Text(clean(str(v), single_line=True, limit=200))
                 for v in row]
        last = section.total and n == len(section.rows) - 1
        table.add_row(*cells, style="bold" if last else None, end_section=bool(section.total and n == len(section.rows) - 2))
    return table


class ReportScreen(Screen[None]):
    BINDINGS = [
        Binding("w", "period('week')", "Week"),
        Binding("m", "period('month')", "30 days"),
        Binding("a", "period('all')", "All"),
        Binding("r", "reload", "Reload"),
        Binding("question_mark", "help", "Keys"),
    ]

    def __init__(self) -> None:
        super().__init__(id="report")
        self.period: Period | None = None

    def compose(self) -> ComposeResult:
        yield DeskHeader()
        with Horizontal(id="report-period"):
            yield Static(Text("Days from "), classes="report-label")
            yield Input(id="report-first", placeholder="YYYY-MM-DD", select_on_focus=False)
            yield Static(Text(" to "), classes="report-label")
            yield Input(id="report-last", placeholder="YYYY-MM-DD", select_on_focus=False)
            yield Static(Text("  (both included, UTC; enter shows)"), classes="report-label report-hint")
        yield Static("", id="report-problem")
        yield VerticalScroll(id="report-body", can_focus=True)
        yield KeyBar(id="keybar")

    def on_mount(self) -> None:
        self.query_one(DeskHeader).view = "Report"
        for field in self.query(Input):
            field.cursor_blink = getattr(self.app, "blink", True)
        self.action_period("month")
        self.query_one("#report-body").focus()

    def depot_changed(self, reveal: str | None = None) -> None:
        if self.period is not None:
            self._read(self.period)

    # ------------------------------------------------------------------ the period
    def _today(self) -> date:
        return self.app.depot.now().date()  # type: ignore[attr-defined]

    def action_period(self, which: str) -> None:
        today = self._today()
        first = {"week": today - timedelta(days=today.weekday()), "month": today - timedelta(days=29)}.get(which)
        last = today if first is not None else None
        self.query_one("#report-first", Input).value = first.isoformat() if first else ""
        self.query_one("#report-last", Input).value = last.isoformat() if last else ""
        self._apply()

    def action_reload(self) -> None:
        self._apply()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._apply()
        self.query_one("#report-body").focus()

    def _apply(self) -> None:
        problem = self.query_one("#report-problem", Static)
        try:
            period = parse_period(self.query_one("#report-first", Input).value,
                                  self.query_one("#report-last", Input).value)
        except ERRORS as e:
            problem.update(Text(clean(str(e)), style="bold"))
            problem.display = True
            return
        problem.display = False
        self.period = period
        self._read(period)

    # ------------------------------------------------------------------ reading and showing
    @work(thread=True, exclusive=True, group="report", exit_on_error=False)
    def _read(self, period: Period) -> None:
        try:
            sections = report_sections(self.app.depot, period)  # type: ignore[attr-defined]
        except ERRORS as e:
            self.app.call_from_thread(self._failed, str(e))
            return
        self.app.call_from_thread(self._show, period, sections)

    def _failed(self, message: str) -> None:
        problem = self.query_one("#report-problem", Static)
        problem.update(Text(clean(message), style="bold"))
        problem.display = True

    async def _show(self, period: Period, sections: Sequence[ReportSection]) -> None:
        if period != self.period:
            return  # a newer period is being read
        body = self.query_one("#report-body", VerticalScroll)
        widgets: list[Static] = []
        for s in sections:
            widgets.append(Static(Text(clean(s.title, single_line=True), style="bold underline"),
                                  classes="report-title"))
            if s.note:
                widgets.append(Static(Text(clean(s.note)), classes="report-note"))
            widgets.append(Static(section_table(s) if s.rows else Text(clean(s.empty)), classes="report-table"))
        async with body.batch():
            await body.remove_children()
            await body.mount_all(widgets)

    def action_help(self) -> None:
        keys = [
            ("tab  shift+tab", "first day, last day, the report", True),
            ("enter", "in a day: show the report for these days", True),
            ("↑/↓  page up/down", "scroll the report", True),
            ("w", "this week (Monday to today)", True),
            ("m", "the last 30 days", True),
            ("a", "all time", True),
            ("r", "read the report again", True),
            ("1 … 6", "the screens", True),
        ]
        notes = [
            "Work done counts the orders taken in during the days, by their status now; "
            "Rejected and Cancelled are left out of it.",
            "Rejections and cancellations count the orders that became Rejected or Cancelled "
            "during the days, per partner and reason.",
        ]
        self.app.push_screen(HelpScreen("Report: keys", keys, notes))
