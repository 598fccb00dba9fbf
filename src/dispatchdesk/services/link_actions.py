"""The actions of the Link and Partners screens, typed like the order actions: retry or skip a
failed notice, stop or restart a partner's link, add or edit a partner. Each `preview()` words
its whole confirm; each `execute()` is one transaction and returns the result's sentence.

The rule "which notice can be retried or skipped" is the domain's `redo_refusal`, used by the
preview, by the service that does it (outbox.retry / skip) and by the screen's key line, so all
three agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store.models import Notice
from .actions import Action
from .core import Depot, NotFound, Preview, load_partner
from .outbox import _redo_refusal, notice_label, retry, skip
from .setup import (
    PartnerInput,
    SavedPartner,
    add_partner,
    check_partner,
    set_link_stopped,
    update_partner,
)


def _label(n: Notice) -> str:
    return notice_label(n.kind, n.order.number if n.order is not None else None)


@dataclass(frozen=True)
class RetryNotice(Action):
    """Send a failed notice again now, with a fresh series of retries."""

    notice_id: str

    def preview(self, depot: Depot) -> Preview:
        with depot.uow(write=False) as uow:
            n = uow.session.get(Notice, self.notice_id)
            if n is None:
                raise NotFound(f"There is no notice {self.notice_id!r}.")
            label, partner = _label(n), n.partner.name
            refusal = _redo_refusal(n, depot.now(), _label(n))
            lines = [f"{partner} gets the {label} again now, with a fresh series of retries."]
            if n.last_error:
                lines.append(f"Last time: {n.last_error}")
            lines.append(
                "Delivery is at least once: if it did arrive before, the partner applies it only once."
            )
            return Preview(
                f"Send the {label} to {partner} again?",
                tuple(lines) if refusal is None else (f"Refused: {refusal}",),
                yes="Send again",
                refusals=(refusal,) if refusal else (),
            )

    def execute(self, depot: Depot) -> str:
        return retry(depot, self.notice_id)


@dataclass(frozen=True)
class SkipNotice(Action):
    """Give up on a failed notice: it is never sent, and later notices of the order may go."""

    notice_id: str

    def preview(self, depot: Depot) -> Preview:
        with depot.uow(write=False) as uow:
            n = uow.session.get(Notice, self.notice_id)
            if n is None:
                raise NotFound(f"There is no notice {self.notice_id!r}.")
            label, partner = _label(n), n.partner.name
            refusal = _redo_refusal(n, depot.now(), _label(n), for_skip=True)
            lines = (
                f"The {label} will NOT be sent: {partner} will not hear of it over the link.",
                f"Later notices of this order to {partner} may then go out.",
                "Tell them by hand if they must know. This cannot be undone.",
            )
            return Preview(
                f"Skip the {label} to {partner}?",
                lines if refusal is None else (f"Refused: {refusal}",),
                yes="Skip it",
                refusals=(refusal,) if refusal else (),
                final=True,
                focus_note="No has the focus: a skipped notice is never sent.",
            )

    def execute(self, depot: Depot) -> str:
        return skip(depot, self.notice_id)


@dataclass(frozen=True)
class StopLink(Action):
    """Stop a partner's link (nothing more goes over it: notices become follow-ups), or restart it."""

    partner: str
    stopped: bool = True

    def preview(self, depot: Depot) -> Preview:
        with depot.uow(write=False) as uow:
            name = load_partner(uow.session, self.partner).name
        if self.stopped:
            return Preview(
                f"Stop the link to {name}?",
                (
                    f"Nothing more is sent to {name} over the link: new notices become follow-ups "
                    "for a person, and waiting ones too.",
                    "You can restart it on the Partners screen (l).",
                ),
                yes="Stop it",
            )
        return Preview(
            f"Restart the link to {name}?",
            (
                f"Notices to {name} go over the link again.",
                "Notices that became follow-ups while it was stopped stay follow-ups; failed ones "
                "can be retried on the Link screen.",
            ),
            yes="Restart it",
        )

    def execute(self, depot: Depot) -> str:
        set_link_stopped(
            depot, self.partner, self.stopped, f"stopped by {depot.actor}" if self.stopped else ""
        )
        return f"The link to {self.partner} is {'stopped' if self.stopped else 'restarted'}."


def _settings_lines(p: PartnerInput) -> tuple[str, ...]:
    cols = check_partner(p)
    link = {
        "http": f"over the link to {cols['url']}",
        "email": f"by e-mail to {cols['email']}",
        "none": "by a person (no link)",
    }[cols["link"]]
    return (
        f"{cols['name']}, {cols['role']}: notices go {link}.",
        f"Cancellations: {cols['cancel_method']}"
        + (f" (within {cols['window_seconds']} s of sending)" if cols["window_seconds"] else "")
        + ".",
    )


@dataclass(frozen=True)
class AddPartner(Action):
    """A new partner with its settings (SPEC 6)."""

    values: PartnerInput

    def preview(self, depot: Depot) -> Preview:
        return Preview(f"Add the partner {self.values.name.strip()}?", _settings_lines(self.values),
                       yes="Add")

    def execute(self, depot: Depot) -> SavedPartner:
        """The partner's name, with the result's sentences (which form of secret) in `.text`."""
        return add_partner(depot, self.values)


@dataclass(frozen=True)
class EditPartner(Action):
    """Change a partner's settings (its name too)."""

    partner: str
    values: PartnerInput

    def preview(self, depot: Depot) -> Preview:
        return Preview(f"Save the partner {self.partner}?", _settings_lines(self.values), yes="Save")

    def execute(self, depot: Depot) -> SavedPartner:
        """The partner's (new) name, with the result's sentences in `.text`."""
        return update_partner(depot, self.partner, self.values)


__all__ = [
    "AddPartner",
    "EditPartner",
    "RetryNotice",
    "SkipNotice",
    "StopLink",
]
