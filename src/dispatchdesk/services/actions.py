"""Every change a dispatcher can make, as a small typed object: `preview()` words the whole
confirm (here, next to the rule it explains), `execute()` does it in one transaction and returns
a result whose sentence says what changed. Errors are DispatchErrors with a code (and, for
forms, the field they belong to).

    action = Trash("DD-000001", expected_version=3)
    action.preview(depot).lines      # what the confirm says
    action.execute(depot)            # refused (Conflict) if someone changed the order since

The plain functions below (`trash(depot, number)` …) are the same actions for scripts and for
the services themselves.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from ..domain import (
    CancellationRequest,
    FollowUpPlan,
    NoticeKind,
    NoticePlan,
    NoticeState,
    Outcome,
    Plan,
    ReasonCode,
    Status,
    Transport,
    cancellation_quantities,
    delivery,
    offers_return,
    plan_archive,
    plan_cancellation,
    plan_dispatch,
    plan_refuse_cancel_request,
    plan_reject,
    plan_set_status,
    plan_trash,
)
from ..domain.automation import ChangeFacts, RulePlan, trigger_matches, why_not
from ..store import UnitOfWork
from ..store.models import (
    AuditEntry,
    Cancellation,
    DepotMeta,
    FollowUp,
    Notice,
    Order,
    OrderLine,
    Partner,
    Tag,
)
from .core import (
    ERRORS,
    Action,
    ActionResult,
    Conflict,
    Depot,
    DispatchError,
    InvalidInput,
    LazySession,
    LeanOrder,
    NotFound,
    Preview,
    Refused,
    apply_plan,
    changed_by_someone,
    last_changed_by,
    load_order,
    load_order_lean,
    load_partner,
    next_number,
    order_facts,
    partner_facts,
    snapshot,
)
from .rulefold import (
    apply_rules,
    confirm_lines,
    idle_plan,
    light_facts,
    load_rules,
    note_without_rules,
    order_change,
    parsed_rules,
    preview_fields,
    refuse,
    rules_for,
    rules_on,
)

# --------------------------------------------------------------------------- the base


# `Action` (services/core.py, so that a module with an action of its own, services/views.py,
# does not import every action; it is the same class here)


#: The plan's sentence when it tells nobody, and what the confirm says instead when rules do.
NOBODY_TOLD = "Nobody outside the depot will be told."
RULES_TELL = "Only the rules below tell anyone outside the depot."


def focus(plan: Plan, undo_seconds: int) -> tuple[bool, str]:
    """Whether the confirm puts the focus on No (the result is final), and the note saying why."""
    undoable = plan.undoable and undo_seconds > 0
    if plan.reversible and not plan.notices:
        return False, ""
    if plan.final and undoable:
        return True, (
            f"No has the focus: {plan.to_status.label} is final once the undo window has closed."
        )
    if plan.final:
        return True, f"No has the focus: {plan.to_status.label} is final."
    if undoable:
        return False, ""
    return True, "No has the focus: this cannot be undone."


@dataclass(frozen=True)
class OrderAction(Action):
    """An action on one order, checked by the domain's Plan and written by apply_plan.

    `expected_version` is the version the dispatcher saw: if someone else changed the order
    since, the preview says so and the execution is refused (Conflict)."""

    number: str
    expected_version: int | None = field(default=None, kw_only=True)
    #: act with the automation rules set aside (the audit says so)
    without_rules: bool = field(default=False, kw_only=True)

    verb: ClassVar[str] = "Yes"
    #: only cancellations look at the lines; the other actions never load them
    needs_lines: ClassVar[bool] = False

    # ------------------------------------------------------------ what each action says
    @abstractmethod
    def plan(self, depot: Depot, session: Session, order: Order) -> tuple[Plan, Partner | None]:
        """The domain's plan for this order, and the partner it is sent to (if any)."""

    def title(self, plan: Plan) -> str:
        return f"{self.label(plan)} order {plan.order}?"

    def label(self, plan: Plan) -> str:
        return self.verb

    def details(self, plan: Plan) -> list[str]:
        """Lines the confirm adds after the plan's own sentences."""
        return []

    # ------------------------------------------------------------ what each action writes
    def change(self, order: Order) -> None:
        """Changes to the order's own columns, in the same UPDATE as the status."""

    def reason(self) -> str | None:
        return None

    def extra(self) -> dict[str, Any] | None:
        """What the notices carry besides the order."""
        return None

    def after(
        self, depot: Depot, session: Session, order: Order, plan: Plan, result: ActionResult
    ) -> ActionResult:
        """What the action writes once the plan is applied (same transaction)."""
        return result

    # ------------------------------------------------------------ the rules (issue 14)
    def rule_change(
        self, depot: Depot, order: Order, plan: Plan, partner: Partner | None, *, tags: bool = True
    ) -> ChangeFacts:
        """The facts of this action's change, as the automation rules see them (`tags=False`:
        without reading the order's tags, to see first whether any rule's trigger matches)."""
        return order_change(
            order,
            light_facts(order),
            to=plan.to_status,
            assign=partner if plan.assign else None,
            unassign=plan.unassign,
            tags_before=None if tags else (),
            tags_after=None if tags else (),
            planned=plan.notices,
            undoable=plan.undoable,
            now=depot.now(),
        )

    def rules(
        self,
        depot: Depot,
        session: Session,
        order: Order,
        plan: Plan,
        partner: Partner | None,
        *,
        listing: bool = False,
    ) -> RulePlan | None:
        """What the rules do with this action (None when the action itself is refused, or no
        rule is on: then nothing is read, unless `listing` the rules for the confirm)."""
        if not plan.allowed:
            return None
        if not rules_on(session):
            return idle_plan(session) if listing else None
        if not listing:  # no rule waits for this change: nothing fires, not even in a chain
            bare = self.rule_change(depot, order, plan, partner, tags=False)
            if not any(r.enabled and trigger_matches(r.trigger, bare) for r in load_rules(session)):
                return None
        return rules_for(depot, session, self.rule_change(depot, order, plan, partner))

    def with_rules(
        self,
        depot: Depot,
        session: Session,
        order: Order,
        rp: RulePlan | None,
        result: ActionResult,
        before: dict[str, Any],
    ) -> ActionResult:
        """Write the rules' effects after the action's own plan, in its transaction."""
        if self.without_rules:
            note_without_rules(session, result)
            return result
        if rp is None:
            return result
        return apply_rules(depot, session, order, rp, result, base_before=before)

    def check_rules(self, rp: RulePlan | None) -> None:
        """Refused (nothing written) when the rules refuse and are not set aside."""
        if rp is not None and not self.without_rules:
            refuse(rp)

    # ------------------------------------------------------------ the two steps
    def preview(self, depot: Depot) -> Preview:
        with depot.uow(write=False) as uow:
            order = load_order(uow.session, self.number)
            status = Status(order.status)
            if self.expected_version is not None and order.version != self.expected_version:
                sentence = changed_by_someone(
                    order.number, status, by=last_changed_by(uow.session, order.id))
                return Preview(
                    f"Order {order.number} has changed", (sentence,), refusals=(sentence,),
                    version=order.version, changed=True,
                )
            plan, partner = self.plan(depot, uow.session, order)
            rp = self.rules(depot, uow.session, order, plan, partner, listing=True)
            undo_s = depot.undo_seconds(uow.session)
            final, note = focus(plan, undo_s)
            lines = plan.describe(undo_s)
            if plan.allowed:
                lines = lines[:1] + self.details(plan) + lines[1:]
            refusals = plan.refusals
            if rp is not None and not self.without_rules:
                refusals += rp.refusals
                if rp.notices and rp.allowed:
                    # the rules tell partners: the confirm never says nobody is told
                    lines = [RULES_TELL if ln == NOBODY_TOLD else ln for ln in lines]
                    if not final and not (plan.undoable and undo_s > 0):
                        final, note = True, "No has the focus: the rules tell partners, and this cannot be undone."
            about_rules = confirm_lines(rp, self.without_rules)
            lines += about_rules
            return Preview(
                self.title(plan),
                tuple(lines),
                yes=self.label(plan),
                refusals=refusals,
                final=final,
                focus_note=note,
                version=order.version,
                plan=plan,
                offers=("return",) if offers_return(plan) else (),
                rule_lines=len(about_rules),
                **preview_fields(rp, self.without_rules),
            )

    def lean(self) -> bool:
        """Whether the action may run on the lean path (core.LeanOrder: no ORM): every action
        on one order that neither looks at the lines nor writes more after the plan, and does
        not set the rules aside (the audit's note on that is written through the ORM)."""
        return not self.needs_lines and type(self).after is OrderAction.after and not self.without_rules

    def begin(
        self, depot: Depot, uow: UnitOfWork
    ) -> tuple[Session, Order, Plan, Partner | None, RulePlan | None]:
        """The session the plan may use, the order (checked against the expected version), the
        plan, its partner and what the rules do (refused here when they refuse).

        On the lean path while no rule fires on this change (rules_may_fire). Else, or when the
        rules were not parsed at the depot's sequence in this process yet, the lean transaction
        is given up (nothing was written on it) and the action runs through the ORM in a new
        one, where the rules' effects are planned and written as on every other action: what
        the confirm showed is what is committed, and undo withdraws the chain."""
        if self.lean():
            lean = load_order_lean(uow, self.number, expected_version=self.expected_version)
            # a LeanOrder has the Order's attributes; the session is made only if plan() uses it
            session, order = cast(Session, LazySession(uow)), cast(Order, lean)
            plan, partner = self.plan(depot, session, order)
            if not plan.allowed or not self.rules_may_fire(depot, uow, lean, plan, partner):
                return session, order, plan, partner, None
            uow.leave_lean()
        session = uow.session
        order = load_order(session, self.number, expected_version=self.expected_version)
        plan, partner = self.plan(depot, session, order)
        rp = self.rules(depot, session, order, plan, partner)
        self.check_rules(rp)
        return session, order, plan, partner, rp

    def rules_may_fire(
        self, depot: Depot, uow: UnitOfWork, order: LeanOrder, plan: Plan, partner: Partner | None
    ) -> bool:
        """On the lean path: does a rule fire on this change? No rule on: no. Else, with the
        rules parsed at the depot's sequence, first the triggers alone (as rules() does), and
        only when one matches the order's tags are read and the rules' conditions tried: a
        rule that fires (and so its chain, and what it refuses) is left to the ORM path."""
        if not order.rules_on:
            return False
        rules = parsed_rules(uow.db.engine.pool, order.rules_seq)
        if rules is None:
            return True  # not parsed at this sequence yet: the ORM path reads them (and keeps them)
        bare = self.rule_change(depot, cast(Order, order), plan, partner, tags=False)
        if not any(r.enabled and trigger_matches(r.trigger, bare) for r in rules):
            return False
        change = self.rule_change(depot, cast(Order, order), plan, partner)
        return any(why_not(r, change) is None for r in rules)

    def execute(self, depot: Depot) -> ActionResult:
        with depot.uow() as uow:
            session, order, plan, partner, rp = self.begin(depot, uow)
            before = snapshot(order)
            if plan.allowed:
                self.change(order)
            result = apply_plan(
                depot,
                session,
                order,
                plan,
                assign=partner,
                reason=self.reason(),
                extra=self.extra(),
                audit_before=before,
            )
            result = self.after(depot, session, order, plan, result)
            result = self.with_rules(depot, session, order, rp, result, before)
            uow.commit()
            return result

    def facts(self, order: Order) -> Any:
        return order_facts(order, lines=self.needs_lines)


# --------------------------------------------------------------------------- status moves


@dataclass(frozen=True)
class SetStatus(OrderAction):
    """Set status (and a drop on a list). Created from Dispatched/Accepted cancels the sent
    shipment (SPEC 4.1); Rejected this way tells nobody and marks the order (SPEC 4.3);
    Dispatched needs the partner (then it is a Send)."""

    status: Status = Status.CREATED
    partner: str | None = None

    def plan(self, depot: Depot, session: Session, order: Order) -> tuple[Plan, Partner | None]:
        facts = self.facts(order)
        if self.status is Status.DISPATCHED and self.partner:
            partner = load_partner(session, self.partner)
            return plan_dispatch(facts, partner_facts(partner), depot.now()), partner
        return plan_set_status(facts, self.status, depot.now()), None

    def lean(self) -> bool:
        return super().lean() and not self.partner  # a Send loads its partner through the ORM

    def label(self, plan: Plan) -> str:
        if self.status is Status.DISPATCHED and self.partner:
            return "Send"
        if self.status is Status.CREATED and plan.unassign:
            return "Cancel the shipment"
        return f"Set {self.status.label}"

    def title(self, plan: Plan) -> str:
        return f"{self.label(plan)}: order {plan.order}, {plan.from_status.label} → {self.status.label}?"


@dataclass(frozen=True)
class Send(SetStatus):
    """Created → Dispatched: send to a subcontractor or forward to a warehouse."""

    status: Status = Status.DISPATCHED


@dataclass(frozen=True)
class CallBack(SetStatus):
    """SPEC 4.1: bring a sent shipment back to Created; the subcontractor is told."""

    status: Status = Status.CREATED


def _reject_code(order: Order, chosen: ReasonCode | None) -> ReasonCode | None:
    """The reason code a trash or reject carries: the one chosen, else the default in the
    settings of the partner the order came from (issue 9 item 7)."""
    if chosen is not None:
        return chosen
    src = order.source
    if src is not None and src.reject_reason:
        return ReasonCode(src.reject_reason)
    return None


@dataclass(frozen=True)
class _Rejecting(OrderAction):
    """Trash and Reject: both carry a reason code, kept on the order, in the audit entry and in
    the notices' payload (and so in the report)."""

    code: ReasonCode | None = None

    def plan(self, depot: Depot, session: Session, order: Order) -> tuple[Plan, Partner | None]:
        plan, partner = self.reject_plan(depot, order)
        code = _reject_code(order, self.code)
        default = self.code is None and code is not None
        return Plan(**{**plan.__dict__, "extra": {**plan.extra, "code": code, "default": default,
                                                 "source": order.source.name if order.source else ""}}), partner

    def reject_plan(self, depot: Depot, order: Order) -> tuple[Plan, Partner | None]:
        raise NotImplementedError

    def code_line(self, plan: Plan) -> str:
        code = plan.extra.get("code")
        if code is None:
            return "Reason code: none given."
        if plan.extra.get("default"):
            return f"Reason code: {code} ({plan.extra.get('source')}'s default)."
        return f"Reason code: {code}."

    def details(self, plan: Plan) -> list[str]:
        return [self.code_line(plan)]

    def change(self, order: Order) -> None:
        code = _reject_code(order, self.code)
        order.reject_reason = code.value if code else None

    def execute(self, depot: Depot) -> ActionResult:
        """As every order action, with the reason code in the same writes: the audit entry's
        reason and detail and the notices' payload (no statement more than a plain trash)."""
        with depot.uow() as uow:
            session, order, plan, partner, rp = self.begin(depot, uow)
            before = snapshot(order)
            if plan.allowed:
                self.change(order)
            code = plan.extra.get("code")
            extra = dict(self.extra() or {})
            detail = (f"Reason code {code}. " if code else "No reason code. ") + plan.record()
            if code:
                extra["reason"] = str(code)
                if self.reason():
                    detail += f" Message to the buyer: {self.reason()}"
            result = apply_plan(
                depot,
                session,
                order,
                plan,
                assign=partner,
                reason=str(code) if code else self.reason(),
                detail=detail,
                extra=extra or None,
                audit_before=before,
            )
            result = self.with_rules(depot, session, order, rp, result, before)
            uow.commit()
            return result


@dataclass(frozen=True)
class Trash(_Rejecting):
    """SPEC 4.3: reject an order and tell the client (and take it back from a subcontractor)."""

    verb: ClassVar[str] = "Trash"

    def reject_plan(self, depot: Depot, order: Order) -> tuple[Plan, Partner | None]:
        return plan_trash(self.facts(order), depot.now()), None


@dataclass(frozen=True)
class Delete(Trash):
    """SPEC 4.3: Delete in order reception's Start menu: the order is trashed (Rejected) and
    the client told as its own workflow says."""

    verb: ClassVar[str] = "Delete"


@dataclass(frozen=True)
class Reject(_Rejecting):
    """SPEC 4.5: reject from order reception; the buyer is told only if notify_buyer, with the
    message."""

    notify_buyer: bool = True
    message: str = ""
    verb: ClassVar[str] = "Reject"

    def reject_plan(self, depot: Depot, order: Order) -> tuple[Plan, Partner | None]:
        if self.notify_buyer and len(self.message) > 4000:
            raise InvalidInput(
                "The message to the buyer is longer than 4000 characters.", field="message"
            )
        plan = plan_reject(self.facts(order), depot.now(), notify_buyer=self.notify_buyer)
        return plan, None

    def details(self, plan: Plan) -> list[str]:
        out = [self.code_line(plan)]
        if self.notify_buyer and self.message.strip():
            out.append(f"The message that goes with it: {self.message.strip()}")
        return out

    def reason(self) -> str | None:
        return self.message or None

    def extra(self) -> dict[str, Any] | None:
        return {"message": self.message} if self.notify_buyer and self.message else None


@dataclass(frozen=True)
class Accept(SetStatus):
    """Order reception's Accept: the depot takes an order it received (Created → Accepted)."""

    status: Status = Status.ACCEPTED

    def label(self, plan: Plan) -> str:
        return "Accept"

    def title(self, plan: Plan) -> str:
        return f"Accept order {plan.order}?"


@dataclass(frozen=True)
class Cancel(OrderAction):
    """SPEC 4.4: create a cancellation (all lines, or some: a partial cancellation)."""

    request: CancellationRequest = field(default_factory=lambda: CancellationRequest(None))
    #: the number was pre-filled and left as it was: if someone took it meanwhile, use the
    #: next free one instead of refusing
    renumber: bool = False
    verb: ClassVar[str] = "Cancel it"
    needs_lines: ClassVar[bool] = True

    def plan(self, depot: Depot, session: Session, order: Order) -> tuple[Plan, Partner | None]:
        req = self.request
        plan = plan_cancellation(self.facts(order), req, depot.now())
        refusals = list(plan.refusals)
        number = req.number.strip()
        if number and _cancellation_number_taken(session, number):
            if self.renumber:
                number = free_cancellation_number(session)
            else:
                refusals.append(f"Cancellation number {number!r} is already used; choose another.")
        plan = Plan(
            **{**plan.__dict__, "refusals": tuple(refusals), "extra": {**plan.extra, "number": number}}
        )
        return plan, None

    def title(self, plan: Plan) -> str:
        if plan.extra.get("partial"):
            return f"Cancel part of order {plan.order}?"
        return f"Cancel order {plan.order}?"

    def details(self, plan: Plan) -> list[str]:
        req = self.request
        quantities: Mapping[str, int] = plan.extra.get("quantities", {})  # type: ignore[assignment]
        out = []
        number = str(plan.extra.get("number") or "")
        out.append(
            f"Cancellation number: {number}." if number
            else "Cancellation number: the next free one."
        )
        out.append(f"Reason: {req.reason.value if req.reason else 'none given'}.")
        if req.comment.strip():
            out.append(f"Comment to the partner: {req.comment.strip()}")
        if req.internal_note.strip():
            out.append(f"Internal note (never sent): {req.internal_note.strip()}")
        if quantities:
            out.append(
                "Lines cancelled: "
                + ", ".join(f"{article} × {qty}" for article, qty in quantities.items())
                + "."
            )
        return out

    def reason(self) -> str | None:
        return self.request.reason.value if self.request.reason else None

    def extra(self) -> dict[str, Any] | None:
        return {
            "reason": self.request.reason.value if self.request.reason else None,
            "comment": self.request.comment,
        }

    def after(
        self, depot: Depot, session: Session, order: Order, plan: Plan, result: ActionResult
    ) -> ActionResult:
        request = self.request
        quantities: Mapping[str, int] = plan.extra.get("quantities", {})  # type: ignore[assignment]
        cn = str(plan.extra.get("number") or "") or next_number(session, "cancellation")
        pending = plan.awaits_answer
        if not pending:
            for ln in order.lines:
                ln.cancelled += quantities.get(ln.article, 0)
        session.add(
            Cancellation(
                number=cn,
                order_id=order.id,
                reason=request.reason.value if request.reason else None,
                comment=request.comment,
                internal_note=request.internal_note,
                lines=dict(quantities),
                partial=bool(plan.extra.get("partial")),
                state="pending" if pending else "done",
                created_at=depot.now(),
                actor=depot.actor,
            )
        )
        # the notices carry the number, lines and quantities: fill them in now they are known
        fill = {
            "lines": dict(quantities),
            "partial": bool(plan.extra.get("partial")),
            "cancellation": cn,
        }
        for nid in result.notices:
            n = session.get(Notice, nid)
            if n is not None:
                n.payload = {**n.payload, **fill}
        entry = session.get(AuditEntry, result.audit_id)
        if entry is not None:
            entry.detail = f"Cancellation {cn}. " + entry.detail
        session.flush()
        return result

    def execute(self, depot: Depot) -> ActionResult:
        if self.request.reason is ReasonCode.OTHER and not self.request.comment.strip():
            raise InvalidInput(
                "Reason OTHER needs a comment that says what the reason is.", field="comment"
            )
        try:
            return super().execute(depot)
        except IntegrityError:
            # another session took the same number between our check and our commit
            raise Refused(
                [f"Cancellation number {self.request.number.strip()!r} is already used; choose another."]
            ) from None


@dataclass(frozen=True)
class RefuseRequest(OrderAction):
    """SPEC 4.6: answer a channel's cancellation request with No, and why."""

    message: str = ""
    verb: ClassVar[str] = "Refuse the request"

    def plan(self, depot: Depot, session: Session, order: Order) -> tuple[Plan, Partner | None]:
        plan = plan_refuse_cancel_request(self.facts(order), depot.now())
        extra: tuple[str, ...] = ()
        if not order.cancellation_requested:
            extra += (f"Order {order.number} has no cancellation request to refuse.",)
        if not self.message.strip():
            extra += (
                "Say why the cancellation is refused (for example: already picked up; it will "
                "be handled as a return).",
            )
        if extra:
            plan = Plan(**{**plan.__dict__, "refusals": plan.refusals + extra})
        return plan, None

    def title(self, plan: Plan) -> str:
        return f"Refuse the cancellation request on order {plan.order}?"

    def details(self, plan: Plan) -> list[str]:
        return [f"The answer that goes with it: {self.message.strip()}"]

    def reason(self) -> str | None:
        return self.message

    def extra(self) -> dict[str, Any] | None:
        return {"message": self.message}

    def execute(self, depot: Depot) -> ActionResult:
        if not self.message.strip():
            raise InvalidInput(
                "Say why the cancellation is refused (for example: already picked up; it will "
                "be handled as a return).",
                field="message",
            )
        return super().execute(depot)


@dataclass(frozen=True)
class Archive(OrderAction):
    """Archive (or bring back from the archive). Allowed on every order, final ones included."""

    archived: bool = True

    def plan(self, depot: Depot, session: Session, order: Order) -> tuple[Plan, Partner | None]:
        return plan_archive(self.facts(order), self.archived), None

    def label(self, plan: Plan) -> str:
        return "Archive" if self.archived else "Unarchive"

    def details(self, plan: Plan) -> list[str]:
        if self.archived:
            return ["It leaves the working lists; it stays in All information, searches, "
                    "exports and reports, and Unarchive brings it back."]
        return ["It comes back to the working lists."]

    def change(self, order: Order) -> None:
        order.archived = self.archived


@dataclass(frozen=True)
class Unarchive(Archive):
    """Bring an archived order back to the working lists (also the undo of the depot's
    automatic archiving: an order brought back stays until its status changes again)."""

    archived: bool = False


@dataclass(frozen=True)
class SetTags(OrderAction):
    """Add and remove tags. Allowed on every order, final ones included."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    verb: ClassVar[str] = "Save the tags"

    def _wanted(self) -> tuple[list[str], list[str]]:
        return [_clean_tag(t) for t in self.add], [t.strip() for t in self.remove]

    def plan(self, depot: Depot, session: Session, order: Order) -> tuple[Plan, Partner | None]:
        add, remove = self._wanted()
        have = [t.name for t in order.tags]
        refusals = tuple(
            f"Order {order.number} has no tag {t!r}." for t in remove if t not in have
        )
        after = sorted({*have, *add} - set(remove))
        status = Status(order.status)
        return Plan(
            "tags",
            order.number,
            status,
            status,
            refusals=refusals,
            reversible=True,
            what=f"has the tags {', '.join(after)}" if after else "has no tags",
            extra={"before": sorted(have), "after": after},
        ), None

    def rule_change(
        self, depot: Depot, order: Order, plan: Plan, partner: Partner | None, *, tags: bool = True
    ) -> ChangeFacts:
        change = super().rule_change(depot, order, plan, partner, tags=False)
        after: list[str] = plan.extra["after"]  # type: ignore[assignment]
        before: list[str] = plan.extra["before"]  # type: ignore[assignment]
        return ChangeFacts(
            change.order, change.before, frozenset(after), frozenset(before),
            change.planned, change.undoable,
        )

    def title(self, plan: Plan) -> str:
        return f"Change the tags of order {plan.order}?"

    def details(self, plan: Plan) -> list[str]:
        before = ", ".join(plan.extra["before"]) or "none"  # type: ignore[arg-type]
        after = ", ".join(plan.extra["after"]) or "none"  # type: ignore[arg-type]
        return [f"Tags: {before} → {after}."]

    def execute(self, depot: Depot) -> ActionResult:
        add, remove = self._wanted()
        with depot.uow() as uow:
            order = load_order(uow.session, self.number, expected_version=self.expected_version)
            plan, _ = self.plan(depot, uow.session, order)
            if not plan.allowed:
                raise InvalidInput(plan.refusals[0], field="remove")
            rp = self.rules(depot, uow.session, order, plan, None)
            self.check_rules(rp)
            before = snapshot(order)
            have = {t.name for t in order.tags}
            for name in add:
                if name not in have:
                    order.tags.append(Tag(name=name))
                    have.add(name)
            order.tags = [t for t in order.tags if t.name not in remove]
            after: list[str] = plan.extra["after"]  # type: ignore[assignment]
            detail = "Tags: " + (", ".join(after) or "none") + "."
            result = apply_plan(depot, uow.session, order, plan, detail=detail, audit_before=before)
            result = self.with_rules(depot, uow.session, order, rp, result, before)
            uow.commit()
            return result


def _cancellation_number_taken(session: Session, number: str) -> bool:
    return session.scalar(select(Cancellation.id).where(Cancellation.number == number)) is not None


def free_cancellation_number(session: Session) -> str:
    """The next cancellation number nobody has used, without taking it."""
    meta = session.get(DepotMeta, 1)
    n = meta.next_cancellation_seq if meta is not None else 1
    while True:
        number = f"CN-{n:06d}"
        if not _cancellation_number_taken(session, number):
            return number
        n += 1


def tags_unchanged(number: str) -> str:
    return f"Tags of order {number} unchanged."


def _clean_tag(tag: str) -> str:
    t = " ".join(tag.split())
    if not t:
        raise InvalidInput("A tag cannot be empty.", field="add")
    if len(t) > 50:
        raise InvalidInput(f"The tag {t[:20]!r}… is longer than 50 characters.", field="add")
    return t


# --------------------------------------------------------------------------- the plain functions


def set_status(
    depot: Depot,
    number: str,
    status: Status | str,
    *,
    partner: str | None = None,
    expected_version: int | None = None,
) -> ActionResult:
    to = status if isinstance(status, Status) else _parse_status(status)
    return SetStatus(number, status=to, partner=partner, expected_version=expected_version).execute(depot)


def dispatch(
    depot: Depot, number: str, partner: str, *, expected_version: int | None = None
) -> ActionResult:
    return Send(number, partner=partner, expected_version=expected_version).execute(depot)


def cancel_shipment(
    depot: Depot, number: str, *, expected_version: int | None = None
) -> ActionResult:
    return CallBack(number, expected_version=expected_version).execute(depot)


def trash(depot: Depot, number: str, *, expected_version: int | None = None,
          code: ReasonCode | None = None) -> ActionResult:
    return Trash(number, code=code, expected_version=expected_version).execute(depot)


def reject(
    depot: Depot,
    number: str,
    *,
    notify_buyer: bool = True,
    message: str = "",
    expected_version: int | None = None,
    code: ReasonCode | None = None,
) -> ActionResult:
    return Reject(
        number, notify_buyer=notify_buyer, message=message, code=code,
        expected_version=expected_version,
    ).execute(depot)


def cancel(
    depot: Depot,
    number: str,
    request: CancellationRequest,
    *,
    expected_version: int | None = None,
) -> ActionResult:
    return Cancel(number, request=request, expected_version=expected_version).execute(depot)


def refuse_cancel_request(
    depot: Depot, number: str, message: str, *, expected_version: int | None = None
) -> ActionResult:
    return RefuseRequest(number, message=message, expected_version=expected_version).execute(depot)


def archive(
    depot: Depot, number: str, archived: bool = True, *, expected_version: int | None = None
) -> ActionResult:
    return Archive(number, archived=archived, expected_version=expected_version).execute(depot)


def set_tags(
    depot: Depot,
    number: str,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    expected_version: int | None = None,
) -> ActionResult:
    return SetTags(
        number, add=tuple(add), remove=tuple(remove), expected_version=expected_version
    ).execute(depot)


def request_cancellation(
    depot: Depot, number: str, message: str = "", lines: Mapping[str, int] | None = None
) -> ActionResult:
    """Ask the partner we sent an order to to cancel it (we act as the channel)."""
    with depot.uow() as uow:
        order = load_order(uow.session, number)
        if order.assignee is None:
            raise Refused([f"Order {order.number} is not with a partner; cancel it here instead."])
        if Status(order.status).terminal:
            raise Refused([f"Order {order.number} is already {Status(order.status).label}."])
        facts = order_facts(order)
        wanted: dict[str, int] = {}
        if lines:
            wanted, refusals = cancellation_quantities(facts, lines)
            if refusals:
                raise Refused(refusals)
        transport, fups = delivery(
            partner_facts(order.assignee),
            NoticeKind.CANCEL_REQUEST,
            order.number,
            now=depot.now(),
            since=order.dispatched_at,
        )
        plan = Plan(
            "request_cancellation",
            order.number,
            Status(order.status),
            Status(order.status),
            notices=(NoticePlan(order.assignee.name, NoticeKind.CANCEL_REQUEST, transport, False),),
            followups=tuple(FollowUpPlan(f.partner, f.text) for f in fups),
            what=f"had its cancellation asked of {order.assignee.name}",
        )
        result = apply_plan(
            depot,
            uow.session,
            order,
            plan,
            extra={"message": message, "lines": wanted},
            reason=message or None,
        )
        uow.commit()
        return result


# --------------------------------------------------------------------------- undo


@dataclass(frozen=True)
class _UndoFound:
    entry: AuditEntry
    notices: list[Notice | None]
    followups: list[FollowUp | None]


def _undo_target(session: Session, order: Order, now: datetime) -> _UndoFound:
    """The action on `order` that can still be undone, or Refused saying why not."""
    s = session
    entry = s.scalars(
        select(AuditEntry)
        .where(
            # the last action that changed the order (a follow-up done or a document
            # recorded does not change it, and must not hide the action before it)
            AuditEntry.order_id == order.id,
            AuditEntry.undo_of.is_(None),
            AuditEntry.after_version.is_not(None),
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).first()
    if entry is None or entry.undoable_until is None or entry.undone_by is not None:
        raise Refused([f"There is nothing to undo on order {order.number}."])
    if now > entry.undoable_until:
        raise Refused([f"The undo window for order {order.number} has closed: the action is final."])
    if order.version != entry.after_version:
        raise Refused([f"Order {order.number} changed again after that action; it cannot be undone."])
    notices = [s.get(Notice, nid) for nid in entry.notices]
    gone = [
        n for n in notices if n is not None and n.state not in (NoticeState.HELD, NoticeState.FOLLOW_UP)
    ]
    if gone:
        raise Refused(
            [
                f"The {NoticeKind(gone[0].kind).label} notice to {gone[0].partner.name} "
                "has already been released for sending; it cannot be undone."
            ]
        )
    followups = [s.get(FollowUp, fid) for fid in entry.followups]
    done = [f for f in followups if f is not None and f.done_at is not None]
    if done:
        raise Refused(
            [
                f"The follow-up {done[0].text!r} was already marked done by {done[0].done_by}; "
                "the partner may have been told, so it cannot be undone."
            ]
        )
    return _UndoFound(entry, notices, followups)


@dataclass(frozen=True)
class Undo(Action):
    """SPEC 4.7: inside the undo window, put the order back and withdraw the held notices."""

    number: str

    def preview(self, depot: Depot) -> Preview:
        with depot.uow(write=False) as uow:
            order = load_order(uow.session, self.number)
            title = f"Undo the last action on order {order.number}?"
            try:
                found = _undo_target(uow.session, order, depot.now())
            except Refused as e:
                return Preview(title, tuple(f"Refused: {r}" for r in e.reasons), yes="Undo",
                               refusals=tuple(e.reasons), version=order.version)
            entry = found.entry
            back = Status((entry.before or {}).get("status", order.status))
            now_status = Status(order.status)
            title = f"Undo {entry.action} of {entry.at:%H:%M:%S} on order {order.number}?"
            lines = [
                f"Order {order.number}: {now_status.label} → {back.label}, as it was before."
                if back is not now_status
                else f"Order {order.number} is put back as it was; it stays {back.label}."
            ]
            if "tags" in (entry.before or {}):
                tags = ", ".join((entry.before or {})["tags"]) or "none"
                lines.append(f"Its tags are put back as they were: {tags}.")
            for n in found.notices:
                if n is not None:
                    lines.append(
                        f"The {NoticeKind(n.kind).label} notice to {n.partner.name} is withdrawn; "
                        "it was never sent."
                    )
            for f in found.followups:
                if f is not None:
                    lines.append(f"The follow-up {f.text!r} is withdrawn.")
            lines.append("The history keeps both the action and its undo.")
            return Preview(title, tuple(lines), yes="Undo", version=order.version)

    def execute(self, depot: Depot) -> ActionResult:
        return _undo(depot, self.number)


def undo(depot: Depot, number: str) -> ActionResult:
    return Undo(number).execute(depot)


def _undo(depot: Depot, number: str) -> ActionResult:
    now = depot.now()
    with depot.uow() as uow:
        s = uow.session
        order = load_order(s, number)
        found = _undo_target(s, order, now)
        entry, notices, followups = found.entry, found.notices, found.followups
        with s.no_autoflush:  # one UPDATE of the order: its version goes up by one
            b = entry.before or {}
            frm = Status(order.status)
            order.status = b["status"]
            order.assignee_id = b["assignee_id"]
            if b["assignee_id"] is None:
                order.assignee = None
            else:
                order.assignee = s.get(Partner, b["assignee_id"])
            order.dispatched_at = (
                datetime.fromisoformat(b["dispatched_at"]) if b.get("dispatched_at") else None
            )
            order.partner_not_informed = b["partner_not_informed"]
            order.cancellation_requested = b["cancellation_requested"]
            order.cancellation_request = b["cancellation_request"]
            order.cancellation_refused = b.get("cancellation_refused")
            if "reject_reason" in b:
                order.reject_reason = b["reject_reason"]
            order.status_changed_at = datetime.fromisoformat(b["status_changed_at"])
            if "archived" in b:
                order.archived = b["archived"]
            for ln in order.lines:
                if ln.article in b.get("lines", {}):
                    ln.cancelled = b["lines"][ln.article]
            if "tags" in b:  # automation rules changed the tags (issue 14): put them back
                wanted = list(b["tags"])
                order.tags = [t for t in order.tags if t.name in wanted]
                have = {t.name for t in order.tags}
                order.tags.extend(Tag(name=name) for name in wanted if name not in have)
            for n in notices:
                if n is not None:
                    n.state = NoticeState.WITHDRAWN.value
                    n.next_attempt_at = None
            for f in followups:
                if f is not None:
                    f.withdrawn = True
            for c in s.scalars(
                select(Cancellation).where(
                    Cancellation.order_id == order.id,
                    Cancellation.state.in_(("done", "pending")),
                    Cancellation.created_at >= entry.at,
                )
            ):
                c.state = "undone"
        flag_modified(order, "status")
        s.flush()
        undo_entry = AuditEntry(
            order_id=order.id,
            at=now,
            actor=depot.actor,
            action="undo",
            from_status=frm.value,
            to_status=order.status,
            detail=f"Undid {entry.action} of {entry.at:%H:%M:%S}; {len(notices)} notice(s) withdrawn.",
            undo_of=entry.id,
            after_version=order.version,
        )
        s.add(undo_entry)
        s.flush()
        entry.undone_by = undo_entry.id
        result = ActionResult(
            order=order.number,
            action="undo",
            from_status=frm,
            to_status=Status(order.status),
            version=order.version,
            audit_id=undo_entry.id,
            message=f"Undone: order {order.number} is {Status(order.status).label} again; nothing was sent.",
        )
        uow.commit()
        return result


def release_held_notices(depot: Depot) -> int:
    """Held notices whose undo window has closed become queued. Returns how many."""
    now = depot.now()
    with depot.uow() as uow:
        held = uow.session.scalars(
            select(Notice).where(Notice.state == NoticeState.HELD.value, Notice.release_at <= now)
        ).all()
        for n in held:
            n.state = NoticeState.QUEUED.value
            n.next_attempt_at = now
        if held:
            uow.commit()
        return len(held)


# --------------------------------------------------------------------------- duplicate


@dataclass(frozen=True)
class Duplicate(Action):
    """SPEC 4.8: copy the order under a new number; the copy records which order it replaces."""

    number: str

    def preview(self, depot: Depot) -> Preview:
        with depot.uow(write=False) as uow:
            order = load_order(uow.session, self.number)
            n = order.number
            return Preview(
                f"Duplicate order {n} as new?",
                (
                    f"A new order is created in Created with a new number, a copy of order {n}.",
                    f"The copy records that it replaces {n}; order {n} stays as it is.",
                    "Nobody outside the depot is told until the copy is sent.",
                ),
                yes="Duplicate",
                version=order.version,
            )

    def execute(self, depot: Depot) -> ActionResult:
        return _duplicate(depot, self.number)


def duplicate(depot: Depot, number: str) -> ActionResult:
    return Duplicate(number).execute(depot)


def _duplicate(depot: Depot, number: str) -> ActionResult:
    now = depot.now()
    with depot.uow() as uow:
        s = uow.session
        old = load_order(s, number)
        new_number = next_number(s, "order")
        copy = Order(
            number=new_number,
            status=Status.CREATED.value,
            source_id=old.source_id,
            partner_ref=old.partner_ref,
            pickup_address=old.pickup_address,
            delivery_address=old.delivery_address,
            pickup_after=old.pickup_after,
            deliver_by=old.deliver_by,
            parcels=old.parcels,
            weight_kg=old.weight_kg,
            replaces_id=old.id,
            created_at=now,
            received_at=old.received_at,
            status_changed_at=now,
            lines=[
                OrderLine(
                    lineno=ln.lineno,
                    article=ln.article,
                    description=ln.description,
                    quantity=ln.quantity,
                )
                for ln in old.lines
            ],
            tags=[Tag(name=t.name) for t in old.tags],
        )
        s.add(copy)
        s.flush()
        entry = AuditEntry(
            order_id=copy.id,
            at=now,
            actor=depot.actor,
            action="duplicate",
            to_status=Status.CREATED.value,
            detail=f"Duplicated from order {old.number}; it replaces {old.number}.",
            after_version=copy.version,
        )
        s.add(entry)
        s.add(
            AuditEntry(
                order_id=old.id,
                at=now,
                actor=depot.actor,
                action="duplicated",
                from_status=old.status,
                to_status=old.status,
                detail=f"Duplicated as new order {new_number}.",
            )
        )
        s.flush()
        result = ActionResult(
            order=new_number,
            action="duplicate",
            from_status=Status.CREATED,
            to_status=Status.CREATED,
            version=copy.version,
            audit_id=entry.id,
            message=f"Order {old.number} duplicated as {new_number} (Created).",
        )
        uow.commit()
        return result


# --------------------------------------------------------------------------- bulk


@dataclass(frozen=True)
class BulkItem:
    order: str
    ok: bool
    message: str
    result: ActionResult | None = None


@dataclass(frozen=True)
class BulkResult:
    items: tuple[BulkItem, ...] = field(default=())

    @property
    def succeeded(self) -> list[BulkItem]:
        return [i for i in self.items if i.ok]

    @property
    def failed(self) -> list[BulkItem]:
        return [i for i in self.items if not i.ok]

    def summary(self) -> str:
        return f"{len(self.succeeded)} done, {len(self.failed)} refused."


@dataclass(frozen=True)
class BulkPreview:
    """One confirm for several orders: each order's own lines, and whether it can be done."""

    title: str
    items: tuple[tuple[str, tuple[str, ...], bool], ...]
    yes: str
    final: bool
    focus_note: str

    @property
    def allowed(self) -> bool:
        """Yes is offered only when at least one order can be done."""
        return any(ok for _, _, ok in self.items)


#: Why Cancelled is not offered for a selection.
NO_BULK_CANCEL = (
    "Cancel orders one at a time: each needs its cancellation form (reason, lines, number)."
)

#: The actions that can be done on several orders at once (SPEC 4.9).
BULK_ACTIONS: tuple[type[OrderAction], ...] = (SetStatus, Trash, Archive)


@dataclass(frozen=True)
class Bulk(Action):
    """SPEC 4.9: the same action on several orders; each is checked and committed on its own."""

    actions: tuple[OrderAction, ...]

    def __post_init__(self) -> None:
        for a in self.actions:
            if not isinstance(a, BULK_ACTIONS):
                raise InvalidInput(
                    f"{type(a).__name__} cannot be done in bulk; only Set status, Trash and Archive."
                )

    def preview(self, depot: Depot) -> BulkPreview:  # type: ignore[override]
        items: list[tuple[str, tuple[str, ...], bool]] = []
        final = False
        label = "Yes"
        for a in self.actions:
            try:
                pv = a.preview(depot)
            except DispatchError as e:
                items.append((a.number, (str(e),), False))
                continue
            if pv.changed:
                status = pv.plan.from_status.label if pv.plan else ""
                line = (
                    f"Order {a.number} was changed by someone else since you selected it"
                    + (f": it is now {status}" if status else "")
                    + ". It will be refused."
                )
                items.append((a.number, (line,), False))
                continue
            if pv.allowed:
                label = pv.yes
                final = final or pv.final
            items.append((a.number, pv.lines, pv.allowed))
        what = self.label(label)
        return BulkPreview(
            f"{what}: {len(self.actions)} orders?",
            tuple(items),
            yes=what if any(ok for _, _, ok in items) else "Yes",
            final=final,
            focus_note="No has the focus: some of this cannot be undone." if final else "",
        )

    def label(self, yes: str) -> str:
        first = self.actions[0] if self.actions else None
        if isinstance(first, SetStatus) and not (first.status is Status.DISPATCHED and first.partner):
            return f"Set status {first.status.label}"
        if isinstance(first, SetStatus):
            return f"Send to {first.partner}"
        return yes

    def execute(self, depot: Depot) -> BulkResult:
        items = []
        for a in self.actions:
            try:
                r = a.execute(depot)
                items.append(BulkItem(a.number, True, r.message, r))
            except ERRORS as e:
                items.append(BulkItem(a.number, False, str(e)))
        return BulkResult(tuple(items))


# --------------------------------------------------------------------------- follow-ups


@dataclass(frozen=True)
class FollowUpDone(Action):
    """Tick a follow-up done (a person told the partner), or open it again."""

    followup_id: int
    done: bool = True

    def preview(self, depot: Depot) -> Preview:
        with depot.uow(write=False) as uow:
            f = uow.session.get(FollowUp, self.followup_id)
            if f is None:
                raise NotFound(f"There is no follow-up {self.followup_id}.")
            if self.done:
                lines = [f"The follow-up is marked done by {depot.actor}: {f.text}"]
                n = f.notice
                if n is not None and n.transport == Transport.EMAIL.value and n.state == NoticeState.SENT.value:
                    lines.append(
                        f"The e-mail to {n.partner.name} counts as acknowledged: you confirmed it with them."
                    )
                return Preview("Mark the follow-up done?", tuple(lines), yes="Done")
            return Preview(
                "Open the follow-up again?",
                (f"The follow-up is open again: {f.text}",),
                yes="Open it",
            )

    def execute(self, depot: Depot) -> str:
        set_followup_done(depot, self.followup_id, self.done)
        return "Follow-up marked done." if self.done else "Follow-up open again."


def set_followup_done(depot: Depot, followup_id: int, done: bool = True) -> None:
    with depot.uow() as uow:
        f = uow.session.get(FollowUp, followup_id)
        if f is None:
            raise NotFound(f"There is no follow-up {followup_id}.")
        f.done_at = depot.now() if done else None
        f.done_by = depot.actor if done else None
        # An e-mail gets no answer over the link: the person who confirmed it with the partner
        # (the follow-up) is the acknowledgement. Reopening the follow-up does not undo that.
        n = f.notice
        if (
            done
            and n is not None
            and n.transport == Transport.EMAIL.value
            and n.state == NoticeState.SENT.value
        ):
            n.state = NoticeState.ACKNOWLEDGED.value
            n.outcome = Outcome.ACCEPTED.value
            n.answer = f"Confirmed by {depot.actor}: {f.text}"
            n.acknowledged_at = depot.now()
        uow.session.add(
            AuditEntry(
                order_id=f.order_id,
                at=depot.now(),
                actor=depot.actor,
                action="follow-up done" if done else "follow-up reopened",
                detail=f.text,
            )
        )
        uow.commit()


def _parse_status(text: str) -> Status:
    try:
        return Status.parse(text)
    except ValueError as e:
        msg = str(e)
        raise InvalidInput(msg[:1].upper() + msg[1:]) from None  # keep the user's text as typed


__all__ = [
    "Accept",
    "Delete",
    "BULK_ACTIONS",
    "NO_BULK_CANCEL",
    "Action",
    "Archive",
    "Bulk",
    "BulkItem",
    "BulkPreview",
    "BulkResult",
    "CallBack",
    "Cancel",
    "Conflict",
    "Duplicate",
    "FollowUpDone",
    "OrderAction",
    "RefuseRequest",
    "Reject",
    "Send",
    "SetStatus",
    "SetTags",
    "Trash",
    "Undo",
    "archive",
    "cancel",
    "cancel_shipment",
    "dispatch",
    "duplicate",
    "refuse_cancel_request",
    "reject",
    "release_held_notices",
    "request_cancellation",
    "set_followup_done",
    "set_status",
    "set_tags",
    "trash",
    "undo",
]
