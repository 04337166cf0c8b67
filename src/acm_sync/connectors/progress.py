"""Progress of a long pull: rows so far, rate and — where the CRM says how many there are
(Salesforce's query `totalSize`) — the share done and the time left.

The connectors' page loops call `Progress.page(rows, total)` once per page; the reporter
passes a line to its sink (a Dagster log, a rich progress bar) at most once every
`every_seconds`, and always for the last page. Pure apart from the clock, which is injectable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PullProgress:
    """Where one pull stands."""

    what: str  # "salesforce Account", "hubspot companies"
    rows: int
    pages: int
    seconds: float
    total: int | None = None  # rows the CRM says the query returns; None: not known

    @property
    def rate(self) -> float | None:
        """Rows per second so far (None before any time has passed)."""
        return self.rows / self.seconds if self.seconds > 0 else None

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the rate so far (None: total or rate unknown)."""
        if self.total is None or not self.rate:
            return None
        return max(self.total - self.rows, 0) / self.rate


def duration(seconds: float) -> str:
    """`42s`, `3m 05s`, `1h 02m`."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def format_progress(p: PullProgress) -> str:
    """`salesforce Account: 12,000 of 48,000 rows (25%) · 2,000 rows/s · ETA 18s · 6 pages`."""
    if p.total is not None:
        share = 100.0 * p.rows / p.total if p.total else 100.0
        head = f"{p.what}: {p.rows:,} of {p.total:,} rows ({share:.0f}%)"
    else:
        head = f"{p.what}: {p.rows:,} rows"
    parts = [head]
    if p.rate is not None:
        parts.append(f"{p.rate:,.0f} rows/s")
    if p.eta_seconds is not None:
        parts.append(f"ETA {duration(p.eta_seconds)}")
    parts.append(f"{p.pages:,} page" + ("" if p.pages == 1 else "s"))
    return " · ".join(parts)


Sink = Callable[[PullProgress], None]


@dataclass
class Progress:
    """Counts pages of one pull and reports to `sink`, throttled to one report every
    `every_seconds` (the first page and the last always report), and to `listeners` on every
    page."""

    what: str
    sink: Sink | None = None
    every_seconds: float = 10.0
    clock: Callable[[], float] = time.monotonic
    listeners: list[Sink] = field(default_factory=list)  # hear every page, unthrottled
    rows: int = 0
    pages: int = 0
    total: int | None = None
    _started: float | None = field(default=None, repr=False)
    _last: float | None = field(default=None, repr=False)

    def start(self) -> None:
        if self._started is None:
            self._started = self.clock()

    def page(self, rows: int, total: int | None = None, *, last: bool = False) -> None:
        self.start()
        self.rows += rows
        self.pages += 1
        if total is not None:
            self.total = total
        now = self.clock()
        if self.listeners:
            snapshot = self.snapshot()
            for listener in self.listeners:
                listener(snapshot)
        due = self._last is None or now - self._last >= self.every_seconds
        if self.sink is not None and (due or last):
            self._last = now
            self.sink(self.snapshot())

    def snapshot(self) -> PullProgress:
        started = self._started if self._started is not None else self.clock()
        return PullProgress(self.what, self.rows, self.pages, self.clock() - started, self.total)


def log_sink(log: Callable[[str], object]) -> Sink:
    """A sink writing one formatted line per report (e.g. `context.log.info`)."""

    def sink(p: PullProgress) -> None:
        log(format_progress(p))

    return sink


# Listeners of every pull in this process (e.g. the CLI's progress bar while the demo runs the
# sync job in process); each hears every page, unthrottled.
_LISTENERS: list[Sink] = []


@contextmanager
def listening(sink: Sink) -> Iterator[None]:
    """Let `sink` hear every page of every pull in this process while the block runs."""
    _LISTENERS.append(sink)
    try:
        yield
    finally:
        _LISTENERS.remove(sink)


def listeners() -> list[Sink]:
    return list(_LISTENERS)
