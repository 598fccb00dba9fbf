"""The relay's log says what happened to each attempt (issue 10, item 13): "will be retried" only
for an attempt after which the notice will really be tried again, "gave up" for the last one."""

from __future__ import annotations

import logging

from linkkit import SECRET, RetryPolicy, ScriptedPartner, eventually, make_order
from sqlalchemy import select

from dispatchdesk.services import PartnerInput, add_partner, dispatch
from dispatchdesk.store.models import Notice


async def test_the_last_attempt_is_logged_as_given_up_not_as_will_be_retried(make_side, caplog):
    caplog.set_level(logging.INFO, logger="dispatchdesk.link")
    partner = await ScriptedPartner(answer=lambda a, n: (502, {}, "bad gateway")).start()
    a = await make_side("Alpha", policy=RetryPolicy(delays=(0.05, 0.05), jitter=0.0))
    add_partner(a.depot, PartnerInput(name="Script", role="subcontractor", url=partner.url, secret=SECRET))
    dispatch(a.depot, make_order(a.depot), "Script")

    def failed() -> bool:
        with a.depot.uow(write=False) as uow:
            return uow.session.scalars(select(Notice.state)).one() == "failed"

    await eventually(failed, what="the notice to fail")
    await eventually(lambda: a.relay.failed == 1, what="the relay to record it")
    await partner.stop()
    lines = [r.getMessage() for r in caplog.records if "to Script" in r.getMessage()]
    retried = [m for m in lines if "will be retried" in m]
    gave_up = [m for m in lines if "gave up" in m]
    assert len(retried) == 2, lines  # attempts 1 and 2
    assert len(gave_up) == 1 and "after 3 attempts" in gave_up[0] and "HTTP 502" in gave_up[0], lines
