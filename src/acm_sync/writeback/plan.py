"""The write plan: desired owned values − live CRM values (− manual edits). Pure pandas.

All frames are long, one row per (record, field), values already normalized
(`writeback.values.normalize`; None = empty):

- desired: record_id, field, after — only the cells we hold a value for (a record absent from
  `desired` for a field is left alone, e.g. scores on a quarantined record);
- live: record_id, field, live, synced_at — what the pull last read (the records that exist);
- ledger: record_id, field, value, written_at — what we last wrote.

Per cell:
- `current` is what the CRM holds as far as we know: the ledger value when our write is newer
  than the pull that read the record (the pull has not seen our write yet: echo suppression),
  else the live value.
- a manual edit: we wrote the field, the pull read it after our write, and it holds something
  else. Policy `respect` keeps it (action `skip_manual`), `overwrite` writes ours again
  (`overwrite_manual`). Both are reported.
- otherwise a cell is planned (`write`) exactly when desired ≠ current.
- companion fields (the scored-at stamp) ride along only with another planned cell of the same
  record, so unchanged values make no write at all.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

from acm_sync.writeback.fields import OWNED

WRITE = "write"
OVERWRITE_MANUAL = "overwrite_manual"
SKIP_MANUAL = "skip_manual"
SKIP_GIVEN_UP = "skip_given_up"
SENDING = (WRITE, OVERWRITE_MANUAL)
PLAN_COLUMNS = ["record_id", "field", "before", "after", "action", "last_written"]
# The companion stamp is new on every scoring run: it does not make a record's values new.
_COMPANION_NAMES = frozenset(n for f in OWNED if f.companion for n in (f.salesforce, f.hubspot))


def _differs(a: pd.Series, b: pd.Series) -> pd.Series:
    """a ≠ b with None/NaN equal to each other."""
    a_na, b_na = a.isna(), b.isna()
    same = (a_na & b_na) | (~a_na & ~b_na & (a.astype(object) == b.astype(object)))
    return ~same


def plan_object(
    desired: pd.DataFrame,
    live: pd.DataFrame,
    ledger: pd.DataFrame,
    *,
    policy: str,
    companions: Collection[str] = (),
    given_up: Collection[str] = (),
) -> pd.DataFrame:
    """The planned cells of one CRM object (columns PLAN_COLUMNS).

    `given_up`: records whose writes failed `max_attempts` times with these same values; they
    are reported (`skip_given_up`) instead of sent again.
    """
    if policy not in ("respect", "overwrite"):
        raise ValueError(f"manual-edit policy must be respect or overwrite, not {policy!r}")
    cells = desired.merge(live, on=["record_id", "field"], how="inner")
    cells = cells.merge(
        ledger.rename(columns={"value": "last_written"}), on=["record_id", "field"], how="left"
    )
    wrote = cells["written_at"].notna()
    unseen = wrote & (
        cells["synced_at"].isna() | (cells["written_at"] > cells["synced_at"])
    )  # our write is newer than the pull
    current = cells["live"].astype(object).where(~unseen, cells["last_written"])
    is_companion = cells["field"].isin(list(companions))
    changed = _differs(cells["after"], current) & ~is_companion
    manual = wrote & ~unseen & _differs(cells["live"], cells["last_written"]) & ~is_companion

    action = pd.Series(None, index=cells.index, dtype=object)
    action[changed & ~manual] = WRITE
    action[changed & manual] = SKIP_MANUAL if policy == "respect" else OVERWRITE_MANUAL
    sending_records = cells.loc[action.isin(SENDING), "record_id"]
    ride_along = is_companion & cells["record_id"].isin(sending_records.unique())
    action[ride_along & _differs(cells["after"], current)] = WRITE
    if given_up:
        stuck = action.isin(SENDING) & cells["record_id"].isin(list(given_up))
        action[stuck] = SKIP_GIVEN_UP

    cells = cells.assign(before=current, action=action)
    planned = cells[cells["action"].notna()]
    return planned[PLAN_COLUMNS].reset_index(drop=True)


def payloads(plan: pd.DataFrame) -> dict[str, dict[str, str | None]]:
    """record_id → {field: value} of the cells to send (write / overwrite_manual)."""
    sending = plan[plan["action"].isin(SENDING)]
    out: dict[str, dict[str, str | None]] = {}
    for record_id, field, after in zip(
        sending["record_id"].tolist(),
        sending["field"].tolist(),
        sending["after"].tolist(),
        strict=True,
    ):
        out.setdefault(str(record_id), {})[str(field)] = None if pd.isna(after) else str(after)
    return out


def payload_key(values: dict[str, str | None]) -> str:
    """A stable text of one record's planned values (to tell a retry of the same values).
    Companion fields are left out: a refused record sent again with only a newer scored-at
    stamp is the same retry, so its attempts count up and it is given up at the limit."""
    return "\x1f".join(
        f"{k}={'' if v is None else v}"
        for k, v in sorted(values.items())
        if k not in _COMPANION_NAMES
    )
