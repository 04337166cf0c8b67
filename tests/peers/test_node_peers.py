"""jsforce and HubSpot's Node client (@hubspot/api-client), unmodified and pinned, against the
sandbox: the peers from another ecosystem.

Each script (tests/peers/node/) does what a Node user of the org would do, configured only as
such a user configures it (jsforce's `loginUrl`, the HubSpot client's `basePath`; the sandbox's
CA through NODE_EXTRA_CA_CERTS), and prints what the client handed back. Each result is checked
here against the org as the official Python clients read it (simple-salesforce,
hubspot-api-client): counts, ids, field values, and the writes read back. Without Node.js 18+
the tests skip, saying why (`make test-peers` installs Debian's nodejs when it is missing).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from peer_runs import (
    Admin,
    ScriptRun,
    describe_calls,
    hubspot_client,
    node_binary,
    record_node_figures,
    run_node_peer,
    salesforce_client,
)
from simple_salesforce import Salesforce

from acm_sync.sandbox.server import SandboxSettings

BATCH = 200  # the Sforce-Query-Options batchSize the jsforce script asks for


@pytest.fixture(autouse=True)
def _needs_node() -> None:
    node, why = node_binary()
    if node is None:
        pytest.skip(why)


def _unexpected_failures(run: ScriptRun, allowed: set[tuple[str, str, int]]) -> list[str]:
    """Answers >= 400 other than the (method, path suffix, status) the script provokes."""
    out = []
    for c in run.calls:
        if c["status"] < 400:
            continue
        if any(
            c["method"] == m and c["path"].endswith(p) and c["status"] == s for m, p, s in allowed
        ):
            continue
        out.append(f"{c['method']} {c['path']} {c['status']}")
    return out


# -- jsforce --------------------------------------------------------------------------------------


def _ids(sf: Salesforce, soql: str) -> list[str]:
    return [r["Id"] for r in sf.query_all(soql)["records"]]


def _number(text: str) -> float | None:
    return float(text) if text != "" else None


def test_jsforce(peer_sandbox: SandboxSettings, tmp_path: Path) -> None:
    sf = salesforce_client(peer_sandbox)
    creds = peer_sandbox.credentials
    admin = Admin(peer_sandbox.salesforce_instance_url, verify=peer_sandbox.salesforce_ca_bundle)
    account_ids = _ids(sf, "SELECT Id FROM Account ORDER BY Id LIMIT 3")
    opportunity_ids = _ids(sf, "SELECT Id FROM Opportunity ORDER BY Id LIMIT 5")
    before = {
        "accounts": sf.query_all(
            "SELECT Id, Name, AnnualRevenue, CreatedDate, OwnerId FROM Account ORDER BY Id"
        )["records"],
        "account": sf.Account.get(account_ids[0]),
        "user": sf.query(f"SELECT Id FROM User WHERE Username = '{creds.salesforce_username}'")[
            "records"
        ][0]["Id"],
    }
    tag = f"jsforce peer {datetime.now().strftime('%H%M%S')}"
    config = {
        "loginUrl": peer_sandbox.salesforce_login_url,
        "version": "59.0",
        "username": creds.salesforce_username,
        "password": creds.salesforce_password + creds.salesforce_security_token,
        "accountId": account_ids[0],
        "accountIds": account_ids,
        "opportunityIds": opportunity_ids,
        "newAccountName": f"{tag} new account",
        "newDescription": f"{tag}: updated",
        "bulkTag": f"{tag} bulk",
        "bulkUpsertName": f"{tag} upserted",
    }
    run = run_node_peer(
        "jsforce_peer.js",
        config,
        workdir=tmp_path / "jsforce",
        admin=admin,
        extra_env={"NODE_EXTRA_CA_CERTS": peer_sandbox.salesforce_ca_bundle},
    )
    assert not run.errors(), run.errors()

    # Login (SOAP login() with password + token) and the identity URL.
    login = run.result("login")
    assert login["userId"] == before["user"]
    assert login["instanceUrl"] == peer_sandbox.salesforce_instance_url
    identity = run.result("identity")
    assert identity["user_id"] == before["user"]
    assert identity["organization_id"] == login["organizationId"]
    assert identity["username"] == creds.salesforce_username

    # describe / describeGlobal, as simple-salesforce reads them.
    for sobject, prefix in (("Account", "001"), ("Opportunity", "006")):
        got = run.result(f"describe_{sobject}")
        truth = getattr(sf, sobject).describe()
        assert (got["name"], got["keyPrefix"]) == (sobject, prefix)
        assert [(f["name"], f["type"]) for f in got["fields"]] == [
            (f["name"], f["type"]) for f in truth["fields"]
        ]
        assert {f["name"]: f["picklistValues"] for f in got["fields"]} == {
            f["name"]: [p["value"] for p in f["picklistValues"]] for f in truth["fields"]
        }
    assert {"Account", "Contact", "Opportunity", "User"} <= set(
        run.result("describe_global")["sobjects"]
    )

    # SOQL with autoFetch over pages of 200: every row once, in order, with its values.
    auto = run.result("query_autofetch")
    expected = before["accounts"]
    assert auto["totalSize"] == len(expected) > BATCH
    assert auto["fetches"] == math.ceil(len(expected) / BATCH)
    assert auto["streamed"] == len(expected) and auto["done"] is True
    assert [
        (r["Id"], r["Name"], r["AnnualRevenue"], r["CreatedDate"], r["OwnerId"])
        for r in auto["records"]
    ] == [
        (r["Id"], r["Name"], r["AnnualRevenue"], r["CreatedDate"], r["OwnerId"]) for r in expected
    ]
    assert {r["type"] for r in auto["records"]} == {"Account"}
    # Owner.Name (a parent's field through the lookup) as the User table has it.
    users = {u["Id"]: u["Name"] for u in sf.query_all("SELECT Id, Name FROM User")["records"]}
    assert [(r["OwnerName"], r["OwnerType"]) for r in auto["records"]] == [
        (users[r["OwnerId"]], "User") for r in expected
    ]

    # query + queryMore by hand.
    more = run.result("query_more")
    opportunities = _ids(sf, "SELECT Id FROM Opportunity")
    assert len(more["pages"]) == math.ceil(len(opportunities) / BATCH) > 2
    assert [p["size"] for p in more["pages"][:-1]] == [BATCH] * (len(more["pages"]) - 1)
    assert [p["done"] for p in more["pages"]] == [False] * (len(more["pages"]) - 1) + [True]
    assert sorted(more["ids"]) == sorted(opportunities)

    # queryAll (scanAll): the recycle bin too.
    every = run.result("query_all")
    truth_all = {
        r["Id"]: r["IsDeleted"]
        for r in sf.query_all("SELECT Id, IsDeleted FROM Contact", include_deleted=True)["records"]
    }
    assert any(truth_all.values()), "the peer org should have contacts in the recycle bin"
    assert {r["Id"]: r["IsDeleted"] for r in every["records"]} == truth_all
    assert len(every["records"]) == every["totalSize"] == len(truth_all)

    # retrieve: one record (all fields), several (POST composite/sobjects/Account).
    assert run.result("retrieve") == before["account"]
    assert [(r["Id"], r["Name"]) for r in run.result("retrieve_many")] == [
        (a["Id"], a["Name"]) for a in expected if a["Id"] in account_ids
    ]

    # create / update, read back through simple-salesforce.
    created = run.result("create")
    assert created["success"] is True and created["errors"] == []
    new = sf.Account.get(created["id"])
    assert (new["Name"], new["Industry"], new["AnnualRevenue"]) == (
        config["newAccountName"],
        "Biotechnology",
        1234567,
    )
    assert run.result("retrieve_created")["Name"] == config["newAccountName"]
    assert run.result("update") == {"id": account_ids[0], "success": True, "errors": []}
    updated = sf.Account.get(account_ids[0])
    assert (updated["Description"], updated["NumberOfEmployees"]) == (
        config["newDescription"],
        4321,
    )
    invalid = run.result("update_invalid")
    assert invalid["threw"] is True and invalid["errorCode"] == "INVALID_FIELD"

    # Bulk API 2.0: a query job (CSV) and two ingest jobs, read back.
    rows = run.result("bulk2_query")["rows"]
    bulk_truth = {a["Id"]: (a["Name"], a["AnnualRevenue"]) for a in expected}
    bulk_truth[created["id"]] = (config["newAccountName"], 1234567)
    assert len(rows) == len(bulk_truth)
    assert {r["Id"]: (r["Name"], _number(r["AnnualRevenue"])) for r in rows} == bulk_truth

    update = run.result("bulk2_update")
    assert update["failedResults"] == [] and update["unprocessedRecords"] == []
    assert sorted(r["sf__Id"] for r in update["successfulResults"]) == sorted(opportunity_ids)
    assert {r["sf__Created"] for r in update["successfulResults"]} == {"false"}
    descriptions = {
        r["Id"]: r["Description"]
        for r in sf.query_all(
            "SELECT Id, Description FROM Opportunity WHERE Id IN ('"
            + "','".join(opportunity_ids)
            + "')"
        )["records"]
    }
    assert descriptions == {i: f"{config['bulkTag']} {n}" for n, i in enumerate(opportunity_ids)}

    upsert = run.result("bulk2_upsert")
    assert upsert["failedResults"] == []
    assert [(r["sf__Id"], r["sf__Created"]) for r in upsert["successfulResults"]] == [
        (i, "false") for i in account_ids[1:]
    ]
    for n, account_id in enumerate(account_ids[1:]):
        assert sf.Account.get(account_id)["Name"] == f"{config['bulkUpsertName']} {n}"

    # logout() (SOAP): the session's token is refused afterwards.
    assert run.result("logout") == {"before": 1, "after": "INVALID_SESSION_ID"}

    # The only 4xx are those the script provokes (the unknown field, the logged-out token).
    unexpected = _unexpected_failures(
        run,
        {
            ("PATCH", f"/sobjects/Account/{account_ids[0]}", 400),
            ("GET", "/query", 401),
        },
    )
    assert not unexpected, unexpected
    assert not any(c["status"] >= 500 for c in run.calls), describe_calls(run.calls)
    record_node_figures("jsforce", run, len(auto["records"]) + len(rows))


# -- @hubspot/api-client --------------------------------------------------------------------------


def _all_objects(hs: Any, object_type: str, properties: list[str]) -> list[Any]:
    api = getattr(hs.crm, object_type).basic_api
    out, after = [], None
    while True:
        page = api.get_page(limit=100, after=after, properties=properties)
        out.extend(page.results)
        if page.paging is None or page.paging.next is None:
            return out
        after = page.paging.next.after


def _associated(hs: Any, company_id: str) -> list[str]:
    page = hs.crm.associations.v4.basic_api.get_page(
        object_type="companies", object_id=company_id, to_object_type="contacts", limit=500
    )
    return [str(r.to_object_id) for r in page.results]


def _pages_searched(run: ScriptRun) -> int:
    """The deals_search step's pages (each one search request answered 200)."""
    return int(run.result("deals_search")["pages"])


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_hubspot_node_client(peer_sandbox: SandboxSettings, tmp_path: Path) -> None:
    hs = hubspot_client(peer_sandbox)
    admin = Admin(peer_sandbox.hubspot_base_url)
    companies = _all_objects(hs, "companies", ["name", "domain"])
    contacts = _all_objects(hs, "contacts", ["email"])
    deals = _all_objects(hs, "deals", ["dealname", "amount", "pipeline", "dealstage"])
    # A company with at least three contacts: its association pages (limit 2) are several.
    with_contacts = [(c.id, _associated(hs, c.id)) for c in companies[:40]]
    busy = next(cid for cid, to in with_contacts if len(to) >= 3)

    def truth_contacts(company_id: str) -> list[str]:
        return dict(with_contacts)[company_id]

    amounts = sorted(
        float(d.properties["amount"]) for d in deals if d.properties.get("amount") not in (None, "")
    )
    min_amount = amounts[len(amounts) // 2]  # the median: about half the deals match
    fresh_pairs = [[c.id, busy] for c in reversed(contacts) if c.id not in truth_contacts(busy)][:2]
    config = {
        "basePath": peer_sandbox.hubspot_base_url,
        "accessToken": peer_sandbox.credentials.hubspot_access_token,
        "companyId": busy,
        "companyIds": [cid for cid, _ in with_contacts[:10]],
        "contactIds": [c.id for c in contacts[:5]],
        "missingContactId": "999999999999",
        "dealId": deals[0].id,
        # contact → company pairs not associated yet, for the batch default association
        "newAssociations": fresh_pairs,
        "minAmount": min_amount,
        "burst": 12,  # searches at once: past the 5 a second HubSpot allows
        "newDescription": f"node peer {datetime.now().strftime('%H%M%S')}",
    }
    run = run_node_peer("hubspot_peer.js", config, workdir=tmp_path / "hubspot", admin=admin)
    assert not run.errors(), run.errors()
    # Every answer deserialized into the client's models as it declares them.
    conformance = {k: v["conformance"] for k, v in run.steps.items() if v.get("conformance")}
    assert not conformance, conformance

    # companies.basicApi.getPage, following `after` to the end: every company once.
    pages = run.result("companies_get_page")
    assert pages["pages"] == math.ceil(len(companies) / 100) > 1
    assert len(pages["ids"]) == len(set(pages["ids"])) == len(companies)
    assert set(pages["ids"]) == {c.id for c in companies}
    first = next(c for c in companies if c.id == pages["first"]["id"])
    assert pages["first"]["properties"]["name"] == first.properties["name"]
    assert _iso(pages["first"]["createdAt"]) == first.created_at

    # deals.searchApi.doSearch: a filter and a sort, checked against all deals read plainly.
    search = run.result("deals_search")
    matching = [
        d
        for d in deals
        if d.properties.get("pipeline") == "default"
        and d.properties.get("amount") not in (None, "")
        and float(d.properties["amount"]) >= min_amount
    ]
    assert search["total"] == len(matching) == len(search["deals"]) > 0
    assert {d["id"] for d in search["deals"]} == {d.id for d in matching}
    got_amounts = [float(d["properties"]["amount"]) for d in search["deals"]]
    assert got_amounts == sorted(got_amounts, reverse=True)

    # The burst of searches: some refused with 429 (the per-second search limit), all answered
    # in the end because the client recognised the 429 and retried.
    default_deals = sum(1 for d in deals if d.properties.get("pipeline") == "default")
    assert run.result("search_burst") == [default_deals] * config["burst"]
    searches = [c for c in run.calls if c["path"] == "/crm/v3/objects/deals/search"]
    assert any(c["status"] == 429 for c in searches), "the burst stayed under the search limit"
    assert sum(c["status"] == 200 for c in searches) == _pages_searched(run) + config["burst"]

    # contacts.batchApi.read with one id that does not exist: 207, the rest read.
    batch = run.result("contacts_batch_read")
    assert batch["status"] == "COMPLETE"
    assert sorted(r["id"] for r in batch["results"]) == sorted(config["contactIds"])
    by_id = {c.id: c for c in contacts}
    for r in batch["results"]:
        assert r["properties"]["email"] == by_id[r["id"]].properties.get("email")
    assert batch["numErrors"] == 1
    assert batch["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert batch["errors"][0]["context"]["ids"] == [config["missingContactId"]]

    # basicApi.update, read back through the Python client.
    updated = run.result("company_update")
    assert updated["properties"]["description"] == config["newDescription"]
    back = hs.crm.companies.basic_api.get_by_id(
        busy, properties=["description", "numberofemployees"]
    )
    assert back.properties["description"] == config["newDescription"]
    assert back.properties["numberofemployees"] == "77"
    assert _iso(updated["updatedAt"]) == back.updated_at
    bad = run.result("deal_update_bad_property")
    assert bad["threw"] is True and bad["code"] == 400
    assert bad["body"]["category"] == "VALIDATION_ERROR"

    # associations v4: one company's contacts over pages of 2, and a batch read.
    assoc = run.result("associations_v4_get_page")
    truth = dict(with_contacts)
    assert assoc["pages"] == math.ceil(len(truth[busy]) / 2) > 1
    assert sorted(a["toObjectId"] for a in assoc["to"]) == sorted(truth[busy])
    assert all(a["associationTypes"] for a in assoc["to"])
    batch_assoc = run.result("associations_v4_batch")
    assert {r["from"]: sorted(r["to"]) for r in batch_assoc["results"]} == {
        cid: sorted(truth[cid]) for cid in config["companyIds"] if truth[cid]
    }

    # Association labels (contacts → companies) and default associations made in a batch.
    labels = run.result("association_labels")
    truth_labels = hs.crm.associations.v4.schema.definitions_api.get_all("contacts", "companies")
    assert [(t["category"], t["typeId"], t.get("label")) for t in labels] == [
        (t.category, t.type_id, t.label) for t in truth_labels.results
    ]
    assert {t["typeId"] for t in labels} == {1, 279}  # HubSpot's ids: Primary, unlabelled
    made = run.result("associate_default_batch")
    assert made["status"] == "COMPLETE"
    assert [[r["from"], r["to"]] for r in made["results"]] == fresh_pairs
    assert {r["typeId"] for r in made["results"]} == {279}
    for contact_id, company_id in fresh_pairs:
        linked = hs.crm.associations.v4.basic_api.get_page("contacts", contact_id, "companies")
        assert company_id in {str(r.to_object_id) for r in linked.results}

    # properties and pipelines, as the Python client reads them.
    properties = {p["name"]: p for p in run.result("properties_get_all")}
    truth_props = {p.name: p for p in hs.crm.properties.core_api.get_all("deals").results}
    assert set(properties) == set(truth_props)
    for name, p in truth_props.items():
        assert (properties[name]["type"], properties[name]["fieldType"]) == (p.type, p.field_type)
        assert properties[name]["options"] == [o.value for o in p.options]
    pipelines = run.result("pipelines_get_all")
    truth_pipes = hs.crm.pipelines.pipelines_api.get_all("deals").results
    assert [(p["id"], [s["id"] for s in p["stages"]]) for p in pipelines] == [
        (p.id, [s.id for s in p.stages]) for p in truth_pipes
    ]
    assert [(s["id"], s["metadata"]["probability"]) for p in pipelines for s in p["stages"]] == [
        (s.id, s.metadata["probability"]) for p in truth_pipes for s in p.stages
    ]
    # The dealstage options are the pipelines' stages, labels included (HubSpot derives them).
    dealstage = properties["dealstage"]
    assert list(zip(dealstage["options"], dealstage["optionLabels"], strict=True)) == [
        (s["id"], s["label"]) for p in pipelines for s in p["stages"]
    ]

    # The only 4xx are the one the script provokes (the unknown property) and the search 429s.
    unexpected = _unexpected_failures(
        run,
        {
            ("PATCH", f"/crm/v3/objects/deals/{deals[0].id}", 400),
            ("POST", "/crm/v3/objects/deals/search", 429),
        },
    )
    assert not unexpected, unexpected
    assert not any(c["status"] >= 500 for c in run.calls), describe_calls(run.calls)
    record_node_figures("@hubspot/api-client", run, len(pages["ids"]) + len(search["deals"]))
