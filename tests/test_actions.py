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
    # the package imports its modules when a name is first used: every name, every module
    for name in services.__all__:
        getattr(services, name)
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
        "AddPartner", "EditPartner", "StopLink", "Bulk", "CreateOrder", "EditOrder", "RegisterReturn",
        "Accept", "Delete",
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


# --------------------------------------------------------------------------- every confirm, in words


def test_every_confirm_says_it_in_words(depot, partners, new_order, rows) -> None:
    """Each action's preview is a whole confirm: a question, sentences, a Yes label; the ones
    that cannot be taken back put the focus on No and say why."""
    from dispatchdesk.domain import CancellationRequest, ReasonCode, Status
    from dispatchdesk.services import (
        Accept,
        AddPartner,
        Archive,
        Bulk,
        CallBack,
        Cancel,
        CreateOrder,
        Delete,
        Duplicate,
        EditOrder,
        EditPartner,
        FollowUpDone,
        LineEdit,
        OrderForm,
        PartnerInput,
        RefuseRequest,
        RegisterReturn,
        Reject,
        RetryNotice,
        ReturnReason,
        Send,
        SetStatus,
        SetTags,
        SkipNotice,
        StopLink,
        Trash,
        Undo,
        request_cancellation,
    )
    from dispatchdesk.services.views import DeleteView, RenameView, SaveView, ViewFilter
    from dispatchdesk.store.models import Notice

    SaveView("York", ViewFilter("york")).execute(depot)
    a = new_order(source="Plain Client")
    b = new_order(source="Plain Client")
    sent = new_order(source="Corner Bakery")
    Send(sent, partner="Swift Haulage").execute(depot)
    trashed = new_order(source="Plain Client")
    Trash(trashed).execute(depot)
    fup = rows(depot, trashed).notices
    with depot.uow() as uow:  # a failed notice to retry or skip
        n = uow.session.get(Notice, rows(depot, sent).notices[0].id)
        n.state, n.attempts, n.last_error = "failed", 7, "HTTP 500 boom"
        uow.commit()
    failed = rows(depot, sent).notices[0].id
    followup = new_order(source="Corner Bakery")
    Trash(followup).execute(depot)
    fid = rows(depot, followup).followups[0].id
    asked = new_order(source="Plain Client")
    from dispatchdesk.services import receive  # noqa: F401 - the request comes over the link in life
    with depot.uow() as uow:
        from sqlalchemy import select

        from dispatchdesk.store.models import Order

        o = uow.session.scalars(select(Order).where(Order.number == asked)).one()
        o.cancellation_requested = True
        uow.commit()

    delivered = new_order(source="Plain Client")
    for st in (Status.ACCEPTED, Status.PICKED_UP, Status.DELIVERED):
        SetStatus(delivered, status=st).execute(depot)

    cases = [
        (SetStatus(a, status=Status.ACCEPTED), "Set Accepted: order", "Set Accepted", True),
        (Send(b, partner="Swift Haulage"), "Send: order", "Send", True),
        (CallBack(sent), "Cancel the shipment: order", "Cancel the shipment", False),
        (Trash(a), "Trash order", "Trash", True),
        (Reject(a, notify_buyer=True, message="Out of area"), "Reject order", "Reject", True),
        (Delete(a), "Delete order", "Delete", True),
        (Accept(a), "Accept order", "Accept", True),
        (Cancel(a, request=CancellationRequest(ReasonCode.DAMAGED, lines={"BOX-S": 1})),
         "Cancel part of order", "Cancel it", False),
        (RefuseRequest(asked, message="Already loaded"), "Refuse the cancellation request", "Refuse the request", True),
        (Undo(trashed), "Undo trash", "Undo", False),
        (Duplicate(a), "Duplicate order", "Duplicate", False),
        (Archive(a), "Archive order", "Archive", False),
        (SetTags(a, add=("frozen",)), "Change the tags of order", "Save the tags", False),
        (RetryNotice(failed), "Send the new order", "Send again", False),
        (SkipNotice(failed), "Skip the new order", "Skip it", True),
        (FollowUpDone(fid), "Mark the follow-up done", "Done", False),
        (StopLink("Plain Client"), "Stop the link to Plain Client", "Stop it", False),
        (AddPartner(PartnerInput("Newco", "client")), "Add the partner Newco", "Add", False),
        (EditPartner("Plain Client", PartnerInput("Plain Client", "client")), "Save the partner", "Save", False),
        # saved views (issue 8): labels, nothing more
        (SaveView("Leeds", ViewFilter("leeds")), "Save the view “Leeds”", "Save", False),
        (RenameView("York", "York depot"), "Rename the view “York” to “York depot”", "Rename", False),
        (DeleteView("York"), "Delete the view “York”", "Delete", False),
        (CreateOrder(OrderForm(source="plain", pickup_address="A", delivery_address="B")),
         "Create the new order", "Create", False),
        (EditOrder(b, parcels=5, lines=(LineEdit("BOX-S", 1),)), "Save the changes to order", "Save the changes", False),
        (EditOrder(sent, parcels=5), "Save the changes to order", "Save the changes", True),
        (RegisterReturn(delivered, reason_code=ReturnReason.DAMAGED), "Register a return on order",
         "Register the return", True),
    ]
    for action, title, yes, no_focus in cases:
        pv = action.preview(depot)
        assert pv.allowed, (type(action).__name__, pv.refusals)
        assert pv.title.startswith(title) and pv.title.endswith("?"), (type(action).__name__, pv.title)
        assert pv.yes == yes, (type(action).__name__, pv.yes)
        assert pv.lines and all(line.strip() for line in pv.lines), type(action).__name__
        assert pv.final is no_focus, (type(action).__name__, pv.final, pv.focus_note)
        if pv.final:
            assert pv.focus_note.startswith("No has the focus"), type(action).__name__
    # the partial cancellation lists what it sends (issue 11, item 9)
    lines = Cancel(a, request=CancellationRequest(ReasonCode.DAMAGED, number="CN-77", lines={"BOX-S": 1})).preview(depot).lines
    assert "Cancellation number: CN-77." in lines and "Reason: DAMAGED." in lines
    assert "Lines cancelled: BOX-S × 1." in lines
    # a bulk whose orders can none be done offers no Yes (issue 11, item 11)
    bulk = Bulk((SetStatus(trashed, status=Status.ACCEPTED), SetStatus(followup, status=Status.ACCEPTED))).preview(depot)
    assert not bulk.allowed
    assert all("Nobody outside" not in " ".join(lines) for _, lines, _ in bulk.items)
    assert fup and request_cancellation  # used above
