"""Win probabilities learnt from the org's own deal history.

For each stage: among resolved deals that *passed through* the stage, the share that were
won — shrunk toward the stage's default probability (what the CRM says) with a Beta prior of
`shrinkage_strength` pseudo-deals:

    p(stage) = (wins + k · default) / (resolved deals + k)

so a stage with no history keeps its default and one with thousands of deals follows its own
record. "Resolved" means closed won / lost — or, since reps leave dead deals open, still open
with a close date more than `abandoned_after_days` in the past (counted lost). Counting only
closed deals would make every stage look better than it is: the deals that die quietly never
close.

Two refinements, each used only where samples suffice (`min_segment_samples`) and shrunk
toward p(stage) with `segment_shrinkage_strength`:

- overdue band: deals that sat in the stage with their close date passed by more than an edge
  of `overdue_band_edges_days` — a deal 200 days late is not a fresh one;
- segment: deal type / size band / industry (`segments`) for deals not overdue.

Only history recorded before `as_of` is used (resolution within
`training_window_days`), which keeps backtests honest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from acm_sync.config import ForecastConfig
from acm_sync.scoring import text
from acm_sync.scoring.periods import NAT, NS_PER_DAY, Instant, utc
from acm_sync.scoring.stages import DealHistory

BASIS: Final = ("overdue band", "segment", "stage", "stage default", "unknown stage")


@dataclass(frozen=True)
class WinRates:
    """What was learnt as of one instant.

    by_stage (row = stage code): source, stage, default_probability, prior, samples, wins,
        empirical_rate (NaN without samples), p_win.
    by_overdue: stage_code, source, stage, overdue_band (1 = past the first edge, …),
        overdue_label, band_factor (wins / expected across stages), samples, wins, p_win —
        every open stage, for bands with enough late deals overall.
    by_segment: stage_code, source, stage, segment_code, segment, samples, wins, p_win — only
        segments with enough samples.
    training_deals: resolved deals learnt from.
    """

    as_of: pd.Timestamp
    training_deals: int
    segments: tuple[str, ...]
    by_stage: pd.DataFrame
    by_overdue: pd.DataFrame
    by_segment: pd.DataFrame


class SegmentSpace:
    """Mixed-radix integer codes for (type, size band, industry) combinations."""

    def __init__(self, history: DealHistory, config: ForecastConfig) -> None:
        deals = history.book.opportunities
        self.dimensions = config.segments
        self.edges = np.asarray(config.size_band_edges, dtype=float)
        self._levels: dict[str, npt.NDArray[np.object_]] = {}
        self._static: dict[str, npt.NDArray[np.int64]] = {}
        for name in ("type", "industry"):
            codes, uniques = pd.factorize(text.objects(deals[name]))
            self._levels[name] = np.append(np.asarray(uniques, dtype=object), "unknown")
            self._static[name] = np.where(codes < 0, len(uniques), codes).astype(np.int64)
        self._levels["size_band"] = _band_labels(self.edges, history.book.currency)

    @property
    def size(self) -> int:
        return int(np.prod([len(self._levels[d]) for d in self.dimensions], dtype=np.int64))

    def codes(
        self, opp_pos: npt.NDArray[np.int64], amount: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int64]:
        code = np.zeros(len(opp_pos), dtype=np.int64)
        for name in self.dimensions:
            if name == "size_band":
                level = np.searchsorted(self.edges, amount, side="left").astype(np.int64)
            else:
                level = self._static[name][opp_pos]
            code = code * len(self._levels[name]) + level
        return code

    def labels(self, codes: npt.NDArray[np.int64]) -> text.Text:
        parts = []
        remaining = codes.copy()
        for name in reversed(self.dimensions):
            levels = self._levels[name]
            parts.append(f"{name}=" + text.strings(levels[remaining % len(levels)]))
            remaining //= len(levels)
        everywhere = np.ones(len(codes), dtype=bool)
        return text.join([(everywhere, part) for part in reversed(parts)], ", ")


def learn_win_rates(history: DealHistory, as_of: Instant, config: ForecastConfig) -> WinRates:
    """Calibrated win rates by stage (and overdue band / segment) from deals resolved by
    `as_of`."""
    instant = utc(as_of)
    outcomes = _outcomes(history, instant.value, config)
    passed = _passed_through(history, outcomes, instant.value)

    stages = history.stages
    stage = passed["stage_code"].to_numpy()
    won = passed["won"].to_numpy()
    samples = np.bincount(stage, minlength=len(stages)).astype(float)
    wins = np.bincount(stage, weights=won, minlength=len(stages)).astype(np.float64)
    default = stages["default_probability"].to_numpy()
    prior = np.where(np.isnan(default), config.unknown_stage_probability, default)
    p_stage = shrink(wins, samples, prior, config.shrinkage_strength)

    by_stage = stages[["source", "stage", "default_probability"]].copy()
    by_stage["prior"] = prior
    by_stage["samples"] = samples.astype(np.int64)
    by_stage["wins"] = wins.astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        by_stage["empirical_rate"] = np.where(samples > 0, wins / samples, np.nan)
    by_stage["p_win"] = p_stage
    return WinRates(
        instant,
        len(outcomes),
        config.segments,
        by_stage,
        _overdue_rates(history, passed, p_stage, config),
        _segment_rates(history, passed, p_stage, config),
    )


def shrink(
    wins: npt.NDArray[np.float64],
    samples: npt.NDArray[np.float64],
    prior: npt.NDArray[np.float64],
    strength: float,
) -> npt.NDArray[np.float64]:
    """Beta-binomial posterior mean: (wins + k·prior) / (samples + k); prior when empty."""
    denominator = samples + strength
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        posterior = (wins + strength * prior) / denominator
    return np.clip(np.where(denominator > 0, posterior, prior), 0.0, 1.0)


def overdue_band(
    days_overdue: npt.NDArray[np.float64], config: ForecastConfig
) -> npt.NDArray[np.int64]:
    """0 = on time or within the first edge; 1 = past the first edge; …"""
    edges = np.asarray(config.overdue_band_edges_days, dtype=float)
    return np.searchsorted(edges, np.nan_to_num(days_overdue), side="left").astype(np.int64)


def win_probability(
    history: DealHistory,
    rates: WinRates,
    config: ForecastConfig,
    opp_pos: npt.NDArray[np.int64],
    stage_code: npt.NDArray[np.int64],
    amount: npt.NDArray[np.float64],
    days_overdue: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], text.Text, text.Text]:
    """Calibrated p(win) for deals in `stage_code` now: (p, basis, segment / band label)."""
    by_stage = rates.by_stage
    p = by_stage["p_win"].to_numpy()[stage_code].copy()
    samples = by_stage["samples"].to_numpy()[stage_code]
    unknown = np.isnan(by_stage["default_probability"].to_numpy()[stage_code])
    basis = np.where(
        samples > 0, "stage", np.where(unknown, "unknown stage", "stage default")
    ).astype(object)
    label = text.constant("", len(stage_code))

    band = overdue_band(days_overdue, config)
    late = band > 0
    overdue_table = rates.by_overdue
    n_bands = len(config.overdue_band_edges_days) + 1
    hit, rows = _lookup(
        stage_code * n_bands + band,
        (overdue_table["stage_code"] * n_bands + overdue_table["overdue_band"]).to_numpy(),
    )
    hit &= late
    p[hit] = overdue_table["p_win"].to_numpy()[rows[hit]]
    basis[hit] = "overdue band"
    label[hit] = overdue_table["overdue_label"].to_numpy(dtype=object)[rows[hit]]

    if rates.segments and len(rates.by_segment):
        space = SegmentSpace(history, config)
        table = rates.by_segment
        seg_hit, seg_rows = _lookup(
            stage_code * space.size + space.codes(opp_pos, amount),
            (table["stage_code"] * space.size + table["segment_code"]).to_numpy(),
        )
        seg_hit &= ~hit  # an overdue band says more than the segment does
        p[seg_hit] = table["p_win"].to_numpy()[seg_rows[seg_hit]]
        basis[seg_hit] = "segment"
        label[seg_hit] = table["segment"].to_numpy(dtype=object)[seg_rows[seg_hit]]
    return p, basis, label


def _lookup(
    keys: npt.NDArray[np.int64], table_keys: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """(found, row in table) for each key."""
    if len(table_keys) == 0:
        return np.zeros(len(keys), dtype=bool), np.zeros(len(keys), dtype=np.int64)
    order = np.argsort(table_keys, kind="stable")
    sorted_keys = table_keys[order]
    at = np.clip(np.searchsorted(sorted_keys, keys), 0, len(sorted_keys) - 1)
    return sorted_keys[at] == keys, order[at].astype(np.int64)


def _outcomes(history: DealHistory, now: int, config: ForecastConfig) -> pd.DataFrame:
    """Deals resolved at `now`: closed by their recorded stage, or abandoned (open, close date
    more than `abandoned_after_days` ago → lost). Within the training window."""
    state = history.state_at(now)
    stage = state["stage_code"].to_numpy()
    closed = history.is_closed_stage(stage)
    close = state["close_date"].to_numpy()
    abandoned = ~closed & (close != NAT) & (close < now - config.abandoned_after_days * NS_PER_DAY)
    resolved_at = np.where(closed, state["changed_at"].to_numpy(), now)
    keep = (closed | abandoned) & (resolved_at >= now - config.training_window_days * NS_PER_DAY)
    won = closed & history.stages["is_won"].to_numpy(dtype=bool)[stage]
    return pd.DataFrame(
        {
            "opp_pos": state["opp_pos"].to_numpy()[keep],
            "won": won[keep],
            "amount": state["amount"].to_numpy()[keep],
        }
    )


def _passed_through(history: DealHistory, outcomes: pd.DataFrame, now: int) -> pd.DataFrame:
    """One row per (resolved deal, open stage it was in before `now`): opp_pos, stage_code,
    won, amount (at resolution), max_days_overdue (latest its close date was while in the
    stage, 0 if never)."""
    rows = history.rows
    n_deals = len(history.book.opportunities)
    resolved = np.zeros(n_deals, dtype=bool)
    won_of = np.zeros(n_deals, dtype=bool)
    amount_of = np.zeros(n_deals)
    pos = outcomes["opp_pos"].to_numpy()
    resolved[pos] = True
    won_of[pos] = outcomes["won"].to_numpy()
    amount_of[pos] = outcomes["amount"].to_numpy()

    opp = rows["opp_pos"].to_numpy()
    stage = rows["stage_code"].to_numpy()
    changed = rows["changed_at"].to_numpy()
    close = rows["close_date"].to_numpy()
    # each row holds until the deal's next row (or `now`): how late was it by then?
    next_same = np.append(opp[1:] == opp[:-1], False)
    until = np.minimum(np.where(next_same, np.append(changed[1:], now), now), now)
    late_days = np.where(close != NAT, (until - close.astype(np.float64)) / NS_PER_DAY, 0.0)

    keep = resolved[opp] & (changed < now) & ~history.is_closed_stage(stage)
    n_stages = len(history.stages)
    pair = opp[keep] * n_stages + stage[keep]
    unique_pair, inverse = np.unique(pair, return_inverse=True)
    max_late = np.zeros(len(unique_pair))
    np.maximum.at(max_late, inverse.reshape(-1), np.maximum(late_days[keep], 0.0))
    passed_opp = unique_pair // n_stages
    return pd.DataFrame(
        {
            "opp_pos": passed_opp,
            "stage_code": unique_pair % n_stages,
            "won": won_of[passed_opp],
            "amount": amount_of[passed_opp],
            "max_days_overdue": max_late,
        }
    )


def _overdue_rates(
    history: DealHistory,
    passed: pd.DataFrame,
    p_stage: npt.NDArray[np.float64],
    config: ForecastConfig,
) -> pd.DataFrame:
    """Per stage and overdue band b ≥ 1 (deals that sat in the stage more than edge b days
    late; one 100 days late also passed through "31–90 days late").

    Late deals are few per stage, so the band's effect is learnt across stages first — the
    ratio of wins to what p(stage) expected, shrunk toward 1 — and each stage's rate is then
    shrunk toward p(stage) × that ratio. A band needs `min_segment_samples` late deals in all.
    """
    edges = config.overdue_band_edges_days
    strength = config.segment_shrinkage_strength
    n_stages = len(history.stages)
    open_stages = np.flatnonzero(~history.stages["is_closed"].to_numpy(dtype=bool))
    frames = [_empty_overdue_table()]
    for band, edge in enumerate(edges, start=1):
        late = passed.loc[passed["max_days_overdue"].to_numpy() > edge]
        if len(late) < config.min_segment_samples:
            continue
        stage = late["stage_code"].to_numpy()
        won = late["won"].to_numpy()
        expected = p_stage[stage]
        typical = expected.mean()
        factor = (won.sum() + strength * typical) / (expected.sum() + strength * typical)
        samples = np.bincount(stage, minlength=n_stages).astype(float)[open_stages]
        wins = np.bincount(stage, weights=won, minlength=n_stages).astype(np.float64)[open_stages]
        prior = np.clip(p_stage[open_stages] * factor, 0.0, 1.0)
        upper = f"–{edges[band]}" if band < len(edges) else "+"
        frames.append(
            pd.DataFrame(
                {
                    "stage_code": open_stages,
                    "source": history.stages["source"].to_numpy()[open_stages],
                    "stage": history.stages["stage"].to_numpy()[open_stages],
                    "overdue_band": band,
                    "overdue_label": f"{edge + 1}{upper} days overdue",
                    "band_factor": factor,
                    "samples": samples.astype(np.int64),
                    "wins": wins.astype(np.int64),
                    "p_win": shrink(wins, samples, prior, strength),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _empty_overdue_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stage_code": pd.Series(dtype=np.int64),
            "source": pd.Series(dtype=object),
            "stage": pd.Series(dtype=object),
            "overdue_band": pd.Series(dtype=np.int64),
            "overdue_label": pd.Series(dtype=object),
            "band_factor": pd.Series(dtype=float),
            "samples": pd.Series(dtype=np.int64),
            "wins": pd.Series(dtype=np.int64),
            "p_win": pd.Series(dtype=float),
        }
    )


def _segment_rates(
    history: DealHistory,
    passed: pd.DataFrame,
    p_stage: npt.NDArray[np.float64],
    config: ForecastConfig,
) -> pd.DataFrame:
    columns = ["stage_code", "source", "stage", "segment_code", "segment", "samples", "wins"]
    if not config.segments or passed.empty:
        return pd.DataFrame(columns=[*columns, "p_win"])
    space = SegmentSpace(history, config)
    segment = space.codes(passed["opp_pos"].to_numpy(), passed["amount"].to_numpy())
    key = passed["stage_code"].to_numpy() * space.size + segment
    unique_key, inverse = np.unique(key, return_inverse=True)
    samples = np.bincount(inverse.reshape(-1)).astype(float)
    wins = np.bincount(inverse.reshape(-1), weights=passed["won"].to_numpy()).astype(np.float64)
    enough = samples >= config.min_segment_samples
    stage_code = unique_key[enough] // space.size
    segment_code = unique_key[enough] % space.size
    table = pd.DataFrame(
        {
            "stage_code": stage_code,
            "source": history.stages["source"].to_numpy()[stage_code],
            "stage": history.stages["stage"].to_numpy()[stage_code],
            "segment_code": segment_code,
            "segment": space.labels(segment_code),
            "samples": samples[enough].astype(np.int64),
            "wins": wins[enough].astype(np.int64),
        }
    )
    table["p_win"] = shrink(
        wins[enough], samples[enough], p_stage[stage_code], config.segment_shrinkage_strength
    )
    return table


def _band_labels(edges: npt.NDArray[np.float64], currency: str) -> text.Text:
    symbol = text.currency_symbol(currency)
    bounds = list(text.money(edges, symbol))
    labels = [f"≤{bound}" for bound in bounds] + [f">{bounds[-1]}" if bounds else "all"]
    return np.asarray(labels, dtype=object)
