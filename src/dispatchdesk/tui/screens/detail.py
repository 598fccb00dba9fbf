"""The order detail (enter on a card): every field, the lines, documents, the partner's last
reported status, the notices with their states, follow-ups, cancellations and the history.

| Key | Action |
| --- | --- |
| escape / q / backspace | Back to the board |
| s | Set status |
| t, delete | Trash |
| c | Create cancellation… |
| a | Archive / unarchive |
| g | Tags… |
| d | Duplicate as new |
| e | Edit… (before pickup) |
| r | Register return… (picked up or delivered) |
| o, shift+f10, menu | The order's menu |
| u, ctrl+z | Undo the last action while its undo window is open |
| ? | These keys |
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from ...domain import Direction
from ...services import ERRORS, queries
from ...services.queries import OrderActions, OrderDetail
from ...text import clean, literal
from ..css import stylesheet
from ..symbols import when
from ..widgets.header import DeskHeader
from ..widgets.keybar import KeyBar
from .help import HelpScreen, key_names
from .order_keys import OrderKeys

DIRECTIONS = {
    Direction.INBOUND: "inbound (received from a partner)",
    Direction.OUTBOUND: "outbound (sent to a partner)",
    Direction.OWN: "own (entered here)",
}


def _t(value: object, style: str = "") -> Text:
    return literal(value, style=style)


def _section(title: str, body: RenderableType | None, empty: str = "none") -> Group:
    head = Text(title, style="bold underline")
    return Group(head, body if body is not None else Text(empty, style="dim"), Text(""))


#: Columns of single words, numbers and times: never wrapped, so at 80 columns only the columns
#: of free text (names, descriptions, answers, details) give up width, and wrap between words.
WHOLE = frozenset({"Article", "Qty", "Cancelled", "Open", "Notice", "Via", "State", "Tries", "When", "Created",
                   "Cancellation", "Reason", "Document", "Number", "Return"})


#: Short columns that may wrap but should leave the width to the free text beside them.
NARROW = {"Who": 10, "Action": 10, "Change": 11, "To": 14, "Partner": 14}


def _table(*headers: str) -> Table:
    table = Table(box=None, show_edge=False, pad_edge=False, expand=False, header_style="bold")
    for h in headers:
        if h in WHOLE:
            table.add_column(h, no_wrap=True, overflow="ellipsis")
        else:  # wraps between words; folds only a word too long for the column
            table.add_column(h, overflow="fold", max_width=NARROW.get(h))
    return table


def render_detail(d: OrderDetail, now_undo: str = "") -> list[RenderableType]:
    """The detail as renderables, every outside string as literal text."""
    title = Text.assemble(("Order ", "bold"), (clean(d.number, single_line=True), "bold"), " · ",
                          (d.status.label, "bold"))
    if d.archived:
        title.append(" · archived")
    if d.source:
        title.append(" · from ")
        title.append(clean(d.source, single_line=True))
    if d.assignee:
        title.append(" · with ")
        title.append(clean(d.assignee, single_line=True))

    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column(overflow="fold")

    def row(name: str, value: object, style: str = "") -> None:
        fields.add_row(name, value if isinstance(value, Text) else _t(value, style))

    row("Status", d.status.label)
    if d.reject_reason:
        row("Reason code", d.reject_reason)
    row("Direction", DIRECTIONS[d.direction])
    if d.source:
        row("From", d.source)
    if d.assignee:
        row("Sent to", d.assignee)
    if d.partner_ref:
        row("Partner's ref.", d.partner_ref)
    row("Pickup", d.pickup_address)
    row("Delivery", d.delivery_address)
    row("Pickup after", when(d.pickup_after))
    row("Deliver by", when(d.deliver_by))
    row("Parcels", str(d.parcels))
    row("Weight", f"{d.weight_kg:g} kg")
    row("Tags", ", ".join(clean(t, single_line=True) for t in d.tags) or "—")
    row("Created", when(d.created_at))
    if d.replaces:
        row("Replaces", d.replaces)
    if d.partner_status:
        row("Partner reports", f"{d.partner_status} at {when(d.partner_status_at)}")
    else:
        row("Partner reports", "nothing yet")
    if d.cancellation_requested:
        req = d.cancellation_request or {}
        text = Text("requested by the partner", style="bold")
        if req.get("lines"):
            text.append("; lines: ")
            text.append(clean(", ".join(f"{a} × {q}" for a, q in dict(req["lines"]).items())))
        if req.get("message"):
            text.append("; message: ")
            text.append(clean(req["message"]))
        row("Cancellation", text)
    if d.cancellation_refused:
        row("Refused", Text.assemble(("the warehouse refused the cancellation: ", "bold"),
                                     clean(d.cancellation_refused), " Handle it as a return."))
    if d.partner_not_informed:
        row("Not informed", Text("the partner was NOT told it was rejected (Set status, not Trash)", style="bold"))
    if now_undo:
        row("Undo", now_undo)

    lines = None
    if d.lines:
        lines = _table("Article", "Description", "Qty", "Cancelled", "Open")
        for ln in d.lines:
            lines.add_row(_t(ln.article), _t(ln.description), str(ln.quantity), str(ln.cancelled),
                          str(ln.quantity - ln.cancelled))

    docs = None
    if d.documents or d.backorders:
        docs = _table("Document", "Number")
        for kind, number in d.documents:
            docs.add_row(_t(kind.replace("_", " ")), _t(number))
        for article, qty in d.backorders:
            docs.add_row(Text("back-ordered"), _t(f"{article} × {qty}"))

    notices = None
    if d.notices:
        notices = _table("Notice", "To", "Via", "State", "Tries", "When", "Answer / error")
        for n in d.notices:
            answer = Text()
            if n.outcome:
                answer.append(clean(n.outcome), style="bold")
            if n.answer:
                answer.append(" " if answer else "")
                answer.append(clean(n.answer))
            if n.last_error:
                answer.append(" " if answer else "")
                answer.append(clean(n.last_error), style="italic")
            notices.add_row(_t(n.kind.split(".", 1)[-1].replace("_", " ")), _t(n.partner), _t(n.transport),
                            Text(n.state.value, style="bold"), str(n.attempts), _t(when(n.created_at)), answer)

    followups = None
    if d.followups:
        followups = _table("Follow-up", "Partner", "Created", "Done")
        for f in d.followups:
            done = f"{when(f.done_at)} by {clean(f.done_by or '')}" if f.done_at else "open"
            followups.add_row(_t(f.text), _t(f.partner or "—"), _t(when(f.created_at)), _t(done))

    cancellations = None
    if d.cancellations:
        cancellations = _table("Cancellation", "Reason", "Lines", "State", "Comment / note / answer")
        for c in d.cancellations:
            extra = Text()
            if c.comment:
                extra.append("comment: ")
                extra.append(clean(c.comment))
            if c.internal_note:
                extra.append("; " if extra else "")
                extra.append("note: ")
                extra.append(clean(c.internal_note))
            if c.answer:
                extra.append("; " if extra else "")
                extra.append("answer: ")
                extra.append(clean(c.answer))
            qty = ", ".join(f"{clean(a)} × {q}" for a, q in c.lines.items()) or "all"
            cancellations.add_row(_t(c.number), _t(c.reason or "—"), Text(qty),
                                  _t(c.state + (" (partial)" if c.partial else "")), extra)

    returns = None
    if d.returns:
        returns = _table("Return", "Reason", "Lines", "When", "Told by / comment")
        for r in d.returns:
            extra = Text()
            if r.reported_by:
                extra.append("told by ")
                extra.append(clean(r.reported_by, single_line=True))
            if r.comment:
                extra.append("; " if extra else "")
                extra.append(clean(r.comment))
            qty = ", ".join(f"{clean(a)} × {q}" for a, q in r.lines.items())
            returns.add_row(_t(r.number), _t(r.reason), Text(qty), _t(when(r.created_at)), extra)

    history = None
    if d.audit:
        history = _table("When", "Who", "Action", "Change", "Detail")
        for a in d.audit:
            change = ""
            if a.from_status or a.to_status:
                change = f"{a.from_status or '—'} → {a.to_status or '—'}"
            action = Text(clean(a.action))
            if a.undone:
                action.append(" (undone)", style="italic")
            detail = _t(a.detail)
            if a.reason:
                detail = Text.assemble(("reason: ", "italic"), clean(a.reason), " ", detail)
            who = a.actor.replace("partner:", "partner: ", 1) if a.actor.startswith("partner:") else a.actor
            history.add_row(_t(when(a.at)), _t(who), action, _t(change), detail)

    return [
        title,
        Text(""),
        fields,
        Text(""),
        _section("Lines", lines),
        _section("Documents and back-orders", docs),
        _section("Notices to partners", notices),
        _section("Follow-ups", followups),
        _section("Cancellations", cancellations),
        *([_section("Returns", returns)] if returns is not None else []),
        _section("History", history),
    ]


class OrderDetailScreen(OrderKeys, Screen[None]):

    CSS_PATH = stylesheet("detail.tcss")
    BINDINGS = [
        Binding("escape,q,backspace", "back", "Back"),
        Binding("s", "set_status", "Status"),
        Binding("t,delete", "trash", "Trash"),
        Binding("c", "cancel", "Cancel…"),
        Binding("a", "archive", "Archive"),
        Binding("g", "tags", "Tags"),
        Binding("d", "duplicate", "Duplicate"),
        Binding("e", "edit", "Edit…", show=False),
        Binding("r", "register_return", "Return…", show=False),
        Binding("R", "reject", "Reject…", show=False),
        Binding("X", "refuse", "Refuse request…", show=False),
        Binding("o,shift+f10,f16", "menu", "Menu"),
        Binding("u,ctrl+z", "undo", "Undo"),
        Binding("question_mark", "help", "Keys"),
        Binding("t,delete", "why('trash')", show=False),
        Binding("c", "why('cancel')", show=False),
        Binding("u,ctrl+z", "why('undo')", show=False),
    ]

    def __init__(self, number: str) -> None:
        super().__init__(classes="detail-screen")
        self.number = number
        self.detail: OrderDetail | None = None
        self.actions: OrderActions | None = None

    @property
    def depot(self) -> Any:
        return self.app.depot  # type: ignore[attr-defined]

    @property
    def flows(self) -> Any:
        return self.app.flows  # type: ignore[attr-defined]

    @property
    def presence_order(self) -> str:
        """The order this screen has open: other consoles are told (services/presence.py)."""
        return self.number

    def compose(self) -> ComposeResult:
        yield DeskHeader()
        yield Static("", id="detail-others", markup=False)
        with VerticalScroll(id="detail-body"):
            yield Static("Reading the order…", id="detail", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(DeskHeader).view = "Order"
        self.presence_changed()
        self._touch()
        self.load()
        self.query_one("#detail-body").focus()

    def on_unmount(self) -> None:
        self._touch()

    def _touch(self) -> None:
        touch = getattr(self.app, "presence_touch", None)
        if callable(touch):
            self.app.call_later(touch)

    def presence_changed(self) -> None:
        """Who else has this order open, from the app's last read of who is here."""
        also = getattr(self.app, "also_open", None)
        text = also(self.number) if callable(also) else ""
        w = self.query_one("#detail-others", Static)
        w.update(Text(clean(text), style="bold"))
        w.display = bool(text)

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def load(self) -> None:
        """Read the order off the event loop; the screen shows it when it comes."""
        try:
            detail = queries.order_detail(self.depot, self.number)
            actions = queries.order_actions(self.depot, self.number)
        except ERRORS as e:
            self.app.call_from_thread(self._show_error, str(e))
            return
        self.app.call_from_thread(self._show, detail, actions)

    def _show_error(self, error: str) -> None:
        self.query_one("#detail", Static).update(Text(clean(error), style="bold"))
        self.detail = None
        self.actions = None
        self.refresh_bindings()

    def _show(self, detail: OrderDetail, actions: OrderActions) -> None:
        body = self.query_one("#detail", Static)
        self.detail, self.actions = detail, actions
        undo = ""
        if self.actions.undo_until is not None:
            undo = f"the last action can be undone until {self.actions.undo_until.astimezone():%H:%M:%S} (u)"
        body.update(Group(*render_detail(self.detail, undo)))
        self.refresh_bindings()

    def depot_changed(self, reveal: str | None = None) -> None:
        self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("back", "help", "why"):
            return True
        if action == "undo":
            return self.flows.can_undo()
        if self.detail is None or self.actions is None:
            return False
        if action == "trash":
            return self.actions.trash is None
        if action == "cancel":
            return self.actions.cancel is None
        return True

    def action_why(self, action: str) -> None:
        if action == "undo":
            self.notify("There is nothing to undo: the undo window has closed.", markup=False)
            return
        if self.actions is None:
            return
        reason = {"trash": self.actions.trash, "cancel": self.actions.cancel}.get(action)
        if reason:
            self.notify(clean(reason), severity="warning", markup=False, timeout=8)
            if self.actions.returnable and self.detail is not None and action in ("trash", "cancel"):
                # too late to trash or cancel: the goods have left; offer the return instead
                self.flows.start(self.flows.offer_return(self.detail, reason), name="offer_return")

    def action_back(self) -> None:
        self.app.pop_screen()

    def _flow(self, name: str) -> None:
        if self.detail is not None:
            self.flows.start(getattr(self.flows, name)(self.detail), name=name)

    def action_set_status(self) -> None:
        if self.detail is not None:
            self.flows.start(self.flows.status_menu(self.detail, self.actions), name="status")

    #: (keys, what they do, the action that tells whether it is available now)
    HELP_KEYS: tuple[tuple[str, str, str], ...] = (
        ("escape,q,backspace", "back to the board", ""),
        ("s", "set status: every status, refused ones say why", "set_status"),
        ("t,delete", "trash: reject the order and tell the partner", "trash"),
        ("c", "create cancellation… (reason, lines, number)", "cancel"),
        ("a", "archive / unarchive", "archive"),
        ("g", "tags…", "tags"),
        ("d", "duplicate as new (a new number)", "duplicate"),
        ("e", "edit… before pickup (addresses, times, goods, lines)", "edit"),
        ("r", "register return… (picked up or delivered; the status stays)", "register_return"),
        ("o,shift+f10", "the order's menu (also the right mouse button)", "menu"),
        ("u,ctrl+z", "undo the last action while its undo window is open", "undo"),
        ("up,down,pageup,pagedown", "scroll", ""),
        ("question_mark", "these keys", ""),
    )

    def action_help(self) -> None:
        keys = [(key_names(k), what, not action or self.check_action(action, ()) is True)
                for k, what, action in self.HELP_KEYS]
        self.app.push_screen(HelpScreen(f"Order {clean(self.number, single_line=True)}: keys", keys,
                                        show_legend=False, not_now="(not now: the key says why)"))

    def palette_commands(self) -> list[tuple[str, Any, str]]:
        if self.detail is None:
            return [("Back to the board", self.action_back, "esc")]
        n = clean(self.detail.number, single_line=True)
        acts = self.actions
        out: list[tuple[str, Any, str]] = [
            ("Back to the board", self.action_back, "esc"),
            (f"Set status of {n}…", self.action_set_status, "s"),
            (f"Trash order {n}", self.action_trash, clean((acts.trash if acts else None) or "t", single_line=True)),
            (f"Create cancellation of {n}…", self.action_cancel,
             clean((acts.cancel if acts else None) or "c", single_line=True)),
            (f"{'Unarchive' if self.detail.archived else 'Archive'} order {n}", self.action_archive, "a"),
            (f"Tags of order {n}…", self.action_tags, "g"),
            (f"Duplicate order {n} as new", self.action_duplicate, "d"),
            (f"Edit order {n}…", self.action_edit, "e"),
            (f"Register return on order {n}…", self.action_register_return, "r"),
            (f"Menu of order {n}", self.action_menu, "o"),
        ]
        if self.flows.can_undo():
            out.append(("Undo the last action", self.action_undo, "u"))
        return out
