"""The Salesforce sandbox's daily allocation follows a restart on the same data dir, as a real
org's follows an admin raising it: today's usage is kept, the new `--daily-api-limit` applies."""

from __future__ import annotations

from pathlib import Path

import pytest
from simple_salesforce.exceptions import SalesforceRefusedRequest

from acm_sync.org_summary import salesforce_client
from acm_sync.sandbox.process import SandboxProcess
from sandbox_admin import Admin


@pytest.mark.ops
def test_a_restart_with_a_larger_daily_limit_takes_effect(tmp_path: Path) -> None:
    data = tmp_path / "sandbox"
    with SandboxProcess(data, accounts=100, seed=3, daily_api_limit=40) as settings:
        Admin(settings.salesforce_instance_url, verify=settings.salesforce_ca_bundle).hook(
            "exhaust_limit"
        )
        sf = salesforce_client(settings.env())
        sf.session.trust_env = False
        with pytest.raises(SalesforceRefusedRequest, match="REQUEST_LIMIT_EXCEEDED"):
            sf.query("SELECT Id FROM Account LIMIT 1")
    with SandboxProcess(data, accounts=100, seed=3, daily_api_limit=500) as settings:
        sf = salesforce_client(settings.env())
        sf.session.trust_env = False
        assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
        daily = sf.limits()["DailyApiRequests"]
        # 40 spent before the restart (the refused call is not counted), 2 since.
        assert (daily["Max"], daily["Remaining"]) == (500, 500 - 42)
        assert sf.api_usage["api-usage"].used == 42 and sf.api_usage["api-usage"].total == 500
