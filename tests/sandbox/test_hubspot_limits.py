"""HubSpot sandbox auth, rate limits and fault injection, seen from the real client."""

from __future__ import annotations

import json
from collections.abc import Iterator

import hubspot
import pytest
import requests
from hs_helpers import TOKEN, Running, client, serve, synthetic_org
from hubspot.crm.companies.exceptions import ApiException, ServiceException, UnauthorizedException
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException

RATE_HEADERS = (
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Secondly",
    "X-HubSpot-RateLimit-Secondly-Remaining",
)


@pytest.fixture()
def hs_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve(
        tmp_path_factory.mktemp("hs") / "hubspot.db",
        seed=synthetic_org(companies=30),
        tier="professional",
    ) as run:
        yield run


def test_every_response_carries_the_rate_limit_headers(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    first = hs.crm.companies.basic_api.get_page_with_http_info(limit=1)
    headers = first[2]
    for name in RATE_HEADERS:
        assert name in headers
    assert headers["X-HubSpot-RateLimit-Max"] == "190"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert headers["X-HubSpot-RateLimit-Daily"] == "625000"
    second = hs.crm.companies.basic_api.get_page_with_http_info(limit=1)[2]
    assert (
        int(second["X-HubSpot-RateLimit-Remaining"])
        == int(headers["X-HubSpot-RateLimit-Remaining"]) - 1
    )
    assert int(second["X-HubSpot-RateLimit-Daily-Remaining"]) == 625000 - 2
    # errors carry them too
    with pytest.raises(ApiException) as exc:
        hs.crm.companies.basic_api.get_by_id("98765")
    assert exc.value.headers["X-HubSpot-RateLimit-Remaining"]
    # the search endpoints don't (HubSpot leaves the headers off search responses)
    search = hs.crm.companies.search_api.do_search_with_http_info({"limit": 1})[2]
    assert "X-HubSpot-RateLimit-Max" not in search


def test_ten_second_window_gives_a_429_with_hubspots_body_and_headers(hs_run: Running) -> None:
    hs_run.limits(ten_second_max=5)
    hs = client(hs_run.base_url)
    for _ in range(5):
        hs.crm.companies.basic_api.get_page(limit=1)
    with pytest.raises(ApiException) as exc:
        hs.crm.companies.basic_api.get_page(limit=1)
    assert exc.value.status == 429
    body = json.loads(exc.value.body)
    assert body["status"] == "error" and body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["correlationId"] == exc.value.headers["X-HubSpot-Correlation-Id"]
    assert exc.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert exc.value.headers["X-HubSpot-RateLimit-Max"] == "5"
    assert exc.value.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    # refused requests don't count against the daily allowance
    assert exc.value.headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(625000 - 5)


def test_exhausted_daily_limit_through_the_fault_hook(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    hs.crm.companies.basic_api.get_page(limit=1)
    requests.post(
        f"{hs_run.base_url}/__sandbox__/hooks/exhaust_limit", timeout=10
    ).raise_for_status()
    with pytest.raises(ApiException) as exc:
        hs.crm.companies.basic_api.get_page(limit=1)
    assert exc.value.status == 429
    assert json.loads(exc.value.body)["policyName"] == "DAILY"
    assert exc.value.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_search_has_its_own_per_second_limit(hs_run: Running) -> None:
    hs_run.limits(search_per_second_max=2)
    hs = client(hs_run.base_url)
    hs.crm.contacts.search_api.do_search({"limit": 1})
    hs.crm.contacts.search_api.do_search({"limit": 1})
    with pytest.raises(ContactsApiException) as exc:
        hs.crm.contacts.search_api.do_search({"limit": 1})
    assert exc.value.status == 429
    assert json.loads(exc.value.body)["policyName"] == "SECONDLY"
    hs.crm.contacts.basic_api.get_page(limit=1)  # the other endpoints are unaffected


def test_tiers(tmp_path_factory: pytest.TempPathFactory) -> None:
    with serve(tmp_path_factory.mktemp("hs") / "hubspot.db", tier="starter") as run:
        headers = client(run.base_url).crm.companies.basic_api.get_page_with_http_info()[2]
        assert headers["X-HubSpot-RateLimit-Max"] == "100"
        assert headers["X-HubSpot-RateLimit-Daily"] == "250000"
        assert run.admin("hubspot/rate-limits")["tier"] == "starter"


def test_bad_or_missing_tokens_are_401s_without_rate_headers(hs_run: Running) -> None:
    with pytest.raises(UnauthorizedException) as exc:
        hubspot.HubSpot(
            access_token="pat-na1-wrong", host=hs_run.base_url, client_side_validation=True
        ).crm.companies.basic_api.get_page()
    body = json.loads(exc.value.body)
    assert body["category"] == "INVALID_AUTHENTICATION" and body["status"] == "error"
    assert "X-HubSpot-RateLimit-Max" not in exc.value.headers
    bare = requests.get(f"{hs_run.base_url}/crm/v3/objects/companies", timeout=10)
    assert bare.status_code == 401 and bare.json()["category"] == "INVALID_AUTHENTICATION"
    ok = requests.get(
        f"{hs_run.base_url}/crm/v3/objects/companies",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert ok.status_code == 200
    assert ok.headers["Content-Type"].startswith("application/json")


def test_unknown_paths_and_object_types_answer_hubspot_errors(hs_run: Running) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/crm/v3/objects/widgets", "/crm/v9/nothing"):
        response = requests.get(f"{hs_run.base_url}{path}", headers=auth, timeout=10)
        assert response.status_code in (400, 404)
        assert response.json()["status"] == "error" and response.json()["correlationId"]
    wrong_method = requests.put(
        f"{hs_run.base_url}/crm/v3/objects/companies", headers=auth, timeout=10
    )
    assert wrong_method.status_code == 405 and wrong_method.json()["status"] == "error"
    broken = requests.post(
        f"{hs_run.base_url}/crm/v3/objects/companies/search",
        headers=auth,
        data=b"{not json",
        timeout=10,
    )
    assert broken.status_code == 400 and broken.json()["category"] == "VALIDATION_ERROR"


def test_scripted_faults_and_call_counts(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    hs_run.admin("calls", "DELETE")
    hs_run.admin(
        "faults", "POST", kind="status", status=502, path="/crm/v3/objects/companies$", times=1
    )
    with pytest.raises(ServiceException) as exc:
        hs.crm.companies.basic_api.get_page(limit=1)
    assert exc.value.status == 502
    assert json.loads(exc.value.body)["status"] == "error"
    assert hs.crm.companies.basic_api.get_page(limit=1).results
    # NB: urllib3 (under the client) honours Retry-After on 503 by itself: one retry, unseen.
    hs_run.admin(
        "faults",
        "POST",
        kind="status",
        status=503,
        path="/crm/v3/objects/companies$",
        retry_after=0,
        times=1,
    )
    assert hs.crm.companies.basic_api.get_page(limit=1).results
    calls = hs_run.admin("calls")
    assert calls["by_route"]["GET /crm/v3/objects/companies"] == 4
