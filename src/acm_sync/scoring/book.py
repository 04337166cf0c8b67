"""The book of business: canonical records rolled up to unified accounts.

Scoring works on *unified* accounts: one `account_key` per real-world company, which may hold a
Salesforce account and a HubSpot company. The identity step supplies
`account_identity(account_key, sf_account_id, hs_company_id, match_rule)`; without it every
canonical account is its own key (`identity_from_accounts`).

`AccountBook.from_canonical` does the roll-up once: it drops deleted records, maps contacts and
opportunities to an integer position into `book.accounts` (so per-account sums are `bincount`s,
not groupbys on strings) and converts amounts to the corporate currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from acm_sync.currency import CurrencyConfig, Rates
from acm_sync.model import STRING
from acm_sync.scoring import text

NO_ACCOUNT: Final = -1  # position of a record whose account is not in the book (orphan)

_ACCOUNT_FIELDS_CHECKED: Final = ("name", "domain", "industry", "owner_id")


def identity_from_accounts(accounts: pd.DataFrame) -> pd.DataFrame:
    """Identity where each live canonical account is its own unified account.

    Columns: account_key (= account_id), sf_account_id / hs_company_id (the account_id on the
    side it comes from, else null), match_rule ("self").
    """
    live = accounts.loc[~_flag(accounts, "is_deleted"), ["account_id", "source"]]
    key = live["account_id"].astype(STRING)
    source = live["source"].astype(STRING)
    return pd.DataFrame(
        {
            "account_key": key.to_numpy(),
            "sf_account_id": key.where(source == "salesforce").to_numpy(),
            "hs_company_id": key.where(source == "hubspot").to_numpy(),
            "match_rule": "self",
        }
    ).astype(STRING)


@dataclass(frozen=True)
class AccountBook:
    """Live records rolled up to unified accounts.

    accounts: one row per account_key — account_key, name, industry, owner_id, created_at,
        last_activity_at (latest over the account's records and contacts), records (how many
        canonical accounts), account_fields_filled (0–1: name, domain, industry, owner set),
        satisfaction (CSAT / NPS: the mean over the key's records that hold one, NaN when none
        does).
    contacts: live contacts with account_pos (row of `accounts`, -1 = orphan), reachable (has a
        usable email), last_activity_at, title.
    opportunities: live opportunities with account_pos, amount (corporate currency, negative
        or missing → 0), source, stage, stage_probability, close_date, created_at, is_closed,
        is_won, type, forecast_category, industry (of the account).
    currency: the corporate currency amounts are in.
    """

    accounts: pd.DataFrame
    contacts: pd.DataFrame
    opportunities: pd.DataFrame
    currency: str

    @property
    def size(self) -> int:
        return len(self.accounts)

    @classmethod
    def from_canonical(
        cls,
        accounts: pd.DataFrame,
        contacts: pd.DataFrame,
        opportunities: pd.DataFrame,
        identity: pd.DataFrame | None = None,
        *,
        currency: CurrencyConfig | None = None,
    ) -> AccountBook:
        currency = currency or CurrencyConfig()
        live_accounts = accounts.loc[~_flag(accounts, "is_deleted")]
        identity = identity_from_accounts(live_accounts) if identity is None else identity
        key_of_account = _key_by_account_id(live_accounts, identity)
        keys = pd.Index(pd.unique(key_of_account.dropna()), dtype=STRING, name="account_key")
        key_of_account = _follow_merges(accounts, key_of_account)

        unified = _roll_up_accounts(live_accounts, key_of_account, keys)
        people = _contacts(contacts, key_of_account, keys)
        deals = _opportunities(opportunities, key_of_account, keys, currency)
        # Industry is an account attribute that segments win rates; carry it onto the deal.
        deals["industry"] = _at(unified["industry"], deals["account_pos"].to_numpy())
        # ... and so is company size (how long a deal takes depends on who buys).
        deals["employees"] = _float_at(unified["employees"], deals["account_pos"].to_numpy())

        contact_activity = _latest_by_account(people, "last_activity_at", len(keys))
        unified["last_activity_at"] = np.fmax(
            unified["last_activity_at"].to_numpy(dtype="datetime64[ns]"),
            contact_activity.to_numpy(dtype="datetime64[ns]"),
        )
        unified["last_activity_at"] = pd.to_datetime(unified["last_activity_at"], utc=True)
        return cls(unified, people, deals, currency.corporate)

    def per_account(
        self, positions: npt.NDArray[np.int64], weights: npt.ArrayLike | None = None
    ) -> npt.NDArray[np.float64]:
        """Sum of `weights` (or a count) per account; orphans (-1) are ignored."""
        inside = positions >= 0
        w = None if weights is None else np.asarray(weights, dtype=float)[inside]
        return np.bincount(positions[inside], weights=w, minlength=self.size).astype(float)

    def account_keys(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
        """The account_key at each position; orphans (-1) get None."""
        return _at(self.accounts["account_key"], positions)


def _utc(values: pd.Series) -> pd.api.extensions.ExtensionArray:
    """Timestamps as a tz-aware UTC array (Series.to_numpy() would box every value)."""
    return pd.to_datetime(values, utc=True).array


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].astype("boolean").fillna(False).astype(bool)


def _bare(ids: pd.Series, prefix: str) -> pd.Series:
    """Identity ids may come namespaced (`sf:001…`) or raw (`001…`): namespace them."""
    ids = ids.astype(STRING)
    return ids.where(ids.str.startswith(prefix, na=True), prefix + ids)


def _follow_merges(accounts: pd.DataFrame, key_of_account: pd.Series) -> pd.Series:
    """`key_of_account` plus every merged-away account (deleted, `merged_into` set) → the key
    of the live account its merges end at.

    The CRM moves a merged-away record's deals and contacts to the survivor (Salesforce
    reparents them; HubSpot moves the associations), but the pulled rows can still name the old
    id — an incremental pull re-reads a record only when its own modification stamp moved.
    Those records belong to the survivor, as in the CRM, not to no account (they dropped out
    of tiers, health and forecast totals). A chain of merges is followed to its end; one that
    ends at a deleted account or loops maps nowhere."""
    merged = accounts.loc[
        _flag(accounts, "is_deleted") & accounts["merged_into"].notna(),
        ["account_id", "merged_into"],
    ]
    if merged.empty:
        return key_of_account
    into = pd.Series(
        merged["merged_into"].astype(STRING).to_numpy(),
        index=merged["account_id"].astype(STRING).to_numpy(),
    )
    into = into[~into.index.duplicated()]
    target = into.copy()
    for _ in range(len(into)):  # each pass follows one more merge of a chain
        step = target.map(into)
        if step.isna().all():
            break
        target = step.fillna(target)
    keys = target.map(key_of_account).dropna()
    keys = keys[~keys.index.isin(key_of_account.index)]
    return pd.concat([key_of_account, keys.astype(STRING)])


def _key_by_account_id(accounts: pd.DataFrame, identity: pd.DataFrame) -> pd.Series:
    """account_id → account_key for every live canonical account.

    Accounts the identity table does not mention stay their own key, so nothing drops out of
    scoring because identity ran on an older pull.
    """
    pairs = pd.concat(
        [
            pd.DataFrame(
                {
                    "account_id": _bare(identity["sf_account_id"], "sf:"),
                    "account_key": identity["account_key"],
                }
            ),
            pd.DataFrame(
                {
                    "account_id": _bare(identity["hs_company_id"], "hs:"),
                    "account_key": identity["account_key"],
                }
            ),
        ]
    ).dropna()
    mapping = pairs.drop_duplicates("account_id").set_index("account_id")["account_key"]
    ids = accounts["account_id"].astype(STRING)
    keys = ids.map(mapping).astype(STRING)
    return pd.Series(keys.fillna(ids).to_numpy(), index=ids.to_numpy(), dtype=STRING)


def _positions(
    account_ids: pd.Series, key_of_account: pd.Series, keys: pd.Index
) -> npt.NDArray[np.int64]:
    """Row in the unified accounts table for each record's account_id (-1 = not in the book)."""
    by_id = pd.Series(
        keys.get_indexer(pd.Index(key_of_account.to_numpy())), index=key_of_account.index
    )
    by_id = by_id[~by_id.index.duplicated()]
    positions = pd.Index(by_id.index).get_indexer(account_ids.astype(STRING).to_numpy())
    out = np.full(len(account_ids), NO_ACCOUNT, dtype=np.int64)
    found = positions >= 0
    out[found] = by_id.to_numpy()[positions[found]]
    return out


def _roll_up_accounts(
    accounts: pd.DataFrame,
    key_of_account: pd.Series,
    keys: pd.Index,
) -> pd.DataFrame:
    pos = _positions(accounts["account_id"], key_of_account, keys)
    filled = np.zeros(len(accounts))
    for column in _ACCOUNT_FIELDS_CHECKED:
        if column in accounts.columns:
            values = accounts[column].astype(STRING)
            filled += (values.notna() & (values.str.strip() != "")).fillna(False).to_numpy(bool)
    frame = pd.DataFrame(
        {
            "pos": pos,
            "name": accounts["name"].astype(STRING).array,
            "industry": accounts["industry"].astype(STRING).array,
            "owner_id": accounts["owner_id"].astype(STRING).array,
            "created_at": _utc(accounts["created_at"]),
            "last_activity_at": _utc(accounts["last_activity_at"]),
            "filled": filled / len(_ACCOUNT_FIELDS_CHECKED),
            "employees": pd.to_numeric(accounts["employees"], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan
            ),
            # CSAT / NPS (canonical, optional: null unless a connector maps it)
            "satisfaction": (
                pd.to_numeric(accounts["satisfaction"], errors="coerce").to_numpy(
                    dtype=float, na_value=np.nan
                )
                if "satisfaction" in accounts.columns
                else np.nan
            ),
        }
    )
    grouped = frame.groupby("pos", sort=True)
    rolled = pd.DataFrame(
        {
            # first non-null per key: the Salesforce record usually comes first in the pull
            "name": grouped["name"].first(),
            "industry": grouped["industry"].first(),
            "owner_id": grouped["owner_id"].first(),
            "created_at": grouped["created_at"].min(),
            "last_activity_at": grouped["last_activity_at"].max(),
            "records": grouped.size(),
            "account_fields_filled": grouped["filled"].mean(),
            "employees": grouped["employees"].max(),
            # one company's records (its Salesforce account and HubSpot company, duplicates):
            # the mean of those that hold a value (mean skips NaN; none → NaN, not scored)
            "satisfaction": grouped["satisfaction"].mean(),
        }
    ).reindex(range(len(keys)))
    rolled.insert(0, "account_key", keys.to_numpy())
    rolled["records"] = rolled["records"].fillna(0).astype(np.int64)
    return rolled.reset_index(drop=True)


def _contacts(contacts: pd.DataFrame, key_of_account: pd.Series, keys: pd.Index) -> pd.DataFrame:
    live = contacts.loc[~_flag(contacts, "is_deleted") & contacts["merged_into"].isna()]
    email = live["email"].astype(STRING)
    return pd.DataFrame(
        {
            "contact_id": live["contact_id"].astype(STRING).array,
            "account_pos": _positions(live["account_id"], key_of_account, keys),
            "reachable": reachable_email(email),
            "has_last_name": live["last_name"].notna().to_numpy(dtype=bool, na_value=False),
            "title": live["title"].astype(STRING).array,
            "last_activity_at": _utc(live["last_activity_at"]),
        }
    )


def _opportunities(
    opportunities: pd.DataFrame,
    key_of_account: pd.Series,
    keys: pd.Index,
    currency: CurrencyConfig,
) -> pd.DataFrame:
    live = opportunities.loc[~_flag(opportunities, "is_deleted")]
    amount = live["amount"].to_numpy(dtype=float, na_value=np.nan)
    # Into the corporate currency at the close date's rate, before anything is summed. An amount
    # with no rate (quality holds such deals back) counts 0, never 1:1.
    rate = Rates(currency).rates(live["currency"], live["close_date"])
    # Negative or missing amounts are dirty data (quarantine flags them): they add nothing.
    amount = np.where(np.isfinite(amount * rate) & (amount > 0), amount * rate, 0.0)
    return pd.DataFrame(
        {
            "opportunity_id": live["opportunity_id"].astype(STRING).array,
            "account_pos": _positions(live["account_id"], key_of_account, keys),
            "source": live["source"].astype(STRING).array,
            "stage": live["stage"].astype(STRING).array,
            "stage_probability": live["stage_probability"].to_numpy(dtype=float, na_value=np.nan),
            "amount": amount,
            "currency_rate": np.where(np.isfinite(rate), rate, 0.0),
            "close_date": _utc(live["close_date"]),
            "created_at": _utc(live["created_at"]),
            "is_closed": live["is_closed"].to_numpy(dtype=bool, na_value=False),
            "is_won": live["is_won"].to_numpy(dtype=bool, na_value=False),
            # "Renewal " typed with a space (a CSV export, a hand-made picklist value) is a renewal
            "type": live["type"].astype(STRING).str.strip().str.lower().to_numpy(),
            "forecast_category": live["forecast_category"].astype(STRING).array,
        }
    )


def reachable_email(emails: pd.Series) -> npt.NDArray[np.bool_]:
    """A usable email: one "@" with something before it, a dot inside the domain, no spaces.

    Only a reachability signal — the quality room does the strict check. numpy string kernels
    instead of a regex: a million distinct emails cost a fraction of a second.
    """
    values = emails.to_numpy(dtype=object, na_value="").astype(np.dtypes.StringDType())
    at = np.strings.find(values, "@")
    dot = np.strings.rfind(values, ".")
    return (
        (at > 0)
        & (at == np.strings.rfind(values, "@"))
        & (dot > at + 1)
        & (dot < np.strings.str_len(values) - 1)
        & (np.strings.find(values, " ") < 0)
    )


def matches(values: pd.Series | npt.NDArray[np.object_], pattern: str) -> npt.NDArray[np.bool_]:
    """Case-insensitive regex match, evaluated once per distinct value (titles repeat a lot:
    a million contacts carry a few thousand titles)."""
    codes, uniques = pd.factorize(text.objects(values))
    hit = pd.Series(uniques, dtype=STRING).str.contains(pattern, case=False, regex=True)
    hit_array = hit.to_numpy(dtype=bool, na_value=False)
    out = np.zeros(len(codes), dtype=bool)
    known = codes >= 0
    out[known] = hit_array[codes[known]]
    return out


def _latest_by_account(frame: pd.DataFrame, column: str, size: int) -> pd.Series:
    """Latest timestamp per account position over records that belong to an account."""
    inside = frame["account_pos"].to_numpy() >= 0
    latest = (
        frame.loc[inside, [column]]
        .groupby(frame.loc[inside, "account_pos"].to_numpy())[column]
        .max()
        .reindex(range(size))
    )
    return latest


def _float_at(values: pd.Series, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """values[positions] as floats with -1 → NaN."""
    array = values.to_numpy(dtype=float, na_value=np.nan)
    out = np.full(len(positions), np.nan)
    inside = positions >= 0
    out[inside] = array[positions[inside]]
    return out


def _at(values: pd.Series, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """values[positions] with -1 → missing."""
    array = text.objects(values)
    out = np.full(len(positions), None, dtype=object)
    inside = positions >= 0
    out[inside] = array[positions[inside]]
    return out
