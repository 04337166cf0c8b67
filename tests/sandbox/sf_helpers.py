"""Helpers for the Salesforce sandbox tests: the app served over TLS in a thread, clients that
log in the way simple-salesforce does, and a fast synthetic org for the large-volume tests."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import requests
import uvicorn
from simple_salesforce import Salesforce

from acm_sync.connectors.http import salesforce_session
from acm_sync.sandbox.faults import FaultInjector
from acm_sync.sandbox.salesforce.app import SalesforceCredentials, create_app, error_response
from acm_sync.sandbox.salesforce.ids import make_id
from acm_sync.sandbox.salesforce.schema import ACM_TIERS, INDUSTRIES, OPPORTUNITY_STAGES
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.sandbox.tls import ensure_ca

LOGIN_DOMAIN = "acm-sandbox"
CREDENTIALS = SalesforceCredentials(
    username="admin@acm-sandbox.test",
    password="s3cret-Pass",
    security_token="TOKEN123",
    consumer_key="3MVG9sandboxKEY",
    consumer_secret="sandbox-consumer-secret",
)


@dataclass
class Served:
    """One running sandbox app (uvicorn over TLS in a daemon thread)."""

    url: str
    ca_path: str
    db_path: Path
    app: Any
    server: uvicorn.Server
    thread: threading.Thread
    admin: requests.Session = field(default_factory=requests.Session)

    @property
    def sandbox(self) -> Any:
        return self.app.state.sandbox

    def session(self) -> requests.Session:
        session = salesforce_session(
            domain=LOGIN_DOMAIN, login_url=self.url, ca_bundle=self.ca_path
        )
        # REQUESTS_CA_BUNDLE in the environment would override session.verify (requests
        # merges environment settings over the session's); trust only the sandbox CA here.
        session.trust_env = False
        return session

    def soap_client(self) -> Salesforce:
        return Salesforce(
            username=CREDENTIALS.username,
            password=CREDENTIALS.password,
            security_token=CREDENTIALS.security_token,
            domain=LOGIN_DOMAIN,
            session=self.session(),
        )

    def oauth_client(self) -> Salesforce:
        return Salesforce(
            username=CREDENTIALS.username,
            password=CREDENTIALS.password + CREDENTIALS.security_token,
            consumer_key=CREDENTIALS.consumer_key,
            consumer_secret=CREDENTIALS.consumer_secret,
            domain=LOGIN_DOMAIN,
            session=self.session(),
        )

    def client_credentials_client(self) -> Salesforce:
        return Salesforce(
            consumer_key=CREDENTIALS.consumer_key,
            consumer_secret=CREDENTIALS.consumer_secret,
            domain=LOGIN_DOMAIN,
            session=self.session(),
        )

    def direct_client(self, session_id: str) -> Salesforce:
        session = requests.Session()
        session.verify = self.ca_path
        session.trust_env = False
        return Salesforce(instance_url=self.url, session_id=session_id, session=session)

    def admin_post(self, path: str, payload: Any = None) -> Any:
        response = self.admin.post(f"{self.url}/__sandbox__/{path}", json=payload)
        response.raise_for_status()
        return response.json()

    def admin_get(self, path: str) -> Any:
        response = self.admin.get(f"{self.url}/__sandbox__/{path}")
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # don't wait for the clients' keep-alive connections
        self.thread.join(timeout=10)
        self.sandbox.org.file.close()


def serve(db_path: Path, tls_dir: Path, seed: Any = None, **kwargs: Any) -> Served:
    tls = ensure_ca(tls_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    faults = FaultInjector(error_response=error_response)
    app = create_app(
        db_path, instance_url=url, credentials=CREDENTIALS, faults=faults, seed=seed, **kwargs
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            ssl_certfile=str(tls.cert_path),
            ssl_keyfile=str(tls.key_path),
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Salesforce sandbox did not start")
        time.sleep(0.01)
    served = Served(url, str(tls.ca_path), db_path, app, server, thread)
    served.admin.verify = str(tls.ca_path)
    served.admin.trust_env = False
    return served


def synthetic_org(
    n_accounts: int, contacts_per_account: int = 10, opps_per_account: int = 2, seed: int = 1
) -> SimpleNamespace:
    """A `DemoOrg`-shaped object (`.salesforce` frames) built fast with numpy: big volumes for
    paging and Bulk tests without the full generator."""
    rng = np.random.default_rng(seed)
    now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    users = pd.DataFrame(
        {
            "Id": [make_id("User", i) for i in range(1, 4)],
            "Username": [f"rep{i}@acm-demo.test" for i in range(1, 4)],
            "LastName": ["Rep One", "Rep Two", "Rep Three"],
            "FirstName": ["Ann", "Bob", "Cy"],
            "Name": ["Ann Rep One", "Bob Rep Two", "Cy Rep Three"],
            "Email": [f"rep{i}@acm-demo.test" for i in range(1, 4)],
            "IsActive": [True, True, False],
            "CreatedDate": pd.to_datetime([now - timedelta(days=900)] * 3, utc=True),
            "LastModifiedDate": pd.to_datetime([now - timedelta(days=10)] * 3, utc=True),
            "SystemModstamp": pd.to_datetime([now - timedelta(days=10)] * 3, utc=True),
        }
    )
    owners = users["Id"].to_numpy()

    def stamps(n: int, days: int) -> pd.Series:
        offsets = rng.integers(0, days * 86400, n)
        return pd.Series(pd.to_datetime(now, utc=True) - pd.to_timedelta(offsets, unit="s"))

    acc_ids = [make_id("Account", i) for i in range(1, n_accounts + 1)]
    created = stamps(n_accounts, 1000)
    accounts = pd.DataFrame(
        {
            "Id": acc_ids,
            "IsDeleted": np.zeros(n_accounts, dtype=bool),
            "Name": [f"Company {i}, Inc." for i in range(1, n_accounts + 1)],
            "Website": [f"www.company{i}.example" for i in range(1, n_accounts + 1)],
            "Industry": rng.choice(INDUSTRIES, n_accounts),
            "NumberOfEmployees": rng.integers(1, 50_000, n_accounts).astype(float),
            "AnnualRevenue": np.round(rng.pareto(1.2, n_accounts) * 1e6, 0),
            "CurrencyIsoCode": "USD",
            "OwnerId": rng.choice(owners, n_accounts),
            "CreatedDate": created,
            "CreatedById": owners[0],
            "LastModifiedDate": created + pd.to_timedelta(1, unit="D"),
            "LastModifiedById": owners[0],
            "SystemModstamp": created + pd.to_timedelta(1, unit="D"),
            "ACM_Tier__c": rng.choice([*ACM_TIERS, None], n_accounts),
        }
    )
    n_contacts = n_accounts * contacts_per_account
    c_created = stamps(n_contacts, 900)
    first = rng.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"], n_contacts)
    last = [f"Person{i}" for i in range(1, n_contacts + 1)]
    contacts = pd.DataFrame(
        {
            "Id": [make_id("Contact", i) for i in range(1, n_contacts + 1)],
            "IsDeleted": np.zeros(n_contacts, dtype=bool),
            "AccountId": np.repeat(acc_ids, contacts_per_account),
            "LastName": last,
            "FirstName": first,
            "Name": [f"{a} {b}" for a, b in zip(first, last, strict=True)],
            "Email": [f"p{i}@company.example" for i in range(1, n_contacts + 1)],
            "Title": rng.choice(["CEO", "CTO", "Buyer", 'VP "Sales", EMEA', None], n_contacts),
            "HasOptedOutOfEmail": rng.random(n_contacts) < 0.1,
            "CurrencyIsoCode": "USD",
            "OwnerId": rng.choice(owners, n_contacts),
            "CreatedDate": c_created,
            "CreatedById": owners[0],
            "LastModifiedDate": c_created,
            "LastModifiedById": owners[0],
            "SystemModstamp": c_created,
        }
    )
    n_opps = n_accounts * opps_per_account
    stage_idx = rng.integers(0, len(OPPORTUNITY_STAGES), n_opps)
    stages = [OPPORTUNITY_STAGES[i] for i in stage_idx]
    o_created = stamps(n_opps, 700)
    amounts = np.round(rng.lognormal(10, 1, n_opps), 2)
    opps = pd.DataFrame(
        {
            "Id": [make_id("Opportunity", i) for i in range(1, n_opps + 1)],
            "IsDeleted": np.zeros(n_opps, dtype=bool),
            "AccountId": np.repeat(acc_ids, opps_per_account),
            "Name": [f"Deal {i}" for i in range(1, n_opps + 1)],
            "StageName": [s[0] for s in stages],
            "Amount": amounts,
            "Probability": [float(s[1]) for s in stages],
            "ExpectedRevenue": [
                round(a * s[1] / 100, 2) for a, s in zip(amounts, stages, strict=True)
            ],
            "CloseDate": (o_created + pd.to_timedelta(60, unit="D")).dt.strftime("%Y-%m-%d"),
            "IsClosed": [s[3] for s in stages],
            "IsWon": [s[4] for s in stages],
            "ForecastCategory": [s[2] for s in stages],
            "CurrencyIsoCode": "USD",
            "OwnerId": rng.choice(owners, n_opps),
            "CreatedDate": o_created,
            "CreatedById": owners[0],
            "LastModifiedDate": o_created,
            "LastModifiedById": owners[0],
            "SystemModstamp": o_created,
        }
    )
    history = pd.DataFrame(
        {
            "Id": [make_id("OpportunityHistory", i) for i in range(1, n_opps + 1)],
            "OpportunityId": opps["Id"],
            "CreatedById": owners[0],
            "CreatedDate": o_created,
            "StageName": opps["StageName"],
            "Amount": opps["Amount"],
            "CloseDate": opps["CloseDate"],
            "Probability": opps["Probability"],
            "SystemModstamp": o_created,
            "IsDeleted": False,
        }
    )
    frames = {
        "User": users,
        "Account": accounts,
        "Contact": contacts,
        "Opportunity": opps,
        "OpportunityHistory": history,
    }
    return SimpleNamespace(salesforce=frames, now=now)


def token_session(settings: SandboxSettings) -> tuple[requests.Session, str]:
    """(a session trusting the sandbox CA and nothing from the environment, an access token
    from the refresh-token grant)."""
    http = requests.Session()
    http.trust_env = False
    http.verify = settings.salesforce_ca_bundle
    c = settings.credentials
    token = http.post(
        f"{settings.salesforce_instance_url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": c.salesforce_consumer_key,
            "client_secret": c.salesforce_consumer_secret,
            "refresh_token": c.salesforce_refresh_token,
        },
    )
    token.raise_for_status()
    return http, str(token.json()["access_token"])
