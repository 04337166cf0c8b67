"""HubSpot's stage calculated deal properties (`hs_v2_date_entered_<stageId>`,
`hs_v2_date_exited_<stageId>`) through the real hubspot-api-client: listed by the properties
API as read-only calculated datetimes, computed from the deal's stage history on every read
path, refused on write.

Sources: knowledge.hubspot.com/properties/stage-calculated-properties ("Date entered [stage
ID]: the date and time the record entered the stage. Date exited [stage ID]: the date and time
the record exited the stage."); a real portal's deal property listing (github
hairsolutionsco/automations_hub hubspot/objects/deals/properties.md: `hs_v2_date_entered_closedwon`,
`Date entered "Closed Won (Sales Pipeline)"`, datetime / date).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest
from hs_helpers import Running, client, serve_unthrottled, synthetic_org
from hubspot.crm.deals import (
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
    SimplePublicObjectInput,
)
from hubspot.crm.deals import SimplePublicObjectInputForCreate as DealCreate
from hubspot.crm.deals.exceptions import ApiException as DealsApiException

from acm_sync.sandbox.hubspot import schema

STAGES = [s[0] for s in schema.DEAL_STAGES]
TIMING = [f"hs_v2_date_{kind}_{s}" for kind in ("entered", "exited") for s in STAGES]


@pytest.fixture(scope="module")
def org() -> object:
    return synthetic_org(companies=60, contacts_per=1, deals_per=1)


@pytest.fixture(scope="module")
def hs_run(tmp_path_factory: pytest.TempPathFactory, org: object) -> Iterator[Running]:
    with serve_unthrottled(tmp_path_factory, org) as run:
        yield run


def _instant(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def test_listed_per_stage_as_read_only_calculated_datetimes(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    props = {p.name: p for p in hs.crm.properties.core_api.get_all("deals").results}
    for sid, label, *_ in schema.DEAL_STAGES:
        for kind, verb in (("entered", "Date entered"), ("exited", "Date exited")):
            p = props[f"hs_v2_date_{kind}_{sid}"]
            assert p.label == f'{verb} "{label} (Sales Pipeline)"'
            assert (p.type, p.field_type) == ("datetime", "date")
            assert p.calculated is True and p.hubspot_defined is True
            assert p.modification_metadata.read_only_value is True
            assert p.modification_metadata.read_only_definition is True
            assert p.form_field is False
    one = hs.crm.properties.core_api.get_by_name("deals", "hs_v2_date_entered_closedwon")
    assert one.label == 'Date entered "Closed Won (Sales Pipeline)"'


def test_a_deal_moved_through_stages_reads_entered_and_exited(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    deal = hs.crm.deals.basic_api.create(
        DealCreate(properties={"dealname": "Timing", "dealstage": "appointmentscheduled"})
    )
    moved = {"appointmentscheduled": deal.created_at}
    for stage in ("qualifiedtobuy", "closedwon"):
        out = hs.crm.deals.basic_api.update(
            deal.id, SimplePublicObjectInput(properties={"dealstage": stage})
        )
        moved[stage] = out.updated_at
    got = hs.crm.deals.basic_api.get_by_id(deal.id, properties=TIMING).properties
    assert _instant(got["hs_v2_date_entered_appointmentscheduled"]) == moved["appointmentscheduled"]
    assert _instant(got["hs_v2_date_exited_appointmentscheduled"]) == moved["qualifiedtobuy"]
    assert _instant(got["hs_v2_date_entered_qualifiedtobuy"]) == moved["qualifiedtobuy"]
    assert _instant(got["hs_v2_date_exited_qualifiedtobuy"]) == moved["closedwon"]
    assert _instant(got["hs_v2_date_entered_closedwon"]) == moved["closedwon"]
    for name in ("hs_v2_date_exited_closedwon", "hs_v2_date_entered_closedlost"):
        assert got[name] is None  # still in Closed Won; never in Closed Lost
    # Not asked for: not returned (they are not among the default properties).
    plain = hs.crm.deals.basic_api.get_by_id(deal.id).properties
    assert not any(k.startswith("hs_v2_") for k in plain)
    # The same values through batch read and search.
    batch = hs.crm.deals.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=deal.id)], properties=TIMING
        )
    ).results[0]
    assert batch.properties == got
    found = hs.crm.deals.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": deal.id}]}
            ],
            properties=TIMING,
        )
    ).results[0]
    assert {k: found.properties[k] for k in TIMING} == {k: got[k] for k in TIMING}


def test_seeded_history_drives_the_values_on_list(hs_run: Running, org: object) -> None:
    hist = org.hubspot_property_history  # type: ignore[attr-defined]
    stages = hist[(hist["object_type"] == "deals") & (hist["property"] == "dealstage")]
    truth: dict[str, dict[str, datetime]] = {}
    for oid, rows in stages.sort_values("timestamp").groupby("object_id"):
        seq = [
            (v, t.to_pydatetime()) for v, t in zip(rows["value"], rows["timestamp"], strict=True)
        ]
        expect: dict[str, datetime] = {}
        for i, (stage, ts) in enumerate(seq):
            if i and seq[i - 1][0] == stage:
                continue
            expect[f"hs_v2_date_entered_{stage}"] = ts
            later = [t for s, t in seq[i + 1 :] if s != stage]
            if later:
                expect[f"hs_v2_date_exited_{stage}"] = later[0]
        truth[str(oid)] = expect
    hs = client(hs_run.base_url)
    listed = hs.crm.deals.get_all(properties=TIMING)
    checked = 0
    for deal in listed:
        if deal.id not in truth:
            continue
        got = {k: _instant(v) for k, v in deal.properties.items() if k in TIMING and v}
        assert got == truth[deal.id], deal.id
        checked += 1
    assert checked > 20


def test_writing_one_is_refused_as_read_only(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    deal = hs.crm.deals.basic_api.create(DealCreate(properties={"dealname": "No write"}))
    with pytest.raises(DealsApiException) as caught:
        hs.crm.deals.basic_api.update(
            deal.id,
            SimplePublicObjectInput(
                properties={"hs_v2_date_entered_closedwon": "2024-01-01T00:00:00Z"}
            ),
        )
    assert caught.value.status == 400
    assert "READ_ONLY_VALUE" in json.loads(caught.value.body)["message"]
