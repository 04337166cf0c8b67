"""CRM records → canonical frames: vectorised pandas, no per-row Python.

Raw frames hold the CRM's values as text, exactly as the API gave them (REST JSON and Bulk CSV
land the same way); everything typed happens here, driven by the canonical column's dtype and a
few columns with their own rules (ids, domain, email, probability, picklist value maps).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from acm_sync import domains, model
from acm_sync.connectors.settings import FieldMap

PREFIX = {"salesforce": "sf", "hubspot": "hs"}

# The key column and the reference columns that hold CRM ids (namespaced on the way in).
ID_COLUMN = {"accounts": "account_id", "contacts": "contact_id", "opportunities": "opportunity_id"}
REFERENCE_COLUMNS = {"account_id", "owner_id", "opportunity_id", "merged_into"}
# Free-text columns people type into: surrounding whitespace is noise there.
TIDY_COLUMNS = {"name", "first_name", "last_name", "title", "industry", "stage"}


def text(series: pd.Series) -> pd.Series:
    """Values as nullable text: booleans lower-case (as Bulk CSV writes them), blanks → NA."""
    if series.dtype == "string":
        out = series
    else:
        if series.dtype == bool or (
            series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) == "boolean"
        ):
            series = series.map({True: "true", False: "false"})
        out = series.astype("string")
    blank = out == ""
    return out.mask(blank) if blank.any() else out


def raw_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A raw frame with every column as nullable text."""
    return pd.DataFrame({c: text(frame[c]) for c in frame.columns}, index=frame.index)


def tidy(series: pd.Series) -> pd.Series:
    """Text without surrounding whitespace; whitespace-only → NA."""
    out = text(series).str.strip()
    return out.mask(out == "")


def normalise_email(series: pd.Series) -> pd.Series:
    e = tidy(series).str.lower().str.replace(r"^mailto:", "", regex=True)
    return e.mask(e == "")


def _bounds(dtype: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """What the canonical timestamp unit can hold (None: more than any date in a CRM)."""
    if "[ns" in dtype:
        return pd.Timestamp("1677-09-22", tz="UTC"), pd.Timestamp("2262-04-11", tz="UTC")
    return None


def parse_timestamp(series: pd.Series) -> pd.Series:
    """ISO 8601 (any offset), plain dates, or epoch milliseconds → UTC timestamps.

    A typo'd close date in 2999 is kept as it is (quality flags it); only if the canonical unit
    could not hold it would it be clipped to the unit's range rather than lost.
    """
    t = text(series)
    out = pd.to_datetime(t, utc=True, format="ISO8601", errors="coerce")
    unparsed = out.isna() & t.notna()
    if unparsed.any():
        # Epoch milliseconds (HubSpot sends some dates so); only what ISO 8601 did not read.
        ms = pd.to_numeric(t.where(unparsed), errors="coerce")
        epoch = unparsed & ms.gt(1e10).fillna(False).astype(bool)
        if epoch.any():
            out = out.mask(epoch, pd.to_datetime(ms.where(epoch), unit="ms", utc=True))
    bounds = _bounds(model.TIMESTAMP)
    if (
        bounds is not None
        and out.notna().any()
        and (out.min() < bounds[0] or out.max() > bounds[1])
    ):
        out = out.clip(*bounds)  # type: ignore[call-overload]
    return out.astype(model.TIMESTAMP)


def parse_float(series: pd.Series) -> pd.Series:
    return pd.to_numeric(text(series), errors="coerce").astype(model.FLOAT)


def parse_int(series: pd.Series) -> pd.Series:
    return parse_float(series).round().astype(model.INT)


def parse_bool(series: pd.Series) -> pd.Series:
    t = text(series).str.lower()
    return t.map({"true": True, "false": False, "1": True, "0": False}).astype(model.BOOL)


def namespaced(prefix: str, series: pd.Series) -> pd.Series:
    t = text(series)
    return (prefix + ":" + t).astype(model.STRING)


def coalesce(raw: pd.DataFrame, names: list[str]) -> pd.Series:
    """The first non-empty value among the named raw columns."""
    present = [n for n in names if n in raw.columns]
    if not present:
        return pd.Series(pd.NA, index=raw.index, dtype="string")
    out = text(raw[present[0]])
    for name in present[1:]:
        out = out.fillna(text(raw[name]))
    return out


@dataclass(frozen=True)
class MappingRules:
    """How one CRM's raw columns become one canonical table."""

    source: str  # salesforce | hubspot
    table: str  # canonical table
    fields: FieldMap
    id_field: str  # raw column holding the record id
    deleted_field: str | None = None  # raw column with the deletion / archived flag
    merged_field: str | None = None  # raw column pointing at the surviving record
    probability_scale: float = 1.0  # the CRM's probability unit per 1.0 (Salesforce: 100)
    default_currency: str | None = None
    value_maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def raw_column(self, ref: str) -> str:
        """The raw column a mapping value reads (associations land as `@associations.x`)."""
        return ref


def to_canonical(raw: pd.DataFrame, rules: MappingRules) -> pd.DataFrame:
    """Map a raw frame to the canonical table's columns and dtypes (`model.conform`)."""
    prefix = PREFIX[rules.source]
    columns = model.TABLES[rules.table]
    out = pd.DataFrame(index=raw.index)
    key = ID_COLUMN.get(rules.table)
    if key is not None:
        out[key] = namespaced(prefix, raw[rules.id_field])
        out["source"] = pd.Series(rules.source, index=raw.index, dtype="string")
        out["source_id"] = text(raw[rules.id_field])
    for column, dtype in columns.items():
        if column in out.columns:
            continue
        if column == "is_deleted":
            flag = (
                parse_bool(raw[rules.deleted_field])
                if rules.deleted_field and rules.deleted_field in raw.columns
                else pd.Series(False, index=raw.index, dtype=model.BOOL)
            )
            out[column] = flag.fillna(False)
            continue
        if column == "merged_into":
            if rules.merged_field and rules.merged_field in raw.columns:
                out[column] = namespaced(prefix, raw[rules.merged_field])
            else:
                out[column] = pd.Series(pd.NA, index=raw.index, dtype=model.STRING)
            continue
        ref = rules.fields.get(column)
        names = [] if ref is None else ([ref] if isinstance(ref, str) else list(ref))
        values = coalesce(raw, [rules.raw_column(n) for n in names])
        out[column] = _typed(column, dtype, values, rules, prefix)
    return model.conform(out.reset_index(drop=True), rules.table)


def _typed(
    column: str, dtype: str, values: pd.Series, rules: MappingRules, prefix: str
) -> pd.Series:
    if column in REFERENCE_COLUMNS:
        return namespaced(prefix, values)
    if column == "domain":
        return domains.host(values)
    if column == "email":
        return normalise_email(values)
    if column == "currency":
        out = values.str.upper()
        return out.fillna(rules.default_currency) if rules.default_currency else out
    if column == "stage_probability":
        return (parse_float(values) / rules.probability_scale).astype(model.FLOAT)
    if column in rules.value_maps:
        mapping = rules.value_maps[column]
        return values.map(mapping).fillna(values).astype(model.STRING)
    if dtype == model.TIMESTAMP:
        return parse_timestamp(values)
    if dtype == model.FLOAT:
        return parse_float(values)
    if dtype == model.INT:
        return parse_int(values)
    if dtype == model.BOOL:
        return parse_bool(values)
    if column in TIDY_COLUMNS:
        return tidy(values)
    return values.astype(model.STRING)


def merged_stubs(
    survivors: pd.DataFrame, *, id_field: str, merged_field: str, source: str, table: str
) -> pd.DataFrame:
    """Canonical rows for the records merged away into each survivor (HubSpot).

    HubSpot keeps the ids of merged-away records on the survivor (`hs_merged_object_ids`,
    semicolon-separated); they no longer answer as records of their own. Each becomes a row
    with `is_deleted` and `merged_into` = the survivor, so nothing silently vanishes.
    """
    prefix = PREFIX[source]
    key = ID_COLUMN[table]
    ids = text(survivors[merged_field]) if merged_field in survivors.columns else None
    if ids is None or ids.isna().all():
        return model.empty_frame(table)
    pairs = pd.DataFrame({"survivor": text(survivors[id_field]), "merged": ids.str.split(";")})
    pairs = pairs.explode("merged").dropna(subset=["merged"])
    pairs["merged"] = pairs["merged"].str.strip()
    pairs = pairs[(pairs["merged"] != "") & (pairs["merged"] != pairs["survivor"])]
    pairs = pairs.drop_duplicates("merged", keep="last")
    out = model.empty_frame(table).reindex(range(len(pairs)))
    out[key] = (prefix + ":" + pairs["merged"].astype("string")).to_numpy()
    out["source"] = source
    out["source_id"] = pairs["merged"].to_numpy()
    out["is_deleted"] = True
    out["merged_into"] = (prefix + ":" + pairs["survivor"].astype("string")).to_numpy()
    return model.conform(out, table)


def history_from_versions(versions: pd.DataFrame, fields: FieldMap) -> pd.DataFrame:
    """Stage history rows from HubSpot property versions.

    `versions` is long: deal_id, property, value, timestamp (one row per version of a tracked
    property). Every moment one of stage / amount / close date changed becomes a row carrying
    all three as they stood then, as Salesforce's OpportunityHistory does.
    """
    if versions.empty:
        return model.empty_frame("opportunity_stage_history")
    by_property = {
        str(v): k for k, v in fields.items() if isinstance(v, str) and k != "opportunity_id"
    }
    v = versions[versions["property"].isin(list(by_property))].copy()
    v["column"] = v["property"].map(by_property)
    v["changed_at"] = parse_timestamp(v["timestamp"])
    v = v.dropna(subset=["changed_at"]).sort_values(["deal_id", "changed_at"])
    wide = v.pivot_table(
        index=["deal_id", "changed_at"], columns="column", values="value", aggfunc="last"
    )
    wide = wide.reindex(columns=["stage", "amount", "close_date"])
    wide = wide.groupby(level="deal_id").ffill().reset_index()
    out = pd.DataFrame(
        {
            "opportunity_id": "hs:" + wide["deal_id"].astype("string"),
            "stage": text(wide["stage"]),
            "amount": parse_float(wide["amount"]),
            "close_date": parse_timestamp(wide["close_date"]),
            "changed_at": wide["changed_at"],
        }
    )
    return model.conform(out, "opportunity_stage_history")
