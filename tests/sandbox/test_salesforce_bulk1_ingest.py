"""Bulk API 1.0 ingest jobs on the Salesforce sandbox, over the wire as Salesforce documents them
(XML jobInfo / batchInfo, CSV batches, "Get Batch Results": one `"Id","Success","Created","Error"`
row per request row, in order). The records changed here are the ones the test inserts, so the
shared org is left as it was."""

from __future__ import annotations

import csv
import io
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
import requests
from sf_helpers import token_session
from simple_salesforce import Salesforce

from acm_sync.sandbox.server import SandboxSettings

NS = "http://www.force.com/2009/06/asyncapi/dataload"


class Async:
    """The Bulk API 1.0 calls, in the XML the documentation's examples send."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.http, self.token = token_session(settings)
        self.base = f"{settings.salesforce_instance_url}/services/async/61.0"
        self.sf = Salesforce(
            instance_url=settings.salesforce_instance_url,
            session_id=self.token,
            session=self.http,
        )

    def _headers(self, content_type: str) -> dict[str, str]:
        return {"X-SFDC-Session": self.token, "Content-Type": f"{content_type}; charset=UTF-8"}

    def create(self, operation: str, sobject: str, **extra: str) -> requests.Response:
        fields = "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="{NS}">'
            f"<operation>{operation}</operation><object>{sobject}</object>{fields}"
            "<contentType>CSV</contentType></jobInfo>"
        )
        return self.http.post(
            f"{self.base}/job", data=body, headers=self._headers("application/xml")
        )

    def job(self, operation: str, sobject: str, **extra: str) -> str:
        answer = self.create(operation, sobject, **extra)
        assert answer.status_code == 201, answer.text
        return str(ET.fromstring(answer.content).findtext(f"{{{NS}}}id"))

    def batch(self, job_id: str, rows: list[list[str]] | str) -> str:
        """Add a batch: CSV rows, or a query's SOQL."""
        out = io.StringIO()
        if isinstance(rows, str):
            out.write(rows)
        else:
            csv.writer(out, lineterminator="\n").writerows(rows)
        answer = self.http.post(
            f"{self.base}/job/{job_id}/batch",
            data=out.getvalue().encode(),
            headers=self._headers("text/csv"),
        )
        assert answer.status_code == 201, answer.text
        info = ET.fromstring(answer.content)
        assert info.findtext(f"{{{NS}}}state") == "Queued"
        return str(info.findtext(f"{{{NS}}}id"))

    def wait(self, job_id: str, batch_id: str) -> dict[str, str]:
        for _ in range(50):
            answer = self.http.get(
                f"{self.base}/job/{job_id}/batch/{batch_id}",
                headers=self._headers("application/xml"),
            )
            info = {el.tag.split("}")[1]: el.text or "" for el in ET.fromstring(answer.content)}
            if info["state"] in ("Completed", "Failed", "NotProcessed"):
                return info
            time.sleep(0.1)
        raise AssertionError(f"batch {batch_id} never finished: {info}")

    def results(self, job_id: str, batch_id: str) -> tuple[str, list[list[str]]]:
        answer = self.http.get(
            f"{self.base}/job/{job_id}/batch/{batch_id}/result",
            headers=self._headers("application/xml"),
        )
        assert answer.status_code == 200, answer.text
        return answer.headers["Content-Type"], list(csv.reader(io.StringIO(answer.text)))


@pytest.fixture(scope="module")
def bulk1(sandbox: SandboxSettings) -> Async:
    return Async(sandbox)


def test_insert_then_update_batches_write_and_report_per_row(bulk1: Async) -> None:
    insert = bulk1.job("insert", "Account")
    batch = bulk1.batch(
        insert,
        [["Name", "Industry"], ["Bulk1 Ingest A", "Energy"], ["Bulk1 Ingest B", "Retail"]],
    )
    info = bulk1.wait(insert, batch)
    assert info["state"] == "Completed"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("2", "0")
    content_type, rows = bulk1.results(insert, batch)
    assert content_type == "text/csv"  # exactly: salesforce-bulk compares it so
    assert rows[0] == ["Id", "Success", "Created", "Error"]
    assert [r[1:] for r in rows[1:]] == [["true", "true", ""], ["true", "true", ""]]
    ids = [r[0] for r in rows[1:]]
    read = {
        r["Id"]: r
        for r in bulk1.sf.query(
            "SELECT Id, Name, Industry FROM Account WHERE Name LIKE 'Bulk1 Ingest%'"
        )["records"]
    }
    assert [read[i]["Name"] for i in ids] == ["Bulk1 Ingest A", "Bulk1 Ingest B"]

    update = bulk1.job("update", "Account", concurrencyMode="Serial")
    sent = [
        ["Id", "Industry", "Description"],
        [ids[0], "Banking", "#N/A"],
        ["001000000000000AAA", "Banking", ""],
        [ids[1], "", "kept"],
    ]
    batch = bulk1.batch(update, sent)
    info = bulk1.wait(update, batch)
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("3", "1")
    _, rows = bulk1.results(update, batch)
    assert [r[:3] for r in rows[1:]] == [
        [ids[0], "true", "false"],
        ["001000000000000AAA", "false", "false"],
        [ids[1], "true", "false"],
    ]
    assert rows[2][3].endswith(" --") and rows[2][3].split(":")[0].isupper()
    after = {
        r["Id"]: (r["Industry"], r["Description"])
        for r in bulk1.sf.query(
            f"SELECT Id, Industry, Description FROM Account WHERE Id IN ('{ids[0]}', '{ids[1]}')"
        )["records"]
    }
    # Bulk API: "Empty field values are ignored when you update records. To set a field value
    # to null, use a field value of #N/A."
    assert after == {ids[0]: ("Banking", None), ids[1]: ("Retail", "kept")}
    request = bulk1.http.get(
        f"{bulk1.base}/job/{update}/batch/{batch}/request",
        headers=bulk1._headers("application/xml"),
    )
    assert list(csv.reader(io.StringIO(request.text))) == sent

    job = bulk1.http.get(f"{bulk1.base}/job/{update}", headers=bulk1._headers("application/xml"))
    info = {el.tag.split("}")[1]: el.text for el in ET.fromstring(job.content)}
    assert info["concurrencyMode"] == "Serial" and info["numberRecordsFailed"] == "1"


def test_a_batch_naming_an_unknown_field_fails(bulk1: Async) -> None:
    job = bulk1.job("insert", "Account")
    batch = bulk1.batch(job, [["Name", "NoSuchField__c"], ["x", "y"]])
    info = bulk1.wait(job, batch)
    assert info["state"] == "Failed"
    assert info["stateMessage"] == "InvalidBatch : Field name not found : NoSuchField__c"


def test_upsert_needs_an_external_id_field(bulk1: Async) -> None:
    answer = bulk1.create("upsert", "Account")
    assert answer.status_code == 400
    assert ET.fromstring(answer.content).findtext(f"{{{NS}}}exceptionCode") == "InvalidJob"


# -- PK chunking ------------------------------------------------------------------------------


def _batch_list(bulk1: Async, job_id: str) -> list[dict[str, str]]:
    answer = bulk1.http.get(
        f"{bulk1.base}/job/{job_id}/batch", headers=bulk1._headers("application/xml")
    )
    return [
        {el.tag.split("}")[1]: el.text or "" for el in info}
        for info in ET.fromstring(answer.content)
    ]


def _query_job(bulk1: Async, sobject: str, chunking: str) -> str:
    answer = bulk1.http.post(
        f"{bulk1.base}/job",
        data=(
            f'<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="{NS}">'
            f"<operation>queryAll</operation><object>{sobject}</object>"
            "<contentType>CSV</contentType></jobInfo>"
        ),
        headers={**bulk1._headers("application/xml"), "Sforce-Enable-PKChunking": chunking},
    )
    assert answer.status_code == 201, answer.text
    return str(ET.fromstring(answer.content).findtext(f"{{{NS}}}id"))


def _rows(bulk1: Async, job_id: str, batch_id: str) -> list[dict[str, str]]:
    listing = bulk1.http.get(
        f"{bulk1.base}/job/{job_id}/batch/{batch_id}/result",
        headers=bulk1._headers("application/xml"),
    )
    rows = []
    for result in ET.fromstring(listing.content).iter(f"{{{NS}}}result"):
        data = bulk1.http.get(
            f"{bulk1.base}/job/{job_id}/batch/{batch_id}/result/{result.text}",
            headers=bulk1._headers("application/xml"),
        )
        rows += list(csv.DictReader(io.StringIO(data.text)))
    return rows


def test_pk_chunking_splits_the_query_into_id_ranges(bulk1: Async) -> None:
    """The batch as sent is "NotProcessed"; one batch per `chunkSize` ids (deleted rows counted,
    queryAll returns them) covers every row exactly once, in Id ranges that do not overlap."""
    truth = bulk1.sf.query_all("SELECT Id, IsDeleted FROM Contact", include_deleted=True)["records"]
    size = 97  # a chunk size that divides nothing
    job = _query_job(bulk1, "Contact", f"chunkSize={size}")
    original = bulk1.batch(job, "SELECT Id, LastName FROM Contact")
    batches = _batch_list(bulk1, job)
    assert batches[0]["id"] == original and batches[0]["state"] == "NotProcessed"
    chunks = batches[1:]
    assert len(chunks) == -(-len(truth) // size)
    seen: list[str] = []
    for chunk in chunks:
        info = bulk1.wait(job, chunk["id"])
        assert info["state"] == "Completed"
        rows = _rows(bulk1, job, chunk["id"])
        assert len(rows) == int(info["numberRecordsProcessed"]) <= size
        seen += [r["Id"] for r in rows]
    assert seen == sorted(r["Id"] for r in truth)  # ranges in Id order, none overlapping
    assert len(set(seen)) == len(seen)


@pytest.mark.parametrize(
    ("sobject", "soql"),
    [
        ("Contact", "SELECT Id FROM Contact ORDER BY LastName"),
        ("Contact", "SELECT Id FROM Contact LIMIT 10"),
    ],
)
def test_pk_chunking_refuses_clauses_other_than_where(
    bulk1: Async, sobject: str, soql: str
) -> None:
    job = _query_job(bulk1, sobject, "TRUE")
    batch = bulk1.batch(job, soql)
    info = bulk1.wait(job, batch)
    assert info["state"] == "Failed" and "WHERE" in info["stateMessage"]
    assert [b["id"] for b in _batch_list(bulk1, job)] == [batch]


# -- JSON query jobs --------------------------------------------------------------------------


def test_json_query_job_answers_in_json_with_epoch_millisecond_dates(bulk1: Async) -> None:
    """A JSON query job: batchInfo, the batch list and the result list are JSON, and the rows
    are records with `attributes` whose dates and datetimes are epoch milliseconds (as Bulk API
    1.0 writes them: simple-salesforce issue #290, salesforce-bulk issue #70)."""
    created = bulk1.http.post(
        f"{bulk1.base}/job",
        json={"operation": "query", "object": "Opportunity", "contentType": "JSON"},
        headers={"X-SFDC-Session": bulk1.token, "Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.text
    job = created.json()["id"]
    soql = "SELECT Id, Name, Amount, CloseDate, CreatedDate, IsWon FROM Opportunity ORDER BY Id"
    headers = {"X-SFDC-Session": bulk1.token, "Content-Type": "application/json; charset=UTF-8"}
    added = bulk1.http.post(f"{bulk1.base}/job/{job}/batch", data=soql, headers=headers)
    assert added.status_code == 201 and added.headers["content-type"] == "application/json"
    batch = added.json()
    assert batch["state"] == "Queued" and batch["jobId"] == job
    listing = bulk1.http.get(f"{bulk1.base}/job/{job}/batch", headers=headers).json()
    assert [b["id"] for b in listing["batchInfo"]] == [batch["id"]]
    status = bulk1.http.get(f"{bulk1.base}/job/{job}/batch/{batch['id']}", headers=headers)
    assert status.json()["state"] == "Completed"
    results = bulk1.http.get(f"{bulk1.base}/job/{job}/batch/{batch['id']}/result", headers=headers)
    (result_id,) = results.json()
    rows = bulk1.http.get(
        f"{bulk1.base}/job/{job}/batch/{batch['id']}/result/{result_id}", headers=headers
    ).json()
    truth = bulk1.sf.query_all(soql)["records"]
    assert [r["Id"] for r in rows] == [t["Id"] for t in truth]
    for row, t in zip(rows, truth, strict=True):
        assert row["attributes"]["type"] == "Opportunity"
        assert row["attributes"]["url"].endswith(f"/sobjects/Opportunity/{t['Id']}")
        assert (row["Name"], row["Amount"], row["IsWon"]) == (t["Name"], t["Amount"], t["IsWon"])
        created_at = datetime.strptime(t["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert row["CreatedDate"] == int(created_at.timestamp() * 1000)
        if t["CloseDate"] is None:
            assert row["CloseDate"] is None
        else:
            midnight = datetime.fromisoformat(t["CloseDate"]).replace(tzinfo=UTC)
            assert row["CloseDate"] == int(midnight.timestamp() * 1000)
