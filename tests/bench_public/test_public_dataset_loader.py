"""The public-data backtest's loader (bench/bench_public_dataset.py): profiles by pipeline
names, the snapshot cut, and the one-line summary — on hand-made crm-dataset-builder frames."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from acm_sync.scoring import BacktestResult
from bench_public_dataset import (
    PROFILES,
    SNAPSHOT_OPEN_STAGE,
    Summary,
    canonical_tables,
    profile_of,
    snapshot,
    summarise,
    summary_line,
    tables_from,
)

AT = pd.Timestamp("2025-08-01", tz="UTC")
COLUMNS = ["deal_id", "deal_name", "account_id", "contact_id", "pipeline", "segment", "stage"]
COLUMNS += ["amount", "created_date", "close_date", "deal_status", "deal_owner", "loss_reason"]


def deals_frame(rows: list[tuple[int, str, str, str, str | None]]) -> pd.DataFrame:
    """(deal_id, pipeline, stage, created, closed) → a deals.csv as read_data reads it."""
    out = []
    for deal_id, pipeline, stage, created, closed in rows:
        status = {"Closed Won": "Won", "Converted": "Won", "Closed Lost": "Lost"}.get(stage)
        status = status or ("Lost" if stage == "Churned" else "Open")
        out.append(
            {
                "deal_id": deal_id,
                "deal_name": f"Deal {deal_id}",
                "account_id": 1 + deal_id % 2,
                "contact_id": deal_id,
                "pipeline": pipeline,
                "segment": "SMB",
                "stage": stage,
                "amount": 1000 * deal_id,
                "created_date": created,
                "close_date": closed if closed is not None else np.nan,
                "deal_status": status,
                "deal_owner": "Rep",
                "loss_reason": "Budget" if status == "Lost" else np.nan,
            }
        )
    return pd.DataFrame(out, columns=COLUMNS)


def accounts_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2],
            "company_name": ["Acme", "Globex"],
            "industry": ["Software", "Retail"],
            "employee_count": [50, 500],
            "annual_revenue": [1e6, 1e7],
            "website": ["acme.example", "globex.example"],
        }
    )


# --- profiles -----------------------------------------------------------------------------


def test_each_profile_is_told_apart_by_its_pipelines() -> None:
    assert profile_of(["New Business", "Renewal", "Self-Serve"]).name == "b2b_saas"
    assert profile_of(["New Business", "Extension", "Expansion"]).name == "consultancy"
    assert profile_of(["New Accounts", "Reorders"]).name == "manufacturer"


def test_pipelines_map_by_role() -> None:
    assert PROFILES["manufacturer"].type_of_pipeline == {
        "New Accounts": "new",
        "Reorders": "renewal",
        "Custom/Engineered Solutions": "expansion",
    }
    assert PROFILES["consultancy"].type_of_pipeline["Extension"] == "renewal"
    assert PROFILES["b2b_saas"].type_of_pipeline["Self-Serve"] == "new"
    assert "Converted" in PROFILES["b2b_saas"].won_stages
    assert "Converted" not in PROFILES["consultancy"].won_stages


def test_pipelines_two_profiles_share_need_the_profile_named() -> None:
    with pytest.raises(ValueError, match="pass --profile"):
        profile_of(["New Business", "Expansion"])
    assert profile_of(["New Business", "Expansion"], "consultancy").name == "consultancy"


def test_an_unknown_pipeline_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="Partnerships"):
        profile_of(["New Business", "Renewal", "Partnerships"])
    with pytest.raises(ValueError, match="not in profile manufacturer"):
        profile_of(["New Business", "Renewal"], "manufacturer")


# --- snapshot -----------------------------------------------------------------------------


def test_snapshot_drops_later_deals_and_reopens_later_closes() -> None:
    deals = deals_frame(
        [
            (1, "New Business", "Closed Won", "2025-01-10", "2025-03-01"),  # closed before
            (2, "New Business", "Closed Lost", "2025-06-01", "2025-09-15"),  # closes after
            (3, "Self-Serve", "Converted", "2025-07-25", "2025-08-05"),  # closes after
            (4, "Renewal", "Closed Won", "2025-07-01", "2025-08-01"),  # closes at the cut
            (5, "New Business", "Discovery", "2025-07-31", None),  # open, created before
            (6, "New Business", "Closed Won", "2025-08-01", "2025-09-01"),  # created at the cut
            (7, "New Business", "Discovery", "2025-10-01", None),  # created after
        ]
    )
    cut = snapshot(deals, AT, PROFILES["b2b_saas"]).set_index("deal_id")
    assert list(cut.index) == [1, 2, 3, 4, 5]
    assert cut.loc[1, "stage"] == "Closed Won"
    assert cut.loc[1, "close_date"] == "2025-03-01"
    for reopened in (2, 3, 4):
        assert cut.loc[reopened, "stage"] == SNAPSHOT_OPEN_STAGE
        assert pd.isna(cut.loc[reopened, "close_date"])
        assert cut.loc[reopened, "deal_status"] == "Open"
        assert pd.isna(cut.loc[reopened, "loss_reason"])
    assert cut.loc[5, "stage"] == "Discovery"
    assert deals.loc[1, "stage"] == "Closed Lost"  # the input is left as it was


def test_snapshot_reopens_only_the_profiles_own_closed_stages() -> None:
    # "Converted" is Self-Serve's won stage in b2b_saas; in consultancy no pipeline ends there
    deals = deals_frame([(1, "New Business", "Converted", "2025-06-01", "2025-09-01")])
    assert snapshot(deals, AT, PROFILES["b2b_saas"])["stage"].tolist() == [SNAPSHOT_OPEN_STAGE]
    assert snapshot(deals, AT, PROFILES["consultancy"])["stage"].tolist() == ["Converted"]


def test_tables_at_a_snapshot_are_as_of_its_date() -> None:
    deals = deals_frame(
        [
            (1, "New Accounts", "Closed Won", "2025-01-10", "2025-03-01"),
            (2, "Reorders", "Closed Won", "2025-06-01", "2025-09-15"),
            (3, "Custom/Engineered Solutions", "Closed Lost", "2025-02-01", "2025-04-01"),
            (4, "New Accounts", "Closed Won", "2025-09-01", "2025-11-01"),
        ]
    )
    tables, as_of = tables_from(accounts_frame(), deals, as_of=AT)
    assert as_of == AT
    deals_out = tables["opportunities"].set_index("source_id")
    assert list(deals_out.index) == ["1", "2", "3"]
    assert deals_out["type"].to_dict() == {"1": "new", "2": "renewal", "3": "expansion"}
    assert deals_out["is_won"].tolist() == [True, False, False]
    assert deals_out["is_closed"].tolist() == [True, False, True]
    assert deals_out.loc["2", "stage"] == "Open (Reorders)"
    # the reopened deal is open in the history too: one row, no close
    history = tables["opportunity_stage_history"]
    assert (history["opportunity_id"] == "sf:O2").sum() == 1

    _, full_as_of = tables_from(accounts_frame(), deals)
    assert full_as_of == pd.Timestamp("2025-11-02", tz="UTC")  # the day after the last date


def test_canonical_tables_reads_b2b_saas_output_as_before(tmp_path: Path) -> None:
    deals = deals_frame(
        [
            (1, "New Business", "Closed Won", "2024-01-10", "2024-03-01"),
            (2, "Self-Serve", "Churned", "2024-02-01", "2024-02-10"),
            (3, "Renewal", "Closed Lost", "2024-03-05", "2024-04-01"),
            (4, "Expansion", "Negotiation", "2024-05-01", None),
        ]
    )
    deals.to_csv(tmp_path / "deals.csv", index=False)
    accounts_frame().to_csv(tmp_path / "accounts.csv", index=False)
    tables, as_of = canonical_tables(tmp_path)
    out = tables["opportunities"].set_index("source_id")
    assert as_of == pd.Timestamp("2024-05-02", tz="UTC")
    assert out["type"].tolist() == ["new", "new", "renewal", "expansion"]
    assert out["stage"].tolist() == ["Closed Won", "Closed Lost", "Closed Lost", "Open (Expansion)"]
    # the open stage's probability: the pipeline's win rate so far; none closed → 0.1
    assert out.loc["4", "stage_probability"] == pytest.approx(0.1)


# --- summary ------------------------------------------------------------------------------


def origin_row(
    eligible: bool,
    total_error: float,
    wape: tuple[float, float],
    bias: tuple[float, float],
    sd: float,
) -> dict[str, object]:
    return {
        "eligible": eligible,
        "total_error": total_error,
        "actual_total": 100.0,
        "open_sd": sd,
        "model_wape": wape[0],
        "baseline_wape": wape[1],
        "model_bias": bias[0],
        "baseline_bias": bias[1],
    }


def test_summary_counts_met_origins_and_the_worst_among_the_eligible() -> None:
    origins = pd.DataFrame(
        [
            origin_row(False, 0.90, (0.5, 0.9), (0.1, 0.2), 40.0),  # not eligible: ignored
            origin_row(True, 0.10, (0.5, 0.9), (0.1, 0.2), 10.0),  # met
            origin_row(True, -0.30, (0.5, 0.9), (0.1, 0.2), 20.0),  # total error too large
            origin_row(True, 0.05, (0.95, 0.9), (0.1, 0.2), 30.0),  # WAPE worse than base
        ]
    )
    pooled = {"model_wape": 0.6, "baseline_wape": 0.9, "model_bias": -0.12, "baseline_bias": 0.2}
    s = summarise(BacktestResult(origins, pd.DataFrame(), pooled))
    assert (s.met, s.eligible) == (1, 3)
    assert s.worst_total_error == pytest.approx(-0.30)
    assert s.median_noise == pytest.approx(0.20)
    assert (s.model_abs_bias, s.baseline_abs_bias) == (pytest.approx(0.12), pytest.approx(0.2))
    assert (s.model_wape, s.baseline_wape) == (0.6, 0.9)


def test_summary_without_eligible_origins_reads_all_and_meets_none() -> None:
    origins = pd.DataFrame([origin_row(False, 0.02, (0.5, 0.9), (0.1, 0.2), 5.0)])
    s = summarise(BacktestResult(origins, pd.DataFrame(), {}))
    assert (s.met, s.eligible) == (0, 0)
    assert s.worst_total_error == pytest.approx(0.02)
    assert math.isnan(s.model_wape)


# --- snapshot, any data -------------------------------------------------------------------

DAY0 = pd.Timestamp("2023-01-01", tz="UTC")
a_deal = st.tuples(
    st.sampled_from(["New Business", "Renewal", "Self-Serve"]),
    st.integers(0, 900),  # created, days after DAY0
    st.one_of(st.none(), st.integers(0, 200)),  # cycle in days; None: still open
    st.booleans(),  # won
)


def deals_from(drawn: list[tuple[str, int, int | None, bool]]) -> pd.DataFrame:
    rows = []
    for i, (pipeline, created, cycle, won) in enumerate(drawn, start=1):
        day = (DAY0 + pd.Timedelta(days=created)).strftime("%Y-%m-%d")
        if cycle is None:
            rows.append((i, pipeline, "Discovery", day, None))
            continue
        closed = (DAY0 + pd.Timedelta(days=created + cycle)).strftime("%Y-%m-%d")
        if pipeline == "Self-Serve":
            stage = "Converted" if won else "Churned"
        else:
            stage = "Closed Won" if won else "Closed Lost"
        rows.append((i, pipeline, stage, day, closed))
    return deals_frame(rows)


@settings(max_examples=60, deadline=None)
@given(st.lists(a_deal, min_size=1, max_size=25), st.integers(0, 1200), st.integers(0, 300))
def test_snapshot_keeps_what_was_known_then(
    drawn: list[tuple[str, int, int | None, bool]], cut_day: int, earlier_by: int
) -> None:
    at = DAY0 + pd.Timedelta(days=cut_day)
    deals = deals_from(drawn)
    cut = snapshot(deals, at, PROFILES["b2b_saas"]).set_index("deal_id")
    kept = [i for i, (_, created, _, _) in enumerate(drawn, start=1) if created < cut_day]
    assert list(cut.index) == kept
    original = deals.set_index("deal_id")
    for i in kept:
        _, created, cycle, _ = drawn[i - 1]
        if cycle is not None and created + cycle >= cut_day:  # closed later: open then
            assert cut.loc[i, "stage"] == SNAPSHOT_OPEN_STAGE
            assert pd.isna(cut.loc[i, "close_date"])
            assert cut.loc[i, "deal_status"] == "Open"
        else:  # as it was
            assert cut.loc[i].equals(original.loc[i])
    # cutting later, then earlier, is cutting earlier
    earlier = at - pd.Timedelta(days=earlier_by)
    twice = snapshot(snapshot(deals, at, PROFILES["b2b_saas"]), earlier, PROFILES["b2b_saas"])
    once = snapshot(deals, earlier, PROFILES["b2b_saas"])
    pd.testing.assert_frame_equal(twice, once)


def test_summary_line_shows_the_generators_met_count_beside_the_models() -> None:
    s = Summary(2, 8, 0.3, 1.2, 1.4, 0.1, 0.2, 0.05)
    assert " met 2/8 (ref 5/8)  worst " in summary_line("set, full", s, 1.0, (5, 8))
    assert " met 2/8  worst " in summary_line("set, full", s, 1.0)
