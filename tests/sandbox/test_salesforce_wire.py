"""Salesforce sandbox wire details third-party clients depend on: canonical header casing over
HTTP/1.1 (read off a raw socket), Bulk API 1.0 query jobs, gzip on Bulk API 2.0 results."""

from __future__ import annotations

import csv
import gzip
import io
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
import requests
from sf_helpers import token_session
from simple_salesforce import Salesforce

from acm_sync.sandbox.server import SandboxSettings

NS = "{http://www.force.com/2009/06/asyncapi/dataload}"


def _raw_head(settings: SandboxSettings, request: str) -> list[str]:
    """The status line and header lines exactly as they come off the socket."""
    url = urlsplit(settings.salesforce_instance_url)
    context = ssl.create_default_context(cafile=settings.salesforce_ca_bundle)
    with (
        socket.create_connection((url.hostname, url.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=url.hostname) as tls,
    ):
        tls.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")


@pytest.fixture(scope="module")
def sf_http(sandbox: SandboxSettings) -> tuple[requests.Session, str]:
    return token_session(sandbox)


def test_header_names_have_canonical_casing(
    sandbox: SandboxSettings, sf_http: tuple[requests.Session, str]
) -> None:
    host = urlsplit(sandbox.salesforce_instance_url).netloc
    _, token = sf_http
    head = _raw_head(
        sandbox,
        f"GET /services/data/v59.0/limits HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n",
    )
    assert head[0] == "HTTP/1.1 200 OK"
    names = [line.split(":", 1)[0] for line in head[1:]]
    for expected in ("Date", "Content-Type", "Content-Length", "Sforce-Limit-Info"):
        assert expected in names, head
    assert all(n[0].isupper() for n in names), head
    # Errors too (the fault layer and the 401 path answer through the same layer).
    head = _raw_head(
        sandbox,
        f"GET /services/data/v59.0/limits HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
    )
    assert head[0].startswith("HTTP/1.1 401")
    assert "Content-Type" in [line.split(":", 1)[0] for line in head[1:]]


def _async(settings: SandboxSettings, path: str) -> str:
    return f"{settings.salesforce_instance_url}/services/async/61.0/{path}"


def test_bulk_v1_query_job_returns_what_query_all_does(
    sandbox: SandboxSettings, sf_http: tuple[requests.Session, str]
) -> None:
    http, token = sf_http
    headers = {"X-SFDC-Session": token, "Content-Type": "application/json"}
    created = http.post(
        _async(sandbox, "job"),
        json={"operation": "queryAll", "object": "Account", "contentType": "CSV"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["state"] == "Open" and job["object"] == "Account"
    batch = http.post(
        _async(sandbox, f"job/{job['id']}/batch"),
        data="SELECT Id, Name, IsDeleted FROM Account ORDER BY Id",
        headers={"X-SFDC-Session": token, "Content-Type": "text/csv"},
    )
    assert batch.status_code == 201, batch.text
    info = ET.fromstring(batch.text)
    assert info.tag == f"{NS}batchInfo"
    batch_id = info.findtext(f"{NS}id")
    closed = http.post(
        _async(sandbox, f"job/{job['id']}"), json={"state": "Closed"}, headers=headers
    )
    assert closed.json()["state"] == "Closed"
    for _ in range(50):
        status = ET.fromstring(
            http.get(_async(sandbox, f"job/{job['id']}/batch/{batch_id}"), headers=headers).text
        )
        if status.findtext(f"{NS}state") == "Completed":
            break
        time.sleep(0.1)
    assert status.findtext(f"{NS}state") == "Completed"
    listing = ET.fromstring(
        http.get(_async(sandbox, f"job/{job['id']}/batch/{batch_id}/result"), headers=headers).text
    )
    (result_id,) = [r.text for r in listing.iter(f"{NS}result")]
    rows = http.get(
        _async(sandbox, f"job/{job['id']}/batch/{batch_id}/result/{result_id}"), headers=headers
    )
    parsed = list(csv.DictReader(io.StringIO(rows.text)))
    sf = Salesforce(instance_url=sandbox.salesforce_instance_url, session_id=token, session=http)
    expected = sf.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)["records"]
    assert [r["Id"] for r in parsed] == sorted(r["Id"] for r in expected)
    assert {r["Id"] for r in parsed if r["IsDeleted"] == "true"} == {
        r["Id"] for r in expected if r["IsDeleted"]
    }


@pytest.mark.parametrize(
    ("body", "extra", "code"),
    [
        ({"operation": "query", "object": "Account", "contentType": "XML"}, {}, "InvalidJob"),
        ({"operation": "insert", "object": "Account", "contentType": "JSON"}, {}, "InvalidJob"),
        (
            {"operation": "query", "object": "Account", "contentType": "CSV"},
            {"Sforce-Enable-PKChunking": "chunkSize=250001"},
            "InvalidJob",
        ),
        ({"operation": "query", "object": "NoSuchThing", "contentType": "CSV"}, {}, "InvalidJob"),
    ],
)
def test_bulk_v1_refuses_what_it_does_not_emulate(
    sandbox: SandboxSettings,
    sf_http: tuple[requests.Session, str],
    body: dict[str, str],
    extra: dict[str, str],
    code: str,
) -> None:
    http, token = sf_http
    answer = http.post(
        _async(sandbox, "job"),
        json=body,
        headers={"X-SFDC-Session": token, "Content-Type": "application/json", **extra},
    )
    assert answer.status_code == 400
    assert answer.json()["exceptionCode"] == code


def test_bulk_v1_bad_session_is_an_xml_error(
    sandbox: SandboxSettings, sf_http: tuple[requests.Session, str]
) -> None:
    http, _ = sf_http
    answer = http.post(
        _async(sandbox, "job"),
        data="<jobInfo/>",
        headers={"X-SFDC-Session": "not-a-session", "Content-Type": "application/xml"},
    )
    assert answer.status_code == 400
    error = ET.fromstring(answer.text)
    assert error.findtext(f"{NS}exceptionCode") == "InvalidSessionId"


def test_bulk_v2_results_are_gzipped_when_asked(
    sandbox: SandboxSettings, sf_http: tuple[requests.Session, str]
) -> None:
    http, token = sf_http
    base = f"{sandbox.salesforce_instance_url}/services/data/v59.0/jobs/query"
    auth = {"Authorization": f"Bearer {token}"}
    job = http.post(
        base, json={"operation": "query", "query": "SELECT Id FROM Contact"}, headers=auth
    )
    job.raise_for_status()
    url = f"{base}/{job.json()['id']}/results"
    plain = http.get(url, headers={**auth, "Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    zipped = http.get(url, headers={**auth, "Accept-Encoding": "gzip"}, stream=True)
    assert zipped.headers["Content-Encoding"] == "gzip"
    raw = zipped.raw.read(decode_content=False)
    assert gzip.decompress(raw) == plain.content
    assert zipped.headers["Sforce-NumberOfRecords"] == plain.headers["Sforce-NumberOfRecords"]


def test_compound_address_fields(
    sandbox: SandboxSettings, sf_http: tuple[requests.Session, str]
) -> None:
    http, token = sf_http
    sf = Salesforce(instance_url=sandbox.salesforce_instance_url, session_id=token, session=http)
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert fields["BillingAddress"]["type"] == "address"
    assert fields["BillingAddress"]["filterable"] is False
    assert fields["BillingCity"]["compoundFieldName"] == "BillingAddress"
    assert fields["ShippingLatitude"]["compoundFieldName"] == "ShippingAddress"
    assert {f["name"] for f in sf.Contact.describe()["fields"]} >= {"MailingAddress", "MailingCity"}

    rows = sf.query(
        "SELECT Id, BillingCountry, BillingAddress, ShippingAddress FROM Account "
        "WHERE BillingCountry != null LIMIT 5"
    )["records"]
    assert rows
    for row in rows:
        address = row["BillingAddress"]
        assert address["country"] == row["BillingCountry"]
        assert set(address) == {
            "street", "city", "state", "postalCode", "country", "latitude", "longitude",
            "geocodeAccuracy",
        }  # fmt: skip
        assert row["ShippingAddress"] is None  # every part empty: null, as Salesforce answers
    assert sf.Account.get(rows[0]["Id"])["BillingAddress"]["country"] == rows[0]["BillingCountry"]

    with pytest.raises(Exception, match="can not be filtered"):
        sf.query("SELECT Id FROM Account WHERE BillingAddress != null")
    with pytest.raises(Exception, match="can not be sorted"):
        sf.query("SELECT Id FROM Account ORDER BY BillingAddress")
    with pytest.raises(Exception, match="BillingAddress"):
        sf.Account.update(rows[0]["Id"], {"BillingAddress": "1 Main St"})

    base = f"{sandbox.salesforce_instance_url}/services/data/v59.0/jobs/query"
    refused = http.post(
        base,
        json={"operation": "query", "query": "SELECT Id, BillingAddress FROM Account"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 400
    assert "compound data not supported" in refused.json()[0]["message"]


def test_bulk_v1_batch_selecting_a_compound_field_fails(
    sandbox: SandboxSettings, sf_http: tuple[requests.Session, str]
) -> None:
    http, token = sf_http
    headers = {"X-SFDC-Session": token, "Content-Type": "application/json"}
    job = http.post(
        _async(sandbox, "job"),
        json={"operation": "query", "object": "Contact", "contentType": "CSV"},
        headers=headers,
    ).json()
    batch = http.post(
        _async(sandbox, f"job/{job['id']}/batch"),
        data="SELECT Id, MailingAddress FROM Contact",
        headers={"X-SFDC-Session": token, "Content-Type": "text/csv"},
    )
    batch_id = ET.fromstring(batch.text).findtext(f"{NS}id")
    status = ET.fromstring(
        http.get(_async(sandbox, f"job/{job['id']}/batch/{batch_id}"), headers=headers).text
    )
    assert status.findtext(f"{NS}state") == "Failed"
    assert "compound data not supported" in (status.findtext(f"{NS}stateMessage") or "")
    results = http.get(_async(sandbox, f"job/{job['id']}/batch/{batch_id}/result"), headers=headers)
    assert results.status_code == 400
