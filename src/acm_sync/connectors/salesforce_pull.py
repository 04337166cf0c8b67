"""Pull one Salesforce object into the warehouse: full or incremental, REST or Bulk API 2.0.

- The replication key is `SystemModstamp`; every pull reads with queryAll, so deletions
  (`IsDeleted`) and merges (`MasterRecordId` on the merged-away record) arrive as rows.
- REST pulls are ordered by SystemModstamp, so every committed batch moves the cursor to its last
  row: a pull stopped by the API budget resumes where it stopped. The cursor never passes the
  moment the query started (a record changed during paging may have moved behind us).
- Above `bulk_threshold` rows the pull runs as one Bulk API 2.0 queryAll job. Its result pages
  are committed as they come, with the job id and locator saved, so a stopped run's successor
  fetches the rest of the same job; the cursor moves when the last page is in.
- A full pull (the first, or `full_refresh`) is an incremental pull from the beginning of time,
  plus one step at its end: rows the CRM no longer returns at all (hard-deleted, purged from
  the recycle bin) are flagged `is_deleted` rather than left looking alive.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from simple_salesforce.exceptions import SalesforceMalformedRequest

from acm_sync import model
from acm_sync.connectors.common import (
    MappingError,
    PullResult,
    earlier_of,
    later_of,
    parse_moment,
    second_floor,
    seconds_before,
    unknown_fields_message,
)
from acm_sync.connectors.mapping import MappingRules, parse_timestamp, raw_text, to_canonical
from acm_sync.connectors.policy import BudgetExhausted
from acm_sync.connectors.progress import Progress
from acm_sync.connectors.pull_run import PullRun
from acm_sync.connectors.salesforce import SalesforceClient
from acm_sync.connectors.settings import SalesforceSync, field_names, mapping_fingerprint
from acm_sync.warehouse import Batch, Warehouse, raw_table_name

SOURCE = "salesforce"
CURSOR_FIELD = "SystemModstamp"
# What a write of ours changes besides the owned fields (see Batch.echo_columns).
ECHO_STAMPS = ("SystemModstamp", "LastModifiedDate", "LastModifiedById")


@dataclass(frozen=True)
class SfObject:
    name: str  # sObject API name
    table: str  # canonical table
    mergeable: bool


SF_OBJECTS: dict[str, SfObject] = {
    "accounts": SfObject("Account", "accounts", True),
    "contacts": SfObject("Contact", "contacts", True),
    "opportunities": SfObject("Opportunity", "opportunities", False),
    "opportunity_stage_history": SfObject("OpportunityHistory", "opportunity_stage_history", False),
}


def soql_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def select_fields(spec: SfObject, settings: SalesforceSync) -> list[str]:
    system = ["Id", "IsDeleted", CURSOR_FIELD] + (["MasterRecordId"] if spec.mergeable else [])
    fields: list[str] = []
    for name in system + [
        n for ref in settings.field_map(spec.table).values() for n in field_names(ref)
    ]:
        if name.lower() not in {f.lower() for f in fields}:
            fields.append(name)
    return fields


def rules_for(spec: SfObject, settings: SalesforceSync) -> MappingRules:
    return MappingRules(
        source=SOURCE,
        table=spec.table,
        fields=settings.field_map(spec.table),
        id_field="Id",
        deleted_field="IsDeleted",
        merged_field="MasterRecordId" if spec.mergeable else None,
        probability_scale=100.0,  # Probability is a percent field
        default_currency=settings.org_currency,
        value_maps={
            "type": settings.opportunity_types,
            "forecast_category": settings.forecast_categories,
        },
    )


def unknown_fields(
    spec: SfObject, settings: SalesforceSync, fields: Sequence[str], known: set[str]
) -> str | None:
    """What is wrong with the selected fields against describe's `known`: a message naming
    each missing field and its config key, or None when all exist."""
    lower = {k.lower() for k in known}
    column_of = {
        n.lower(): column
        for column, ref in settings.field_map(spec.table).items()
        for n in field_names(ref)
    }
    unknown = {
        f: column_of.get(f.lower(), "(system field)") for f in fields if f.lower() not in lower
    }
    if not unknown:
        return None
    return unknown_fields_message(
        crm="Salesforce",
        obj=spec.name,
        unknown=unknown,
        known=known,
        config_key=f"salesforce.fields.{spec.table}",
    )


def mapping_problems(client: SalesforceClient, settings: SalesforceSync) -> list[str]:
    """The `sync.salesforce` field mapping checked against describe, as a pull checks it (one
    describe call per object): a message per object with fields that do not exist."""
    problems = []
    for spec in SF_OBJECTS.values():
        fields = select_fields(spec, settings)
        problem = unknown_fields(spec, settings, fields, client.field_names(spec.name))
        if problem:
            problems.append(problem)
    return problems


def check_fields(
    client: SalesforceClient,
    wh: Warehouse,
    spec: SfObject,
    settings: SalesforceSync,
    fields: list[str],
    *,
    optional: Sequence[str] = (),
    force: bool = False,
) -> frozenset[str]:
    """Every selected field exists on the object (describe), at most once per
    `schema_check_hours` and whenever the mapping changes. `optional` fields (the owned fields,
    read along for the write-back) may be missing: the ones describe did not list are returned
    (and remembered until the next check) so the query leaves them out."""
    fingerprint = mapping_fingerprint(spec.name, sorted([*fields, *optional]))
    seen = wh.schema_checked(SOURCE, spec.name)
    missing = wh.missing_fields(SOURCE, spec.name)
    fresh = (
        seen is not None
        and missing is not None
        and seen[0] == fingerprint
        and (datetime.now(UTC) - seen[1] < timedelta(hours=settings.schema_check_hours))
    )
    if fresh and not force and missing is not None:
        return missing
    known = client.field_names(spec.name)
    lower = {k.lower() for k in known}
    problem = unknown_fields(spec, settings, fields, known)
    if problem:
        raise MappingError(problem)
    absent = frozenset(f for f in optional if f.lower() not in lower)
    wh.save_schema_check(SOURCE, spec.name, fingerprint, absent)
    return absent


def records_frame(records: list[dict[str, Any]], fields: list[str]) -> pd.DataFrame:
    """REST records → a raw frame (text, one column per selected field)."""
    frame = pd.DataFrame(records, columns=fields, dtype=object)
    return raw_text(frame)


def csv_frame(text: str, fields: list[str]) -> pd.DataFrame:
    """A Bulk API 2.0 result page → the same raw frame as REST gives."""
    if not text.strip():
        return pd.DataFrame({f: pd.Series(dtype="string") for f in fields})
    frame = pd.read_csv(
        io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], on_bad_lines="error"
    )
    lower = {c.lower(): c for c in frame.columns}
    frame = frame.rename(columns={lower[f.lower()]: f for f in fields if f.lower() in lower})
    return raw_text(frame.reindex(columns=fields))


class _Pull(PullRun[SalesforceClient, SalesforceSync, SfObject]):
    """The state of one pull while it runs."""

    source = SOURCE

    def _prepare(self, owned: Sequence[str]) -> None:
        settings, spec = self.settings, self.spec
        self.required = select_fields(spec, settings)
        # The owned fields are read along (the write-back diffs against them); an org without
        # them deployed is still pulled: check_fields says which to leave out.
        self.optional = [f for f in owned if f.lower() not in {r.lower() for r in self.required}]
        self.fields = self.required + self.optional
        self.rules = rules_for(spec, settings)
        self.raw_table = raw_table_name(SOURCE, spec.name)

    @property
    def since(self) -> datetime | None:
        if self.state.mode == "full":
            return self.state.cursor  # progress through a (resumed) full pull, no lookback
        return seconds_before(self.state.cursor, self.settings.lookback_seconds)

    def soql(self, *, ordered: bool) -> str:
        text = f"SELECT {', '.join(self.fields)} FROM {self.spec.name}"
        if self.since is not None:
            text += f" WHERE {CURSOR_FIELD} >= {soql_datetime(self.since)}"
        if ordered:
            text += f" ORDER BY {CURSOR_FIELD} ASC, Id ASC"
        return text

    # -- committing -------------------------------------------------------------------------

    def commit(self, raw: pd.DataFrame, *, cursor: datetime | None, done: bool) -> None:
        """Rows + the state that covers them, in one transaction."""
        state = self.state
        state.cursor = later_of(state.cursor, cursor)
        state.complete = done
        if done:
            state.resume = {}
        finishing_full = done and state.mode == "full"
        if finishing_full:
            state.mode = "incremental"
        canonical = (
            to_canonical(raw, self.rules) if len(raw) else model.empty_frame(self.spec.table)
        )
        stamped = raw.assign(_synced_at=datetime.now(UTC), _run_id=self.run_id)
        self.wh.commit(
            Batch(
                state,
                raw=stamped,
                raw_key="Id",
                canonical=[(self.spec.table, canonical)],
                echo_columns=(*self.optional, *ECHO_STAMPS),
            ),
            raw_table=self.raw_table,
        )
        self._count(canonical)
        if (
            finishing_full
            and state.full_started_at is not None
            and self.spec.table in (model.PRIMARY_KEYS)
        ):
            self.result.rows_vanished = self.wh.mark_vanished(
                source=SOURCE,
                table=self.spec.table,
                raw_table=self.raw_table,
                raw_key="Id",
                since=state.full_started_at,
            )

    def _count(self, canonical: pd.DataFrame) -> None:
        r = self.result
        r.rows_pulled += len(canonical)
        if "is_deleted" in canonical.columns:
            merged = canonical["merged_into"].notna() if "merged_into" in canonical else False
            r.rows_merged += int(merged.sum()) if isinstance(merged, pd.Series) else 0
            deleted = canonical["is_deleted"].fillna(False).astype(bool)
            r.rows_deleted += (
                int((deleted & ~merged).sum())
                if isinstance(merged, pd.Series)
                else int(deleted.sum())
            )
        self._keep_preview(canonical)

    # -- REST --------------------------------------------------------------------------------

    def run_rest(self, pages: Iterator[Any], first: Any) -> None:
        self.result.strategy = "rest"
        cap = second_floor(first.server_time)
        buffered: list[dict[str, Any]] = []
        page = first
        try:
            while True:
                buffered.extend(page.records)
                self.progress.page(len(page.records), page.total_size, last=page.done)
                if page.done:
                    break
                if len(buffered) >= self.settings.commit_every_rows:
                    self._flush_rest(buffered, cap, done=False)
                    buffered = []
                page = next(pages)
        except BudgetExhausted as exc:
            self._flush_rest(buffered, cap, done=False)
            self._stopped(exc)
            return
        self._flush_rest(buffered, cap, done=True)

    def _flush_rest(
        self, records: list[dict[str, Any]], cap: datetime | None, *, done: bool
    ) -> None:
        raw = records_frame(records, self.fields)
        if done:
            cursor = cap  # everything up to the query's start is in
        elif len(raw):
            last = parse_timestamp(raw[CURSOR_FIELD].tail(1)).iloc[0]
            cursor = earlier_of(None if pd.isna(last) else last.to_pydatetime(), cap)
        else:
            cursor = None
        if len(raw) or done:
            self.commit(raw, cursor=cursor, done=done)

    # -- Bulk API 2.0 ------------------------------------------------------------------------

    def run_bulk(self) -> None:
        self.result.strategy = "bulk"
        obj, resume = self.spec.name, self.state.resume
        try:
            if resume.get("bulk_job") and self.client.bulk_job_exists(obj, resume["bulk_job"]):
                job_id = resume["bulk_job"]
                locator = resume.get("next_locator", "")
                cap = parse_moment(resume.get("cap"))
                self.result.notes.append(f"resumed Bulk job {job_id}")
            else:
                job = self.client.bulk_start(obj, self.soql(ordered=False), include_deleted=True)
                job_id, locator = job["id"], ""
                cap = second_floor(parse_moment(job.get("createdDate")) or self.client.server_time)
                self.state.resume = {"bulk_job": job_id, "next_locator": "", "cap": cap}
                self.wh.save_state(self.state)
            self.client.bulk_wait(obj, job_id, poll_seconds=self.settings.bulk_poll_seconds)
            while True:
                page = self.client.bulk_page(obj, job_id, locator, self.settings.bulk_page_size)
                raw = csv_frame(page.csv, self.fields)
                locator = page.locator
                done = not locator
                self.progress.page(page.rows, last=done)
                self.state.resume = (
                    {} if done else {"bulk_job": job_id, "next_locator": locator, "cap": cap}
                )
                self.commit(raw, cursor=cap if done else None, done=done)
                if done:
                    return
        except BudgetExhausted as exc:
            self._stopped(exc)

    # -- entry ---------------------------------------------------------------------------------

    def _check_fields(self, *, force: bool = False) -> None:
        absent = check_fields(
            self.client,
            self.wh,
            self.spec,
            self.settings,
            self.required,
            optional=self.optional,
            force=force,
        )
        self.fields = self.required + [f for f in self.optional if f not in absent]
        if absent:
            self.result.notes.append(
                f"owned fields not in the org (not read): {', '.join(sorted(absent))}"
            )

    def _run(self) -> None:
        try:
            self._check_fields()
        except BudgetExhausted as exc:
            self._stopped(exc)
            return
        if self.state.resume.get("bulk_job"):
            self.run_bulk()
            return
        threshold = self.settings.bulk_threshold
        known = self.wh.count(self.raw_table) if self.since is None else 0
        if known > threshold:
            self.run_bulk()
            return
        try:
            pages = self.client.query_pages(
                self.soql(ordered=True), include_deleted=True, page_size=self.settings.page_size
            )
            first = next(pages)
        except BudgetExhausted as exc:
            self._stopped(exc)
            return
        except SalesforceMalformedRequest as exc:
            if "INVALID_FIELD" in str(exc):
                self._check_fields(force=True)
            raise
        if not first.done and first.total_size > threshold:
            self.result.notes.append(
                f"{first.total_size} rows > bulk_threshold {threshold}: switched to Bulk API 2.0"
            )
            self.run_bulk()
            return
        self.run_rest(pages, first)


def pull_salesforce(
    client: SalesforceClient,
    wh: Warehouse,
    settings: SalesforceSync,
    table: str,
    *,
    full_refresh: bool = False,
    run_id: str = "",
    owned: Sequence[str] = (),
    progress: Progress | None = None,
) -> PullResult:
    """Pull the Salesforce object behind a canonical table (see the module doc); `owned`
    fields are read along into the raw table when the org has them; `progress` hears of
    every page."""
    return _Pull(
        client,
        wh,
        settings,
        SF_OBJECTS[table],
        full_refresh=full_refresh,
        run_id=run_id,
        owned=owned,
        progress=progress,
    ).run()
