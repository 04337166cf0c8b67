"""Pull one HubSpot object into the warehouse: full over the list endpoint, incremental over
search.

Full pull (the first run, or `full_refresh`): the list endpoint, 100 records a page with the
company association inline, then the archived records (`archived=true`) so deletions land as
rows too. Deals are listed with `propertiesWithHistory=dealstage,amount,closedate`, which
HubSpot serves at most 50 a page: one pass of ceil(N/50) calls gives deals and their stage
history together — the same count as ceil(N/100) for deals plus ceil(N/100) batch reads for the
history, in one consistent snapshot. The paging token is saved with every commit, so a pull
stopped by the budget resumes at the next page; the cursor becomes the moment the pull began.

Incremental pull: one search sorted by last-modified *descending*, no filter. Its first page
carries `total` = live records in the CRM, for free, and the most recent changes; pages follow
until they reach the cursor − lookback. When more than the search's 10,000-result cap changed,
the rest is read ascending in windows of modification time (GTE the last timestamp seen; a
window whose 10,000 records all share one timestamp is split by record id), so nothing is lost.
Search returns neither associations nor archived records:

- associations of the changed contacts / deals come from one v4 batch read per 100 records;
- stage history is re-read (batch read with propertiesWithHistory) only for deals whose stage,
  amount or close date differ from the warehouse;
- archives: search's `total` is compared with the live rows in the warehouse. Only when the
  warehouse holds more live rows than HubSpot does (something was archived) is the archive
  listed (`archived=true`), and its records land as `is_deleted`. A run where nothing changed
  costs one call per object, archive check included.

Merges: HubSpot merges two records into a new one whose `hs_merged_object_ids` lists the
records merged away; each becomes a row with `is_deleted` and `merged_into` = the new record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pandas as pd

from acm_sync import model
from acm_sync.connectors.common import (
    MappingError,
    PullResult,
    after_pages,
    later_of,
    next_after,
    parse_moment,
    second_floor,
    seconds_before,
    unknown_fields_message,
)
from acm_sync.connectors.hubspot import HubSpotClient
from acm_sync.connectors.mapping import (
    MappingRules,
    history_from_versions,
    merged_stubs,
    raw_text,
    to_canonical,
)
from acm_sync.connectors.policy import BudgetExhausted
from acm_sync.connectors.progress import Progress
from acm_sync.connectors.pull_run import PullRun
from acm_sync.connectors.settings import (
    ASSOCIATION_PREFIX,
    HubSpotSync,
    field_names,
    mapping_fingerprint,
)
from acm_sync.warehouse import Batch, Warehouse, raw_table_name

SOURCE = "hubspot"
MERGED = "hs_merged_object_ids"
# What a write of ours changes besides the owned properties (see Batch.echo_columns).
ECHO_STAMPS = ("hs_lastmodifieddate", "lastmodifieddate", "updatedAt")
HISTORY_PAGE = 50  # HubSpot's list limit when propertiesWithHistory is asked for
ASSOCIATION_BATCH = 100
HISTORY_TABLE = "raw_hubspot_deal_history"


@dataclass(frozen=True)
class HsObject:
    name: str  # CRM object type
    table: str  # canonical table
    modified: str  # last-modified property (contacts use their own)
    associations: tuple[str, ...] = ()
    history: bool = False


HS_OBJECTS: dict[str, HsObject] = {
    "accounts": HsObject("companies", "accounts", "hs_lastmodifieddate"),
    "contacts": HsObject("contacts", "contacts", "lastmodifieddate", ("companies",)),
    "opportunities": HsObject(
        "deals", "opportunities", "hs_lastmodifieddate", ("companies",), history=True
    ),
}


def properties_for(spec: HsObject, settings: HubSpotSync) -> list[str]:
    names = [spec.modified, "createdate", MERGED]
    for ref in settings.field_map(spec.table).values():
        names += field_names(ref)
    return list(dict.fromkeys(names))


def history_properties(settings: HubSpotSync) -> list[str]:
    refs = settings.field_map("opportunity_stage_history").values()
    return list(dict.fromkeys(n for ref in refs for n in field_names(ref)))


def unknown_properties(
    spec: HsObject, settings: HubSpotSync, names: list[str], known: set[str]
) -> str | None:
    """What is wrong with the properties read against the properties API's `known`: a message
    naming each missing one and its config key, or None when all exist."""
    column_of = {
        n: column
        for column, ref in settings.field_map(spec.table).items()
        for n in field_names(ref)
    }
    unknown = {n: column_of.get(n, "(system property)") for n in names if n not in known}
    if not unknown:
        return None
    return unknown_fields_message(
        crm="HubSpot",
        obj=spec.name,
        unknown=unknown,
        known=known,
        config_key=f"hubspot.fields.{spec.table}",
    )


def mapping_problems(client: HubSpotClient, settings: HubSpotSync) -> list[str]:
    """The `sync.hubspot` mapping checked against the properties API, as a pull checks it (one
    call per object type): a message per object type with properties that do not exist."""
    problems = []
    for spec in HS_OBJECTS.values():
        names = properties_for(spec, settings)
        if spec.history:
            names += history_properties(settings)
        problem = unknown_properties(spec, settings, names, client.property_names(spec.name))
        if problem:
            problems.append(problem)
    return problems


def rules_for(spec: HsObject, settings: HubSpotSync) -> MappingRules:
    return MappingRules(
        source=SOURCE,
        table=spec.table,
        fields=settings.field_map(spec.table),
        id_field="id",
        deleted_field="archived",
        merged_field=None,
        default_currency=settings.portal_currency if spec.table != "contacts" else None,
        value_maps={
            "type": settings.opportunity_types,
            "forecast_category": settings.forecast_categories,
        },
    )


def primary_association(record: dict[str, Any], to: str) -> str | None:
    """The record's primary associated `to` record from a v3 read (labelled before unlabelled)."""
    found = ((record.get("associations") or {}).get(to) or {}).get("results") or []
    for item in found:
        if not str(item.get("type", "")).endswith("_unlabeled"):
            return str(item["id"])
    return str(found[0]["id"]) if found else None


def primary_from_v4(answer: dict[str, Any]) -> dict[str, str]:
    """from id → primary associated id, from a v4 batch read."""
    out: dict[str, str] = {}
    for entry in answer.get("results", []):
        targets = entry.get("to") or []
        chosen = next(
            (
                t
                for t in targets
                if any((a.get("label") or "") == "Primary" for a in t.get("associationTypes", []))
            ),
            targets[0] if targets else None,
        )
        if chosen is not None:
            out[str(entry["from"]["id"])] = str(chosen["toObjectId"])
    return out


def records_frame(
    results: list[dict[str, Any]], properties: list[str], associations: Iterable[str]
) -> pd.DataFrame:
    """API records → a raw frame: id, timestamps, archived, each property, primary associations."""
    frame = pd.DataFrame([r.get("properties") or {} for r in results], columns=properties)
    frame.insert(0, "id", [r["id"] for r in results])
    frame.insert(1, "createdAt", [r.get("createdAt") for r in results])
    frame.insert(2, "updatedAt", [r.get("updatedAt") for r in results])
    frame.insert(3, "archived", [bool(r.get("archived", False)) for r in results])
    frame.insert(4, "archivedAt", [r.get("archivedAt") for r in results])
    for to in associations:
        frame[ASSOCIATION_PREFIX + to] = [primary_association(r, to) for r in results]
    return raw_text(frame.astype(object))


def versions_frame(results: list[dict[str, Any]]) -> pd.DataFrame:
    """Long frame of property versions from records read with propertiesWithHistory."""
    rows = [
        (str(r["id"]), prop, v.get("value"), v.get("timestamp"), v.get("sourceType"))
        for r in results
        for prop, versions in (r.get("propertiesWithHistory") or {}).items()
        for v in versions
    ]
    frame = pd.DataFrame(rows, columns=["deal_id", "property", "value", "timestamp", "source_type"])
    return raw_text(frame.astype(object))


def millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


class _Pull(PullRun[HubSpotClient, HubSpotSync, HsObject]):
    source = SOURCE

    def _prepare(self, owned: Sequence[str]) -> None:
        settings, spec = self.settings, self.spec
        self.mapped = properties_for(spec, settings)
        # The owned properties are read along for the write-back's diff. HubSpot leaves a
        # property it doesn't have out of the answer, so they need no check (a portal the
        # write-back has not set up yet simply has no values).
        self.owned = tuple(owned)
        self.properties = list(dict.fromkeys([*self.mapped, *owned]))
        self.history = history_properties(settings) if spec.history else []
        self.rules = rules_for(spec, settings)
        self.raw_table = raw_table_name(SOURCE, spec.name)

    # -- committing -------------------------------------------------------------------------

    def commit(
        self,
        results: list[dict[str, Any]],
        *,
        cursor: datetime | None,
        done: bool,
        resume: dict[str, Any] | None = None,
        history: list[dict[str, Any]] | None = None,
        associations: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """Rows, merges, history and the state covering them, in one transaction."""
        state = self.state
        state.cursor = later_of(state.cursor, cursor)
        state.resume = {} if done else (resume or {})
        state.complete = done
        finishing_full = done and state.mode == "full"
        if finishing_full:
            state.mode = "incremental"
        raw = records_frame(results, self.properties, self.spec.associations)
        for to, mapping in (associations or {}).items():
            raw[ASSOCIATION_PREFIX + to] = raw["id"].map(mapping).astype("string")
        canonical = (
            to_canonical(raw, self.rules) if len(raw) else model.empty_frame(self.spec.table)
        )
        stubs = merged_stubs(
            raw, id_field="id", merged_field=MERGED, source=SOURCE, table=self.spec.table
        )
        batch = Batch(
            state,
            raw=raw.assign(_synced_at=datetime.now(UTC), _run_id=self.run_id),
            raw_key="id",
            canonical=[(self.spec.table, canonical)],
            merged_stubs=[(self.spec.table, stubs)],
            echo_columns=(*self.owned, *ECHO_STAMPS),
        )
        if history:
            self._add_history(batch, history)
        self.wh.commit(batch, raw_table=self.raw_table)
        self._count(canonical, stubs)
        if finishing_full and state.full_started_at is not None:
            self.result.rows_vanished = self.wh.mark_vanished(
                source=SOURCE,
                table=self.spec.table,
                raw_table=self.raw_table,
                raw_key="id",
                since=state.full_started_at,
            )

    def _add_history(self, batch: Batch, records: list[dict[str, Any]]) -> None:
        """The deals' stage history, replaced whole per deal, in the deals' own transaction
        (so a deal's values and its history never disagree in the warehouse)."""
        versions = versions_frame(records)
        deal_ids = [str(r["id"]) for r in records]
        rows = history_from_versions(versions, self.settings.field_map("opportunity_stage_history"))
        raw = versions.assign(_synced_at=datetime.now(UTC), _run_id=self.run_id)
        batch.raw_children.append((HISTORY_TABLE, raw, "deal_id"))
        batch.replace.append(
            ("opportunity_stage_history", "opportunity_id", ["hs:" + i for i in deal_ids], rows)
        )
        self.result.history_rows += len(rows)

    def _count(self, canonical: pd.DataFrame, stubs: pd.DataFrame) -> None:
        r = self.result
        r.rows_pulled += len(canonical)
        r.rows_deleted += int(canonical["is_deleted"].fillna(False).astype(bool).sum())
        r.rows_merged += len(stubs)
        self._keep_preview(canonical)

    # -- full ------------------------------------------------------------------------------------

    def _list_page(
        self, after: str | None, *, limit: int, history: list[str] | None, archived: bool
    ) -> dict[str, Any]:
        return self.client.list_page(
            self.spec.name,
            limit=limit,
            after=after,
            properties=self.properties,
            associations=list(self.spec.associations),
            history=history,
            archived=archived,
        )

    def run_full(self) -> None:
        self.result.strategy = "list"
        resume = dict(self.state.resume)
        as_of = parse_moment(resume.get("as_of"))
        phases = ["live", "archived"]
        phase = resume.get("phase", "live")
        after: str | None = resume.get("after")
        buffered: list[dict[str, Any]] = []
        history = bool(self.history)
        try:
            for current in phases[phases.index(phase) :]:
                if current != phase:
                    after = None
                with_history = self.history if (history and current == "live") else None
                limit = HISTORY_PAGE if with_history else self.settings.page_size
                pages = after_pages(
                    partial(
                        self._list_page,
                        limit=limit,
                        history=with_history,
                        archived=current == "archived",
                    ),
                    after=after,
                )
                for page, after in pages:  # `after`: what a stop saves to resume from
                    as_of = as_of or second_floor(self.client.server_time)
                    buffered.extend(page.get("results", []))
                    last = after is None and current == "archived"
                    self.progress.page(len(page.get("results", [])), last=last)
                    if after is not None:
                        resume = {"phase": current, "after": after, "as_of": as_of}
                    else:
                        resume = {"phase": "archived", "after": None, "as_of": as_of}
                    if after is None or len(buffered) >= self.settings.commit_every_rows:
                        self.commit(
                            buffered,
                            cursor=as_of if last else None,
                            done=last,
                            resume=resume,
                            history=buffered if with_history else None,
                        )
                        buffered = []
        except BudgetExhausted as exc:
            if buffered:
                self.commit(
                    buffered,
                    cursor=None,
                    done=False,
                    resume={"phase": current, "after": after, "as_of": as_of},
                    history=buffered if (history and current == "live") else None,
                )
            else:
                self.state.resume = {"phase": current, "after": after, "as_of": as_of}
            self._stopped(exc)

    # -- incremental -------------------------------------------------------------------------------

    def _search_body(
        self, filters: list[dict[str, Any]], sort: str, direction: str, after: int
    ) -> dict[str, Any]:
        return {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": sort, "direction": direction}],
            "properties": self.properties,
            "limit": self.settings.search_page_size,
            "after": str(after),
        }

    def run_incremental(self) -> None:
        self.result.strategy = "search"
        since = seconds_before(self.state.cursor, self.settings.lookback_seconds)
        assert since is not None
        modified = self.spec.modified
        cap = self.settings.search_cap
        seen: dict[str, dict[str, Any]] = {}
        total_live: int | None = None
        as_of: datetime | None = None
        reached_since = False
        try:
            # Newest first, unfiltered: page one also says how many live records there are.
            oldest: datetime | None = None
            newest_first = after_pages(
                lambda token: self.client.search(
                    self.spec.name, self._search_body([], modified, "DESCENDING", int(token or 0))
                ),
                cap=cap,
            )
            for page, nxt in newest_first:
                if total_live is None:
                    total_live = int(page.get("total", 0))
                    as_of = second_floor(self.client.server_time)
                # (its `total` counts every live record, not the changed ones: no ETA)
                self.progress.page(len(page.get("results", [])))
                for record in page.get("results", []):
                    stamp = _record_modified(record, modified)
                    if stamp is not None and stamp < since:
                        reached_since = True
                        break
                    seen[str(record["id"])] = record
                    oldest = stamp if stamp is not None else oldest
                if reached_since or nxt is None:
                    reached_since = True
                    break
            if not reached_since and oldest is not None:
                # More changed than one search can return: read the rest oldest-first.
                self.result.notes.append("over the search cap: windowed by modification time")
                for chunk in windowed_search(
                    lambda body: self.client.search(self.spec.name, body),
                    self._search_body,
                    modified=modified,
                    low=since,
                    high=oldest,
                    cap=cap,
                ):
                    for record in chunk:
                        seen.setdefault(str(record["id"]), record)
            results = list(seen.values())
            extra = self._enrich(results)
        except BudgetExhausted as exc:
            # Nothing is committed: search results lack associations, and the cursor stays
            # where it was, so the next run reads the same changes again.
            self._stopped(exc)
            return
        self.commit(results, cursor=as_of, done=True, **extra)
        if total_live is not None:
            self._check_archive(total_live)

    def _enrich(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """What search leaves out: associations, and the stage history of changed deals."""
        extra: dict[str, Any] = {}
        ids = [str(r["id"]) for r in results]
        if not ids:
            return extra
        associations: dict[str, dict[str, str]] = {}
        for to in self.spec.associations:
            mapping: dict[str, str] = {}
            for start in range(0, len(ids), ASSOCIATION_BATCH):
                answer = self.client.associations(
                    self.spec.name, to, ids[start : start + ASSOCIATION_BATCH]
                )
                mapping.update(primary_from_v4(answer))
            associations[to] = mapping
        extra["associations"] = associations
        if self.history:
            stale = self._history_stale(results)
            records: list[dict[str, Any]] = []
            size = self.settings.history_batch_size
            for start in range(0, len(stale), size):
                answer = self.client.batch_read(
                    self.spec.name,
                    stale[start : start + size],
                    properties=[],
                    history=self.history,
                )
                records.extend(answer.get("results", []))
            extra["history"] = records
        return extra

    def _history_stale(self, results: list[dict[str, Any]]) -> list[str]:
        """Changed deals whose tracked values differ from the warehouse (or are new there)."""
        fresh = records_frame(results, self.history, ())[["id", *self.history]]
        try:
            cols = ", ".join(f'"{c}"' for c in ["id", *self.history])
            known = self.wh.query(f"SELECT {cols} FROM {self.raw_table}")
        except Exception:  # no raw table yet
            return fresh["id"].tolist()
        merged = fresh.merge(
            raw_text(known.astype(object)),
            on="id",
            how="left",
            suffixes=("", "_was"),
            indicator=True,
        )
        changed = merged["_merge"] == "left_only"
        for prop in self.history:
            now, was = merged[prop].fillna(""), merged[f"{prop}_was"].fillna("")
            changed |= now != was
        return merged.loc[changed, "id"].astype(str).tolist()

    def _check_archive(self, total_live: int) -> None:
        """HubSpot's live count against the warehouse's: more here means archives to fetch."""
        where = "WHERE source = ? AND NOT coalesce(is_deleted, false)"
        if "merged_into" in model.TABLES[self.spec.table]:
            where += " AND merged_into IS NULL"
        live_here = self.wh.count(self.spec.table, where, ["hubspot"])
        if live_here <= total_live:
            if live_here < total_live:
                self.result.notes.append(
                    f"{total_live - live_here} live records in HubSpot are missing here; "
                    "a full refresh will bring them"
                )
            return
        archived: list[dict[str, Any]] = []
        pages = after_pages(
            partial(self._list_page, limit=self.settings.page_size, history=None, archived=True)
        )
        try:
            for page, _ in pages:
                archived.extend(page.get("results", []))
        except BudgetExhausted as exc:
            self.result.notes.append(f"archive check stopped: {exc.reason}")
        if archived:
            self.commit(archived, cursor=None, done=True)
        self.result.notes.append(f"archive listed: {len(archived)} archived records")

    # -- entry -------------------------------------------------------------------------------------

    def check_properties(self) -> None:
        names = [*self.mapped, *self.history]
        fingerprint = mapping_fingerprint(self.spec.name, sorted(names))
        seen = self.wh.schema_checked(SOURCE, self.spec.name)
        if (
            seen
            and seen[0] == fingerprint
            and (datetime.now(UTC) - seen[1] < timedelta(hours=self.settings.schema_check_hours))
        ):
            return
        known = self.client.property_names(self.spec.name)
        problem = unknown_properties(self.spec, self.settings, names, known)
        if problem:
            raise MappingError(problem)
        self.wh.save_schema_check(SOURCE, self.spec.name, fingerprint)

    def _run(self) -> None:
        try:
            self.check_properties()
        except BudgetExhausted as exc:
            self._stopped(exc)
            return
        if self.state.mode == "full":
            self.run_full()
        else:
            self.run_incremental()


def windowed_search(
    search: Callable[[dict[str, Any]], dict[str, Any]],
    body: Callable[[list[dict[str, Any]], str, str, int], dict[str, Any]],
    *,
    modified: str,
    low: datetime,
    high: datetime,
    cap: int,
) -> Iterable[list[dict[str, Any]]]:
    """Every record modified in [low, high], oldest first, whatever the search cap.

    Each window reads up to `cap` results sorted ascending; the next starts at the last
    timestamp seen (GTE, so ties are read again rather than skipped). A window filled by one
    single timestamp is read by record id instead, then the window moves past that timestamp.
    """
    start, op = low, "GTE"
    upper = {"propertyName": modified, "operator": "LTE", "value": millis(high)}
    while True:
        lower = {"propertyName": modified, "operator": op, "value": millis(start)}
        first, last = None, None
        exhausted = False
        for page, offset, results in _search_pages(search, body, [lower, upper], modified, cap):
            if results:
                first = first or _record_modified(results[0], modified)
                last = _record_modified(results[-1], modified) or last
                yield results
            # No next page: the end, unless the server stopped paging at its cap.
            exhausted = _ended(page, offset, results)
        if exhausted or last is None:
            return
        if first == last:
            yield from _by_id(search, body, modified=modified, at=last, cap=cap)
            start, op = last, "GT"
        else:
            start, op = last, "GTE"


def _search_pages(
    search: Callable[[dict[str, Any]], dict[str, Any]],
    body: Callable[[list[dict[str, Any]], str, str, int], dict[str, Any]],
    filters: list[dict[str, Any]],
    sort: str,
    cap: int,
) -> Iterator[tuple[dict[str, Any], int, list[dict[str, Any]]]]:
    """One ascending search, page by page up to the cap: (page, its offset, its results)."""
    offset = 0
    for page, nxt in after_pages(
        lambda token: search(body(filters, sort, "ASCENDING", int(token or 0))), cap=cap
    ):
        yield page, offset, page.get("results", [])
        offset = int(nxt) if nxt is not None else offset


def _ended(page: dict[str, Any], offset: int, results: list[dict[str, Any]]) -> bool:
    """The search has nothing after this page (not merely stopped at its cap)."""
    return next_after(page) is None and int(page.get("total", 0)) <= offset + len(results)


def _by_id(
    search: Callable[[dict[str, Any]], dict[str, Any]],
    body: Callable[[list[dict[str, Any]], str, str, int], dict[str, Any]],
    *,
    modified: str,
    at: datetime,
    cap: int,
) -> Iterable[list[dict[str, Any]]]:
    """Every record modified exactly at `at`, in windows of record id."""
    after_id = "0"
    while True:
        filters = [
            {"propertyName": modified, "operator": "EQ", "value": millis(at)},
            {"propertyName": "hs_object_id", "operator": "GT", "value": after_id},
        ]
        exhausted, results = False, list[dict[str, Any]]()
        for page, offset, results in _search_pages(search, body, filters, "hs_object_id", cap):
            if results:
                after_id = str(results[-1]["id"])
                yield results
            exhausted = _ended(page, offset, results)
        if exhausted or not results:
            return


def pull_hubspot(
    client: HubSpotClient,
    wh: Warehouse,
    settings: HubSpotSync,
    table: str,
    *,
    full_refresh: bool = False,
    run_id: str = "",
    owned: Sequence[str] = (),
    progress: Progress | None = None,
) -> PullResult:
    """Pull the HubSpot object behind a canonical table (see the module doc); `owned`
    properties are read along into the raw table; `progress` hears of every page."""
    return _Pull(
        client,
        wh,
        settings,
        HS_OBJECTS[table],
        full_refresh=full_refresh,
        run_id=run_id,
        owned=owned,
        progress=progress,
    ).run()


def _record_modified(record: dict[str, Any], prop: str) -> datetime | None:
    return parse_moment((record.get("properties") or {}).get(prop) or record.get("updatedAt"))
