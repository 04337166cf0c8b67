"""The one timestamp parser and the one `after` paginator both pulls use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acm_sync.connectors.common import after_pages, next_after, parse_moment, second_floor

EIGHT_UTC = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01T10:00:00+02:00",  # an offset: the drift case (one pull kept it, one did not)
        "2026-03-01T10:00:00.000+0200",  # Salesforce's offset form
        "2026-03-01T08:00:00Z",
        "2026-03-01T08:00:00.000Z",
        "2026-03-01 03:00:00-05:00",  # as a saved resume state reads back
        datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=2))),  # aware, not UTC
        datetime(2026, 3, 1, 8, 0),  # naive: UTC
        str(int(EIGHT_UTC.timestamp() * 1000)),  # HubSpot epoch milliseconds
    ],
)
def test_every_form_of_one_moment_parses_to_the_same_utc_datetime(value: Any) -> None:
    parsed = parse_moment(value)
    assert parsed == EIGHT_UTC
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", [None, "", "not a date", "2026-13-45T99:00:00Z"])
def test_nothing_readable_is_none(value: Any) -> None:
    assert parse_moment(value) is None


OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=OFFSETS)
)
def test_any_aware_moment_round_trips_through_its_iso_text(moment: datetime) -> None:
    parsed = parse_moment(moment.isoformat())
    assert parsed == moment and parsed.tzinfo == UTC
    assert parse_moment(moment) == moment


def test_second_floor_is_the_whole_second_before() -> None:
    assert second_floor(datetime(2026, 3, 1, 8, 0, 5, 999_000, tzinfo=UTC)) == datetime(
        2026, 3, 1, 8, 0, 4, tzinfo=UTC
    )
    assert second_floor(None) is None


def _pages(n: int, size: int) -> dict[str | None, dict[str, Any]]:
    """A fake `after`-paged endpoint of n records, offsets as tokens (as search uses them)."""
    out: dict[str | None, dict[str, Any]] = {}
    for start in range(0, max(n, 1), size):
        token = None if start == 0 else str(start)
        page: dict[str, Any] = {"results": list(range(start, min(n, start + size)))}
        if start + size < n:
            page["paging"] = {"next": {"after": str(start + size)}}
        out[token] = page
    return out


@given(st.integers(0, 500), st.integers(1, 50))
def test_after_pages_reads_every_page_once_in_order(n: int, size: int) -> None:
    pages = _pages(n, size)
    asked: list[str | None] = []

    def fetch(after: str | None) -> dict[str, Any]:
        asked.append(after)
        return pages[after]

    seen = [r for page, _ in after_pages(fetch) for r in page["results"]]
    assert seen == list(range(n))
    assert len(asked) == len(pages) and len(set(asked)) == len(asked)


@given(st.integers(1, 500), st.integers(1, 50), st.integers(1, 300))
def test_a_capped_search_stops_before_an_offset_at_the_cap(n: int, size: int, cap: int) -> None:
    pages = _pages(n, size)
    read = list(after_pages(lambda after: pages[after], cap=cap))
    offsets = [0] + [int(t) for _, t in read if t is not None]
    assert all(o < cap for o in offsets[: len(read)])
    last_page, last_token = read[-1]
    assert last_token == next_after(last_page)
    # It ended for real, or the next page would start at / past the cap.
    assert last_token is None or int(last_token) >= cap


def test_after_pages_resumes_from_a_saved_token() -> None:
    pages = _pages(10, 3)
    read = [p["results"] for p, _ in after_pages(lambda a: pages[a], after="6")]
    assert read == [[6, 7, 8], [9]]
