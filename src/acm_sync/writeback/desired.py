"""Desired and live owned values per CRM object, read from the warehouse (long frames, values
normalized; see `writeback.plan`).

Desired:
- accounts: the latest scores of the unified account go to *each* of its records (both CRMs,
  duplicates included) — only records that passed quality and are in the identity — except the
  forecast amount, which is additive: inside one CRM only the primary record of the unified
  account (identity's oldest record of the domain) carries it; a duplicate gets an empty
  forecast and a line in its issue text naming the primary, so a CRM report summing
  ACM_Forecast_Amount__c / acm_forecast_amount counts the company once;
- opportunities: the calibrated win probability of open deals that passed quality (scored), 100 /
  0 for won / lost deals;
- every live account, opportunity and contact: its data-quality issues text (None = no open
  issue, which clears an old one), quarantined records included: that is where people fix them.
Records deleted or merged away in the CRM get nothing.

Live: the owned columns the pulls read along into the raw tables (`raw_salesforce_account`, …)
with the time each record was last pulled, for the records that are live in the canonical
tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from acm_sync.quality.issues import ISSUE_TEXT_MAX
from acm_sync.warehouse import Warehouse, raw_table_name
from acm_sync.writeback.fields import OBJECTS, Crm, Owned, owned_for
from acm_sync.writeback.values import InvalidValues, normalize_series

PREFIX: dict[Crm, str] = {"salesforce": "sf:", "hubspot": "hs:"}
RAW_KEY: dict[Crm, str] = {"salesforce": "Id", "hubspot": "id"}
ID_COLUMN = {"accounts": "account_id", "contacts": "contact_id", "opportunities": "opportunity_id"}
IDENTITY_COLUMN: dict[Crm, str] = {"salesforce": "sf_account_id", "hubspot": "hs_company_id"}


@dataclass
class ObjectValues:
    crm: Crm
    object: str
    entity: str
    desired: pd.DataFrame  # record_id, field, after
    live: pd.DataFrame  # record_id, field, live, synced_at
    invalid: list[str] = field(default_factory=list)  # cells we refused to plan, and why

    @property
    def records_live(self) -> int:
        return int(self.live["record_id"].nunique()) if len(self.live) else 0


def _latest(wh: Warehouse, table: str) -> pd.DataFrame | None:
    if not wh.has_table(table):
        return None
    return wh.query(
        f"SELECT * FROM {table} WHERE run_id = (SELECT run_id FROM {table} "
        "ORDER BY computed_at DESC NULLS LAST, scored_at DESC LIMIT 1)"
    )


def _live_ids(wh: Warehouse, crm: Crm, entity: str) -> pd.Series:
    merged = " AND merged_into IS NULL" if entity != "opportunities" else ""
    ids = wh.query(
        f"SELECT {ID_COLUMN[entity]} AS id FROM {entity} WHERE source = ? "
        f"AND NOT coalesce(is_deleted, false){merged}",
        [crm],
    )["id"]
    return ids.str.slice(len(PREFIX[crm]))


def live_values(wh: Warehouse, crm: Crm, entity: str) -> pd.DataFrame:
    """record_id, field, live (normalized), synced_at for the live records of the object."""
    obj = OBJECTS[entity][0 if crm == "salesforce" else 1]
    fields = owned_for(entity)
    names = [f.name(crm) for f in fields]
    table = raw_table_name(crm, obj)
    if not wh.has_table(table):
        return pd.DataFrame(columns=["record_id", "field", "live", "synced_at"])
    have = set(wh.query(f"SELECT * FROM {table} LIMIT 0").columns)
    key = RAW_KEY[crm]
    cols = ", ".join(f'r."{n}"' if n in have else f'NULL AS "{n}"' for n in names)
    wide = _wide_live(wh, crm, entity, table, key, cols)
    long = wide.melt(
        id_vars=["record_id", "synced_at"], value_vars=names, var_name="field", value_name="live"
    )
    parts = [
        part.assign(live=_normalize_live(f, part["live"]))
        for f in fields
        for part in [long[long["field"] == f.name(crm)]]
    ]
    out = pd.concat(parts, ignore_index=True) if parts else long
    return out[["record_id", "field", "live", "synced_at"]]


def _normalize_live(f: Owned, values: pd.Series) -> pd.Series:
    """Live values normalized; one that is not a value of ours (a retired picklist option typed
    in by hand) is kept as its text, so it differs from what we would write."""
    try:
        return normalize_series(f, values)
    except InvalidValues as exc:
        clean = normalize_series(f, values.where(~exc.mask, None))
        return clean.where(~exc.mask, values.astype(object))


def _wide_live(
    wh: Warehouse, crm: Crm, entity: str, table: str, key: str, cols: str
) -> pd.DataFrame:
    merged = " AND c.merged_into IS NULL" if entity != "opportunities" else ""
    return wh.query(
        f'SELECT r."{key}" AS record_id, {cols}, r._synced_at AS synced_at FROM {table} r '
        f'JOIN {entity} c ON c.{ID_COLUMN[entity]} = ? || r."{key}" '
        f"WHERE NOT coalesce(c.is_deleted, false){merged}",
        [PREFIX[crm]],
    )


def _cells(
    frame: pd.DataFrame, fields: tuple[Owned, ...], crm: Crm, invalid: list[str]
) -> pd.DataFrame:
    """record_id + one column per field source → long (record_id, field, after), normalized.
    Values a field cannot hold are left out of the plan (and reported), never sent."""
    parts = []
    for f in fields:
        if f.source not in frame.columns:
            continue
        values = frame[f.source]
        keep = pd.Series(True, index=frame.index)
        try:
            after = normalize_series(f, values)
        except InvalidValues as exc:
            keep = ~exc.mask
            invalid.append(f"{crm} {f.name(crm)}: {exc}")
            after = normalize_series(f, values.where(keep, None))
        parts.append(
            pd.DataFrame(
                {
                    "record_id": frame.loc[keep, "record_id"].astype(str).to_numpy(),
                    "field": f.name(crm),
                    "after": after[keep].to_numpy(),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["record_id", "field", "after"])
    return pd.concat(parts, ignore_index=True)


def _issue_texts(wh: Warehouse, entity: str, crm: Crm, ids: pd.Series) -> pd.DataFrame:
    texts = (
        wh.query(
            "SELECT source_id AS record_id, issues AS data_issues FROM data_issue_texts "
            "WHERE entity = ? AND source = ?",
            [entity, crm],
        )
        if wh.has_table("data_issue_texts")
        else pd.DataFrame(columns=["record_id", "data_issues"])
    )
    base = pd.DataFrame({"record_id": ids.astype(str).to_numpy()})
    return base.merge(texts.astype({"record_id": str}), on="record_id", how="left")


DUPLICATE_RULE = "domain_duplicate"
ADDITIVE = ("forecast_amount",)  # summed by CRM reports: carried by one record per company


def _identity(wh: Warehouse, crm: Crm) -> pd.DataFrame:
    """record_id, account_key, primary_id (this CRM's primary record of the unified account)."""
    if not wh.has_table("account_identity"):
        return pd.DataFrame(columns=["record_id", "account_key", "primary_id"])
    column = IDENTITY_COLUMN[crm]
    identity = wh.query(
        f"SELECT account_key, {column} AS id, match_rule FROM account_identity "
        f"WHERE {column} IS NOT NULL"
    )
    primary = identity[identity["match_rule"] != DUPLICATE_RULE].drop_duplicates("account_key")
    out = identity.merge(
        primary[["account_key", "id"]].rename(columns={"id": "primary"}),
        on="account_key",
        how="left",
    )
    prefix = len(PREFIX[crm])
    is_dup = (out["match_rule"] == DUPLICATE_RULE) & out["primary"].notna()
    return pd.DataFrame(
        {
            "record_id": out["id"].str.slice(prefix).to_numpy(),
            "account_key": out["account_key"].to_numpy(),
            "primary_id": out["primary"].str.slice(prefix).where(is_dup).to_numpy(),
        }
    )


def _account_scores(wh: Warehouse, crm: Crm) -> pd.DataFrame:
    scores = _latest(wh, "account_scores")
    identity = _identity(wh, crm)
    if scores is None or identity.empty:
        return pd.DataFrame(columns=["record_id"])
    frame = identity.merge(scores, on="account_key", how="inner")
    frame = frame.assign(
        scored_at=frame["computed_at"] if "computed_at" in frame.columns else frame["scored_at"],
    )
    duplicate = frame["primary_id"].notna()
    for column in ADDITIVE:
        if column in frame.columns:
            frame[column] = frame[column].astype(object).where(~duplicate, None)
    return frame.drop_duplicates("record_id")


def _duplicate_notes(wh: Warehouse, crm: Crm, texts: pd.DataFrame) -> pd.DataFrame:
    """A duplicate account's issue text ends with where its forecast went."""
    dups = _identity(wh, crm).dropna(subset=["primary_id"])
    if dups.empty:
        return texts
    note = dict(
        zip(
            dups["record_id"].astype(str),
            "Info: duplicate of " + dups["primary_id"].astype(str) + ", which carries the "
            "company's forecast (this record's is left empty so reports count it once)",
            strict=True,
        )
    )
    texts = texts.copy()
    out = texts["data_issues"].astype(object).tolist()
    for i, record in enumerate(texts["record_id"].astype(str)):
        line = note.get(record)
        if line is None:
            continue
        issues = out[i] if isinstance(out[i], str) and out[i] else ""
        room = ISSUE_TEXT_MAX - len(line) - 2
        if len(issues) > room:
            issues = issues[:room] + "…"
        out[i] = f"{issues}\n{line}" if issues else line
    texts["data_issues"] = out
    return texts


def _win_probabilities(wh: Warehouse, crm: Crm) -> pd.DataFrame:
    scores = _latest(wh, "opportunity_scores")
    opps = (
        wh.query(
            "SELECT opportunity_id, is_closed, is_won FROM valid_opportunities WHERE source = ? "
            "AND NOT coalesce(is_deleted, false)",
            [crm],
        )
        if wh.has_table("valid_opportunities")
        else pd.DataFrame(columns=["opportunity_id", "is_closed", "is_won"])
    )
    closed = opps[opps["is_closed"].fillna(False).astype(bool)]
    won = closed["is_won"].fillna(False).astype(bool)
    frames = [
        pd.DataFrame(
            {
                "opportunity_id": closed["opportunity_id"].to_numpy(),
                "win_probability": won.map({True: 100.0, False: 0.0}).to_numpy(),
            }
        )
    ]
    if scores is not None and len(scores):
        open_ = scores[scores["opportunity_id"].isin(opps["opportunity_id"])]
        frames.append(
            pd.DataFrame(
                {
                    "opportunity_id": open_["opportunity_id"].to_numpy(),
                    "win_probability": (open_["p_win"].astype("float64") * 100.0).to_numpy(),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True).drop_duplicates("opportunity_id", keep="last")
    prefix = PREFIX[crm]
    out = out[out["opportunity_id"].str.startswith(prefix)]
    return out.assign(record_id=out["opportunity_id"].str.slice(len(prefix)))


def object_values(wh: Warehouse, crm: Crm, entity: str) -> ObjectValues:
    """Desired and live owned values of one CRM object."""
    obj = OBJECTS[entity][0 if crm == "salesforce" else 1]
    fields = owned_for(entity)
    live = live_values(wh, crm, entity)
    live_ids = pd.Series(live["record_id"].unique(), dtype=object)
    invalid: list[str] = []
    issue_field = tuple(f for f in fields if f.source == "data_issues")
    texts = _issue_texts(wh, entity, crm, live_ids)
    if entity == "accounts":
        texts = _duplicate_notes(wh, crm, texts)
    parts = [_cells(texts, issue_field, crm, invalid)]
    if entity == "accounts":
        scored = tuple(f for f in fields if f.source != "data_issues")
        parts.append(_cells(_account_scores(wh, crm), scored, crm, invalid))
    elif entity == "opportunities":
        probability = tuple(f for f in fields if f.source == "win_probability")
        parts.append(_cells(_win_probabilities(wh, crm), probability, crm, invalid))
    desired = pd.concat(parts, ignore_index=True)
    desired = desired[desired["record_id"].isin(live_ids)]
    return ObjectValues(crm, obj, entity, desired.reset_index(drop=True), live, invalid)
