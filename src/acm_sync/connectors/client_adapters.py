"""Every use of a client library's internals, in one place, for the versions named here.

The connectors use the vendors' client libraries through their public APIs (simple-salesforce's
`Salesforce`, `SalesforceLogin`, `sf.<Object>.describe()`, `sf.bulk2.<Object>.get_*_records`;
hubspot-api-client's API classes, its documented `api_factory` hook and the generated clients'
documented `_preload_content` keyword). What the public APIs do not offer is reached here, and
only here; `tests/connectors/test_client_adapters.py` pins the versions below and checks that
every name used still exists with the arguments used, so an upgrade that moves them fails a test
instead of a run.

- Bulk API 2.0 job-level calls (simple-salesforce's `_Bulk2Client`): the public
  `sf.bulk2.<Object>.query()` / `.update()` run a whole job in one blocking call. A pull stopped
  by the API budget must save the job id and the result locator and resume on the next run, and
  a write-back must journal the ingest job id *before* its data goes up (a crash in between
  must not send the data twice) — both need the job's steps one by one.

Not reach-ins, and so not here: `_preload_content=False` is a keyword every method of the
generated HubSpot clients documents ("if False, the urllib3.HTTPResponse object will be returned
without reading/decoding response data"); `ApiClient.rest_client.pool_manager` is a public
attribute of the generated REST client.
"""

from __future__ import annotations

from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import _Bulk2Client

# The versions this module was written and tested against (the test pins them).
WRITTEN_FOR = {"simple-salesforce": "1.12.10", "hubspot-api-client": "12.0.0"}

# The private names used, with the parameters passed to each (checked by the test).
BULK2_METHODS: dict[str, tuple[str, ...]] = {
    "create_job": ("operation", "query"),
    "wait_for_job": ("job_id", "is_query", "wait"),
    "get_query_results": ("job_id", "locator", "max_records"),
    "get_job": ("job_id", "is_query"),
    "upload_job_data": ("job_id", "data"),
    "close_job": ("job_id",),
    "abort_job": ("job_id", "is_query"),
}


class Bulk2Jobs:
    """Bulk API 2.0 jobs of one sObject, step by step, over a logged-in `Salesforce`."""

    def __init__(self, sf: Salesforce, obj: str) -> None:
        self._client = _Bulk2Client(obj, sf.bulk2_url, dict(sf.headers), sf.session)

    def create(self, operation: Any, soql: str | None = None) -> dict[str, Any]:
        return dict(self._client.create_job(operation, query=soql))

    def wait(self, job_id: str, *, query: bool, poll_seconds: float) -> None:
        self._client.wait_for_job(job_id, query, poll_seconds)

    def results_page(self, job_id: str, locator: str, max_records: int) -> dict[str, Any]:
        return dict(self._client.get_query_results(job_id, locator, max_records))

    def state(self, job_id: str, *, query: bool) -> dict[str, Any]:
        return dict(self._client.get_job(job_id, query))

    def upload(self, job_id: str, csv: str) -> None:
        self._client.upload_job_data(job_id, csv)

    def close(self, job_id: str) -> None:
        self._client.close_job(job_id)

    def abort(self, job_id: str, *, query: bool) -> None:
        self._client.abort_job(job_id, query)
