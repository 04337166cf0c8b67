"""Helpers for the HubSpot sandbox tests: an in-thread server and the real client.

The client is the unmodified `hubspot-api-client` with client-side validation on. In this
client version every API object gets its own `Configuration`, built by
`DiscoveryBase._default_api_factory` from the keyword arguments given to `hubspot.HubSpot`
(each is `setattr` on the Configuration), so the supported way to switch validation on for every
API is `hubspot.HubSpot(access_token=..., host=..., client_side_validation=True)`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hubspot
import numpy as np
import pandas as pd
import requests
import uvicorn

from acm_sync.sandbox.faults import FaultInjector
from acm_sync.sandbox.hubspot import schema
from acm_sync.sandbox.hubspot.app import create_app
from acm_sync.sandbox.hubspot.messages import error_response
from acm_sync.sandbox.hubspot.store import HubSpotStore

TOKEN = "pat-na1-test-0000-1111"


def client(base_url: str, token: str = TOKEN) -> hubspot.HubSpot:
    """The real client, validating every model it builds (`client_side_validation=True`)."""
    return hubspot.HubSpot(access_token=token, host=base_url, client_side_validation=True)


def default_client(base_url: str, token: str = TOKEN) -> hubspot.HubSpot:
    """The real client with its default Configuration (`client_side_validation` False), as the
    product builds it (`acm_sync.connectors.hubspot` never sets it). Only for reading 207
    multi-status answers: their `errors` entries carry no `errors` / `links`, which the spec's
    StandardError lists as required, because real HubSpot sends none (sources in
    `acm_sync.sandbox.hubspot.messages.standard_error`). The strict `client` raises ValueError
    on every such answer, from the live API as from the sandbox."""
    return hubspot.HubSpot(access_token=token, host=base_url)


def bearer_session(token: str = TOKEN) -> requests.Session:
    """A plain HTTP session carrying the private-app token, for calls the client has no method
    for (legacy v1 / v2 paths, raw bodies); no environment proxies or CA bundle."""
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {token}"
    return session


@dataclass
class SyntheticOrg:
    """A DemoOrg-shaped stand-in: typed frames per object, associations, history."""

    hubspot: dict[str, pd.DataFrame]
    hubspot_associations: pd.DataFrame
    hubspot_property_history: pd.DataFrame
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def synthetic_org(
    companies: int = 250, contacts_per: int = 2, deals_per: int = 1, seed: int = 1
) -> SyntheticOrg:
    """A small typed org in the generator's shapes (floats, datetimes, str, None)."""
    rng = np.random.default_rng(seed)
    base = datetime(2024, 1, 1, tzinfo=UTC)

    def frame(obj: str, n: int, start_id: int, extra: dict[str, Any]) -> pd.DataFrame:
        created = [base + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 300, n)]
        updated = [
            c + timedelta(minutes=int(m))
            for c, m in zip(created, rng.integers(1, 60 * 24 * 30, n), strict=True)
        ]
        archived = rng.random(n) < 0.03
        data: dict[str, Any] = {
            "id": np.arange(start_id, start_id + n, dtype=np.int64),
            "createdAt": pd.to_datetime(created, utc=True),
            "updatedAt": pd.to_datetime(updated, utc=True),
            "archived": archived,
            "archivedAt": pd.Series(
                [
                    u + timedelta(days=1) if a else None
                    for u, a in zip(updated, archived, strict=True)
                ],
                dtype="datetime64[ns, UTC]",
            ),
        }
        for p in schema.DEFAULT_PROPERTIES[obj]:
            data.setdefault(p.name, [None] * n)
        data.update(extra)
        return pd.DataFrame(data)

    n_c = companies
    comp = frame(
        "companies",
        n_c,
        1001,
        {
            "name": [f"Company {i}" for i in range(n_c)],
            "domain": [f"company{i}.example.com" for i in range(n_c)],
            "industry": rng.choice(schema.INDUSTRIES, n_c),
            "annualrevenue": np.where(
                rng.random(n_c) < 0.1, np.nan, np.round(rng.pareto(1.2, n_c) * 1e5, 2)
            ),
            "numberofemployees": rng.integers(1, 5000, n_c).astype(float),
        },
    )
    n_p = n_c * contacts_per
    cont = frame(
        "contacts",
        n_p,
        50001,
        {
            "email": [f"person{i}@company{i // contacts_per}.example.com" for i in range(n_p)],
            "firstname": [f"First{i}" for i in range(n_p)],
            "lastname": [f"Last{i}" for i in range(n_p)],
        },
    )
    n_d = n_c * deals_per
    stages = [s[0] for s in schema.DEAL_STAGES]
    deal_stage = rng.choice(stages, n_d)
    prob = {s[0]: s[2] for s in schema.DEAL_STAGES}
    deals = frame(
        "deals",
        n_d,
        90001,
        {
            "dealname": [f"Deal {i}" for i in range(n_d)],
            "amount": np.round(rng.random(n_d) * 50000, 0),
            "dealstage": deal_stage,
            "pipeline": "default",
            "hs_deal_stage_probability": [float(prob[s]) for s in deal_stage],
            "closedate": pd.to_datetime(
                [base + timedelta(days=int(d)) for d in rng.integers(0, 500, n_d)], utc=True
            ),
        },
    )
    rows = []
    for i, cid in enumerate(cont["id"]):
        company = int(comp["id"].iloc[i // contacts_per])
        rows += [
            ("contacts", int(cid), "companies", company, 1),
            ("companies", company, "contacts", int(cid), 2),
            ("contacts", int(cid), "companies", company, 279),
            ("companies", company, "contacts", int(cid), 280),
        ]
    for i, did in enumerate(deals["id"]):
        company = int(comp["id"].iloc[i // deals_per])
        rows += [
            ("deals", int(did), "companies", company, 5),
            ("companies", company, "deals", int(did), 6),
            ("deals", int(did), "companies", company, 341),
            ("companies", company, "deals", int(did), 342),
        ]
    assoc = pd.DataFrame(rows, columns=["from_type", "from_id", "to_type", "to_id", "type_id"])
    hist = []
    for did, stage, created in zip(
        deals["id"], deals["dealstage"], deals["createdAt"], strict=True
    ):
        hist.append(("deals", int(did), "dealstage", "appointmentscheduled", created, "CRM_UI"))
        hist.append(("deals", int(did), "dealstage", stage, created + timedelta(days=3), "CRM_UI"))
    history = pd.DataFrame(
        hist, columns=["object_type", "object_id", "property", "value", "timestamp", "source_type"]
    )
    return SyntheticOrg(
        {
            "companies": comp,
            "contacts": cont,
            "deals": deals,
            "owners": pd.DataFrame(
                {
                    "id": [1, 2],
                    "email": ["a@x.io", "b@x.io"],
                    "firstName": ["Ann", "Bo"],
                    "lastName": ["Lee", "Ng"],
                }
            ),
        },
        assoc,
        history,
    )


@dataclass
class Running:
    base_url: str
    store: HubSpotStore
    faults: FaultInjector
    db_path: Path

    def admin(self, route: str, method: str = "GET", **json: Any) -> Any:
        response = requests.request(
            method, f"{self.base_url}/__sandbox__/{route}", json=json or None, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def limits(self, **settings: Any) -> Any:
        return self.admin("hubspot/rate-limits", "POST", **settings)


# The wire shapes of a 207 multi-status answer (HubSpot's error-handling docs, "Multi-status
# errors"): the answer's keys, and an error entry's (an association's adds subCategory).
MULTI_STATUS_KEYS = ["status", "results", "numErrors", "errors", "startedAt", "completedAt"]
ERROR_ENTRY_KEYS = ["status", "category", "message", "context"]


@contextmanager
def serve_unthrottled(tmp_path_factory: Any, seed: Any) -> Iterator[Running]:
    """`serve` a fresh database seeded with `seed`, its rate limits lifted: for a module's
    tests that do not count calls (a test module's `hs_run` fixture)."""
    with serve(tmp_path_factory.mktemp("hs") / "hubspot.db", seed=seed) as run:
        run.limits(ten_second_max=100_000)
        yield run


def company_ids(base_url: str, n: int) -> list[str]:
    """The ids of the first `n` companies, through the real client."""
    page = client(base_url).crm.companies.basic_api.get_page(limit=n)
    return [r.id for r in page.results]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(db_path: Path, seed: Any = None, tier: str = "professional") -> Iterator[Running]:
    """Run the sandbox app in a background uvicorn thread on a free port."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    faults = FaultInjector(error_response=error_response)
    app = create_app(
        db_path, base_url=base_url, access_token=TOKEN, faults=faults, seed=seed, tier=tier
    )
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        date_header=False,  # the app dates each response (as server.py runs it)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the HubSpot sandbox did not start")
        time.sleep(0.02)
    try:
        yield Running(base_url, app.state.hubspot.store, faults, db_path)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.hubspot.store.db.close()
