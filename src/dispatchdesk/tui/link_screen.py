"""The Link screen (key 3): every notice and its state, each partner's link health, the
follow-ups. Retry or skip a failed notice; tick a follow-up done (or not done).

| Key | Action |
| --- | --- |
| tab / shift+tab | Move between the partners' health and the list below |
| up / down | Move in a list |
| enter | On a partner: show only its notices. On a notice or follow-up: open its order |
| f | Notices: the next state filter (all, waiting, failed, sent, acknowledged, follow-up…) |
| p | Notices: the next partner filter (all, then each partner) |
| r | Retry the highlighted failed notice now (asks first) |
| s | Skip the highlighted failed notice: it will never be sent (asks first) |
| n / w | Show the notices / the follow-ups |
| d, space | Follow-ups: mark the highlighted one done, or not done again |
| a | Follow-ups: open ones only, or all |
| escape | Clear the filters |
| ? | These keys |

Everything that came from outside (partner names, error answers, partners' messages, order
numbers) is shown through dispatchdesk.text as literal text, never parsed as markup.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from ..domain import NoticeKind, NoticeState
from ..services import ERRORS, Depot, FollowUpDone, RetryNotice, SkipNotice, queries
from ..services.outbox import notice_counts, notice_label
from ..services.queries import FollowUpView, NoticeView, PartnerView
from ..text import clean
from .asking import ask_and_do
from .css import stylesheet
from .screens.help import HelpScreen
from .symbols import age
from .widgets.header import DeskHeader
from .widgets.keybar import KeyBar

__all__ = ["STATE_FILTERS", "LinkScreen", "health", "kind_label", "until"]

#: Notices shown at most (newest first); the title says when there are more.
NOTICE_LIMIT = 500
#: Seconds between two reads of the lists while the database keeps changing.
RELOAD_EVERY = 1.0
#: How often the ages and "retry in…" are looked at (no database read).
TICK_SECONDS = 1.0

#: (name, states) the f key cycles through; () = every state.
STATE_FILTERS: tuple[tuple[str, tuple[NoticeState, ...]], ...] = (
    ("all", ()),
    ("waiting", (NoticeState.HELD, NoticeState.QUEUED)),
    ("failed", (NoticeState.FAILED,)),
    ("sent, no answer yet", (NoticeState.SENT,)),
    ("acknowledged", (NoticeState.ACKNOWLEDGED,)),
    ("follow-up", (NoticeState.FOLLOW_UP,)),
    ("skipped or withdrawn", (NoticeState.SKIPPED, NoticeState.WITHDRAWN)),
)

#: (label, key, width at 80 columns, width from 120 columns); None = as wide as its text
HEALTH_COLUMNS = (("Partner", "partner", 18, 28), ("Link", "link", 6, 6), ("Health", "health", 7, 7),
                  ("Contact", "contact", 7, 7), ("Open", "waiting", 4, 4), ("Fail", "failed", 4, 4),
                  ("Last error", "error", None, None))
NOTICE_COLUMNS = (("Age", "age", 3, 4), ("Order", "order", 9, 12), ("Partner", "partner", 14, 26),
                  ("What", "what", 12, 15), ("State", "state", 12, 14), ("Try", "tries", 3, 3),
                  ("Detail", "detail", None, None))
FOLLOWUP_COLUMNS = (("Done", "done", 4, 4), ("Age", "age", 4, 4), ("Order", "order", 10, 12),
                    ("Partner", "partner", 16, 26), ("To do", "text", None, None))
WIDE = 120
#: Below this many lines the partners' table shrinks to three rows and loses its title.
SHORT = 32

#: Short names of the notice kinds, for the list (the line under it says it in full).
SHORT_KIND = {
    NoticeKind.ORDER.value: "order",
    NoticeKind.REVOCATION.value: "revocation",
    NoticeKind.REJECTION.value: "rejection",
    NoticeKind.CANCELLATION.value: "cancellation",
    NoticeKind.STATUS.value: "status",
    NoticeKind.CANCEL_REQUEST.value: "cancel request",
    NoticeKind.CANCEL_REQUEST_REFUSED.value: "req. refused",
    NoticeKind.ANSWER.value: "answer",
}


def kind_label(kind: str) -> str:
    try:
        return NoticeKind(kind).label
    except ValueError:
        return clean(kind, single_line=True)


def until(at: datetime | None, now: datetime) -> str:
    """'in 4m' for a time to come, 'now' once it has come."""
    if at is None:
        return ""
    if at <= now:
        return "now"
    return "in " + age(now - (at - now), now)


HEALTH_STYLE = {"stopped": "bold reverse", "by hand": "dim", "error": "bold", "ok": "", "untried": "dim"}


def health(p: PartnerView) -> tuple[str, str]:
    """(word, style) for a partner's link; the word is the services' (queries.link_health)."""
    word = queries.link_health(p)
    return word, HEALTH_STYLE.get(word, "")


def _t(value: object, *, style: str = "", limit: int | None = None) -> Text:
    """Outside text as one literal line."""
    return Text(clean(value, single_line=True, limit=limit), style=style)


@dataclass(frozen=True)
class _Loaded:
    partners: list[PartnerView]
    notices: list[NoticeView]
    followups: list[FollowUpView]
    counts: dict[NoticeState, int]
    now: datetime


class LinkScreen(Screen[None]):
    """Notices by state and partner, each partner's link health, the follow-ups."""

    CSS_PATH = stylesheet("link.tcss")

    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("f", "state_filter", "State"),
        Binding("p", "partner_filter", "Partner"),
        Binding("r", "retry", "Retry"),
        Binding("s", "skip", "Skip"),
        Binding("d,space", "toggle_done", "Done/undone"),
        Binding("a", "all_followups", "Open/all"),
        Binding("n", "tab('tab-notices')", "Notices", show=False),
        Binding("w", "tab('tab-followups')", "Follow-ups", show=False),
        Binding("escape", "clear_filters", "Clear", show=False),
        Binding("question_mark", "help", "Keys"),
    ]

    HELP = (
        ("tab", "move between the partners' health and the list below", ""),
        ("enter", "on a partner: only its notices; on a notice or follow-up: open its order", ""),
        ("f", "notices: next state filter", "state_filter"),
        ("p", "notices: next partner filter", "partner_filter"),
        ("r", "retry the highlighted failed notice now", "retry"),
        ("s", "skip the highlighted failed notice (it is never sent)", "skip"),
        ("n / w", "show the notices / the follow-ups", ""),
        ("d, space", "follow-up done, or not done again", "toggle_done"),
        ("a", "follow-ups: open ones only, or all", "all_followups"),
        ("escape", "clear the filters", ""),
        ("1 / 3 / 4", "the Dispatch, Link and Partners screens", ""),
    )

    def __init__(self, depot: Depot) -> None:
        super().__init__(id="link-screen")
        self.depot = depot
        self.state_filter = 0
        self.partner_filter: str | None = None
        self.open_only = True
        self.loaded: _Loaded | None = None
        self.problem = ""
        self.generation = 0
        self.loads = 0  # loads applied (tests wait on it)
        self._last_reload = -1e9
        self._pending: Any = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield DeskHeader()
        yield Static(Text("Partners: link health", style="bold"), id="health-title", classes="link-title")
        yield DataTable(id="link-health", cursor_type="row", zebra_stripes=False)
        with TabbedContent(initial="tab-notices", id="link-tabs"):
            with TabPane("Notices", id="tab-notices"):
                yield Static("", id="notice-filter", classes="link-filter")
                yield DataTable(id="link-notices", cursor_type="row")
            with TabPane("Follow-ups", id="tab-followups"):
                yield Static("", id="followup-filter", classes="link-filter")
                yield DataTable(id="link-followups", cursor_type="row")
        yield Static("", id="link-detail")
        yield Static("", id="link-status")
        yield KeyBar(id="keybar")

    def on_mount(self) -> None:
        self.query_one(DeskHeader).view = "Link"
        self.set_class(self.size.height < SHORT, "-short")
        self._wide: int | None = None  # the width the columns were made for
        self._columns()
        self.query_one("#link-notices", DataTable).focus()
        self._show_filters()
        self.set_interval(TICK_SECONDS, self._tick)
        self.reload()

    def _columns(self) -> None:
        """(Re)make the tables' columns for the screen's width: wider ones from 120 columns, and
        the last column takes what is left (fixed widths: nothing is measured from the rows)."""
        width = self.size.width
        if width == self._wide:
            return
        self._wide = width
        wide = width >= WIDE
        for table_id, columns in (("#link-health", HEALTH_COLUMNS), ("#link-notices", NOTICE_COLUMNS),
                                  ("#link-followups", FOLLOWUP_COLUMNS)):
            table = self.query_one(table_id, DataTable)
            table.clear(columns=True)
            fixed = [(broad if wide else narrow) for _, _, narrow, broad in columns[:-1]]
            rest = max(10, width - sum(fixed) - 2 * len(columns) - 1)
            for (label, key, _, _), w in zip(columns, [*fixed, rest], strict=True):
                table.add_column(Text(label, style="bold"), key=key, width=w)
        if self.loaded is not None:
            self._apply(self.generation, self.loaded)

    def on_resize(self) -> None:
        self.set_class(self.size.height < SHORT, "-short")
        if self.is_mounted and getattr(self, "_wide", None) is not None:
            self._columns()

    # ------------------------------------------------------------------ loading
    def depot_changed(self, reveal: str | None = None) -> None:
        """The app calls this when the database changed (here or in another session). While the
        relay is busy that is often: the lists are read again at most once a second."""
        now = time.monotonic()
        wait = RELOAD_EVERY - (now - self._last_reload)
        if wait <= 0:
            self.reload()
        elif self._pending is None:
            self._pending = self.set_timer(wait, self._reload_pending)

    def _reload_pending(self) -> None:
        self._pending = None
        self.reload()

    def reload(self) -> None:
        self._last_reload = time.monotonic()
        self.generation += 1
        self._load(self.generation, STATE_FILTERS[self.state_filter][1], self.partner_filter, self.open_only)

    @work(thread=True, exclusive=True, group="link")
    def _load(self, generation: int, states: tuple[NoticeState, ...], partner: str | None, open_only: bool) -> None:
        try:
            partners = queries.partners(self.depot)
            notices = queries.notices(self.depot, states=states, partner=partner, limit=NOTICE_LIMIT)
            followups = queries.followups(self.depot, open_only=open_only)
            counts = notice_counts(self.depot, partner=partner)
            now = self.depot.now()
        except ERRORS as e:
            self.app.call_from_thread(self._set_problem, str(e))
            return
        self.app.call_from_thread(self._apply, generation, _Loaded(partners, notices, followups, counts, now))

    def _set_problem(self, problem: str) -> None:
        self.problem = clean(problem, single_line=True)
        self._status(self.problem, error=True)

    def _apply(self, generation: int, data: _Loaded) -> None:
        if generation != self.generation:
            return  # a newer load follows
        self.loaded = data
        self.problem = ""
        self._fill_health(data)
        self._fill_notices(data)
        self._fill_followups(data)
        self._show_filters()
        self._show_detail()
        self.loads += 1
        self.refresh_bindings()

    @staticmethod
    def _keep_cursor(table: DataTable[Any], fill: Any) -> None:
        """Refill a table and keep the cursor on the same row (by key) when it is still there."""
        key = None
        if table.row_count and table.cursor_row < table.row_count:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        row = table.cursor_row
        table.clear()
        fill()
        if not table.row_count:
            return
        if key is not None:
            try:
                table.move_cursor(row=table.get_row_index(key), animate=False)
                return
            except Exception:  # noqa: BLE001 - the row is gone: stay near where it was
                pass
        table.move_cursor(row=min(row, table.row_count - 1), animate=False)

    def _health_cells(self, p: PartnerView, now: datetime) -> list[Text]:
        word, style = health(p)
        link = {"http": "http", "email": "e-mail", "none": "none"}.get(p.link, p.link)
        return [
            _t(p.name, limit=40, style="bold" if p.name == self.partner_filter else ""),
            Text(link),
            Text(word, style=style),
            Text(age(p.last_contact_at, now) or "never", style="" if p.last_contact_at else "dim"),
            Text(str(p.waiting) if p.waiting else "·", justify="right"),
            Text(str(p.failed) if p.failed else "·", style="bold" if p.failed else "", justify="right"),
            _t(f"{age(p.last_error_at, now)} ago: {p.last_error}" if p.last_error else "", limit=70),
        ]

    def _fill_health(self, data: _Loaded) -> None:
        table = self.query_one("#link-health", DataTable)

        def fill() -> None:
            for p in data.partners:
                table.add_row(*self._health_cells(p, data.now), key=p.name)

        self._keep_cursor(table, fill)

    def _state_cell(self, n: NoticeView, now: datetime) -> Text:
        st = n.state
        if st is NoticeState.HELD:
            return Text(f"held {until(n.release_at, now)}".strip())
        if st is NoticeState.QUEUED:
            if n.attempts:
                return Text(f"retry {until(n.next_attempt_at, now)}", style="bold")
            return Text("queued")
        if st is NoticeState.ACKNOWLEDGED:
            if n.outcome == "refused":
                return Text("✗ refused", style="bold")
            return Text("✓ accepted")
        if st is NoticeState.FAILED:
            return Text("! FAILED", style="bold reverse")
        return Text(st.value, style="dim" if st in (NoticeState.WITHDRAWN, NoticeState.SKIPPED) else "")

    def _notice_cells(self, n: NoticeView, now: datetime) -> list[Text]:
        if n.last_error and n.state in (NoticeState.FAILED, NoticeState.QUEUED):
            detail = _t(n.last_error, limit=60)
        elif n.answer:
            detail = _t(f"“{clean(n.answer, single_line=True)}”", limit=60)
        elif n.transport == "email":
            detail = Text("by e-mail", style="dim")
        elif n.state is NoticeState.FOLLOW_UP:
            detail = Text("by hand: see the follow-ups", style="dim")
        else:
            detail = Text("")
        return [
            Text(age(n.created_at, now)),
            _t(n.order or "—", limit=20),
            _t(n.partner, limit=40),
            Text(SHORT_KIND.get(n.kind, kind_label(n.kind))),
            self._state_cell(n, now),
            Text(str(n.attempts) if n.attempts else "", justify="right"),
            detail,
        ]

    def _fill_notices(self, data: _Loaded) -> None:
        table = self.query_one("#link-notices", DataTable)

        def fill() -> None:
            for n in data.notices:
                table.add_row(*self._notice_cells(n, data.now), key=n.id)

        self._keep_cursor(table, fill)

    def _followup_cells(self, f: FollowUpView, now: datetime) -> list[Text]:
        done = f.done_at is not None
        text = clean(f.text, single_line=True)
        if done:
            text += f"  (done by {clean(f.done_by or '?', single_line=True)}, {age(f.done_at, now)} ago)"
        return [
            Text("[x]" if done else "[ ]", style="" if done else "bold"),
            Text(age(f.created_at, now)),
            _t(f.order or "—", limit=20),
            _t(f.partner or "—", limit=40),
            Text(clean(text, limit=120), style="dim" if done else ""),
        ]

    def _fill_followups(self, data: _Loaded) -> None:
        table = self.query_one("#link-followups", DataTable)

        def fill() -> None:
            for f in data.followups:
                table.add_row(*self._followup_cells(f, data.now), key=str(f.id))

        self._keep_cursor(table, fill)

    def _tick(self) -> None:
        """Ages and 'retry in…' move on without reading the database: the cells that read
        differently at the new time are rewritten, and the line under the list."""
        data = self.loaded
        if data is None:
            return
        now = self.depot.now()
        if now == data.now:
            return
        self.loaded = fresh = replace(data, now=now)
        then = data.now
        # only the cells that hold a time are looked at, and age() is cheap: ~400 rows in well
        # under a millisecond when nothing reads differently
        self._retick("#link-health", [
            (p.name, "contact", self._health_cells(p, now)[3])
            for p in data.partners if age(p.last_contact_at, then) != age(p.last_contact_at, now)] + [
            (p.name, "error", self._health_cells(p, now)[6])
            for p in data.partners if p.last_error and age(p.last_error_at, then) != age(p.last_error_at, now)])
        self._retick("#link-notices", [
            (n.id, "age", Text(age(n.created_at, now)))
            for n in data.notices if age(n.created_at, then) != age(n.created_at, now)] + [
            (n.id, "state", self._state_cell(n, now))
            for n in data.notices if n.state in (NoticeState.HELD, NoticeState.QUEUED)
            and self._state_cell(n, then).plain != self._state_cell(n, now).plain])
        self._retick("#link-followups", [
            (str(f.id), "age", Text(age(f.created_at, now)))
            for f in data.followups if age(f.created_at, then) != age(f.created_at, now)] + [
            (str(f.id), "text", self._followup_cells(f, now)[4])
            for f in data.followups if f.done_at is not None and age(f.done_at, then) != age(f.done_at, now)])
        self._show_detail(fresh)

    def _retick(self, table_id: str, cells: list[tuple[str, str, Text]]) -> None:
        """Rewrite these cells (row key, column key, the new cell) of `table_id`."""
        table = self.query_one(table_id, DataTable)
        for row, col, cell in cells:
            try:
                table.update_cell(row, col, cell)
            except Exception:  # noqa: BLE001 - the row left the table meanwhile
                continue

    def _show_filters(self) -> None:
        name = STATE_FILTERS[self.state_filter][0]
        line = Text()
        line.append("State: ", style="dim")
        line.append(name, style="bold")
        line.append(" (f)   Partner: ", style="dim")
        line.append(clean(self.partner_filter, single_line=True, limit=30) if self.partner_filter else "all",
                    style="bold")
        line.append(" (p)", style="dim")
        data = self.loaded
        if data is not None:
            shown = len(data.notices)
            more = "+" if shown >= NOTICE_LIMIT else ""
            line.append(f"   {shown}{more} shown", style="dim")
            failed = data.counts.get(NoticeState.FAILED, 0)
            waiting = data.counts.get(NoticeState.HELD, 0) + data.counts.get(NoticeState.QUEUED, 0)
            if failed:
                line.append(f" · {failed} failed", style="bold")
            if waiting:
                line.append(f" · {waiting} waiting")
        self.query_one("#notice-filter", Static).update(line)
        fl = Text()
        fl.append("Showing: ", style="dim")
        fl.append("open follow-ups" if self.open_only else "all follow-ups", style="bold")
        fl.append(" (a)   d or space: done / not done", style="dim")
        if data is not None:
            opened = sum(1 for f in data.followups if f.done_at is None)
            fl.append(f"   {opened} open", style="bold" if opened else "dim")
        self.query_one("#followup-filter", Static).update(fl)
        tabs = self.query_one(TabbedContent)
        if data is not None:
            opened = sum(1 for f in data.followups if f.done_at is None)
            tabs.get_tab("tab-followups").label = Text(f"Follow-ups ({opened} open)")
            failed = data.counts.get(NoticeState.FAILED, 0)
            tabs.get_tab("tab-notices").label = Text(f"Notices ({failed} failed)" if failed else "Notices")

    def _status(self, text: str, *, error: bool = False) -> None:
        self.query_one("#link-status", Static).update(Text(text, style="bold" if error else ""))

    # ------------------------------------------------------------------ what is highlighted
    def _row_key(self, table_id: str) -> str | None:
        table = self.query_one(table_id, DataTable)
        if not table.row_count or table.cursor_row >= table.row_count:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    @property
    def notices_shown(self) -> bool:
        return self.query_one(TabbedContent).active == "tab-notices"

    def current_notice(self) -> NoticeView | None:
        if self.loaded is None or not self.notices_shown:
            return None
        key = self._row_key("#link-notices")
        return next((n for n in self.loaded.notices if n.id == key), None)

    def current_followup(self) -> FollowUpView | None:
        if self.loaded is None or self.notices_shown:
            return None
        key = self._row_key("#link-followups")
        return next((f for f in self.loaded.followups if str(f.id) == key), None)

    @staticmethod
    def _can_redo(n: NoticeView | None) -> bool:
        """The domain's rule (the same the services apply), on the row as last read."""
        return n is not None and n.redo_refusal is None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("retry", "skip"):
            return True if self._can_redo(self.current_notice()) else None
        if action == "toggle_done":
            return True if self.current_followup() is not None else None
        if action in ("state_filter", "partner_filter"):
            return True if self.notices_shown else None
        if action == "all_followups":
            return True if not self.notices_shown else None
        return True

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()
        if event.data_table.id in ("link-notices", "link-followups"):
            self._show_detail()

    def _show_detail(self, data: _Loaded | None = None) -> None:
        """The highlighted notice or follow-up in full, under the list: what, to whom, when, and
        the whole error, answer or text to do (the list's cells are cut to their columns)."""
        data = data or self.loaded
        out = Text()
        if data is not None:
            if self.notices_shown:
                n = self.current_notice()
                if n is not None:
                    out = self._notice_detail(n, data.now)
            else:
                f = self.current_followup()
                if f is not None:
                    out = self._followup_detail(f, data.now)
        self.query_one("#link-detail", Static).update(out)

    @staticmethod
    def _notice_detail(n: NoticeView, now: datetime) -> Text:
        out = Text()
        label = notice_label(n.kind, None)
        out.append(label[:1].upper() + label[1:], style="bold")
        if n.order:
            out.append(" · ")
            out.append(clean(n.order, single_line=True), style="bold")
        out.append(" → ")
        out.append(clean(n.partner, single_line=True), style="bold")
        out.append(f" ({'e-mail' if n.transport == 'email' else 'by hand' if n.transport == 'manual' else 'link'})")
        out.append(f" · {n.state.value} · {age(n.created_at, now)} ago")
        if n.attempts:
            out.append(f" · {n.attempts} tr{'ies' if n.attempts != 1 else 'y'}")
        if n.state is NoticeState.QUEUED and n.attempts and n.next_attempt_at:
            out.append(f" · next {until(n.next_attempt_at, now)}")
        if n.state is NoticeState.HELD and n.release_at:
            out.append(f" · undo window ends {until(n.release_at, now)}")
        if n.last_error and n.state in (NoticeState.FAILED, NoticeState.QUEUED):
            out.append("\nError: ", style="bold")
            out.append(clean(n.last_error, single_line=True, limit=400))
        elif n.answer or n.outcome:
            out.append(f"\nTheir answer ({n.outcome or '?'}): ", style="bold")
            out.append(clean(n.answer or "", single_line=True, limit=400))
        return out

    @staticmethod
    def _followup_detail(f: FollowUpView, now: datetime) -> Text:
        out = Text()
        out.append("Follow-up", style="bold")
        if f.order:
            out.append(" · order ")
            out.append(clean(f.order, single_line=True), style="bold")
        if f.partner:
            out.append(" · ")
            out.append(clean(f.partner, single_line=True), style="bold")
        out.append(f" · {age(f.created_at, now)} ago · ")
        if f.done_at is not None:
            out.append(f"done by {clean(f.done_by or '?', single_line=True)} {age(f.done_at, now)} ago")
        else:
            out.append("open", style="bold")
        out.append("\n")
        out.append(clean(f.text, single_line=True, limit=600))
        return out

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()
        self._show_detail()

    # ------------------------------------------------------------------ actions
    def action_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = tab
        self.query_one("#link-notices" if tab == "tab-notices" else "#link-followups", DataTable).focus()
        self.refresh_bindings()

    def action_state_filter(self) -> None:
        self.state_filter = (self.state_filter + 1) % len(STATE_FILTERS)
        self._show_filters()
        self.reload()

    def action_partner_filter(self) -> None:
        names = [p.name for p in self.loaded.partners] if self.loaded else []
        if not names:
            return
        if self.partner_filter not in names:
            self.partner_filter = names[0]
        else:
            i = names.index(self.partner_filter) + 1
            self.partner_filter = names[i] if i < len(names) else None
        self._show_filters()
        self.reload()

    def action_clear_filters(self) -> None:
        if self.state_filter or self.partner_filter:
            self.state_filter = 0
            self.partner_filter = None
            self._show_filters()
            self.reload()

    def action_all_followups(self) -> None:
        self.open_only = not self.open_only
        self._show_filters()
        self.reload()

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, DataTable) and focused.id == "link-health":
            key = self._row_key("#link-health")
            if key is not None:
                self.partner_filter = None if self.partner_filter == key else key
                self.action_tab("tab-notices")
                self._show_filters()
                self.reload()
            return
        number = None
        if self.notices_shown:
            n = self.current_notice()
            number = n.order if n else None
        else:
            f = self.current_followup()
            number = f.order if f else None
        opener = getattr(self.app, "open_order", None)
        if number and callable(opener):
            opener(number)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def _describe(self, n: NoticeView) -> str:
        return "the " + notice_label(n.kind, n.order)

    def action_retry(self) -> None:
        n = self.current_notice()
        if n is not None:
            ask_and_do(self, self.depot, RetryNotice(n.id), self._done)

    def action_skip(self) -> None:
        n = self.current_notice()
        if n is not None:
            ask_and_do(self, self.depot, SkipNotice(n.id), self._done)

    def action_toggle_done(self) -> None:
        f = self.current_followup()
        if f is None:
            return
        # ticking a follow-up is its own confirmation (and is reversible): no Yes/No
        ask_and_do(self, self.depot, FollowUpDone(f.id, f.done_at is None), self._done, ask=False)

    def _done(self, message: str, error: bool) -> None:
        message = clean(message)
        if message:
            self._status(message, error=error)
            self.notify(message, severity="error" if error else "information", markup=False)
        self.reload()

    def action_help(self) -> None:
        keys = [(k, what, True) for k, what, _action in self.HELP]
        notes = [
            "Partners: Open counts their notices not yet answered (held, queued or sent); Fail the failed "
            "ones; Contact is when their server last answered.",
            "Notice states: held (inside the undo window) → queued → sent (the partner's server said yes) "
            "→ acknowledged (the partner's answer: accepted or refused); or failed, or a follow-up.",
            "A failed notice holds back later notices of the same order to that partner until it is "
            "retried or skipped, so a partner never hears them out of order.",
            "Health: ok (last contact after the last error), error, stopped (the partner answered 410 Gone: "
            "restart the link on the Partners screen), by hand (no link).",
        ]
        self.app.push_screen(HelpScreen("Link: keys", keys, notes, show_legend=False))

    def palette_commands(self) -> list[tuple[str, Any, str]]:
        out: list[tuple[str, Any, str]] = [
            ("Link: next state filter", self.action_state_filter, "f"),
            ("Link: next partner filter", self.action_partner_filter, "p"),
            ("Link: show the notices", lambda: self.action_tab("tab-notices"), "n"),
            ("Link: show the follow-ups", lambda: self.action_tab("tab-followups"), "w"),
        ]
        n = self.current_notice()
        if self._can_redo(n):
            assert n is not None
            what = clean(self._describe(n), single_line=True)
            out.append((f"Retry {what}", self.action_retry, "r"))
            out.append((f"Skip {what}", self.action_skip, "s"))
        if self.current_followup() is not None:
            out.append(("Follow-up done or not done", self.action_toggle_done, "d"))
        return out
