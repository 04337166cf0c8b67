"""Deal stages and stage history, indexed for "what did the pipeline look like at time T".

Stages are CRM-specific (Salesforce picklist labels, HubSpot pipeline stage ids), so a stage is
identified by (source, stage). The catalogue takes each stage's default probability, closed /
won flags and forecast category from what the CRM itself says on current opportunities
(`stage_probability`, `is_closed`, `is_won`, `forecast_category`), falling back to the vendors'
standard stages for stages seen only in history, and to nothing at all for unknown stages —
those get a NaN default and are handled by the caller, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from acm_sync.model import STRING
from acm_sync.scoring import text
from acm_sync.scoring.book import AccountBook
from acm_sync.scoring.periods import NAT, nanos

# The vendors' out-of-the-box stages (API-NOTES "Forecasting defaults"):
# (source, stage, probability, is_closed, is_won, forecast category)
STANDARD_STAGES: Final = (
    ("salesforce", "Prospecting", 0.10, False, False, "Pipeline"),
    ("salesforce", "Qualification", 0.10, False, False, "Pipeline"),
    ("salesforce", "Needs Analysis", 0.20, False, False, "Pipeline"),
    ("salesforce", "Value Proposition", 0.50, False, False, "Pipeline"),
    ("salesforce", "Id. Decision Makers", 0.60, False, False, "Pipeline"),
    ("salesforce", "Perception Analysis", 0.70, False, False, "Pipeline"),
    ("salesforce", "Proposal/Price Quote", 0.75, False, False, "Pipeline"),
    ("salesforce", "Negotiation/Review", 0.90, False, False, "Pipeline"),
    ("salesforce", "Closed Won", 1.00, True, True, "Closed"),
    ("salesforce", "Closed Lost", 0.00, True, False, "Omitted"),
    ("hubspot", "appointmentscheduled", 0.20, False, False, "Pipeline"),
    ("hubspot", "qualifiedtobuy", 0.40, False, False, "Pipeline"),
    ("hubspot", "presentationscheduled", 0.60, False, False, "Pipeline"),
    ("hubspot", "decisionmakerboughtin", 0.80, False, False, "Pipeline"),
    ("hubspot", "contractsent", 0.90, False, False, "Pipeline"),
    ("hubspot", "closedwon", 1.00, True, True, "Closed"),
    ("hubspot", "closedlost", 0.00, True, False, "Omitted"),
)
CATEGORIES: Final = ("Closed", "Commit", "Best Case", "Pipeline", "Omitted")
# The stage of a deal before its recorded history begins, when that is after the deal was
# created: a CRM migrated or imported (Salesforce's OpportunityHistory and HubSpot's property
# history start on the import day, whatever CreatedDate / createdate say), or history tracking
# switched on late. More than a day later: a record and its first history row are written
# together.
UNRECORDED: Final = "(not recorded)"
RECORDING_SLACK_NS: Final = 86_400 * 10**9
# CRM spellings of the forecast categories, compared upper-case without spaces / underscores
_CATEGORY_SPELLINGS: Final = {
    "CLOSED": "Closed",
    "COMMIT": "Commit",
    "FORECAST": "Commit",  # Salesforce metadata API name of Commit
    "BESTCASE": "Best Case",
    "PIPELINE": "Pipeline",
    "OMITTED": "Omitted",
    "OMIT": "Omitted",
}


def forecast_category(values: pd.Series | npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """CRM forecast category spellings → Closed / Commit / Best Case / Pipeline / Omitted
    (None where unrecognised). Normalised once per distinct spelling."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object).to_numpy(dtype=object))
    normalised = pd.Series(uniques, dtype=STRING).str.upper().str.replace(r"[\s_]", "", regex=True)
    mapped = text.objects(normalised.map(_CATEGORY_SPELLINGS))
    out = np.full(len(codes), None, dtype=object)
    out[codes >= 0] = mapped[codes[codes >= 0]]
    return out


@dataclass(frozen=True)
class DealHistory:
    """Opportunities of a book plus their stage history, ready for as-of queries.

    stages: the stage catalogue, one row per stage code — source, stage, default_probability
        (NaN = unknown), is_closed, is_won, category.
    deal_stage: stage code of each book opportunity as it is now.
    rows: history sorted by (opp_pos, changed_at) with opp_pos (row in book.opportunities),
        stage_code, changed_at / close_date (int64 ns), amount (corporate currency),
        run_start (ns: when the deal entered the stage of this row), pushes (close-date moves
        later so far).
    """

    book: AccountBook
    stages: pd.DataFrame
    deal_stage: npt.NDArray[np.int64]
    rows: pd.DataFrame

    @classmethod
    def build(
        cls,
        book: AccountBook,
        stage_history: pd.DataFrame,
        stage_list: pd.DataFrame | None = None,
    ) -> DealHistory:
        """`stage_list` (optional): the CRM's own list of stages — columns source, stage and
        any of default_probability, is_closed, is_won — for stages no current deal is in (what
        current deals carry comes first, the vendors' standard stages last)."""
        deals = book.opportunities
        opp_pos = pd.Index(deals["opportunity_id"]).get_indexer(
            stage_history["opportunity_id"].astype(STRING).array
        )
        known = opp_pos >= 0  # history of deleted / unknown deals is ignored
        history = stage_history if known.all() else stage_history.loc[known]
        opp_pos = opp_pos[known]
        history, opp_pos = _with_unrecorded_start(history, opp_pos, deals)
        stages, deal_stage, history_stage = _catalogue(
            deals, opp_pos, history["stage"].to_numpy(dtype=object, na_value=""), stage_list
        )
        rate = deals["currency_rate"].to_numpy()[opp_pos]
        amount = history["amount"].to_numpy(dtype=float, na_value=np.nan)
        rows = pd.DataFrame(
            {
                "opp_pos": opp_pos,
                "stage_code": history_stage,
                "changed_at": nanos(history["changed_at"]),
                "amount": np.where(np.isfinite(amount) & (amount > 0), amount * rate, 0.0),
                "close_date": nanos(history["close_date"]),
            }
        )
        rows = rows.loc[rows["changed_at"].to_numpy() != NAT]
        opp, changed = rows["opp_pos"].to_numpy(), rows["changed_at"].to_numpy()
        in_order = np.all(
            (opp[1:] > opp[:-1]) | ((opp[1:] == opp[:-1]) & (changed[1:] >= changed[:-1]))
        )
        if not in_order:  # pulls usually arrive ordered; sort only when they do not
            rows = rows.iloc[np.lexsort((changed, opp))]
        rows = _closed_on_import_at_close_date(rows, stages, deals)
        rows = rows.reset_index(drop=True)
        _add_runs_and_pushes(rows)
        return cls(book, stages, deal_stage, rows)

    def default_probability(self, stage_code: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        return self.stages["default_probability"].to_numpy()[stage_code]

    def is_closed_stage(self, stage_code: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        return self.stages["is_closed"].to_numpy(dtype=bool)[stage_code]

    def state_at(self, instant_ns: int) -> pd.DataFrame:
        """Each deal's last state recorded strictly before `instant_ns` — the pipeline as it
        stood when the instant began; a deal closed exactly then is still open in it. Deals
        with no earlier row are absent. Columns: opp_pos, stage_code, amount, close_date,
        changed_at, run_start, pushes."""
        rows = self.rows
        seen = rows["changed_at"].to_numpy() < instant_ns
        opp = rows["opp_pos"].to_numpy()
        # rows are time-sorted within a deal, so the rows seen form a prefix of each block:
        # the last seen row is one whose successor is another deal or not yet seen
        next_same = np.append(opp[1:] == opp[:-1], False)
        next_seen = np.append(seen[1:], False)
        last = seen & ~(next_same & next_seen)
        return rows.loc[last].reset_index(drop=True)


def _catalogue(
    deals: pd.DataFrame,
    history_opp_pos: npt.NDArray[np.int64],
    history_stage: npt.NDArray[np.object_],
    stage_list: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Stage catalogue plus stage codes for current deals and history rows.

    Works on integer codes: the strings are hashed once (factorize), everything else is ints.
    """
    n_deals = len(deals)
    source_code, sources = pd.factorize(_blank_if_missing(deals["source"].to_numpy(dtype=object)))
    stage_code, stage_names = pd.factorize(
        np.concatenate([_blank_if_missing(deals["stage"].to_numpy(dtype=object)), history_stage])
    )
    pair = np.concatenate([source_code, source_code[history_opp_pos]]).astype(np.int64)
    pair = pair * len(stage_names) + stage_code
    pair_code, pair_values = pd.factorize(pair)
    deal_pair = pair_code[:n_deals]

    stages = pd.DataFrame(
        {
            "source": np.asarray(sources, dtype=object)[pair_values // len(stage_names)],
            "stage": np.asarray(stage_names, dtype=object)[pair_values % len(stage_names)],
        }
    )
    crm = pd.DataFrame(
        {
            "default_probability": deals["stage_probability"].to_numpy(),
            "is_closed": deals["is_closed"].to_numpy(dtype=float),
            "is_won": deals["is_won"].to_numpy(dtype=float),
        }
    ).groupby(deal_pair)
    # the CRM's own word first: the typical probability deals in the stage carry
    stages["default_probability"] = crm["default_probability"].median().reindex(stages.index)
    stages["is_closed"] = (crm["is_closed"].mean() > 0.5).reindex(stages.index)
    stages["is_won"] = (crm["is_won"].mean() > 0.5).reindex(stages.index)
    stages["category"] = _usual_category(deals["forecast_category"], deal_pair, len(stages))
    if stage_list is not None:
        stages = _filled_from(stages, stage_list)
    stages = _with_standard_stages(stages)
    return stages, deal_pair.astype(np.int64), pair_code[n_deals:].astype(np.int64)


def _usual_category(
    crm_category: pd.Series, deal_pair: npt.NDArray[np.intp], n_stages: int
) -> npt.NDArray[np.object_]:
    """The most frequent recognised forecast category among each stage's deals."""
    category = forecast_category(crm_category)
    code, names = pd.factorize(category)
    counts = pd.DataFrame({"stage": deal_pair, "category": code}).loc[code >= 0]
    counts = counts.value_counts().reset_index(name="n")
    top = counts.sort_values(["stage", "n", "category"], ascending=[True, False, True])
    top = top.drop_duplicates("stage")
    out = np.full(n_stages, None, dtype=object)
    out[top["stage"].to_numpy()] = np.asarray(names, dtype=object)[top["category"].to_numpy()]
    return out


def _filled_from(stages: pd.DataFrame, stage_list: pd.DataFrame) -> pd.DataFrame:
    """`stages` with what the deals left unknown (no current deal in the stage) taken from the
    CRM's stage list; stages the list has that no deal or history row uses are not added (a
    stage no deal was ever in plays no part in a forecast). The first row of a (source, stage)
    in the list counts."""
    listed = stage_list.drop_duplicates(["source", "stage"]).set_index(["source", "stage"])
    at = pd.MultiIndex.from_frame(stages[["source", "stage"]])
    out = stages.copy()
    for column in ("default_probability", "is_closed", "is_won"):
        if column not in listed.columns:
            continue
        value = listed[column].reindex(at).to_numpy(dtype=object)
        mine = out[column].to_numpy(dtype=object)
        out[column] = np.where(pd.isna(mine), value, mine)
    return out


def _with_standard_stages(stages: pd.DataFrame) -> pd.DataFrame:
    """Fill what the CRM data leaves open from the vendors' standard stages, and append the
    standard stages no deal uses (they may still show up in later pulls' history)."""
    standard = pd.DataFrame(
        STANDARD_STAGES,
        columns=["source", "stage", "default_probability", "is_closed", "is_won", "category"],
    )
    merged = stages.merge(standard, on=["source", "stage"], how="left", suffixes=("", "_std"))
    for column in ("default_probability", "is_closed", "is_won", "category"):
        merged[column] = (
            merged[column].astype(object).where(merged[column].notna(), merged[f"{column}_std"])
        )
    merged = merged[list(standard.columns)]
    known = pd.MultiIndex.from_frame(merged[["source", "stage"]])
    missing = standard.loc[~pd.MultiIndex.from_frame(standard[["source", "stage"]]).isin(known)]
    out = pd.concat([merged, missing], ignore_index=True)
    out["default_probability"] = out["default_probability"].astype(float)
    for column in ("is_closed", "is_won"):
        out[column] = out[column].astype("boolean").fillna(False).astype(bool)
    return out


def _blank_if_missing(values: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    out = values.copy()
    out[pd.isna(out)] = ""
    return out


def _with_unrecorded_start(
    history: pd.DataFrame, opp_pos: npt.NDArray[np.intp], deals: pd.DataFrame
) -> tuple[pd.DataFrame, npt.NDArray[np.intp]]:
    """History plus, for each deal whose first history row is more than a day after it was
    created, a row at its creation in stage UNRECORDED: it was open then, in a stage nobody
    recorded, with no close date known (its later close date would tell the future)."""
    changed = nanos(history["changed_at"])
    dated = np.flatnonzero(changed != NAT)  # rows with no time are dropped later anyway
    if not len(dated):
        return history, opp_pos
    # each deal's first dated row: its time, and its amount for the unrecorded start
    order = dated[np.lexsort((changed[dated], opp_pos[dated]))]
    first = order[np.r_[True, opp_pos[order][1:] != opp_pos[order][:-1]]]
    created = nanos(deals["created_at"])[opp_pos[first]]
    late = (created != NAT) & (changed[first] - created > RECORDING_SLACK_NS)
    if not late.any():
        return history, opp_pos
    first_rows = first[late]
    which = opp_pos[first_rows]
    columns = ["opportunity_id", "stage", "amount", "close_date", "changed_at"]
    added = pd.DataFrame(
        {
            "opportunity_id": deals["opportunity_id"].to_numpy()[which],
            "stage": UNRECORDED,
            "amount": history["amount"].to_numpy(dtype=float, na_value=np.nan)[first_rows],
            "close_date": pd.Series(pd.NaT, index=range(len(which)), dtype="datetime64[ns, UTC]"),
            "changed_at": pd.to_datetime(nanos(deals["created_at"])[which], utc=True),
        }
    )
    close = nanos(history["close_date"])
    recorded = history[columns].assign(
        close_date=pd.to_datetime(close, utc=True).where(close != NAT),
        changed_at=pd.to_datetime(changed, utc=True),
    )
    out = pd.concat([recorded, added], ignore_index=True)
    return out, np.concatenate([opp_pos, which]).astype(opp_pos.dtype)


def _closed_on_import_at_close_date(
    rows: pd.DataFrame, stages: pd.DataFrame, deals: pd.DataFrame
) -> pd.DataFrame:
    """A deal whose history begins closed after an UNRECORDED start was imported with its
    outcome: it closed at its close date (when that falls between its creation and the
    import), not on the import day. `rows` sorted by deal and time; returns them so."""
    stage = rows["stage_code"].to_numpy()
    unrecorded = stages["stage"].to_numpy(dtype=object)[stage] == UNRECORDED
    if not unrecorded.any():
        return rows
    opp = rows["opp_pos"].to_numpy()
    # the row right after an UNRECORDED start is the deal's first recorded one
    after = np.flatnonzero(unrecorded[:-1] & (opp[1:] == opp[:-1])) + 1
    closed = stages["is_closed"].to_numpy(dtype=bool)[stage[after]]
    after = after[closed]
    if not len(after):
        return rows
    changed = rows["changed_at"].to_numpy().copy()
    close = nanos(deals["close_date"])[opp[after]]
    start = changed[after - 1]
    move = (close != NAT) & (close > start) & (close < changed[after])
    changed[after[move]] = close[move]
    rows = rows.assign(changed_at=changed)
    return rows.iloc[np.lexsort((rows["changed_at"].to_numpy(), opp))]


def _add_runs_and_pushes(rows: pd.DataFrame) -> None:
    """Per row: when the deal entered the row's stage, and how often the close date has been
    pushed later so far (both depend only on earlier rows, so as-of queries can read them)."""
    opp = rows["opp_pos"].to_numpy()
    stage = rows["stage_code"].to_numpy()
    changed = rows["changed_at"].to_numpy()
    close = rows["close_date"].to_numpy()
    n = len(rows)
    first_of_deal = np.ones(n, dtype=bool)
    first_of_deal[1:] = opp[1:] != opp[:-1]
    new_run = first_of_deal.copy()
    new_run[1:] |= stage[1:] != stage[:-1]
    run_start_index = np.maximum.accumulate(np.where(new_run, np.arange(n), 0))
    rows["run_start"] = changed[run_start_index] if n else changed

    pushed = np.zeros(n, dtype=np.int64)
    if n:
        later = (close[1:] > close[:-1]) & (close[:-1] != NAT) & ~first_of_deal[1:]
        pushed[1:] = later
    cumulative = np.cumsum(pushed)
    deal_start_index = np.maximum.accumulate(np.where(first_of_deal, np.arange(n), 0))
    rows["pushes"] = cumulative - cumulative[deal_start_index] if n else cumulative
