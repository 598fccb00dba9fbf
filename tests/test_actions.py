"""Issue 7: every change a dispatcher can make is a typed action with its own preview (the whole
confirm, in words) and execution; the front ends only ask, show and call."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from dispatchdesk import services
from dispatchdesk.services.actions import Action

SRC = Path(services.__file__).resolve().parents[1]


def _all_actions() -> list[type[Action]]:
    seen: list[type[Action]] = []
    todo = list(Action.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return seen


def test_every_action_has_a_preview_and_an_execution() -> None:
    actions = _all_actions()
    names = {cls.__name__ for cls in actions}
    # the changes the issue lists, each a class
    assert {
        "SetStatus", "Send", "CallBack", "Trash", "Reject", "Cancel", "RefuseRequest", "Undo",
        "Duplicate", "Archive", "SetTags", "RetryNotice", "SkipNotice", "FollowUpDone",
        "AddPartner", "EditPartner", "StopLink", "Bulk",
    } <= names
    for cls in actions:
        if inspect.isabstract(cls):
            continue
        assert cls.preview is not Action.preview, f"{cls.__name__} has no preview()"
        assert cls.execute is not Action.execute, f"{cls.__name__} has no execute()"
        assert cls.__doc__, f"{cls.__name__} says nothing of what it does"


def test_the_front_ends_do_not_dispatch_on_action_strings() -> None:
    """No `preview(depot, number, "trash")` or `bulk(..., "archive", **kw)` is left."""
    pattern = re.compile(r"""\b(preview|bulk)\([^)]*,\s*["'](trash|set_status|archive|cancel|reject)["']""")
    for path in (SRC / "tui").rglob("*.py"):
        assert not pattern.search(path.read_text()), path
    for path in (SRC / "cli").rglob("*.py"):
        assert not pattern.search(path.read_text()), path


def test_no_confirm_is_worded_in_the_front_ends() -> None:
    """A ConfirmScreen is always given the services' Preview words (title, lines)."""
    literal_confirm = re.compile(r"ConfirmScreen\(\s*f?[\"']")
    for path in list((SRC / "tui").rglob("*.py")) + list((SRC / "cli").rglob("*.py")):
        assert not literal_confirm.search(path.read_text()), f"{path} words a confirm itself"


def test_results_say_what_changed(tmp_path: Path) -> None:
    from dispatchdesk.services import Archive, Depot, OrderInput, SetTags, create_order

    depot = Depot.open(tmp_path / "d.db", actor="t")
    try:
        number = create_order(depot, OrderInput(pickup_address="A", delivery_address="B"))
        assert Archive(number).execute(depot).message == f"Order {number} archived; it stays Created."
        r = SetTags(number, add=("fragile",)).execute(depot)
        assert r.message == f"Order {number} has the tags fragile; it stays Created."
        assert "Created → Created" not in r.message
    finally:
        depot.close()
