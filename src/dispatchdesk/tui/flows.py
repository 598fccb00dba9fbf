"""What happens when a dispatcher acts on an order: preview, confirm, act, tell, offer Undo.

The same flows serve the board (keys, menu, drag and drop, command palette) and the order
detail screen. Each action is a typed object of the services (`services.Trash(...)` …): its
`preview()` words the whole confirm and its `execute()` does it; a flow only asks, shows and
calls. Every call to the database runs in a thread (`asyncio.to_thread`), never on the event
loop, so keys, the clock and the relay go on while a write waits for a lock; Esc gives up the
waiting write, and nothing is half-done.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from textual.geometry import Offset
from textual.worker import Worker

from .. import services
from ..domain import Status
from ..services import ERRORS, Conflict, changes, queries, views
from ..services.export.choice import (
    ExportChoice,
    default_export_path,
    export_orders,
    export_target,
    exported,
)
from ..services.views import ViewFilter
from ..text import clean
from .screens.cancellation import CancellationForm
from .screens.confirm import WITHOUT_RULES, BulkConfirmScreen, ConfirmScreen, ResultScreen
from .screens.edit_return import EditAnswer, EditForm, ReturnAnswer, ReturnForm
from .screens.export import ExportScreen
from .screens.menu import MenuItem, MenuScreen
from .screens.name import NameScreen
from .screens.neworder import NewOrderScreen
from .screens.reject import RefuseRequestForm, RejectForm
from .screens.tags import TagsScreen

if TYPE_CHECKING:
    from .app import DeskApp

T = TypeVar("T")

#: How long a write runs quietly before the console looks at why it takes long (seconds).
QUIET_WAIT = 0.4
#: How long a write must have been held up by another program's lock before the screen says
#: it is waiting (seconds). A write merely slow (a busy machine: waiting for a CPU) is not.
LOCK_SHOWN = 1.0
#: How often, meanwhile, the console looks again (seconds).
LOCK_LOOK = 0.25


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


class _Failed:
    """A read that failed (already told)."""


FAILED = _Failed()

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
    "edit": ("Edit…", "e"),
    "return": ("Register return…", "r"),
    "reject": ("Reject…", "R"),
    "refuse": ("Refuse cancellation request…", "X"),
}

#: Order reception's Start menu: item id -> (label, key on the reception screen)
START_MENU = {
    "open": ("Open", "enter"),
    "accept": ("Accept", "a"),
    "delete": ("Delete", "del"),
    "reject": ("Reject…", "r"),
    "refuse": ("Refuse cancellation request…", "x"),
    "cancel": ("Create cancellation…", "c"),
    "edit": ("Edit…", "e"),
    "register_return": ("Register return…", ""),
    "duplicate": ("Duplicate as new", "d"),
    "archive": ("Archive", ""),
    "unarchive": ("Unarchive", ""),
    "tags": ("Tags…", "g"),
    "export": ("Export…", ""),
    "new": ("New order…", "n"),
}

#: Start menu items whose flow another part of the console brings (shown when it is there).
OPTIONAL_FLOWS = {"edit": "edit", "register_return": "register_return", "export": "export",
                  "new": "new_order"}


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
        #: set while a write waits for the database; Esc sets it to give up
        self.waiting: threading.Event | None = None

    @property
    def depot(self) -> services.Depot:
        return self.app.depot

    def start(self, work: Any, name: str = "flow") -> Worker[Any]:
        """Run a flow. Keys typed after the one that started it (in the same burst) are held
        from now until the flow's first screen is up (DeskApp.hold_keys): the flow itself only
        starts when the loop comes round, after the rest of the burst has been taken."""
        mark = self.app.hold_keys()

        async def flow() -> Any:
            try:
                return await work
            finally:
                self.app.release_keys_later(mark)

        return self.app.run_worker(flow(), group="flow", name=name)

    # ------------------------------------------------------------------ telling
    def _tell(self, message: str, *, severity: str = "information", timeout: float | None = None) -> None:
        self.app.notify(clean(message), severity=severity, timeout=timeout, markup=False)  # type: ignore[arg-type]

    def _error(self, error: BaseException, target: Target | None = None) -> None:
        if isinstance(error, services.Cancelled):
            self._tell(str(error), severity="warning", timeout=8)
        elif isinstance(error, Conflict):
            self._tell(str(error), severity="warning", timeout=10)
            self.app.depot_changed(reveal=target.number if target else None)
        else:
            self._tell(str(error), severity="error", timeout=10)
            self.app.depot_changed()

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

    # ------------------------------------------------------------------ the database, off the loop
    async def read(self, fn: Callable[..., T], *args: Any, target: Target | None = None) -> T | _Failed:
        """A read of the services in a thread; FAILED (after telling why) when it fails. Keys
        typed meanwhile are held for the screen the flow opens next (DeskApp.hold_keys)."""
        mark = self.app.hold_keys()
        try:
            return await asyncio.to_thread(fn, self.depot, *args)
        except ERRORS as e:
            self._error(e, target)
            return FAILED
        finally:
            self.app.release_keys_later(mark)

    async def execute(self, action: services.Action) -> Any:
        """Run the action in a thread. If the database is locked by another program, it waits
        (the screen says so after a moment) until the lock goes, a limit passes, or the
        dispatcher presses Esc; a refused or abandoned write has changed nothing."""
        self.app.release_keys()  # the write starts: Esc must reach the give-up
        cancel = threading.Event()
        watch = services.LockWatch()
        task = asyncio.ensure_future(
            asyncio.to_thread(services.patiently, partial(action.execute, self.depot), cancel, watch=watch)
        )
        done, _ = await asyncio.wait({task}, timeout=QUIET_WAIT)
        while not done:
            # slow: only a wait for another program's lock is said (never a busy CPU)
            try:
                held = await asyncio.to_thread(self.depot.lock_wait, watch)
            except ERRORS:
                held = None
            if held is not None and held >= LOCK_SHOWN:
                break
            done, _ = await asyncio.wait({task}, timeout=LOCK_LOOK)
        if done:
            return task.result()
        self.waiting = cancel
        self.app.refresh_bindings()
        self._tell(services.WAITING, severity="warning", timeout=3600)
        try:
            return await task
        finally:
            self.waiting = None
            self.app.clear_notifications()
            self.app.refresh_bindings()

    def give_up(self) -> bool:
        """Esc while a write waits: give it up. False when nothing was waiting."""
        if self.waiting is None:
            return False
        self.waiting.set()
        self.waiting = None
        self.app.clear_notifications()
        self._tell(services.GIVING_UP, severity="warning", timeout=8)
        return True

    # ------------------------------------------------------------------ asking
    async def ask(self, action: services.Action, pv: services.Preview,
                  target: Target | None = None) -> services.Action | None:
        """The confirm of `action` in its preview's words, the rules that fire with it included:
        w shows why each other rule will not; a asks again for the action without its rules
        (previewed anew, so the confirm shows what that does). The action to execute (the
        same, or the one without rules), or None when the answer is No."""
        while True:
            answer = await self.app.push_screen_wait(
                confirm_screen(pv, without_rules=can_act_without_rules(action, pv), target=target))
            if answer != WITHOUT_RULES:
                return action if answer is True else None
            action = replace(action, without_rules=True)  # type: ignore[type-var]
            again = await self.preview(action, target)
            if again is None:
                return None
            pv = again

    async def preview(self, action: services.Action, target: Target | None = None) -> services.Preview | None:
        """The action's preview; None (after telling why) when it cannot go on."""
        pv = await self.read(lambda depot: action.preview(depot), target=target)
        if isinstance(pv, _Failed):
            return None
        if pv.changed:
            self._tell(" ".join(pv.refusals), severity="warning", timeout=10)
            self.app.depot_changed(reveal=target.number if target else None)
            return None
        if not pv.allowed:
            if rules_refused(action, pv):
                return pv  # the confirm says why, and offers to act without the rules
            self._tell(" ".join(pv.refusals), severity="warning", timeout=10)
            if "return" in pv.offers and target is not None:
                await self.offer_return(target, pv.refusals[0])
            return None
        return pv

    async def run(self, action: services.Action, target: Target | None = None,
                  *, ask: bool = True) -> Any:
        """Preview, confirm, execute, tell. Returns the result, or None when nothing was done.
        `ask=False` (the form's Save was the dispatcher's yes) still asks when rules would fire
        with the action, or refuse it: a rule is seen before it acts."""
        if ask:
            pv = await self.preview(action, target)
            if pv is None:
                return None
            chosen = await self.ask(action, pv, target)
            if chosen is None:
                return None
            action = chosen
        elif has_rules_flag(action):
            pv = await asyncio.to_thread(_safe_preview, self.depot, action)
            if isinstance(pv, services.Preview) and not pv.changed and (
                    pv.rules or rules_refused(action, pv)):
                chosen = await self.ask(action, pv, target)
                if chosen is None:
                    return None
                action = chosen
        return await self._execute_and_tell(action, target)

    async def _execute_and_tell(self, action: services.Action, target: Target | None) -> Any:
        try:
            result = await self.execute(action)
        except ERRORS as e:
            self._error(e, target)
            return None
        if isinstance(result, services.ActionResult):
            self._done(result)
        elif isinstance(result, str):
            self._tell(result)
            self.app.depot_changed()
        return result

    async def form_then_confirm(self, target: Target | None, open_form: Callable[[Any], Any],
                                make_action: Callable[[Any], services.Action]) -> Any:
        """A form, then the confirm in the services' words, then the action. No on the confirm
        (or a refusal) goes back to the form with everything that was typed; Esc on the form
        ends it. `open_form(previous answer or None)` makes the form's screen."""
        answer: Any = None
        while True:
            answer = await self.app.push_screen_wait(open_form(answer))
            if answer is None:
                return None
            try:
                action = make_action(answer)
            except ERRORS as e:
                self._error(e, target)
                continue
            pv = await self.preview(action, target)
            if pv is None:
                continue
            chosen = await self.ask(action, pv, target)
            if chosen is not None:
                return await self._execute_and_tell(chosen, target)

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
        await self.run(services.SetStatus(target.number, status=to, partner=partner,
                                          expected_version=target.version), target)

    async def pick_partner(self, target: Target) -> str | None:
        names = await self.read(partial(queries.partner_names, roles=("subcontractor", "warehouse")))
        if isinstance(names, _Failed):
            return None
        if not names:
            self._tell(services.NO_PARTNER_TO_SEND_TO, severity="warning")
            return None
        items = [MenuItem(f"p{i}", "", outside=name) for i, name in enumerate(names)]
        choice = await self.app.push_screen_wait(
            MenuScreen(f"Send order {clean(target.number)} to", items, menu_id="partner-menu"))
        if choice is None:
            return None
        return names[int(choice[1:])]

    async def trash(self, target: Target) -> None:
        await self.run(services.Trash(target.number, expected_version=target.version), target)

    async def archive(self, target: Target) -> None:
        if target.archived:  # also the undo of the depot's automatic archive
            await self.run(services.Unarchive(target.number, expected_version=target.version), target)
        else:
            await self.run(services.Archive(target.number, expected_version=target.version), target)

    async def cancel(self, target: Target) -> None:
        got = await self.read(_cancel_context, target.number, target=target)
        if isinstance(got, _Failed):
            return
        detail, actions, prefilled = got
        if detail.version != target.version:
            self._tell(services.changed_by_someone(target.number, detail.status, by=detail.last_actor), severity="warning", timeout=10)
            self.app.depot_changed(reveal=target.number)
            return
        if actions.cancel:
            self._tell(actions.cancel, severity="warning", timeout=10)
            return

        async def check(req: services.CancellationRequest) -> Sequence[str]:
            pv = await asyncio.to_thread(_safe_preview, self.depot,
                                    services.Cancel(target.number, request=req, renumber=req.number == prefilled))
            return pv.refusals if isinstance(pv, services.Preview) else [str(pv)]

        async def new_number() -> str:
            return await asyncio.to_thread(queries.fresh_cancellation_number, self.depot)

        await self.form_then_confirm(
            target,
            lambda req: CancellationForm(target.number, detail.lines, prefilled, check=check,
                                         new_number=new_number, blink=self.app.blink, initial=req),
            # an untouched pre-filled number that someone else took meanwhile is renumbered
            lambda req: services.Cancel(target.number, request=req, expected_version=target.version,
                                        renumber=req.number == prefilled),
        )

    # ------------------------------------------------------------------ edit and return
    async def offer_return(self, target: Target, refusal: str) -> None:
        """A refusal that comes too late (the goods have left) offers Register return… instead."""
        items = [MenuItem("return", MENU["return"][0]), MenuItem("close", "Close (esc)")]
        choice = await self.app.push_screen_wait(MenuScreen(refusal, items, menu_id="offer-return"))
        if choice == "return":
            await self.register_return(target)

    async def edit(self, target: Target) -> None:
        """SPEC 4.10: the Edit… form, then the confirm (old → new per field), then the change."""
        got = await self.read(_edit_context, target.number, target=target)
        if isinstance(got, _Failed):
            return
        detail, (refusal, offers) = got
        if detail.version != target.version:
            self._tell(services.changed_by_someone(target.number, detail.status, by=detail.last_actor), severity="warning", timeout=10)
            self.app.depot_changed(reveal=target.number)
            return
        if refusal:
            self._tell(refusal, severity="warning", timeout=10)
            if offers:
                await self.offer_return(target, refusal)
            return

        def action_for(answer: EditAnswer) -> services.Action:
            fields, lines = answer
            return changes.edit_from_form(target.number, fields, lines, expected_version=target.version)

        async def check(answer: EditAnswer) -> Sequence[str]:
            return await asyncio.to_thread(_form_refusals, self.depot, lambda: action_for(answer))

        await self.form_then_confirm(
            target, lambda answer: EditForm(detail, check=check, blink=self.app.blink, initial=answer),
            action_for)

    async def register_return(self, target: Target) -> None:
        """SPEC 4.11: the Register return… form, then the confirm, then the return."""
        ctx = await self.read(changes.return_context, target.number, target=target)
        if isinstance(ctx, _Failed):
            return
        if ctx.refusal:
            self._tell(ctx.refusal, severity="warning", timeout=10)
            return

        def action_for(answer: ReturnAnswer) -> services.Action:
            reason, comment, number, lines = answer
            return changes.return_from_form(target.number, reason, comment, number, lines,
                                            expected_version=ctx.version,
                                            renumber=number.strip() == ctx.return_number)

        async def check(answer: ReturnAnswer) -> Sequence[str]:
            return await asyncio.to_thread(_form_refusals, self.depot, lambda: action_for(answer))

        async def new_number() -> str:
            return await asyncio.to_thread(changes.fresh_return_number, self.depot)

        await self.form_then_confirm(
            target,
            lambda answer: ReturnForm(ctx, check=check, new_number=new_number, blink=self.app.blink,
                                      initial=answer),
            action_for)

    async def tags(self, target: Target) -> None:
        got = await self.read(_tags_context, target.number, target=target)
        if isinstance(got, _Failed):
            return
        have, known = got
        answer = await self.app.push_screen_wait(
            TagsScreen(target.number, have, known=known, blink=self.app.blink))
        if answer is None:
            return
        add, remove = answer
        if not add and not remove:
            self._tell(services.tags_unchanged(target.number))
            return
        # Save in the tags dialog is the dispatcher's yes: the change is shown in the result
        await self.run(services.SetTags(target.number, add=tuple(add), remove=tuple(remove),
                                        expected_version=target.version), target, ask=False)

    async def duplicate(self, target: Target) -> None:
        await self.run(services.Duplicate(target.number), target)

    async def undo(self) -> None:
        last = self.last_undo
        if last is None or self.depot.now() >= last.until:
            self.last_undo = None
            self._tell(services.NOTHING_TO_UNDO, severity="warning")
            self.app.refresh_bindings()
            return
        self.last_undo = None
        self.app.clear_notifications()  # "Press u to undo (9 s)" is over
        messages = []
        for number in last.numbers:
            try:
                result = await self.execute(services.Undo(number))
                messages.append(result.message)
            except ERRORS as e:
                messages.append(str(e))
        self._tell(" ".join(messages), timeout=8)
        self.app.depot_changed()

    # ------------------------------------------------------------------ a new order
    async def new_order(self, target: Target | None = None) -> str | None:
        """Issue 8 item 4: the new-order form; ctrl+s (every field checked) is the dispatcher's
        yes. A refusal at saving goes back to the form with everything typed. Returns the new
        order's number (revealed on the board), or None. `target` is the order the Start menu
        was opened on: a new order does not copy it (Duplicate as new does)."""
        from ..services import neworder

        names = await self.read(neworder.sender_names)
        if isinstance(names, _Failed):
            return None

        async def check(form: services.OrderForm) -> neworder.FormCheck:
            return await asyncio.to_thread(neworder.check_form, self.depot, form)

        form: services.OrderForm | None = None
        while True:
            form = await self.app.push_screen_wait(NewOrderScreen(
                names, check=check, discard=neworder.DISCARD, blink=self.app.blink, initial=form))
            if form is None:
                return None
            result = await self.run(services.CreateOrder(form), ask=False)
            if isinstance(result, services.ActionResult):
                self.app.depot_changed(reveal=result.order)
                return result.order

    # ------------------------------------------------------------------ the menu
    async def menu(self, target: Target, at: Offset | None = None) -> None:
        got = await self.read(_menu_context, target.number, target=target)
        if isinstance(got, _Failed):
            return
        acts, later = got
        arch = "unarchive" if acts.archived else "archive"
        items = [
            MenuItem("open", MENU["open"][0], MENU["open"][1]),
            MenuItem("status", MENU["status"][0], MENU["status"][1], submenu=True,
                     refused=acts.final),
            MenuItem("trash", MENU["trash"][0], MENU["trash"][1], refused=acts.trash),
            MenuItem("reject", MENU["reject"][0], MENU["reject"][1], refused=acts.trash),
            MenuItem("cancel", MENU["cancel"][0], MENU["cancel"][1], refused=acts.cancel),
            MenuItem("edit", MENU["edit"][0], MENU["edit"][1], refused=later.edit),
            MenuItem("return", MENU["return"][0], MENU["return"][1], refused=later.register_return),
            MenuItem("refuse", MENU["refuse"][0], MENU["refuse"][1], refused=acts.refuse_request),
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
        elif choice == "reject":
            await self.reject(target)
        elif choice == "refuse":
            await self.refuse_request(target)
        elif choice == "cancel":
            await self.cancel(target)
        elif choice == "edit":
            await self.edit(target)
        elif choice == "return":
            await self.register_return(target)
        elif choice == "duplicate":
            await self.duplicate(target)
        elif choice == "tags":
            await self.tags(target)
        elif choice in ("archive", "unarchive"):
            await self.archive(target)

    # ------------------------------------------------------------------ order reception
    def optional(self, item: str) -> Any:
        """The flow of a Start menu item another part brings (Edit…, Register return…,
        Export…, New order), or None while that part is not there."""
        name = OPTIONAL_FLOWS.get(item)
        return getattr(self, name, None) if name else None

    async def start_menu(self, target: Target, at: Offset | None = None) -> None:
        """Order reception's Start menu (SPEC 5): every item, those not possible now disabled
        with the reason."""
        got = await self.read(_menu_context, target.number, target=target)
        if isinstance(got, _Failed):
            return
        acts, later = got
        arch = "unarchive" if acts.archived else "archive"
        refused = {"accept": acts.accept, "delete": acts.trash, "reject": acts.trash,
                   "refuse": acts.refuse_request, "cancel": acts.cancel,
                   "edit": later.edit, "register_return": later.register_return}
        items = []
        for item in ("open", "accept", "delete", "reject", "refuse", "cancel", "edit", "register_return",
                     "duplicate", arch, "tags", "export", "new"):
            if item in OPTIONAL_FLOWS and self.optional(item) is None:
                continue
            label, key = START_MENU[item]
            items.append(MenuItem(item, label, key, refused=refused.get(item)))
        choice = await self.app.push_screen_wait(
            MenuScreen(f"Order {target.number} · {acts.status.label}", items, at=at, menu_id="start-menu"))
        if choice is None:
            return
        await self.start_item(choice, target)

    async def start_item(self, choice: str, target: Target) -> None:
        if choice == "open":
            self.app.open_order(target.number)
        elif choice == "accept":
            await self.accept(target)
        elif choice == "delete":
            await self.delete(target)
        elif choice == "reject":
            await self.reject(target)
        elif choice == "refuse":
            await self.refuse_request(target)
        elif choice == "cancel":
            await self.cancel(target)
        elif choice == "duplicate":
            await self.duplicate(target)
        elif choice == "tags":
            await self.tags(target)
        elif choice in ("archive", "unarchive"):
            await self.archive(target)
        elif choice == "export":
            await self.optional(choice)([target.number])
        elif choice == "new":
            await self.optional(choice)()
        elif self.optional(choice) is not None:
            await self.optional(choice)(target)

    async def accept(self, target: Target) -> None:
        await self.run(services.Accept(target.number, expected_version=target.version), target)

    async def delete(self, target: Target) -> None:
        """SPEC 4.3: Delete = trash through the Yes/No confirm (the client told as its workflow says)."""
        await self.run(services.Delete(target.number, expected_version=target.version), target)

    async def reject(self, target: Target) -> None:
        """SPEC 4.5: the Reject… dialog, then the confirm in the services' words. No on the
        confirm goes back to the dialog with what was chosen."""
        ctx = await self.read(queries.reject_context, target.number, target=target)
        if isinstance(ctx, _Failed):
            return
        if ctx.version != target.version:
            self._tell(services.changed_by_someone(target.number, ctx.status, by=ctx.last_actor), severity="warning", timeout=10)
            self.app.depot_changed(reveal=target.number)
            return
        await self.form_then_confirm(
            target, lambda choice: RejectForm(ctx, initial=choice, blink=self.app.blink),
            lambda choice: services.Reject(target.number, code=choice.code, notify_buyer=choice.notify_buyer,
                                           message=choice.message, expected_version=target.version))

    async def refuse_request(self, target: Target) -> None:
        """SPEC 4.6: refuse a cancellation request with a message, then the confirm."""
        acts = await self.read(queries.order_actions, target.number, target=target)
        if isinstance(acts, _Failed):
            return
        if acts.refuse_request:
            self._tell(acts.refuse_request, severity="warning", timeout=10)
            return
        detail = await self.read(queries.order_detail, target.number, target=target)
        if isinstance(detail, _Failed):
            return
        asked = _asked(detail.cancellation_request)
        message, problem = "", ""
        while True:
            answer = await self.app.push_screen_wait(RefuseRequestForm(
                target.number, asked, initial=message, problem=problem, blink=self.app.blink))
            if answer is None:
                return
            message = answer
            action = services.RefuseRequest(target.number, message=message, expected_version=target.version)
            pv = await self.read(lambda depot, action=action: action.preview(depot), target=target)
            if isinstance(pv, _Failed):
                return
            if pv.changed:
                self._tell(" ".join(pv.refusals), severity="warning", timeout=10)
                self.app.depot_changed(reveal=target.number)
                return
            if not pv.allowed and not rules_refused(action, pv):
                problem = " ".join(pv.refusals)
                continue
            chosen = await self.ask(action, pv, target)
            if chosen is not None:
                await self._execute_and_tell(chosen, target)
                return
            problem = ""

    async def status_menu(self, target: Target, acts: queries.OrderActions | None = None,
                          at: Offset | None = None) -> None:
        if acts is None:
            got = await self.read(queries.order_actions, target.number, target=target)
            if isinstance(got, _Failed):
                return
            acts = got
        if acts.final:
            # one sentence, not the same refusal on every status
            self._tell(acts.final, severity="warning", timeout=8)
            return
        items = [MenuItem(st.value, status_label(st), refused=acts.moves[st]) for st in Status]
        choice = await self.app.push_screen_wait(
            MenuScreen(f"Set status of order {target.number} ({acts.status.label})", items,
                       at=at, menu_id="status-menu"))
        if choice is not None:
            await self.set_status(target, Status(choice))

    # ------------------------------------------------------------------ export
    async def export(self, numbers_or_filter: str | Sequence[str] | ExportChoice, *, fmt: str = "csv") -> Path | None:
        """Export… (SPEC 8): one order (its number), the selected orders (a sequence of numbers)
        or what a filter shows (an ExportChoice), to CSV, Excel or PDF; the services write the file in a thread. The file, or None."""
        if isinstance(numbers_or_filter, ExportChoice):
            choice = numbers_or_filter
        elif isinstance(numbers_or_filter, str):  # one order (the Start menu's Export…)
            choice = ExportChoice(numbers=(numbers_or_filter,))
        else:
            choice = ExportChoice(numbers=tuple(numbers_or_filter))
        depot = self.depot

        def run(fmt: str, path: str, progress: Callable[[int, int], None]) -> tuple[int, Path]:
            n = export_orders(depot, fmt, path, choice, progress=progress)
            return n, export_target(fmt, path)

        path = await asyncio.to_thread(default_export_path, fmt, choice, depot.now())
        answer = await self.app.push_screen_wait(
            ExportScreen(choice.describe(), path, run, fmt=fmt, blink=self.app.blink))
        if answer is None:
            return None
        n, written = answer
        self._tell(exported(n, written), timeout=10)
        return written

    # ------------------------------------------------------------------ saved views
    async def views(self, current: ViewFilter) -> views.SavedView | None:
        """The saved views (issue 8): pick one to show it (returned), or save the current filter
        under a name, rename or delete one. Views are labels: no order changes."""
        have = await self.read(views.saved_views)
        if isinstance(have, _Failed):
            return None
        items = [MenuItem(f"v{i}", "", outside=f"{v.name} · {v.filter.describe()}") for i, v in enumerate(have)]
        items.append(MenuItem("save", "Save the current filter as a view…", "",
                              refused=None if current.text.strip() or current.tab else
                              "Filter with / first: a view keeps a filter."))
        if have:
            items += [MenuItem("rename", "Rename a view…"), MenuItem("delete", "Delete a view…")]
        choice = await self.app.push_screen_wait(MenuScreen("Saved views", items, menu_id="views-menu"))
        if choice is None:
            return None
        if choice.startswith("v"):
            return have[int(choice[1:])]
        if choice == "save":
            await self._name_view(lambda name: views.SaveView(name, current), "Save the current filter as a view",
                                  current.describe())
            return None
        pick = await self.app.push_screen_wait(MenuScreen(
            "Rename which view?" if choice == "rename" else "Delete which view?",
            [MenuItem(f"v{i}", "", outside=v.name) for i, v in enumerate(have)], menu_id="views-pick"))
        if pick is None:
            return None
        old = have[int(pick[1:])]
        if choice == "rename":
            await self._name_view(lambda name: views.RenameView(old.name, name), "Rename the view",
                                  old.filter.describe(), value=old.name)
        else:
            await self.run(views.DeleteView(old.name))
        return None

    async def _name_view(self, make: Callable[[str], services.Action], title: str, what: str,
                         *, value: str = "") -> None:
        """Ask for a name until the services take it (a refusal is shown under the field)."""
        error = ""
        while True:
            name = await self.app.push_screen_wait(NameScreen(
                title, f"It shows {what}. A view is a label: no order changes.", value=value, error=error,
                blink=self.app.blink, max_length=views.NAME_MAX))
            if name is None:
                return
            action = make(name)
            pv = await asyncio.to_thread(_safe_preview, self.depot, action)
            if isinstance(pv, BaseException):
                error, value = str(pv), name
                continue
            if not pv.allowed:
                error, value = " ".join(pv.refusals), name
                continue
            # Save in the name dialog is the dispatcher's yes
            await self.run(action, ask=False)
            return

    # ------------------------------------------------------------------ several orders
    async def bulk(self, actions: Sequence[services.OrderAction]) -> bool:
        """SPEC 4.9. Returns True when the action ran (the selection can then be cleared)."""
        bulk = services.Bulk(tuple(actions))
        pv = await self.read(lambda depot: bulk.preview(depot))
        if isinstance(pv, _Failed):
            return False
        if not pv.allowed:
            # nothing in the selection can be done: no Yes to press, say why for each
            self.app.push_screen(ResultScreen(pv.title.rstrip("?") + ": none can be done.",
                                              [(n, False, " ".join(lines)) for n, lines, _ in pv.items]))
            return False
        answer = await self.app.push_screen_wait(
            BulkConfirmScreen(pv.title, pv.items, final=pv.final, focus_note=pv.focus_note))
        if not answer:
            return False
        try:
            result = await self.execute(bulk)
        except ERRORS as e:
            self._error(e)
            return False
        undo = [i.result for i in result.succeeded if i.result is not None and i.result.undo_until is not None]
        summary = result.summary()
        what = pv.title.split(":")[0]
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


def has_rules_flag(action: services.Action) -> bool:
    """Does the action fold the automation rules in (it can be done without them)?"""
    try:
        return any(f.name == "without_rules" for f in fields(action))  # type: ignore[arg-type]
    except TypeError:
        return False


def rules_refused(action: services.Action, pv: services.Preview) -> bool:
    """Do the rules refuse, and only they (the action itself is allowed)? Then the confirm
    shows why, and offers to act without the rules."""
    if pv.allowed or pv.changed or pv.without_rules or not pv.rules or not has_rules_flag(action):
        return False
    own = pv.plan.refusals if pv.plan is not None else ()
    return not own


def can_act_without_rules(action: services.Action, pv: services.Preview) -> bool:
    return has_rules_flag(action) and not pv.without_rules and (bool(pv.rules) or rules_refused(action, pv))


def why_not_lines(pv: services.Preview) -> list[str]:
    """Each rule that will not fire, with the services' reason."""
    return [f"{line.rule} (version {line.version}): {line.reason}" for line in pv.not_firing]


def confirm_screen(pv: services.Preview, *, without_rules: bool = False,
                   target: Target | None = None) -> ConfirmScreen:
    """The confirm of a preview: its sentences (the rules' included), why the other rules will
    not fire (w), and, when asked for, the key to act without rules (a); the confirm of one
    order (`target`) also says who else has it open."""
    return ConfirmScreen(pv.title, pv.lines, final=pv.final, yes=pv.yes, focus_note=pv.focus_note,
                         order=target.number if target is not None else None,
                         why_not=why_not_lines(pv), why_not_title="Rules that will not fire, and why",
                         without_rules=without_rules, refused=not pv.allowed)


def _safe_preview(depot: services.Depot, action: services.Action) -> services.Preview | BaseException:
    try:
        return action.preview(depot)
    except ERRORS as e:
        return e


def _cancel_context(depot: services.Depot, number: str) -> tuple[Any, Any, str]:
    return (queries.order_detail(depot, number), queries.order_actions(depot, number),
            queries.fresh_cancellation_number(depot))


def _asked(request: dict[str, Any] | None) -> str:
    """What the partner asked for, as it came (lines and their message), for the dialog."""
    if not request:
        return ""
    parts = []
    lines = request.get("lines") or {}
    if isinstance(lines, dict) and lines:
        parts.append(", ".join(f"{a} × {q}" for a, q in lines.items()))
    if request.get("message"):
        parts.append(str(request["message"]))
    return "; ".join(parts)


def _tags_context(depot: services.Depot, number: str) -> tuple[Sequence[str], Sequence[str]]:
    return queries.order_detail(depot, number).tags, queries.order_tags(depot)


def _form_refusals(depot: services.Depot, make: Callable[[], services.Action]) -> list[str]:
    """What refuses a form's action: the value that does not read, or the preview's refusals."""
    try:
        pv = make().preview(depot)
    except ERRORS as e:
        return [str(e)]
    return list(pv.refusals)


def _edit_context(depot: services.Depot, number: str) -> tuple[Any, tuple[str | None, bool]]:
    return queries.order_detail(depot, number), changes.edit_refusal_of(depot, number)


@dataclass(frozen=True)
class _Later:
    """Why Edit… and Register return… cannot be done now (None: they can)."""

    edit: str | None
    register_return: str | None


def _menu_context(depot: services.Depot, number: str) -> tuple[Any, _Later]:
    refusal, _ = changes.edit_refusal_of(depot, number)
    return queries.order_actions(depot, number), _Later(refusal, changes.return_context(depot, number).refusal)
