"""The Salesforce org permission "Set Audit Fields upon Record Creation", driven by the
unmodified simple-salesforce: off in a new org (CreatedDate refused as Salesforce refuses it);
granted, CreatedDate / CreatedById / LastModifiedDate / LastModifiedById may be given on insert
(REST and Bulk API 2.0) — never on update — and describe says so. SystemModstamp stays the
system's time, so incremental readers still see the loaded records, and so do the rows the
system writes itself (OpportunityHistory): the permission sets the inserted record's fields
only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sf_helpers import Served, serve
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("sf_plain")
    app = serve(base / "salesforce.db", base / "tls")
    yield app
    app.stop()


@pytest.fixture(scope="module")
def granted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("sf_audit")
    app = serve(base / "salesforce.db", base / "tls", set_audit_fields=True)
    yield app
    app.stop()


def _error(exc: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    return dict(exc.value.content[0])


def test_a_new_org_refuses_audit_fields_as_salesforce_does(plain: Served) -> None:
    sf = plain.soap_client()
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.create({"Name": "Old Co", "CreatedDate": "2020-01-01T00:00:00.000+0000"})
    error = _error(exc)
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error["fields"] == ["CreatedDate"]
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert fields["CreatedDate"]["createable"] is False


def test_granted_audit_fields_are_kept_on_insert(granted: Served) -> None:
    sf: Salesforce = granted.soap_client()
    account = sf.Account.create({"Name": "Old Co", "CreatedDate": "2020-01-01T00:00:00.000+0000"})
    row = sf.Account.get(account["id"])
    assert row["CreatedDate"] == "2020-01-01T00:00:00.000+0000"
    # not given: the time of the insert, as for any record
    assert row["LastModifiedDate"] > "2025-01-01"
    assert row["SystemModstamp"] > "2025-01-01"
    deal = sf.Opportunity.create(
        {
            "Name": "Old deal",
            "AccountId": account["id"],
            "StageName": "Closed Won",
            "CloseDate": "2020-03-01",
            "Amount": 100,
            "CreatedDate": "2020-01-15T10:00:00Z",
        }
    )
    assert sf.Opportunity.get(deal["id"])["CreatedDate"] == "2020-01-15T10:00:00.000+0000"
    history = sf.query(
        "SELECT CreatedDate, StageName FROM OpportunityHistory "
        f"WHERE OpportunityId = '{deal['id']}'"
    )["records"]
    # the stage history row is the system's: dated when it was written (the load)
    assert [h["StageName"] for h in history] == ["Closed Won"]
    assert history[0]["CreatedDate"] > "2025-01-01"


def test_granted_audit_fields_are_never_updateable(granted: Served) -> None:
    sf = granted.soap_client()
    account = sf.Account.create({"Name": "New Co"})
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.update(account["id"], {"CreatedDate": "2019-01-01T00:00:00.000+0000"})
    assert _error(exc)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert (fields["CreatedDate"]["createable"], fields["CreatedDate"]["updateable"]) == (
        True,
        False,
    )
    assert fields["SystemModstamp"]["createable"] is False


def test_bulk_inserts_keep_granted_audit_fields(granted: Served, tmp_path: Path) -> None:
    sf = granted.soap_client()
    [result] = sf.bulk2.Account.insert(
        records=[{"Name": "Bulk Old Co", "CreatedDate": "2021-06-30T12:00:00.000Z"}], wait=0.05
    )
    assert result["numberRecordsProcessed"] == 1
    assert result["numberRecordsFailed"] == 0
    [row] = sf.query("SELECT CreatedDate FROM Account WHERE Name = 'Bulk Old Co'")["records"]
    assert row["CreatedDate"] == "2021-06-30T12:00:00.000+0000"
