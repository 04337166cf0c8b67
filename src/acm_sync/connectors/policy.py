"""One request policy per connector: what is retried, how long to wait, the per-run API budget
and the pacing to a vendor's rolling rate window.

Every HTTP request a client library makes passes through `RequestPolicy.send` (the Salesforce
session and the HubSpot pool manager both delegate to it), so retries, budget and pacing are
decided in one place, for pulls and write-back alike.

Waits between tries: the server's Retry-After when it gave one (never less; up to a tenth more,
so that clients told the same moment do not all come back at once), else exponential backoff
with "equal jitter" — half the step fixed, half random — capped at `max_wait`
(`retry_pause`). The loop is written here rather than on a retry library: each try must pass
the budget and the pacing again, a write's lost answer must stop it, and a spent allocation
must end it as a clean stop — the parts a generic retry decorator does not know.

Writes are the one exception to "a transient failure is retried": a write whose request left
and whose answer was lost (a dropped connection, a read timeout, a 500 / 502 / 504) may have
been applied, so it is never sent again blindly. Inside `RequestPolicy.writing` such a failure
raises `AmbiguousWrite`, and the caller settles it by reading the records back. A failure to
connect at all (nothing left) is still retried.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Generic, TypeVar

import urllib3

log = logging.getLogger(__name__)

T = TypeVar("T")


class Outcome(Enum):
    OK = "ok"
    RETRY = "retry"  # transient: wait and send again
    EXHAUSTED = "exhausted"  # the vendor's allocation is spent: stop the run cleanly
    FATAL = "fatal"  # a real error: let the client raise it


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""
    wait: float | None = None  # the server's Retry-After, when it said one


class BudgetExhausted(Exception):
    """The run's API budget (or the vendor's daily allocation) is spent.

    Raised before a request would exceed it; pulls catch it, commit what they have and stop.
    """

    def __init__(self, vendor: str, reason: str) -> None:
        super().__init__(f"{vendor}: API budget spent ({reason}); the next run resumes")
        self.vendor = vendor
        self.reason = reason


class RetriesExhausted(Exception):
    """A transient failure outlasted the retry policy."""


class AmbiguousWrite(Exception):
    """A write request left and its answer was lost: the CRM may have applied it.

    Never resent as is: the caller reads the records back and sends only what did not land."""

    def __init__(self, vendor: str, path: str, reason: str) -> None:
        super().__init__(f"{vendor}: {path}: the answer to a write was lost ({reason})")
        self.vendor = vendor
        self.path = path
        self.reason = reason


# Answers that do not say whether a write was applied (the server or a gateway failed while
# handling it). 429 and 503 are refusals before processing: retried like any request.
_AMBIGUOUS_STATUS = (500, 502, 504)


def never_sent(exc: BaseException) -> bool:
    """True when a transport failure happened before the request could reach the server (the
    connection was never made), so resending it cannot apply anything twice."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        err = stack.pop()
        if not isinstance(err, BaseException) or id(err) in seen:
            continue
        seen.add(id(err))
        # NewConnectionError is a ConnectTimeoutError in urllib3 2.
        if isinstance(err, urllib3.exceptions.ConnectTimeoutError):
            return True
        stack += [err.__cause__, err.__context__, getattr(err, "reason", None), *err.args]
    return False


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_status(status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
    """The shared HTTP part of the policy (vendor classifiers refine it)."""
    retry_after = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
    if status < 400:
        return Verdict(Outcome.OK)
    if status == 429 or status in (500, 502, 503, 504):
        return Verdict(Outcome.RETRY, f"HTTP {status}", retry_after)
    return Verdict(Outcome.FATAL, f"HTTP {status}")


def classify_salesforce(status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
    # Salesforce answers a spent daily allocation with 403 REQUEST_LIMIT_EXCEEDED: retrying
    # cannot help today, so the run stops cleanly (429 / 503 are short-term and retried).
    if status == 403 and b"REQUEST_LIMIT_EXCEEDED" in body:
        return Verdict(Outcome.EXHAUSTED, "daily API request limit exceeded (403)")
    if status == 500 and b"faultcode" in body:
        # SOAP answers every fault with 500 (a refused login, say): an answer, not an outage.
        if b"REQUEST_LIMIT_EXCEEDED" in body:
            return Verdict(Outcome.EXHAUSTED, "daily API request limit exceeded (SOAP fault)")
        return Verdict(Outcome.FATAL, "SOAP fault")
    return classify_status(status, headers, body)


def classify_hubspot(status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
    if status == 429:
        daily_left = headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        if b"DAILY" in body.upper() or (daily_left is not None and daily_left.strip() == "0"):
            return Verdict(Outcome.EXHAUSTED, "daily API limit reached (429)")
    return classify_status(status, headers, body)


@dataclass
class ApiBudget:
    """Calls one run may make on one CRM: the config cap and what the vendor says is left.

    Shared by everything using the connector in the run (pulls, then write-back), so write-back
    sees what the pulls spent.
    """

    vendor: str
    max_calls: int | None = None
    reserve: int = 0
    used: int = 0
    vendor_remaining: int | None = None  # from Sforce-Limit-Info / X-HubSpot-RateLimit-Daily-*
    vendor_limit: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def acquire(self) -> None:
        """Count one call, or raise BudgetExhausted when it would go over."""
        with self._lock:
            if self.max_calls is not None and self.used >= self.max_calls:
                raise BudgetExhausted(self.vendor, f"run cap of {self.max_calls} calls reached")
            if self.vendor_remaining is not None and self.vendor_remaining <= self.reserve:
                raise BudgetExhausted(
                    self.vendor,
                    f"{self.vendor_remaining} calls left of the daily allocation, "
                    f"{self.reserve} kept in reserve",
                )
            self.used += 1
            if self.vendor_remaining is not None:
                self.vendor_remaining -= 1

    def observe(self, *, remaining: int | None, limit: int | None = None) -> None:
        with self._lock:
            if remaining is not None:
                self.vendor_remaining = remaining
            if limit is not None:
                self.vendor_limit = limit

    @property
    def left(self) -> int | None:
        caps = []
        if self.max_calls is not None:
            caps.append(self.max_calls - self.used)
        if self.vendor_remaining is not None:
            caps.append(self.vendor_remaining - self.reserve)
        return max(0, min(caps)) if caps else None


class RollingWindow:
    """At most `limit` requests in any `window` seconds (HubSpot's 10-second window).

    The limit starts at what config says and follows the vendor's `...-Max` header; when the
    vendor says fewer remain than we think, we trust the vendor and slow down.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = max(1, limit)
        self.window = window
        self._sent: deque[float] = deque()
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        with self._lock:
            while True:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                pause = self.window - (now - self._sent[0]) + 0.001
                self.waited += pause
                self._sleep(pause)

    def observe(self, *, limit: int | None, remaining: int | None) -> None:
        """Align with the vendor's view of the window (another client may share it)."""
        with self._lock:
            if limit is not None and limit > 0:
                self.limit = limit
            if remaining is not None and remaining < self.limit - len(self._sent):
                # Someone else spends the same window: book the difference as sent now.
                missing = self.limit - len(self._sent) - remaining
                now = self._clock()
                self._sent.extend([now] * missing)


@dataclass
class Attempt:
    """One try of one request, as the transport reports it back to the policy."""

    status: int | None
    headers: Mapping[str, str]
    body: bytes
    error: BaseException | None = None


@dataclass
class RequestPolicy(Generic[T]):
    """Budget → pacing → send → classify → (wait and resend | return | stop)."""

    vendor: str
    classify: Callable[[int, Mapping[str, str], bytes], Verdict]
    budget: ApiBudget
    max_attempts: int = 6
    backoff: float = 0.5
    max_wait: float = 60.0
    pacers: list[tuple[re.Pattern[str], RollingWindow]] = field(default_factory=list)
    on_response: Callable[[Mapping[str, str]], None] | None = None
    sleep: Callable[[float], None] = time.sleep
    retries: int = 0
    waited: float = 0.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _writing: bool = field(default=False, repr=False)
    _before_send: Callable[[], None] | None = field(default=None, repr=False)

    @contextmanager
    def writing(self, *, journal: Callable[[], None] | None = None) -> Iterator[None]:
        """Requests made in the block are writes: a lost answer raises `AmbiguousWrite`
        instead of a resend. `journal` runs once, just before the first counted request of
        the block goes out — after the budget granted it — so a write the budget refused is
        never journaled as sent."""
        self._writing, self._before_send = True, journal
        try:
            yield
        finally:
            self._writing, self._before_send = False, None

    def send(
        self,
        path: str,
        attempt: Callable[[], T],
        inspect: Callable[[T], Attempt],
        transient: tuple[type[BaseException], ...],
        *,
        counted: bool = True,
    ) -> T:
        """Run `attempt` under the policy; `inspect` turns its result into an Attempt.

        `counted=False` for requests the vendor does not count (logins).
        """
        tries = 0
        while True:
            if counted:
                self.budget.acquire()
            for pattern, pacer in self.pacers:
                if pattern.search(path):
                    pacer.acquire()
            writing = self._writing and counted
            if writing and self._before_send is not None:
                journal, self._before_send = self._before_send, None
                journal()
            tries += 1
            result: T | None = None
            try:
                answer = attempt()
            except transient as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if writing and not never_sent(exc):
                    raise AmbiguousWrite(self.vendor, path, reason) from exc
                verdict = Verdict(Outcome.RETRY, reason)
            else:
                result = answer
                seen = inspect(answer)
                if self.on_response is not None:
                    self.on_response(seen.headers)
                verdict = self.classify(seen.status or 0, seen.headers, seen.body)
                if writing and seen.status in _AMBIGUOUS_STATUS:
                    raise AmbiguousWrite(self.vendor, path, f"HTTP {seen.status}")
            if verdict.outcome in (Outcome.OK, Outcome.FATAL) and result is not None:
                return result
            if verdict.outcome is Outcome.EXHAUSTED:
                raise BudgetExhausted(self.vendor, verdict.reason)
            if tries >= self.max_attempts:
                if result is not None:
                    return result  # the client raises its own error for the last answer
                raise RetriesExhausted(
                    f"{self.vendor}: {path} failed {tries} times; last: {verdict.reason}"
                )
            pause = self._pause(tries, verdict.wait)
            if verdict.wait is not None and verdict.wait > self.max_wait:
                raise BudgetExhausted(
                    self.vendor, f"asked to wait {verdict.wait:.0f}s (> {self.max_wait:.0f}s)"
                )
            log.warning(
                "%s %s: %s; retry %d in %.2fs", self.vendor, path, verdict.reason, tries, pause
            )
            self.retries += 1
            self.waited += pause
            self.sleep(pause)

    def _pause(self, tries: int, retry_after: float | None) -> float:
        return retry_pause(
            tries, retry_after, backoff=self.backoff, max_wait=self.max_wait, rng=self.rng
        )


RETRY_AFTER_SPREAD = 0.1  # up to this share of a Retry-After is added


def retry_pause(
    tries: int,
    retry_after: float | None,
    *,
    backoff: float,
    max_wait: float,
    rng: random.Random,
) -> float:
    """Seconds to wait after the `tries`-th failed try (see the module doc).

    With Retry-After: in [retry_after, retry_after × 1.1]. Without: the step
    min(max_wait, backoff × 2^min(tries − 1, 60)), waited in [step / 2, step] (the doubling
    stops at 2^60, far past any max_wait a real backoff reaches)."""
    if retry_after is not None:
        return retry_after + rng.uniform(0.0, RETRY_AFTER_SPREAD * retry_after)
    step = float(min(max_wait, backoff * (2 ** min(tries - 1, 60))))
    return step / 2 + rng.uniform(0.0, step / 2)
