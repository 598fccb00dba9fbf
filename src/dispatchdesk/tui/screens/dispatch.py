"""The dispatch screen (key 1): the status lists, where a dispatcher spends the day.

| Key | Action |
| --- | --- |
| left / right, h / l | Previous / next list |
| up / down, k / j | Previous / next card |
| enter | Open the order (or drop the card being moved) |
| s | Set status (a menu: refused statuses say why) |
| t, delete | Trash (reject and tell the partner) |
| c | Create cancellation… |
| a | Archive / unarchive |
| g | Tags… |
| d | Duplicate as new |
| m | Pick the card up; left/right choose the list; enter or m drops; esc puts it back |
| space | Select or unselect the highlighted card; the cursor stays (t, s, a then act on every selected card) |
| / | Filter every list by number, partner or address |
| v | Saved views: show one, save the filter under a name, rename or delete one |
| x | Export… the selection, else the filter, else the list, to CSV, Excel or PDF |
| o, shift+f10, menu | The card's menu |
| u, ctrl+z | Undo the last action while its undo window is open |
| i | Switch between the tabs Dispatch and All information |
| escape | Put back the card being moved, clear the selection, or clear the filter |
| ? | These keys and the marks |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.errors import NoWidget
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static

from ... import services
from ...domain import WORKING, Status
from ...services import ERRORS, queries, search, views
from ...services.export.choice import ExportChoice
from ...services.queries import ARCHIVED, LIST_KEYS, Card, OrderActions
from ...text import clean
from ..loader import PAGE_SIZE, BoardData, load_board
from ..symbols import list_title
from ..widgets.board import Board, list_of
from ..widgets.header import DeskHeader
from ..widgets.keybar import KeyBar
from ..widgets.status_list import StatusList
from ..widgets.tabbar import TabBar
from .help import HelpScreen
from .order_keys import OrderKeys

WORK_KEYS = tuple(s.value for s in WORKING)
#: How often the ages on the cards are looked at (a redraw only where one reads differently).
TICK_SECONDS = 1.0


@dataclass
class Carry:
    """A card being moved: by the mouse (drag) or from the keyboard (m)."""

    card: Card
    source: str
    target: str | None
    by_mouse: bool


class DispatchScreen(OrderKeys, Screen[None]):
    """Tabs Dispatch (the five working lists) and All information (every list, and archived)."""

    BINDINGS = [
        Binding("left,h", "side(-1)", "Previous list", show=False),
        Binding("right,l", "side(1)", "Next list", show=False),
        Binding("enter", "open", "Open"),
        Binding("enter", "drop", "Drop"),
        Binding("s", "set_status", "Status"),
        Binding("s", "bulk('set_status')", "Status sel."),
        Binding("t,delete", "trash", "Trash"),
        Binding("t,delete", "bulk('trash')", "Trash sel."),
        Binding("c", "cancel", "Cancel"),
        Binding("a", "archive", "Archive", show=False),
        Binding("a", "bulk('archive')", "Archive sel."),
        Binding("g", "tags", "Tags", show=False),
        Binding("d", "duplicate", "Duplicate", show=False),
        Binding("e", "edit", "Edit", show=False),
        Binding("r", "register_return", "Return", show=False),
        Binding("R", "reject", "Reject…", show=False),
        Binding("X", "refuse", "Refuse request…", show=False),
        Binding("m", "carry", "Move", show=False),
        Binding("space", "select", "Select", show=False),
        Binding("n", "new_order", "New", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("v", "views", "Views", show=False),
        Binding("x", "export", "Export", show=False),
        Binding("o,shift+f10,f16", "menu", "Menu"),
        Binding("u,ctrl+z", "undo", "Undo"),
        Binding("i", "toggle_tab", "Tab", show=False),
        Binding("escape", "escape", "Back", show=False),
        Binding("question_mark", "help", "Keys"),
        # When the action above is not allowed for the card, the same key says why.
        Binding("s", "why('set_status')", show=False),
        Binding("t,delete", "why('trash')", show=False),
        Binding("c", "why('cancel')", show=False),
        Binding("m", "why('carry')", show=False),
        Binding("u,ctrl+z", "why('undo')", show=False),
    ]

    #: Actions that need a highlighted card.
    CARD_ACTIONS = frozenset({"open", "set_status", "trash", "cancel", "archive", "tags", "duplicate", "carry",
                              "select", "menu", "edit", "register_return", "reject", "refuse"})

    class Drawn(Message):
        """The board's visible lists have their cards: the board is drawn."""

    def __init__(self) -> None:
        super().__init__(id="dispatch")
        self.generation = 0
        self.counts: dict[str, int] = dict.fromkeys(LIST_KEYS, 0)
        self.filter_text = ""
        self.filter_ids: dict[str, list[int]] | None = None
        #: with a filter: the lists that may hold more matches than filter_ids, and the order
        #: each was read to (read on after it when the list is scrolled to its end)
        self.filter_more: dict[str, int] = {}
        self.selected: dict[str, Card] = {}
        self._selected_numbers: set[str] = set()
        self.carry: Carry | None = None
        self.actions: OrderActions | None = None
        self.active: StatusList | None = None
        self.drawn = False
        self._reveal: str | None = None
        self.problem = ""
        self.tab = "work"
        #: the saved view shown (its name), until the filter changes
        self.view_name = ""
        #: the saved views, for the palette (read in a thread at start and after each change)
        self.saved_views: list[views.SavedView] = []
        self._first_load_done = False
        #: a refresh of the board is being read (at most one at a time); `_again`: the
        #: database changed meanwhile, so exactly one more follows it
        self._reloading = False
        self._again = False
        #: the lists show the unfiltered board (a refresh then touches only the lists that differ)
        self._plain = False
        #: the status line last written (written again only when it reads differently)
        self._status_shown: Text | None = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield DeskHeader()
        yield TabBar(id="tabbar")
        yield Board(WORK_KEYS, board_id="work")
        yield Static("", id="status-line", markup=False)
        yield KeyBar(id="keybar")

    def on_mount(self) -> None:
        self.query_one(DeskHeader).view = "Dispatch"
        self._prepare_lists(self.query_one("#board-work", Board))
        first = self.board.lists()[0]
        self.active = first
        first.focus()
        self.set_interval(TICK_SECONDS, self._tick)
        self.reload()
        self._read_views()

    def _prepare_lists(self, board: Board) -> None:
        now = self.depot.now()
        for lst in board.lists():
            lst.selected = self._selected_numbers
            lst.now = now

    @property
    def depot(self) -> Any:
        return self.app.depot  # type: ignore[attr-defined]

    @property
    def flows(self) -> Any:
        return self.app.flows  # type: ignore[attr-defined]

    @property
    def board(self) -> Board:
        """The board of the tab shown."""
        return self.query_one(f"#board-{self.tab}", Board)

    def all_lists(self) -> list[StatusList]:
        return list(self.query(StatusList))

    def _tick(self) -> None:
        """Ages on the cards move on: each list redraws when an age it shows reads differently."""
        now = self.depot.now()
        for lst in self.all_lists():
            lst.set_now(now)

    # ------------------------------------------------------------------ loading
    def depot_changed(self, reveal: str | None = None) -> None:
        """Called by the app when the database changed (here or in another session)."""
        if reveal:
            self._reveal = reveal
        self.reload()

    def reload(self) -> None:
        """Read the board again. At most one such read is under way: changes that come
        meanwhile make exactly one more read after it (not one each)."""
        if self._reloading:
            self._again = True
            return
        self._reloading = True
        self._again = False
        text = self.filter_text or None
        wanted = {lst.key: lst.wanted_pages() for lst in self.board.lists()}
        self._load(text, wanted, reloading=True)

    @work(thread=True, exclusive=True, group="board")
    def _load(self, text: str | None, wanted: dict[str, list[int]],
              counts: dict[str, int] | None = None, *, reloading: bool = False) -> None:
        data = None
        try:
            if not self._first_load_done:
                take = getattr(self.app, "take_prefetch", None)
                data = take() if callable(take) and not text else None
            if data is None:
                # every list, as the status line says how many match in all of them
                data = load_board(self.depot, wanted, text, counts, LIST_KEYS if text else ())
        finally:
            if reloading:  # even if the read failed: the next change must read again
                self.app.call_from_thread(self._reloaded, data)
        if not reloading:
            self.app.call_from_thread(self._apply_data, data)

    def _reloaded(self, data: BoardData | None) -> None:
        self._reloading = False
        try:
            if data is not None:
                self._apply_data(data)
        finally:
            if self._again:
                self.reload()

    def _apply_data(self, data: BoardData) -> None:
        first = not self._first_load_done
        self._first_load_done = True
        if data.problem:
            self._set_problem(data.problem)
            return
        if self._plain and not first and data.text is None and not self.filter_text:
            self._apply_changes(data)
            return
        self._apply(data.counts, data.text, data.ids, more=data.resume)
        if data.text is not None and data.text != self.filter_text:
            return
        for (key, page), cards in data.pages.items():
            lst = self.board.list_for(key)
            if lst is not None:
                lst.set_page(page, cards, self.generation)
        for lst in self.board.lists():
            lst.ask_visible()
        self._check_drawn()

    def _apply_changes(self, data: BoardData) -> None:
        """A refresh of the unfiltered board (the database changed): only the lists whose count
        or pages read differ from what they show are touched (StatusList.update); the others
        are not reset or redrawn. The cursor, the scroll and the selection stay; the highlighted
        card's actions are read again only when that card changed (its Highlighted message)."""
        self.counts = data.counts
        pages: dict[str, dict[int, list[Card]]] = {}
        for (key, page), cards in data.pages.items():
            pages.setdefault(key, {})[page] = cards
        shown = self.board
        for board in self.query(Board):
            for lst in board.lists():
                count = data.counts.get(lst.key, 0)
                lst.set_counts(count, None)
                following = self.generation + 1
                if board is shown:
                    lst.update(count, pages.get(lst.key, {}), following)
                elif count != lst.total or lst.holds_pages:
                    # the other tab's lists were not read: what they hold goes stale, read
                    # again when they are shown
                    lst.reset(count, following)
                if lst.generation == following:
                    self.generation = following
        for lst in shown.lists():
            lst.ask_visible()
        if self.problem:
            self.problem = ""
            self._update_status_line()
        self._check_drawn()
        if self._reveal:
            number, self._reveal = self._reveal, None
            self.reveal(number)

    def _set_problem(self, problem: str) -> None:
        self.problem = problem
        self._update_status_line()

    def _apply(self, counts: dict[str, int], text: str | None, ids: dict[str, list[int]] | None,
               reset_only: Board | None = None, more: dict[str, int] | None = None) -> None:
        if text is not None and text != self.filter_text:
            return  # the filter changed meanwhile; its own load follows
        self.problem = ""
        if reset_only is None:
            self._plain = ids is None
        if reset_only is None:
            self.generation += 1
        self.counts = counts
        self.filter_ids = ids
        if more is not None:
            self.filter_more = dict(more)
        for board in [reset_only] if reset_only is not None else self.query(Board):
            for lst in board.lists():
                if ids is not None and lst.key not in ids:
                    self.reload()  # a list the filter has not been read for yet (the other tab)
                    continue
                shown = len(ids[lst.key]) if ids is not None else None
                has_more = ids is not None and lst.key in self.filter_more
                lst.set_counts(counts.get(lst.key, 0), shown, more=has_more)
                lst.empty_text = "(no match)" if ids is not None else "(none)"
                # a list with more matches holds one more (empty) place: reaching it reads on
                total = shown + int(has_more) if shown is not None else counts.get(lst.key, 0)
                lst.reset(total, self.generation)
        self.actions = None
        self._refresh_actions()
        self._update_status_line()
        if self._reveal:
            number, self._reveal = self._reveal, None
            self.reveal(number)

    def on_status_list_need_page(self, message: StatusList.NeedPage) -> None:
        message.stop()
        lst = message.status_list
        ids = None
        if self.filter_ids is not None:
            start = message.page * PAGE_SIZE
            known = self.filter_ids.get(lst.key, [])
            resume = self.filter_more.get(lst.key)
            if resume is not None and start + PAGE_SIZE >= len(known):
                self._load_more(lst, message.page, message.generation, self.filter_text, resume,
                                start + PAGE_SIZE + 1 - len(known))
                return
            ids = known[start:start + PAGE_SIZE]
        self._load_page(lst, message.page, message.generation, ids)

    @work(thread=True, group="pages")
    def _load_more(self, lst: StatusList, page: int, generation: int, text: str, after: int, need: int) -> None:
        """A filtered list scrolled to the end of the matches read so far: read on."""
        try:
            found = search.more_of_list(self.depot, text, lst.key, after, max(need, search.CHUNK))
        except ERRORS as e:
            self.app.call_from_thread(self._set_problem, str(e))
            return
        self.app.call_from_thread(self._more_loaded, lst, page, generation, text, after, found)

    def _more_loaded(self, lst: StatusList, page: int, generation: int, text: str, after: int,
                     found: search.ListMatch) -> None:
        if generation != self.generation or text != self.filter_text or self.filter_ids is None:
            return
        known = self.filter_ids.get(lst.key)
        if known is None or self.filter_more.get(lst.key) != after:
            return  # read on already
        known.extend(found.ids)
        if found.more and found.resume is not None:
            self.filter_more[lst.key] = found.resume
        else:
            self.filter_more.pop(lst.key, None)
        has_more = lst.key in self.filter_more
        lst.set_counts(self.counts.get(lst.key, 0), len(known), more=has_more)
        lst.grow(len(known) + int(has_more))
        start = page * PAGE_SIZE
        if found.ids or not has_more:
            self._load_page(lst, page, generation, known[start:start + PAGE_SIZE])
        if has_more and start + PAGE_SIZE >= len(known):
            # the page is not full yet: read on (each step looks at a bounded number of rows)
            self._load_more(lst, page, generation, text, self.filter_more[lst.key],
                            start + PAGE_SIZE + 1 - len(known))

    @work(thread=True, group="pages")
    def _load_page(self, lst: StatusList, page: int, generation: int, ids: list[int] | None) -> None:
        try:
            if ids is None:
                cards = queries.board_page(self.depot, lst.key, page * PAGE_SIZE, PAGE_SIZE)
            else:
                cards = queries.cards_by_ids(self.depot, ids)
        except ERRORS as e:
            self.app.call_from_thread(self._set_problem, str(e))
            return
        self.app.call_from_thread(self._page_loaded, lst, page, cards, generation)

    def _page_loaded(self, lst: StatusList, page: int, cards: list[Card], generation: int) -> None:
        lst.set_page(page, cards, generation)
        self._check_drawn()

    def _check_drawn(self) -> None:
        if not self.drawn and all(x.ready for x in self.board.lists()):
            self.drawn = True
            self.call_after_refresh(self.post_message, self.Drawn())

    # ------------------------------------------------------------------ the highlighted card
    @property
    def card(self) -> Card | None:
        return self.active.current if self.active is not None else None

    def on_status_list_highlighted(self, message: StatusList.Highlighted) -> None:
        message.stop()
        if message.status_list is self.active:
            self._refresh_actions()

    def on_descendant_focus(self, event: Any) -> None:
        widget = event.widget
        if isinstance(widget, StatusList) and widget is not self.active:
            self.active = widget
            self._refresh_actions()

    def _refresh_actions(self) -> None:
        card = self.card
        if card is None:
            self.actions = None
        elif self.actions is None or (self.actions.number, self.actions.version) != (card.number, card.version):
            self._load_actions(card.number)
        self.refresh_bindings()

    @work(thread=True, exclusive=True, group="actions", exit_on_error=False)
    def _load_actions(self, number: str) -> None:
        """What the rules allow on the highlighted order, read off the event loop; the footer
        offers only the keys that need no answer until it comes."""
        try:
            actions: OrderActions | None = queries.order_actions(self.depot, number)
        except ERRORS:
            actions = None
        self.app.call_from_thread(self._actions_loaded, number, actions)

    def _actions_loaded(self, number: str, actions: OrderActions | None) -> None:
        card = self.card
        if card is not None and card.number == number:
            self.actions = actions
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("why", "side", "escape", "help", "toggle_tab", "filter", "views", "export"):
            return True
        if action == "drop":
            return self.carry is not None
        if action == "new_order":
            return self.carry is None
        if action == "undo":
            return self.flows.can_undo()
        if action == "bulk":
            return bool(self.selected) and self.carry is None
        if action in self.CARD_ACTIONS:
            if self.card is None:
                return False
            if self.carry is not None:
                return action == "carry"
            if self.selected and action in ("set_status", "trash", "archive"):
                return False
            acts = self.actions
            if acts is None or acts.number != self.card.number:
                # what the rules allow on this card is still being read (off the event loop):
                # a key pressed meanwhile is not lost; its preview says so if it is refused
                return True
            if action == "trash":
                return acts.trash is None
            if action == "cancel":
                return acts.cancel is None
            if action in ("set_status", "carry"):
                return any(v is None for v in acts.moves.values())
        return True

    def action_why(self, action: str) -> None:
        """The key of an action that is not allowed now: say why, in the services' words."""
        if action == "undo":
            self.notify("There is nothing to undo: the undo window has closed.", markup=False)
            return
        card, acts = self.card, self.actions
        if card is None:
            self.notify("There is no order here.", markup=False)
            return
        if acts is None:
            return
        reason = {"trash": acts.trash, "cancel": acts.cancel}.get(action)
        if action in ("set_status", "carry"):
            reason = next((why for st, why in acts.moves.items() if st is not acts.status and why), None)
        if reason:
            self.notify(clean(reason), severity="warning", markup=False, timeout=8)
            if acts.returnable and action in ("trash", "cancel"):
                # too late to trash or cancel: the goods have left; offer the return instead
                self.flows.start(self.flows.offer_return(card, reason), name="offer_return")

    # ------------------------------------------------------------------ moving around
    def action_side(self, step: int) -> None:
        lists = self.board.lists()
        if self.carry is not None and not self.carry.by_mouse:
            keys = [lst.key for lst in lists]
            current = self.carry.target or self.carry.source
            i = keys.index(current) if current in keys else 0
            self._set_carry_target(keys[max(0, min(len(keys) - 1, i + step))])
            return
        if self.active not in lists:
            lists[0].focus()
            return
        i = lists.index(self.active)  # type: ignore[arg-type]
        j = max(0, min(len(lists) - 1, i + step))
        if i == j:
            return
        old, new = lists[i], lists[j]
        row = old.cursor - int(old.scroll_y) // 3
        # At once, not by Widget.focus() (which waits for the message queue): keys that came
        # in the same burst (`llll` in one write over SSH) go on from the new list.
        self.set_focus(new)
        self.active = new
        new.cursor = min(int(new.scroll_y) // 3 + max(0, row), max(0, new.total - 1))
        self._refresh_actions()

    def action_toggle_tab(self) -> None:
        self.show_tab("all" if self.tab == "work" else "work")

    def on_tab_bar_chosen(self, message: TabBar.Chosen) -> None:
        message.stop()
        self.show_tab(message.tab)

    def show_tab(self, tab: str) -> None:
        """Show the tab Dispatch ("work") or All information ("all"), built the first time."""
        if tab == self.tab:
            return
        self._drop_carry()
        key = self.active.key if self.active is not None else Status.CREATED.value
        old = self.board
        self.tab = tab
        self.query_one(TabBar).active = tab
        self.query_one(DeskHeader).view = "Dispatch" if tab == "work" else "All information"
        try:
            board = self.query_one(f"#board-{tab}", Board)
        except NoMatches:
            board = Board(LIST_KEYS if tab == "all" else WORK_KEYS, board_id=tab, min_width=16 if tab == "all" else 14)
            self.mount(board, after=old)
            self.call_after_refresh(self._first_show, board, key)
            old.display = False
            return
        old.display = False
        board.display = True
        self._focus_list(board, key)

    def _first_show(self, board: Board, key: str) -> None:
        self._prepare_lists(board)
        self._apply(self.counts, self.filter_text or None, self.filter_ids, reset_only=board)
        self._focus_list(board, key)

    def _focus_list(self, board: Board, key: str) -> None:
        target = board.list_for(key) or board.lists()[0]
        self.active = target
        target.focus()
        for lst in board.lists():
            lst.ask_visible()
        self._refresh_actions()

    @work(thread=True, group="reveal", exit_on_error=False)
    def reveal(self, number: str) -> None:
        """Show the order where it is now (after someone else changed it); read off the loop."""
        try:
            pos = queries.card_position(self.depot, number)
        except ERRORS:
            return
        self.app.call_from_thread(self._reveal_at, pos)

    def _reveal_at(self, pos: Any) -> None:
        if pos is None:
            return
        key, index, oid = pos
        if self.filter_ids is not None:
            ids = self.filter_ids.get(key, [])
            if oid not in ids:
                return
            index = ids.index(oid)
        if key not in self.board.keys:
            self.show_tab("all")
            self.call_after_refresh(self._reveal_in, key, index)
            return
        self._reveal_in(key, index)

    def _reveal_in(self, key: str, index: int) -> None:
        lst = self.board.list_for(key)
        if lst is None:
            return
        lst.focus()
        self.active = lst
        lst.cursor = index

    # ------------------------------------------------------------------ acting on the card
    def _flow(self, name: str, *args: Any) -> None:
        card = self.card
        if card is None:
            return
        self.flows.start(getattr(self.flows, name)(card, *args), name=name)

    def action_drop(self) -> None:
        self._drop()

    def action_open(self) -> None:
        if self.card is not None:
            self.app.open_order(self.card.number)  # type: ignore[attr-defined]

    def action_set_status(self) -> None:
        card = self.card
        if card is not None:
            self.flows.start(self.flows.status_menu(card, self.actions), name="status")

    def on_status_list_menu_requested(self, message: StatusList.MenuRequested) -> None:
        message.stop()
        self.active = message.status_list
        self._refresh_actions()
        self.flows.start(self.flows.menu(message.card, message.at), name="menu")

    def on_status_list_open_requested(self, message: StatusList.OpenRequested) -> None:
        message.stop()
        self.app.open_order(message.card.number)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ bulk
    def action_select(self) -> None:
        card = self.card
        if card is None:
            return
        if card.number in self.selected:
            del self.selected[card.number]
        else:
            self.selected[card.number] = card
        self._selected_numbers.clear()
        self._selected_numbers.update(self.selected)
        if self.active is not None:
            self.active.refresh()  # the cursor stays on the card: space again unselects it
        self._update_status_line()
        self.refresh_bindings()

    def clear_selection(self) -> None:
        self.selected.clear()
        self._selected_numbers.clear()
        for lst in self.all_lists():
            lst.refresh()
        self._update_status_line()
        self.refresh_bindings()

    def action_bulk(self, action: str) -> None:
        targets = list(self.selected.values())
        if not targets:
            return
        self.flows.start(self._bulk(targets, action), name="bulk")

    async def _bulk(self, targets: list[Card], action: str) -> None:
        from ..screens.menu import MenuItem, MenuScreen

        actions: list[services.OrderAction] = []
        if action == "set_status":
            items = [MenuItem(st.value, st.label) for st in Status if st is not Status.CANCELLED]
            items.append(MenuItem("cancelled", "Cancelled", refused=services.NO_BULK_CANCEL))
            choice = await self.app.push_screen_wait(
                MenuScreen(f"Set status of {len(targets)} selected orders", items, menu_id="status-menu"))
            if choice is None:
                return
            status = Status(choice)
            partner = None
            if status is Status.DISPATCHED:
                partner = await self.flows.pick_partner(targets[0])
                if partner is None:
                    return
            actions = [services.SetStatus(t.number, status=status, partner=partner, expected_version=t.version)
                       for t in targets]
        elif action == "archive":
            archived = not all(t.archived for t in targets)
            actions = [services.Archive(t.number, archived=archived, expected_version=t.version) for t in targets]
        elif action == "trash":
            actions = [services.Trash(t.number, expected_version=t.version) for t in targets]
        if actions and await self.flows.bulk(actions):
            self.clear_selection()

    # ------------------------------------------------------------------ pick up, move, drop
    def action_carry(self) -> None:
        if self.carry is not None:
            self._drop()
            return
        card = self.card
        if card is None or self.active is None:
            return
        self.carry = Carry(card, self.active.key, None, by_mouse=False)
        self.active.carried = card.number
        self.active.refresh()
        self._set_carry_target(self.active.key)
        self.refresh_bindings()

    def _set_carry_target(self, key: str | None) -> None:
        if self.carry is None:
            return
        self.carry.target = key
        for lst in self.board.lists():
            note = None
            if lst.key == key:
                note = list_title(key) + (" (from here)" if key == self.carry.source else "")
            lst.set_drop(note)
        self._update_status_line()

    def _drop_carry(self) -> None:
        carry, self.carry = self.carry, None
        for board in self.query(Board):
            for lst in board.lists():
                lst.set_drop(None)
                lst.carried = None
                lst.refresh()
        if carry is not None:
            self._update_status_line()
            self.refresh_bindings()

    def _drop(self) -> None:
        carry = self.carry
        self._drop_carry()
        if carry is None:
            return
        target = carry.target
        if target is None or target == carry.source:
            self.notify(f"Order {clean(carry.card.number)} was not moved.", markup=False)
            return
        if target == ARCHIVED:
            self.flows.start(self.flows.archive(carry.card), name="archive")
        elif carry.source == ARCHIVED and carry.card.status.value == target:
            self.flows.start(self.flows.archive(carry.card), name="archive")
        else:
            self.flows.start(self.flows.set_status(carry.card, Status(target)), name="drop")

    def on_status_list_drag_started(self, message: StatusList.DragStarted) -> None:
        message.stop()
        self._drop_carry()
        self.carry = Carry(message.card, message.status_list.key, None, by_mouse=True)
        self.active = message.status_list
        message.status_list.carried = message.card.number
        message.status_list.refresh()
        self.refresh_bindings()
        self._update_status_line()

    def on_status_list_drag_moved(self, message: StatusList.DragMoved) -> None:
        message.stop()
        if self.carry is None:
            return
        try:
            widget, _ = self.get_widget_at(message.screen_x, message.screen_y)
        except NoWidget:
            widget = None
        target = list_of(widget)
        key = target.key if target is not None and target in self.board.lists() else None
        if key != self.carry.target:
            self._set_carry_target(key)

    def on_status_list_drag_dropped(self, message: StatusList.DragDropped) -> None:
        message.stop()
        self.on_status_list_drag_moved(StatusList.DragMoved(message.status_list, message.card,
                                                            message.screen_x, message.screen_y))
        self._drop()

    # ------------------------------------------------------------------ filter
    def _filter_field(self) -> Input:
        try:
            return self.query_one("#filter", Input)
        except NoMatches:
            field = Input(placeholder="filter: number, partner or address (enter keeps it, esc clears)",
                          id="filter", select_on_focus=False)
            field.cursor_blink = self.app.blink  # type: ignore[attr-defined]
            field.display = False
            self.mount(field, before=self.query_one("#keybar"))
            return field

    def action_new_order(self) -> None:
        self.flows.start(self.flows.new_order())

    def action_filter(self) -> None:
        field = self._filter_field()
        field.display = True
        self.query_one("#status-line", Static).display = False
        field.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._close_filter_field()

    def set_filter(self, text: str) -> None:
        text = " ".join(text.split())
        if text == self.filter_text:
            return
        self.filter_text = text
        self.view_name = ""
        if not text:
            self.filter_ids = None
            self.filter_more = {}
        # only the filter changed: the lists' counts are the ones on screen
        counts = self.counts if self._first_load_done else None
        self._load(text or None, {lst.key: [0] for lst in self.board.lists()}, counts)

    def _close_filter_field(self) -> None:
        field = self._filter_field()
        field.display = False
        self.query_one("#status-line", Static).display = True
        (self.active or self.board.lists()[0]).focus()
        self._update_status_line()

    def clear_filter(self) -> None:
        field = self._filter_field()
        with field.prevent(Input.Changed):
            field.value = ""
        self.set_filter("")
        self._close_filter_field()

    def action_escape(self) -> None:
        if self.carry is not None:
            card = self.carry.card
            self._drop_carry()
            self.notify(f"Order {clean(card.number)} was not moved.", markup=False)
        elif self.focused is not None and self.focused.id == "filter":
            self.clear_filter()
        elif self.selected:
            self.clear_selection()
        elif self.filter_text:
            self.clear_filter()

    # ------------------------------------------------------------------ saved views and export
    def action_views(self) -> None:
        self.flows.start(self._views(), name="views")

    async def _views(self) -> None:
        current = views.ViewFilter(self.filter_text, "all" if self.tab == "all" else "")
        chosen = await self.flows.views(current)
        self._read_views()
        if chosen is not None:
            self.show_view(chosen.filter, chosen.name)

    @work(thread=True, exclusive=True, group="views", exit_on_error=False)
    def _read_views(self) -> None:
        try:
            have = views.saved_views(self.depot)
        except ERRORS:
            return
        self.app.call_from_thread(setattr, self, "saved_views", have)

    def show_view(self, flt: views.ViewFilter, name: str = "") -> None:
        """Show a saved view: its filter on its tab."""
        self.show_tab("all" if flt.tab == "all" else "work")
        field = self._filter_field()
        with field.prevent(Input.Changed):
            field.value = flt.text
        self.set_filter(flt.text)
        self.view_name = name
        self._update_status_line()

    def export_choice(self) -> ExportChoice | list[str]:
        """What Export… takes from here: the selection, else the filter on the lists of the tab,
        else the highlighted list."""
        if self.selected:
            return list(self.selected)
        every = self.tab == "all"
        if self.filter_text:
            return ExportChoice(text=self.filter_text, statuses=None if every else WORKING,
                                archived=None if every else False)
        key = self.active.key if self.active is not None else Status.CREATED.value
        if key == ARCHIVED:
            return ExportChoice(archived=True)
        return ExportChoice(statuses=(Status(key),), archived=False)

    def action_export(self) -> None:
        self.flows.start(self.flows.export(self.export_choice()), name="export")

    # ------------------------------------------------------------------ the status line
    def _set_status_note(self, note: str | Text) -> None:
        line = note if isinstance(note, Text) else Text(note)
        try:
            self.query_one("#status-line", Static).update(line)
        except NoMatches:
            return
        self._status_shown = line

    def _update_status_line(self) -> None:
        parts: list[Text] = []
        if self.problem:
            parts.append(Text(clean(self.problem, single_line=True), style="bold"))
        if self.carry is not None:
            target = list_title(self.carry.target) if self.carry.target else "no list"
            how = ("release over a list" if self.carry.by_mouse
                   else "←/→ choose, enter drops, esc puts back")
            parts.append(Text.assemble(("Moving ", "bold"), (clean(self.carry.card.number, single_line=True), "bold"),
                                       f" to {target}: {how}"))
        if self.selected:
            parts.append(Text(f"{len(self.selected)} selected: t trash, s status, a archive, esc clears"))
        if self.filter_text:
            shown = sum(len(v) for v in self.filter_ids.values()) if self.filter_ids else 0
            note = Text("Filter: ")
            if self.view_name:
                note = Text("View ")
                note.append(clean(self.view_name, single_line=True, limit=40), style="bold")
                note.append(": ")
            note.append(clean(self.filter_text, single_line=True, limit=30), style="bold")
            plus = "+" if self.filter_more else ""
            note.append(f" ({shown:,}{plus} match; / edits, esc clears)")
            parts.append(note)
        line = Text(" · ").join(parts) if parts else Text("")
        if line == self._status_shown:
            return  # it reads the same: not written again (nor laid out and redrawn)
        self._set_status_note(line)

    # ------------------------------------------------------------------ help and palette
    #: (keys, what they do, the action that tells whether it is available now)
    HELP: tuple[tuple[str, str, str], ...] = (
        ("←/→  h/l", "previous / next list", ""),
        ("↑/↓  k/j", "previous / next card; home, end, page up/down", ""),
        ("enter", "open the order: fields, lines, notices, history", "open"),
        ("s", "set status: every status, refused ones say why", "set_status"),
        ("t  delete", "trash: reject the order and tell the partner", "trash"),
        ("c", "create cancellation… (reason, lines, number)", "cancel"),
        ("a", "archive / unarchive", "archive"),
        ("g", "tags…", "tags"),
        ("d", "duplicate as new (a new number)", "duplicate"),
        ("e", "edit… before pickup (addresses, times, goods, lines)", "edit"),
        ("r", "register return… (picked up or delivered; the status stays)", "register_return"),
        ("R", "reject…: the four checks, a reason code, notify the buyer", "reject"),
        ("X", "refuse the partner's cancellation request…", "refuse"),
        ("m", "pick the card up; ←/→ choose the list; enter or m drops; esc puts it back", "carry"),
        ("space", "select or unselect the highlighted card (the cursor stays on it); t, s or a then act "
                  "on every selected card", "select"),
        ("n", "new order, taken by phone: the keyboard form", "new_order"),
        ("/", "filter every list by number, partner or address", "filter"),
        ("v", "saved views: show one, save the filter as one, rename, delete", "views"),
        ("x", "export… the selection, filter or list: CSV, Excel or PDF", "export"),
        ("o  shift+F10  menu", "the card's menu", "menu"),
        ("u  ctrl+z", "undo the last action while its undo window is open", "undo"),
        ("i", "switch tab: Dispatch / All information", ""),
        ("esc", "put back a moved card; clear the selection; clear the filter", ""),
        ("1", "this screen", ""),
        ("ctrl+p", "the command palette: every action by name", ""),
        ("ctrl+q", "quit", ""),
    )

    def action_help(self) -> None:
        keys = [(k, what, not action or self.check_action(action, ()) is True) for k, what, action in self.HELP]
        for key, mode, screen in (("3", "link", "the Link screen: notices, follow-ups"),
                                  ("4", "partners", "the Partners screen"),
                                  ("5", "report", "the Report screen: work done, rejections, cancellations"),
                                  ("6", "rules", "the Rules screen: what happens by itself, tried first")):
            if self.app.check_action("mode", (mode,)) is True:
                keys.append((key, screen, True))
        notes = [
            "Mouse: click a card to highlight it, double-click to open it, right-click for its menu.",
            "Drag a card onto another list to set that status: the same checks and confirm as s.",
            "Dropping a Dispatched or Accepted card on Created calls the shipment back; the partner is told.",
            "A confirm lists the rules that fire with the action (key 6: the rules); in it, w says why the "
            "others will not, a acts without rules.",
        ]
        self.app.push_screen(HelpScreen("Dispatch: keys", keys, notes))

    def palette_commands(self) -> list[tuple[str, Any, str]]:
        """(name, callback, help) for the command palette: every action on the board."""
        out: list[tuple[str, Any, str]] = []
        card, acts = self.card, self.actions
        if card is not None:
            n = clean(card.number, single_line=True)
            out.append((f"Open order {n}", self.action_open, "enter"))
            out.append((f"Menu of order {n}", self.action_menu, "o"))
            if acts is not None and acts.number == card.number:
                for st in Status:
                    refusal = acts.moves[st]
                    out.append((f"Set status of {n}: {st.label}",
                                lambda st=st, card=card: self.flows.start(self.flows.set_status(card, st)),
                                "not allowed now: choosing it says why" if refusal else "s"))
                out.append((f"Trash order {n}", self.action_trash,
                            "not allowed now: choosing it says why" if acts.trash else "t"))
                out.append((f"Create cancellation of {n}…", self.action_cancel,
                            "not allowed now: choosing it says why" if acts.cancel else "c"))
                out.append((f"Reject order {n}… (the checks, notify the buyer)", self.action_reject,
                            "not allowed now: the dialog says why" if acts.trash else "menu"))
                out.append((f"Refuse the cancellation request of {n}…", self.action_refuse,
                            "not allowed now: choosing it says why" if acts.refuse_request else "menu"))
            out.append((f"Duplicate order {n} as new", self.action_duplicate, "d"))
            out.append((f"Edit order {n}…", self.action_edit, "e"))
            out.append((f"Register return on order {n}…", self.action_register_return, "r"))
            out.append((f"Tags of order {n}…", self.action_tags, "g"))
            out.append((f"{'Unarchive' if card.archived else 'Archive'} order {n}", self.action_archive, "a"))
            out.append((f"Pick up order {n} to move it", self.action_carry, "m"))
            out.append((f"Select order {n} for a bulk action", self.action_select, "space"))
        if self.selected:
            k = len(self.selected)
            out.append((f"Trash the {k} selected orders", lambda: self.action_bulk("trash"), "t"))
            out.append((f"Set status of the {k} selected orders", lambda: self.action_bulk("set_status"), "s"))
            out.append((f"Archive the {k} selected orders", lambda: self.action_bulk("archive"), "a"))
            out.append(("Clear the selection", self.clear_selection, "esc"))
        if self.flows.can_undo():
            out.append(("Undo the last action", self.action_undo, "u"))
        out.append(("Filter the lists", self.action_filter, "/"))
        out.append(("Saved views…", self.action_views, "v"))
        for view in self.saved_views:
            out.append((f"View: {clean(view.name, single_line=True)}",
                        lambda view=view: self.show_view(view.filter, view.name), "v"))
        out.append(("Save the filter as a view…", self.action_views, "v"))
        out.append(("Export… to CSV, Excel or PDF", self.action_export, "x"))
        if self.filter_text:
            out.append(("Clear the filter", self.clear_filter, "esc"))
        out.append(("Switch tab: Dispatch / All information", self.action_toggle_tab, "i"))
        out.append(("Keys and marks", self.action_help, "?"))
        return out
