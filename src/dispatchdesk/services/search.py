"""Filtering by text in the database, so typing costs the same at 1,000,000 orders as at 10,000.

An order matches a filter when every word of it (case aside) is part of its number, its
partner's reference, one of its addresses, or the name of the partner it came from or who has
it. The text is indexed by the database (migration 0008: SQLite FTS5 with the trigram
tokenizer, PostgreSQL pg_trgm), kept current by triggers in the same transaction as every
change; partners' names are matched in the small partners table, then by `source_id` /
`assignee_id`.

How a filter is read, and what it costs (`_plan` decides from bounded probes of the index):

- *Few matches* (the usual case: a number, a reference): a word of three characters or more
  that names no partner is held by at most SPARSE orders in the text index. Those orders are
  read whole (one query by id), the other words checked on them, and every list gets its exact
  ids and count.
- *Many matches, a word the index holds for at most SETMAX orders* (SQLite; an order-number
  prefix, a rare street): the index's matches of every indexed word are taken as ids (in
  memory), and each list's own index is walked in the list's order, restricted to the
  matches' range of ids, checking each id against them; rows are read only for the ids among
  them. At most SET_WALK entries come back a list in one go.
- *Many matches, every word common* (a town, a street name, a partner, a word under three
  characters, which a trigram index cannot look up): each list is walked in its own order
  checking every word on the row in the database, stopping after CHUNK + 1 matches or WALK
  rows, whichever comes first. A common word finds a list's first matches in a few hundred rows.
- Either way the list then shows "60+" and reads on (`more_of_list`, from the last entry it
  looked at) as the dispatcher scrolls to its end, or at once while it has not filled what it
  shows: a partner who has no order in a list, or a rare word of one or two letters, is walked
  to the list's end in bounded steps, off the keystroke.

Nothing read for a keystroke grows with the depot: each probe reads at most SETMAX + 1 entries
of the index (or three stretches of SAMPLE ids), each walk at most WALK rows or SET_WALK entries.

Reception (newest first) with many matches reads the text index itself newest first, a step at
a time (`_newest_by_index`), so an old order-number prefix is found as quickly as a new one.

In the row check (many matches) upper and lower case are told apart for ASCII letters only
(SQLite's LIKE; PostgreSQL's ILIKE folds every letter); the text index folds every letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    column,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
    type_coerce,
)
from sqlalchemy.orm import Session

from ..store.models import BoardCount, Order, Partner
from .core import Depot

#: With many matches: ids read ahead for a list, and again each time the dispatcher reaches its end.
CHUNK = 60
#: With many matches: at most this many rows of a list are looked at in one go.
WALK = 2000
#: At most this many orders matched by the text index are read whole (exact counts).
SPARSE = 1000
#: SQLite, more than SPARSE matches: a word the text index holds for at most about this many
#: orders (estimated by `_plan`) has its matches taken from the index, and each list walked in
#: its own index checking the order's id against them (no row read but the matches' own).
SETMAX = 20000
#: With the index's matches in hand: at most this many entries of a list's index looked at in one go.
SET_WALK = 5000
#: The shortest word the text index can look up (a trigram).
INDEXED = 3

#: The text PostgreSQL indexes with pg_trgm (the very expression of migration 0008's index).
PG_SEARCH_TEXT = ("(number || ' ' || coalesce(partner_ref, '') || ' ' || pickup_address || ' ' "
                  "|| delivery_address)")

ARCHIVED = "archived"


@dataclass(frozen=True)
class Words:
    """A filter's words (case folded, longest first) and, for each, the partners it names."""

    words: tuple[str, ...]
    partners: dict[str, tuple[int, ...]]

    @property
    def indexed(self) -> tuple[str, ...]:
        """The words the text index looks up alone: three characters or more, naming no partner."""
        return tuple(w for w in self.words if len(w) >= INDEXED and not self.partners[w])


@dataclass(frozen=True)
class ListMatch:
    ids: list[int]  # in the list's order
    more: bool  # the list may hold more matches after these: not read yet
    resume: int | None = None  # with more: the order the walk stopped at (read on after it)


def words_of(session: Session, query: str) -> Words:
    words = sorted(set(query.casefold().split()), key=lambda w: (-len(w), w))
    names = session.execute(select(Partner.id, Partner.name)).all()
    partners = {w: tuple(pid for pid, name in names if w in name.casefold()) for w in words}
    return Words(tuple(words), partners)


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _word_cond(session: Session, word: str, partners: Sequence[int]) -> ColumnElement[bool]:
    """The row check of one word: part of the text, or of a partner's name."""
    like = f"%{_escape_like(word)}%"
    if session.get_bind().dialect.name == "sqlite":
        parts: list[ColumnElement[bool]] = [
            Order.number.like(like, escape="\\"), Order.partner_ref.like(like, escape="\\"),
            Order.pickup_address.like(like, escape="\\"), Order.delivery_address.like(like, escape="\\")]
    else:
        parts = [literal_column(PG_SEARCH_TEXT).ilike(like, escape="\\")]
    if partners:
        parts += [Order.source_id.in_(partners), Order.assignee_id.in_(partners)]
    return or_(*parts)


def _conds(session: Session, w: Words, skip: Sequence[str] = ()) -> list[ColumnElement[bool]]:
    return [_word_cond(session, word, w.partners[word]) for word in w.words if word not in skip]


def _fts_phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _indexed(s: Session, w: Words) -> ColumnElement[bool] | None:
    """The orders holding every indexed word, as a condition the text index answers; None when
    no word can be looked up there."""
    words = w.indexed
    if not words:
        return None
    if s.get_bind().dialect.name == "sqlite":
        phrase = _and_phrase(words)
        return Order.id.in_(text("SELECT rowid FROM order_search WHERE order_search MATCH :fts")
                            .bindparams(fts=phrase).columns(column("rowid", Integer)))
    return and_(*(_word_cond(s, x, ()) for x in words))


def _raw(s: Session, sql: str, params: dict[str, Any]) -> list[Any]:
    """SQLite: one statement of the text index's on the driver's own cursor (no statement
    built or compiled each keystroke, rows fetched at C speed)."""
    cursor = s.connection().connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


_MATCH = "SELECT rowid FROM order_search WHERE order_search MATCH :q"


def _fts_count(s: Session, phrase: str, upto: int) -> tuple[int, int | None, int | None]:
    """How many orders the text index matches for `phrase`, counted up to `upto` (reading at
    most that many of its entries), and the least and greatest id among those counted."""
    n, lo, hi = _raw(s, f"SELECT count(*), min(rowid), max(rowid) FROM ({_MATCH} LIMIT :n)", {"q": phrase, "n": upto})[0]
    return int(n or 0), lo, hi


#: How a filter's matches are read (`_plan`):
#: EXACT: every match read whole (few in the text index, or a small depot);
#: BY_SET: each list walked in its own index, an order's id checked against the text index's matches;
#: BY_ROW: each list walked in its own order, every word checked on the order's row.
EXACT, BY_SET, BY_ROW = "exact", "set", "row"


@dataclass(frozen=True)
class Plan:
    how: str  # EXACT, BY_SET or BY_ROW
    #: SQLite, BY_SET: every match's id is between these (the ids of one word's matches)
    ids: tuple[int, int] | None = None
    #: SQLite, BY_SET of one word: its matches' ids (else read when the lists are walked)
    among: frozenset[int] | None = None


def _plan(s: Session, w: Words) -> Plan:
    """How to read the filter's matches, from what the text index says cheaply.

    SQLite, for each indexed word (longest first), reading a bounded number of index entries
    whatever the depot's size:
    1. counted up to SPARSE + 1: at most SPARSE and the filter is few (EXACT);
    2. looked for in three stretches of SAMPLE ids (the first, the middle and the newest
       orders): found in each at least once in COMMON (a town, a street name, a digit), the
       word is common everywhere and the rows themselves are checked (BY_ROW), which finds a
       list's first matches in a few hundred rows;
    3. else counted up to SETMAX + 1: at most SETMAX (an order-number prefix, a rare street)
       and the lists are walked checking ids against the index's AND of every word (BY_SET),
       or read whole if that AND is few (EXACT).
    When every word is common the rows are checked: the AND of common words is never asked of
    the index (two common words that seldom go together would make it read both whole).
    PostgreSQL: the pg_trgm index counts the matches up to SPARSE + 1 (EXACT or BY_ROW)."""
    words = w.indexed
    if not words:
        return Plan(BY_ROW)
    if s.get_bind().dialect.name != "sqlite":
        cond = and_(*(_word_cond(s, x, ()) for x in words))
        n = s.scalar(select(func.count()).select_from(select(Order.id).where(cond).limit(SPARSE + 1).subquery()))
        return Plan(EXACT if (n or 0) <= SPARSE else BY_ROW)
    top: int | None = None
    for word in words:
        phrase = _fts_phrase(word)
        if _fts_count(s, phrase, SPARSE + 1)[0] <= SPARSE:
            return Plan(EXACT)
        if top is None:
            top = int(s.scalar(select(func.max(Order.id))) or 0)
        if _common(s, phrase, top):
            continue
        ids = [oid for (oid,) in _raw(s, _MATCH + " LIMIT :n", {"q": phrase, "n": SETMAX + 1})]
        if ids and len(ids) <= SETMAX:
            if len(words) == 1:  # the word's matches are the filter's: kept for the walk
                return Plan(BY_SET, (min(ids), max(ids)), frozenset(ids))
            if _fts_count(s, _and_phrase(words), SPARSE + 1)[0] <= SPARSE:
                return Plan(EXACT)
            return Plan(BY_SET, (min(ids), max(ids)))
    return Plan(BY_ROW)


#: A word is common (BY_ROW) when found at least once in COMMON orders in each of three
#: stretches of SAMPLE ids.
SAMPLE = 2000
COMMON = 50

_COMMON = ", ".join(f"(SELECT count(*) FROM ({_MATCH} AND rowid BETWEEN :a{i} AND :a{i} + :span LIMIT :want))"
                    for i in range(3))


def _common(s: Session, phrase: str, top: int) -> bool:
    """The word is found often in each of the first, the middle and the newest SAMPLE orders'
    ids (one statement, a bounded read of the index)."""
    want = max(1, SAMPLE // COMMON)
    starts = (1, max(1, top // 2 - SAMPLE // 2), max(1, top - SAMPLE + 1))
    found = _raw(s, "SELECT " + _COMMON, {"q": phrase, "span": SAMPLE - 1, "want": want,
                                          **{f"a{i}": a for i, a in enumerate(starts)}})[0]
    return all(f >= want for f in found)


def _and_phrase(words: Sequence[str]) -> str:
    return " AND ".join(_fts_phrase(x) for x in words)


def list_key(status: str, archived: bool) -> str:
    return ARCHIVED if archived else status


def archived_list(s: Session) -> ColumnElement[bool]:
    """The condition of the Archived list, for walking it in its order. On SQLite "likely":
    without statistics for `orders` (a new depot is analysed while still empty, one built in
    bulk not at all) SQLite takes the index on `archived` alone and sorts every archived order
    (100-200 ms at 1,000,000 orders) rather than walk the list's partial index."""
    if s.get_bind().dialect.name == "sqlite":
        return func.likely(Order.archived.is_(True))
    return Order.archived.is_(True)


def match_lists(depot: Depot, query: str, keys: Sequence[str], *, now: Sequence[str] | None = None
                ) -> dict[str, ListMatch]:
    """For each list in `keys`: the ids of its orders matching `query`, in the list's order
    (oldest status change first), all of them when they are few, else the first CHUNK. With
    many matches only the lists in `now` (default: every one) are walked; the others come back
    not read yet (more, resume 0: from their start)."""
    with depot.uow(write=False) as uow:
        s = uow.session
        w = words_of(s, query)
        if not w.words:
            raise ValueError("match_lists needs a filter with a word in it")
        plan = _plan(s, w)
        if plan.how == EXACT:
            return _exact(s, w, _indexed(s, w), keys)
        if _few_orders(s):
            return _exact(s, w, None, keys)
        walk = set(keys if now is None else now)
        among = plan.among
        if among is None and plan.how == BY_SET and s.get_bind().dialect.name == "sqlite":
            among = _matched_ids(s, w)
        return {key: _walk(s, w, key, None, CHUNK, plan, among) if key in walk else ListMatch([], True, 0)
                for key in keys}


#: A depot of at most this many orders reads every filter whole (a partner's name, a short word).
FEW_ORDERS = 2000


def _few_orders(s: Session) -> bool:
    """A depot of at most FEW_ORDERS orders (the kept counts): any filter is read whole."""
    return int(s.scalar(select(func.coalesce(func.sum(BoardCount.n), 0))) or 0) <= FEW_ORDERS


def _exact(s: Session, w: Words, few: ColumnElement[bool] | None, keys: Sequence[str]) -> dict[str, ListMatch]:
    """Every match of every list: among the text index's few (`few`), or among every order (None)."""
    out: dict[str, list[tuple[Any, int]]] = {k: [] for k in keys}
    # the stored text of the time sorts as the time does; not made into datetimes (faster)
    q = select(Order.id, Order.status, Order.archived, type_coerce(Order.status_changed_at, String))
    q = q.where(*_conds(s, w)) if few is None else q.where(few, *_conds(s, w, skip=w.indexed))
    rows = s.execute(q).all()
    for oid, status, archived, changed in rows:
        found = out.get(list_key(status, bool(archived)))
        if found is not None:
            found.append((changed, oid))
    return {k: ListMatch([oid for _, oid in sorted(v)], False) for k, v in out.items()}


def _on_index(s: Session, key: str) -> tuple[ColumnElement[bool], list[ColumnElement[bool]]]:
    """The list's index condition (status, or archived: its order's index is walked on it
    alone) and what else the order's row must say to be in the list (an archived order of a
    status is in that index, not in the list)."""
    if key == ARCHIVED:
        return archived_list(s), []
    return Order.status == key, [Order.archived.is_not(True)]


def _after(s: Session, after: int | None) -> list[ColumnElement[bool]] | None:
    """The list's entries after the order `after` (none: from its start); None when that order is gone."""
    if not after:  # 0 or None: from the list's start
        return []
    changed = s.scalar(select(Order.status_changed_at).where(Order.id == after))
    if changed is None:
        return None
    return [tuple_(Order.status_changed_at, Order.id) > tuple_(changed, after)]


ORDER = (Order.status_changed_at, Order.id)


def _walk(s: Session, w: Words, key: str, after: int | None, limit: int, plan: Plan,
          among: frozenset[int] | None = None) -> ListMatch:
    """The next matches of one list after the order `after` (None: from its start): up to `limit`."""
    if plan.how != BY_ROW and s.get_bind().dialect.name == "sqlite":
        if among is None:
            among = plan.among if plan.among is not None else _matched_ids(s, w)
        return _walk_by_set(s, w, key, after, limit, plan, among)
    return _walk_by_row(s, w, key, after, limit)


def _walk_by_row(s: Session, w: Words, key: str, after: int | None, limit: int) -> ListMatch:
    """BY_ROW: the list walked in its own order, every word checked on the row, WALK rows at most.

    The database checks the rows and stops at the limit's next match (only matches come
    back); only when fewer match is the window's last entry asked for (to read on after it)."""
    on_index, in_list = _on_index(s, key)
    cursor = _after(s, after)
    if cursor is None:
        return ListMatch([], False)
    where = [on_index, *cursor]
    ok = and_(true(), *in_list, *_conds(s, w))
    seen = select(Order.id.label("id"), ok.label("ok")).where(*where).order_by(*ORDER).limit(WALK).subquery()
    # a filter over the ordered window keeps its order (no sort: the database streams it and
    # stops at the limit)
    ids = list(s.scalars(select(seen.c.id).where(seen.c.ok).limit(limit + 1)))
    if len(ids) > limit:
        return ListMatch(ids[:limit], True, ids[limit - 1])
    last = s.scalar(select(Order.id).where(*where).order_by(*ORDER).offset(WALK - 1).limit(1))
    if last is None:
        return ListMatch(ids, False)
    return ListMatch(ids, True, last)


def _matched_ids(s: Session, w: Words) -> frozenset[int]:
    """SQLite: the ids the text index matches for every indexed word (BY_SET: at most about SETMAX)."""
    return frozenset(oid for (oid,) in _raw(s, _MATCH, {"q": _and_phrase(w.indexed)}))


def _walk_by_set(s: Session, w: Words, key: str, after: int | None, limit: int, plan: Plan,
                 among: frozenset[int]) -> ListMatch:
    """BY_SET: the list's index walked in its order, only its entries whose id is in the range of
    the index's matches coming back (the others are passed over in the index, not read), each
    checked against the matches (`among`, in memory); the rows of those that are among them
    are read for the rest of the filter (the list, the other words). At most SET_WALK entries
    come back in one go."""
    on_index, in_list = _on_index(s, key)
    cursor = _after(s, after)
    if cursor is None:
        return ListMatch([], False)
    where = [on_index, *cursor]
    if plan.ids is not None:
        where.append(Order.id.between(*plan.ids))
    rest = [*in_list, *_conds(s, w, skip=w.indexed)]
    ids: list[int] = []
    candidates: list[int] = []
    last: int | None = None
    seen = 0
    entries = s.connection().execute(select(Order.id).where(*where).order_by(*ORDER).limit(SET_WALK))
    try:
        for oid in entries.scalars():
            seen += 1
            last = oid
            if oid in among:
                candidates.append(oid)
                if len(ids) + len(candidates) > limit:
                    ids += _checked(s, candidates, rest)
                    candidates = []
                    if len(ids) > limit:
                        return ListMatch(ids[:limit], True, ids[limit - 1])
    finally:
        entries.close()  # stop the walk in the database too
    ids += _checked(s, candidates, rest)
    if len(ids) > limit:
        return ListMatch(ids[:limit], True, ids[limit - 1])
    if seen < SET_WALK:
        return ListMatch(ids, False)
    return ListMatch(ids, True, last)


def _checked(s: Session, ids: list[int], conds: list[ColumnElement[bool]]) -> list[int]:
    """Those of `ids` whose rows meet `conds`, in the same order."""
    if not ids or not conds:
        return ids
    ok = set(s.connection().execute(select(Order.id).where(Order.id.in_(ids), *conds)).scalars())
    return [i for i in ids if i in ok]


def more_of_list(depot: Depot, query: str, key: str, after: int, limit: int = CHUNK) -> ListMatch:
    """The list's next matches after the order `after` (the `resume` of a ListMatch)."""
    with depot.uow(write=False) as uow:
        s = uow.session
        w = words_of(s, query)
        return _walk(s, w, key, after, max(1, limit), _plan(s, w))


@dataclass(frozen=True)
class NewestMatch:
    ids: list[int]  # one page, newest first
    total: int  # how many match (at least, when `more`)
    more: bool  # more than `total` match (not counted)


def match_newest(depot: Depot, query: str, conds: Sequence[ColumnElement[bool]], offset: int, limit: int,
                 *, count_up_to: int = 1000) -> NewestMatch:
    """A page of the orders matching `query` and `conds`, newest first (order reception), with
    their number counted up to `count_up_to` (more: "1,000+")."""
    with depot.uow(write=False) as uow:
        s = uow.session
        w = words_of(s, query)
        plan = _plan(s, w)
        few = _indexed(s, w) if plan.how == EXACT else None
        base = select(Order.id).where(*conds)
        if few is None and _few_orders(s):
            every = list(s.scalars(base.where(*_conds(s, w)).order_by(Order.id.desc())))
            return NewestMatch(every[offset:offset + limit], len(every), False)
        if few is not None:
            every = list(s.scalars(base.where(few, *_conds(s, w, skip=w.indexed)).order_by(Order.id.desc())))
            return NewestMatch(every[offset:offset + limit], len(every), False)
        upto = max(count_up_to, offset + limit)
        if w.indexed and s.get_bind().dialect.name == "sqlite":
            return _newest_by_index(s, w, conds, offset, limit, upto, None if plan.ids is None else plan.ids[1])
        q = base.where(*_conds(s, w)).order_by(Order.id.desc())
        page = list(s.scalars(q.offset(offset).limit(limit)))
        counted = s.scalar(select(func.count()).select_from(q.limit(upto + 1).subquery())) or 0
        return NewestMatch(page, min(counted, upto), counted > upto)


#: Ids taken from the text index at a time, newest first, when reception reads many matches.
INDEX_STEP = 2000


def _newest_by_index(s: Session, w: Words, conds: Sequence[ColumnElement[bool]], offset: int, limit: int,
                     upto: int, newest: int | None = None) -> NewestMatch:
    """Many matches, newest first, on SQLite: the text index hands its matches in descending
    rowid (= order id, newest first) order, a step at a time; each step's orders are checked
    against the rest of the filter, until the page and the count are full or the index has no
    more. An old order-number prefix is then as quick as a new one."""
    phrase = _and_phrase(w.indexed)
    rest = [*conds, *_conds(s, w, skip=w.indexed)]
    need = max(offset + limit, upto + 1)
    found: list[int] = []
    # the newest match's id when the plan knows it (BY_SET): the index starts there rather
    # than passing over the newer orders that do not match (an old order-number prefix)
    last: int | None = None if newest is None else newest + 1
    while len(found) < need:
        sql = "SELECT rowid FROM order_search WHERE order_search MATCH :q"
        if last is not None:
            sql += " AND rowid < :last"
        # no more ids than still needed (each is read to check the rest of the filter)
        n = min(INDEX_STEP, max(need - len(found), INDEX_STEP // 20, 1))
        step = list(s.scalars(text(sql + " ORDER BY rowid DESC LIMIT :n"), {"q": phrase, "last": last, "n": n}))
        if not step:
            break
        last = step[-1]
        ok = set(s.scalars(select(Order.id).where(Order.id.in_(step), *rest)))
        found += [i for i in step if i in ok]
    return NewestMatch(found[offset:offset + limit], min(len(found), upto), len(found) > upto)
