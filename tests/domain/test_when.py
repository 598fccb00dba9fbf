"""Issue 8 item 4: times as typed on the phone (domain/when.py), read back in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dispatchdesk.domain.when import parse_when

ZONE = timezone(timedelta(hours=1))
#: Tuesday 1 December 2026, 11:30 in the depot's zone
NOW = datetime(2026, 12, 1, 11, 30, tzinfo=ZONE)


@pytest.mark.parametrize(
    ("text", "expected", "said"),
    [
        ("14:00", datetime(2026, 12, 1, 14, 0), "Tue 1 Dec 2026 14:00 (today)"),
        ("9:15", datetime(2026, 12, 2, 9, 15), "Wed 2 Dec 2026 09:15 (tomorrow)"),  # passed today
        ("14", datetime(2026, 12, 1, 14, 0), None),
        ("1430", datetime(2026, 12, 1, 14, 30), None),
        ("2pm", datetime(2026, 12, 1, 14, 0), None),
        ("14.45", datetime(2026, 12, 1, 14, 45), None),
        ("tomorrow 10:00", datetime(2026, 12, 2, 10, 0), "Wed 2 Dec 2026 10:00 (tomorrow)"),
        ("Tomorrow at 7", datetime(2026, 12, 2, 7, 0), None),
        ("today 18:30", datetime(2026, 12, 1, 18, 30), None),
        ("mon 8", datetime(2026, 12, 7, 8, 0), "Mon 7 Dec 2026 08:00"),
        ("Friday 16:00", datetime(2026, 12, 4, 16, 0), None),
        ("tue 8", datetime(2026, 12, 8, 8, 0), None),  # today's 08:00 has passed: next Tuesday
        ("tue 15", datetime(2026, 12, 1, 15, 0), None),
        ("2026-12-03 14:00", datetime(2026, 12, 3, 14, 0), "Thu 3 Dec 2026 14:00"),
        ("2026-12-03T14:00", datetime(2026, 12, 3, 14, 0), None),
        ("2026-12-03", datetime(2026, 12, 3, 0, 0), None),
    ],
)
def test_times_as_typed(text: str, expected: datetime, said: str | None) -> None:
    got = parse_when(text, NOW)
    assert got.at == expected.replace(tzinfo=ZONE)
    if said is not None:
        assert got.words == said


def test_iso_with_a_zone_keeps_it_and_a_deadline_day_ends_at_23_59() -> None:
    got = parse_when("2026-12-03T14:00+00:00", NOW)
    assert got.at == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    assert got.words == "Thu 3 Dec 2026 15:00"  # read back in the depot's zone
    assert parse_when("2026-12-03", NOW, end_of_day=True).at.time().isoformat() == "23:59:00"
    assert parse_when("tomorrow", NOW, end_of_day=True).at == datetime(2026, 12, 2, 23, 59, tzinfo=ZONE)
    assert parse_when("2026-11-30 10:00", NOW).words.endswith(", in the past")


@pytest.mark.parametrize("text", ["", "soon", "25:00", "mon 8:75", "13pm", "2026-13-01", "915", "next week"])
def test_what_cannot_be_read_is_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_when(text, NOW)
    assert "No time given" in str(e.value) or "write it like 14:00, tomorrow 10:00, mon 8" in str(e.value)
