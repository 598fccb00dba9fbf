"""Order reception (key 2): the orders that came in, newest first (SPEC 5).

One table: number, received (age), from, their reference, route, status, marks, notice state.
`/` filters by number, partner, reference or address (every word must match); `f` switches the
quick filter "needs a decision" (new, cancellation requested, notice failed); `p` chooses the
partner the orders came from. The Start menu (`o`, F10, shift+F10, right-click) holds every
action on the highlighted order; those not possible now are shown disabled with the reason.

| Key | Action |
| --- | --- |
| up / down, page up / down | Move |
| enter | Open the order (double-click too) |
| o, f10, shift+f10, menu | The Start menu (right-click too) |
| a | Accept |
| delete | Delete (trash: Rejected, the client told) |
| r | Reject… (the four checks, reason code, notify the buyer) |
| x | Refuse cancellation request… |
| c | Create cancellation… |
| g, d | Tags…, duplicate as new |
| e, n | Edit…, New order (when that part of the console is there) |
| / | Filter |
| f | Quick filter: everything / needs a decision |
| p | Only the orders of one partner |
| ] / [ | Next / previous page of 100 orders |
| u, ctrl+z | Undo |
| escape | Clear the filter |
| ? | These keys |
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.geometry import Offset
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from ...domain import Mark
from ...services import ERRORS, queries
from ...services.queries import (
    NEEDS_DECISION,
    OrderActions,
    ReceptionFilter,
    ReceptionPage,
    ReceptionRow,
)
from ...text import clean
from ..css import stylesheet
from ..symbols import age, mark_symbols
from ..widgets.header import DeskHeader
from ..widgets.keybar import KeyBar
from .help import HelpScreen
from .menu import MenuItem, MenuScreen
from .order_keys import OrderKeys

#: The table holds one page of this many rows; ] and [ turn the pages.
PAGE = 100
#: From this width the wider columns.
WIDE = 120
TICK_SECONDS = 1.0

#: (label at 80 columns, label from WIDE, key, width at 80 columns, width from WIDE); the route
#: takes what the others leave.
COLUMNS: tuple[tuple[str, str, str, int, int], ...] = (
    ("Number", "Number", "number", 9, 12),
    ("Age", "Rcvd", "age", 3, 5),
    ("From", "From", "from", 10, 22),
    ("Ref", "Their ref", "ref", 8, 14),
    ("Route", "Route", "route", 12, 30),
    ("Status", "Status", "status", 10, 10),
    ("Mk", "Marks", "marks", 3, 7),
    ("Notice", "Notice", "notice", 7, 12),
)

QUICK = {"": "everything", NEEDS_DECISION: "needs a decision"}


def notice_word(marks: frozenset[Mark]) -> str:
    """The state of the order's notices in a word (the marks say it as symbols)."""
    if Mark.NOTICE_FAILED in marks:
        return "failed"
    if Mark.NOTICE_WAITING in marks:
        return "waiting"
    if Mark.PARTNER_ACKNOWLEDGED in marks:
        return "ack'd"
    if Mark.FOLLOW_UP_OPEN in marks:
        return "by hand"
    return "—"


class ReceptionTable(DataTable[Text]):
    """The table; a right-click highlights the row under the pointer and asks for its menu."""

    class MenuRequested(Message):
        def __init__(self, at: Offset) -> None:
            super().__init__()
            self.at = at

    async def _on_click(self, event: events.Click) -> None:
        if event.button == 3:
            event.stop()
            meta = event.style.meta
            if "row" in meta and meta["row"] >= 0:
                self.move_cursor(row=meta["row"], animate=False)
                self.post_message(self.MenuRequested(event.screen_offset))
            return
        await super()._on_click(event)


class ReceptionScreen(OrderKeys, Screen[None]):
    """The incoming orders, with filters and the Start menu."""

    CSS_PATH = stylesheet("reception.tcss")

    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("o,f10,shift+f10,f16", "menu", "Start"),
        Binding("a", "accept", "Accept"),
        Binding("delete", "delete", "Delete"),
        Binding("r", "reject", "Reject"),
        Binding("x", "refuse", "Refuse req."),
        Binding("c", "cancel", "Cancel", show=False),
        Binding("g", "tags", "Tags", show=False),
        Binding("d", "duplicate", "Duplicate", show=False),
        Binding("e", "optional('edit')", "Edit"),
        Binding("n", "optional('new')", "New"),
        Binding("slash", "filter", "Filter"),
        Binding("f", "quick", "Decide"),
        Binding("p", "partner", "Partner", show=False),
        Binding("v", "views", "Views", show=False),
        Binding("right_square_bracket", "page(1)", "Next page", show=False),
        Binding("left_square_bracket", "page(-1)", "Previous page", show=False),
        Binding("u,ctrl+z", "undo", "Undo"),
        Binding("escape", "escape", "Back", show=False),
        Binding("question_mark", "help", "Keys"),
        # when the action above is not possible for the order, the same key says why
        Binding("a", "why('accept')", show=False),
        Binding("delete", "why('delete')", show=False),
        Binding("x", "why('refuse')", show=False),
        Binding("c", "why('cancel')", show=False),
    ]

    ROW_ACTIONS = frozenset({"open", "menu", "accept", "delete", "reject", "refuse", "cancel", "tags",
                             "duplicate", "archive"})

    def __init__(self) -> None:
        super().__init__(id="reception")
        self.flt = ReceptionFilter()
        self.rows: list[ReceptionRow] = []
        self.total = 0
        self.page_offset = 0
        self.more = False  # more than `total` match (not counted)
        self.actions: OrderActions | None = None
        self.generation = 0
        self.loads = 0
        self.problem = ""
        self._wide: int | None = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield DeskHeader()
        yield Static("", id="reception-filters", markup=False)
        yield ReceptionTable(id="reception-table", cursor_type="row", zebra_stripes=False)
        yield Static("", id="reception-status", markup=False)
        yield KeyBar(id="keybar")

    def on_mount(self) -> None:
        self.query_one(DeskHeader).view = "Reception"
        self._columns()
        self.table.focus()
        self.set_interval(TICK_SECONDS, self._tick)
        self.reload()

    @property
    def depot(self) -> Any:
        return self.app.depot  # type: ignore[attr-defined]

    @property
    def flows(self) -> Any:
        return self.app.flows  # type: ignore[attr-defined]

    @property
    def table(self) -> ReceptionTable:
        return self.query_one(ReceptionTable)

    def _columns(self) -> None:
        width = self.size.width or 80
        if width == self._wide:
            return
        self._wide = width
        wide = width >= WIDE
        table = self.table
        table.clear(columns=True)
        fixed = [(broad if wide else narrow) for _, _, _, narrow, broad in COLUMNS]
        # the route takes what the others leave (2 cells of padding a column, 1 for the scrollbar)
        route = [c[2] for c in COLUMNS].index("route")
        fixed[route] = max(8, width - (sum(fixed) - fixed[route]) - 2 * len(COLUMNS) - 1)
        for (short, long, key, _, _), w in zip(COLUMNS, fixed, strict=True):
            table.add_column(Text(long if wide else short, style="bold"), key=key, width=w)
        self._fill()

    def on_resize(self) -> None:
        if self.is_mounted and self._wide is not None:
            self._columns()

    # ------------------------------------------------------------------ loading
    def depot_changed(self, reveal: str | None = None) -> None:
        self.reload()

    def reload(self) -> None:
        self.generation += 1
        self._load(self.generation, self.flt, self.page_offset)

    @work(thread=True, exclusive=True, group="reception")
    def _load(self, generation: int, flt: ReceptionFilter, offset: int) -> None:
        try:
            page = queries.reception_page(self.depot, flt, offset, PAGE)
        except ERRORS as e:
            self.app.call_from_thread(self._set_problem, str(e))
            return
        self.app.call_from_thread(self._apply, generation, page)

    def _set_problem(self, problem: str) -> None:
        self.problem = clean(problem, single_line=True)
        self._status()

    def _apply(self, generation: int, page: ReceptionPage) -> None:
        if generation != self.generation:
            return
        self.problem = ""
        self.rows, self.total, self.page_offset, self.more = page.rows, page.total, page.offset, page.more
        self._fill()
        self.loads += 1
        self._status()
        self._refresh_actions()

    def _cells(self, r: ReceptionRow, now: Any) -> list[Text]:
        c = r.card
        frm = c.source or "(own)"
        return [
            Text(clean(c.number, single_line=True), style="bold"),
            Text(age(r.received_at, now)),
            Text(clean(frm, single_line=True)),
            Text(clean(r.partner_ref, single_line=True) or "—"),
            Text(clean(c.route, single_line=True)),
            Text(c.status.label),
            Text(mark_symbols(c.marks), style="bold"),
            Text(notice_word(c.marks)),
        ]

    def _fill(self) -> None:
        table = self.table
        if not table.columns:
            return
        key = self.row.card.number if self.row is not None else None
        cursor = table.cursor_row
        table.clear()
        now = self.depot.now()
        for r in self.rows:
            table.add_row(*self._cells(r, now), key=r.card.number)
        if not self.rows:
            return
        index = next((i for i, r in enumerate(self.rows) if r.card.number == key), None)
        table.move_cursor(row=index if index is not None else min(max(cursor, 0), len(self.rows) - 1),
                          animate=False)

    def _tick(self) -> None:
        """Ages move on: only the age cells that read differently are redrawn."""
        if not self.rows:
            return
        now = self.depot.now()
        table = self.table
        for r in self.rows:
            text = age(r.received_at, now)
            try:
                if table.get_cell(r.card.number, "age").plain != text:
                    table.update_cell(r.card.number, "age", Text(text))
            except Exception:  # noqa: BLE001 - the row went with a reload
                return

    # ------------------------------------------------------------------ the highlighted order
    @property
    def row(self) -> ReceptionRow | None:
        try:
            table = self.table
        except NoMatches:
            return None
        if not self.rows or table.row_count == 0 or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    @property
    def card(self) -> Any:
        row = self.row
        return row.card if row is not None else None

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._refresh_actions()

    def _refresh_actions(self) -> None:
        card = self.card
        if card is None:
            self.actions = None
            self.refresh_bindings()
            return
        if self.actions is None or self.actions.number != card.number or self.actions.version != card.version:
            self.actions = None
            self._load_actions(card.number)
        self.refresh_bindings()

    @work(thread=True, exclusive=True, group="reception-actions", exit_on_error=False)
    def _load_actions(self, number: str) -> None:
        try:
            acts = queries.order_actions(self.depot, number)
        except ERRORS:
            acts = None
        self.app.call_from_thread(self._actions_loaded, number, acts)

    def _actions_loaded(self, number: str, acts: OrderActions | None) -> None:
        card = self.card
        if card is not None and card.number == number:
            self.actions = acts
            self.refresh_bindings()

    def _refusal(self, action: str) -> str | None:
        acts = self.actions
        if acts is None:
            return None
        return {"accept": acts.accept, "delete": acts.trash, "reject": None, "refuse": acts.refuse_request,
                "cancel": acts.cancel}.get(action)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("help", "filter", "quick", "partner", "escape"):
            return True
        if action == "page":
            step = int(parameters[0]) if parameters else 1  # type: ignore[call-overload]
            return 0 <= self.page_offset + step * PAGE < self.total + (PAGE if self.more else 0)
        if action == "undo":
            return self.flows.can_undo()
        if action == "optional":
            item = str(parameters[0]) if parameters else ""
            if self.flows.optional(item) is None:
                return False
            return item == "new" or self.card is not None
        if action == "why":
            name = str(parameters[0]) if parameters else ""
            return self.card is not None and self._refusal(name) is not None
        if action in self.ROW_ACTIONS:
            if self.card is None:
                return False
            return self._refusal(action) is None
        return True

    def action_why(self, action: str) -> None:
        reason = self._refusal(action)
        if reason:
            self.notify(clean(reason), severity="warning", markup=False, timeout=8)

    # ------------------------------------------------------------------ actions
    def _flow(self, name: str, *args: Any) -> None:
        card = self.card
        if card is not None:
            self.flows.start(getattr(self.flows, name)(card, *args), name=name)

    def action_open(self) -> None:
        card = self.card
        if card is not None:
            self.app.open_order(card.number)  # type: ignore[attr-defined]

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_menu(self) -> None:
        card = self.card
        if card is not None:
            self.flows.start(self.flows.start_menu(card), name="menu")

    def on_reception_table_menu_requested(self, message: ReceptionTable.MenuRequested) -> None:
        message.stop()
        card = self.card
        if card is not None:
            self.flows.start(self.flows.start_menu(card, message.at), name="menu")

    def action_accept(self) -> None:
        self._flow("accept")

    def action_delete(self) -> None:
        self._flow("delete")

    def action_reject(self) -> None:
        self._flow("reject")

    def action_refuse(self) -> None:
        self._flow("refuse_request")

    def action_optional(self, item: str) -> None:
        if self.flows.optional(item) is None:
            return
        card = self.card
        if item == "new":
            self.flows.start(self.flows.start_item("new", card), name=item)
        elif card is not None:
            self.flows.start(self.flows.start_item(item, card), name=item)

    def action_page(self, step: int) -> None:
        offset = self.page_offset + step * PAGE
        if 0 <= offset < self.total + (PAGE if self.more else 0):
            self.page_offset = offset
            self.reload()

    # ------------------------------------------------------------------ filters
    def _filter_field(self) -> Input:
        try:
            return self.query_one("#reception-filter", Input)
        except NoMatches:
            field = Input(value=self.flt.text, placeholder="number, partner, reference, address",
                          id="reception-filter", select_on_focus=False)
            field.cursor_blink = bool(getattr(self.app, "blink", True))
            self.mount(field, before=self.query_one("#reception-status"))
            return field

    def action_filter(self) -> None:
        self._filter_field().focus()

    @on(Input.Changed, "#reception-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.set_filter(text=event.value)

    @on(Input.Submitted, "#reception-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._close_filter_field()

    def _close_filter_field(self) -> None:
        try:
            self.query_one("#reception-filter", Input).remove()
        except NoMatches:
            pass
        self.table.focus()

    def set_filter(self, *, text: str | None = None, quick: str | None = None, partner: str | None = None) -> None:
        self.flt = ReceptionFilter(
            text=self.flt.text if text is None else text,
            quick=self.flt.quick if quick is None else quick,
            partner=self.flt.partner if partner is None else partner,
        )
        self.page_offset = 0
        self._status()
        self.reload()

    def action_quick(self) -> None:
        self.set_filter(quick="" if self.flt.quick == NEEDS_DECISION else NEEDS_DECISION)

    def action_partner(self) -> None:
        self.flows.start(self._choose_partner(), name="partner")

    async def _choose_partner(self) -> None:
        names = await self.flows.read(queries.source_names)
        if not isinstance(names, list):
            return
        items = [MenuItem("all", "Every partner")] + [
            MenuItem(f"p{i}", "", outside=name) for i, name in enumerate(names)]
        choice = await self.app.push_screen_wait(MenuScreen("Orders from", items, menu_id="partner-filter"))
        if choice is None:
            return
        self.set_filter(partner="" if choice == "all" else names[int(choice[1:])])

    # ------------------------------------------------------------------ saved views (SPEC: seed 001 folders)
    def action_views(self) -> None:
        self.flows.start(self._views(), name="views")

    async def _views(self) -> None:
        """Show, save, rename or delete a view: a label for a filter. Here it keeps the text
        filter and the quick filter ("needs a decision"), as Dispatch keeps its text and tab."""
        from ...services import views

        chosen = await self.flows.views(views.ViewFilter(self.flt.text, self.flt.quick))
        if chosen is None:
            return
        flt = chosen.filter
        quick = flt.tab if flt.tab == NEEDS_DECISION else ""
        if flt.text:
            field = self._filter_field()
            with field.prevent(Input.Changed):
                field.value = flt.text
        else:
            self._close_filter_field()
        self.set_filter(text=flt.text, quick=quick)

    def clear_filter(self) -> None:
        self._close_filter_field()
        self.set_filter(text="", quick="", partner="")

    def action_escape(self) -> None:
        if self.flt != ReceptionFilter():
            self.clear_filter()
        else:
            self._close_filter_field()

    def _status(self) -> None:
        flt = self.flt
        line = Text("Showing ")
        line.append(QUICK.get(flt.quick, flt.quick), style="bold")
        line.append(" · from ")
        line.append(clean(flt.partner, single_line=True, limit=24) if flt.partner else "every partner",
                    style="bold" if flt.partner else "")
        if flt.text:
            line.append(" · matching ")
            line.append(clean(flt.text, single_line=True, limit=24), style="bold")
        line.append("   f decide · p partner · / filter")
        if flt != ReceptionFilter():
            line.append(" · esc clears")
        try:
            self.query_one("#reception-filters", Static).update(line)
        except NoMatches:
            return
        if self.problem:
            status = Text(self.problem, style="bold")
        elif self.total > len(self.rows) or self.more:
            first = self.page_offset + 1 if self.rows else 0
            of = f"{self.total:,}+" if self.more else f"{self.total:,}"
            status = Text(f"Orders {first:,}–{self.page_offset + len(self.rows):,} of {of}, newest first"
                          " · ] next page, [ previous")
        else:
            status = Text(f"{self.total:,} order{'' if self.total == 1 else 's'}, newest first")
        self.query_one("#reception-status", Static).update(status)

    # ------------------------------------------------------------------ help and palette
    HELP: tuple[tuple[str, str, str], ...] = (
        ("↑/↓  pgup/pgdn", "move", ""),
        ("enter", "open the order (double-click too)", "open"),
        ("o  F10  shift+F10", "the Start menu: every action (right-click too)", "menu"),
        ("a", "accept the order", "accept"),
        ("delete", "delete: trash the order (Rejected); the client is told", "delete"),
        ("r", "reject…: the checks, a reason code, notify the buyer", "reject"),
        ("x", "refuse the partner's cancellation request…", "refuse"),
        ("c", "create cancellation…", "cancel"),
        ("g  d", "tags…, duplicate as new", "tags"),
        ("/", "filter by number, partner, reference or address", ""),
        ("f", "quick filter: everything / needs a decision (new, cancellation requested, notice failed)", ""),
        ("p", "only the orders from one partner", ""),
        ("v", "saved views: show one, save the filter as one, rename, delete", ""),
        ("]  [", "next / previous page of 100 orders", ""),
        ("u  ctrl+z", "undo the last action while its undo window is open", "undo"),
        ("esc", "clear the filters", ""),
        ("1  2", "Dispatch, this screen", ""),
        ("ctrl+p", "the command palette: every action by name", ""),
    )

    def action_help(self) -> None:
        keys = [(k, what, not action or self.check_action(action, ()) is True) for k, what, action in self.HELP]
        if self.flows.optional("edit") is not None:
            keys.append(("e", "edit… the order before it is picked up", True))
        if self.flows.optional("new") is not None:
            keys.append(("n", "new order (taken by phone)", True))
        self.app.push_screen(HelpScreen("Reception: keys", keys, not_now="(not for this order now)"))

    def palette_commands(self) -> list[tuple[str, Any, str]]:
        out: list[tuple[str, Any, str]] = []
        card, acts = self.card, self.actions
        if card is not None:
            n = clean(card.number, single_line=True)

            def why(refusal: str | None, key: str) -> str:
                return "not allowed now: choosing it says why" if refusal else key

            out.append((f"Open order {n}", self.action_open, "enter"))
            out.append((f"Start menu of order {n}", self.action_menu, "o"))
            out.append((f"Accept order {n}", self.action_accept, why(acts.accept if acts else None, "a")))
            out.append((f"Delete order {n}", self.action_delete, why(acts.trash if acts else None, "del")))
            out.append((f"Reject order {n}…", self.action_reject, "r"))
            out.append((f"Refuse the cancellation request of {n}…", self.action_refuse,
                        why(acts.refuse_request if acts else None, "x")))
            out.append((f"Create cancellation of {n}…", self.action_cancel, why(acts.cancel if acts else None, "c")))
            out.append((f"Tags of order {n}…", self.action_tags, "g"))
            out.append((f"Duplicate order {n} as new", self.action_duplicate, "d"))
        out.append(("Filter the orders", self.action_filter, "/"))
        out.append(("Quick filter: needs a decision", self.action_quick, "f"))
        out.append(("Only the orders of one partner", self.action_partner, "p"))
        if self.flows.can_undo():
            out.append(("Undo the last action", self.action_undo, "u"))
        out.append(("Reception keys", self.action_help, "?"))
        return out
