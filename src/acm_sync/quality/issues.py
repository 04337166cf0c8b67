"""Issues: one row per (record, failed rule), with the reason a rep reads, and the per-record
issue text written back to `ACM_Data_Issues__c` / `acm_data_issues`.

Reasons fill the rule's `meta.reason` template (suites.py) from the failing row: `{value}` is
the failing value shown quoted with control characters escaped ("Email 'jane@@x.com' is not a
valid address"), numbers with thousands separators, timestamps as dates.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from acm_sync import model
from acm_sync.quality.engine import RuleOutcome

ISSUE_TEXT_MAX: Final = 1000  # the CRM fields' length
VALUE_SHOWN_MAX: Final = 60
OTHERS_SHOWN: Final = 3
ISSUE_COLUMNS: Final = {
    "entity": model.STRING,
    "record_id": model.STRING,
    "source": model.STRING,
    "source_id": model.STRING,
    "code": model.STRING,
    "rule": model.STRING,
    "severity": model.STRING,
    "reason": model.STRING,
    "rank": model.INT,
}
# The record as a person finds it: its name, and its link in the CRM (filled by the quality
# asset from the remembered link bases; "" until known).
RECORD_COLUMNS: Final = {"name": model.STRING, "url": model.STRING}
SEVERITY_ORDER: Final = {"critical": 0, "warning": 1}


def show(value: Any) -> str:
    """A value as a reason shows it."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "(empty)"
    if isinstance(value, float) and math.isnan(value):
        return "(empty)"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp):
        if value == value.normalize():
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.2f}" if abs(v) >= 1 else f"{v:g}"
    text = str(value)
    if len(text) > VALUE_SHOWN_MAX:
        text = text[: VALUE_SHOWN_MAX - 1] + "…"
    return repr(text)


class _ReasonFormatter(string.Formatter):
    """`{field}` → show(value); `{field:spec}` → format(value, spec) (falling back to show)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, _Shown):
            return value.text
        if format_spec:
            try:
                return format(value, format_spec)
            except (TypeError, ValueError):
                return show(value)
        return show(value)

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return kwargs.get(str(key))


class _Shown:
    """Text that goes into a reason as it is (lists of record ids, lengths)."""

    def __init__(self, text: str) -> None:
        self.text = text


_FORMATTER = _ReasonFormatter()


def _others(ids: pd.Series, keys: pd.DataFrame) -> pd.Series:
    """For rows flagged by a uniqueness rule: the other records with the same key values."""
    key = pd.Series(
        pd.util.hash_pandas_object(keys, index=False).to_numpy(), index=keys.index, dtype="uint64"
    )
    groups = ids.groupby(key.to_numpy()).agg(list)
    mates = key.map(groups)
    out = []
    for own, group in zip(ids.tolist(), mates.tolist(), strict=True):
        rest = sorted(g for g in group if g != own)  # the same text whatever the row order
        shown = ", ".join(rest[:OTHERS_SHOWN])
        if len(rest) > OTHERS_SHOWN:
            shown += f" (+{len(rest) - OTHERS_SHOWN} more)"
        out.append(shown or "another record")
    return pd.Series(out, index=ids.index, dtype=object)


def issues_for(
    entity: str,
    frame: pd.DataFrame,
    outcomes: Sequence[RuleOutcome],
    record_ids: pd.Series,
    sources: pd.Series,
    source_ids: pd.Series,
    names: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per failing (record, rule): entity, record_id, source, source_id, code, rule,
    severity, reason, rank (the rule's place in its suite).

    `record_ids`, `sources`, `source_ids` are indexed by position in `frame` and need to hold
    only the failing positions."""
    parts = []
    for outcome in outcomes:
        if not outcome.failures:
            continue
        rule, pos = outcome.rule, outcome.positions
        ids = record_ids.loc[pos]
        parts.append(
            pd.DataFrame(
                {
                    "entity": entity,
                    "record_id": ids.to_numpy(),
                    "source": sources.loc[pos].to_numpy(),
                    "source_id": source_ids.loc[pos].to_numpy(),
                    "code": rule.code,
                    "rule": rule.label,
                    "severity": rule.severity,
                    "reason": _reasons(rule.reason, rule.columns, rule.uniqueness, frame, pos, ids),
                    "rank": rule.index,
                    "name": names.loc[pos].to_numpy() if names is not None else pd.NA,
                    "url": "",
                }
            )
        )
    if not parts:
        return empty_issues()
    return pd.concat(parts, ignore_index=True).astype(ISSUE_COLUMNS | RECORD_COLUMNS)


def _reasons(
    template: str,
    columns: tuple[str, ...],
    uniqueness: bool,
    frame: pd.DataFrame,
    pos: np.ndarray,
    ids: pd.Series,
) -> list[str] | str:
    """The reason of each failing row; rows with the same values share one formatted text."""
    parsed = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    if not parsed:
        return template  # a constant text ("Title is missing")
    fields = [f for f in dict.fromkeys(parsed) if f not in ("value", "length", "others", "column")]
    value_column = columns[0]
    wanted = list(dict.fromkeys([value_column, *fields]))
    rows = frame.iloc[pos][[c for c in wanted if c in frame.columns]]
    others = (
        _others(ids, frame.iloc[pos][list(columns)]).tolist()
        if uniqueness and "others" in parsed
        else None
    )
    cache: dict[tuple[Any, ...], str] = {}
    out = []
    names = list(rows.columns)
    for i, values in enumerate(rows.itertuples(index=False, name=None)):
        key = values if others is None else (*values, others[i])
        text = cache.get(key)
        if text is None:
            kwargs: dict[str, Any] = dict(zip(names, values, strict=True))
            value = kwargs.get(value_column)
            kwargs["value"] = value
            kwargs["column"] = _Shown(value_column)
            kwargs["length"] = _Shown(str(len(value)) if isinstance(value, str) else "?")
            if others is not None:
                kwargs["others"] = _Shown(str(others[i]))
            text = _FORMATTER.vformat(template, (), kwargs)
            cache[key] = text
        out.append(text)
    return out


def empty_issues() -> pd.DataFrame:
    columns = ISSUE_COLUMNS | RECORD_COLUMNS
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def issue_texts(issues: pd.DataFrame, *, limit: int = ISSUE_TEXT_MAX) -> pd.DataFrame:
    """Per record (accounts, contacts, opportunities): the text of its open issues, most
    important first (critical before warning, then the suite's order), at most `limit`
    characters. Stage-history issues are reported on their opportunity.

    Columns: entity, record_id, source, source_id, issues, held_back (a critical issue kept the
    record out of scoring), issue_count.
    """
    if issues.empty:
        return pd.DataFrame(
            {
                "entity": pd.Series(dtype=model.STRING),
                "record_id": pd.Series(dtype=model.STRING),
                "source": pd.Series(dtype=model.STRING),
                "source_id": pd.Series(dtype=model.STRING),
                "issues": pd.Series(dtype=model.STRING),
                "held_back": pd.Series(dtype=model.BOOL),
                "issue_count": pd.Series(dtype=model.INT),
            }
        )
    df = issues.copy()
    history = (df["entity"] == "opportunity_stage_history").to_numpy()
    df.loc[history, "record_id"] = df.loc[history, "record_id"].str.split("@", n=1).str[0]
    df.loc[history, "entity"] = "opportunities"
    df["_history"] = history
    df["_sev"] = df["severity"].map(SEVERITY_ORDER).fillna(9)
    df = df.sort_values(
        ["entity", "record_id", "_sev", "_history", "rank"], kind="stable", ignore_index=True
    )
    # One line per distinct reason of a record (history rows repeat across changes).
    df = df.drop_duplicates(["entity", "record_id", "severity", "reason"])
    prefix = np.where(df["severity"] == "critical", "Critical: ", "Warning: ")
    one_line = df["reason"].astype(str).str.replace(r"[\r\n]+", " ", regex=True)
    df["_line"] = prefix + one_line
    rows = []
    for (entity, record_id), group in df.groupby(["entity", "record_id"], sort=False):
        rows.append(
            {
                "entity": entity,
                "record_id": record_id,
                "source": group["source"].iat[0],
                "source_id": group["source_id"].iat[0],
                "issues": _join(group["_line"].tolist(), limit),
                "held_back": bool((group["severity"] == "critical").any()),
                "issue_count": len(group),
            }
        )
    out = pd.DataFrame(rows)
    return out.astype(
        {
            "entity": model.STRING,
            "record_id": model.STRING,
            "source": model.STRING,
            "source_id": model.STRING,
            "issues": model.STRING,
            "held_back": model.BOOL,
            "issue_count": model.INT,
        }
    )


def _join(lines: list[str], limit: int) -> str:
    """Lines joined by newlines within `limit` characters; what does not fit is counted."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        rest = len(lines) - i - 1
        tail = f"\n… and {rest} more" if rest else ""
        cost = len(line) + (1 if out else 0)
        if used + cost + len(tail) <= limit:
            out.append(line)
            used += cost
            continue
        more = f"… and {len(lines) - i} more"
        if not out:
            return line[: limit - len(more) - 2] + "…\n" + more
        return "\n".join(out) + "\n" + more
    return "\n".join(out)
