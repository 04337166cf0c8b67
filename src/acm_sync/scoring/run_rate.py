"""Run-rate: expected bookings from deals not created yet.

A quarter's bookings are not only the open pipeline's: deals created after the forecast date and
won within the quarter (a quick expansion, a renewal opened late, an inbound new logo) make much
of them. They exist in no CRM yet: forecast per type and quarter, not per account.

Renewals: from the installed base
---------------------------------
A renewal renews a contract won a term ago, and the CRM knows it; so, as renewal tools (Clari,
Gainsight) do, renewals are forecast from the contracts coming up for renewal, not from past
quarters' counts (which know nothing of a first renewal season and lag what was sold).

- Contracts: every won new, renewal or expansion deal in the book with a close date (an
  expansion's amount renews too; "other" is none); term `renewal_term_months` (12) from its close.
- Matching (CRMs carry no standard contract link): a contract is renewed by the first renewal
  deal on its account created after the contract's close date; contracts won before that deal
  and after the previous one form its group (co-termed contracts renew together).
- Expected renewal bookings of period P = Σ amount × B(P) over contracts won before the forecast
  date with no renewal deal yet (else it is the pipeline's or booked: never counted twice).
- B(P) = F(end of P) − F(start of P), F(x) = renewal bookings per unit of amount booked less
  than x after the term's end, learnt per contract type (a first renewal and a later one are
  different populations) by Kaplan–Meier weighted by amount: a renewed contract is an event at
  its renewal's close date; one not renewed yet (or lost) is censored at the forecast date, so
  later terms teach about early renewals without making them look typical.
- Shrinkage (the tested rule): with n = contracts of the type whose renewal deal was won or
  lost, or whose term ended, by the forecast date, and k = `renewal_prior_strength`,
      B = n / (n + k) · learnt + k / (n + k) · prior,
  the prior being "renewed at `renewal_rate_prior`, booked when the term ends". The prior
  (0.9) is a published benchmark, not fitted here: SaaS Capital's 2023 survey of 1,500+
  private B2B SaaS companies puts median gross revenue retention at 90–93 % by contract value.
- Orphan renewals (renewal deals whose account won no contract since its previous renewal
  deal: typically of contracts signed before the CRM went live) go to the run-rate below. A
  term after the CRM's first deal, renewals renew its own contracts: for a period from then on
  the orphan run-rate learns only from samples that also start then (none yet: nothing).
- Not modelled: contracts won after the forecast date that renew within the horizon; an
  expansion co-termed with its account's contract is expected a term after its own close,
  though its amount books with the contract's renewal.
- `renewals_from_installed_base` "auto" (default; or "on" / "off") turns it off once a term has
  ended with no renewal deal in the CRM (renewals booked elsewhere, or none sold), and keeps it
  on before (nothing tells the two apart yet). `basis`: "installed_base + <the orphan run-rate's
  basis>" once a contract was won before the forecast date, else the run-rate's alone;
  "installed_base (assumed) + …" while "auto" has no renewal deal to go by (if renewals are not
  booked as deals, set "off").

The run-rate (new business, expansion, other, orphan renewals)
--------------------------------------------------------------
Samples. For each forecast period P (the rest of the current quarter from as_of, then whole
quarters) and each of the last `run_rate.quarters` past quarters j at the same point of the
quarter: x_j = the bookings of deals created on or after (as_of − j quarters) and won within
P − j quarters, only for samples fully in the past (P − j ends by as_of).
Exposure. A sample whose creation window [as_of, end of P) − j quarters (length L) began before
the CRM's first deal saw only its last S; the mean is per unit of exposure, Σ x_j / Σ e_j (the
ratio estimator), so a CRM live a few days into a quarter still learns from it. e is the share
of bookings, not of time (late deals have less time to be won): with deals created evenly and
times to win D of the org's won deals (created → won, known by as_of), e = E[(S − D)+] /
E[(L − D)+] (`window_exposure`; S / L with no win yet; 1 for a full window; none when the first
deal came after it). Partial samples are left out of the seasonal index. A deal closed over a
day before its creation day (a migration without audit fields: `closed_before_created`; a day's
slack for local close vs UTC creation dates) counts in no sample and no time to win.

Per type the run-rate is the plain mean of one or two forecasts (`basis` names them):
- "mean": the mean of x_j. Always there, and alone for a type with too little history.
- "flow": the mean of x_j × c_0 / mean(c_j), held within [1 / MAX_GROWTH, MAX_GROWTH] (a ratio
  of small early numbers must not multiply a forecast tenfold); c_j = pipeline of the type
  created in the quarter before sample j's origin, c_0 today's. Used when at least
  `MIN_SAMPLES` samples have their c_j after the first deal, and Σ c_j > 0.
The flow sees growth first (pipeline opened now) but also follows bursts that never close; the
mean lags real growth: an equal-weight mean of forecasts with different errors is robust.

Seasonality (`run_rate.seasonality`: "on", the default, or "off")
------------------------------------------------------------------
B2B bookings bunch at some quarters; the mean reads the year's level and the flow a Q4 push as
growth. A quarter-of-year index per type corrects both, ≈ 1 unless a quarter stood out the same
way year after year. Not applied to the installed base (its contracts carry their timing).
- Series: x_j, j = 1, 2, … up to SEASON_SPAN (16), the most recent unbroken run (a renewal
  sample the installed base excludes breaks it); for the flow c_j, j = 0, 1, …; j mod 4 is the
  quarter of the year relative to the period (for c, relative to the quarter before it).
- Raw index: r_j = x_j / (ā + b·j), the trend fitted by least squares with one intercept per
  quarter of the year and a common slope b (ā the intercepts' mean): growth is not a season.
  R_q = the mean of r_j over the quarter's years, scaled so the four average 1.
- Shrinkage, empirical Bayes: σ² = Σ (r_j − R_q)² / (N − 5) pooled over the quarters (four
  means and a slope fitted), but at least the deal-count noise, Σ amount² / trend² averaged
  (Var x_j ≈ Σ amount²; with 3–7 degrees of freedom the spread is often small by chance);
  τ² = max(0, Σ_q (R_q − 1)² / 3 − mean_q σ² / n_q); index_q = 1 + (R_q − 1) · τ² / (τ² +
  σ² / n_q), n_q the quarter's years: a repeated pattern keeps all of it, noise gets ≈ 1.
- Not before every quarter was seen twice (SEASON_MIN_YEARS = 2); until then the index is 1.
- Applied: each x_j is divided by its index and the sum multiplied by the period's; c_j and c_0
  by the pipeline's own index. `basis` gains " × season" when an index ≠ 1 was used.

Measurements behind these choices, and the options tried: docs/forecast-decisions.md (§ Run-rate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from acm_sync.scoring import text
from acm_sync.scoring.book import AccountBook
from acm_sync.scoring.periods import NAT, NS_PER_DAY, Quarter, nanos, utc
from acm_sync.scoring.settings import RunRateConfig

RUN_RATE_COLUMNS = ("period", "type", "run_rate_amount", "quarters_averaged", "basis")
TYPES = ("new", "renewal", "expansion", "other")
RENEWAL: Final = TYPES.index("renewal")
CONTRACT_TYPES: Final = ("new", "renewal", "expansion")
MIN_SAMPLES = 2  # samples with a known flow needed for the "flow" forecast
MAX_GROWTH = 2.0  # the flow's growth factor is held within [1 / MAX_GROWTH, MAX_GROWTH]
SEASON_MIN_YEARS = 2  # ratios of every quarter of the year needed for a seasonal index
SEASON_SPAN = 16  # at most this many recent quarters (4 years) are read


@dataclass(frozen=True)
class InstalledBase:
    """The renewal side of the run-rate at one forecast date.

    amounts: expected renewal bookings per forecast period from contracts with no renewal deal
    yet; known: per contract type (CONTRACT_TYPES), contracts whose renewal deal was won or
    lost, or whose term ended, by the forecast date (the n of the shrinkage); contracts:
    contracts won before the forecast date (0 → no installed base)."""

    amounts: npt.NDArray[np.float64]
    known: npt.NDArray[np.int64]
    contracts: int


def run_rate(
    book: AccountBook, as_of: pd.Timestamp, periods: tuple[Quarter, ...], config: RunRateConfig
) -> pd.DataFrame:
    """Expected bookings from deals created from `as_of` on, per period and type
    (RUN_RATE_COLUMNS; one row per period × type, zeros included)."""
    instant = utc(as_of)
    deals = book.opportunities
    all_created = nanos(deals["created_at"])
    all_amount = deals["amount"].to_numpy(dtype=float)
    all_kind = text.objects(deals["type"])
    all_type = np.full(len(deals), len(TYPES) - 1)
    for i, name in enumerate(TYPES[:-1]):
        all_type[all_kind == name] = i
    in_book = deals["account_pos"].to_numpy() >= 0
    renewed_by, orphan = match_renewals(book)
    from_base = uses_installed_base(book, instant.value, config)
    assumed = config.renewals_from_installed_base == "auto" and not renewal_deal_before(
        book, instant.value
    )
    # renewals of contracts in the CRM are the installed base's (when used): the run-rate sees
    # only orphans then, every renewal otherwise
    counted = in_book & ((all_type != RENEWAL) | orphan | (not from_base))
    earliest = all_created[all_created != NAT]
    first_created = int(earliest.min()) if len(earliest) else instant.value
    # from here on, renewals renew the CRM's own contracts (see the module docstring)
    base_era = (
        pd.Timestamp(first_created, tz="UTC") + pd.DateOffset(months=config.renewal_term_months)
    ).value
    close = nanos(deals["close_date"])
    # a deal closed more than a day before the day it was created is no deal created and then
    # won (a migration without audit fields dates every old deal on its import day): not a
    # sample's. A day's slack: a close date is the org's local date, a creation time UTC.
    created_day = all_created - all_created % NS_PER_DAY - NS_PER_DAY
    won = (
        deals["is_won"].to_numpy(dtype=bool)
        & counted
        & (all_created != NAT)
        & (close != NAT)
        & (close >= created_day)
    )
    created, close = all_created[won], close[won]
    amount, type_code = all_amount[won], all_type[won]
    base = installed_base(book, instant, periods, config, renewed_by) if from_base else None

    def flow(origin: pd.Timestamp) -> npt.NDArray[np.float64]:
        """Per type (columns), the amount of deals created in the quarter before `origin` (any
        outcome; row 0) and the sum of their amounts squared (row 1); NaN when that quarter
        began before the first deal."""
        a = origin - pd.DateOffset(months=3)
        if a.value < first_created:
            return np.full((2, len(TYPES)), np.nan)
        hit = counted & (all_created >= a.value) & (all_created < origin.value)
        return np.stack(
            [
                np.bincount(all_type[hit], weights=all_amount[hit] ** p, minlength=len(TYPES))
                for p in (1, 2)
            ]
        ).astype(np.float64)

    # created → won, in ns, of the won deals the run-rate reads (their exposure's weights)
    lags = np.maximum(close - created, 0)[close < instant.value]

    @cache  # read by the seasonal index and by the mean: computed once
    def sample(
        j: int, start: pd.Timestamp, end: pd.Timestamp
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], float] | None:
        """x_j per type (columns): the bookings of deals created from (as_of − j quarters) on
        and won within [start, end) − j quarters (row 0) and the sum of their amounts squared
        (row 1), 0 where the type does not count; per type whether it counts; and the share
        of its creation window [as_of, end) − j quarters the CRM had begun (its exposure: 1
        unless the first deal came inside it). None when that period does not end by as_of or
        the first deal came after its end."""
        back = pd.DateOffset(months=3 * j)
        origin, lo, hi = instant - back, start - back, end - back
        if hi > instant or hi.value <= first_created:
            return None
        exposure = window_exposure(hi.value - origin.value, hi.value - first_created, lags)
        counts = np.ones(len(TYPES), dtype=bool)
        counts[RENEWAL] = not from_base or start.value < base_era or lo.value >= base_era
        hit = (created >= origin.value) & (close >= lo.value) & (close < hi.value)
        x = np.stack(
            [
                np.bincount(type_code[hit], weights=amount[hit] ** p, minlength=len(TYPES))
                for p in (1, 2)
            ]
        ).astype(np.float64)
        return x * counts, counts, exposure

    seasonal = config.seasonality == "on"
    # the pipeline created in the quarter before as_of − j quarters (j = 0: today), per type:
    # (quarters back, amount / amount², type); read by the flow and by its seasonal index
    reach = max(SEASON_SPAN, len(periods) + 4 * config.quarters)
    c_series = np.stack([flow(instant - pd.DateOffset(months=3 * j)) for j in range(reach + 1)])
    # its seasonal index by j mod 4 (all 1 without seasonality or too little history)
    c_index = np.ones((4, len(TYPES)))
    if seasonal:
        c_index = seasonal_index(c_series[: SEASON_SPAN + 1, 0], c_series[: SEASON_SPAN + 1, 1])

    rows = []
    for i, quarter in enumerate(periods):
        start = instant if i == 0 else max(quarter.start, instant)
        # x_j (counted types only) by j, for the seasonal index by j mod 4: the period's own
        # is x_index[0]
        x_series = np.full((2, i + 1 + SEASON_SPAN, len(TYPES)), np.nan)
        for j in range(i + 1, x_series.shape[1] if seasonal else 0):
            got = sample(j, start, quarter.end)
            if got is not None and got[2] == 1.0:  # a partial sample is no season's level
                x_series[:, j] = np.where(got[1], got[0], np.nan)
        x_index = seasonal_index(x_series[0], x_series[1])
        sums = np.zeros(len(TYPES))
        flowed = np.zeros((len(TYPES), 2))
        n_flowed = np.zeros(len(TYPES), dtype=np.int64)
        used = np.zeros(len(TYPES), dtype=np.int64)
        exposed = np.zeros(len(TYPES))  # the samples' exposures summed, per type
        n_samples = 0
        for j in range(i + 1, i + 1 + 4 * config.quarters):
            if n_samples == config.quarters:
                break
            got = sample(j, start, quarter.end)
            if got is None:
                continue
            n_samples += 1
            counts, exposure = got[1], got[2]
            # deseasonalised: the level the period's own index scales back below
            x = got[0][0] / x_index[j % 4]
            sums += x
            used += counts
            exposed += counts * exposure
            c = c_series[j, 0]
            if np.isfinite(c).all():
                flowed[:, 0] += x
                flowed[:, 1] += c / c_index[j % 4] * counts
                n_flowed += counts
        # per unit of exposure: a sample the CRM saw half of counts half (a ratio estimator)
        mean = np.divide(sums, exposed, out=np.zeros(len(TYPES)), where=exposed > 0)
        c_today = c_series[0, 0] / c_index[0]
        for t, name in enumerate(TYPES):
            basis = "mean"
            parts = [float(mean[t])]
            if n_flowed[t] >= MIN_SAMPLES and np.isfinite(c_today[t]) and flowed[t, 1] > 0:
                growth = c_today[t] / (flowed[t, 1] / n_flowed[t])
                growth = min(max(growth, 1 / MAX_GROWTH), MAX_GROWTH)
                parts.append(float(flowed[t, 0] / n_flowed[t] * growth))
                basis += " + flow"
            value = float(np.mean(parts)) * float(x_index[0, t])
            if (x_index[:, t] != 1.0).any() or (c_index[:, t] != 1.0).any():
                basis += " × season"
            if t == RENEWAL and base is not None and base.contracts:
                value += float(base.amounts[i])
                basis = f"installed_base{' (assumed)' if assumed else ''} + {basis}"
            rows.append((quarter.label, name, value, int(used[t]), basis))
    return pd.DataFrame(rows, columns=list(RUN_RATE_COLUMNS))


def window_exposure(whole: int, seen: int, lags: npt.NDArray[np.int64]) -> float:
    """The share of a sample's bookings its CRM could see when it saw only the last `seen` ns of
    the `whole` creation window (1 when it saw all of it): deals created at any time of the
    window (evenly), each booked within it if its time to win (drawn from the org's `lags`,
    created → won) fits before the window's end — E[(seen − D)+] / E[(whole − D)+]. Without a
    won deal, the time share seen / whole."""
    if seen >= whole:
        return 1.0
    spare = np.maximum(whole - lags, 0).sum(dtype=np.float64)
    if not len(lags) or spare <= 0:
        return seen / whole
    return float(np.maximum(seen - lags, 0).sum(dtype=np.float64) / spare)


def seasonal_index(
    series: npt.NDArray[np.float64], squares: npt.NDArray[np.float64] | None = None
) -> npt.NDArray[np.float64]:
    """Per type (column), the seasonal index of a quarterly series by position mod 4: row r
    of the result is the index of every series[j] with j ≡ r (mod 4). series[j] is the value
    j quarters back (NaN: unknown), a sum of deal amounts; squares[j] the sum of those
    amounts squared (None: 0). The most recent run of known values is read, at most
    SEASON_SPAN of them. All 1 without a repeated pattern (see the module docstring)."""
    if squares is None:
        squares = np.zeros_like(series)
    out = np.ones((4, series.shape[1]))
    for t in range(series.shape[1]):
        known = np.flatnonzero(np.isfinite(series[:, t]))
        if len(known) == 0:
            continue
        first = int(known[0])
        gaps = np.flatnonzero(~np.isfinite(series[first:, t]))
        end = first + (int(gaps[0]) if len(gaps) else len(series) - first)
        out[:, t] = season_of(series[first:end, t], first, squares[first:end, t])
    return out


def season_of(
    x: npt.NDArray[np.float64], first: int, squares: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """The index of one run of known quarterly values, x[k] at position first + k, by
    position mod 4 (see the module docstring): each value over the trend line (a common
    slope fitted with one intercept per quarter of the year), averaged per quarter of the
    year and scaled so the four average 1, then shrunk toward 1 by the empirical-Bayes
    factor τ² / (τ² + σ² / n). squares[k]: Σ amount² of the deals in x[k], their count's
    noise (at least that much is noise, whatever the years' spread says)."""
    x, squares = x[:SEASON_SPAN], squares[: min(len(x), SEASON_SPAN)]
    position = np.arange(len(x))
    season = (first + position) % 4
    if np.bincount(season, minlength=4).min() < SEASON_MIN_YEARS:
        return np.ones(4)
    design = np.column_stack([season[:, None] == np.arange(4), position]).astype(np.float64)
    coef = np.linalg.lstsq(design, x, rcond=None)[0]
    trend = coef[:4].mean() + coef[4] * position
    ok = trend > 0
    ratio, season = x[ok] / trend[ok], season[ok]
    # a ratio's variance from its deal count alone; as (√Σa² / trend)², whose terms neither
    # underflow to 0 / 0 nor overflow for amounts far from money's scale (1e-259 in a property
    # test)
    counting = (np.sqrt(squares[ok]) / trend[ok]) ** 2
    n = np.bincount(season, minlength=4)
    if n.min() < SEASON_MIN_YEARS:
        return np.ones(4)
    raw = np.bincount(season, weights=ratio, minlength=4) / n
    scale = raw.mean()
    if scale <= 0:
        return np.ones(4)
    raw, ratio = raw / scale, ratio / scale
    # σ²: the year-to-year spread of one quarter's ratio, pooled over the four quarters (less
    # the four means and the slope fitted), and at least the deal count's own noise
    spread = float(((ratio - raw[season]) ** 2).sum()) / (len(ratio) - 5)
    noise = max(spread, float(counting.mean()) / scale**2)
    # τ²: the spread between the quarters' indices beyond what that noise alone makes
    signal = max(0.0, float(((raw - 1.0) ** 2).sum()) / 3 - float(np.mean(noise / n)))
    if signal == 0.0:
        return np.ones(4)
    return 1.0 + (raw - 1.0) * signal / (signal + noise / n)


def uses_installed_base(book: AccountBook, instant: int, config: RunRateConfig) -> bool:
    """Whether renewals are forecast from the installed base: always ("on"), never ("off"), or
    ("auto") unless a contract's term has ended before the forecast date while the CRM holds
    no renewal deal created before it. Such an org books no renewal as an opportunity
    (renewals are invoiced outside the CRM, or there are no subscriptions): a renewal forecast
    would never come true in it. Before any term has ended nothing says so, and an org's first
    renewal season is just what the installed base is for."""
    if config.renewals_from_installed_base != "auto":
        return config.renewals_from_installed_base == "on"
    if renewal_deal_before(book, instant):
        return True
    close = nanos(book.opportunities["close_date"])
    return not (term_ends(close[contracts(book)], config) < instant).any()


def renewal_deal_before(book: AccountBook, instant: int) -> bool:
    """Whether the CRM holds a renewal deal created before `instant` (ns)."""
    deals = book.opportunities
    created = nanos(deals["created_at"])
    renewal = text.objects(deals["type"]) == "renewal"
    return bool((renewal & (created != NAT) & (created < instant)).any())


def contracts(book: AccountBook) -> npt.NDArray[np.bool_]:
    """Per deal: a contract — won, of a type that starts a term (CONTRACT_TYPES), on an account
    in the book, with a close date."""
    deals = book.opportunities
    return (
        (deals["account_pos"].to_numpy() >= 0)
        & deals["is_won"].to_numpy(dtype=bool)
        & np.isin(text.objects(deals["type"]), CONTRACT_TYPES)
        & (nanos(deals["close_date"]) != NAT)
    )


def term_ends(close: npt.NDArray[np.int64], config: RunRateConfig) -> npt.NDArray[np.int64]:
    """When the terms of contracts closed at `close` (ns) end."""
    term = pd.DateOffset(months=config.renewal_term_months)
    return (pd.DatetimeIndex(close.astype("datetime64[ns]"), tz="UTC") + term).asi8


def match_renewals(
    book: AccountBook,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Per deal: for a contract (won new / renewal / expansion), the position of the renewal
    deal that renews it — the first renewal deal on its account created after its close date
    (-1: none, or not a contract); and whether a renewal deal is an orphan (renews no
    contract in the CRM)."""
    deals = book.opportunities
    n = len(deals)
    account = deals["account_pos"].to_numpy().astype(np.int64)
    created = nanos(deals["created_at"])
    close = nanos(deals["close_date"])
    kind = text.objects(deals["type"])
    in_book = account >= 0
    contract = contracts(book)
    renewal = in_book & (kind == "renewal") & (created != NAT)
    r_idx = np.flatnonzero(renewal)
    c_idx = np.flatnonzero(contract)
    # (account, time) as one sortable integer: times as dense ranks, so nothing overflows
    times, rank = np.unique(np.concatenate([created[r_idx], close[c_idx]]), return_inverse=True)
    rank = rank.reshape(-1).astype(np.int64)
    span = np.int64(len(times) + 1)
    r_key = account[r_idx] * span + rank[: len(r_idx)]
    c_key = account[c_idx] * span + rank[len(r_idx) :]
    order = np.argsort(r_key, kind="stable")
    r_idx, r_key = r_idx[order], r_key[order]
    at = np.searchsorted(r_key, c_key, side="right")  # first renewal created strictly after
    found = at < len(r_idx)
    found[found] = account[r_idx[at[found]]] == account[c_idx[found]]
    renewed_by = np.full(n, -1, dtype=np.int64)
    renewed_by[c_idx[found]] = r_idx[at[found]]
    orphan = renewal.copy()
    orphan[renewed_by[renewed_by >= 0]] = False
    return renewed_by, orphan


def installed_base(
    book: AccountBook,
    as_of: pd.Timestamp,
    periods: tuple[Quarter, ...],
    config: RunRateConfig,
    renewed_by: npt.NDArray[np.int64] | None = None,
) -> InstalledBase:
    """Expected renewal bookings per period from contracts with no renewal deal yet (see the
    module docstring)."""
    instant = utc(as_of).value
    if renewed_by is None:
        renewed_by, _ = match_renewals(book)
    deals = book.opportunities
    created = nanos(deals["created_at"])
    close = nanos(deals["close_date"])
    amount = deals["amount"].to_numpy(dtype=float)
    is_won = deals["is_won"].to_numpy(dtype=bool)
    is_closed = deals["is_closed"].to_numpy(dtype=bool)
    kind = text.objects(deals["type"])
    c_idx = np.flatnonzero(contracts(book) & (close < instant))
    c_amount = amount[c_idx]
    c_type = np.zeros(len(c_idx), dtype=np.int64)
    for t, name in enumerate(CONTRACT_TYPES):
        c_type[kind[c_idx] == name] = t
    ends = term_ends(close[c_idx], config)
    r = renewed_by[c_idx]
    has_r = r >= 0
    r_safe = np.where(has_r, r, 0)
    seen = has_r & (created[r_safe] < instant)  # a renewal deal exists: pipeline or booked
    resolved = seen & is_closed[r_safe] & (close[r_safe] < instant)
    booked = resolved & is_won[r_safe]
    # a renewal deal renewing several contracts books its amount once, split by contract amount
    grouped = renewed_by >= 0
    group_total = np.bincount(renewed_by[grouped], weights=amount[grouped], minlength=len(deals))[
        r_safe
    ]
    share = np.divide(c_amount, group_total, out=np.zeros(len(c_idx)), where=group_total > 0)
    renewed = np.where(booked, amount[r_safe] * share, 0.0)
    # when each contract renewed, in ns after its term's end (else: followed until as_of)
    lag = np.where(booked, close[r_safe] - ends, instant - ends).astype(np.float64)

    pending = ~seen
    amounts = np.zeros(len(periods))
    # outcome seen: the renewal deal closed, or the term ended (renewed late or not at all)
    observed = resolved | (ends < instant)
    known = np.bincount(c_type[observed], minlength=len(CONTRACT_TYPES)).astype(np.int64)
    for t in range(len(CONTRACT_TYPES)):
        mine = c_type == t
        curve = booking_curve(lag[mine], booked[mine], c_amount[mine], renewed[mine])
        weight = known[t] / (known[t] + config.renewal_prior_strength) if known[t] else 0.0
        due = mine & pending
        offset = ends[due].astype(np.float64)
        for i, quarter in enumerate(periods):
            lo = instant if i == 0 else max(quarter.start.value, instant)
            a, b = lo - offset, quarter.end.value - offset
            at_end = config.renewal_rate_prior * ((a <= 0) & (b > 0))
            learnt = curve(b) - curve(a)
            amounts[i] += float((c_amount[due] * (weight * learnt + (1 - weight) * at_end)).sum())
    return InstalledBase(amounts, known, len(c_idx))


def booking_curve(
    lag: npt.NDArray[np.float64],
    booked: npt.NDArray[np.bool_],
    amount: npt.NDArray[np.float64],
    renewed: npt.NDArray[np.float64],
) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    """F(x): renewal bookings per unit of contract amount booked less than x ns after the
    term's end, by Kaplan–Meier weighted by amount: a contract renewed at `lag` (booked) is an
    event there; one not renewed yet (or whose renewal was lost) is censored at `lag` (as_of −
    term end): it counts as at risk up to then and says nothing after. So contracts whose
    term ends in the future teach only about early renewals, without making them look
    typical. No event → F = 0."""
    order = np.argsort(lag, kind="stable")
    times, events = lag[order], booked[order]
    weights, gained = amount[order], renewed[order]
    # amount at risk at each time: every contract whose lag is at or after it
    at_risk = np.cumsum(weights[::-1])[::-1]
    event_times = times[events]
    risk = at_risk[events]
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(risk > 0, weights[events] / risk, 0.0)
        per_unit = np.where(risk > 0, gained[events] / risk, 0.0)
    survival_before = np.concatenate([[1.0], np.cumprod(1.0 - np.clip(hazard, 0.0, 1.0))[:-1]])
    cumulative = np.concatenate([[0.0], np.cumsum(per_unit * survival_before)])

    def curve(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return cumulative[np.searchsorted(event_times, x, side="left")]

    return curve
