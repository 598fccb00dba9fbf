"""Saved views: a filter kept under a name, to be picked again on Dispatch (and Reception).
They are labels and nothing more: a view changes no order. They are kept in the settings
table as one JSON list (key ``saved_views``), so no migration is needed.

    SaveView("Berlin", ViewFilter(text="berlin")).execute(depot)
    RenameView("Berlin", "Berlin depot").execute(depot)
    DeleteView("Berlin depot").execute(depot)
    saved_views(depot)   # [SavedView(name, filter), ...] by name
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ..store.models import Setting
from ..text import clean
from .core import Action, Depot, InvalidInput, NotFound, Preview

KEY = "saved_views"
#: How a tab or quick filter is named in words
TAB_WORDS = {"all": "on All information", "decide": "needing a decision"}
#: A name is at most this long, and there are at most this many views.
NAME_MAX = 40
VIEWS_MAX = 100


@dataclass(frozen=True)
class ViewFilter:
    """What a view shows: the filter text, and the tab or quick filter of the screen it was saved
    on ("" for the screen's first; Dispatch: "all" for All information)."""

    text: str = ""
    tab: str = ""

    def describe(self) -> str:
        text = " ".join(self.text.split())
        words = f"the orders matching “{text}”" if text else "every order"
        return words + (f" ({TAB_WORDS.get(self.tab, self.tab)})" if self.tab else "")


@dataclass(frozen=True)
class SavedView:
    name: str
    filter: ViewFilter


def _load(session: Session) -> list[SavedView]:
    row = session.get(Setting, KEY)
    return _parse(row.value if row is not None else None)


def _parse(value: str | None) -> list[SavedView]:
    if not value:
        return []
    try:
        raw = json.loads(value)
    except ValueError:
        return []
    out = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            f = item.get("filter")
            if not isinstance(f, dict):
                f = {}
            out.append(SavedView(item["name"], ViewFilter(str(f.get("text") or ""), str(f.get("tab") or ""))))
    return out


def _store(session: Session, views: list[SavedView]) -> None:
    value = json.dumps([{"name": v.name, "filter": {"text": v.filter.text, "tab": v.filter.tab}}
                        for v in sorted(views, key=lambda v: v.name.casefold())], ensure_ascii=False)
    row = session.get(Setting, KEY)
    if row is None:
        session.add(Setting(key=KEY, value=value))
    else:
        row.value = value


def saved_views(depot: Depot) -> list[SavedView]:
    """The saved views, by name."""
    # read as a plain setting (the board reads them as it starts: no ORM mapping needed, issue 13)
    return sorted(_parse(depot.setting(KEY)), key=lambda v: v.name.casefold())


def check_name(name: str) -> str:
    """A view's name, tidied; InvalidInput (field "name") when it cannot be one."""
    tidy = " ".join(clean(name, single_line=True).split())
    if not tidy:
        raise InvalidInput("A view needs a name.", field="name")
    if len(tidy) > NAME_MAX:
        raise InvalidInput(f"A view's name is at most {NAME_MAX} characters; this one has {len(tidy)}.",
                           field="name")
    return tidy


def _find(views: list[SavedView], name: str) -> SavedView | None:
    key = name.casefold()
    return next((v for v in views if v.name.casefold() == key), None)


def _refusal_taken(views: list[SavedView], name: str, but: str | None = None) -> tuple[str, ...]:
    other = _find(views, name)
    if other is not None and (but is None or other.name.casefold() != but.casefold()):
        return (f"There is already a view named “{other.name}”; choose another name.",)
    return ()


@dataclass(frozen=True)
class SaveView(Action):
    """Keep a filter under a name, as a view to pick again (a label: no order changes)."""

    name: str
    filter: ViewFilter

    def preview(self, depot: Depot) -> Preview:
        name = check_name(self.name)
        views = saved_views(depot)
        refusals = _refusal_taken(views, name)
        if not refusals and len(views) >= VIEWS_MAX:
            refusals = (f"There are already {VIEWS_MAX} views; delete one first.",)
        return Preview(
            f"Save the view “{name}”?",
            (f"The view “{name}” shows {self.filter.describe()}.",
             "A view is a label: no order changes and nobody is told."),
            yes="Save",
            refusals=refusals,
        )

    def execute(self, depot: Depot) -> str:
        name = check_name(self.name)
        with depot.uow() as uow:
            views = _load(uow.session)
            refusals = _refusal_taken(views, name)
            if refusals:
                raise InvalidInput(refusals[0], field="name")
            if len(views) >= VIEWS_MAX:
                raise InvalidInput(f"There are already {VIEWS_MAX} views; delete one first.")
            _store(uow.session, [*views, SavedView(name, self.filter)])
            uow.commit()
        return f"Saved the view “{name}”: {self.filter.describe()}."


@dataclass(frozen=True)
class RenameView(Action):
    """Give a saved view another name."""

    name: str
    new_name: str

    def preview(self, depot: Depot) -> Preview:
        new = check_name(self.new_name)
        views = saved_views(depot)
        old = _find(views, self.name)
        if old is None:
            raise NotFound(f"There is no view named “{clean(self.name, single_line=True)}”.")
        return Preview(
            f"Rename the view “{old.name}” to “{new}”?",
            (f"The view keeps what it shows ({old.filter.describe()}); only its name changes.",),
            yes="Rename",
            refusals=_refusal_taken(views, new, but=old.name),
        )

    def execute(self, depot: Depot) -> str:
        new = check_name(self.new_name)
        with depot.uow() as uow:
            views = _load(uow.session)
            old = _find(views, self.name)
            if old is None:
                raise NotFound(f"There is no view named “{clean(self.name, single_line=True)}”.")
            refusals = _refusal_taken(views, new, but=old.name)
            if refusals:
                raise InvalidInput(refusals[0], field="name")
            _store(uow.session, [v for v in views if v is not old] + [SavedView(new, old.filter)])
            uow.commit()
        return f"Renamed the view “{old.name}” to “{new}”."


@dataclass(frozen=True)
class DeleteView(Action):
    """Forget a saved view (the orders it showed are not touched)."""

    name: str

    def preview(self, depot: Depot) -> Preview:
        old = _find(saved_views(depot), self.name)
        if old is None:
            raise NotFound(f"There is no view named “{clean(self.name, single_line=True)}”.")
        return Preview(
            f"Delete the view “{old.name}”?",
            (f"The view “{old.name}” ({old.filter.describe()}) is forgotten.",
             "No order changes; it cannot be undone, but the view can be saved again."),
            yes="Delete",
        )

    def execute(self, depot: Depot) -> str:
        with depot.uow() as uow:
            views = _load(uow.session)
            old = _find(views, self.name)
            if old is None:
                raise NotFound(f"There is no view named “{clean(self.name, single_line=True)}”.")
            _store(uow.session, [v for v in views if v is not old])
            uow.commit()
        return f"Deleted the view “{old.name}”."


def view_data(view: SavedView) -> dict[str, Any]:
    return {"name": view.name, "filter": {"text": view.filter.text, "tab": view.filter.tab}}


__all__ = ["DeleteView", "RenameView", "SaveView", "SavedView", "ViewFilter", "check_name", "saved_views"]
