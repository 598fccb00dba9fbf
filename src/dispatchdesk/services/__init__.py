"""One function per action; each loads, checks, changes and writes its audit entry, notices and
follow-ups in one transaction, then returns a result or raises an error a dispatcher can act on.

    depot = Depot.open(path_or_url)
    Trash("DD-000001", expected_version=3).preview(depot).lines   # what the confirm says
    Trash("DD-000001", expected_version=3).execute(depot)

Every name here is imported when first used (PEP 562 `__getattr__`), so that a program that
needs one service (the console's board, one command) does not import them all: start-up
pays only for what the first screen reads (issue 13). The names and `__all__` are as before.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..domain import CancellationRequest, ReasonCode, ReturnReason, Status
    from ..store import StorageError
    from .actions import (
        BULK_ACTIONS,
        NO_BULK_CANCEL,
        Accept,
        Action,
        Archive,
        Bulk,
        BulkItem,
        BulkPreview,
        BulkResult,
        CallBack,
        Cancel,
        Delete,
        Duplicate,
        FollowUpDone,
        OrderAction,
        RefuseRequest,
        Reject,
        Send,
        SetStatus,
        SetTags,
        Trash,
        Unarchive,
        Undo,
        archive,
        cancel,
        cancel_shipment,
        dispatch,
        duplicate,
        refuse_cancel_request,
        reject,
        release_held_notices,
        request_cancellation,
        set_followup_done,
        set_status,
        set_tags,
        tags_unchanged,
        trash,
        undo,
    )
    from .archiving import AutoArchive, AutoArchiveResult, run_auto_archive
    from .changes import KEEP, EditOrder, LineEdit, RegisterReturn
    from .core import (
        ERRORS,
        GIVING_UP,
        NO_PARTNER_TO_SEND_TO,
        NOTHING_TO_UNDO,
        WAITING,
        ActionResult,
        Cancelled,
        Conflict,
        Depot,
        DispatchError,
        InvalidInput,
        LockWatch,
        NotFound,
        Preview,
        Refused,
        RuleLine,
        changed_by_someone,
        current_user,
        patiently,
    )
    from .inbound import ReceiveResult, receive
    from .link_actions import AddPartner, EditPartner, RetryNotice, SkipNotice, StopLink
    from .neworder import CreateOrder, LineForm, OrderForm, check_form
    from .rules import (
        BACKTEST_DAYS,
        CONDITION_HELP,
        EFFECT_HELP,
        TRIGGER_HELP,
        BacktestHit,
        DeleteRule,
        EnableRule,
        MoveRule,
        RuleInput,
        RuleResult,
        RuleTest,
        RuleView,
        SaveRule,
        parse_condition,
        parse_effect,
        parse_trigger,
        rule_names,
        rule_test,
        rules,
        tag_names,
    )
    from .setup import (
        SETTINGS,
        LineInput,
        OrderInput,
        PartnerInput,
        add_document,
        add_partner,
        check_order,
        check_partner,
        create_order,
        partner_input,
        set_link_stopped,
        set_setting,
        update_partner,
    )

#: Where each public name lives: the module it is imported from on first use.
_WHERE: dict[str, str] = {
    "BACKTEST_DAYS": ".rules",
    "CONDITION_HELP": ".rules",
    "EFFECT_HELP": ".rules",
    "TRIGGER_HELP": ".rules",
    "BacktestHit": ".rules",
    "DeleteRule": ".rules",
    "EnableRule": ".rules",
    "MoveRule": ".rules",
    "RuleInput": ".rules",
    "RuleLine": ".core",
    "RuleResult": ".rules",
    "RuleTest": ".rules",
    "RuleView": ".rules",
    "SaveRule": ".rules",
    "parse_condition": ".rules",
    "parse_effect": ".rules",
    "parse_trigger": ".rules",
    "rule_names": ".rules",
    "rule_test": ".rules",
    "rules": ".rules",
    "tag_names": ".rules",
    "KEEP": ".changes",
    "EditOrder": ".changes",
    "LineEdit": ".changes",
    "RegisterReturn": ".changes",
    "ReturnReason": "..domain",
    "BULK_ACTIONS": ".actions",
    "ERRORS": ".core",
    "GIVING_UP": ".core",
    "NO_BULK_CANCEL": ".actions",
    "NOTHING_TO_UNDO": ".core",
    "NO_PARTNER_TO_SEND_TO": ".core",
    "WAITING": ".core",
    "changed_by_someone": ".core",
    "patiently": ".core",
    "tags_unchanged": ".actions",
    "Action": ".actions",
    "AddPartner": ".link_actions",
    "Archive": ".actions",
    "AutoArchive": ".archiving",
    "AutoArchiveResult": ".archiving",
    "Unarchive": ".actions",
    "Bulk": ".actions",
    "BulkPreview": ".actions",
    "CallBack": ".actions",
    "Cancel": ".actions",
    "Cancelled": ".core",
    "Duplicate": ".actions",
    "EditPartner": ".link_actions",
    "FollowUpDone": ".actions",
    "OrderAction": ".actions",
    "RefuseRequest": ".actions",
    "Reject": ".actions",
    "Accept": ".actions",
    "Delete": ".actions",
    "RetryNotice": ".link_actions",
    "Send": ".actions",
    "SetStatus": ".actions",
    "SetTags": ".actions",
    "SkipNotice": ".link_actions",
    "StopLink": ".link_actions",
    "Trash": ".actions",
    "Undo": ".actions",
    "SETTINGS": ".setup",
    "ActionResult": ".core",
    "BulkItem": ".actions",
    "BulkResult": ".actions",
    "CancellationRequest": "..domain",
    "Conflict": ".core",
    "Depot": ".core",
    "DispatchError": ".core",
    "InvalidInput": ".core",
    "LockWatch": ".core",
    "LineInput": ".setup",
    "NotFound": ".core",
    "OrderInput": ".setup",
    "PartnerInput": ".setup",
    "Preview": ".core",
    "ReasonCode": "..domain",
    "ReceiveResult": ".inbound",
    "Refused": ".core",
    "Status": "..domain",
    "StorageError": "..store",
    "add_document": ".setup",
    "add_partner": ".setup",
    "archive": ".actions",
    "run_auto_archive": ".archiving",
    "cancel": ".actions",
    "cancel_shipment": ".actions",
    "check_order": ".setup",
    "check_form": ".neworder",
    "CreateOrder": ".neworder",
    "LineForm": ".neworder",
    "OrderForm": ".neworder",
    "check_partner": ".setup",
    "create_order": ".setup",
    "current_user": ".core",
    "dispatch": ".actions",
    "duplicate": ".actions",
    "partner_input": ".setup",
    "receive": ".inbound",
    "refuse_cancel_request": ".actions",
    "reject": ".actions",
    "release_held_notices": ".actions",
    "request_cancellation": ".actions",
    "set_followup_done": ".actions",
    "set_link_stopped": ".setup",
    "set_setting": ".setup",
    "set_status": ".actions",
    "set_tags": ".actions",
    "trash": ".actions",
    "undo": ".actions",
    "update_partner": ".setup",
}

__all__ = [
    "BACKTEST_DAYS",
    "CONDITION_HELP",
    "EFFECT_HELP",
    "TRIGGER_HELP",
    "BacktestHit",
    "DeleteRule",
    "EnableRule",
    "MoveRule",
    "RuleInput",
    "RuleLine",
    "RuleResult",
    "RuleTest",
    "RuleView",
    "SaveRule",
    "parse_condition",
    "parse_effect",
    "parse_trigger",
    "rule_names",
    "rule_test",
    "rules",
    "tag_names",
    "KEEP",
    "EditOrder",
    "LineEdit",
    "RegisterReturn",
    "ReturnReason",
    "BULK_ACTIONS",
    "ERRORS",
    "GIVING_UP",
    "NO_BULK_CANCEL",
    "NOTHING_TO_UNDO",
    "NO_PARTNER_TO_SEND_TO",
    "WAITING",
    "LockWatch",
    "changed_by_someone",
    "patiently",
    "tags_unchanged",
    "Action",
    "AddPartner",
    "Archive",
    "AutoArchive",
    "AutoArchiveResult",
    "Unarchive",
    "Bulk",
    "BulkPreview",
    "CallBack",
    "Cancel",
    "Cancelled",
    "Duplicate",
    "EditPartner",
    "FollowUpDone",
    "OrderAction",
    "RefuseRequest",
    "Reject",
    "Accept",
    "Delete",
    "RetryNotice",
    "Send",
    "SetStatus",
    "SetTags",
    "SkipNotice",
    "StopLink",
    "Trash",
    "Undo",
    "SETTINGS",
    "ActionResult",
    "BulkItem",
    "BulkResult",
    "CancellationRequest",
    "Conflict",
    "Depot",
    "DispatchError",
    "InvalidInput",
    "LineInput",
    "NotFound",
    "OrderInput",
    "PartnerInput",
    "Preview",
    "ReasonCode",
    "ReceiveResult",
    "Refused",
    "Status",
    "StorageError",
    "add_document",
    "add_partner",
    "archive",
    "run_auto_archive",
    "cancel",
    "cancel_shipment",
    "check_order",
    "check_form",
    "CreateOrder",
    "LineForm",
    "OrderForm",
    "check_partner",
    "create_order",
    "current_user",
    "dispatch",
    "duplicate",
    "partner_input",
    "receive",
    "refuse_cancel_request",
    "reject",
    "release_held_notices",
    "request_cancellation",
    "set_followup_done",
    "set_link_stopped",
    "set_setting",
    "set_status",
    "set_tags",
    "trash",
    "undo",
    "update_partner",
]


if not TYPE_CHECKING:  # mypy reads the imports above; an unknown name stays an error for it

    def __getattr__(name: str) -> object:
        """A public name, imported from its module on first use; or a submodule by its name."""
        module = _WHERE.get(name)
        if module is None:
            if name.startswith("_"):
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
            try:
                return importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{__name__}.{name}":
                    raise
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_WHERE})


class _Services(types.ModuleType):
    """The package's module: a submodule imported later does not take the name of a public
    function (`services.rules` is the function `rules`, as it was when everything was imported
    here; the module is `dispatchdesk.services.rules` in sys.modules)."""

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and name in _WHERE:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Services
