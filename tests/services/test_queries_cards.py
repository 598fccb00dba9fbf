"""The board's cards say where an order came from and who has it now (issue 11, item 1), in
every way the board reads them: the whole board, a window of one list, cards by id, and the
filter's index, which finds a card by the name of the partner who has it."""

from __future__ import annotations

import pytest

from dispatchdesk.services import dispatch, queries, search

pytestmark = pytest.mark.usefixtures("partners")


@pytest.fixture
def orders(depot, new_order) -> dict[str, str]:
    inbound_sent_on = new_order(source="Plain Client")
    dispatch(depot, inbound_sent_on, "Swift Haulage")
    own_sent = new_order()
    dispatch(depot, own_sent, "Van Man")
    return {"both": inbound_sent_on, "holder": own_sent, "source": new_order(source="Corner Bakery"),
            "own": new_order()}


def _by_number(cards: list[queries.Card]) -> dict[str, queries.Card]:
    return {c.number: c for c in cards}


def test_a_card_names_its_source_and_its_holder(depot, orders) -> None:
    cards = _by_number(queries.board(depot))
    both = cards[orders["both"]]
    assert (both.source, both.holder) == ("Plain Client", "Swift Haulage")
    assert both.parties == "← Plain Client → Swift Haulage"
    assert (cards[orders["holder"]].source, cards[orders["holder"]].holder) == ("", "Van Man")
    assert cards[orders["holder"]].parties == "→ Van Man"
    assert cards[orders["source"]].parties == "← Corner Bakery"
    assert cards[orders["own"]].parties == ""


def test_the_windows_of_the_board_carry_the_holder_too(depot, orders) -> None:
    page = _by_number(queries.board_page(depot, "dispatched", 0, 50))
    assert page[orders["both"]].holder == "Swift Haulage"
    assert page[orders["both"]].source == "Plain Client"
    by_id = queries.cards_by_ids(depot, [page[orders["both"]].id])
    assert (by_id[0].source, by_id[0].holder) == ("Plain Client", "Swift Haulage")


def test_filtering_by_the_holders_name_finds_the_cards_that_show_it(depot, orders) -> None:
    found = search.match_lists(depot, "swift", queries.LIST_KEYS)
    ids = [i for m in found.values() for i in m.ids]
    shown = queries.cards_by_ids(depot, ids)
    assert {c.number for c in shown} == {orders["both"]}
    assert all("Swift Haulage" in c.parties for c in shown)
    flt = queries.BoardFilter(text="Swift")
    assert [c.number for c in queries.board(depot, flt)] == [orders["both"]]
