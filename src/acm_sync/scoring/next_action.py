"""Next action for account managers: one suggested action per account, and an attention flag.

Rules (ids as in `next_action.rules`, which also sets their priority):

- key_red: a Key account whose health is Red.
- key_no_activity: a Key account untouched for `key_no_activity_days` (or never).
- renewal_at_risk: an open renewal overdue, or closing within `renewal_due_days` below
  `renewal_low_probability` calibrated win probability (the largest one is named).
- dormant_win_back: a Dormant account.
- new_without_decision_maker: a New account with no reachable decision maker.
- stale_deals: at least `stale_deals_min` stale open deals (overdue, stuck, pushed).
- red_health: any other customer in Red. Not Prospects (sales' to work: Red is their norm) and
  not Dormant accounts: no wins and no activity for a year make every Dormant account Red, and
  what a rep should do about that is the win-back, not a health review.

The default order is what a rep should do for the tier first (Key, renewal, Dormant, New), the
clean-up after. The first matching rule writes the action text. The attention flag is separate:
it is raised when any matched rule (not only the one shown) is in `attention_rules`. An account
no rule matches says what was checked ("No action: healthy, no renewal open"), since CRM users
read an empty field as "nothing computed".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from acm_sync.scoring import text
from acm_sync.scoring.health import COMPONENTS, LABELS
from acm_sync.scoring.periods import NAT, NS_PER_DAY, Instant, nanos, utc
from acm_sync.scoring.settings import HealthWeights, NextActionConfig


def next_actions(
    tiers: pd.DataFrame,
    health: pd.DataFrame,
    probabilities: pd.DataFrame,
    as_of: Instant,
    config: NextActionConfig,
    *,
    currency: str = "USD",
    weights: HealthWeights | None = None,
) -> pd.DataFrame:
    """`weights`: the health weights (a component with weight 0 is never named weakest).

    Columns: account_key, next_action (≤ 255 chars; "No action: …" when nothing to do), attention
    (bool), action_rule (id of the rule that wrote the text, "" if none), matched_rules
    (comma-separated ids of every rule that matched)."""
    accounts = tiers[["account_key", "tier", "last_won_at"]].merge(
        health, on="account_key", how="left", validate="one_to_one"
    )
    n = len(accounts)
    symbol = text.currency_symbol(currency)
    matched, actions = _rules(accounts, probabilities, as_of, config, symbol, weights)

    action = _no_action(accounts, probabilities, as_of)
    rule_id = text.constant("", n)
    for name in reversed(config.rules):  # the highest priority is written last
        action = np.where(matched[name], actions[name], action)
        rule_id = np.where(matched[name], name, rule_id)
    attention = np.zeros(n, dtype=bool)
    for name in config.attention_rules:
        if name in config.rules:
            attention |= matched[name]
    # rows=n: with every rule switched off (rules: []) there is no piece to count them by
    listed = text.join(
        [(matched[name], text.constant(name, n)) for name in config.rules], ",", rows=n
    )
    return pd.DataFrame(
        {
            "account_key": accounts["account_key"].to_numpy(),
            "next_action": pd.array(text.clip(action, text.REASON_MAX), dtype="string"),
            "attention": attention,
            "action_rule": pd.array(rule_id.astype(object), dtype="string"),
            "matched_rules": pd.array(listed.astype(object), dtype="string"),
        }
    )


def _rules(
    accounts: pd.DataFrame,
    probabilities: pd.DataFrame,
    as_of: Instant,
    config: NextActionConfig,
    symbol: str,
    weights: HealthWeights | None,
) -> tuple[dict[str, npt.NDArray[np.bool_]], dict[str, text.Text]]:
    n = len(accounts)
    tier = text.objects(accounts["tier"])
    band = text.objects(accounts["health_band"])
    score = text.integer(accounts["health_score"].to_numpy(dtype=float, na_value=np.nan))
    days_quiet = accounts["days_since_activity"].to_numpy(dtype=float)
    decision_makers = accounts["decision_makers"].to_numpy(dtype=float, na_value=0)
    weakest = _weakest_component(accounts, weights)
    key = tier == "Key"
    quiet = np.isnan(days_quiet) | (days_quiet >= config.key_no_activity_days)
    renewal = _renewal_at_risk(accounts["account_key"], probabilities, as_of, config, symbol)
    stale_count, stale_amount = _stale(accounts["account_key"], probabilities)

    quiet_for = text.choose(
        np.isnan(days_quiet),
        text.constant("No activity recorded", n),
        "No activity for " + text.count(days_quiet, "day"),
    )
    call_whom = text.choose(
        decision_makers > 0,
        text.constant("schedule a call with a decision maker", n),
        text.constant("find and contact a decision maker", n),
    )
    matched = {
        "key_red": key & (band == "Red"),
        "key_no_activity": key & quiet,
        "renewal_at_risk": renewal != "",
        "stale_deals": stale_count >= config.stale_deals_min,
        # prospects are sales' to work, not account managers': Red there is the norm
        "red_health": (band == "Red") & (tier != "Prospect") & (tier != "Dormant"),
        "new_without_decision_maker": (tier == "New") & (decision_makers == 0),
        "dormant_win_back": tier == "Dormant",
    }
    actions = {
        "key_red": "Key account in Red (health "
        + score
        + "): book an executive check-in; weakest: "
        + weakest,
        "key_no_activity": quiet_for + " on this Key account: " + call_whom,
        "renewal_at_risk": renewal,
        "stale_deals": text.count(stale_count, "stale deal")
        + " ("
        + text.money(stale_amount, symbol)
        + "): update stages and close dates",
        "red_health": "Health Red (" + score + "): review " + weakest,
        "new_without_decision_maker": text.constant(
            "New customer without a reachable decision maker: add one for onboarding", n
        ),
        "dormant_win_back": "Dormant (last won "
        + text.dates(accounts["last_won_at"])
        + "): plan a win-back touch",
    }
    return matched, actions


def _no_action(accounts: pd.DataFrame, probabilities: pd.DataFrame, as_of: Instant) -> text.Text:
    """What the rules found for an account none of them matched: its health and renewals."""
    n = len(accounts)
    now = utc(as_of).value
    today = now - now % NS_PER_DAY
    band = text.objects(accounts["health_band"])
    score = text.integer(accounts["health_score"].to_numpy(dtype=float, na_value=np.nan))
    health = np.where(band == "Green", "healthy (" + score + ")", "health ")
    health = np.where(
        (band == "Yellow") | (band == "Red"),
        health + text.strings(np.where(pd.isna(band), "", band)) + " (" + score + ")",
        health,
    )
    health = np.where(pd.isna(band), "no health data", health).astype(object)
    renewals = probabilities.loc[
        (text.objects(probabilities["type"]) == "renewal")
        & probabilities["account_key"].notna().to_numpy(),
        ["account_key", "close_date"],
    ]
    next_renewal = renewals.groupby("account_key")["close_date"].min()
    # reindex, not map: with no open renewal in the org, pandas' map of an empty date series
    # fails ("Cannot cast DatetimeArray to dtype float64")
    due = pd.Series(
        next_renewal.reindex(accounts["account_key"].to_numpy()).array, index=accounts.index
    )
    overdue = (nanos(due) != NAT) & (nanos(due) < today)
    renewal = text.choose(
        due.notna().to_numpy(),
        text.choose(
            overdue,
            "renewal overdue since " + text.dates(due),
            "renewal not due (next " + text.dates(due) + ")",
        ),
        text.constant("no renewal open", n),
    )
    tier = text.objects(accounts["tier"])
    prospect = np.where(tier == "Prospect", "prospect, ", "").astype(object)
    return "No action: " + prospect + health + ", " + renewal


def _weakest_component(accounts: pd.DataFrame, weights: HealthWeights | None) -> text.Text:
    """The label of each account's lowest component score among those in its health score
    (a component with weight 0 is not: a Red score is never "review" one it leaves out)."""
    columns = [f"{c}_score" for c in COMPONENTS]
    scores = accounts[columns].to_numpy(dtype=float, na_value=np.nan)
    weighted = np.array([weights is None or getattr(weights, c) > 0 for c in COMPONENTS])
    filled = np.where(np.isnan(scores) | ~weighted, np.inf, scores)
    weakest = np.argmin(filled, axis=1)
    labels = np.array([LABELS[c].lower() for c in COMPONENTS], dtype=object)
    return labels[weakest]


def _renewal_at_risk(
    keys: pd.Series,
    probabilities: pd.DataFrame,
    as_of: Instant,
    config: NextActionConfig,
    symbol: str,
) -> text.Text:
    """Action text for the largest at-risk renewal of each account ("" if none)."""
    now = utc(as_of).value
    close = nanos(probabilities["close_date"])
    is_renewal = text.objects(probabilities["type"]) == "renewal"
    overdue = probabilities["is_overdue"].to_numpy(dtype=bool)
    due = close <= now + config.renewal_due_days * NS_PER_DAY
    unlikely = probabilities["p_win"].to_numpy(dtype=float) < config.renewal_low_probability
    at_risk = (
        is_renewal & probabilities["account_key"].notna().to_numpy() & (overdue | (due & unlikely))
    )
    risky = probabilities.loc[at_risk, ["account_key", "amount", "close_date", "p_win"]]
    risky = risky.assign(overdue=overdue[at_risk])
    largest = risky.sort_values(["amount", "close_date"], ascending=[False, True])
    largest = largest.drop_duplicates("account_key").reset_index(drop=True)
    texts = text.choose(
        largest["overdue"].to_numpy(),
        "Renewal "
        + text.money(largest["amount"], symbol)
        + " overdue since "
        + text.dates(largest["close_date"])
        + ": confirm the renewal or update its close date",
        "Renewal "
        + text.money(largest["amount"], symbol)
        + " closes "
        + text.dates(largest["close_date"])
        + " at "
        + text.percent(largest["p_win"])
        + " win probability: confirm the renewal plan",
    )
    by_key = pd.Series(texts, index=largest["account_key"].to_numpy(), dtype=object)
    mapped = keys.map(by_key).to_numpy(dtype=object)
    mapped[pd.isna(mapped)] = ""
    return mapped


def _stale(
    keys: pd.Series, probabilities: pd.DataFrame
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    stale = probabilities.loc[
        probabilities["is_stale"].to_numpy(dtype=bool), ["account_key", "amount"]
    ].dropna(subset=["account_key"])
    grouped = stale.groupby("account_key")["amount"].agg(["size", "sum"])
    count = keys.map(grouped["size"]).fillna(0).to_numpy(dtype=float)
    amount = keys.map(grouped["sum"]).fillna(0).to_numpy(dtype=float)
    return count, amount
