"""What both connectors share: errors that say what to fix, secret masking, pull results."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pandas as pd


def mask(secret: str | None) -> str:
    """A secret as it may appear in a message: whether it is set and its length — never a
    character of it (a prefix and a suffix narrow a guess, and a short secret is mostly them)."""
    if not secret:
        return "<empty>"
    return f"<hidden, {len(secret)} characters>"


def scrub(message: str, secrets: Iterable[str | None]) -> str:
    """The message with every secret replaced by its mask."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            message = message.replace(secret, mask(secret))
    return message


class CredentialsError(Exception):
    """The CRM refused the credentials, or they are incomplete; the message says what to fix."""


class MappingError(Exception):
    """A mapped field does not exist in the CRM; the message names it and the config key."""


def unknown_fields_message(
    *, crm: str, obj: str, unknown: dict[str, str], known: Iterable[str], config_key: str
) -> str:
    """`unknown`: field → the canonical column (or purpose) that maps it."""
    known_list = sorted(known)
    lines = [f"{crm} {obj}: mapped field(s) do not exist:"]
    for name, column in sorted(unknown.items()):
        near = difflib.get_close_matches(name, known_list, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        lines.append(f"  - {config_key}.{column}: {name!r}{hint}")
    lines.append("Fix the field names in acm_sync.yaml, or create the fields in the CRM.")
    return "\n".join(lines)


def http_date(value: str | None) -> datetime | None:
    """A response's Date header as a UTC datetime (the server's clock, not ours)."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


@dataclass
class PullResult:
    """What one pull did, for the asset's materialization metadata."""

    source: str
    object: str
    table: str
    mode: str = "incremental"  # full | incremental
    strategy: str = ""  # rest | bulk | list | search
    rows_pulled: int = 0
    rows_deleted: int = 0
    rows_merged: int = 0
    rows_vanished: int = 0
    history_rows: int = 0
    api_calls: int = 0
    retries: int = 0
    cursor: datetime | None = None
    complete: bool = True
    stopped: str | None = None  # why the pull stopped early (budget)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    preview: pd.DataFrame | None = None


def later_of(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two moments; a missing one does not count."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def earlier_of(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two moments; a missing one does not count."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def seconds_before(moment: datetime | None, seconds: float) -> datetime | None:
    """`seconds` before `moment` (None stays None: no cursor yet)."""
    return None if moment is None else moment - timedelta(seconds=seconds)


def parse_moment(value: Any) -> datetime | None:
    """A moment from a CRM or from our saved state, always as an aware UTC datetime (None when
    empty or unreadable): ISO 8601 text with any offset (`…Z`, `…+02:00`, Salesforce's
    `…+0000`), epoch milliseconds (HubSpot's older stamps), or a datetime (naive = UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    ts = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    return None if pd.isna(ts) else ts.to_pydatetime()


def second_floor(moment: datetime | None) -> datetime | None:
    """A server's clock a second early (its Date header is whole seconds): the safe cursor for
    what a query that started then has covered."""
    if moment is None:
        return None
    return moment.replace(microsecond=0) - timedelta(seconds=1)


def next_after(page: dict[str, Any]) -> str | None:
    """HubSpot's `paging.next.after` token of a page (None on the last page)."""
    return ((page.get("paging") or {}).get("next") or {}).get("after")


def after_pages(
    fetch: Callable[[str | None], dict[str, Any]],
    *,
    after: str | None = None,
    cap: int | None = None,
) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Every page of a HubSpot `after`-paged endpoint, with the token of the page after it.

    `fetch(after)` reads one page. Paging ends after the page without a next token, or — with
    `cap`, for search, whose `after` is an offset that may not reach its 10,000-result cap —
    when the next offset would reach the cap (that last page is yielded with its token, so the
    caller can tell a capped end from a real one). A caller may stop early by breaking out."""
    while True:
        page = fetch(after)
        after = next_after(page)
        yield page, after
        if after is None or (cap is not None and int(after) >= cap):
            return
