"""A stage-history export beside a deals export: `backtest_csv.py DEALS.csv --history FILE`.

One row per stage change of a deal — a Salesforce OpportunityHistory export (OpportunityId,
StageName, Amount, CloseDate, Probability, CreatedDate: when the change was made), an
"Opportunity History" report (To Stage, Edit Date, …) or any table of the same shape. With it
the backtest replays the pipeline as it really stood at each origin — each deal's stage, time in
stage, amount and shown close date then — instead of one made-up open stage per segment.

The columns, guessed from the header like the deals export's (or given):
- needed: the deal id (matching the deals export's id column), when the change was made, the
  stage the deal moved to;
- optional: the amount and the close date as they stood after the change (else the deal's
  amount and the shown close date made from earlier cycles, as without history), the stage's
  probability (percent or 0–1), and a deleted flag (IsDeleted: an "Export All" holds deleted
  rows; they are set aside).
Won / lost stage values are read as in the deals export (--won / --lost).

What the stages are worth: with a probability column, each stage's default probability is the
median probability its rows carry — the CRM's own stage default, the baseline's only knowledge.
Without one, the stage's win rate: of the deals ever in the stage that had closed before the
origin, the share won (UNKNOWN_WIN_RATE while none had).

A HubSpot deals export carries its own history when its 'Date entered "<stage> (<pipeline>)"'
columns were exported (HubSpot's calculated stage-entry dates): without --history, those
columns are read as one history row per stage a deal entered (no amount, close date or
probability per row: the deal's amount and the shown close date made from earlier cycles).

Each history row is used or set aside with one reason (deleted in the CRM; no deal id; a deal
the deals export does not use; no or unreadable time; no stage; on or after --as-of), counted
as the deals are. A history amount is in its deal's currency and converted with it. A deal with
no history row is open in "Open (<segment>)" from its creation, as without history; a closed
deal whose history does not end in its outcome closes at its close date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

import public_deals
from export_reader import (
    ExportError,
    Role,
    column_role,
    flags,
    guess_columns,
    normalised,
    parse_amounts,
    parse_dates,
)

HISTORY_ROLES: dict[str, Role] = {
    "id": column_role(
        "--history-id",
        "deal id",
        "opportunityid dealid oppid recordid objectid opportunity deal id",
    ),
    "at": column_role(
        "--history-at",
        "changed at",
        "changedat changeddate datechanged changedate editdate lastmodified lastmodifieddate "
        "modifieddate createddate timestamp date",
    ),
    "stage": column_role(
        "--history-stage",
        "stage",
        "tostage newstage stagename stage dealstage newvalue value",
    ),
    "amount": column_role("--history-amount", "amount", "amount"),
    "close_date": column_role("--history-close-date", "close date", "closedate expectedclosedate"),
    "probability": column_role(
        "--history-probability",
        "probability",
        "probability stageprobability probabilitypercent winprobability",
    ),
    "deleted": column_role("--history-deleted", "deleted flag", "isdeleted deleted"),
}
NEEDED = ("id", "at", "stage")


@dataclass(frozen=True)
class History:
    """A stage-history export read against the deals it describes: one row per change used
    (source_id, changed_at, stage — won / lost values as WON_STAGE / LOST_STAGE —, amount,
    close_date, probability 0–1; NaN / NaT where the export has no such column), the reason each
    other row was set aside (by row), the export's row count and the printed lines."""

    rows: pd.DataFrame
    set_aside: pd.Series
    pulled: int
    lines: tuple[str, ...]


def history_mapping(
    columns: Sequence[str], given: Mapping[str, str | None]
) -> tuple[dict[str, str], list[str]]:
    """(role → column, one line per role). ExportError when a given column is not there or a
    needed one is neither given nor guessed."""
    found = ", ".join(map(repr, columns))
    for role, column in given.items():
        if column is not None and column not in columns:
            what = f"{HISTORY_ROLES[role].option} {column!r}"
            raise ExportError(f"{what} is not a history column; columns found: {found}")
    mapping, how = guess_columns(columns, given, HISTORY_ROLES)
    lines = ["history mapping (an option changes a column):"]
    for role, spec in HISTORY_ROLES.items():
        if role not in mapping:
            if role in NEEDED:
                raise ExportError(
                    f"no {spec.label} column in the history (give {spec.option} COLUMN); "
                    f"columns found: {found}"
                )
            lines.append(f"  {spec.label:<13}{spec.option:<22}none")
        else:
            lines.append(f"  {spec.label:<13}{spec.option:<22}{mapping[role]!r} ({how[role]})")
    return mapping, lines


def read_history(
    raw: pd.DataFrame,
    given: Mapping[str, str | None],
    *,
    deal_ids: pd.Series,
    won_keys: frozenset[str],
    lost_keys: frozenset[str],
    date_format: str | None,
    as_of: pd.Timestamp | None,
) -> History:
    """The history rows of the deals `deal_ids` (the deals export's used ids), each used or set
    aside with one reason; times and close dates read as `export_reader.parse_dates` reads them
    (`date_format`: only that format)."""
    mapping, lines = history_mapping(list(raw.columns), given)
    reason = pd.Series(None, index=raw.index, dtype=object)

    def aside(mask: pd.Series | np.ndarray, why: str) -> None:
        reason[np.asarray(mask) & reason.isna().to_numpy()] = why

    if "deleted" in mapping:
        aside(flags(raw[mapping["deleted"]]) == True, "deleted in the CRM")  # noqa: E712
    deal = raw[mapping["id"]]
    aside(deal.isna(), "no deal id")
    aside(~deal.isin(set(deal_ids)), "a deal the deals export does not use")
    at = parse_dates(raw[mapping["at"]], date_format)
    aside(raw[mapping["at"]].isna(), "no time")
    aside(at.isna(), "time unreadable")
    if as_of is not None:
        aside(at >= as_of, f"on or after --as-of {as_of:%Y-%m-%d}")
    stage = raw[mapping["stage"]]
    aside(stage.isna(), "no stage")
    key = stage.map(normalised, na_action="ignore")
    stage = stage.where(~key.isin(won_keys), public_deals.WON_STAGE)
    stage = stage.where(~key.isin(lost_keys), public_deals.LOST_STAGE)

    def optional(role: str, parse: Callable[[pd.Series], pd.Series], kind: str) -> pd.Series:
        if role not in mapping:
            return pd.Series(np.nan if kind == "number" else pd.NaT, index=raw.index)
        return parse(raw[mapping[role]])

    amount = optional("amount", parse_amounts, "number")
    close_date = optional("close_date", lambda text: parse_dates(text, date_format), "date")
    probability = optional("probability", parse_amounts, "number")
    if "probability" in mapping and (probability > 1).any():  # percent
        probability = probability / 100.0
        lines.append("  probability read as percent (some values are over 1)")
    use = reason.isna().to_numpy()
    rows = pd.DataFrame(
        {
            "row": raw.index,
            "source_id": deal,
            "changed_at": at,
            "stage": stage,
            "amount": amount.where(amount >= 0),
            "close_date": close_date,
            "probability": probability.where((probability >= 0) & (probability <= 1)),
        }
    ).loc[use]
    return History(rows.reset_index(drop=True), reason.dropna(), len(raw), tuple(lines))


DATE_ENTERED = re.compile(r'^(?:Date entered|hs_date_entered_)\s*"?(?P<stage>.+?)"?$', re.I)


def entered_columns(columns: Sequence[str]) -> dict[str, str]:
    """Column → stage of a HubSpot deals export's 'Date entered "<stage> (<pipeline>)"'
    columns (HubSpot's calculated stage-entry dates, one column per stage)."""
    found = {}
    for column in columns:
        match = DATE_ENTERED.match(str(column).strip())
        if match:
            found[column] = match["stage"].strip()
    return found


def entered_history(
    raw: pd.DataFrame,
    source_id: pd.Series,
    rows: pd.Series,
    won_keys: frozenset[str],
    lost_keys: frozenset[str],
) -> pd.DataFrame:
    """A long stage history (OpportunityId, StageName, EnteredAt) made of the 'Date entered'
    columns of the deals `rows` (export rows) with ids `source_id`: one row per stage a deal
    entered. A stage named won or lost before its " (<pipeline>)" is WON_STAGE / LOST_STAGE."""
    parts = []
    for column, stage in entered_columns(list(raw.columns)).items():
        key = normalised(re.sub(r"\s*\([^()]*\)$", "", stage))
        name = (
            public_deals.WON_STAGE
            if key in won_keys
            else public_deals.LOST_STAGE
            if key in lost_keys
            else stage
        )
        at = raw.loc[rows.to_numpy(), column].to_numpy(dtype=object)
        parts.append(
            pd.DataFrame(
                {"OpportunityId": source_id.to_numpy(), "StageName": name, "EnteredAt": at}
            )
        )
    if not parts:
        return pd.DataFrame(columns=["OpportunityId", "StageName", "EnteredAt"])
    out = pd.concat(parts, ignore_index=True)
    out = out.loc[out["EnteredAt"].notna()].reset_index(drop=True)
    out.index = pd.RangeIndex(1, len(out) + 1, name="row")
    return out


def stage_tables(
    history: History,
    *,
    deals: pd.DataFrame,
    opportunities: pd.DataFrame,
    synthetic: pd.DataFrame,
    known_at: pd.Timestamp,
    counted: bool,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(opportunities, opportunity_stage_history, stage list) with the real history for the
    deals that have one. `opportunities` and `synthetic` (their made-up history) are what
    `public_deals.deal_tables` made of `deals` (the deals export's used deals, same order)."""
    ids = "sf:O" + deals["source_id"]
    real = history.rows.assign(opportunity_id="sf:O" + history.rows["source_id"])
    has_history = ids.isin(set(real["opportunity_id"])).to_numpy()
    by_id = opportunities.set_index("opportunity_id")
    planned = synthetic.drop_duplicates("opportunity_id").set_index("opportunity_id")["close_date"]
    amount = pd.Series(by_id["amount"].reindex(real["opportunity_id"]).to_numpy(), real.index)
    if not counted:  # the history's amount as it stood (in the deal's currency), where it has one
        rate = deals.set_index("source_id")["rate"].reindex(real["source_id"]).to_numpy()
        amount = (real["amount"] * rate).where(real["amount"].notna(), amount)
    shown = pd.Series(planned.reindex(real["opportunity_id"]).to_numpy(), real.index)
    rows = pd.DataFrame(
        {
            "opportunity_id": real["opportunity_id"],
            "stage": real["stage"].astype(object),
            "amount": amount.astype(float),
            "close_date": real["close_date"].where(real["close_date"].notna(), shown),
            "changed_at": real["changed_at"],
        }
    ).sort_values(["opportunity_id", "changed_at"], kind="stable")

    # a closed deal whose history does not end in its outcome closes at its close date
    closed = by_id.loc[ids[has_history], ["stage", "close_date", "is_closed"]]
    closed = closed.loc[closed["is_closed"].to_numpy(dtype=bool)]
    last_stage = rows.groupby("opportunity_id", sort=False)["stage"].last()
    missing = closed.index[last_stage.reindex(closed.index).to_numpy() != closed["stage"]]
    closing = pd.DataFrame(
        {
            "opportunity_id": missing,
            "stage": closed.loc[missing, "stage"].to_numpy(dtype=object),
            "amount": by_id.loc[missing, "amount"].to_numpy(),
            "close_date": closed.loc[missing, "close_date"].to_numpy(),
            "changed_at": closed.loc[missing, "close_date"].to_numpy(),
        }
    )
    made_up = synthetic.loc[~synthetic["opportunity_id"].isin(set(ids[has_history]))]
    stage_history = pd.concat([made_up, rows, closing], ignore_index=True)

    # open deals with history are in their last recorded stage
    out = opportunities.copy()
    open_real = has_history & ~out["is_closed"].to_numpy(dtype=bool)
    out.loc[open_real, "stage"] = last_stage.reindex(ids[open_real]).to_numpy()
    stages = _stage_list(stage_history, history.rows, opportunities, known_at)
    probability = stages.set_index("stage")["default_probability"]
    out.loc[open_real, "stage_probability"] = probability.reindex(
        out.loc[open_real, "stage"]
    ).to_numpy()
    return out, stage_history, stages


def _stage_list(
    stage_history: pd.DataFrame,
    real: pd.DataFrame,
    opportunities: pd.DataFrame,
    known_at: pd.Timestamp,
) -> pd.DataFrame:
    """Every open stage the history uses, with its default probability: the median the
    history's probability column gives it, else its win rate over the deals ever in it that had
    closed before `known_at` (UNKNOWN_WIN_RATE while none had)."""
    closing = (public_deals.WON_STAGE, public_deals.LOST_STAGE)
    seen = stage_history.loc[~stage_history["stage"].isin(closing), ["opportunity_id", "stage"]]
    seen = seen.drop_duplicates()
    outcome = opportunities.set_index("opportunity_id")
    done = (outcome["is_closed"].to_numpy(dtype=bool)) & (
        pd.to_datetime(outcome["close_date"], utc=True) < known_at
    ).to_numpy(dtype=bool)
    won = pd.Series(outcome["is_won"].to_numpy(dtype=bool)[done], index=outcome.index[done])
    in_stage = seen.loc[seen["opportunity_id"].isin(set(won.index))]
    rate = won.reindex(in_stage["opportunity_id"]).groupby(in_stage["stage"].to_numpy()).mean()
    names = pd.Index(seen["stage"].unique())
    default = rate.reindex(names).fillna(public_deals.UNKNOWN_WIN_RATE)
    stated = real.loc[real["probability"].notna() & ~real["stage"].isin(closing)]
    if len(stated):
        median = stated.groupby("stage")["probability"].median()
        default = median.reindex(names).where(median.reindex(names).notna(), default)
    return pd.DataFrame(
        {
            "source": "salesforce",
            "stage": names,
            "default_probability": default.to_numpy(dtype=float),
            "is_closed": False,
            "is_won": False,
        }
    )
