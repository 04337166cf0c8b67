# No `from __future__ import annotations`: Dagster resolves config and resource classes from
# the asset functions' real annotations.
"""Scoring assets: tiers, health, calibrated forecast and next actions per unified account, and
the forecast backtest. Thin glue: the work is `acm_sync.scoring` (pure pandas).

    quality_* (valid rows), quality_account_identity ─▶ account_scores ─▶ (write-back)
                                                      └▶ forecast_backtest

Each run appends a snapshot to `account_scores` / `opportunity_scores` / `forecast_totals`
(keyed by run id), so the next run's health trend compares against this one.
"""

import time
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from acm_sync.assets import plots
from acm_sync.assets.ingest import ConfigFileResource
from acm_sync.config import AcmSyncConfig
from acm_sync.quality.store import QualityStore, valid_table
from acm_sync.scoring import Scores, backtest, build_book, score_accounts
from acm_sync.scoring.health import data_gaps
from acm_sync.warehouse import Warehouse, WarehouseResource

GROUP = "scoring"
KINDS = {"pandas", "duckdb"}
OWNERS = ["team:revops"]
ENTITIES = ("accounts", "contacts", "opportunities", "opportunity_stage_history")
UPSTREAM = [dg.AssetKey(f"quality_{e}") for e in ENTITIES] + [
    dg.AssetKey("quality_account_identity")
]
ACCOUNT_SCORES = "account_scores"
OPPORTUNITY_SCORES = "opportunity_scores"
FORECAST_TOTALS = "forecast_totals"
FORECAST_NEW_PIPELINE = "forecast_new_pipeline"  # run-rate of deals not created yet


class ScoringConfigResource(ConfigFileResource):
    """acm_sync.yaml as scoring reads it (tiers, health, forecast, currency)."""

    def get(self) -> AcmSyncConfig:
        return self.load()


class ScoringRunConfig(dg.Config):
    as_of: str | None = Field(
        default=None,
        description="ISO time to score as of (default: today, 00:00 UTC). For replays.",
    )


def _as_of(config: ScoringRunConfig) -> pd.Timestamp:
    """Scores are as of a day: runs on the same day with the same data give the same values, so
    a re-run writes nothing back (time passing is a change once a day, not every run)."""
    if not config.as_of:
        return pd.Timestamp.now(tz="UTC").floor("D")
    stamp = pd.Timestamp(config.as_of)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def load_inputs(wh: Warehouse) -> tuple[dict[str, pd.DataFrame], pd.DataFrame | None]:
    """The rows that passed quality (quarantined rows never reach scoring), the CRMs' stage
    lists as quality fetched them (`stages`, when there: the default probability of a stage no
    current deal is in) and the identity."""
    tables = {e: wh.table(valid_table(e)) for e in ENTITIES}
    stage_list = QualityStore(wh).stage_catalog().frame
    if len(stage_list):
        tables["stages"] = stage_list.rename(columns={"probability": "default_probability"})
    identity = wh.table("account_identity") if wh.has_table("account_identity") else None
    return tables, identity if identity is not None and len(identity) else None


def previous_health(wh: Warehouse, as_of: pd.Timestamp, window_days: int) -> pd.DataFrame | None:
    """The health the trend compares with: the latest snapshot scored at least `window_days`
    before `as_of` (None: there is none yet, the trend is New)."""
    if not wh.has_table(ACCOUNT_SCORES):
        return None
    cutoff = (as_of - pd.Timedelta(days=window_days)).to_pydatetime()
    frame = wh.query(
        f"SELECT account_key, health_score FROM {ACCOUNT_SCORES} WHERE run_id = ("
        f"SELECT run_id FROM {ACCOUNT_SCORES} WHERE scored_at <= ? "
        "ORDER BY scored_at DESC, computed_at DESC LIMIT 1)",
        [cutoff],
    )
    return frame if len(frame) else None


def account_snapshot(
    scores: Scores, run_id: str, computed_at: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per unified account: every value the write-back needs, plus the components."""
    frame = (
        scores.tiers[["account_key", "tier", "tier_reason", "t12m_won_revenue", "open_pipeline"]]
        .merge(
            scores.health.drop(columns=["t12m_won_revenue", "prior_won_revenue", "open_pipeline"]),
            on="account_key",
            how="left",
        )
        .merge(scores.forecast.accounts, on="account_key", how="left")
        .merge(scores.next_actions.drop(columns=["matched_rules"]), on="account_key", how="left")
    )
    frame.insert(0, "computed_at", computed_at or pd.Timestamp.now(tz="UTC"))
    frame.insert(0, "scored_at", scores.as_of)
    frame.insert(0, "run_id", run_id)
    return frame


def _counts_md(series: pd.Series, label: str) -> str:
    counts = series.value_counts(dropna=False)
    lines = [f"| {label} | accounts |", "|---|---|"]
    lines += [f"| {k} | {int(v):,} |" for k, v in counts.items()]
    return "\n".join(lines)


def _band_histogram(scores: pd.Series) -> str:
    bins = pd.cut(scores.astype("float64"), bins=range(0, 101, 10), include_lowest=True)
    counts = bins.value_counts(sort=False)
    lines = ["| health score | accounts |", "|---|---|"]
    lines += [f"| {_bin_label(interval)} | {int(v):,} |" for interval, v in counts.items()]
    return "\n".join(lines)


def _bin_label(interval: Any) -> str:
    """`0–10` for pandas' `(-0.001, 10.0]` (scores are 0–100: the first bin includes 0)."""
    low = max(0.0, float(interval.left))
    return f"{low:g}–{float(interval.right):g}"


def _figure(value: object) -> str:
    """A number as a person reads it: thousands separators, money to the cent, never 1.2e+06."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or value is pd.NA:
        return "—"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{float(value):,.2f}"
    return str(value)


def _md(frame: pd.DataFrame) -> str:
    """A markdown table of figures (see `_figure`); text left as it is."""
    if frame.empty:
        return "(none)"
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    lines = [header, "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_figure(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def _account_names(
    tables: dict[str, pd.DataFrame], identity: pd.DataFrame | None, keys: pd.Series
) -> pd.Series:
    """The CRM name of each unified account key (its Salesforce record's, else HubSpot's)."""
    accounts = tables.get("accounts")
    if accounts is None or accounts.empty:
        return pd.Series("", index=keys.index, dtype=object)
    by_id = dict(zip(accounts["account_id"], accounts["name"], strict=True))
    by_key: dict[str, object] = {}
    if identity is not None:
        for column in ("hs_company_id", "sf_account_id"):  # Salesforce's name wins
            for key, rid in zip(identity["account_key"], identity[column], strict=True):
                if isinstance(rid, str) and by_id.get(rid):
                    by_key[str(key)] = by_id[rid]
    names = [by_key.get(str(k)) or by_id.get(k) or "" for k in keys]
    return pd.Series(names, index=keys.index, dtype=object)


def _win_model_md(scores: Scores) -> str:
    """Per stage: what the time-to-close model learnt from, and how much it counts."""
    model = scores.win_rates.model
    table = scores.win_rates.by_stage
    table = table.loc[
        table["samples"] > 0,
        ["source", "stage", "default_probability", "samples", "wins", "losses", "model_weight"],
    ]
    head = (
        f"time-to-close model fitted on {model.training_deals:,} deals "
        f"({model.training_rows:,} deal-months)"
        + (f"; {bands}" if (bands := model.space.size_bands_text()) else "")
        if model.fitted
        else "time-to-close model not fitted (too few wins / losses): stage defaults used"
    )
    return head + "\n\n" + table.to_markdown(index=False, floatfmt=".3f")


def _beyond_data_share(probabilities: pd.DataFrame) -> float:
    """Share of the open amount whose deals are flagged `beyond_data` (0 with no amount)."""
    amount = probabilities["amount"].to_numpy(dtype=float, na_value=0.0)
    total = amount.sum()
    beyond = amount[probabilities["beyond_data"].to_numpy(dtype=bool)].sum()
    return round(float(beyond / total), 4) if total > 0 else 0.0


def _money(value: Any) -> float:
    return round(float(value), 2) if pd.notna(value) else 0.0


@dg.asset(
    name=ACCOUNT_SCORES,
    group_name=GROUP,
    kinds=KINDS,
    owners=OWNERS,
    deps=UPSTREAM,
    description="Tier, health (score, band, trend, drivers), calibrated forecast and next action "
    "per unified account, from the rows that passed quality; a snapshot per run.",
)
def account_scores(
    context: dg.AssetExecutionContext,
    config: ScoringRunConfig,
    warehouse: WarehouseResource,
    scoring_config: ScoringConfigResource,
) -> dg.MaterializeResult:
    started = time.perf_counter()
    wh, cfg, as_of = warehouse.get(), scoring_config.get(), _as_of(config)
    with wh.session():  # one connection for the reads (opening the file costs more than most)
        tables, identity = load_inputs(wh)
        previous = previous_health(wh, as_of, cfg.health.trend_window_days)
    scores = score_accounts(
        tables, as_of=as_of, config=cfg, identity=identity, previous_health=previous
    )
    run_id, computed_at = context.run.run_id, pd.Timestamp.now(tz="UTC")
    gaps = data_gaps(scores.health, scores.book, cfg.health)
    for gap in gaps:
        context.log.warning("health: %s", gap)
    snapshot = account_snapshot(scores, run_id, computed_at)
    probabilities = scores.win_probabilities.assign(
        run_id=run_id, scored_at=scores.as_of, computed_at=computed_at
    )
    totals = scores.forecast.totals.assign(
        run_id=run_id, scored_at=scores.as_of, computed_at=computed_at
    )
    new_pipeline = scores.forecast.new_pipeline.assign(
        run_id=run_id, scored_at=scores.as_of, computed_at=computed_at
    )
    with wh.session():
        for table, frame in (
            (ACCOUNT_SCORES, snapshot),
            (OPPORTUNITY_SCORES, probabilities),
            (FORECAST_TOTALS, totals),
            (FORECAST_NEW_PIPELINE, new_pipeline),
        ):
            wh.replace_run(table, frame, run_id)

    total = scores.forecast.totals.set_index("period").loc["Total"]
    preview_columns = ["account_key", "tier", "health_score", "health_band", "forecast_amount"]
    preview = snapshot[preview_columns].head(10)
    preview.insert(1, "name", _account_names(tables, identity, preview["account_key"]))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(snapshot)),
            "accounts": dg.MetadataValue.int(len(snapshot)),
            "as_of": dg.MetadataValue.text(scores.as_of.isoformat()),
            "tiers": dg.MetadataValue.md(_counts_md(snapshot["tier"], "tier")),
            "health_bands": dg.MetadataValue.md(_counts_md(snapshot["health_band"], "band")),
            "health_histogram": dg.MetadataValue.md(_band_histogram(snapshot["health_score"])),
            "health_data_gaps": dg.MetadataValue.md(
                "\n".join(f"- {gap}" for gap in gaps) or "none"
            ),
            # open pipeline + closed won (what the CRM fields add up to) …
            "forecast_total": dg.MetadataValue.float(_money(total["forecast_amount"])),
            # … + deals not created yet: the bookings forecast
            "forecast_run_rate": dg.MetadataValue.float(_money(total["run_rate_amount"])),
            "forecast_total_with_run_rate": dg.MetadataValue.float(
                _money(total["total_forecast_amount"])
            ),
            "forecast_by_category": dg.MetadataValue.md(_md(scores.forecast.totals)),
            "forecast_new_pipeline": dg.MetadataValue.md(_md(scores.forecast.new_pipeline)),
            "win_model": dg.MetadataValue.md(_win_model_md(scores)),
            # how much of the open pipeline the model forecasts at ages its segment was never
            # seen at in training (a young CRM): there it falls back to the pooled hazard
            "forecast_beyond_data_share": dg.MetadataValue.float(_beyond_data_share(probabilities)),
            "open_opportunities_scored": dg.MetadataValue.int(len(probabilities)),
            "attention_flags": dg.MetadataValue.int(int(snapshot["attention"].fillna(False).sum())),
            "preview": dg.MetadataValue.md(_md(preview)),
            "seconds": dg.MetadataValue.float(round(time.perf_counter() - started, 2)),
            **_count_metadata(snapshot),
            **_strategic_metadata(scores.tiers),
            **_score_plots(snapshot, cfg, wh),
        }
    )


def _count_metadata(snapshot: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """Accounts per tier and per band as numbers, so Dagster plots them over runs."""
    out: dict[str, dg.MetadataValue] = {}
    for column, prefix in (("tier", "tier"), ("health_band", "band")):
        counts = snapshot[column].value_counts()
        for value in counts.index:
            out[f"{prefix}_{str(value).lower()}"] = dg.MetadataValue.int(int(counts[value]))
    return out


def _strategic_metadata(tiers: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """Strategic Key accounts per rule, as numbers (0 included: a plot over runs shows revops
    what tuning `tiers.strategic.min_open_pipeline` / `min_growth` did)."""
    by = tiers["key_strategic_by"].value_counts()
    return {
        f"tier_key_strategic_{rule}": dg.MetadataValue.int(int(by.get(rule, 0)))
        for rule in ("pipeline", "growth")
    }


def _score_plots(snapshot: pd.DataFrame, cfg: Any, wh: Warehouse) -> dict[str, dg.MetadataValue]:
    folder = wh.path.parent / "plots"
    histogram = plots.health_histogram(
        snapshot, cfg.health.bands.green_min, cfg.health.bands.yellow_min
    )
    pareto = plots.tier_pareto(snapshot)
    plots.save(histogram, folder, "health_histogram.png")
    plots.save(pareto, folder, "tier_pareto.png")
    return {
        "health_histogram_plot": dg.MetadataValue.md(
            plots.markdown_image(histogram, "health score histogram")
        ),
        "tier_pareto_plot": dg.MetadataValue.md(plots.markdown_image(pareto, "tier Pareto curve")),
        "plots_dir": dg.MetadataValue.path(str(folder.resolve())),
    }


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    owners=OWNERS,
    deps=UPSTREAM,
    description="Rebuilds the pipeline as of past calendar-quarter starts from stage history and "
    "compares the forecast (time-to-close model + run-rate) and the stage-default baseline with "
    "what was booked: total bookings, account WAPE, bias, Brier score and reliability by decile; "
    "one metadata entry per origin and figure.",
)
def forecast_backtest(
    config: ScoringRunConfig,
    warehouse: WarehouseResource,
    scoring_config: ScoringConfigResource,
) -> dg.MaterializeResult:
    wh, cfg, as_of = warehouse.get(), scoring_config.get(), _as_of(config)
    with wh.session():
        tables, identity = load_inputs(wh)
    _, history = build_book(tables, cfg, identity)
    result = backtest(history, as_of, cfg.forecast)
    # Plain ints, floats and strings: Dagster types them itself.
    return dg.MaterializeResult(
        metadata={
            **result.metadata(),
            "dagster/row_count": dg.MetadataValue.int(len(result.origins)),
            "origins": dg.MetadataValue.md(result.markdown()),
            "reliability": dg.MetadataValue.md(result.reliability_markdown()),
            "forecast_vs_actual_plot": dg.MetadataValue.md(
                plots.markdown_image(
                    plots.save(
                        plots.forecast_vs_actual(result.origins),
                        wh.path.parent / "plots",
                        "forecast_vs_actual.png",
                    ).read_bytes(),
                    "forecast vs actual by quarter",
                )
            ),
        }
    )


scoring_assets: list[dg.AssetsDefinition] = [account_scores, forecast_backtest]
