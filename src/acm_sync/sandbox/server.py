"""Run both sandbox servers: Salesforce (HTTPS) and HubSpot (HTTP) on 127.0.0.1.

State lives under one data directory:

    <data_dir>/salesforce.db, hubspot.db     the two orgs (SQLite; a restart keeps them)
    <data_dir>/tls/ca.pem                    the private CA clients must trust
    <data_dir>/credentials.json              the sandbox's own generated credentials (0600)
    <data_dir>/settings.json                 connection settings of the running servers
    <data_dir>/connection.env                the same as `export NAME=value` lines
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import uvicorn

from acm_sync.sandbox.faults import FaultInjector
from acm_sync.sandbox.tls import ensure_ca, ensure_jwt_key

log = logging.getLogger(__name__)

# simple-salesforce logs in at https://{domain}.salesforce.com; connectors route this login
# domain to the sandbox's address (SALESFORCE_LOGIN_URL).
SANDBOX_LOGIN_DOMAIN = "acm-sandbox"
DEFAULT_SF_PORT = 8443
DEFAULT_HS_PORT = 8080


@dataclass(frozen=True)
class SandboxCredentials:
    salesforce_username: str
    salesforce_password: str
    salesforce_security_token: str
    salesforce_consumer_key: str
    salesforce_consumer_secret: str
    hubspot_access_token: str
    # Issued to the connected app at creation (the web-server flow's outcome).
    salesforce_refresh_token: str = ""

    @classmethod
    def load_or_create(cls, path: Path) -> SandboxCredentials:
        if path.exists():
            return cls(**json.loads(path.read_text()))
        creds = cls(
            salesforce_username="admin@acme-demo.sandbox",
            salesforce_password=secrets.token_urlsafe(12),
            salesforce_security_token=secrets.token_urlsafe(18),
            salesforce_consumer_key="3MVG9sandbox" + secrets.token_urlsafe(24),
            salesforce_consumer_secret=secrets.token_hex(32),
            hubspot_access_token="pat-na1-" + secrets.token_hex(16),
            salesforce_refresh_token="5Aep861" + secrets.token_urlsafe(48),
        )
        path.write_text(json.dumps(asdict(creds), indent=2))
        path.chmod(0o600)
        return creds


@dataclass(frozen=True)
class SandboxSettings:
    """Where the running sandbox answers and how to log in to it."""

    salesforce_instance_url: str
    salesforce_login_url: str
    salesforce_domain: str
    salesforce_ca_bundle: str
    hubspot_base_url: str
    credentials: SandboxCredentials
    # The connected app's JWT signing key (its certificate is registered in the sandbox).
    salesforce_private_key_file: str = ""

    def env(self) -> dict[str, str]:
        """The connection settings as the environment variables the product reads."""
        c = self.credentials
        return {
            "SALESFORCE_USERNAME": c.salesforce_username,
            "SALESFORCE_PASSWORD": c.salesforce_password,
            "SALESFORCE_SECURITY_TOKEN": c.salesforce_security_token,
            "SALESFORCE_DOMAIN": self.salesforce_domain,
            "SALESFORCE_LOGIN_URL": self.salesforce_login_url,
            "SALESFORCE_CONSUMER_KEY": c.salesforce_consumer_key,
            "SALESFORCE_CONSUMER_SECRET": c.salesforce_consumer_secret,
            "SALESFORCE_REFRESH_TOKEN": c.salesforce_refresh_token,
            "SALESFORCE_PRIVATE_KEY_FILE": self.salesforce_private_key_file,
            "SALESFORCE_CA_BUNDLE": self.salesforce_ca_bundle,
            "HUBSPOT_ACCESS_TOKEN": c.hubspot_access_token,
            "HUBSPOT_BASE_URL": self.hubspot_base_url,
        }

    def exports(self) -> str:
        return "".join(f"export {k}={_shell_quote(v)}\n" for k, v in self.env().items())

    def write(self, data_dir: Path) -> None:
        env = data_dir / "connection.env"
        env.write_text(self.exports())
        env.chmod(0o600)
        # Written aside, then renamed into place (last): a reader polling for settings.json
        # (the SandboxProcess parent) never sees it half-written.
        partial = data_dir / "settings.json.partial"
        partial.write_text(json.dumps({**asdict(self)}, indent=2))
        partial.chmod(0o600)
        partial.replace(data_dir / "settings.json")

    @classmethod
    def read(cls, data_dir: Path) -> SandboxSettings:
        raw = json.loads((data_dir / "settings.json").read_text())
        raw["credentials"] = SandboxCredentials(**raw["credentials"])
        return cls(**raw)


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to `serve` (two servers share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve(
    data_dir: Path,
    *,
    accounts: int = 1000,
    seed: int = 7,
    empty: bool = False,
    set_audit_fields: bool | None = None,
    sf_port: int = DEFAULT_SF_PORT,
    hs_port: int = DEFAULT_HS_PORT,
    host: str = "127.0.0.1",
    hubspot_tier: str = "professional",
    daily_api_limit: int = 100_000,
    on_ready: Callable[[SandboxSettings], None] | None = None,
) -> None:
    """Start both sandboxes and serve until SIGINT/SIGTERM.

    A new data directory is seeded with a generated demo org (`accounts`, `seed`), or with no
    records at all when `empty` (the admin user, Salesforce's opportunity stages and HubSpot's
    default pipeline, as a new org has them: load your own data through the APIs); an existing
    one is served as it is. `set_audit_fields` grants (True) or withdraws (False) the Salesforce
    org's "Set Audit Fields upon Record Creation" permission; None leaves it as it is (off in a
    new org). Port 0 picks free ports; the settings file names the real ones.
    """
    from acm_sync.sandbox.hubspot.app import create_app as create_hubspot_app
    from acm_sync.sandbox.salesforce.app import SalesforceCredentials
    from acm_sync.sandbox.salesforce.app import create_app as create_salesforce_app

    data_dir = data_dir.resolve()  # the settings name absolute paths, usable from anywhere
    data_dir.mkdir(parents=True, exist_ok=True)
    creds = SandboxCredentials.load_or_create(data_dir / "credentials.json")
    tls = ensure_ca(data_dir / "tls")
    jwt_key = ensure_jwt_key(data_dir / "tls")
    sf_db, hs_db = data_dir / "salesforce.db", data_dir / "hubspot.db"

    org = None
    if not empty and not (sf_db.exists() and hs_db.exists()):
        from acm_sync.sandbox.generator import generate_org

        started = time.perf_counter()
        org = generate_org(accounts, seed=seed)
        log.info(
            "generated a %d-account demo org in %.1fs", accounts, time.perf_counter() - started
        )

    sf_sock, hs_sock = _bind(host, sf_port), _bind(host, hs_port)
    sf_url = f"https://{host}:{sf_sock.getsockname()[1]}"
    hs_url = f"http://{host}:{hs_sock.getsockname()[1]}"

    sf_app = create_salesforce_app(
        sf_db,
        instance_url=sf_url,
        credentials=SalesforceCredentials(
            username=creds.salesforce_username,
            password=creds.salesforce_password,
            security_token=creds.salesforce_security_token,
            consumer_key=creds.salesforce_consumer_key,
            consumer_secret=creds.salesforce_consumer_secret,
            refresh_token=creds.salesforce_refresh_token,
            jwt_public_key=jwt_key.public_pem,
        ),
        faults=_injector("salesforce"),
        seed=org if not sf_db.exists() else None,
        daily_api_limit=daily_api_limit,
        set_audit_fields=set_audit_fields,
    )
    hs_app = create_hubspot_app(
        hs_db,
        base_url=hs_url,
        access_token=creds.hubspot_access_token,
        faults=_injector("hubspot"),
        seed=org if not hs_db.exists() else None,
        tier=hubspot_tier,
    )
    del org

    settings = SandboxSettings(
        salesforce_instance_url=sf_url,
        salesforce_login_url=sf_url,
        salesforce_domain=SANDBOX_LOGIN_DOMAIN,
        salesforce_ca_bundle=str(tls.ca_path),
        hubspot_base_url=hs_url,
        credentials=creds,
        salesforce_private_key_file=str(jwt_key.private_key_path),
    )

    common: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "off",
        "timeout_keep_alive": 30,
        # TLS connections a client keeps open would hold a graceful shutdown for the 30 s SSL
        # close timeout; the sandbox has nothing to flush, so stop promptly.
        "timeout_graceful_shutdown": 2,
    }
    servers = [
        _Server(
            uvicorn.Config(
                sf_app,
                ssl_certfile=str(tls.cert_path),
                ssl_keyfile=str(tls.key_path),
                # The app names its headers as Salesforce does (`Date` included): see wire.py.
                # h11 writes header names as given; httptools would lower-case them.
                http="h11",
                server_header=False,
                date_header=False,
                **common,
            )
        ),
        # the app dates each response itself (uvicorn's `date` lags by up to seconds)
        _Server(uvicorn.Config(hs_app, date_header=False, **common)),
    ]

    def stop_all() -> None:
        for server in servers:
            server.should_exit = True

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop_all)
        tasks = [
            asyncio.create_task(servers[0].serve(sockets=[sf_sock])),
            asyncio.create_task(servers[1].serve(sockets=[hs_sock])),
        ]
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.02)
        if all(s.started for s in servers):
            # Written only once both answer, so a reader of settings.json can connect at once.
            settings.write(data_dir)
            if on_ready is not None:
                on_ready(settings)
        await asyncio.gather(*tasks)

    asyncio.run(main())


def _injector(vendor: str) -> FaultInjector:
    if vendor == "salesforce":
        from acm_sync.sandbox.salesforce.app import error_response as sf_error

        return FaultInjector(error_response=sf_error)
    from acm_sync.sandbox.hubspot.messages import error_response as hs_error

    return FaultInjector(error_response=hs_error)


def default_data_dir() -> Path:
    return Path(os.environ.get("ACM_SANDBOX_DIR", ".sandbox")).resolve()
