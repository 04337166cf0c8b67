"""Pull progress: the rate / ETA arithmetic and the throttle, on hand-picked numbers."""

from __future__ import annotations

from acm_sync.connectors.progress import Progress, PullProgress, duration, format_progress


def test_rate_and_time_left_from_rows_and_seconds() -> None:
    p = PullProgress("salesforce Account", rows=12_000, pages=6, seconds=6.0, total=48_000)
    assert p.rate == 2_000.0
    assert p.eta_seconds == 18.0  # 36,000 rows left at 2,000 rows/s
    assert format_progress(p) == (
        "salesforce Account: 12,000 of 48,000 rows (25%) · 2,000 rows/s · ETA 18s · 6 pages"
    )


def test_no_total_no_eta_and_no_time_no_rate() -> None:
    p = PullProgress("hubspot companies", rows=100, pages=1, seconds=0.0)
    assert p.rate is None and p.eta_seconds is None
    assert format_progress(p) == "hubspot companies: 100 rows · 1 page"
    more = PullProgress("hubspot companies", rows=1_500, pages=15, seconds=4.0)
    assert format_progress(more) == "hubspot companies: 1,500 rows · 375 rows/s · 15 pages"
    # the CRM's count can lag the rows read (records added meanwhile): never a negative ETA
    over = PullProgress("x", rows=110, pages=2, seconds=1.0, total=100)
    assert over.eta_seconds == 0.0


def test_durations_read_as_a_person_says_them() -> None:
    assert [duration(s) for s in (0.4, 42, 185, 3720)] == ["0s", "42s", "3m 05s", "1h 02m"]


def test_reports_are_throttled_but_the_first_and_last_page_always_report() -> None:
    now = [0.0]
    lines: list[PullProgress] = []
    every: list[int] = []
    progress = Progress(
        "salesforce Contact",
        sink=lines.append,
        every_seconds=10.0,
        clock=lambda: now[0],
        listeners=[lambda p: every.append(p.rows)],
    )
    for _ in range(29):  # a page every 1 s
        now[0] += 1.0
        progress.page(200, 6_000)
    now[0] += 1.0
    progress.page(200, 6_000, last=True)
    assert len(every) == 30  # the listener hears every page
    # the first page (1 s), then 11 s and 21 s, then the last page (30 s)
    assert [p.rows for p in lines] == [200, 2_200, 4_200, 6_000]
    assert lines[-1].rows == 6_000 and lines[-1].eta_seconds == 0.0
    assert lines[1].seconds == 10.0 and lines[1].rate == 220.0
