"""HubSpot's API limits for a private app: the ten-second burst window, the daily allowance,
and the search endpoints' own per-second limit.

Private-app limits per portal tier (developers.hubspot.com, "API usage guidelines"):

    starter       100 requests / 10 s   250,000 / day
    professional  190 requests / 10 s   625,000 / day
    enterprise    190 requests / 10 s   1,000,000 / day

The search endpoints (`POST /crm/v3/objects/{type}/search`) are limited to 5 requests a second
per token and their responses carry none of the `X-HubSpot-RateLimit-*` headers. Every other
authenticated response carries them. A request refused with 429 is not counted.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

TIERS: dict[str, tuple[int, int]] = {
    "free": (100, 250_000),
    "starter": (100, 250_000),
    "professional": (190, 625_000),
    "enterprise": (190, 1_000_000),
}
INTERVAL_MS = 10_000
SEARCH_PER_SECOND = 5


@dataclass
class Decision:
    allowed: bool
    policy: str | None = None  # TEN_SECONDLY_ROLLING, DAILY, SECONDLY (search)
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass
class _Usage:
    window: deque[float] = field(default_factory=deque)
    search_window: deque[float] = field(default_factory=deque)
    day: date | None = None
    daily_used: int = 0


class RateLimiter:
    """Per-token windows; time comes from the sandbox clock (so a test clock drives it too)."""

    def __init__(self, tier: str, clock: Callable[[], datetime] | None = None) -> None:
        if tier not in TIERS:
            raise ValueError(f"unknown HubSpot tier {tier!r}; one of {sorted(TIERS)}")
        self.tier = tier
        self.ten_second_max, self.daily_max = TIERS[tier]
        self.search_per_second_max = SEARCH_PER_SECOND
        self.clock = clock or (lambda: datetime.now(UTC))
        self._usage: dict[str, _Usage] = {}
        self._lock = threading.Lock()

    def _get(self, token: str, now: datetime) -> _Usage:
        usage = self._usage.setdefault(token, _Usage())
        today = now.astimezone(UTC).date()
        if usage.day != today:  # the daily allowance resets at midnight (portal time: UTC)
            usage.day, usage.daily_used = today, 0
        return usage

    def take(self, token: str, *, search: bool = False) -> Decision:
        now = self.clock()
        t = now.timestamp()
        with self._lock:
            usage = self._get(token, now)
            while usage.window and usage.window[0] <= t - INTERVAL_MS / 1000:
                usage.window.popleft()
            while usage.search_window and usage.search_window[0] <= t - 1.0:
                usage.search_window.popleft()
            if usage.daily_used >= self.daily_max:
                return Decision(False, "DAILY", self._headers(usage, t) if not search else [])
            if search:
                if len(usage.search_window) >= self.search_per_second_max:
                    return Decision(False, "SECONDLY")
                usage.search_window.append(t)
                usage.daily_used += 1
                return Decision(True)
            if len(usage.window) >= self.ten_second_max:
                return Decision(False, "TEN_SECONDLY_ROLLING", self._headers(usage, t))
            usage.window.append(t)
            usage.daily_used += 1
            return Decision(True, None, self._headers(usage, t))

    def _headers(self, usage: _Usage, t: float) -> list[tuple[bytes, bytes]]:
        secondly_max = max(1, self.ten_second_max // 10)
        in_last_second = sum(1 for x in usage.window if x > t - 1.0)
        return [
            (b"x-hubspot-ratelimit-daily", str(self.daily_max).encode()),
            (
                b"x-hubspot-ratelimit-daily-remaining",
                str(max(0, self.daily_max - usage.daily_used)).encode(),
            ),
            (b"x-hubspot-ratelimit-interval-milliseconds", str(INTERVAL_MS).encode()),
            (b"x-hubspot-ratelimit-max", str(self.ten_second_max).encode()),
            (
                b"x-hubspot-ratelimit-remaining",
                str(max(0, self.ten_second_max - len(usage.window))).encode(),
            ),
            (b"x-hubspot-ratelimit-secondly", str(secondly_max).encode()),
            (
                b"x-hubspot-ratelimit-secondly-remaining",
                str(max(0, secondly_max - in_last_second)).encode(),
            ),
        ]

    # -- admin -----------------------------------------------------------------------------

    def exhaust_daily(self, token: str) -> None:
        """Spend the token's whole daily allowance (the `exhaust_limit` fault hook)."""
        now = self.clock()
        with self._lock:
            self._get(token, now).daily_used = self.daily_max

    def state(self) -> dict[str, Any]:
        now = self.clock()
        t = now.timestamp()
        with self._lock:
            used = {
                token: {
                    "daily_used": self._get(token, now).daily_used,
                    "ten_second_used": sum(1 for x in u.window if x > t - INTERVAL_MS / 1000),
                }
                for token, u in self._usage.items()
            }
        return {
            "tier": self.tier,
            "ten_second_max": self.ten_second_max,
            "interval_milliseconds": INTERVAL_MS,
            "daily_max": self.daily_max,
            "search_per_second_max": self.search_per_second_max,
            "usage": used,
        }

    def configure(self, body: dict[str, Any], token: str) -> None:
        """Admin: change limits (`ten_second_max`, `daily_max`, `search_per_second_max`,
        `tier`), set `daily_used`, or `reset` every window."""
        with self._lock:
            if "tier" in body:
                tier = str(body["tier"])
                if tier not in TIERS:
                    raise ValueError(f"unknown tier {tier!r}")
                self.tier = tier
                self.ten_second_max, self.daily_max = TIERS[tier]
            for key in ("ten_second_max", "daily_max", "search_per_second_max"):
                if key in body:
                    value = int(body[key])
                    if value < 1:
                        raise ValueError(f"{key} must be at least 1")
                    setattr(self, key, value)
            if body.get("reset"):
                self._usage.clear()
        if "daily_used" in body:
            now = self.clock()
            with self._lock:
                self._get(token, now).daily_used = max(0, int(body["daily_used"]))
