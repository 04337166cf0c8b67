"""The Salesforce sandbox driven by the unmodified simple-salesforce over HTTPS: logins,
sessions, query paging, describe, CRUD, sObject Collections, limits, merges, restarts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sf_helpers import CREDENTIALS, Served, serve, synthetic_org
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

ACCOUNTS = 300  # 3,000 contacts: more than one 2,000-row page


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("sf_api")
    app = serve(base / "salesforce.db", base / "tls", seed=synthetic_org(ACCOUNTS))
    yield app
    app.stop()


@pytest.fixture(scope="module")
def sf(served: Served) -> Salesforce:
    return served.soap_client()


def _code(exc: pytest.ExceptionInfo[Any]) -> str:
    return str(exc.value.content[0]["errorCode"])


# -- login ----------------------------------------------------------------------------------------


def test_soap_login_returns_a_session_on_the_instance(served: Served, sf: Salesforce) -> None:
    assert sf.sf_instance == served.url.removeprefix("https://")
    assert re.fullmatch(r"00D\w{12}!AQ[\w-]+", sf.session_id)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] >= ACCOUNTS


def test_soap_login_envelope_and_fault(served: Served) -> None:
    http = served.session()
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
        '<n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>{u}</n1:username>'
        "<n1:password>{p}</n1:password></n1:login></env:Body></env:Envelope>"
    )
    ok = http.post(
        f"{served.url}/services/Soap/u/59.0",
        envelope.format(
            u=CREDENTIALS.username, p=CREDENTIALS.password + CREDENTIALS.security_token
        ),
        headers={"content-type": "text/xml", "SOAPAction": "login"},
    )
    assert ok.status_code == 200
    assert "<serverUrl>" + served.url + "/services/Soap/u/59.0/00D" in ok.text
    for tag in ("sessionId", "userId", "userInfo", "organizationId", "passwordExpired"):
        assert f"<{tag}>" in ok.text
    bad = http.post(
        f"{served.url}/services/Soap/u/59.0", envelope.format(u=CREDENTIALS.username, p="wrong")
    )
    assert bad.status_code == 500
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in bad.text
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        Salesforce(
            username=CREDENTIALS.username,
            password="wrong",
            security_token=CREDENTIALS.security_token,
            domain="acm-sandbox",
            session=served.session(),
        )
    assert exc.value.code == "INVALID_LOGIN"


def test_oauth_password_and_client_credentials_grants(served: Served) -> None:
    for client in (served.oauth_client(), served.client_credentials_client()):
        assert client.query("SELECT COUNT() FROM Contact")["totalSize"] >= ACCOUNTS * 10
        assert client.sf_instance == served.url.removeprefix("https://")
    token = served.session().post(
        f"{served.url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": CREDENTIALS.consumer_key,
            "client_secret": CREDENTIALS.consumer_secret,
            "username": CREDENTIALS.username,
            "password": CREDENTIALS.password + CREDENTIALS.security_token,
        },
    )
    assert token.status_code == 200
    body = token.json()
    assert set(body) >= {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    }
    assert body["token_type"] == "Bearer" and body["instance_url"] == served.url
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        Salesforce(
            username=CREDENTIALS.username,
            password="nope",
            consumer_key=CREDENTIALS.consumer_key,
            consumer_secret=CREDENTIALS.consumer_secret,
            domain="acm-sandbox",
            session=served.session(),
        )
    assert exc.value.code == "invalid_grant"
    assert "authentication failure" in str(exc.value)
    bad_client = served.session().post(
        f"{served.url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert bad_client.status_code == 400 and bad_client.json()["error"] == "invalid_client_id"


def test_soap_logout_ends_the_session(served: Served) -> None:
    """Partner API logout(): the SessionHeader's session ends (an empty logoutResponse);
    REST calls with it then get INVALID_SESSION_ID. jsforce's logout() sends this."""
    sf = served.soap_client()
    direct = served.direct_client(sf.session_id)
    assert direct.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    envelope = (
        '<se:Envelope xmlns:se="http://schemas.xmlsoap.org/soap/envelope/"><se:Header>'
        '<SessionHeader xmlns="urn:partner.soap.sforce.com"><sessionId>{sid}</sessionId>'
        '</SessionHeader></se:Header><se:Body><logout xmlns="urn:partner.soap.sforce.com"/>'
        "</se:Body></se:Envelope>"
    )
    out = served.session().post(
        f"{served.url}/services/Soap/u/59.0",
        envelope.format(sid=sf.session_id),
        headers={"content-type": "text/xml", "SOAPAction": '""'},
    )
    assert out.status_code == 200, out.text
    assert "<logoutResponse/>" in out.text and "Fault" not in out.text
    with pytest.raises(SalesforceExpiredSession):
        direct.query("SELECT Id FROM Account LIMIT 1")
    again = served.session().post(
        f"{served.url}/services/Soap/u/59.0",
        envelope.format(sid=sf.session_id),
        headers={"content-type": "text/xml", "SOAPAction": '""'},
    )
    assert again.status_code == 500 and "INVALID_SESSION_ID" in again.text


def test_identity_url_answers_its_own_document(served: Served) -> None:
    """The token's `id` (the identity URL) answers the identity document of Salesforce Help
    "Identity URLs" (id, username, display_name, urls ...; token as a header or
    ?oauth_token=), not the OpenID userinfo shape (sub, preferred_username). jsforce's
    identity() reads `id`, `user_id`, `organization_id` from it."""
    http = served.session()
    token = http.post(
        f"{served.url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": CREDENTIALS.consumer_key,
            "client_secret": CREDENTIALS.consumer_secret,
            "username": CREDENTIALS.username,
            "password": CREDENTIALS.password + CREDENTIALS.security_token,
        },
    ).json()
    identity_url = token["id"]
    org_id, user_id = identity_url.split("/")[-2:]
    by_header = http.get(identity_url, headers={"Authorization": f"Bearer {token['access_token']}"})
    by_param = http.get(
        identity_url, params={"format": "json", "oauth_token": token["access_token"]}
    )
    for response in (by_header, by_param):
        assert response.status_code == 200, response.text
        doc = response.json()
        assert doc["id"] == identity_url
        assert (doc["user_id"], doc["organization_id"]) == (user_id, org_id)
        assert doc["username"] == CREDENTIALS.username
        assert doc["urls"]["rest"] == f"{served.url}/services/data/v{{version}}/"
        assert "sub" not in doc and "preferred_username" not in doc
    versioned = http.get(
        identity_url, params={"version": "59.0", "oauth_token": token["access_token"]}
    ).json()
    assert versioned["urls"]["query"] == f"{served.url}/services/data/v59.0/query/"
    # The userinfo endpoint keeps the OpenID Connect shape.
    userinfo = http.get(
        f"{served.url}/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    ).json()
    assert userinfo["sub"] == identity_url
    assert userinfo["preferred_username"] == CREDENTIALS.username
    # The identity service's errors: an unknown user, another org, a bad token.
    unknown = http.get(
        identity_url.rsplit("/", 1)[0] + "/0055g00000zzzzzAAA",
        params={"oauth_token": token["access_token"]},
    )
    assert unknown.status_code == 404
    other_org = http.get(
        f"{served.url}/id/00D5g00000zzzzzEAA/{user_id}",
        params={"oauth_token": token["access_token"]},
    )
    assert other_org.status_code == 403
    assert http.get(identity_url, params={"oauth_token": "nope"}).status_code == 403


def test_direct_session_and_expiry(served: Served) -> None:
    sf = served.soap_client()
    direct = served.direct_client(sf.session_id)
    assert direct.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    served.admin_post("hooks/expire_sessions")
    # A client holding credentials logs in again transparently ...
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    # ... one holding only a session id gets INVALID_SESSION_ID.
    with pytest.raises(SalesforceExpiredSession) as exc:
        direct.query("SELECT Id FROM Account LIMIT 1")
    assert exc.value.status == 401
    assert exc.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_sessions_expire_after_their_ttl(tmp_path: Path) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    app = serve(tmp_path / "sf.db", tmp_path / "tls", session_ttl_s=60, clock=lambda: now[0])
    try:
        sf = app.soap_client()
        direct = app.direct_client(sf.session_id)
        assert direct.query("SELECT COUNT() FROM User")["totalSize"] >= 1
        now[0] += timedelta(seconds=61)
        with pytest.raises(SalesforceExpiredSession):
            direct.query("SELECT COUNT() FROM User")
    finally:
        app.stop()


# -- query ----------------------------------------------------------------------------------------


def test_query_pages_at_2000_rows_with_next_records_url(sf: Salesforce) -> None:
    total = ACCOUNTS * 10
    first = sf.query("SELECT Id, Name FROM Contact ORDER BY Id")
    assert first["totalSize"] == total and first["done"] is False
    assert len(first["records"]) == 2000
    assert re.fullmatch(r"/services/data/v59\.0/query/01g\w{15}-2000", first["nextRecordsUrl"])
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["done"] is True and "nextRecordsUrl" not in second
    assert len(second["records"]) == total - 2000
    ids = [r["Id"] for r in first["records"] + second["records"]]
    assert ids == sorted(ids) and len(set(ids)) == total
    everything = list(sf.query_all_iter("SELECT Id FROM Contact"))
    assert len(everything) == total
    assert sf.query_all("SELECT Id FROM Contact")["totalSize"] == total


def test_organization_is_one_queryable_read_only_row(sf: Salesforce) -> None:
    # Every org has its Organization row (Object Reference: Organization; query, retrieve,
    # describe); the Salesforce CLI reads it on every command (@salesforce/core
    # lib/org/determineOrg.js). The old sandbox refused the query with INVALID_TYPE.
    soql = (
        "SELECT Id, Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, "
        "OrganizationType FROM Organization"
    )
    rows = sf.query(soql)["records"]
    assert len(rows) == 1
    org = rows[0]
    assert org["Id"][:15] == sf.session_id.split("!")[0]  # a session id starts with its org's id
    assert org["Id"].startswith("00D") and len(org["Id"]) == 18
    # A sandbox org, as the SOAP login says (`<sandbox>true</sandbox>`): no trial expiration.
    assert (org["IsSandbox"], org["TrialExpirationDate"], org["NamespacePrefix"]) == (
        True,
        None,
        None,
    )
    assert org["Name"] and org["InstanceName"]
    described = sf.Organization.describe()
    assert (described["keyPrefix"], described["createable"], described["deletable"]) == (
        "00D",
        False,
        False,
    )
    assert org["OrganizationType"] in next(
        [p["value"] for p in f["picklistValues"]]
        for f in described["fields"]
        if f["name"] == "OrganizationType"
    )
    assert "Organization" in {o["name"] for o in sf.describe()["sobjects"]}
    assert sf.Organization.get(org["Id"])["Name"] == org["Name"]
    with pytest.raises(SalesforceError) as refused:
        sf.Organization.create({"Name": "another org"})
    assert refused.value.content[0]["errorCode"] == "INVALID_TYPE_FOR_OPERATION"


def _column(name: str, apex: str | None, **flags: Any) -> dict[str, Any]:
    """One entry of `columnMetadata`, shaped as the Salesforce CLI's recorded exemplars of real
    answers (salesforcecli/plugin-data test/test-files/queryFields.exemplars.ts)."""
    return {
        "aggregate": False,
        "apexType": apex,
        "booleanType": False,
        "columnName": name,
        "custom": False,
        "displayName": name,
        "foreignKeyName": None,
        "insertable": False,
        "joinColumns": [],
        "numberType": False,
        "textType": False,
        "updatable": False,
        **flags,
    }


def test_query_columns_true_describes_the_columns_instead_of_rows(sf: Salesforce) -> None:
    # `?columns=true` on the query resource answers the query's column metadata, no records:
    # what the Salesforce CLI's `sf data query` reads after the rows (plugin-data
    # lib/commands/data/query.js retrieveColumns); the old sandbox ran the query instead.
    soql = "SELECT Id, Name, AnnualRevenue, IsDeleted, Owner.Name, Owner.Email FROM Account"
    body = sf.restful("query", params={"q": soql, "columns": "true"})
    assert set(body) == {"columnMetadata"}
    assert body["columnMetadata"] == [
        _column("Id", "Id"),
        _column("Name", "String", textType=True, insertable=True, updatable=True),
        _column("AnnualRevenue", "Decimal", numberType=True, insertable=True, updatable=True),
        _column("IsDeleted", "Boolean", booleanType=True),
        _column(
            "Owner",
            None,
            foreignKeyName="OwnerId",
            joinColumns=[
                _column("Name", "String", textType=True),
                _column("Email", "String", textType=True),
            ],
        ),
    ]
    # Without it (or with columns=false) the query runs as before.
    rows = sf.restful("query", params={"q": soql, "columns": "false"})
    total = sf.query("SELECT COUNT() FROM Account")["totalSize"]
    assert rows["totalSize"] == len(rows["records"]) == total >= ACCOUNTS
    # A malformed query is still refused as one.
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("query", params={"q": "SELECT Nope FROM Account", "columns": "true"})
    assert _code(exc) == "INVALID_FIELD"


def test_batch_size_header_asks_for_smaller_pages(sf: Salesforce) -> None:
    headers = {"Sforce-Query-Options": "batchSize=500"}
    page = sf.query("SELECT Id FROM Contact", headers=headers)
    assert len(page["records"]) == 500 and page["nextRecordsUrl"].endswith("-500")
    assert (
        len(
            sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=50"})[
                "records"
            ]
        )
        == 200
    )  # the minimum
    rows = list(sf.query_all_iter("SELECT Id FROM Contact", headers=headers))
    assert len(rows) == ACCOUNTS * 10


def test_records_carry_json_types_and_attributes(sf: Salesforce) -> None:
    record = sf.query(
        "SELECT Id, Name, IsDeleted, HasOptedOutOfEmail, CreatedDate, Title, AccountId "
        "FROM Contact WHERE Title = null LIMIT 1"
    )["records"][0]
    assert list(record) == [
        "attributes",
        "Id",
        "Name",
        "IsDeleted",
        "HasOptedOutOfEmail",
        "CreatedDate",
        "Title",
        "AccountId",
    ]
    assert record["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v59.0/sobjects/Contact/{record['Id']}",
    }
    assert record["IsDeleted"] is False and isinstance(record["HasOptedOutOfEmail"], bool)
    assert record["Title"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", record["CreatedDate"])
    opp = sf.query("SELECT Amount, Probability, CloseDate, IsWon FROM Opportunity LIMIT 1")
    opp_record = opp["records"][0]
    assert isinstance(opp_record["Amount"], float) and isinstance(opp_record["IsWon"], bool)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", opp_record["CloseDate"])
    acc = sf.query("SELECT NumberOfEmployees FROM Account WHERE NumberOfEmployees != null LIMIT 1")[
        "records"
    ][0]
    assert isinstance(acc["NumberOfEmployees"], int)


def test_parent_fields_through_lookups(sf: Salesforce) -> None:
    """`Owner.Name`, `Parent.Name` in the SELECT list: over REST one nested object per
    relationship with its own attributes (null when the lookup is empty); over Bulk API 2.0 a
    `Owner.Name` column. Checked against the parents read on their own."""
    child, parent = (
        r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 2")["records"]
    )
    sf.Account.update(child, {"ParentId": parent})
    users = {
        u["Id"]: (u["Name"], u["IsActive"])
        for u in sf.query_all("SELECT Id, Name, IsActive FROM User")["records"]
    }
    names = {a["Id"]: a["Name"] for a in sf.query_all("SELECT Id, Name FROM Account")["records"]}
    rows = sf.query_all(
        "SELECT Id, Owner.Name, OwnerId, ParentId, Parent.Name, Owner.IsActive FROM Account"
    )["records"]
    assert len(rows) == len(names)
    for r in rows:
        assert list(r) == ["attributes", "Id", "Owner", "OwnerId", "ParentId", "Parent"]
        owner = r["Owner"]
        assert owner["attributes"] == {
            "type": "User",
            "url": f"/services/data/v59.0/sobjects/User/{r['OwnerId']}",
        }
        assert (owner["Name"], owner["IsActive"]) == users[r["OwnerId"]]
        if r["ParentId"] is None:
            assert r["Parent"] is None
        else:
            assert r["Parent"]["Name"] == names[r["ParentId"]]
            assert r["Parent"]["attributes"]["type"] == "Account"
    assert next(r for r in rows if r["Id"] == child)["Parent"]["Name"] == names[parent]
    csv_text = "".join(
        sf.bulk2.Account.query(
            f"SELECT Id, Owner.Name, Parent.Name FROM Account WHERE Id = '{child}'", wait=0.2
        )
    )
    header, line = csv_text.strip().splitlines()
    assert header == '"Id","Owner.Name","Parent.Name"'
    owner_id = next(r["OwnerId"] for r in rows if r["Id"] == child)
    assert line == f'"{child}","{users[owner_id][0]}","{names[parent]}"'
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Account WHERE Owner.Name = 'x'")
    assert _code(exc) == "MALFORMED_QUERY"


def test_count_filters_and_date_literals(sf: Salesforce) -> None:
    counted = sf.query("SELECT COUNT() FROM Account")
    assert counted["done"] is True and counted["records"] == []
    assert counted["totalSize"] >= ACCOUNTS
    won = sf.query("SELECT COUNT() FROM Opportunity WHERE IsWon = true")["totalSize"]
    closed = sf.query(
        "SELECT COUNT() FROM Opportunity WHERE StageName IN ('Closed Won', 'Closed Lost')"
    )["totalSize"]
    assert 0 < won < closed
    recent = sf.query(
        "SELECT COUNT() FROM Contact WHERE CreatedDate > 2025-01-01T00:00:00Z "
        "AND (Title = 'CEO' OR Title LIKE 'VP%')"
    )["totalSize"]
    assert 0 < recent < ACCOUNTS * 10
    assert sf.query("SELECT Id FROM Account ORDER BY Name DESC LIMIT 7")["totalSize"] == 7


def test_query_and_query_all_on_deleted_rows(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Soon Deleted Ltd"})
    contact = sf.Contact.create({"LastName": "Gone", "AccountId": account["id"]})
    assert sf.Account.delete(account["id"]) == 204
    live = sf.query(f"SELECT Id FROM Account WHERE Id = '{account['id']}'")
    assert live["totalSize"] == 0
    everything = sf.query_all(
        f"SELECT Id, IsDeleted FROM Account WHERE Id = '{account['id']}'", include_deleted=True
    )
    assert everything["totalSize"] == 1 and everything["records"][0]["IsDeleted"] is True
    # Deleting an account deletes its contacts too (cascade), visible to queryAll only.
    cascaded = sf.query_all(
        f"SELECT IsDeleted FROM Contact WHERE Id = '{contact['id']}'", include_deleted=True
    )
    assert cascaded["records"][0]["IsDeleted"] is True
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(account["id"])


def test_updated_and_deleted_resources(sf: Salesforce) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    account = sf.Account.create({"Name": "Replicated Co"})
    sf.Account.delete(account["id"])
    end = datetime.now(UTC) + timedelta(minutes=5)
    deleted = sf.Account.deleted(start, end)
    assert account["id"] in [d["id"] for d in deleted["deletedRecords"]]
    assert "latestDateCovered" in sf.Account.updated(start, end)


# -- describe ------------------------------------------------------------------------------------


def test_global_and_object_describe(sf: Salesforce) -> None:
    described = sf.describe()
    assert described["encoding"] == "UTF-8" and described["maxBatchSize"] == 200
    names = {o["name"]: o for o in described["sobjects"]}
    assert set(names) >= {
        "Account",
        "Contact",
        "Opportunity",
        "OpportunityHistory",
        "User",
        "OpportunityStage",
    }
    assert names["Account"]["keyPrefix"] == "001" and names["Account"]["queryable"] is True
    account = sf.Account.describe()
    fields = {f["name"]: f for f in account["fields"]}
    tier = fields["ACM_Tier__c"]
    assert tier["type"] == "picklist" and tier["custom"] is True
    assert tier["restrictedPicklist"] is True and tier["updateable"] is True
    assert [p["value"] for p in tier["picklistValues"]] == [
        "Key",
        "Existing",
        "New",
        "Dormant",
        "Prospect",
    ]
    assert set(tier["picklistValues"][0]) == {
        "active",
        "defaultValue",
        "label",
        "validFor",
        "value",
    }
    assert fields["Id"]["type"] == "id" and fields["Id"]["updateable"] is False
    assert fields["ParentId"]["referenceTo"] == ["Account"]
    assert fields["NumberOfEmployees"]["soapType"] == "xsd:int"
    for key in (
        "name",
        "label",
        "type",
        "length",
        "precision",
        "scale",
        "nillable",
        "createable",
        "updateable",
        "custom",
        "calculated",
        "defaultedOnCreate",
        "externalId",
        "unique",
        "filterable",
        "sortable",
        "referenceTo",
        "relationshipName",
        "picklistValues",
        "restrictedPicklist",
        "inlineHelpText",
        "soapType",
        "byteLength",
        "digits",
    ):
        assert key in tier
    stage = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}["StageName"]
    assert "Closed Won" in [p["value"] for p in stage["picklistValues"]]
    assert sf.Account.metadata()["objectDescribe"]["name"] == "Account"


# -- records --------------------------------------------------------------------------------------


def test_create_get_update_delete(sf: Salesforce) -> None:
    created = sf.Account.create(
        {
            "Name": "Acme Test",
            "Industry": "Banking",
            "ACM_Health_Score__c": 71,
            "ACM_Tier__c": "Key",
        }
    )
    assert created["success"] is True and created["errors"] == []
    record = sf.Account.get(created["id"])
    assert record["Name"] == "Acme Test" and record["ACM_Health_Score__c"] == 71.0
    assert record["IsDeleted"] is False and record["CurrencyIsoCode"] == "USD"
    assert record["OwnerId"] == record["CreatedById"] == record["LastModifiedById"]
    assert sf.Account.update(created["id"], {"ACM_Tier__c": "Existing"}) == 204
    again = sf.Account.get(created["id"], params={"fields": "ACM_Tier__c,SystemModstamp"})
    assert list(again) == ["attributes", "ACM_Tier__c", "SystemModstamp"]
    assert again["ACM_Tier__c"] == "Existing"
    assert again["SystemModstamp"] >= record["SystemModstamp"]
    assert sf.Account.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(created["id"])
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.delete(created["id"])
    assert _code(exc) == "ENTITY_IS_DELETED"


def test_recycle_bin_record_reads_as_not_found_and_writes_as_entity_is_deleted(
    sf: Salesforce,
) -> None:
    """A record in the recycle bin: a GET of it is 404 NOT_FOUND (jsforce's integration suite,
    run against real orgs, asserts errorCode NOT_FOUND for retrieve() of a just-deleted Account,
    test/connection-crud.test.js, and its _retrieveParallel reads NOT_FOUND as "gone");
    sObject Collections retrieve gives null in its place (jsforce test/connection-crud.test.ts);
    a PATCH or DELETE of it is ENTITY_IS_DELETED "entity is deleted" (a second DELETE of an
    Account pasted from a real v49.0 org in mohan-chinnappan-n/cli-dx, rest.md).
    An id of the right prefix that never existed is NOT_FOUND for all three."""
    rid = sf.Account.create({"Name": "Recycled Co"})["id"]
    assert sf.Account.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.get(rid)
    assert exc.value.content == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    fetched = sf.restful("composite/sobjects/Account", params={"ids": rid, "fields": "Id,Name"})
    assert fetched == [None]
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.update(rid, {"Name": "Back"})
    assert _code(exc) == "ENTITY_IS_DELETED"
    assert exc.value.content[0]["message"] == "entity is deleted"
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.delete(rid)
    assert _code(exc) == "ENTITY_IS_DELETED"
    never = "001" + "0" * 9 + "zzz"
    for call in (
        lambda: sf.Account.get(never),
        lambda: sf.Account.update(never, {"Name": "X"}),
        lambda: sf.Account.delete(never),
    ):
        with pytest.raises(SalesforceResourceNotFound) as exc:
            call()
        assert _code(exc) == "NOT_FOUND"


def test_derived_fields_and_opportunity_history(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Pipeline Co"})
    contact = sf.Contact.create(
        {
            "FirstName": "Ada",
            "LastName": "Lovelace",
            "AccountId": account["id"],
            "Email": "ada@pipeline.example",
        }
    )
    assert sf.Contact.get(contact["id"])["Name"] == "Ada Lovelace"
    opp = sf.Opportunity.create(
        {
            "Name": "Big deal",
            "StageName": "Prospecting",
            "CloseDate": "2026-06-30",
            "Amount": 1000,
            "AccountId": account["id"],
        }
    )
    record = sf.Opportunity.get(opp["id"])
    assert record["Probability"] == 10 and record["IsClosed"] is False
    assert record["ForecastCategory"] == "Pipeline" and record["ExpectedRevenue"] == 100
    sf.Opportunity.update(opp["id"], {"StageName": "Closed Won"})
    record = sf.Opportunity.get(opp["id"])
    assert record["IsWon"] is True and record["IsClosed"] is True
    assert record["Probability"] == 100 and record["ForecastCategory"] == "Closed"
    sf.Opportunity.update(opp["id"], {"Description": "no history for this"})
    history = sf.query(
        "SELECT StageName, Amount, Probability FROM OpportunityHistory "
        f"WHERE OpportunityId = '{opp['id']}' ORDER BY CreatedDate, Id"
    )["records"]
    assert [h["StageName"] for h in history] == ["Prospecting", "Closed Won"]


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"Name": "X", "Bogus__c": 1}, "INVALID_FIELD"),
        ({"Name": "X", "ACM_Tier__c": "Platinum"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"Industry": "Banking"}, "REQUIRED_FIELD_MISSING"),
        ({"Name": "X", "IsDeleted": True}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"Name": "X", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR"),
        ({"Name": "x" * 256}, "STRING_TOO_LONG"),
        ({"Name": "X", "ParentId": "not-an-id"}, "MALFORMED_ID"),
        ({"Name": "X", "ACM_Health_Score__c": 12345}, "NUMBER_OUTSIDE_VALID_RANGE"),
    ],
)
def test_bad_records_get_the_api_errors(sf: Salesforce, values: dict[str, Any], code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.create(values)
    assert exc.value.status == 400 and _code(exc) == code
    assert set(exc.value.content[0]) >= {"message", "errorCode"}


def test_bad_email_and_missing_required_fields_name_the_fields(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Doe", "Email": "not an email"})
    assert _code(exc) == "INVALID_EMAIL_ADDRESS" and exc.value.content[0]["fields"] == ["Email"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Opportunity.create({"Name": "No stage"})
    assert exc.value.content[0]["fields"] == ["StageName", "CloseDate"]
    account_id = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.update(account_id, {"ACM_Health_Band__c": "Purple"})
    assert _code(exc) == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_bad_requests_never_500(served: Served, sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELEKT Id FROM Account")
    assert _code(exc) == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Nope__c FROM Account")
    assert _code(exc) == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Nope")
    assert _code(exc) == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query_more("01g5g0000000000AAA-2000")
    assert _code(exc) == "INVALID_QUERY_LOCATOR"
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.get("garbage")
    assert _code(exc) == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.restful("no/such/resource")
    assert exc.value.content == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    with pytest.raises(SalesforceGeneralError) as exc:
        sf.restful("limits", method="PUT")
    assert exc.value.status == 405 and _code(exc) == "METHOD_NOT_ALLOWED"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("sobjects/Account", method="POST", data="{not json")
    assert _code(exc) == "JSON_PARSER_ERROR"
    versions = served.session().get(f"{served.url}/services/data/").json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    assert served.session().get(f"{served.url}/services/data/v20.0/limits").status_code == 404
    unauthenticated = served.session().get(
        f"{served.url}/services/data/v59.0/limits", headers={"Authorization": "Bearer nope"}
    )
    assert unauthenticated.status_code == 401


# -- sObject Collections --------------------------------------------------------------------------


def _accounts(n: int, bad: int | None = None) -> list[dict[str, Any]]:
    return [
        {
            "attributes": {"type": "Account"},
            "Name": f"Batch {i}",
            "ACM_Tier__c": "Platinum" if i == bad else "New",
        }
        for i in range(n)
    ]


def test_collections_without_all_or_none_keep_the_good_rows(sf: Salesforce) -> None:
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"allOrNone": False, "records": _accounts(4, bad=2)},
    )
    assert [r["success"] for r in results] == [True, True, False, True]
    assert list(results[0]) == ["id", "success", "errors"] and results[0]["errors"] == []
    assert results[2]["errors"] == [
        {
            "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "message": "ACM Tier: bad value for restricted picklist field: Platinum",
            "fields": ["ACM_Tier__c"],
        }
    ]
    ids = [r["id"] for r in results if r["success"]]
    updates = [{"attributes": {"type": "Account"}, "id": i, "ACM_Health_Score__c": 50} for i in ids]
    updates.append({"attributes": {"type": "Account"}, "id": ids[0], "Name": None})
    updated = sf.restful(
        "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": updates}
    )
    assert [r["success"] for r in updated] == [True, True, True, False]
    assert updated[3]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert updated[3]["errors"][0]["fields"] == ["Name"]
    deleted = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": ",".join(ids), "allOrNone": "false"}
    )
    assert [r["success"] for r in deleted] == [True, True, True]


def test_collections_all_or_none_roll_everything_back(sf: Salesforce) -> None:
    before = sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Atomic %'")["totalSize"]
    records = [{**r, "Name": r["Name"].replace("Batch", "Atomic")} for r in _accounts(3, bad=1)]
    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
    )
    assert [r["success"] for r in results] == [False, False, False]
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    for i in (0, 2):
        assert results[i]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    after = sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Atomic %'")["totalSize"]
    assert after == before


def test_collections_limits_and_shapes(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects", method="POST", json={"records": _accounts(201)})
    assert _code(exc) == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful(
            "composite/sobjects",
            method="POST",
            json={"records": [{"attributes": {"type": "Account"}, "Name": "x", "Nope__c": 1}]},
        )
    assert _code(exc) == "INVALID_FIELD"
    missing = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Account"}, "Name": "x"}]},
    )
    assert missing[0]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account LIMIT 2")["records"]]
    fetched = sf.restful(
        "composite/sobjects/Account",
        params={"ids": ",".join([*ids, "0015g00000zzzzzAAA"]), "fields": "Id,Name"},
    )
    assert [r and r["Id"] for r in fetched] == [*ids, None]


def test_collections_retrieve_with_a_request_body(sf: Salesforce) -> None:
    """POST composite/sobjects/{sObject} with {"ids", "fields"}: the documented form for id
    lists too long for a URL ("Get Records With a Request Body Using sObject Collections"),
    and what jsforce's retrieve() of several ids sends. An invalid id reads as null; an
    unknown field is a 400."""
    rows = sf.query("SELECT Id, Name FROM Account ORDER BY Id LIMIT 3")["records"]
    ids = [r["Id"] for r in rows]
    fetched = sf.restful(
        "composite/sobjects/Account",
        method="POST",
        json={"ids": [*ids, "0015g00000zzzzzAAA", "bogus"], "fields": ["Id", "Name"]},
    )
    assert [r and (r["Id"], r["Name"]) for r in fetched] == [
        *[(r["Id"], r["Name"]) for r in rows],
        None,
        None,
    ]
    assert fetched[0]["attributes"]["type"] == "Account"
    assert set(fetched[0]) == {"attributes", "Id", "Name"}
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful(
            "composite/sobjects/Account",
            method="POST",
            json={"ids": ids, "fields": ["Id", "Nope__c"]},
        )
    assert _code(exc) == "INVALID_FIELD"


def test_per_record_rejections_from_the_fault_injector(served: Served, sf: Salesforce) -> None:
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 3")["records"]]
    served.admin_post(
        "faults",
        {
            "kind": "reject",
            "object": "Account",
            "record_ids": [ids[1]],
            "error_code": "UNABLE_TO_LOCK_ROW",
            "message": "unable to obtain exclusive access to this record",
        },
    )
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "id": i, "ACM_Next_Action__c": "call"}
                for i in ids
            ]
        },
    )
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert results[1]["id"] == ids[1]


# -- limits ---------------------------------------------------------------------------------------


def test_limits_and_usage_header(sf: Salesforce) -> None:
    limits = sf.limits()
    daily = limits["DailyApiRequests"]
    assert daily["Max"] == 100_000 and 0 < daily["Remaining"] < 100_000
    for key in ("DailyBulkV2QueryJobs", "DailyBulkApiBatches", "DataStorageMB"):
        assert set(limits[key]) == {"Max", "Remaining"}
    used = sf.api_usage["api-usage"].used
    assert used == daily["Max"] - daily["Remaining"]
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert sf.api_usage["api-usage"].used == used + 1


def test_daily_limit_refuses_requests_once_spent(served: Served) -> None:
    sf = served.soap_client()
    state = served.admin_get("salesforce/limits")
    served.admin_post("salesforce/limits", {"max": state["used"] + 3})
    try:
        for _ in range(3):
            sf.query("SELECT Id FROM Account LIMIT 1")
        with pytest.raises(SalesforceRefusedRequest) as exc:
            sf.query("SELECT Id FROM Account LIMIT 1")
        assert exc.value.status == 403
        assert exc.value.content == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]
        # Logins are not API requests: a fresh login still works, its calls are refused.
        fresh = served.soap_client()
        with pytest.raises(SalesforceRefusedRequest):
            fresh.limits()
    finally:
        served.admin_post("salesforce/limits", {"max": 100_000})
    served.admin_post("hooks/exhaust_limit")
    try:
        with pytest.raises(SalesforceRefusedRequest):
            sf.query("SELECT Id FROM Account LIMIT 1")
    finally:
        served.admin_post("salesforce/limits", {"used": state["used"]})


# -- merges and restarts -------------------------------------------------------------------------


def test_merge_marks_losers_and_reparents_children(served: Served, sf: Salesforce) -> None:
    master = sf.Account.create({"Name": "Master Co"})["id"]
    loser = sf.Account.create({"Name": "Master Co (dup)"})["id"]
    contact = sf.Contact.create({"LastName": "Child", "AccountId": loser})["id"]
    result = served.admin_post(
        "salesforce/merge", {"object": "Account", "master_id": master, "duplicate_ids": [loser]}
    )
    assert result["success"] is True and result["mergedRecordIds"] == [loser]
    gone = sf.query_all(
        f"SELECT IsDeleted, MasterRecordId FROM Account WHERE Id = '{loser}'", include_deleted=True
    )["records"][0]
    assert gone["IsDeleted"] is True and gone["MasterRecordId"] == master
    assert sf.Contact.get(contact)["AccountId"] == master


def test_a_restart_keeps_everything(tmp_path: Path) -> None:
    first = serve(tmp_path / "sf.db", tmp_path / "tls", seed=synthetic_org(20))
    try:
        sf = first.soap_client()
        account = sf.Account.create({"Name": "Persistent Co", "ACM_Tier__c": "Key"})["id"]
        remaining = sf.limits()["DailyApiRequests"]["Remaining"]
    finally:
        first.stop()
    second = serve(tmp_path / "sf.db", tmp_path / "tls", seed=synthetic_org(5))
    try:
        sf = second.soap_client()
        assert sf.Account.get(account)["ACM_Tier__c"] == "Key"
        assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 21  # not re-seeded
        # the usage counter persists too: get + query + limits since
        assert sf.limits()["DailyApiRequests"]["Remaining"] == remaining - 3
        again = sf.Account.create({"Name": "After restart"})["id"]
        assert again != account
    finally:
        second.stop()


def test_raw_wire_headers(served: Served, sf: Salesforce) -> None:
    http = served.session()
    response = http.get(
        f"{served.url}/services/data/v59.0/limits/",
        headers={"Authorization": f"Bearer {sf.session_id}"},
    )
    assert response.headers["Content-Type"].startswith("application/json")
    assert re.fullmatch(r"api-usage=\d+/100000", response.headers["Sforce-Limit-Info"])


def test_soap_merge(served: Served, sf: Salesforce) -> None:
    master = sf.Contact.create({"LastName": "Keeper", "Email": "keep@example.com"})["id"]
    loser = sf.Contact.create({"LastName": "Keeper", "Email": "KEEP@example.com"})["id"]
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com" xmlns:urn1="urn:sobject.partner.soap.sforce.com">'
        "<soapenv:Header><urn:SessionHeader><urn:sessionId>{sid}</urn:sessionId>"
        "</urn:SessionHeader></soapenv:Header><soapenv:Body><urn:merge><urn:request>"
        "<urn:masterRecord><urn1:type>Contact</urn1:type><urn1:Id>{master}</urn1:Id>"
        "</urn:masterRecord><urn:recordToMergeIds>{loser}</urn:recordToMergeIds>"
        "</urn:request></urn:merge></soapenv:Body></soapenv:Envelope>"
    )
    url = f"{served.url}/services/Soap/u/59.0/{sf.session_id[:15]}"
    http = served.session()
    response = http.post(
        url,
        envelope.format(sid=sf.session_id, master=master, loser=loser),
        headers={"content-type": "text/xml", "SOAPAction": "merge"},
    )
    assert response.status_code == 200, response.text
    assert f"<mergedRecordIds>{loser}</mergedRecordIds>" in response.text
    assert "<success>true</success>" in response.text
    merged = sf.query_all(
        f"SELECT MasterRecordId FROM Contact WHERE Id = '{loser}'", include_deleted=True
    )["records"][0]
    assert merged["MasterRecordId"] == master
    refused = http.post(url, envelope.format(sid="bogus", master=master, loser=loser))
    assert refused.status_code == 500
    assert "<sf:exceptionCode>INVALID_SESSION_ID</sf:exceptionCode>" in refused.text


def test_injected_status_faults_are_salesforce_shaped(served: Served, sf: Salesforce) -> None:
    served.admin_post(
        "faults",
        {
            "kind": "status",
            "status": 503,
            "retry_after": 2,
            "path": "/query",
            "message": "try later",
        },
    )
    with pytest.raises(SalesforceGeneralError) as exc:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert exc.value.status == 503
    assert exc.value.content == [{"message": "try later", "errorCode": "SERVER_UNAVAILABLE"}]
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1  # one-shot
