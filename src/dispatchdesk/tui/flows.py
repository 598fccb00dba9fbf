"""What happens when a dispatcher acts on an order: preview, confirm, act, tell, offer Undo.

The same flows serve the board (keys, menu, drag and drop, command palette) and the order
detail screen. The services decide and word everything; a flow only asks, shows and calls.
Each flow runs as a worker of the app (it waits for the dispatcher's answers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from textual.geometry import Offset
from textual.worker import Worker

from .. import services
from ..domain import Status
from ..services import ERRORS, Conflict, Preview, queries
from ..text import clean
from .screens.cancellation import CancellationForm
from .screens.confirm import BulkConfirmScreen, ConfirmScreen, ResultScreen
from .screens.menu import MenuItem, MenuScreen
from .screens.tags import TagsScreen

if TYPE_CHECKING:
    from .app import DeskApp


class Target(Protocol):
    """An order as the dispatcher saw it: a card on the board, or the order detail."""

    number: str
    version: int
    status: Status
    archived: bool


@dataclass(frozen=True)
class Undoable:
    numbers: tuple[str, ...]
    until: datetime


#: Menu item id -> (label, key on the board)
MENU = {
    "open": ("Open", "enter"),
    "status": ("Set status", "s"),
    "trash": ("Trash", "t / del"),
    "cancel": ("Create cancellation…", "c"),
    "duplicate": ("Duplicate as new", "d"),
    "tags": ("Tags…", "g"),
    "archive": ("Archive", "a"),
    "unarchive": ("Unarchive", "a"),
}


def status_label(to: Status) -> str:
    if to is Status.DISPATCHED:
        return "Dispatched… (choose the partner)"
    if to is Status.CANCELLED:
        return "Cancelled… (the cancellation form)"
    return to.label


class Flows:
    def __init__(self, app: DeskApp) -> None:
        self.app = app
        self.last_undo: Undoable | None = None

    @property
    def depot(self) -> services.Depot:
        return self.app.depot

    def start(self, work: Any, name: str = "flow") -> Worker[Any]:
        return self.app.run_worker(work, group="flow", name=name)

    # ------------------------------------------------------------------ telling
    def _tell(self, message: str, *, severity: str = "information", timeout: float | None = None) -> None:
        self.app.notify(clean(message), severity=severity, timeout=timeout, markup=False)  # type: ignore[arg-type]

    def _error(self, error: BaseException, target: Target | None = None) -> None:
        if isinstance(error, Conflict):
            self._tell(str(error), severity="warning", timeout=10)
            self.app.depot_changed(reveal=target.number if target else None)
        else:
            self._tell(str(error), severity="error", timeout=10)
            self.app.depot_changed()

    def _changed_under_us(self, target: Target, pv: Preview) -> None:
        self._tell(
            f"Order {target.number} was changed by someone else while you were looking at it: it is now "
            f"{pv.plan.from_status.label}. Nothing was changed; the board shows it as it is now.",
            severity="warning",
            timeout=10,
        )
        self.app.depot_changed(reveal=target.number)

    def _done(self, result: services.ActionResult) -> None:
        message = result.message
        if result.undo_until is not None:
            seconds = max(1, int((result.undo_until - self.depot.now()).total_seconds()))
            self.last_undo = Undoable((result.order,), result.undo_until)
            message += f" Press u to undo ({seconds} s)."
            self._tell(message, timeout=seconds)
            self.app.set_timer(seconds + 0.1, self.app.refresh_bindings)
        else:
            self._tell(message)
        self.app.depot_changed()

    def can_undo(self) -> bool:
        return self.last_undo is not None and self.depot.now() < self.last_undo.until

    # ------------------------------------------------------------------ asking
    async def _confirm(self, title: str, pv: Preview, *, yes: str = "Yes") -> bool:
        undo_seconds = self.depot.undo_seconds()
        undoable = pv.plan.undoable and undo_seconds > 0
        final = pv.plan.final or not undoable
        if pv.plan.final and undoable:
            why = f"No has the focus: {pv.plan.to_status.label} is final once the undo window has closed."
        elif pv.plan.final:
            why = f"No has the focus: {pv.plan.to_status.label} is final."
        else:
            why = "No has the focus: this cannot be undone."
        answer = await self.app.push_screen_wait(
            ConfirmScreen(title, pv.lines, final=final, yes=yes, focus_note=why))
        return bool(answer)

    def _preview(self, target: Target, action: str, **kw: Any) -> Preview | None:
        """The services' preview; None (after telling why) when it cannot go on."""
        try:
            pv = services.preview(self.depot, target.number, action, **kw)
        except ERRORS as e:
            self._error(e, target)
            return None
        if pv.version != target.version:
            self._changed_under_us(target, pv)
            return None
        if not pv.allowed:
            self._tell(" ".join(pv.plan.refusals), severity="warning", timeout=10)
            return None
        return pv

    def _act(self, target: Target, fn: Callable[[], services.ActionResult]) -> services.ActionResult | None:
        try:
            result = fn()
        except ERRORS as e:
            self._error(e, target)
            return None
        self._done(result)
        return result

    # ------------------------------------------------------------------ one order
    async def set_status(self, target: Target, to: Status) -> None:
        if to is Status.CANCELLED:
            await self.cancel(target)
            return
        partner: str | None = None
        if to is Status.DISPATCHED:
            partner = await self.pick_partner(target)
            if partner is None:
                return
        pv = self._preview(target, "set_status", status=to, partner=partner)
        if pv is None:
            return
        verb = "Send" if partner else ("Cancel the shipment" if to is Status.CREATED and pv.plan.unassign
                                       else f"Set {to.label}")
        title = f"{verb}: order {target.number}, {pv.plan.from_status.label} → {to.label}?"
        if not await self._confirm(title, pv, yes=verb):
            return
        self._act(target, lambda: services.set_status(self.depot, target.number, to, partner=partner,
                                                      expected_version=target.version))

    async def pick_partner(self, target: Target) -> str | None:
        try:
            names = queries.partner_names(self.depot, roles=("subcontractor", "warehouse"))
        except ERRORS as e:
            self._error(e)
            return None
        if not names:
            self._tell("There is no subcontractor or warehouse to send it to yet: add one with "
                       "`dispatchdesk partner add`.", severity="warning")
            return None
        items = [MenuItem(f"p{i}", "", outside=name) for i, name in enumerate(names)]
        choice = await self.app.push_screen_wait(
            MenuScreen(f"Send order {clean(target.number)} to", items, menu_id="partner-menu"))
        if choice is None:
            return None
        return names[int(choice[1:])]

    async def trash(self, target: Target) -> None:
        pv = self._preview(target, "trash")
        if pv is None:
            return
        if not await self._confirm(f"Trash order {target.number}?", pv, yes="Trash"):
            return
        self._act(target, lambda: services.trash(self.depot, target.number, expected_version=target.version))

    async def archive(self, target: Target) -> None:
        archived = not target.archived
        pv = self._preview(target, "archive", archived=archived)
        if pv is None:
            return
        what = "Archive" if archived else "Unarchive"
        if not await self._confirm(f"{what} order {target.number}?", pv, yes=what):
            return
        self._act(target, lambda: services.archive(self.depot, target.number, archived,
                                                   expected_version=target.version))

    async def cancel(self, target: Target) -> None:
        try:
            detail = queries.order_detail(self.depot, target.number)
            actions = queries.order_actions(self.depot, target.number)
            number = queries.fresh_cancellation_number(self.depot)
        except ERRORS as e:
            self._error(e, target)
            return
        if detail.version != target.version:
            self._tell(
                f"Order {target.number} was changed by someone else while you were looking at it: it is now "
                f"{detail.status.label}. Nothing was changed; the board shows it as it is now.",
                severity="warning", timeout=10)
            self.app.depot_changed(reveal=target.number)
            return
        if actions.cancel:
            self._tell(actions.cancel, severity="warning", timeout=10)
            return

        def check(req: services.CancellationRequest) -> Sequence[str]:
            try:
                return services.preview(self.depot, target.number, "cancel", request=req).plan.refusals
            except ERRORS as e:
                return [str(e)]

        req = await self.app.push_screen_wait(CancellationForm(
            target.number, detail.lines, number, check=check,
            new_number=lambda: queries.fresh_cancellation_number(self.depot), blink=self.app.blink))
        if req is None:
            return
        pv = self._preview(target, "cancel", request=req)
        if pv is None:
            return
        title = f"Cancel order {target.number}?"
        if pv.plan.extra.get("partial"):
            title = f"Cancel part of order {target.number}?"
        if not await self._confirm(title, pv, yes="Cancel it"):
            return
        self._act(target, lambda: services.cancel(self.depot, target.number, req, expected_version=target.version))

    async def tags(self, target: Target) -> None:
        try:
            detail = queries.order_detail(self.depot, target.number)
            known = queries.order_tags(self.depot)
        except ERRORS as e:
            self._error(e, target)
            return
        answer = await self.app.push_screen_wait(
            TagsScreen(target.number, detail.tags, known=known, blink=self.app.blink))
        if answer is None:
            return
        add, remove = answer
        if not add and not remove:
            self._tell(f"Tags of order {target.number} unchanged.")
            return
        self._act(target, lambda: services.set_tags(self.depot, target.number, add=add, remove=remove,
                                                    expected_version=target.version))

    async def duplicate(self, target: Target) -> None:
        lines = [
            f"A new order is created in Created with a new number, a copy of order {target.number}.",
            f"The copy records that it replaces {target.number}; order {target.number} stays as it is.",
            "Nobody outside the depot is told until the copy is sent.",
        ]
        answer = await self.app.push_screen_wait(
            ConfirmScreen(f"Duplicate order {target.number} as new?", lines, final=False, yes="Duplicate",
                          focus_note=""))
        if not answer:
            return
        self._act(target, lambda: services.duplicate(self.depot, target.number))

    async def undo(self) -> None:
        last = self.last_undo
        if last is None or self.depot.now() >= last.until:
            self.last_undo = None
            self._tell("There is nothing to undo: the undo window has closed.", severity="warning")
            self.app.refresh_bindings()
            return
        self.last_undo = None
        messages = []
        for number in last.numbers:
            try:
                messages.append(services.undo(self.depot, number).message)
            except ERRORS as e:
                messages.append(str(e))
        self._tell(" ".join(messages), timeout=8)
        self.app.depot_changed()

    # ------------------------------------------------------------------ the menu
    async def menu(self, target: Target, at: Offset | None = None) -> None:
        try:
            acts = queries.order_actions(self.depot, target.number)
        except ERRORS as e:
            self._error(e, target)
            return
        arch = "unarchive" if acts.archived else "archive"
        items = [
            MenuItem("open", MENU["open"][0], MENU["open"][1]),
            MenuItem("status", MENU["status"][0], MENU["status"][1], submenu=True),
            MenuItem("trash", MENU["trash"][0], MENU["trash"][1], refused=acts.trash),
            MenuItem("cancel", MENU["cancel"][0], MENU["cancel"][1], refused=acts.cancel),
            MenuItem("duplicate", MENU["duplicate"][0], MENU["duplicate"][1]),
            MenuItem("tags", MENU["tags"][0], MENU["tags"][1]),
            MenuItem(arch, MENU[arch][0], MENU[arch][1]),
        ]
        choice = await self.app.push_screen_wait(
            MenuScreen(f"Order {target.number} · {acts.status.label}", items, at=at, menu_id="card-menu"))
        if choice is None:
            return
        if choice == "open":
            self.app.open_order(target.number)
        elif choice == "status":
            await self.status_menu(target, acts, at=at)
        elif choice == "trash":
            await self.trash(target)
        elif choice == "cancel":
            await self.cancel(target)
        elif choice == "duplicate":
            await self.duplicate(target)
        elif choice == "tags":
            await self.tags(target)
        elif choice in ("archive", "unarchive"):
            await self.archive(target)

    async def status_menu(self, target: Target, acts: queries.OrderActions | None = None,
                          at: Offset | None = None) -> None:
        if acts is None:
            try:
                acts = queries.order_actions(self.depot, target.number)
            except ERRORS as e:
                self._error(e, target)
                return
        items = [MenuItem(st.value, status_label(st), refused=acts.moves[st]) for st in Status]
        choice = await self.app.push_screen_wait(
            MenuScreen(f"Set status of order {target.number} ({acts.status.label})", items,
                       at=at, menu_id="status-menu"))
        if choice is not None:
            await self.set_status(target, Status(choice))

    # ------------------------------------------------------------------ several orders
    async def bulk(self, targets: Sequence[Target], action: str, **kw: Any) -> bool:
        """SPEC 4.9. Returns True when the action ran (the selection can then be cleared)."""
        numbers = [t.number for t in targets]
        versions = {t.number: t.version for t in targets}
        if action == "set_status" and kw.get("status") is Status.DISPATCHED:
            partner = await self.pick_partner(targets[0])
            if partner is None:
                return False
            kw["partner"] = partner
        try:
            previews = await asyncio.to_thread(services.preview_bulk, self.depot, numbers, action, **kw)
        except ERRORS as e:
            self._error(e)
            return False
        items: list[tuple[str, Sequence[str], bool]] = []
        final = False
        for number, p in previews:
            if isinstance(p, Preview):
                lines = list(p.lines)
                allowed = p.allowed
                if p.version != versions[number]:
                    lines.insert(0, f"Order {number} was changed by someone else since you selected it: "
                                    f"it is now {p.plan.from_status.label}. It will be refused.")
                    allowed = False
                if allowed and (p.plan.final or not p.plan.undoable):
                    final = True
                items.append((number, lines, allowed))
            else:
                items.append((number, [str(p)], False))
        what = {"trash": "Trash", "archive": "Archive", "set_status": "Set status"}.get(action, action)
        if action == "set_status":
            what = f"Set status {kw['status'].label}"
        if action == "archive" and kw.get("archived") is False:
            what = "Unarchive"
        answer = await self.app.push_screen_wait(
            BulkConfirmScreen(f"{what}: {len(numbers)} orders?", items, final=final,
                              focus_note="No has the focus: some of this cannot be undone." if final else ""))
        if not answer:
            return False
        try:
            result = await asyncio.to_thread(services.bulk, self.depot, numbers, action, versions=versions, **kw)
        except ERRORS as e:
            self._error(e)
            return False
        undo = [i.result for i in result.succeeded if i.result is not None and i.result.undo_until is not None]
        summary = result.summary()
        if undo:
            until = min(r.undo_until for r in undo if r.undo_until is not None)
            self.last_undo = Undoable(tuple(r.order for r in undo), until)
            seconds = max(1, int((until - self.depot.now()).total_seconds()))
            summary += f" Press u to undo ({seconds} s)."
            self.app.set_timer(seconds + 0.1, self.app.refresh_bindings)
        self._tell(summary, timeout=10)
        self.app.depot_changed()
        self.app.push_screen(ResultScreen(f"{what}: {result.summary()}",
                                          [(i.order, i.ok, i.message) for i in result.items]))
        return True
