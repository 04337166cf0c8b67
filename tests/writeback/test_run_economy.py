"""What a whole `sync` costs the CRMs when nothing changed: per the sandbox's call log, one
Salesforce login and one query per object, one HubSpot call per object, no write — and no login
at all when the previous run's session is still live."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from wb_pipeline import Pipeline, materialization

from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.server import SandboxSettings
from sandbox_admin import Admin

LOGIN = "POST /services/Soap/u/59.0"
# The pulls' objects, and the stage catalog's (OpportunityStage / deal pipelines).
SF_QUERIED = ["Account", "Contact", "Opportunity", "OpportunityHistory", "OpportunityStage"]
HS_CALLED = [
    "GET /crm/v3/pipelines/deals",
    "POST /crm/v3/objects/companies/search",
    "POST /crm/v3/objects/contacts/search",
    "POST /crm/v3/objects/deals/search",
]
# A small lookback, so that "no change" is reached by waiting past it (the default 300 s
# re-reads the previous five minutes on purpose).
LOOKBACK = 2
SECTIONS: dict[str, Any] = {
    "sync": {
        "salesforce": {"lookback_seconds": LOOKBACK},
        "hubspot": {"lookback_seconds": LOOKBACK},
    }
}


@pytest.fixture(scope="module")
def small_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxSettings]:
    with SandboxProcess(tmp_path_factory.mktemp("economy"), accounts=100, seed=31) as settings:
        yield settings


@pytest.fixture(scope="module")
def admins(small_org: SandboxSettings) -> tuple[Admin, Admin]:
    return (
        Admin(small_org.salesforce_instance_url, verify=small_org.salesforce_ca_bundle),
        Admin(small_org.hubspot_base_url),
    )


def _queried(calls: list[dict[str, Any]]) -> list[str]:
    """The object of every SOQL query in the call log (REST query / queryAll)."""
    objects = []
    for call in calls:
        if re.search(r"/query(All)?/?$", call["path"]):
            soql = parse_qs(call["query"])["q"][0]
            objects.append(re.search(r"\bFROM\s+(\w+)", soql, re.I).group(1))  # type: ignore[union-attr]
    return sorted(objects)


@pytest.mark.timeout(600)  # three whole runs of the pipeline
def test_a_no_change_sync_costs_one_login_one_query_per_object_and_no_write(
    small_org: SandboxSettings, admins: tuple[Admin, Admin], tmp_path: Path
) -> None:
    sf, hs = admins
    cache = tmp_path / "sessions"
    pipeline = Pipeline(
        small_org, tmp_path, {}, extra_env={"SALESFORCE_SESSION_CACHE_DIR": str(cache)}
    )
    assert pipeline.run(**SECTIONS).success  # full pulls, every owned field written
    # Past the lookback of the first run's writes: a run that starts within it re-reads them
    # on purpose, and so would the quiet run below, whose window reaches back from the cursor
    # the next run sets.
    time.sleep(LOOKBACK + 1)
    sf.reset_calls()
    assert pipeline.run(**SECTIONS).success  # reads back what the first run wrote
    # The first run's session is still live: this run did not log in at all.
    assert LOGIN not in sf.calls()["by_route"]
    time.sleep(LOOKBACK + 1)

    shutil.rmtree(cache, ignore_errors=True)  # no live session: this run must log in, once
    sf.reset_calls(), hs.reset_calls()
    quiet = pipeline.run(**SECTIONS)
    assert quiet.success
    sf_log, hs_log = sf.calls(), hs.calls()
    assert sf_log["by_route"][LOGIN] == 1, sf_log["by_route"]
    assert _queried(sf_log["calls"]) == SF_QUERIED, sf_log["by_route"]
    assert sf_log["total"] == 1 + len(SF_QUERIED), sf_log["by_route"]
    assert sorted(hs_log["by_route"]) == HS_CALLED
    assert hs_log["total"] == len(HS_CALLED), hs_log["by_route"]
    assert materialization(quiet, "writeback_apply")["written"] == 0
