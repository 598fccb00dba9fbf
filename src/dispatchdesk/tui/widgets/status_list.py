"""One status list of the board, drawn as a virtual list: only the visible cards are rendered.

A list may hold 100,000 cards. It knows how many (`total`) and keeps the pages of cards it
has been given; when it needs a page it has not got, it asks for it with a `NeedPage`
message, and the screen loads it in a worker thread and hands it back with `set_page`. The
list never touches the database.

| Key | Action |
| --- | --- |
| up / k | Previous card |
| down / j | Next card |
| home / end | First / last card |
| pageup / pagedown | One screen up / down |

Mouse: click selects a card, a double click opens it, the right button opens its menu, and
press - move - release drags it (`DragStarted`, `DragMoved`, `DragDropped`; the screen
decides what lies under the pointer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Offset, Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...domain import Direction
from ...services.queries import ARCHIVED, Card, _town
from ...text import clean
from ..loader import PAGE_SIZE
from ..symbols import CARRIED, SELECTED, URGENT, age, list_title, mark_symbols

#: Lines per card.
CARD_HEIGHT = 3


def fit(text: str, width: int) -> str:
    """`text` cut to `width` cells (ending in … when cut), padded to exactly `width`."""
    if width <= 0:
        return ""
    if cell_len(text) > width:
        return set_cell_size(set_cell_size(text, width - 1).rstrip() + "…", width)
    return set_cell_size(text, width)


def _first_word(name: str) -> str:
    words = name.split()
    if not words:
        return name
    first = words[0]
    # "A1 Couriers", "St Albans Freight": a first word of one or two letters says too little
    return " ".join(words[:2]) if len(first) <= 2 and len(words) > 1 else first


def parties_line(source: str, holder: str, width: int) -> str:
    """'← source → holder' in `width` cells: whole names when they fit, else first words, else
    both cut so that each keeps a share (who has it now the larger one). Names are clean text."""
    if not source and not holder:
        return fit("own order", width)
    if not (source and holder):
        return fit(f"← {source}" if source else f"→ {holder}", width)
    s1, h1 = _first_word(source), _first_word(holder)
    for text in (f"← {source} → {holder}", f"← {s1} → {holder}", f"← {s1} → {h1}", f"←{s1} →{h1}",
                 f"←{s1}→{h1}"):
        if cell_len(text) <= width:
            return set_cell_size(text, width)
    room = width - 2  # the two arrows
    if room < 4:
        return fit(f"→{h1}", width)
    s = min(cell_len(s1), room // 2)
    h = room - s
    return set_cell_size(f"←{fit(s1, s)}→{fit(h1, h)}", width)


@dataclass(frozen=True)
class _Shown:
    """The cleaned text of one card, worked out once per card."""

    number: str
    marks: str
    urgent: str
    partner: str
    route: str


class StatusList(ScrollView, can_focus=True):
    """The cards of one list (a status, or the archived orders)."""

    ALLOW_SELECT = False

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]

    COMPONENT_CLASSES = {
        "card--number",
        "card--partner",
        "card--route",
        "card--age",
        "card--mark",
        "card--urgent",
        "card--cursor",
        "card--cursor-blurred",
        "card--carried",
        "card--selected",
        "card--dim",
    }

    cursor: reactive[int] = reactive(0, init=False)

    # ------------------------------------------------------------------ messages
    class Highlighted(Message):
        """The card under the cursor changed (or was loaded); `card` is None on an empty list."""

        def __init__(self, status_list: StatusList, card: Card | None) -> None:
            super().__init__()
            self.status_list = status_list
            self.card = card

        @property
        def control(self) -> StatusList:
            return self.status_list

    class NeedPage(Message):
        """The list wants the cards of page `page` (PAGE_SIZE cards from page * PAGE_SIZE)."""

        def __init__(self, status_list: StatusList, page: int, generation: int) -> None:
            super().__init__()
            self.status_list = status_list
            self.page = page
            self.generation = generation

        @property
        def control(self) -> StatusList:
            return self.status_list

    class OpenRequested(Message):
        def __init__(self, status_list: StatusList, card: Card) -> None:
            super().__init__()
            self.status_list = status_list
            self.card = card

        @property
        def control(self) -> StatusList:
            return self.status_list

    class MenuRequested(Message):
        def __init__(self, status_list: StatusList, card: Card, at: Offset) -> None:
            super().__init__()
            self.status_list = status_list
            self.card = card
            self.at = at

        @property
        def control(self) -> StatusList:
            return self.status_list

    class _Drag(Message):
        def __init__(self, status_list: StatusList, card: Card, screen_x: int, screen_y: int) -> None:
            super().__init__()
            self.status_list = status_list
            self.card = card
            self.screen_x = screen_x
            self.screen_y = screen_y

        @property
        def control(self) -> StatusList:
            return self.status_list

    class DragStarted(_Drag):
        pass

    class DragMoved(_Drag):
        pass

    class DragDropped(_Drag):
        pass

    # ------------------------------------------------------------------ state
    def __init__(self, key: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.key = key
        self.total = 0
        self.generation = 0
        self.now = datetime.now(UTC)
        self.empty_text = "(none)"
        #: order numbers selected for a bulk action (shared with the screen)
        self.selected: set[str] = set()
        #: the number of the card being dragged or carried, if it is in this list
        self.carried: str | None = None
        self._cards: dict[int, Card] = {}
        self._loaded: set[int] = set()  # pages loaded in this generation
        self._asked: set[int] = set()  # pages asked for in this generation
        self._shown: dict[tuple[Card, int], _Shown] = {}
        self._press: tuple[Card, int, int] | None = None
        self._dragging = False
        self._last_highlight: tuple[str, int] | None = None
        self.count = 0
        self.shown_count: int | None = None  # with a filter: the cards that match
        self.more = False  # with a filter: more than shown_count match (not read yet)
        self.drop_note = ""
        self._update_title()

    # ------------------------------------------------------------------ title
    def _title_room(self) -> int:
        """Cells the border title may take: Textual keeps two for each corner and one each side."""
        width = self.outer_size.width
        if not width:
            return 1000
        return max(1, width - 2 - (2 if self.styles.border_left[0] not in ("", "none", "hidden") else 0))

    def _update_title(self) -> None:
        """'Dispatched 12' or 'Accepted 3/12' with a filter; where the list is narrow, the name is
        cut (Dispatch… 12), never the count."""
        room = self._title_room()
        if self.drop_note:
            note = self.drop_note if cell_len(self.drop_note) + 2 <= room else fit(self.drop_note, max(1, room - 2))
            self.border_title = Text.assemble("▼ ", note.rstrip())
            return
        shown = f"{self.shown_count:,}{'+' if self.more else ''}" if self.shown_count is not None else ""
        count = f"{self.count:,}" if self.shown_count is None else f"{shown}/{self.count:,}"
        name = list_title(self.key)
        if cell_len(name) + 1 + len(count) > room:
            name = fit(name, max(2, room - 1 - len(count))).rstrip()
        self.border_title = Text(f"{name} {count}")

    def set_counts(self, count: int, shown: int | None, *, more: bool = False) -> None:
        """`shown`: with a filter, the cards that match; `more`: more than that match (the
        title says 100+/...; they are read as the list is scrolled to its end)."""
        if (count, shown, more) == (self.count, self.shown_count, self.more):
            return  # the title reads the same: not redrawn
        self.count = count
        self.shown_count = shown
        self.more = more
        self._update_title()

    def set_now(self, now: datetime) -> bool:
        """Move the list's clock on; redraw only when an age on screen reads differently (no
        database read: the cards are the ones held). True when it redrew."""
        old, self.now = self.now, now
        if not self.total or not self.is_mounted:
            return False
        top = int(self.scroll_y) // CARD_HEIGHT
        height = max(1, self.scrollable_content_region.height or self.size.height or 1)
        bottom = min(self.total - 1, (int(self.scroll_y) + height - 1) // CARD_HEIGHT)
        for i in range(top, bottom + 1):
            card = self._cards.get(i)
            if card is not None and age(card.status_changed_at, old) != age(card.status_changed_at, now):
                self.refresh()
                return True
        return False

    def set_drop(self, note: str | None) -> None:
        """Show (or stop showing) that a card would land here."""
        self.drop_note = note or ""
        self.set_class(bool(note), "-drop-target")
        self._update_title()

    @property
    def current(self) -> Card | None:
        """The card under the cursor, if it is loaded."""
        if not self.total:
            return None
        return self._cards.get(self.cursor)

    def card_at(self, index: int) -> Card | None:
        return self._cards.get(index)

    def loaded_cards(self) -> list[Card]:
        return [self._cards[i] for i in sorted(self._cards)]

    @property
    def ready(self) -> bool:
        """The visible part of the list is loaded (the board uses it to say it is drawn)."""
        if not self.total:
            return True
        first, last = self._visible_pages()
        return all(p in self._loaded for p in range(first, last + 1))

    # ------------------------------------------------------------------ data in
    def reset(self, total: int, generation: int) -> None:
        """A new count of cards; the pages held become stale (still drawn until replaced)."""
        self.generation = generation
        self.total = max(0, total)
        self._loaded.clear()
        self._asked.clear()
        for i in [i for i in self._cards if i >= self.total]:
            del self._cards[i]
        width = self.scrollable_content_region.width or self.size.width
        self.virtual_size = Size(width, max(1, self.total) * CARD_HEIGHT)
        if self.cursor >= self.total:
            self.cursor = max(0, self.total - 1)
        self._shown.clear()
        self.refresh()
        self._announce()

    @property
    def holds_pages(self) -> bool:
        """Some pages are loaded in this generation (they go stale when the database changes)."""
        return bool(self._loaded)

    def holds(self, total: int, pages: dict[int, list[Card]]) -> bool:
        """Does the list show exactly this already: `total` cards, and these pages as they are
        (each loaded in this generation, card for card equal)?"""
        if total != self.total:
            return False
        for page, cards in pages.items():
            if page not in self._loaded:
                return False
            start = page * PAGE_SIZE
            held = [self._cards.get(i) for i in range(start, min(start + PAGE_SIZE, self.total))]
            if held != cards[:len(held)] or len(cards) > len(held):
                return False
        return True

    def update(self, total: int, pages: dict[int, list[Card]], generation: int) -> bool:
        """A refresh of the unfiltered board: `total` cards and the pages read with it (the
        visible ones and the cursor's). A list that already shows exactly that is not touched
        (no redraw, the same generation) unless it holds other pages or waits for some: those
        become stale quietly (a new generation, no redraw; they are read again when shown).
        A list that differs takes the new pages in place: the cursor stays where it is, the
        cards held elsewhere are still drawn until their page comes. True when it redrew."""
        if self.holds(total, pages):
            if self._asked or self._loaded - set(pages):
                self.generation = generation
                self._asked.clear()
                self._loaded &= set(pages)
            return False
        self.generation = generation
        resized = total != self.total
        self.total = max(0, total)
        self._loaded.clear()
        self._asked.clear()
        for i in [i for i in self._cards if i >= self.total]:
            del self._cards[i]
        for page, cards in pages.items():
            self._put(page, cards)
        if len(self._shown) > 4 * PAGE_SIZE:
            self._shown.clear()  # texts are kept by card: a changed card is a new key
        if resized:
            width = self.scrollable_content_region.width or self.size.width
            self.virtual_size = Size(width, max(1, self.total) * CARD_HEIGHT)
            if self.cursor >= self.total:
                self.cursor = max(0, self.total - 1)
        self.refresh()
        self._announce()
        return True

    def grow(self, total: int) -> None:
        """More cards at the end (a filter read on): the pages held stay."""
        self.total = max(0, total)
        for i in [i for i in self._cards if i >= self.total]:
            del self._cards[i]
        self._loaded = {p for p in self._loaded if p * PAGE_SIZE < self.total}
        width = self.scrollable_content_region.width or self.size.width
        self.virtual_size = Size(width, max(1, self.total) * CARD_HEIGHT)
        self.refresh()

    def _put(self, page: int, cards: list[Card]) -> None:
        """Hold `cards` as page `page` (what it held before is dropped)."""
        start = page * PAGE_SIZE
        for i in range(start, start + PAGE_SIZE):
            self._cards.pop(i, None)
        for i, card in enumerate(cards):
            if start + i < self.total:
                self._cards[start + i] = card
        self._loaded.add(page)

    def set_page(self, page: int, cards: list[Card], generation: int) -> None:
        if generation != self.generation:
            return
        self._put(page, cards)
        self._asked.discard(page)
        if len(self._shown) > 4 * PAGE_SIZE:
            self._shown.clear()
        self.refresh()
        self._announce()

    def ask_visible(self) -> None:
        """Ask for every visible page not loaded in this generation."""
        if not self.total:
            return
        first, last = self._visible_pages()
        for page in range(first, last + 1):
            self._ask(page)
        self._ask(self.cursor // PAGE_SIZE)

    def wanted_pages(self) -> list[int]:
        """The pages to load on a refresh: the visible ones and the cursor's."""
        if not self.total:
            return [0]
        first, last = self._visible_pages()
        return sorted(set(range(first, last + 1)) | {self.cursor // PAGE_SIZE})

    def _visible_pages(self) -> tuple[int, int]:
        top = int(self.scroll_y) // CARD_HEIGHT
        height = max(1, self.scrollable_content_region.height or self.size.height or 1)
        bottom = min(self.total - 1, (int(self.scroll_y) + height - 1) // CARD_HEIGHT)
        return top // PAGE_SIZE, max(top, bottom) // PAGE_SIZE

    def _ask(self, page: int) -> None:
        if page in self._loaded or page in self._asked or page * PAGE_SIZE >= self.total:
            return
        self._asked.add(page)
        self.post_message(self.NeedPage(self, page, self.generation))

    def _announce(self) -> None:
        card = self.current
        key = (card.number, card.version) if card else ("", -1)
        if key != self._last_highlight:
            self._last_highlight = key
            self.post_message(self.Highlighted(self, card))

    # ------------------------------------------------------------------ cursor
    def watch_cursor(self, old: int, new: int) -> None:
        self._ask(new // PAGE_SIZE)
        self.scroll_to_card(new)
        self.refresh()
        self._announce()

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, self.total - 1)) if self.total else 0

    def scroll_to_card(self, index: int) -> None:
        if not self.is_mounted:
            return
        region = Region(0, index * CARD_HEIGHT, max(1, self.scrollable_content_region.width), CARD_HEIGHT)
        self.scroll_to_region(region, animate=False, force=True, immediate=True)

    def select_index(self, index: int) -> None:
        self.cursor = index

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self._shown.clear()
        self._update_title()
        width = self.scrollable_content_region.width or self.size.width
        self.virtual_size = Size(width, max(1, self.total) * CARD_HEIGHT)

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = self.total - 1

    def _page_cards(self) -> int:
        return max(1, (self.scrollable_content_region.height or CARD_HEIGHT) // CARD_HEIGHT)

    def action_page_up(self) -> None:
        self.cursor -= self._page_cards()

    def action_page_down(self) -> None:
        self.cursor += self._page_cards()

    # ------------------------------------------------------------------ mouse
    def _index_at(self, event: events.MouseEvent) -> int | None:
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        index = (offset.y + int(self.scroll_y)) // CARD_HEIGHT
        return index if 0 <= index < self.total else None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        index = self._index_at(event)
        if index is None:
            return
        event.stop()
        self.focus()
        self.cursor = index
        card = self._cards.get(index)
        if card is None:
            return
        if event.button == 3:
            self.post_message(self.MenuRequested(self, card, Offset(event.screen_x, event.screen_y)))
        elif event.button == 1:
            self._press = (card, event.screen_x, event.screen_y)
            self._dragging = False
            self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._press is None:
            return
        card, x0, y0 = self._press
        if not self._dragging:
            if (event.screen_x, event.screen_y) == (x0, y0):
                return
            self._dragging = True
            self.carried = card.number
            self.refresh()
            self.post_message(self.DragStarted(self, card, event.screen_x, event.screen_y))
        self.post_message(self.DragMoved(self, card, event.screen_x, event.screen_y))

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._press is None:
            return
        card = self._press[0]
        self._press = None
        self.release_mouse()
        if self._dragging:
            self._dragging = False
            self.carried = None
            self.refresh()
            self.post_message(self.DragDropped(self, card, event.screen_x, event.screen_y))

    def on_click(self, event: events.Click) -> None:
        if event.button == 1 and event.chain == 2:
            index = self._index_at(event)
            card = self._cards.get(index) if index is not None else None
            if card is not None:
                self.post_message(self.OpenRequested(self, card))

    # ------------------------------------------------------------------ drawing
    def _text_of(self, card: Card, width: int) -> _Shown:
        """The card's texts; the partners' line is made for `width` (the cache empties on resize)."""
        shown = self._shown.get((card, width))
        if shown is None:
            symbols = mark_symbols(card.marks)
            urgent = mark_symbols(frozenset(m for m in card.marks if m in URGENT))
            source = clean(card.source, single_line=True)
            holder = clean(card.holder, single_line=True)
            if not (source or holder) and card.direction is not Direction.OWN:  # a card made by hand
                source, holder = ((clean(card.partner, single_line=True), "")
                                  if card.direction is Direction.INBOUND else ("", clean(card.partner, single_line=True)))
            if self.key == ARCHIVED:
                label = f"{card.status.label} · "
                partner = label + parties_line(source, holder, max(0, width - cell_len(label)))
            else:
                partner = parties_line(source, holder, width)
            route = f"{clean(_town(card.pickup), single_line=True)}→{clean(_town(card.delivery), single_line=True)}"
            shown = _Shown(clean(card.number, single_line=True), symbols, urgent, partner, route)
            self._shown[(card, width)] = shown
        return shown

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        base = self.rich_style
        line = int(self.scroll_y) + y
        index, row = divmod(line, CARD_HEIGHT)
        if not self.total:
            if line == 0:
                dim = self.get_component_rich_style("card--dim")
                return Strip([Segment(fit(" " + self.empty_text, width), base + dim)], width)
            return Strip.blank(width, base)
        if index >= self.total:
            return Strip.blank(width, base)
        card = self._cards.get(index)
        if card is None or index // PAGE_SIZE not in self._loaded:
            self._ask(index // PAGE_SIZE)
        if card is None:
            dim = self.get_component_rich_style("card--dim")
            return Strip([Segment(fit(" …" if row == 0 else "", width), base + dim)], width)
        return self._card_line(card, index, row, width, base)

    def _card_line(self, card: Card, index: int, row: int, width: int, base: Style) -> Strip:
        inner = max(0, width - 1)
        shown = self._text_of(card, inner)
        style = self.get_component_rich_style
        card_style = base
        if index == self.cursor:
            if self.has_focus:
                card_style = base + style("card--cursor")
            elif row == 0:
                card_style = base + style("card--cursor-blurred")
        if card.number in self.selected:
            card_style = card_style + style("card--selected")
        if card.number == self.carried:
            card_style = card_style + style("card--carried")
        gutter = " "
        if card.number == self.carried:
            gutter = CARRIED
        elif card.number in self.selected:
            gutter = SELECTED
        segments: list[Segment] = [Segment(gutter if row == 0 else " ", card_style)]
        if row == 0:
            number = shown.number
            marks = shown.marks
            room = inner - cell_len(number)
            if marks and room >= 2:
                marks = fit(marks, min(room - 1, cell_len(marks))).rstrip()
                segments.append(Segment(number, card_style + style("card--number")))
                segments.append(Segment(" ", card_style))
                for ch in marks:
                    kind = "card--urgent" if ch in shown.urgent else "card--mark"
                    segments.append(Segment(ch, card_style + style(kind)))
                used = cell_len(number) + 1 + cell_len(marks)
                segments.append(Segment(" " * max(0, inner - used), card_style))
            else:
                segments.append(Segment(fit(number, inner), card_style + style("card--number")))
        elif row == 1:
            segments.append(Segment(fit(shown.partner, inner), card_style + style("card--partner")))
        else:
            when = age(card.status_changed_at, self.now)
            room = inner - cell_len(when) - 1
            if room >= 3:
                segments.append(Segment(fit(shown.route, room), card_style + style("card--route")))
                segments.append(Segment(" " + when, card_style + style("card--age")))
            else:
                segments.append(Segment(fit(shown.route, inner), card_style + style("card--route")))
        return Strip(segments, width).adjust_cell_length(width, base)
