"""Bulk API 2.0 against the sandbox through simple-salesforce's bulk2 client (and raw HTTP for
the wire details): query jobs over 50k+ rows with locator paging, ingest jobs with failures."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sf_helpers import Served, serve, synthetic_org
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceOperationError

ACCOUNTS = 5_500
CONTACTS = ACCOUNTS * 10  # 55,000 rows: more than one default 50,000-row results page
QUERY = "SELECT Id, Name, Email, Title, HasOptedOutOfEmail, CreatedDate, AccountId FROM Contact"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("sf_bulk")
    app = serve(base / "salesforce.db", base / "tls", seed=synthetic_org(ACCOUNTS))
    yield app
    app.stop()


@pytest.fixture(scope="module")
def sf(served: Served) -> Salesforce:
    return served.soap_client()


@pytest.fixture()
def http(served: Served, sf: Salesforce) -> requests.Session:
    session = served.session()
    session.headers.update({"Authorization": f"Bearer {sf.session_id}"})
    return session


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_query_job_pages_through_50k_rows_with_locators(sf: Salesforce) -> None:
    pages = list(sf.bulk2.Contact.query(QUERY, max_records=20_000, wait=0.05))
    assert [len(_rows(p)) for p in pages] == [20_000, 20_000, CONTACTS - 40_000]
    rows = [r for p in pages for r in _rows(p)]
    assert len({r["Id"] for r in rows}) == CONTACTS
    assert list(rows[0]) == [
        "Id",
        "Name",
        "Email",
        "Title",
        "HasOptedOutOfEmail",
        "CreatedDate",
        "AccountId",
    ]
    assert {r["HasOptedOutOfEmail"] for r in rows} == {"true", "false"}
    assert all(r["CreatedDate"].endswith(".000Z") for r in rows[:100])
    assert 'VP "Sales", EMEA' in {r["Title"] for r in rows}  # RFC 4180 quoting round-trips
    assert "" in {r["Title"] for r in rows}  # null is an empty field


def test_query_results_wire_format(served: Served, http: requests.Session) -> None:
    base = f"{served.url}/services/data/v59.0/jobs/query"
    created = http.post(base, json={"operation": "query", "query": QUERY})
    assert created.status_code == 200
    job = created.json()
    assert job["state"] == "UploadComplete" and job["object"] == "Contact"
    assert set(job) >= {
        "id",
        "operation",
        "object",
        "createdById",
        "createdDate",
        "systemModstamp",
        "state",
        "concurrencyMode",
        "contentType",
        "apiVersion",
        "lineEnding",
        "columnDelimiter",
    }
    info = http.get(f"{base}/{job['id']}").json()
    assert info["state"] == "JobComplete" and info["jobType"] == "V2Query"
    assert info["numberRecordsProcessed"] == CONTACTS
    first = http.get(f"{base}/{job['id']}/results")  # no maxRecords: 50,000 a page
    assert first.headers["Content-Type"].startswith("text/csv")
    assert first.headers["Sforce-NumberOfRecords"] == "50000"
    assert first.headers["Sforce-Locator"] == "NTAwMDA"
    assert first.text.startswith('"Id","Name","Email"')
    last = http.get(
        f"{base}/{job['id']}/results",
        params={"locator": first.headers["Sforce-Locator"], "maxRecords": 10_000},
    )
    assert last.headers["Sforce-NumberOfRecords"] == str(CONTACTS - 50_000)
    assert last.headers["Sforce-Locator"] == "null"
    bad = http.get(f"{base}/{job['id']}/results", params={"locator": "not-a-locator"})
    assert bad.status_code == 400
    assert http.delete(f"{base}/{job['id']}").status_code == 204
    assert http.get(f"{base}/{job['id']}").status_code == 404
    listed = http.get(base).json()
    assert listed["done"] is True and isinstance(listed["records"], list)


def test_download_writes_one_file_per_page(sf: Salesforce, tmp_path: Path) -> None:
    results = sf.bulk2.Contact.download(QUERY, path=str(tmp_path), max_records=30_000, wait=0.05)
    assert [r["number_of_records"] for r in results] == [30_000, CONTACTS - 30_000]
    assert sum(len(_rows(Path(r["file"]).read_text())) for r in results) == CONTACTS


def test_query_all_includes_deleted_rows(sf: Salesforce) -> None:
    soql = "SELECT Id, IsDeleted FROM Account WHERE Name LIKE 'Company 1%'"
    live = [r for p in sf.bulk2.Account.query(soql, wait=0.05) for r in _rows(p)]
    sf.Account.delete(live[0]["Id"])
    after = [r for p in sf.bulk2.Account.query(soql, wait=0.05) for r in _rows(p)]
    everything = [r for p in sf.bulk2.Account.query_all(soql, wait=0.05) for r in _rows(p)]
    assert len(after) == len(live) - 1 and len(everything) == len(live)
    assert {r["IsDeleted"] for r in everything} == {"true", "false"}


def test_bad_query_jobs_are_refused(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        list(sf.bulk2.Contact.query("SELECT Nope FROM Contact", wait=0.05))
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        list(sf.bulk2.Contact.query("SELECT FROM", wait=0.05))
    assert exc.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> str:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def test_ingest_insert_with_failures(sf: Salesforce, tmp_path: Path) -> None:
    source = _write_csv(
        tmp_path / "accounts.csv",
        ["Name", "ACM_Tier__c", "NumberOfEmployees", "Website"],
        [
            ["Bulk One", "Key", "10", "one.example"],
            ["Bulk Two", "Platinum", "20", "two.example"],
            ["", "New", "30", "three.example"],
            ["Bulk Four, Ltd", "Dormant", "lots", "four.example"],
            ["Bulk Five", "", "", ""],
        ],
    )
    [result] = sf.bulk2.Account.insert(csv_file=source, wait=0.05)
    assert result["numberRecordsProcessed"] == 5 and result["numberRecordsFailed"] == 3
    failed = _rows(sf.bulk2.Account.get_failed_records(result["job_id"]))
    assert [list(r)[:2] for r in failed[:1]] == [["sf__Id", "sf__Error"]]
    errors = {r["Name"]: r["sf__Error"] for r in failed}
    assert errors["Bulk Two"].startswith(
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:ACM Tier: bad value for restricted picklist "
        "field: Platinum:ACM_Tier__c --"
    )
    assert errors[""].startswith("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]")
    assert errors["Bulk Four, Ltd"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    succeeded = _rows(sf.bulk2.Account.get_successful_records(result["job_id"]))
    assert [r["Name"] for r in succeeded] == ["Bulk One", "Bulk Five"]
    assert all(r["sf__Created"] == "true" and r["sf__Id"].startswith("001") for r in succeeded)
    assert _rows(sf.bulk2.Account.get_unprocessed_records(result["job_id"])) == []
    stored = sf.Account.get(succeeded[0]["sf__Id"])
    assert stored["NumberOfEmployees"] == 10 and stored["ACM_Tier__c"] == "Key"


def test_ingest_update_upsert_and_delete(sf: Salesforce) -> None:
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 4")["records"]]
    [updated] = sf.bulk2.Account.update(
        records=[
            {"Id": ids[0], "ACM_Tier__c": "Existing", "ACM_Health_Score__c": "88"},
            {"Id": ids[1], "ACM_Tier__c": "Gold", "ACM_Health_Score__c": "12"},
        ],
        wait=0.05,
    )
    assert updated["numberRecordsFailed"] == 1
    assert sf.Account.get(ids[0])["ACM_Health_Score__c"] == 88.0
    failed = _rows(sf.bulk2.Account.get_failed_records(updated["job_id"]))
    assert failed[0]["sf__Id"] == ids[1]
    [upserted] = sf.bulk2.Account.upsert(
        records=[{"Id": ids[2], "Name": "Upserted Existing"}, {"Id": "", "Name": "Upserted New"}],
        external_id_field="Id",
        wait=0.05,
    )
    assert upserted["numberRecordsFailed"] == 0
    created = {
        r["Name"]: r["sf__Created"]
        for r in _rows(sf.bulk2.Account.get_successful_records(upserted["job_id"]))
    }
    assert created == {"Upserted Existing": "false", "Upserted New": "true"}
    [deleted] = sf.bulk2.Account.delete(records=[{"Id": ids[3]}], wait=0.05)
    assert deleted["numberRecordsFailed"] == 0
    gone = sf.query_all(
        f"SELECT IsDeleted FROM Account WHERE Id = '{ids[3]}'", include_deleted=True
    )
    assert gone["records"][0]["IsDeleted"] is True


def test_ingest_job_with_an_unknown_column_fails(sf: Salesforce) -> None:
    with pytest.raises(SalesforceOperationError, match="Field name not found : Bogus__c"):
        sf.bulk2.Account.insert(records=[{"Name": "x", "Bogus__c": "y"}], wait=0.05)


def test_ingest_wire_format_and_abort(served: Served, http: requests.Session) -> None:
    base = f"{served.url}/services/data/v59.0/jobs/ingest"
    job = http.post(
        base,
        json={"object": "Contact", "operation": "insert", "contentType": "CSV", "lineEnding": "LF"},
    ).json()
    assert job["state"] == "Open"
    assert job["contentUrl"] == f"services/data/v59.0/jobs/ingest/{job['id']}/batches"
    data = "LastName,Email\nSmith,smith@example.com\nJones,jones@example.com\n"
    upload = http.put(
        f"{base}/{job['id']}/batches", data=data.encode(), headers={"Content-Type": "text/csv"}
    )
    assert upload.status_code == 201
    again = http.put(
        f"{base}/{job['id']}/batches", data=data.encode(), headers={"Content-Type": "text/csv"}
    )
    assert again.status_code == 400
    aborted = http.patch(f"{base}/{job['id']}", json={"state": "Aborted"}).json()
    assert aborted["state"] == "Aborted"
    unprocessed = http.get(f"{base}/{job['id']}/unprocessedrecords")
    assert unprocessed.text == data
    info = http.get(f"{base}/{job['id']}").json()
    assert info["jobType"] == "V2Ingest" and info["numberRecordsProcessed"] == 0
    assert http.post(base, json={"object": "Nope", "operation": "insert"}).status_code == 404
    assert http.post(base, json={"object": "Account", "operation": "merge"}).status_code == 400


def test_numbers_in_query_results_are_written_as_java_doubles(sf: Salesforce) -> None:
    """Currency values in Bulk CSV as Salesforce writes them (Double.toString: see
    test_java_double.py for the evidence): E-notation from 1e7 up, plain below."""
    small, large = (
        r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 2")["records"]
    )
    sf.Account.update(small, {"AnnualRevenue": 948000})
    sf.Account.update(large, {"AnnualRevenue": 99213206})
    text = "".join(
        sf.bulk2.Account.query(
            f"SELECT Id, AnnualRevenue FROM Account WHERE Id IN ('{small}', '{large}')",
            wait=0.05,
        )
    )
    assert {r["Id"]: r["AnnualRevenue"] for r in _rows(text)} == {
        small: "948000.0",
        large: "9.9213206E7",
    }
