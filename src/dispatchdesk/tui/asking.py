"""Ask, then act: the services' preview of an action (read in a thread), the Yes/No confirm in
its words, the execution (in a thread), and the result's sentence handed back. For the screens
that are not the order flows (Link, Partners); nothing here words a consequence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.screen import Screen

from ..services import ERRORS, Action, Depot, Preview
from .screens.confirm import ConfirmScreen


def ask_and_do(screen: Screen[Any], depot: Depot, action: Action,
               done: Callable[[str, bool], None], *, ask: bool = True) -> None:
    """Preview, confirm, execute `action`; `done(sentence, is_error)` on the event loop."""
    app = screen.app

    def execute() -> None:
        try:
            result = action.execute(depot)
        except ERRORS as e:
            app.call_from_thread(done, str(e), True)
            return
        app.call_from_thread(done, result if isinstance(result, str) else str(getattr(result, "message", "")), False)

    def answered(yes: bool | None) -> None:
        if yes:
            screen.run_worker(execute, thread=True, group="act", exit_on_error=False)

    def confirm(pv: Preview) -> None:
        if not pv.allowed:
            done(" ".join(pv.refusals), True)
            return
        app.push_screen(ConfirmScreen(pv.title, pv.lines, final=pv.final, yes=pv.yes,
                                      focus_note=pv.focus_note), answered)

    def preview() -> None:
        try:
            pv = action.preview(depot)
        except ERRORS as e:
            app.call_from_thread(done, str(e), True)
            return
        app.call_from_thread(confirm, pv)

    screen.run_worker(execute if not ask else preview, thread=True, group="ask", exit_on_error=False)
