"""Deals in the demo org behave like real pipelines, not like their plan: close dates slip and
are pushed, some deals die silently (left open), wins bunch up at quarter ends, and a young
org has few closes. Thresholds are set from what independent pipelines show, not from what
the scoring model would like."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from acm_sync.sandbox.generator import DemoOrg, generate_org

SIZE = 1500


@pytest.fixture(scope="module")
def org() -> DemoOrg:
    return generate_org(SIZE, seed=7)


def _now(org: DemoOrg) -> pd.Timestamp:
    return pd.Timestamp(org.now)


def _standard(org: DemoOrg) -> pd.DataFrame:
    """Salesforce opportunities in the standard stages, not deleted."""
    opp = org.salesforce["Opportunity"]
    return opp[~opp["IsDeleted"]]


def test_wins_bunch_up_at_quarter_ends_and_most_in_q4(org: DemoOrg) -> None:
    opp = _standard(org)
    won = pd.to_datetime(opp.loc[opp["StageName"] == "Closed Won", "CloseDate"])
    quarter_end = won.dt.to_period("Q").dt.end_time.dt.normalize()
    last_ten_days = (quarter_end - won).dt.days < 10
    # ten of ~91 days is 11 % if wins were spread evenly
    assert last_ten_days.mean() > 0.2, last_ten_days.mean()
    q4 = won.dt.quarter == 4
    assert last_ten_days[q4].mean() > last_ten_days[~q4].mean()


def test_some_deals_die_silently(org: DemoOrg) -> None:
    opp = _standard(org)
    now = _now(org)
    created = pd.to_datetime(opp["CreatedDate"])
    old = opp[created < now - pd.Timedelta(days=365)]
    close = pd.to_datetime(old["CloseDate"]).dt.tz_localize("UTC")
    silent = ~old["IsClosed"] & (close < now - pd.Timedelta(days=90))
    # left open, close date long past, never marked lost
    assert silent.mean() > 0.04, silent.mean()


def test_close_dates_are_pushed_and_slip(org: DemoOrg) -> None:
    history = org.salesforce["OpportunityHistory"].sort_values(["OpportunityId", "CreatedDate"])
    close = pd.to_datetime(history["CloseDate"])
    previous = close.groupby(history["OpportunityId"]).shift()
    pushed = (close > previous).groupby(history["OpportunityId"]).any()
    assert pushed.mean() > 0.15, pushed.mean()
    # won deals mostly close after the date first planned
    first_plan = close.groupby(history["OpportunityId"]).first()
    opp = _standard(org).set_index("Id")
    won = opp.index[opp["StageName"] == "Closed Won"].intersection(first_plan.index)
    closed_at = pd.to_datetime(opp.loc[won, "CloseDate"])
    assert (closed_at > first_plan[won]).mean() > 0.5


def test_a_young_org_has_few_closes_and_only_recent_history() -> None:
    young = generate_org(400, seed=3, crm_age_days=200)
    full = generate_org(400, seed=3)
    now = _now(young)
    history = young.salesforce["OpportunityHistory"]
    assert pd.to_datetime(history["CreatedDate"]).min() >= now - pd.Timedelta(days=200)
    young_opp, full_opp = _standard(young), _standard(full)
    # a larger share still open, and the new-business wins seen so far are the fast ones
    assert (~young_opp["IsClosed"]).mean() > (~full_opp["IsClosed"]).mean() + 0.1

    def cycle_days(opp: pd.DataFrame) -> pd.Series:
        closed = opp[(opp["StageName"] == "Closed Won") & (opp["Type"] == "New Business")]
        created = pd.to_datetime(closed["CreatedDate"]).dt.tz_localize(None)
        return (pd.to_datetime(closed["CloseDate"]) - created).dt.days

    young_cycle, full_cycle = cycle_days(young_opp), cycle_days(full_opp)
    assert young_cycle.median() < full_cycle.median()
    assert young_cycle.quantile(0.9) < 0.8 * full_cycle.quantile(0.9)
    assert len(young_cycle) < 0.6 * len(full_cycle)


@pytest.mark.parametrize("days", [10, 5000])
def test_crm_age_out_of_range_is_a_clear_error(days: int) -> None:
    with pytest.raises(ValueError, match="crm_age_days"):
        generate_org(200, seed=1, crm_age_days=days)


def test_realism_keeps_the_generator_deterministic() -> None:
    a, b = generate_org(200, seed=9), generate_org(200, seed=9)
    pd.testing.assert_frame_equal(a.salesforce["Opportunity"], b.salesforce["Opportunity"])
    assert np.array_equal(
        a.salesforce["OpportunityHistory"]["CloseDate"].to_numpy(dtype=object),
        b.salesforce["OpportunityHistory"]["CloseDate"].to_numpy(dtype=object),
    )
