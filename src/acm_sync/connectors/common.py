"""What both connectors share: errors that say what to fix, secret masking, pull results."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

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
