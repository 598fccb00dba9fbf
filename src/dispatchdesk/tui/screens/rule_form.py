"""The rule form (issue 14): a rule at 80x24 by keyboard. Its fields are pick lists of the
depot's real statuses, partners, roles and tags (read in a thread before it opens).

| Key | Action |
| --- | --- |
| tab / shift+tab | Next / previous field |
| enter, space | Open a pick list (in it: up / down, enter chooses, type to search) |
| ctrl+n | Add a condition |
| ctrl+t | Add an effect |
| ctrl+r | Remove the condition or effect the focus is in |
| ctrl+s | Save: the services check the rule and the whole set; the confirm says how often it would have fired |
| escape | Close without saving |

Every problem the services find is shown under its field (name, trigger, conditions,
effects); a set that could loop or contradict itself is refused with the rules named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.style import Style as VisualStyle
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Select, Static

from ...domain import Direction, Role, Status
from ...domain.automation import Condition, ConditionKind, Effect, EffectKind, Trigger, TriggerKind
from ...services import (
    ERRORS,
    Depot,
    InvalidInput,
    Refused,
    RuleInput,
    RuleResult,
    RuleView,
    SaveRule,
    queries,
)
from ...services import tag_names as service_tag_names
from ...text import clean
from ..css import stylesheet
from .confirm import ConfirmScreen

__all__ = ["Choices", "RuleForm", "read_choices"]

#: The form's fields that carry errors, in order: (field, label)
FIELDS = (("name", "Name"), ("trigger", "When"), ("conditions", "If (all)"), ("effects", "Then"))

TRIGGERS = ((TriggerKind.ENTERS, "enters a list"), (TriggerKind.TAG_ADDED, "gets a tag"),
            (TriggerKind.ARRIVES, "arrives from"))
CONDITIONS = ((ConditionKind.PARTNER_IS, "partner is"), (ConditionKind.ROLE_IS, "partner's role is"),
              (ConditionKind.DIRECTION, "direction is"), (ConditionKind.HAS_TAG, "has the tag"),
              (ConditionKind.LACKS_TAG, "lacks the tag"), (ConditionKind.CAME_FROM, "came from list"))
EFFECTS = ((EffectKind.SEND, "send to"), (EffectKind.ADD_TAG, "add the tag"),
           (EffectKind.REMOVE_TAG, "remove the tag"), (EffectKind.FOLLOW_UP, "follow-up"),
           (EffectKind.CANCEL_AT, "cancel at"))


@dataclass(frozen=True)
class Choices:
    """The real values the pick lists offer."""

    partners: tuple[str, ...]  # every partner
    senders: tuple[str, ...]  # clients and channels: orders arrive from them
    takers: tuple[str, ...]  # subcontractors and warehouses: orders are sent to them
    tags: tuple[str, ...]  # every tag in use, and those the rules name


def read_choices(depot: Depot) -> Choices:
    """The pick lists' values (in a thread: it reads the database)."""
    from ...services import rules as read_rules

    tags = set(service_tag_names(depot))
    for r in read_rules(depot):
        rule = r.rule
        if rule.trigger.tag:
            tags.add(rule.trigger.tag)
        tags.update(c.value for c in rule.conditions if c.kind in (ConditionKind.HAS_TAG, ConditionKind.LACKS_TAG))
        tags.update(e.tag for e in rule.effects if e.tag)
    return Choices(
        partners=tuple(queries.partner_names(depot)),
        senders=tuple(queries.partner_names(depot, roles=tuple(r.value for r in Role if r.sends_us_orders))),
        takers=tuple(queries.partner_names(depot, roles=tuple(r.value for r in Role if r.takes_our_orders))),
        tags=tuple(sorted(tags, key=str.casefold)),
    )


def _opts(values: Sequence[tuple[str, str]]) -> list[tuple[Text, str]]:
    """Pick-list options: (what is shown, literally; the value)."""
    return [(Text(clean(label, single_line=True, limit=60)), value) for label, value in values]


def trigger_values(kind: str, c: Choices) -> list[tuple[str, str]]:
    if kind == TriggerKind.ENTERS:
        return [(s.label, f"status:{s.value}") for s in Status]
    if kind == TriggerKind.TAG_ADDED:
        return [(t, f"tag:{t}") for t in c.tags]
    return ([("any partner", "any")] + [(f"any {r.value}", f"role:{r.value}") for r in Role if r.sends_us_orders]
            + [(p, f"partner:{p}") for p in c.senders])


def condition_values(kind: str, c: Choices) -> list[tuple[str, str]]:
    if kind == ConditionKind.PARTNER_IS:
        return [(p, p) for p in c.partners]
    if kind == ConditionKind.ROLE_IS:
        return [(r.value, r.value) for r in Role]
    if kind == ConditionKind.DIRECTION:
        return [(d.value, d.value) for d in Direction]
    if kind in (ConditionKind.HAS_TAG, ConditionKind.LACKS_TAG):
        return [(t, t) for t in c.tags]
    return [(s.label, s.value) for s in Status]


def effect_values(kind: str, c: Choices) -> list[tuple[str, str]]:
    if kind == EffectKind.SEND:
        return [(p, p) for p in c.takers]
    if kind == EffectKind.CANCEL_AT:
        return [(p, p) for p in c.partners]
    if kind in (EffectKind.ADD_TAG, EffectKind.REMOVE_TAG):
        return [(t, t) for t in c.tags]
    return []


#: Effects with a text field, and what the field asks for
EFFECT_TEXT = {EffectKind.ADD_TAG: "or a new tag", EffectKind.FOLLOW_UP: "what to do (the follow-up's text)",
               EffectKind.CANCEL_AT: "the reason (optional)"}


def _value(select: Select[str]) -> str:
    v = select.value
    return "" if v is Select.NULL or v is None else str(v)


def _set_options(select: Select[str], values: list[tuple[str, str]]) -> None:
    """New options for a pick list; the value chosen stays when the new options have it."""
    keep = _value(select)
    if [v for _, v in values] == [v for _, v in getattr(select, "_options", []) if v is not Select.NULL]:
        return  # the same list (the Changed a pick list sends when it is first drawn)
    select.set_options(_opts(values))
    if keep and keep in {v for _, v in values}:
        select.value = keep


def _remove_button(tooltip: str) -> Button:
    """✕ at the end of a row, for the mouse; from the keyboard ctrl+r removes the row the focus
    is in (the button takes no focus, so tab goes from field to field)."""
    button = Button(Text("✕"), classes="row-remove", tooltip=tooltip)
    button.can_focus = False
    return button


class ConditionRow(Horizontal):
    """One condition: what is looked at, and the value it must have."""

    def __init__(self, choices: Choices, condition: Condition | None = None) -> None:
        super().__init__(classes="rule-row condition-row")
        self.choices = choices
        self.initial = condition

    def compose(self) -> ComposeResult:
        kind = self.initial.kind if self.initial else ConditionKind.HAS_TAG
        values = condition_values(kind, self.choices)
        value = self.initial.value if self.initial else None
        if value is not None and value not in {v for _, v in values}:
            values = [*values, (value, value)]  # a value no longer in use is still shown
        yield Select(_opts([(label, k.value) for k, label in CONDITIONS]), value=kind.value, allow_blank=False,
                     classes="row-kind", prompt="what")
        yield Select(_opts(values), value=value if value is not None else Select.NULL, classes="row-value",
                     prompt="choose")
        yield _remove_button("Remove this condition (ctrl+r)")

    def condition(self) -> Condition:
        kind = ConditionKind(_value(self.query_one(".row-kind", Select)))
        return Condition(kind, _value(self.query_one(".row-value", Select)))

    @on(Select.Changed, ".row-kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        event.stop()
        _set_options(self.query_one(".row-value", Select), condition_values(_value(event.select), self.choices))


class EffectRow(Horizontal):
    """One effect: what to do, to whom or with which tag, and its text where it has one."""

    def __init__(self, choices: Choices, effect: Effect | None = None, *, blink: bool = True) -> None:
        super().__init__(classes="rule-row effect-row")
        self.choices = choices
        self.initial = effect
        self.blink = blink

    def compose(self) -> ComposeResult:
        e = self.initial
        kind = e.kind if e else EffectKind.SEND
        values = effect_values(kind, self.choices)
        value = (e.partner or e.tag) if e else None
        if value and value not in {v for _, v in values}:
            values = [*values, (value, value)]
        yield Select(_opts([(label, k.value) for k, label in EFFECTS]), value=kind.value, allow_blank=False,
                     classes="row-kind", prompt="what")
        yield Select(_opts(values), value=value or Select.NULL, classes="row-value", prompt="choose")
        text = Input(clean(e.text, single_line=True) if e else "", classes="row-text",
                     placeholder=EFFECT_TEXT.get(kind, ""), select_on_focus=False,
                     suggester=SuggestFromList(self.choices.tags, case_sensitive=False))
        text.cursor_blink = self.blink
        yield text
        yield _remove_button("Remove this effect (ctrl+r)")

    def on_mount(self) -> None:
        self._shape(self.initial.kind if self.initial else EffectKind.SEND)

    def _shape(self, kind: str) -> None:
        """Show the fields this kind of effect has."""
        self.query_one(".row-value", Select).display = kind != EffectKind.FOLLOW_UP
        text = self.query_one(".row-text", Input)
        text.display = kind in EFFECT_TEXT
        text.placeholder = EFFECT_TEXT.get(EffectKind(kind), "")
        self.set_class(kind == EffectKind.FOLLOW_UP, "-text-only")

    def effect(self) -> Effect:
        kind = EffectKind(_value(self.query_one(".row-kind", Select)))
        value = _value(self.query_one(".row-value", Select))
        text = " ".join(self.query_one(".row-text", Input).value.split())
        if kind in (EffectKind.SEND, EffectKind.CANCEL_AT):
            return Effect(kind, partner=value or None, text=text if kind == EffectKind.CANCEL_AT else "")
        if kind == EffectKind.ADD_TAG:
            return Effect(kind, tag=text or value or None)
        if kind == EffectKind.REMOVE_TAG:
            return Effect(kind, tag=value or None)
        return Effect(kind, text=text)

    @on(Select.Changed, ".row-kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        event.stop()
        kind = _value(event.select)
        _set_options(self.query_one(".row-value", Select), effect_values(kind, self.choices))
        self._shape(kind)


class OnOff(Checkbox):
    """A check box that reads on or off without colour (NO_COLOR, 16 colours): [x] or [ ]."""

    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--label")
        return Content.assemble(("[x]" if self.value else "[ ]", style + VisualStyle(bold=True)))


class RuleForm(ModalScreen[RuleResult | None]):
    """Add a rule, or edit one (`current` given). Dismisses with the result of saving, or None."""

    CSS_PATH = [*stylesheet("dialogs.tcss"), *stylesheet("rules.tcss")]

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+n", "add_condition", "Add condition", priority=True),
        Binding("ctrl+t", "add_effect", "Add effect", priority=True),
        Binding("ctrl+r", "remove_row", "Remove row", priority=True),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, depot: Depot, choices: Choices, current: RuleView | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.depot = depot
        self.choices = choices
        self.current = current
        self.blink = True

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        r = self.current.rule if self.current is not None else None
        title = ("Add a rule" if r is None
                 else f"Edit rule {clean(r.name, single_line=True, limit=50)} (version {r.version})")
        self.blink = bool(getattr(self.app, "blink", True))
        trigger = r.trigger if r else Trigger(TriggerKind.ENTERS, status=Status.CREATED)
        with Vertical(classes="dialog form", id="rule-form"):
            yield Static(Text(title, style="bold"), classes="dialog-title")
            with VerticalScroll(classes="dialog-body", id="rule-body"):
                name = Input(clean(r.name, single_line=True) if r else "", id="f-name",
                             placeholder="what the rule is for, e.g. Frozen to the cold store", select_on_focus=False)
                name.cursor_blink = self.blink
                yield from self._row("name", name)
                values = trigger_values(trigger.kind, self.choices)
                value = _trigger_value(trigger)
                if value and value not in {v for _, v in values}:
                    values = [*values, (value.split(":", 1)[-1], value)]
                with Horizontal(classes="form-row", id="row-trigger"):
                    yield Static(Text("When an order"), classes="form-label")
                    yield Select(_opts([(label, k.value) for k, label in TRIGGERS]), value=trigger.kind.value,
                                 allow_blank=False, id="f-trigger-kind")
                    yield Select(_opts(values), value=value or Select.NULL, id="f-trigger-value", prompt="choose")
                yield Static("", id="err-trigger", classes="field-error")
                yield Static(Text("If (all of these)", style="bold"), classes="rule-section")
                with Vertical(id="conditions"):
                    for c in (r.conditions if r else ()):
                        yield ConditionRow(self.choices, c)
                with Horizontal(classes="rule-add"):
                    yield Button(Text("+ Condition (ctrl+n)"), id="add-condition")
                yield Static("", id="err-conditions", classes="field-error")
                yield Static(Text("Then", style="bold"), classes="rule-section")
                with Vertical(id="effects"):
                    for e in (r.effects if r else (Effect(EffectKind.SEND),)):
                        yield EffectRow(self.choices, e, blink=self.blink)
                with Horizontal(classes="rule-add"):
                    yield Button(Text("+ Effect (ctrl+t)"), id="add-effect")
                yield Static("", id="err-effects", classes="field-error")
                with Horizontal(classes="form-row"):
                    yield Static(Text("Stop after"), classes="form-label")
                    yield OnOff(Text("the rules below it do not fire on the same change"),
                                r.stop_after if r else False, id="f-stop_after")
                with Horizontal(classes="form-row"):
                    yield Static(Text("On"), classes="form-label")
                    yield OnOff(Text("it acts from now on (off: kept, does nothing)"),
                                r.enabled if r else True, id="f-enabled")
            yield Static("", id="form-errors")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Save (ctrl+s)"), id="save", variant="primary")
                yield Button(Text("Close (esc)"), id="close")

    def _row(self, field: str, widget: Widget) -> ComposeResult:
        with Horizontal(classes="form-row", id=f"row-{field}"):
            yield Static(Text(dict(FIELDS)[field]), classes="form-label")
            yield widget
        yield Static("", id=f"err-{field}", classes="field-error")

    def on_mount(self) -> None:
        self.query_one("#f-name", Input).focus()

    @on(Select.Changed, "#f-trigger-kind")
    def _trigger_kind(self, event: Select.Changed) -> None:
        event.stop()
        _set_options(self.query_one("#f-trigger-value", Select), trigger_values(_value(event.select), self.choices))

    # ------------------------------------------------------------------ rows
    async def action_add_condition(self) -> None:
        row = ConditionRow(self.choices)
        await self.query_one("#conditions", Vertical).mount(row)
        self._focus_row(row)

    async def action_add_effect(self) -> None:
        row = EffectRow(self.choices, blink=self.blink)
        await self.query_one("#effects", Vertical).mount(row)
        self._focus_row(row)

    def _focus_row(self, row: Widget) -> None:
        first = row.query_one(".row-kind", Select)
        self.set_focus(first)
        self.query_one("#rule-body", VerticalScroll).scroll_to_widget(row, animate=False)

    def _row_of(self, widget: Widget | None) -> Widget | None:
        while widget is not None and not isinstance(widget, (ConditionRow, EffectRow)):
            widget = widget.parent if isinstance(widget.parent, Widget) else None
        return widget

    async def action_remove_row(self) -> None:
        row = self._row_of(self.focused)
        if row is not None:
            await self._remove(row)

    async def _remove(self, row: Widget) -> None:
        box = row.parent
        siblings = list(box.children) if box is not None else []
        i = siblings.index(row) if row in siblings else 0
        await row.remove()
        rest = list(box.children) if box is not None else []
        if rest:
            self._focus_row(rest[min(i, len(rest) - 1)])
        else:
            self.set_focus(self.query_one("#add-condition" if isinstance(row, ConditionRow) else "#add-effect",
                                          Button))

    # ------------------------------------------------------------------ saving
    def gather(self) -> RuleInput:
        kind = TriggerKind(_value(self.query_one("#f-trigger-kind", Select)))
        value = _value(self.query_one("#f-trigger-value", Select))
        what, _, rest = value.partition(":")
        if kind is TriggerKind.ENTERS:
            trigger = Trigger(kind, status=Status(rest) if what == "status" and rest else None)
        elif kind is TriggerKind.TAG_ADDED:
            trigger = Trigger(kind, tag=rest or None)
        else:
            trigger = Trigger(kind, role=Role(rest) if what == "role" else None,
                              partner=rest if what == "partner" else None)
        return RuleInput(
            name=self.query_one("#f-name", Input).value,
            trigger=trigger,
            conditions=tuple(row.condition() for row in self.query(ConditionRow)),
            effects=tuple(row.effect() for row in self.query(EffectRow)),
            enabled=self.query_one("#f-enabled", OnOff).value,
            stop_after=self.query_one("#f-stop_after", OnOff).value,
        )

    def show_problems(self, problems: dict[str, str], summary: Sequence[str] = ()) -> None:
        """Each problem under its field; a problem of the whole set (a loop, a contradiction)
        above the buttons."""
        for field, _ in FIELDS:
            err = self.query_one(f"#err-{field}", Static)
            text = problems.get(field, "")
            err.update(Text(clean(text)))
            err.set_class(bool(text), "-shown")
        box = self.query_one("#form-errors", Static)
        lines = list(summary)
        if problems:
            n = len(problems)
            lines.insert(0, f"Not saved: {n} field{'s' if n > 1 else ''} to correct.")
        box.update(Text(clean("\n".join(lines))))
        box.set_class(bool(lines), "-shown")
        if problems:
            first = next(f for f, _ in FIELDS if f in problems)
            target = {"name": "#f-name", "trigger": "#f-trigger-value"}.get(first)
            body = self.query_one("#rule-body", VerticalScroll)
            if target is not None:
                self.set_focus(self.query_one(target))
            body.scroll_to_widget(self.query_one(f"#err-{first}"), animate=False)

    def action_save(self) -> None:
        self._save(self.gather())

    @work(group="rule-form", exclusive=True)
    async def _save(self, ri: RuleInput) -> None:
        """The services' preview (the checks and the backtest), the confirm in their words, then
        the save; every step that reads or writes runs in a thread."""
        import asyncio

        action = SaveRule(ri, rule_id=self.current.id if self.current else None,
                          expected_version=self.current.version if self.current else None)
        try:
            pv = await asyncio.to_thread(action.preview, self.depot)
        except InvalidInput as e:
            self.show_problems({e.field or "name": str(e)})
            return
        except ERRORS as e:
            self.show_problems({}, [str(e)])
            return
        if not pv.allowed:
            self.show_problems({}, ["Not saved: " + " ".join(pv.refusals)])
            return
        self.show_problems({})
        yes = await self.app.push_screen_wait(ConfirmScreen(pv.title, pv.lines, final=pv.final, yes=pv.yes,
                                                            focus_note=pv.focus_note))
        if yes is not True:
            return
        try:
            result = await asyncio.to_thread(action.execute, self.depot)
        except InvalidInput as e:
            self.show_problems({e.field or "name": str(e)})
            return
        except Refused as e:
            self.show_problems({}, ["Not saved: " + " ".join(e.reasons)])
            return
        except ERRORS as e:
            self.show_problems({}, [str(e)])
            return
        self.dismiss(result)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button
        if button.id == "save":
            self.action_save()
        elif button.id == "close":
            self.dismiss(None)
        elif button.id == "add-condition":
            self.run_worker(self.action_add_condition())
        elif button.id == "add-effect":
            self.run_worker(self.action_add_effect())
        elif button.has_class("row-remove"):
            row = self._row_of(button)
            if row is not None:
                self.run_worker(self._remove(row))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def action_close(self) -> None:
        self.dismiss(None)


def _trigger_value(t: Trigger) -> str:
    if t.kind is TriggerKind.ENTERS:
        return f"status:{t.status.value}" if t.status else ""
    if t.kind is TriggerKind.TAG_ADDED:
        return f"tag:{t.tag}" if t.tag else ""
    if t.partner:
        return f"partner:{t.partner}"
    if t.role:
        return f"role:{t.role.value}"
    return "any"
