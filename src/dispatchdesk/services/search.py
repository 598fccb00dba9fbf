"""Filtering by text in the database, so typing costs the same at 1,000,000 orders as at 10,000.

An order matches a filter when every word of it (case aside) is part of its number, its
partner's reference, one of its addresses, or the name of the partner it came from or who has
it. The text is indexed by the database (migration 0008: SQLite FTS5 with the trigram
tokenizer, PostgreSQL pg_trgm), kept current by triggers in the same transaction as every
change; partners' names are matched in the small partners table, then by `source_id` /
`assignee_id`.

How a filter is read, and what it costs:

- *Few matches* (the usual case: a number, a reference, a rare street): the words of three
  characters or more that name no partner are looked up in the text index, at most SPARSE + 1
  ids. When there are at most SPARSE, those orders are read whole (one query by id), the other
  words checked on them, and every list gets its exact ids and count.
- *Many matches* (a town, a partner, a word under three characters, which a trigram index
  cannot look up): each list is walked in its own order (the board's index) checking every
  word on the row, and stops after CHUNK + 1 matches or WALK rows, whichever comes first, so
  one keystroke reads at most WALK rows a list whatever the depot's size. The list then shows
  "100+" and reads on (`more_of_list`, from the last row it looked at) as the dispatcher
  scrolls to its end, or at once while it has not filled what it shows: a partner who has no
  order in a list, or a rare word of one or two letters, is walked to the list's end in
  bounded steps, off the keystroke.

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
SPARSE = 10000
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
        phrase = " AND ".join(_fts_phrase(x) for x in words)
        return Order.id.in_(text("SELECT rowid FROM order_search WHERE order_search MATCH :fts")
                            .bindparams(fts=phrase).columns(column("rowid", Integer)))
    return and_(*(_word_cond(s, x, ()) for x in words))


def _few_indexed(s: Session, w: Words) -> ColumnElement[bool] | None:
    """The indexed condition when it holds at most SPARSE orders (counted up to SPARSE + 1)."""
    cond = _indexed(s, w)
    if cond is None:
        return None
    if s.get_bind().dialect.name == "sqlite":  # counted in the index alone, stopping at SPARSE + 1
        n = s.scalar(text("SELECT count(*) FROM (SELECT rowid FROM order_search WHERE order_search MATCH :fts "
                          "LIMIT :n)"), {"fts": " AND ".join(_fts_phrase(x) for x in w.indexed), "n": SPARSE + 1})
    else:
        n = s.scalar(select(func.count()).select_from(select(Order.id).where(cond).limit(SPARSE + 1).subquery()))
    return cond if (n or 0) <= SPARSE else None


def list_key(status: str, archived: bool) -> str:
    return ARCHIVED if archived else status


def _list_where(key: str) -> ColumnElement[bool]:
    if key == ARCHIVED:
        return Order.archived.is_(True)
    return and_(Order.status == key, Order.archived.is_not(True))


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
        few = _few_indexed(s, w)
        if few is not None:
            return _exact(s, w, few, keys)
        if _few_orders(s):
            return _exact(s, w, None, keys)
        walk = set(keys if now is None else now)
        return {key: _walk(s, w, key, None, CHUNK) if key in walk else ListMatch([], True, 0) for key in keys}


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


def _walk(s: Session, w: Words, key: str, after: int | None, limit: int) -> ListMatch:
    """The next matches of one list after the order `after` (None: from its start): up to
    `limit` of them, looking at WALK rows at most."""
    ok = and_(*_conds(s, w))
    q = select(Order.id, ok).where(_list_where(key))
    if after:  # 0 or None: from the list's start
        changed = s.scalar(select(Order.status_changed_at).where(Order.id == after))
        if changed is None:
            return ListMatch([], False)
        q = q.where(or_(Order.status_changed_at > changed,
                        and_(Order.status_changed_at == changed, Order.id > after)))
    ids: list[int] = []
    last: int | None = None
    walked = 0
    for oid, hit in s.execute(q.order_by(Order.status_changed_at, Order.id).limit(WALK)):
        walked += 1
        if hit:
            if len(ids) == limit:
                return ListMatch(ids, True, last)
            ids.append(oid)
        last = oid
    if walked < WALK:
        return ListMatch(ids, False)
    return ListMatch(ids, True, last)


def more_of_list(depot: Depot, query: str, key: str, after: int, limit: int = CHUNK) -> ListMatch:
    """The list's next matches after the order `after` (the `resume` of a ListMatch)."""
    with depot.uow(write=False) as uow:
        s = uow.session
        return _walk(s, words_of(s, query), key, after, max(1, limit))


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
        few = _few_indexed(s, w)
        base = select(Order.id).where(*conds)
        if few is None and _few_orders(s):
            every = list(s.scalars(base.where(*_conds(s, w)).order_by(Order.id.desc())))
            return NewestMatch(every[offset:offset + limit], len(every), False)
        if few is not None:
            every = list(s.scalars(base.where(few, *_conds(s, w, skip=w.indexed)).order_by(Order.id.desc())))
            return NewestMatch(every[offset:offset + limit], len(every), False)
        upto = max(count_up_to, offset + limit)
        if w.indexed and s.get_bind().dialect.name == "sqlite":
            return _newest_by_index(s, w, conds, offset, limit, upto)
        q = base.where(*_conds(s, w)).order_by(Order.id.desc())
        page = list(s.scalars(q.offset(offset).limit(limit)))
        counted = s.scalar(select(func.count()).select_from(q.limit(upto + 1).subquery())) or 0
        return NewestMatch(page, min(counted, upto), counted > upto)


#: Ids taken from the text index at a time, newest first, when reception reads many matches.
INDEX_STEP = 2000


def _newest_by_index(s: Session, w: Words, conds: Sequence[ColumnElement[bool]], offset: int, limit: int,
                     upto: int) -> NewestMatch:
    """Many matches, newest first, on SQLite: the text index hands its matches in descending
    rowid (= order id, newest first) order, a step at a time; each step's orders are checked
    against the rest of the filter, until the page and the count are full or the index has no
    more. An old order-number prefix is then as quick as a new one."""
    phrase = " AND ".join(_fts_phrase(x) for x in w.indexed)
    rest = [*conds, *_conds(s, w, skip=w.indexed)]
    need = max(offset + limit, upto + 1)
    found: list[int] = []
    last: int | None = None
    while len(found) < need:
        sql = "SELECT rowid FROM order_search WHERE order_search MATCH :q"
        if last is not None:
            sql += " AND rowid < :last"
        step = list(s.scalars(text(sql + " ORDER BY rowid DESC LIMIT :n"), {"q": phrase, "last": last,
                                                                             "n": INDEX_STEP}))
        if not step:
            break
        last = step[-1]
        ok = set(s.scalars(select(Order.id).where(Order.id.in_(step), *rest)))
        found += [i for i in step if i in ok]
    return NewestMatch(found[offset:offset + limit], min(len(found), upto), len(found) > upto)
