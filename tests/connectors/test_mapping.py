"""CRM values → canonical columns (pure pandas, no sandbox)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from acm_sync import model
from acm_sync.connectors.mapping import (
    MappingRules,
    history_from_versions,
    merged_stubs,
    normalise_email,
    parse_bool,
    parse_timestamp,
    raw_text,
    to_canonical,
)
from acm_sync.connectors.settings import HubSpotSync, SalesforceSync
from acm_sync.domains import host


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("http://WWW2.acme.co.uk:8080", "acme.co.uk"),
        ("acme.io/", "acme.io"),
        ("  shop.acme.com ", "shop.acme.com"),
        ("ftp://user@files.acme.com/x", "files.acme.com"),
        ("sales@acme.com", "acme.com"),
        ("", None),
        (None, None),
    ],
)
def test_domain_normalised(value: str | None, expected: str | None) -> None:
    out = host(pd.Series([value], dtype=object)).iloc[0]
    assert (None if pd.isna(out) else out) == expected


def test_email_lower_and_blank_is_missing() -> None:
    out = normalise_email(pd.Series([" Ann@Acme.COM", "", None, "mailto:b@x.io"]))
    assert out.tolist()[0] == "ann@acme.com"
    assert out.isna().tolist() == [False, True, True, False]
    assert out.iloc[3] == "b@x.io"


def test_timestamps_of_every_crm_shape_parse_to_utc() -> None:
    values: list[Any] = [
        "2024-01-02T03:04:05.000+0000",  # Salesforce REST
        "2024-01-02T03:04:05.000Z",  # Bulk CSV / HubSpot
        "2024-01-02T05:04:05+02:00",
        "2024-01-02",  # date fields
        "1704164645000",  # epoch milliseconds
        None,
        "garbage",
    ]
    out = parse_timestamp(pd.Series(values, dtype=object))
    assert str(out.dtype) == model.TIMESTAMP
    first = pd.Timestamp("2024-01-02T03:04:05Z")
    assert out.iloc[:3].tolist() == [first] * 3
    assert out.iloc[3] == pd.Timestamp("2024-01-02T00:00:00Z")
    assert out.iloc[4] == first
    assert out.iloc[5:].isna().all()


def test_far_future_dates_load_rather_than_overflow() -> None:
    out = parse_timestamp(pd.Series(["2999-01-01", "0001-01-01", "2024-01-01"]))
    assert out.notna().all() and out.iloc[0].year >= 2262 and str(out.dtype) == model.TIMESTAMP


def test_booleans_and_integers_keep_their_identity_as_text() -> None:
    raw = raw_text(pd.DataFrame({"b": [True, False, None], "n": [1, 0, None]}, dtype=object))
    assert raw["b"].tolist()[:2] == ["true", "false"]
    assert raw["n"].tolist()[:2] == ["1", "0"]  # 1 is not True
    assert parse_bool(raw["b"]).tolist()[:2] == [True, False]


def _sf_accounts() -> pd.DataFrame:
    return raw_text(
        pd.DataFrame(
            {
                "Id": ["001A", "001B", "001C"],
                "IsDeleted": [False, True, True],
                "MasterRecordId": [None, None, "001A"],
                "Name": ["Acme", "Gone", "Acme (dup)"],
                "Website": ["https://www.acme.com/", None, "acme.com"],
                "Industry": ["Technology", None, None],
                "NumberOfEmployees": [120, None, 3],
                "AnnualRevenue": [1.5e6, None, None],
                "CurrencyIsoCode": ["USD", "EUR", "usd"],
                "OwnerId": ["005X", "005X", None],
                "CreatedDate": ["2023-01-01T00:00:00.000+0000"] * 3,
                "LastModifiedDate": ["2024-01-01T00:00:00.000+0000"] * 3,
                "LastActivityDate": ["2024-02-01", None, None],
                "SystemModstamp": ["2024-01-01T00:00:00.000+0000"] * 3,
            },
            dtype=object,
        )
    )


def test_salesforce_accounts_map_to_the_canonical_contract() -> None:
    settings = SalesforceSync()
    rules = MappingRules(
        "salesforce",
        "accounts",
        settings.field_map("accounts"),
        id_field="Id",
        deleted_field="IsDeleted",
        merged_field="MasterRecordId",
    )
    out = to_canonical(_sf_accounts(), rules)
    assert list(out.columns) == list(model.ACCOUNTS)
    assert out.dtypes.astype(str).tolist() == list(model.ACCOUNTS.values())
    assert out["account_id"].tolist() == ["sf:001A", "sf:001B", "sf:001C"]
    assert out["domain"].tolist()[0] == "acme.com"
    assert out["owner_id"].tolist()[0] == "sf:005X"
    assert out["is_deleted"].tolist() == [False, True, True]
    assert out["merged_into"].iloc[2] == "sf:001A" and out["merged_into"].iloc[:2].isna().all()
    assert out["employees"].tolist()[0] == 120
    assert out["currency"].tolist()[2] == "USD"


def test_a_custom_field_maps_onto_a_canonical_column() -> None:
    settings = SalesforceSync(fields={"accounts": {"industry": "Segment__c"}})
    segment: list[Any] = ["Mid-market", None, None]
    raw = _sf_accounts().assign(Segment__c=segment)
    rules = MappingRules("salesforce", "accounts", settings.field_map("accounts"), "Id")
    assert to_canonical(raw, rules)["industry"].iloc[0] == "Mid-market"


def test_unknown_canonical_columns_are_rejected_with_the_key() -> None:
    with pytest.raises(ValueError, match=r"accounts\.industri is not a canonical column"):
        SalesforceSync(fields={"accounts": {"industri": "Industry"}})
    with pytest.raises(ValueError, match="filled by the connector"):
        HubSpotSync(fields={"accounts": {"account_id": "hs_object_id"}})


def test_opportunity_values_are_mapped_and_probability_scaled() -> None:
    settings = SalesforceSync()
    raw = raw_text(
        pd.DataFrame(
            {
                "Id": ["006A", "006B"],
                "IsDeleted": [False, False],
                "AccountId": ["001A", None],
                "Name": ["Big deal", "Odd"],
                "StageName": ["Closed Won", "Prospecting"],
                "Probability": [100.0, 10.0],
                "Amount": [5000.0, None],
                "CurrencyIsoCode": ["EUR", "USD"],
                "CloseDate": ["2024-03-31", "2024-06-30"],
                "CreatedDate": ["2024-01-01T00:00:00.000+0000"] * 2,
                "LastModifiedDate": ["2024-01-01T00:00:00.000+0000"] * 2,
                "IsClosed": [True, False],
                "IsWon": [True, False],
                "Type": ["Renewal", "Weird Type"],
                "ForecastCategoryName": ["Closed", "Pipeline"],
            },
            dtype=object,
        )
    )
    rules = MappingRules(
        "salesforce",
        "opportunities",
        settings.field_map("opportunities"),
        "Id",
        "IsDeleted",
        probability_scale=100.0,
        value_maps={"type": settings.opportunity_types},
    )
    out = to_canonical(raw, rules)
    assert out["stage_probability"].tolist() == [1.0, 0.1]
    assert out["type"].tolist() == ["renewal", "Weird Type"]  # unknown values left for quality
    assert out["account_id"].iloc[0] == "sf:001A" and pd.isna(out["account_id"].iloc[1])
    assert out["is_won"].tolist() == [True, False]


def test_hubspot_domain_falls_back_to_website_and_currency_to_the_portal() -> None:
    settings = HubSpotSync()
    raw = raw_text(
        pd.DataFrame(
            {
                "id": ["11", "12"],
                "archived": ["false", "true"],
                "domain": [None, "Beta.io"],
                "website": ["https://www.alpha.com", "https://beta.io"],
                "name": ["Alpha", "Beta"],
            },
            dtype=object,
        )
    )
    rules = MappingRules(
        "hubspot",
        "accounts",
        settings.field_map("accounts"),
        "id",
        "archived",
        default_currency="USD",
    )
    out = to_canonical(raw, rules)
    assert out["domain"].tolist() == ["alpha.com", "beta.io"]
    assert out["currency"].tolist() == ["USD", "USD"]
    assert out["is_deleted"].tolist() == [False, True]
    assert out["account_id"].tolist() == ["hs:11", "hs:12"]


def test_merged_ids_become_deleted_rows_pointing_at_the_survivor() -> None:
    survivors = pd.DataFrame({"id": ["1", "2", "3"], "hs_merged_object_ids": ["5;6", None, "3"]})
    out = merged_stubs(
        survivors,
        id_field="id",
        merged_field="hs_merged_object_ids",
        source="hubspot",
        table="contacts",
    )
    assert out["contact_id"].tolist() == ["hs:5", "hs:6"]
    assert out["merged_into"].tolist() == ["hs:1", "hs:1"]
    assert out["is_deleted"].all()
    assert list(out.columns) == list(model.CONTACTS)


def test_stage_history_rows_carry_all_tracked_values_as_they_stood() -> None:
    versions = pd.DataFrame(
        {
            "deal_id": ["9", "9", "9", "9"],
            "property": ["dealstage", "amount", "dealstage", "closedate"],
            "value": ["appointmentscheduled", "100", "closedwon", "2024-05-01T00:00:00Z"],
            "timestamp": [
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:00Z",
                "2024-02-01T00:00:00Z",
                "2024-03-01T00:00:00Z",
            ],
        }
    )
    out = history_from_versions(versions, HubSpotSync().field_map("opportunity_stage_history"))
    assert list(out.columns) == list(model.OPPORTUNITY_STAGE_HISTORY)
    assert out["stage"].tolist() == ["appointmentscheduled", "closedwon", "closedwon"]
    assert out["amount"].tolist() == [100.0, 100.0, 100.0]
    assert out["close_date"].isna().tolist() == [True, True, False]
    assert out["opportunity_id"].unique().tolist() == ["hs:9"]


def test_a_csat_custom_field_maps_onto_satisfaction_and_is_read_only_when_mapped() -> None:
    from acm_sync.connectors.hubspot_pull import HS_OBJECTS, properties_for
    from acm_sync.connectors.salesforce_pull import SF_OBJECTS, select_fields

    # unmapped by default: the SOQL field list and the properties read do not name one
    assert SalesforceSync().field_map("accounts")["satisfaction"] is None
    assert not any(
        "csat" in f.lower() for f in select_fields(SF_OBJECTS["accounts"], SalesforceSync())
    )
    assert not any("csat" in p for p in properties_for(HS_OBJECTS["accounts"], HubSpotSync()))
    sf = SalesforceSync(fields={"accounts": {"satisfaction": "CSAT__c"}})
    hs = HubSpotSync(fields={"accounts": {"satisfaction": "csat_score"}})
    assert "CSAT__c" in select_fields(SF_OBJECTS["accounts"], sf)
    assert "csat_score" in properties_for(HS_OBJECTS["accounts"], hs)
    # numbers (as REST JSON and Bulk CSV give them) become floats; text that is not a number
    # becomes null here (quality quotes it from the raw table: connectors.raw_values)
    raw = _sf_accounts().assign(CSAT__c=["72", None, "n/a"])
    rules = MappingRules("salesforce", "accounts", sf.field_map("accounts"), "Id")
    out = to_canonical(raw, rules)["satisfaction"]
    assert str(out.dtype) == model.FLOAT
    assert out.iloc[0] == 72.0 and out.iloc[1:].isna().all()


def test_frames_built_before_the_satisfaction_column_still_conform() -> None:
    # a benchmark's CSV loader or a caller's own accounts frame, made without `satisfaction`:
    # the optional column is added empty; a missing required column is still an error
    frame = model.empty_frame("accounts").drop(columns="satisfaction").reindex(range(2))
    out = model.conform(frame, "accounts")
    assert list(out.columns) == list(model.ACCOUNTS)
    assert str(out["satisfaction"].dtype) == model.FLOAT and out["satisfaction"].isna().all()
    with pytest.raises(ValueError, match=r"missing canonical columns \['name'\]"):
        model.conform(frame.drop(columns="name"), "accounts")
