"""Time to close: p(won within a period) from a discrete-time hazard model with censoring.

Why a hazard model. A bookings forecast needs *when* a deal closes, not only whether. Month by
month the model asks "given the deal is still open, does it close won, close lost, or stay
open?"; deals still open are *censored* (counted for every month seen open, nothing after), so a
young org is not judged by its fast first closes, and no "90 days overdue = lost" rule is needed:
days past the shown close date is one more feature, in learning and in forecasting alike.

How. At each landmark, every calendar month start of the training window, each open deal is a
snapshot (stage, time in stage, age, close date, amount band, type, industry, the buying
account's size by employees — as of the landmark; `forecast.segments` picks the last four). It
gives one row per month ahead k = 1…`steps` until it closes or the data end (the as-of instant):
the person-period data, features aged by k − 1 months, outcome stay / won / lost. All features
are categorical bands, so identical rows are counted once (a few thousand cells, whatever the
org size); a multinomial logit with an L2 penalty is fitted to the cell counts by Newton's method.

Landmarks (`training_landmarks`, `forecast.hazard.landmarks_per_month`). Training rows should
look like the open pipeline on a forecast day; surviving to one's age is no bias (an open deal
at the forecast has too), so month starts learn without bias unless deals open and close in step
with the calendar. `landmarks_per_month: 4` adds days 8, 16 and 23, each weighing 1/4 (one deal's
overlapping snapshots are one deal's months, so the L2 penalty keeps its meaning); measured no
better, so the default is 1. `hazard.min_events` counts deals (`closes_seen`), not rows.

Ages never seen. Segments act per age band (`FeatureSpace.design`): a young CRM has seen only
young deals, and a segment effect learnt there is not carried to older ages. A segment never seen
at an age gets its pooled coefficients there (`pool_unseen_segments`); a band of age, time in
stage, lateness or month ahead never reached gets the hazard pooled over the reached bands by
deal-months (`pool_unseen_bands`), not the last band's carried on (seen least, at its young end).
`beyond_data` flags deals forecast at an age their segment was never seen at.

Deal size (`forecast.size_band_edges`): fixed upper bounds, by default 10k / 50k / 250k, or
`auto` — equal-count bands (quantiles) of the training deals' own amounts, at most five, each of
at least 50 deals, ties never split, so amounts × c give edges × c and the same p (tested). Five:
Cochran (1968); fifty: ten events per coefficient (Peduzzi et al. 1996) for a band's five age-band
coefficients. An unknown amount is a level of its own (the pooled hazard).

Deal age (`forecast.hazard.age_edges`, default 90 / 180 / 365 / 730 days). Monthly bands through
the first year (30, 60, …, 330, 365, 545, 730) let a hazard rise inside a quarter (tested) but are
not the default: what a young CRM lacks is data at the ages ahead, which no band layout supplies.

Forecast. For an open deal at t0 the same features are projected month by month: with the
won / lost hazards h_w(k), h_l(k), P(won in month k) = S(k − 1)·h_w(k) with
S(k) = S(k − 1)·(1 − h_w(k) − h_l(k)); the cumulative curve F gives p(won within any period)
(linear within a month).

Shrinkage (the tested rule). Per stage, with n = training deals seen open in the stage and
κ = `forecast.shrinkage_strength`, every probability is
    p = (n · p_model + κ · p_stage_default) / (n + κ)
where p_stage_default is what the CRM's stage probability says for the same question: the
stage's default probability if the deal's shown close date falls in (or before) the period,
else 0. No samples → exactly the CRM's own forecast; many → the model.

Measurements behind these choices, and the options tried: docs/forecast-decisions.md
(§ Time-to-close model).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import linalg, sparse
from threadpoolctl import threadpool_limits

from acm_sync.scoring.periods import NAT, NS_PER_DAY, utc
from acm_sync.scoring.settings import ForecastConfig
from acm_sync.scoring.stages import DealHistory

MONTH_NS: Final = int(30.4375 * NS_PER_DAY)  # one step of the hazard: an average month
# Days past the shown close date at the start of a month (negative: still ahead).
TIMING_EDGES: Final = (-30.0, 0.0, 30.0, 90.0, 180.0, 365.0)
TIMING_LABELS: Final = (
    "due later",
    "due this month",
    "0–30 days late",
    "31–90 days late",
    "91–180 days late",
    "181–365 days late",
    "over a year late",
    "no close date",
)
IN_STAGE_EDGES: Final = (30.0, 90.0, 180.0)  # days in the current stage
TYPES: Final = ("new", "renewal", "expansion")  # anything else is "other"
MAX_INDUSTRIES: Final = 8  # most frequent industries get their own level, the rest share one
STAY, WON, LOST = 0, 1, 2
# Factors whose effect is learnt per age band (FeatureSpace.design says why).
SEGMENT_FACTORS: Final = frozenset({"size", "type", "industry", "company_size"})
# Deal-size bands learnt from the org's amounts (`size_band_edges`; the module docstring says
# why): at most five equal-count bands, each holding at least 50 training deals.
MAX_SIZE_BANDS: Final = 5
MIN_SIZE_BAND_DEALS: Final = 50


def size_band_edges(
    amounts: npt.ArrayLike,
    max_bands: int = MAX_SIZE_BANDS,
    min_deals: int = MIN_SIZE_BAND_DEALS,
) -> npt.NDArray[np.float64]:
    """Upper bounds of the deal-size bands learnt from training deals' `amounts` (one per
    deal; unknown ones ignored): a band is (previous edge, edge], the last one open above.

    k = min(`max_bands`, n // `min_deals`) equal-count bands: the edges are the amounts at
    ranks ⌈j·n/k⌉, j = 1 … k − 1 (order statistics, so they are amounts the org really has).
    Tied amounts cannot be split, so an edge is kept only if the band it closes and the rest
    above it each hold at least `min_deals` deals (bottom up); the others are dropped, their
    band merged with the next. Fewer than 2 · `min_deals` deals: no edge (one band).
    Only ranks and comparisons are used: amounts all multiplied by c > 0 give edges × c."""
    x = np.sort(np.asarray(amounts, dtype=np.float64))
    x = x[np.isfinite(x)]
    n = len(x)
    k = min(max_bands, n // max(min_deals, 1))
    if k <= 1:
        return np.empty(0)
    ranks = (np.arange(1, k) * n + k - 1) // k  # ⌈j·n/k⌉, 1-based
    edges: list[float] = []
    below = 0  # deals in the bands kept so far
    for edge in np.unique(x[ranks - 1]):
        at_most = int(np.searchsorted(x, edge, side="right"))
        if at_most - below >= min_deals and n - at_most >= min_deals:
            edges.append(float(edge))
            below = at_most
    return np.asarray(edges, dtype=np.float64)


def factor_blocks(factors: tuple[tuple[str, int], ...], n_ages: int) -> list[tuple[str, int, int]]:
    """(factor, first column, columns) of each factor's block in the design, in order: a
    segment factor has levels × age bands columns (level-major), any other one column per
    level; a factor of one level has none. The stage × timing block follows the last."""
    blocks = []
    offset = 0
    for name, size in factors:
        if size <= 1:
            continue
        width = size * n_ages if name in SEGMENT_FACTORS else size
        blocks.append((name, offset, width))
        offset += width
    return blocks


@dataclass(frozen=True)
class DealState:
    """Open deals as of an instant t0 (arrays of equal length)."""

    opp_pos: npt.NDArray[np.int64]
    stage_code: npt.NDArray[np.int64]
    close: npt.NDArray[np.int64]  # ns, NAT = no close date
    entered: npt.NDArray[np.int64]  # ns: entered the current stage (NAT = unknown)
    created: npt.NDArray[np.int64]  # ns (NAT = unknown)
    amount: npt.NDArray[np.float64]
    t0: int


class FeatureSpace:
    """Categorical levels of every feature, and the mixed-radix code of a feature cell."""

    def __init__(
        self,
        history: DealHistory,
        config: ForecastConfig,
        training_amounts: npt.ArrayLike | None = None,
    ) -> None:
        """`training_amounts`: one amount per training deal, for `size_band_edges: auto`
        (without them: every deal's amount in the book). Configured edges ignore them."""
        deals = history.book.opportunities
        self.steps = config.hazard.steps
        self.n_stages = len(history.stages)
        self.age_edges = tuple(float(edge) for edge in config.hazard.age_edges)
        self.n_ages = len(self.age_edges) + 1
        use = set(config.segments)
        self.size_edges = np.empty(0)
        if "size_band" in use and config.size_band_edges == "auto":
            if training_amounts is None:
                training_amounts = deals["amount"].to_numpy(dtype=float, na_value=np.nan)
            self.size_edges = size_band_edges(training_amounts)
        elif "size_band" in use:
            self.size_edges = np.asarray(config.size_band_edges, dtype=float)
        # size levels: the bands, then "amount unknown" (only with the segment in use)
        self.n_sizes = len(self.size_edges) + 2 if "size_band" in use else 1
        type_text = pd.Series(deals["type"], dtype=object).fillna("").to_numpy(dtype=object)
        type_code = np.full(len(deals), len(TYPES), dtype=np.int64)
        if "type" in use:
            for i, name in enumerate(TYPES):
                type_code[type_text == name] = i
        else:
            type_code[:] = 0
        self.deal_type = type_code
        self.n_types = len(TYPES) + 1 if "type" in use else 1
        industry_code = np.zeros(len(deals), dtype=np.int64)
        self.n_industries = 1
        if "industry" in use:
            counts = pd.Series(deals["industry"], dtype=object).value_counts()
            top = list(counts.index[: MAX_INDUSTRIES - 1])
            lookup = {name: i + 1 for i, name in enumerate(top)}
            industry_code = (
                pd.Series(deals["industry"], dtype=object)
                .map(lookup)
                .fillna(0)
                .to_numpy(dtype=np.int64)
            )
            self.n_industries = len(top) + 1
        self.deal_industry = industry_code
        self.n_company_sizes = 1
        company_size = np.zeros(len(deals), dtype=np.int64)
        if "company_size" in use and "employees" in deals:
            edges = np.asarray(config.company_size_edges, dtype=float)
            employees = deals["employees"].to_numpy(dtype=float, na_value=np.nan)
            company_size = np.searchsorted(edges, employees, side="right").astype(np.int64)
            company_size[np.isnan(employees)] = len(edges) + 1
            self.n_company_sizes = len(edges) + 2
        self.deal_company_size = company_size
        # (name, number of levels) in code order
        self.factors: tuple[tuple[str, int], ...] = (
            ("stage", self.n_stages),
            ("step", self.steps),
            ("timing", len(TIMING_LABELS)),
            ("in_stage", len(IN_STAGE_EDGES) + 1),
            ("age", self.n_ages),
            ("size", self.n_sizes),
            ("type", self.n_types),
            ("industry", self.n_industries),
            ("company_size", self.n_company_sizes),
        )

    def cells(self, state: DealState, step: npt.NDArray[np.int64], which: npt.NDArray[np.intp]):
        """Cell code of snapshot `which[i]` in month `step[i]` (1-based)."""
        start = state.t0 + (step - 1) * MONTH_NS  # the month's start
        levels = {
            "stage": state.stage_code[which],
            "step": step - 1,
            "timing": _timing(state.close[which], start),
            "in_stage": _band(_days(state.entered[which], start), IN_STAGE_EDGES),
            "age": _band(_days(state.created[which], start), self.age_edges),
            "size": self.size_level(state.amount[which]),
            "type": self.deal_type[state.opp_pos[which]],
            "industry": self.deal_industry[state.opp_pos[which]],
            "company_size": self.deal_company_size[state.opp_pos[which]],
        }
        code = np.zeros(len(which), dtype=np.int64)
        for name, size in self.factors:
            code = code * size + np.asarray(levels[name], dtype=np.int64)
        return code

    def size_level(self, amount: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Deal-size band of each amount: band i holds (edge i − 1, edge i]; an unknown amount
        is its own level, the last (not the top band's: nothing says it is a large deal)."""
        if self.n_sizes == 1:
            return np.zeros(len(amount), dtype=np.int64)
        level = np.searchsorted(self.size_edges, amount, side="left").astype(np.int64)
        return np.where(np.isnan(amount), self.n_sizes - 1, level)

    def size_bands_text(self) -> str:
        """The deal-size bands in words ("" when deal size is not a feature)."""
        if self.n_sizes == 1:
            return ""
        if not len(self.size_edges):
            return "one deal-size band (too few training deals to split)"
        bounds = [f"{edge:,.0f}" for edge in self.size_edges]
        bands = [f"up to {bounds[0]}"]
        bands += [f"{lo}–{hi}" for lo, hi in pairwise(bounds)]
        return "deal-size bands: " + " · ".join([*bands, f"over {bounds[-1]}"])

    def levels(self, codes: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[np.int64]]:
        out: dict[str, npt.NDArray[np.int64]] = {}
        remaining = codes.copy()
        for name, size in reversed(self.factors):
            out[name] = remaining % size
            remaining //= size
        return out

    def design(self, codes: npt.NDArray[np.int64]) -> sparse.csr_matrix:
        """One-hot main effects of stage, step, timing, time in stage and age; the segments
        (deal size, type, industry, company size) per age band; plus stage × timing (how late
        a deal is means different things in different stages).

        Why segments per age band, with no main effect: a segment's effect is learnt only at
        the ages the training data shows. In a young CRM every deal is young, and a segment
        whose deals close late (large buyers) looks as if it never wins; a main effect would
        carry that to every age. Nested in the age band, the effect at an age no training deal
        of the segment reached has no column used in the fit (coefficient 0): such a deal gets
        the pooled hazard of its stage, timing and age, not an extrapolation. Where every age
        is well seen (a mature org), the bands simply let the effect change with age."""
        levels = self.levels(codes)
        blocks: list[npt.NDArray[np.int64]] = []
        offset = 0
        for name, start, width in factor_blocks(self.factors, self.n_ages):
            if name in SEGMENT_FACTORS:
                blocks.append(levels[name] * self.n_ages + levels["age"] + start)
            else:
                blocks.append(levels[name] + start)
            offset = start + width
        n_timing = len(TIMING_LABELS)
        blocks.append(levels["stage"] * n_timing + levels["timing"] + offset)
        offset += self.n_stages * n_timing
        columns = np.column_stack(blocks)
        n, per_row = columns.shape
        return sparse.csr_matrix(
            (np.ones(n * per_row), columns.reshape(-1), np.arange(0, n * per_row + 1, per_row)),
            shape=(n, offset),
        )

    def ordered_columns(self) -> list[npt.NDArray[np.int64]]:
        """The design's columns along each duration axis, in order: months ahead, time in
        stage, age, days past the close date (without "no close date"), and days past the
        close date per stage (`pool_unseen_bands` fills the levels training never reached)."""
        groups: list[npt.NDArray[np.int64]] = []
        offset = 0
        n_timing = len(TIMING_LABELS)
        for name, start, width in factor_blocks(self.factors, self.n_ages):
            if name in ("step", "in_stage", "age"):
                groups.append(start + np.arange(width))
            elif name == "timing":
                groups.append(start + np.arange(n_timing - 1))
            offset = start + width
        for stage in range(self.n_stages):
            groups.append(offset + stage * n_timing + np.arange(n_timing - 1))
        return groups


def pool_unseen_bands(
    coef: npt.NDArray[np.float64],
    rows: npt.NDArray[np.float64],
    groups: list[npt.NDArray[np.int64]],
) -> npt.NDArray[np.float64]:
    """Within each group of columns (the bands of one duration axis), a band no training row
    reached takes the mean of the reached bands' coefficients, weighted by their training rows
    (`rows`: per design column). A group with no band reached, or every band, is left alone.

    Why pooled, not the nearest band carried forward: the fit leaves an unreached band at 0,
    which is no estimate at all; but the last band reached is no estimate of what lies beyond
    it either. In a young CRM it is seen only at its young end (a six-month-old CRM has seen
    no deal in 90–180 days older than 180), by the deals still open — and which way the
    hazard goes after it depends on the business: where buyers are a mix of fast and slow
    (large deals), the survivors past the data are the slow ones and the last band's hazard
    is too high (measured on crm-dataset-builder's manufacturer: +67 % on the first
    quarter); where deals take long to mature (consultancy) it is too low. The data say
    nothing about the direction, so the model assumes none: the hazard of the axis as
    training saw it on average, as a model without that axis would give (the same rule as
    `pool_unseen_segments`, across bands instead of across levels)."""
    out = coef.copy()
    for group in groups:
        weight = rows[group]
        seen = weight > 0
        if not seen.any() or seen.all():
            continue
        pooled = (weight[seen, None] * coef[group[seen]]).sum(axis=0) / weight[seen].sum()
        out[group[~seen]] = pooled
    return out


def pool_unseen_segments(
    coef: npt.NDArray[np.float64],
    rows: npt.NDArray[np.float64],
    space: FeatureSpace,
) -> npt.NDArray[np.float64]:
    """A (segment level, age band) training never saw gets the segment factor's pooled
    coefficients at that age: the mean over the levels seen there, weighted by training rows
    (`rows`: per design column), or — an age band nobody reached — the mean of the pooled
    coefficients over the bands seen, weighted by their rows (as `pool_unseen_bands`).

    Why: the L2 penalty shares an age effect between the age columns and every segment ×
    age column (they overlap), so a level's column holds its segment's part of the common age
    effect plus its own deviation. Left at 0, an unseen cell would drop that common part;
    pooled, it keeps it and drops only the deviation — the segment's own effect is never
    carried to an age it was not seen at, the common age shape is (`pool_unseen_bands`)."""
    out = coef.copy()
    n_ages = space.n_ages
    for name, start, width in factor_blocks(space.factors, n_ages):
        if name not in SEGMENT_FACTORS:
            continue
        columns = start + np.arange(width).reshape(-1, n_ages)
        weight = rows[columns]  # levels × age bands
        seen_band = weight.sum(axis=0) > 0
        if seen_band.any():
            pooled = np.zeros((n_ages, coef.shape[1]))
            for band in np.flatnonzero(seen_band):
                w = weight[:, band]
                pooled[band] = (w[:, None] * coef[columns[:, band]]).sum(axis=0) / w.sum()
            band_rows = weight.sum(axis=0)[seen_band]
            pooled[~seen_band] = (band_rows[:, None] * pooled[seen_band]).sum(axis=0) / (
                band_rows.sum()
            )
            unseen = weight <= 0
            unseen_level, unseen_band = np.nonzero(unseen)
            out[columns[unseen_level, unseen_band]] = pooled[unseen_band]
    return out


@dataclass(frozen=True)
class CloseModel:
    """A fitted hazard model (or none: `fitted` False → every p is the stage default).

    coef: (features × 2) log-odds of won / lost against staying open; intercept: (2,).
    segment_months: per segment factor in use, (levels × age bands) deal-months seen in
        training — where it is 0 the segment was never seen at that age (`beyond_data`).
    stage_deals: per stage code, training deals seen open in it (the n of the shrinkage).
    stage_prior: per stage code, the CRM default probability (unknown → config fallback).
    """

    as_of: pd.Timestamp
    space: FeatureSpace
    coef: npt.NDArray[np.float64]
    intercept: npt.NDArray[np.float64]
    fitted: bool
    segment_months: dict[str, npt.NDArray[np.float64]]
    stage_deals: npt.NDArray[np.float64]
    stage_wins: npt.NDArray[np.float64]
    stage_losses: npt.NDArray[np.float64]
    stage_prior: npt.NDArray[np.float64]
    strength: float
    training_deals: int
    training_rows: int
    resolved_deals: int

    def cumulative(self, state: DealState) -> npt.NDArray[np.float64]:
        """(deals × steps + 1) model-only P(won by the end of month k), column 0 = 0."""
        n, steps = len(state.opp_pos), self.space.steps
        out = np.zeros((n, steps + 1))
        if not self.fitted or n == 0:
            return out
        which = np.repeat(np.arange(n), steps)
        step = np.tile(np.arange(1, steps + 1, dtype=np.int64), n)
        z = self.space.design(self.space.cells(state, step, which)) @ self.coef + self.intercept
        top = np.maximum(z.max(axis=1), 0.0)
        denominator = np.exp(-top) + np.exp(z[:, 0] - top) + np.exp(z[:, 1] - top)
        h_won = (np.exp(z[:, 0] - top) / denominator).reshape(n, steps)
        h_lost = (np.exp(z[:, 1] - top) / denominator).reshape(n, steps)
        survive = np.cumprod(1.0 - h_won - h_lost, axis=1)
        before = np.column_stack([np.ones(n), survive[:, :-1]])
        out[:, 1:] = np.cumsum(before * h_won, axis=1)
        return out

    def beyond_data(self, state: DealState, months: float) -> npt.NDArray[np.bool_]:
        """Per deal: whether, in some month of the next `months` (at most `steps`), the deal is
        at an age at which training never saw a deal of its segment (not even open) — there
        the model gives it the pooled hazard of the deals seen at that age, or of those seen
        at any age (`pool_unseen_segments`, `pool_unseen_bands`), not one of the segment's own. An
        age seen with no close is not beyond the data: the model learnt a low hazard there.
        False everywhere when the model is not fitted (then every p is the stage default)."""
        n = len(state.opp_pos)
        out = np.zeros(n, dtype=bool)
        steps = min(int(np.ceil(months)), self.space.steps)
        if not self.fitted or n == 0 or steps <= 0 or not self.segment_months:
            return out
        which = np.repeat(np.arange(n), steps)
        step = np.tile(np.arange(1, steps + 1, dtype=np.int64), n)
        levels = self.space.levels(self.space.cells(state, step, which))
        unseen = np.zeros(len(which), dtype=bool)
        for name, months_seen in self.segment_months.items():
            unseen |= months_seen[levels[name], levels["age"]] <= 0
        np.logical_or.at(out, which, unseen)
        return out

    def weight(self, stage_code: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """n / (n + κ): how much the model counts against the stage default."""
        if not self.fitted:
            return np.zeros(len(stage_code))
        return shrinkage_weight(self.stage_deals[stage_code], self.strength)

    def win_within(
        self,
        state: DealState,
        bounds: npt.NDArray[np.int64],
        curve: npt.NDArray[np.float64] | None = None,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per deal and period [bounds[i], bounds[i+1]) (bounds[0] ≥ t0, ns): (p shrunk,
        p model, p stage default). The stage default counts the deal in the period its shown
        close date falls in, an overdue one in the first — the CRM's own forecast."""
        curve = self.cumulative(state) if curve is None else curve
        months = (np.asarray(bounds, dtype=np.float64) - state.t0) / MONTH_NS
        at = np.stack([_interpolate(curve, m) for m in months], axis=1)
        p_model = np.diff(at, axis=1)
        prior = self.stage_prior[state.stage_code]
        close = state.close.astype(np.float64)
        close = np.where(state.close == NAT, np.inf, np.maximum(close, float(bounds[0])))
        in_period = (close[:, None] >= bounds[None, :-1]) & (close[:, None] < bounds[None, 1:])
        p_default = np.where(in_period, prior[:, None], 0.0)
        w = self.weight(state.stage_code)[:, None]
        return shrink_toward(p_model, p_default, w), p_model, p_default


def shrinkage_weight(samples: npt.ArrayLike, strength: float) -> npt.NDArray[np.float64]:
    """n / (n + κ); 0 without samples (κ = 0 and n = 0 → 0 as well)."""
    n = np.asarray(samples, dtype=np.float64)
    denominator = n + strength
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, n / denominator, 0.0)


def shrink_toward(
    p_model: npt.NDArray[np.float64], p_default: npt.NDArray[np.float64], weight: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """weight · p_model + (1 − weight) · p_default, clipped to [0, 1]."""
    w = np.asarray(weight, dtype=np.float64)
    return np.clip(w * p_model + (1.0 - w) * p_default, 0.0, 1.0)


class _Snapshots:
    """The stage history as plain arrays, for many "open deals at t" queries in a row (the
    same rule as `DealHistory.state_at`, without building a frame per landmark)."""

    def __init__(self, history: DealHistory) -> None:
        rows = history.rows
        self.opp = rows["opp_pos"].to_numpy()
        self.stage = rows["stage_code"].to_numpy()
        self.changed = rows["changed_at"].to_numpy()
        self.close = rows["close_date"].to_numpy()
        self.amount = rows["amount"].to_numpy(dtype=np.float64)
        self.run_start = rows["run_start"].to_numpy()
        self.next_same = np.append(self.opp[1:] == self.opp[:-1], False)
        self.open_stage = ~history.is_closed_stage(self.stage)
        self.created = _created(history)

    def at(self, instant_ns: int) -> DealState:
        seen = self.changed < instant_ns
        next_seen = np.append(seen[1:], False)
        last = np.flatnonzero(seen & ~(self.next_same & next_seen) & self.open_stage)
        opp_pos = self.opp[last]
        created = self.created[opp_pos]
        return DealState(
            opp_pos=opp_pos,
            stage_code=self.stage[last],
            close=self.close[last],
            entered=self.run_start[last],
            created=np.where(created == NAT, self.run_start[last], created),
            amount=self.amount[last],
            t0=int(instant_ns),
        )


def state_at(history: DealHistory, instant_ns: int) -> DealState:
    """Open deals as the stage history had them just before `instant_ns`."""
    return _Snapshots(history).at(instant_ns)


def learn_close_model(
    history: DealHistory, as_of: pd.Timestamp, config: ForecastConfig
) -> CloseModel:
    """Fit the hazard model on what the stage history shows before `as_of`."""
    instant = utc(as_of)
    cutoff = instant.value
    closed_at, won = resolution(history)
    n_deals = len(history.book.opportunities)
    fraction = min(1.0, config.hazard.max_training_deals / max(n_deals, 1))
    sampled = _sample(n_deals, fraction)
    weight = 1.0 / fraction
    # each landmark's deal-months weigh 1 / landmarks a month (training_landmarks says why)
    row_weight = weight / config.hazard.landmarks_per_month

    steps = config.hazard.steps
    seen_in_stage = np.zeros((0,), dtype=np.int64)
    seen_parts: list[npt.NDArray[np.int64]] = []
    # per landmark: the open deals, which of them are learnt from, months followed, and
    # whether the last month ends in a close (cells are coded once the size bands are known)
    followed: list[
        tuple[DealState, npt.NDArray[np.intp], npt.NDArray[np.int64], npt.NDArray[np.bool_]]
    ] = []
    closed_parts: list[npt.NDArray[np.int64]] = []  # deals whose close a landmark's rows hold
    landmarks = training_landmarks(
        instant, config.training_window_days, config.hazard.landmarks_per_month
    )
    n_stages = len(history.stages)
    snapshots = _Snapshots(history)
    for landmark in landmarks:
        t0 = landmark.value
        state = snapshots.at(t0)
        ok = sampled[state.opp_pos] & ~(
            (closed_at[state.opp_pos] != NAT) & (closed_at[state.opp_pos] < t0)
        )
        if not ok.any():
            continue
        which = np.flatnonzero(ok)
        done = closed_at[state.opp_pos[which]]
        observed = (done != NAT) & (done < cutoff)
        event_step = np.where(observed, (done - t0) // MONTH_NS + 1, np.iinfo(np.int64).max)
        # Known: a 30-day month before a cutoff on the next 1st is not a whole step, so Q3 / Q4
        # origins learn without their latest month. Calendar-month steps (branch issue-13l)
        # measured worse on held-out data (#13), so this stays until the model's size and age
        # bands are fixed.
        full_steps = (cutoff - t0) // MONTH_NS
        n_steps = np.minimum(np.minimum(event_step, full_steps), steps)
        n_steps = np.maximum(n_steps, 0)
        has_event = observed & (event_step <= np.minimum(full_steps, steps))
        which, n_steps, has_event = which[n_steps > 0], n_steps[n_steps > 0], has_event[n_steps > 0]
        if not len(which):
            continue
        seen_parts.append(state.opp_pos[which] * n_stages + state.stage_code[which])
        followed.append((state, which, n_steps, has_event))
        closed_parts.append(state.opp_pos[which[has_event]])

    # the training deals' amounts are read only for bands learnt from them
    learnt_sizes = config.size_band_edges == "auto" and "size_band" in config.segments
    space = FeatureSpace(history, config, _last_amounts(followed) if learnt_sizes else None)
    codes: list[npt.NDArray[np.int64]] = []
    for state, which, n_steps, has_event in followed:
        rows = np.repeat(np.arange(len(which)), n_steps)
        first = np.cumsum(n_steps) - n_steps
        step = np.arange(len(rows)) - np.repeat(first, n_steps) + 1
        last = step == np.repeat(n_steps, n_steps)
        outcome = np.full(len(rows), STAY, dtype=np.int64)
        ends = last & np.repeat(has_event, n_steps)
        outcome[ends] = np.where(won[state.opp_pos[which[rows[ends]]]], WON, LOST)
        cell = space.cells(state, step.astype(np.int64), which[rows])
        codes.append(cell * 3 + outcome)

    stage_prior = _stage_prior(history, config)
    if seen_parts:
        pairs = np.unique(np.concatenate(seen_parts))
        seen_in_stage = pairs % n_stages
        deal_of_pair = pairs // n_stages
    else:
        deal_of_pair = np.zeros(0, dtype=np.int64)
    stage_deals = np.bincount(seen_in_stage, minlength=n_stages).astype(np.float64) * weight
    resolved = (closed_at != NAT) & (closed_at < cutoff)
    deal_won = resolved[deal_of_pair] & won[deal_of_pair]
    deal_lost = resolved[deal_of_pair] & ~won[deal_of_pair]
    stage_wins = (
        np.bincount(seen_in_stage, weights=deal_won, minlength=n_stages).astype(np.float64) * weight
    )
    stage_losses = (
        np.bincount(seen_in_stage, weights=deal_lost, minlength=n_stages).astype(np.float64)
        * weight
    )

    all_codes = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
    unique, counts = np.unique(all_codes, return_counts=True)
    cell, outcome = unique // 3, unique % 3
    cells, inverse = np.unique(cell, return_inverse=True)
    table = np.zeros((len(cells), 3))
    np.add.at(table, (inverse.reshape(-1), outcome), counts * row_weight)
    cell_levels = space.levels(cells)
    segment_months: dict[str, npt.NDArray[np.float64]] = {
        name: np.bincount(
            cell_levels[name] * space.n_ages + cell_levels["age"],
            weights=table.sum(axis=1),
            minlength=size * space.n_ages,
        )
        .astype(np.float64)
        .reshape(size, space.n_ages)
        for name, size in space.factors
        if name in SEGMENT_FACTORS and size > 1
    }
    enough = min(closes_seen(closed_parts, won, weight)) >= config.hazard.min_events
    p = space.design(np.zeros(1, dtype=np.int64)).shape[1]
    coef, intercept = np.zeros((p, 2)), np.zeros(2)
    if enough:
        design = space.design(cells)
        coef, intercept = fit_multinomial(design, table, config.hazard.l2)
        rows = design.T @ table.sum(axis=1)
        coef = pool_unseen_bands(coef, rows, space.ordered_columns())
        coef = pool_unseen_segments(coef, rows, space)
    return CloseModel(
        as_of=instant,
        space=space,
        coef=coef,
        intercept=intercept,
        fitted=bool(enough),
        segment_months=segment_months,
        stage_deals=stage_deals,
        stage_wins=stage_wins,
        stage_losses=stage_losses,
        stage_prior=stage_prior,
        strength=config.shrinkage_strength,
        training_deals=round(len(np.unique(deal_of_pair)) * weight),
        training_rows=round(table.sum()),
        resolved_deals=int(resolved.sum()),
    )


def closes_seen(
    closed_parts: list[npt.NDArray[np.int64]], won: npt.NDArray[np.bool_], weight: float
) -> tuple[float, float]:
    """(wins, losses) the training rows hold, counted once per deal (× the sampling weight),
    however many landmarks saw it close: what `hazard.min_events` asks for. A deal seen from
    four landmarks a week apart is one close, not four, nor the 4 × 1/4 of its rows' weight
    (which would count a deal open three weeks as 3/4 of a close)."""
    if not closed_parts:
        return 0.0, 0.0
    deals = np.unique(np.concatenate(closed_parts))
    wins = float(won[deals].sum())
    return wins * weight, (len(deals) - wins) * weight


def training_landmarks(as_of: pd.Timestamp, window_days: int, per_month: int) -> pd.DatetimeIndex:
    """The instants whose open deals are the training snapshots: each calendar month start
    within the `window_days` before `as_of` and, for `per_month` > 1, `per_month` − 1 more in
    every month, floor(j · 30.4375 / per_month) days after its start (j = 1 … per_month − 1:
    days 8, 16 and 23 for 4), all on or after the window's first day and before `as_of`.

    Why more than the month starts, and why each weighs 1 / per_month (the rule in the module
    docstring, "Landmarks"): the training rows should be what the open pipeline looks like on
    any day, and month starts alone see a deal open less than a month only if it spans one."""
    start = (as_of - pd.Timedelta(days=window_days)).floor("D")
    months = pd.date_range(start.replace(day=1), as_of, freq="MS")
    offsets = [pd.Timedelta(days=int(j * 30.4375 / per_month)) for j in range(per_month)]
    instants = pd.DatetimeIndex(months.append([months + offset for offset in offsets[1:]]))
    instants = instants.sort_values()
    return instants[(instants >= start) & (instants < as_of)]


def fit_multinomial(
    design: sparse.csr_matrix, counts: npt.NDArray[np.float64], l2: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Multinomial logit (stay = reference; won, lost) on cell counts, L2 on the coefficients
    (not the intercepts): the penalised negative log-likelihood, minimised by Newton's method
    with step halving (convex; a few hundred parameters, so the exact Hessian is cheap).
    Columns no training cell uses (stages never seen, say) are left out of the fit and get 0."""
    used = np.flatnonzero(design.getnnz(axis=0) > 0)
    # A few hundred parameters: one thread solves in a millisecond, while a threaded BLAS on a
    # busy machine spends ~0.5 s per solve waking its threads.
    with threadpool_limits(limits=1, user_api="blas"):
        coef_used, intercept = _fit_columns(design[:, used].tocsr(), counts, l2)
    coef = np.zeros((design.shape[1], 2))
    coef[used] = coef_used
    return coef, intercept


def _fit_columns(
    design: sparse.csr_matrix, counts: npt.NDArray[np.float64], l2: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    n_rows, p = design.shape
    augmented = sparse.hstack([design, sparse.csr_matrix(np.ones((n_rows, 1)))]).tocsr()
    augmented_t = augmented.T.tocsr()
    q = p + 1
    total = counts.sum(axis=1)
    penalty = np.r_[np.full(p, l2), 0.0, np.full(p, l2), 0.0] + 1e-9

    def unpack(theta: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return theta.reshape(2, q).T  # (q × 2): column 0 won, 1 lost

    def evaluate(
        theta: npt.NDArray[np.float64],
    ) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        z = augmented @ unpack(theta)
        top = np.maximum(z.max(axis=1), 0.0)
        log_norm = top + np.log(np.exp(-top) + np.exp(z[:, 0] - top) + np.exp(z[:, 1] - top))
        value = float((total * log_norm).sum() - (counts[:, 1:] * z).sum())
        value += 0.5 * float((penalty * theta**2).sum())
        return value, z, log_norm

    rates = counts[:, 1:].sum(axis=0) / max(total.sum(), 1.0)
    theta = np.zeros(2 * q)
    theta[[p, q + p]] = np.log(np.maximum(rates, 1e-6) / max(1.0 - rates.sum(), 1e-6))
    value, z, log_norm = evaluate(theta)
    for _ in range(100):
        prob = np.exp(z - log_norm[:, None])
        residual = prob * total[:, None] - counts[:, 1:]
        grad = np.concatenate([augmented_t @ residual[:, 0], augmented_t @ residual[:, 1]])
        grad += penalty * theta
        blocks = {}
        for a, b in ((0, 0), (0, 1), (1, 1)):
            weight = total * (prob[:, a] * ((a == b) - prob[:, b]))
            blocks[a, b] = (augmented_t @ augmented.multiply(weight[:, None])).toarray()
        hessian = np.block([[blocks[0, 0], blocks[0, 1]], [blocks[0, 1], blocks[1, 1]]])
        hessian[np.diag_indices_from(hessian)] += penalty
        step = linalg.solve(hessian, grad, assume_a="pos", check_finite=False)
        size = 1.0
        while True:
            candidate = theta - size * step
            new_value, new_z, new_log_norm = evaluate(candidate)
            if new_value <= value or size < 1e-4:
                break
            size /= 2
        improvement = value - new_value
        theta, value, z, log_norm = candidate, new_value, new_z, new_log_norm
        if improvement < 1e-6 * max(abs(value), 1.0):
            break
    coef = unpack(theta)
    return coef[:p], coef[p]


def resolution(history: DealHistory) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Per book deal: when it first entered a closed stage (ns, NAT = never) and whether that
    was a win. A deal closed in the CRM without such a history row closes at its close date."""
    rows = history.rows
    n = len(history.book.opportunities)
    closed_at = np.full(n, NAT, dtype=np.int64)
    won = np.zeros(n, dtype=bool)
    stage = rows["stage_code"].to_numpy()
    closing = history.is_closed_stage(stage)
    opp = rows["opp_pos"].to_numpy()[closing]
    changed = rows["changed_at"].to_numpy()[closing]
    # rows are time-sorted per deal: the first closing row per deal is its resolution
    first = np.ones(len(opp), dtype=bool)
    first[1:] = opp[1:] != opp[:-1]
    closed_at[opp[first]] = changed[first]
    won[opp[first]] = history.stages["is_won"].to_numpy(dtype=bool)[stage[closing][first]]
    deals = history.book.opportunities
    from acm_sync.scoring.periods import nanos

    fallback = (closed_at == NAT) & deals["is_closed"].to_numpy(dtype=bool)
    closed_at[fallback] = nanos(deals["close_date"])[fallback]
    won[fallback] = deals["is_won"].to_numpy(dtype=bool)[fallback]
    return closed_at, won


def _last_amounts(
    followed: list[tuple[DealState, npt.NDArray[np.intp], Any, Any]],
) -> npt.NDArray[np.float64]:
    """One amount per training deal: as the last landmark that learnt from it saw it."""
    if not followed:
        return np.empty(0)
    opp = np.concatenate([state.opp_pos[which] for state, which, _, _ in followed])
    amount = np.concatenate([state.amount[which] for state, which, _, _ in followed])
    _, last = np.unique(opp[::-1], return_index=True)
    return amount[::-1][last]


def _stage_prior(history: DealHistory, config: ForecastConfig) -> npt.NDArray[np.float64]:
    default = history.stages["default_probability"].to_numpy(dtype=np.float64)
    return np.where(np.isnan(default), config.unknown_stage_probability, default)


def _created(history: DealHistory) -> npt.NDArray[np.int64]:
    from acm_sync.scoring.periods import nanos

    return nanos(history.book.opportunities["created_at"])


def _sample(n: int, fraction: float) -> npt.NDArray[np.bool_]:
    """A deterministic share of deals (by position hash) for large orgs."""
    if fraction >= 1.0:
        return np.ones(n, dtype=bool)
    hashed = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
    return hashed.astype(np.float64) / 2**32 < fraction


def _days(since: npt.NDArray[np.int64], at: npt.NDArray[np.int64] | int) -> npt.NDArray[np.float64]:
    out = (np.asarray(at, dtype=np.float64) - since.astype(np.float64)) / NS_PER_DAY
    return np.where(since == NAT, 0.0, out)


def _band(days: npt.NDArray[np.float64], edges: tuple[float, ...]) -> npt.NDArray[np.int64]:
    return np.searchsorted(np.asarray(edges), days, side="right").astype(np.int64)


def _timing(close: npt.NDArray[np.int64], start: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    late = (start.astype(np.float64) - close.astype(np.float64)) / NS_PER_DAY
    band = np.searchsorted(np.asarray(TIMING_EDGES), late, side="right").astype(np.int64)
    return np.where(close == NAT, len(TIMING_LABELS) - 1, band)


def _interpolate(curve: npt.NDArray[np.float64], months: float) -> npt.NDArray[np.float64]:
    """F at a fractional month (linear within a month, flat past the last one)."""
    steps = curve.shape[1] - 1
    m = float(np.clip(months, 0.0, steps))
    low = int(np.floor(m))
    high = min(low + 1, steps)
    frac = m - low
    return curve[:, low] * (1 - frac) + curve[:, high] * frac
