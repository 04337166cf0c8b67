"""The write plan (`writeback.plan`), the payload guard (`apply.wire_record`) and what the
write-back keeps in the warehouse (`writeback.store`). Pure and fast: no sandbox."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acm_sync.warehouse import Warehouse
from acm_sync.writeback.apply import NotOwnedField, wire_record
from acm_sync.writeback.fields import OWNED, owned_names
from acm_sync.writeback.plan import (
    OVERWRITE_MANUAL,
    PLAN_COLUMNS,
    SENDING,
    SKIP_GIVEN_UP,
    SKIP_MANUAL,
    WRITE,
    payload_key,
    payloads,
    plan_object,
)
from acm_sync.writeback.store import Batch, Rejection, WritebackStore

PULLED = pd.Timestamp("2024-03-01 12:00", tz="UTC")  # when the pull read the records
BEFORE_PULL = PULLED - pd.Timedelta(hours=1)  # a write the pull has seen
AFTER_PULL = PULLED + pd.Timedelta(hours=1)  # a write the pull has not seen yet
STAMP = "ACM_Scored_At__c"  # the companion field
COMPANIONS = (STAMP,)

Cell = tuple[str, str]


def desired(cells: dict[Cell, str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        [(r, f, v) for (r, f), v in cells.items()], columns=["record_id", "field", "after"]
    ).astype(object)


def live(
    cells: dict[Cell, str | None], synced: dict[str, pd.Timestamp | None] | None = None
) -> pd.DataFrame:
    synced = synced or {}
    return pd.DataFrame(
        {
            "record_id": pd.Series([r for r, _ in cells], dtype=object),
            "field": pd.Series([f for _, f in cells], dtype=object),
            "live": pd.Series(list(cells.values()), dtype=object),
            "synced_at": pd.Series(
                [synced.get(r, PULLED) for r, _ in cells], dtype="datetime64[us, UTC]"
            ),
        }
    )


def ledger(cells: dict[Cell, tuple[str | None, pd.Timestamp]] | None = None) -> pd.DataFrame:
    cells = cells or {}
    return pd.DataFrame(
        {
            "record_id": pd.Series([r for r, _ in cells], dtype=object),
            "field": pd.Series([f for _, f in cells], dtype=object),
            "value": pd.Series([v for v, _ in cells.values()], dtype=object),
            "written_at": pd.Series([t for _, t in cells.values()], dtype="datetime64[us, UTC]"),
        }
    )


def rows(plan: pd.DataFrame) -> set[tuple[Any, ...]]:
    """The plan as a set of (record, field, before, after, action, last_written), NaN → None."""
    clean = plan[PLAN_COLUMNS].astype(object).where(plan[PLAN_COLUMNS].notna(), None)
    return {tuple(r) for r in clean.itertuples(index=False)}


def plan(
    want: dict[Cell, str | None],
    have: dict[Cell, str | None],
    wrote: dict[Cell, tuple[str | None, pd.Timestamp]] | None = None,
    *,
    policy: str = "respect",
    synced: dict[str, pd.Timestamp | None] | None = None,
    given_up: Iterable[str] = (),
) -> pd.DataFrame:
    out = plan_object(
        desired(want),
        live(have, synced),
        ledger(wrote),
        policy=policy,
        companions=COMPANIONS,
        given_up=list(given_up),
    )
    assert list(out.columns) == PLAN_COLUMNS
    return out


# -- plan_object: plain cases -------------------------------------------------------------------


def test_desired_equal_to_live_plans_nothing() -> None:
    cells = {("a", "Tier"): "Key", ("a", "Score"): "73", ("b", "Tier"): None}
    assert plan(cells, cells).empty


def test_a_change_is_a_write_with_before_and_after() -> None:
    out = plan(
        {("a", "Tier"): "Key", ("a", "Score"): "73", ("b", "Tier"): None},
        {("a", "Tier"): "New", ("a", "Score"): "73", ("b", "Tier"): "Dormant"},
    )
    assert rows(out) == {
        ("a", "Tier", "New", "Key", WRITE, None),
        ("b", "Tier", "Dormant", None, WRITE, None),  # None clears an old value
    }


def test_an_empty_field_gets_its_value() -> None:
    out = plan({("a", "Tier"): "Key"}, {("a", "Tier"): None})
    assert rows(out) == {("a", "Tier", None, "Key", WRITE, None)}


def test_our_write_the_pull_has_not_seen_is_not_written_again() -> None:
    # we wrote Key after the pull read New: the CRM holds Key, no echo write
    wrote = {("a", "Tier"): ("Key", AFTER_PULL)}
    assert plan({("a", "Tier"): "Key"}, {("a", "Tier"): "New"}, wrote).empty
    # a newer desired value is compared with what we wrote, not with the stale live value
    out = plan({("a", "Tier"): "Dormant"}, {("a", "Tier"): "New"}, wrote)
    assert rows(out) == {("a", "Tier", "Key", "Dormant", WRITE, "Key")}
    # and desired back to the stale live value is a real change (the CRM holds Key)
    out = plan({("a", "Tier"): "New"}, {("a", "Tier"): "New"}, wrote)
    assert rows(out) == {("a", "Tier", "Key", "New", WRITE, "Key")}


def test_a_record_never_pulled_counts_our_write_as_current() -> None:
    wrote = {("a", "Tier"): ("Key", BEFORE_PULL)}
    assert plan({("a", "Tier"): "Key"}, {("a", "Tier"): None}, wrote, synced={"a": None}).empty


def test_our_own_write_read_back_is_not_a_change() -> None:
    wrote = {("a", "Tier"): ("Key", BEFORE_PULL)}
    assert plan({("a", "Tier"): "Key"}, {("a", "Tier"): "Key"}, wrote).empty
    out = plan({("a", "Tier"): "New"}, {("a", "Tier"): "Key"}, wrote)
    assert rows(out) == {("a", "Tier", "Key", "New", WRITE, "Key")}


@pytest.mark.parametrize(
    ("policy", "action"), [("respect", SKIP_MANUAL), ("overwrite", OVERWRITE_MANUAL)]
)
def test_a_manual_edit_follows_the_policy(policy: str, action: str) -> None:
    # we wrote Key, the pull (after our write) read Dormant: a person changed it
    wrote = {("a", "Tier"): ("Key", BEFORE_PULL)}
    out = plan({("a", "Tier"): "Key"}, {("a", "Tier"): "Dormant"}, wrote, policy=policy)
    assert rows(out) == {("a", "Tier", "Dormant", "Key", action, "Key")}
    # a person who cleared the field is a manual edit too
    out = plan({("a", "Tier"): "Key"}, {("a", "Tier"): None}, wrote, policy=policy)
    assert rows(out) == {("a", "Tier", None, "Key", action, "Key")}


@pytest.mark.parametrize("policy", ["respect", "overwrite"])
def test_a_manual_edit_to_what_we_want_now_plans_nothing(policy: str) -> None:
    wrote = {("a", "Tier"): ("Key", BEFORE_PULL)}
    assert plan({("a", "Tier"): "New"}, {("a", "Tier"): "New"}, wrote, policy=policy).empty


def test_a_manual_edit_is_only_on_the_edited_field() -> None:
    wrote = {("a", "Tier"): ("Key", BEFORE_PULL), ("a", "Score"): ("70", BEFORE_PULL)}
    out = plan(
        {("a", "Tier"): "Key", ("a", "Score"): "73"},
        {("a", "Tier"): "Dormant", ("a", "Score"): "70"},
        wrote,
    )
    assert rows(out) == {
        ("a", "Tier", "Dormant", "Key", SKIP_MANUAL, "Key"),
        ("a", "Score", "70", "73", WRITE, "70"),
    }


def test_the_policy_must_be_known() -> None:
    with pytest.raises(ValueError, match="respect or overwrite"):
        plan({("a", "Tier"): "Key"}, {("a", "Tier"): "New"}, policy="ignore")


def test_a_companion_rides_along_only_with_another_change() -> None:
    want = {("a", "Tier"): "Key", ("a", STAMP): "2024-03-02T00:00:00Z"}
    # alone, a new stamp is no write at all
    have = {("a", "Tier"): "Key", ("a", STAMP): "2024-03-01T00:00:00Z"}
    assert plan(want, have).empty
    # with a change on the record, it goes along
    have = {("a", "Tier"): "New", ("a", STAMP): "2024-03-01T00:00:00Z"}
    assert rows(plan(want, have)) == {
        ("a", "Tier", "New", "Key", WRITE, None),
        ("a", STAMP, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z", WRITE, None),
    }
    # a change on another record does not take this record's stamp along
    want |= {("b", "Tier"): "Key"}
    have = {("a", "Tier"): "Key", ("a", STAMP): None, ("b", "Tier"): "New"}
    assert rows(plan(want, have)) == {("b", "Tier", "New", "Key", WRITE, None)}


def test_a_companion_rides_along_with_an_overwritten_manual_edit_but_not_a_kept_one() -> None:
    want = {("a", "Tier"): "Key", ("a", STAMP): "2024-03-02T00:00:00Z"}
    have = {("a", "Tier"): "Dormant", ("a", STAMP): "2024-03-01T00:00:00Z"}
    wrote = {("a", "Tier"): ("Key", BEFORE_PULL), ("a", STAMP): ("x", BEFORE_PULL)}
    kept = plan(want, have, wrote, policy="respect")
    assert set(kept["action"]) == {SKIP_MANUAL}
    assert set(kept["field"]) == {"Tier"}  # the stamp (hand-edited too) is not a manual edit
    overwritten = plan(want, have, wrote, policy="overwrite")
    assert dict(zip(overwritten["field"], overwritten["action"], strict=True)) == {
        "Tier": OVERWRITE_MANUAL,
        STAMP: WRITE,
    }


def test_given_up_records_are_reported_not_sent() -> None:
    want = {("a", "Tier"): "Key", ("a", STAMP): "t2", ("b", "Tier"): "Key"}
    have = {("a", "Tier"): "New", ("a", STAMP): "t1", ("b", "Tier"): "New"}
    out = plan(want, have, given_up=["a"])
    actions = {
        (r, f): a for r, f, a in zip(out["record_id"], out["field"], out["action"], strict=True)
    }
    assert actions == {
        ("a", "Tier"): SKIP_GIVEN_UP,
        ("a", STAMP): SKIP_GIVEN_UP,
        ("b", "Tier"): WRITE,
    }
    assert payloads(out) == {"b": {"Tier": "Key"}}


def test_a_given_up_record_with_nothing_to_send_is_not_listed() -> None:
    assert plan({("a", "Tier"): "Key"}, {("a", "Tier"): "Key"}, given_up=["a"]).empty


def test_only_records_both_desired_and_live_are_planned() -> None:
    out = plan(
        {("a", "Tier"): "Key", ("gone", "Tier"): "Key"},  # gone: deleted / merged in the CRM
        {("a", "Tier"): "New", ("unscored", "Tier"): "New"},  # unscored: left alone
    )
    assert set(out["record_id"]) == {"a"}


def test_nothing_desired_plans_nothing() -> None:
    assert plan({}, {("a", "Tier"): "New"}).empty
    assert plan({("a", "Tier"): "New"}, {}).empty


# -- plan_object against a cell-by-cell model --------------------------------------------------

RECORDS = ["r0", "r1", "r2", "r3", "r4"]
FIELDS = ["Tier", "Score", STAMP]
VALUES = st.sampled_from([None, "1", "2", "3"])


@st.composite
def situations(draw: st.DrawFn) -> dict[str, Any]:
    """Random desired / live / ledger frames over a few records and fields, the ledger's writes
    before or after the pull that read each record."""
    grid = [(r, f) for r in RECORDS for f in FIELDS]
    want = {c: draw(VALUES) for c in grid if draw(st.booleans())}
    pulled = {r for r in RECORDS if draw(st.integers(0, 4))}  # most records are live
    have = {c: draw(VALUES) for c in grid if c[0] in pulled}
    synced = {r: draw(st.sampled_from([PULLED, PULLED, None])) for r in pulled}
    wrote = {
        c: (draw(VALUES), draw(st.sampled_from([BEFORE_PULL, AFTER_PULL])))
        for c in grid
        if draw(st.integers(0, 2)) == 0
    }
    return {
        "want": want,
        "have": have,
        "synced": synced,
        "wrote": wrote,
        "policy": draw(st.sampled_from(["respect", "overwrite"])),
        "given_up": draw(st.sets(st.sampled_from(RECORDS), max_size=2)),
    }


def model(s: dict[str, Any]) -> set[tuple[Any, ...]]:
    """The plan, one cell at a time: the rules of `writeback.plan`, written out plainly."""
    planned: dict[Cell, list[Any]] = {}
    state: dict[Cell, tuple[Any, Any]] = {}  # cell → (current, last written)
    for cell, after in s["want"].items():
        if cell not in s["have"]:
            continue
        live_value, synced = s["have"][cell], s["synced"][cell[0]]
        last, at = s["wrote"].get(cell, (None, None))
        unseen = at is not None and (synced is None or at > synced)
        current = last if unseen else live_value
        state[cell] = (current, last)
        if cell[1] in COMPANIONS or after == current:
            continue
        manual = at is not None and not unseen and live_value != last
        action = WRITE
        if manual:
            action = SKIP_MANUAL if s["policy"] == "respect" else OVERWRITE_MANUAL
        planned[cell] = [cell[0], cell[1], current, after, action, last]
    sending = {r for (r, _), p in planned.items() if p[4] in SENDING}
    for cell, (current, last) in state.items():
        after = s["want"][cell]
        if cell[1] in COMPANIONS and cell[0] in sending and after != current:
            planned[cell] = [cell[0], cell[1], current, after, WRITE, last]
    for p in planned.values():
        if p[0] in s["given_up"] and p[4] in SENDING:
            p[4] = SKIP_GIVEN_UP
    return {tuple(p) for p in planned.values()}


def run(s: dict[str, Any]) -> pd.DataFrame:
    return plan(
        s["want"],
        s["have"],
        s["wrote"],
        policy=s["policy"],
        synced=s["synced"],
        given_up=s["given_up"],
    )


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(situations())
def test_the_plan_is_the_cell_by_cell_rules(s: dict[str, Any]) -> None:
    out = run(s)
    assert rows(out) == model(s)


@PROPERTY
@given(situations())
def test_plan_invariants(s: dict[str, Any]) -> None:
    out = run(s)
    cells = list(zip(out["record_id"], out["field"], strict=True))
    assert len(cells) == len(set(cells)), "a cell planned twice"
    assert set(cells) <= set(s["want"]) & set(s["have"])
    for r in rows(out):
        record, field, before, after, action, _ = r
        if action in (WRITE, OVERWRITE_MANUAL, SKIP_MANUAL):
            assert before != after, r
        if field in COMPANIONS and action == WRITE:
            others = out[(out["record_id"] == record) & ~out["field"].isin(COMPANIONS)]
            assert others["action"].isin(SENDING).any(), "a companion sent on its own"
        assert action != SKIP_MANUAL or s["policy"] == "respect"
        assert action != OVERWRITE_MANUAL or s["policy"] == "overwrite"
        assert (action == SKIP_GIVEN_UP) == (record in s["given_up"] and action != SKIP_MANUAL)
    sent = payloads(out)
    assert set(sent) == {r for r, _, _, _, a, _ in rows(out) if a in SENDING}
    assert sum(len(v) for v in sent.values()) == int(out["action"].isin(SENDING).sum())


def applied(s: dict[str, Any], out: pd.DataFrame, *, repull: bool) -> dict[str, Any]:
    """The situation after the sending cells were written (and, with `repull`, read again)."""
    wrote_at = AFTER_PULL + pd.Timedelta(hours=1)
    # what the CRM holds: our writes the pull had not seen landed over the values it read
    crm = dict(s["have"])
    for cell, (value, at) in s["wrote"].items():
        if cell in crm and (s["synced"][cell[0]] is None or at > s["synced"][cell[0]]):
            crm[cell] = value
    wrote = dict(s["wrote"])
    for r, f, _, after, action, _ in rows(out):
        if action in SENDING:
            crm[(r, f)] = after
            wrote[(r, f)] = (after, wrote_at)
    if not repull:
        return {**s, "wrote": wrote}
    later = wrote_at + pd.Timedelta(hours=1)
    return {**s, "have": crm, "synced": dict.fromkeys(s["synced"], later), "wrote": wrote}


@PROPERTY
@given(situations(), st.booleans())
def test_applying_the_plan_converges(s: dict[str, Any], repull: bool) -> None:
    first = run(s)
    again = run(applied(s, first, repull=repull))
    assert not again["action"].isin(SENDING).any(), again
    # what was held back stays held back, and nothing new appears
    held = {(r, f, a) for r, f, _, _, a, _ in rows(first) if a not in SENDING}
    assert {(r, f, a) for r, f, _, _, a, _ in rows(again)} <= held


# -- payloads ---------------------------------------------------------------------------------


def test_payloads_group_the_sending_cells_by_record() -> None:
    out = pd.DataFrame(
        [
            ("a", "Tier", "New", "Key", WRITE, None),
            ("a", "Score", "1", None, WRITE, None),
            ("b", "Tier", "New", "Key", OVERWRITE_MANUAL, "Key"),
            ("c", "Tier", "New", "Key", SKIP_MANUAL, "Key"),
            ("d", "Tier", "New", "Key", SKIP_GIVEN_UP, None),
        ],
        columns=PLAN_COLUMNS,
    )
    out.loc[1, "after"] = float("nan")  # an empty value as pandas may hold it
    assert payloads(out) == {"a": {"Tier": "Key", "Score": None}, "b": {"Tier": "Key"}}


def test_payload_key_is_stable_and_tells_values_apart() -> None:
    assert payload_key({"a": "1", "b": None}) == payload_key({"b": None, "a": "1"})
    assert payload_key({"a": "1"}) != payload_key({"a": "2"})
    assert payload_key({"a": None}) != payload_key({"b": None})


def test_payload_key_leaves_out_the_companion_stamp() -> None:
    # The scored-at stamp is new on every scoring run: a record refused for the same values
    # must still count as the same retry, or it is never given up (attempts restart at 1).
    for crm in ("salesforce", "hubspot"):
        stamp = next(f.name(crm) for f in OWNED if f.companion)
        tier = next(f.name(crm) for f in OWNED if f.source == "tier")
        first = {tier: "Key", stamp: "2024-03-01T00:00:00Z"}
        assert payload_key(first) == payload_key({tier: "Key", stamp: "2024-03-02T00:00:00Z"})
        assert payload_key(first) != payload_key({tier: "New", stamp: "2024-03-01T00:00:00Z"})


# -- the one place a request body is made -------------------------------------------------------


def test_wire_record_passes_owned_fields_in_wire_form() -> None:
    assert wire_record(
        "salesforce",
        "Account",
        {"ACM_Tier__c": "Key", "ACM_Health_Score__c": "73", "ACM_Next_Action__c": None},
    ) == {"ACM_Tier__c": "Key", "ACM_Health_Score__c": 73.0, "ACM_Next_Action__c": None}
    assert wire_record(
        "hubspot", "companies", {"acm_tier": "Key", "acm_scored_at": "2024-03-01T10:20:30Z"}
    ) == {"acm_tier": "Key", "acm_scored_at": "2024-03-01T10:20:30.000Z"}
    assert wire_record("hubspot", "deals", {"acm_data_issues": None}) == {"acm_data_issues": ""}


@pytest.mark.parametrize(
    ("crm", "obj", "values"),
    [
        ("salesforce", "Account", {"ACM_Tier__c": "Key", "Name": "Acme"}),
        ("salesforce", "Account", {"OwnerId": "005000000000001"}),
        ("salesforce", "Opportunity", {"ACM_Tier__c": "Key"}),  # owned on Account, not here
        ("salesforce", "Lead", {"ACM_Data_Issues__c": "x"}),
        ("hubspot", "companies", {"acm_tier": "Key", "domain": "acme.com"}),
        ("hubspot", "contacts", {"acm_tier": "Key"}),
        ("hubspot", "companies", {"ACM_Tier__c": "Key"}),  # a Salesforce name on HubSpot
    ],
)
def test_wire_record_refuses_a_field_we_do_not_own(
    crm: Any, obj: str, values: dict[str, str | None]
) -> None:
    with pytest.raises(NotOwnedField, match="does not own"):
        wire_record(crm, obj, values)


def test_every_owned_field_passes_the_guard() -> None:
    for crm in ("salesforce", "hubspot"):
        for f in OWNED:
            obj = f.object(crm)
            assert f.name(crm) in owned_names(crm, obj)
            assert set(wire_record(crm, obj, {f.name(crm): None})) == {f.name(crm)}


# -- the warehouse tables -----------------------------------------------------------------------


@pytest.fixture()
def store(tmp_path: Path) -> WritebackStore:
    return WritebackStore(Warehouse(tmp_path / "w.duckdb"))


def batch(records: dict[str, dict[str, str | None]], run_id: str = "run-1", n: int = 1) -> Batch:
    return Batch(f"batch-{run_id}-{n}", run_id, "salesforce", "Account", records)


def test_a_written_batch_lands_in_the_ledger(store: WritebackStore) -> None:
    b = batch({"001A": {"ACM_Tier__c": "Key", "ACM_Next_Action__c": None}, "001B": {"X": "1"}})
    store.record_outcome(b, written=["001A"], rejected=[])
    got = store.ledger("salesforce", "Account")
    keys = zip(got["record_id"], got["field"], strict=True)
    values = dict(zip(keys, got["value"], strict=True))
    assert set(values) == {("001A", "ACM_Tier__c"), ("001A", "ACM_Next_Action__c")}
    assert values[("001A", "ACM_Tier__c")] == "Key"
    assert pd.isna(values[("001A", "ACM_Next_Action__c")])  # we cleared it: ledgered as empty
    assert got["written_at"].notna().all()
    assert store.ledger("hubspot", "companies").empty
    # a later write replaces the value
    store.record_outcome(
        batch({"001A": {"ACM_Tier__c": "New"}}, n=2), written=["001A"], rejected=[]
    )
    got = store.ledger("salesforce", "Account")
    assert len(got) == 2
    assert got.set_index("field").loc["ACM_Tier__c", "value"] == "New"


def test_the_ledger_feeds_the_plan_as_echo_suppression(store: WritebackStore) -> None:
    store.record_outcome(batch({"001A": {"Tier": "Key"}}), written=["001A"], rejected=[])
    # the pull read the record before our write: a stale value, and no write planned
    out = plan_object(
        desired({("001A", "Tier"): "Key"}),
        live({("001A", "Tier"): "New"}, {"001A": PULLED}),
        store.ledger("salesforce", "Account"),
        policy="respect",
    )
    assert out.empty


def _reject(record_id: str, values: dict[str, str | None], code: str = "BAD") -> Rejection:
    return Rejection(record_id, values, code, f"{code}: refused")


def test_dead_letters_count_attempts_per_same_values(store: WritebackStore) -> None:
    first = {"ACM_Tier__c": "Key"}
    for n in (1, 2, 3):
        store.record_outcome(
            batch({"001A": first}, run_id=f"run-{n}"),
            written=[],
            rejected=[_reject("001A", first, code=f"E{n}")],
        )
        dead = store.dead_letters("salesforce", "Account")
        assert dead["attempts"].tolist() == [n]
        assert dead["error_code"].tolist() == [f"E{n}"]  # the latest error
        assert dead["run_id"].tolist() == [f"run-{n}"]
    first_failed = dead["first_failed_at"].iat[0]
    assert dead["last_failed_at"].iat[0] > first_failed
    assert dead["payload_key"].iat[0] == payload_key(first)
    # new values start over
    second = {"ACM_Tier__c": "New"}
    store.record_outcome(
        batch({"001A": second}, run_id="run-4"), written=[], rejected=[_reject("001A", second)]
    )
    dead = store.dead_letters()
    assert dead["attempts"].tolist() == [1]
    assert dead["first_failed_at"].iat[0] > first_failed
    assert dead["payload_key"].iat[0] == payload_key(second)


def test_the_same_values_with_a_new_stamp_count_as_another_attempt(
    store: WritebackStore,
) -> None:
    for n in (1, 2, 3):
        values = {"ACM_Tier__c": "Key", "ACM_Scored_At__c": f"2024-03-0{n}T00:00:00Z"}
        store.record_outcome(
            batch({"001A": values}, run_id=f"run-{n}"),
            written=[],
            rejected=[_reject("001A", values)],
        )
    assert store.dead_letters()["attempts"].tolist() == [3]
    assert set(store.given_up("salesforce", "Account", max_attempts=3)) == {"001A"}


def test_a_later_success_clears_the_dead_letter(store: WritebackStore) -> None:
    values = {"ACM_Tier__c": "Key"}
    other = {"ACM_Tier__c": "New"}
    store.record_outcome(
        batch({"001A": values, "001B": other}),
        written=[],
        rejected=[_reject("001A", values), _reject("001B", other)],
    )
    assert len(store.dead_letters("salesforce")) == 2
    store.record_outcome(batch({"001A": values}, run_id="run-2"), written=["001A"], rejected=[])
    assert store.dead_letters()["record_id"].tolist() == ["001B"]
    assert store.dead_letters("hubspot").empty


def test_given_up_after_max_attempts(store: WritebackStore) -> None:
    values = {"ACM_Tier__c": "Key"}
    for n in range(1, 4):
        store.record_outcome(
            batch({"001A": values}, run_id=f"run-{n}"),
            written=[],
            rejected=[_reject("001A", values)],
        )
        expected = {"001A": payload_key(values)} if n >= 3 else {}
        assert store.given_up("salesforce", "Account", max_attempts=3) == expected
    assert store.given_up("salesforce", "Account", max_attempts=4) == {}
    assert store.given_up("hubspot", "companies", max_attempts=1) == {}


def test_an_interrupted_batch_is_found_until_its_outcome_is_recorded(store: WritebackStore) -> None:
    b = batch({"001A": {"ACM_Tier__c": "Key", "ACM_Next_Action__c": None}, "001B": {"X": "y"}})
    done = batch({"001C": {"ACM_Tier__c": "New"}}, n=2)
    store.journal_sent(b)
    store.journal_sent(done)
    store.record_outcome(done, written=["001C"], rejected=[])
    assert store.interrupted() == [b]
    store.journal_job(b.batch_id, "750JOB")
    (found,) = store.interrupted()
    assert found.job_id == "750JOB" and found.records == b.records
    store.record_outcome(found, written=["001A"], rejected=[], recovered=True)
    assert store.interrupted() == []


def test_save_plan_and_statuses(store: WritebackStore) -> None:
    assert store.latest_plan_run() is None
    cells = pd.DataFrame(
        [
            ("salesforce", "Account", "001A", "Tier", "New", "Key", WRITE, None),
            ("salesforce", "Account", "001B", "Tier", "New", "Key", WRITE, None),
            ("salesforce", "Account", "001C", "Tier", "Dormant", "Key", SKIP_MANUAL, "Key"),
            ("salesforce", "Account", "001D", "Tier", "New", "Key", OVERWRITE_MANUAL, "Key"),
        ],
        columns=["crm", "object", *PLAN_COLUMNS],
    )
    store.save_plan("run-1", cells)
    store.save_plan("run-1", cells)  # a retried step replaces, never doubles
    latest = store.latest_plan_run()
    assert latest is not None and latest[0] == "run-1"
    assert len(store.plan("run-1")) == 4
    b = batch({"001A": {"Tier": "Key"}, "001B": {"Tier": "Key"}, "001D": {"Tier": "Key"}})
    store.record_outcome(b, written=["001A"], rejected=[_reject("001B", {"Tier": "Key"})])
    store.record_outcome(
        batch({"001D": {"Tier": "Key"}}, n=2), written=["001D"], rejected=[], recovered=True
    )
    saved = store.plan("run-1").set_index("record_id")
    assert saved.loc["001A", "status"] == "written"
    assert saved.loc["001B", "status"] == "rejected"
    assert pd.isna(saved.loc["001C", "status"])  # a skipped cell keeps only its action
    assert saved.loc["001D", "status"] == "recovered"
    # an empty plan is a plan too (nothing to do), and the latest
    store.save_plan("run-2", cells.iloc[0:0])
    latest = store.latest_plan_run()
    assert latest is not None and latest[0] == "run-2"
    assert store.plan("run-2").empty
