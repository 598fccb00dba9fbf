"""Loading the board: counts, the filter's matches and the visible pages, in one go.

Plain functions run in a worker thread (never touching a widget); the screen applies the
result on the UI thread. The app starts the first load before the screen is even built, so
the database works while Textual starts (`Prefetch`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..services import ERRORS, Depot, queries, search
from ..services.queries import Card

#: Cards per page (a page is asked for as a whole).
PAGE_SIZE = 50


@dataclass
class BoardData:
    counts: dict[str, int]
    text: str | None  # the filter it was loaded for
    ids: dict[str, list[int]] | None  # with a filter: the matching ids of each list read so far
    pages: dict[tuple[str, int], list[Card]] = field(default_factory=dict)
    problem: str = ""
    #: with a filter: the lists that may hold more matches than `ids`, and the order each
    #: walk stopped at (read on after it when the list is scrolled to its end)
    resume: dict[str, int] = field(default_factory=dict)


def load_board(
    depot: Depot,
    wanted: dict[str, list[int]],
    text: str | None = None,
    counts: dict[str, int] | None = None,
    keys: Iterable[str] = (),
) -> BoardData:
    """Counts of every list, the filter's matches (in the lists `wanted` and `keys`), and the
    pages `wanted` ({list key: [page]}).

    `counts` given (the filter changed, not the database) are used as they are.
    """
    try:
        if counts is None:
            counts = queries.board_counts(depot)
        pages: dict[tuple[str, int], list[Card]] = {}
        if not text:
            windows = [(key, page * PAGE_SIZE, PAGE_SIZE) for key, ps in wanted.items() for page in ps]
            for (key, offset, _), cards in zip(windows, queries.board_pages(depot, windows), strict=True):
                pages[(key, offset // PAGE_SIZE)] = cards
            return BoardData(counts, text, None, pages)
        every = list(dict.fromkeys([*wanted, *keys]))
        found = search.match_lists(depot, text, every, now=list(wanted))
        ids = {key: m.ids for key, m in found.items()}
        resume = {key: m.resume for key, m in found.items() if m.more and m.resume is not None}
        # a page that reaches past the matches read so far is asked for by the list (and read on)
        wanted_pages = [(key, page) for key, ps in wanted.items() for page in ps
                        if key not in resume or (page + 1) * PAGE_SIZE < len(ids[key])]
        lists = [ids[key][page * PAGE_SIZE:(page + 1) * PAGE_SIZE] for key, page in wanted_pages]
        for key_page, cards in zip(wanted_pages, queries.cards_by_id_lists(depot, lists), strict=True):
            pages[key_page] = cards
        return BoardData(counts, text, ids, pages, resume=resume)
    except ERRORS as e:
        return BoardData({}, text, None, problem=str(e))


class Prefetch:
    """The first load of the board, started in a thread as soon as the app is made."""

    def __init__(self, depot: Depot, keys: tuple[str, ...]) -> None:
        self._result: BoardData | None = None
        self._thread = threading.Thread(target=self._run, args=(depot, keys), name="dispatchdesk-prefetch",
                                        daemon=True)
        self._thread.start()

    def _run(self, depot: Depot, keys: tuple[str, ...]) -> None:
        self._result = load_board(depot, {k: [0] for k in keys})

    def take(self) -> BoardData | None:
        """Wait for the first load (in a worker thread) and hand it over once."""
        self._thread.join()
        result, self._result = self._result, None
        return result
