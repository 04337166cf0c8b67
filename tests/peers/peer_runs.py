"""The peer suite's helpers: connector virtualenvs, runs, their messages, and the live truth.

Each connector is installed from PyPI (pinned) into its own virtualenv under `.peers/` (ignored
by git, kept between runs). A run points the unmodified connector at the sandbox by putting
`hostmap/` on its PYTHONPATH: its `sitecustomize` rewrites only the vendor hosts in `requests`.
The truth the runs are checked against is read from the sandbox through the official clients
(simple-salesforce, hubspot-api-client), and its call log through the admin API.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hubspot
import requests
from simple_salesforce import Salesforce

from acm_sync.sandbox.server import SandboxSettings

REPO = Path(__file__).resolve().parents[2]
PEERS_DIR = REPO / ".peers"
HOSTMAP = Path(__file__).resolve().parent / "hostmap"
PYTHON = "3.11"

# The four connectors, pinned; (package, version, entry point).
CONNECTORS: dict[str, tuple[str, str, str]] = {
    "tap-salesforce": ("tap-salesforce", "2.8.1", "tap-salesforce"),
    "airbyte-source-salesforce": ("airbyte-source-salesforce", "2.10.3", "source-salesforce"),
    "tap-hubspot": ("tap-hubspot", "4.5.0", "tap-hubspot"),
    "airbyte-source-hubspot": ("airbyte-source-hubspot", "5.7.0", "source-hubspot"),
}

SALESFORCE_HOSTS = ("https://login.salesforce.com", "https://test.salesforce.com")
HUBSPOT_HOST = "https://api.hubapi.com"


# The JavaScript clients: tests/peers/node/{package.json, package-lock.json} (exact versions, the
# lock file names no download host), installed with `npm ci` into .peers/node/.
NODE_SOURCES = Path(__file__).resolve().parent / "node"
NODE_MIN_MAJOR = 18  # the pinned packages' `engines` (jsforce 3.10.16, @hubspot/api-client 13.5)


def node_binary() -> tuple[str | None, str]:
    """(path to node, "") or (None, why it cannot be used)."""
    node = shutil.which("node")
    if node is None:
        return None, "Node.js is not on PATH (`make test-peers` installs Debian's nodejs)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        return None, f"cannot read the Node.js version from {node}: {version!r}"
    if major < NODE_MIN_MAJOR:
        return None, f"Node.js {version} at {node} is older than {NODE_MIN_MAJOR}"
    return node, ""


def ensure_node_packages() -> Path:
    """The node_modules of the pinned JavaScript clients, `npm ci`-installed once into
    .peers/node/ (again whenever the lock file changes)."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH (`make test-peers` installs Debian's npm)")
    lock = (NODE_SOURCES / "package-lock.json").read_bytes()
    target = PEERS_DIR / "node"
    marker = target / f".installed-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not marker.exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(NODE_SOURCES / name, target / name)
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target,
            check=True,
        )
        marker.touch()
    return target / "node_modules"


def run_node_peer(
    script: str,
    config: dict[str, Any],
    *,
    workdir: Path,
    admin: Admin,
    extra_env: dict[str, str] | None = None,
    timeout: float = 300,
) -> ScriptRun:
    """Run tests/peers/node/<script> with `config` (a 0600 file, secrets stay off argv)."""
    node, why = node_binary()
    if node is None:
        raise RuntimeError(why)
    modules = ensure_node_packages()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "npm_"))}
    env.update(NODE_PATH=str(modules), **(extra_env or {}))
    return run_json_script(
        [node, str(NODE_SOURCES / script)],
        config,
        workdir / f"{Path(script).stem}.json",
        workdir=workdir,
        env=env,
        admin=admin,
        timeout=timeout,
    )


def _uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    local = REPO / ".tools" / "bin" / "uv"
    if local.exists():
        return str(local)
    raise RuntimeError("uv is needed to build the connectors' virtualenvs (make install)")


def ensure_connector(name: str) -> Path:
    """The connector's entry point, installing it (pinned) into `.peers/<name>` if needed."""
    package, version, entry = CONNECTORS[name]
    return ensure_venv(name, package, version) / "bin" / entry


def ensure_venv(name: str, package: str, version: str, *also: str) -> Path:
    """`.peers/<name>`, a virtualenv with `package==version` (and the pinned requirements in
    `also`, e.g. "duckdb==2.0.1") installed on first use."""
    venv = PEERS_DIR / name
    pins = hashlib.sha256("\n".join(also).encode()).hexdigest()[:8] if also else ""
    marker = venv / f".installed-{package}-{version}{'-' + pins if pins else ''}"
    if not marker.exists():
        uv = _uv()
        PEERS_DIR.mkdir(exist_ok=True)
        subprocess.run(
            [uv, "venv", "--quiet", "--allow-existing", "--python", PYTHON, str(venv)], check=True
        )
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv / "bin" / "python"),
                f"{package}=={version}",
                *also,
            ],
            check=True,
        )
        marker.touch()
    return venv


@dataclass
class Run:
    """One connector invocation: its messages, duration and the sandbox calls it made."""

    messages: list[dict[str, Any]]
    seconds: float
    stdout: str
    stderr: str
    calls: list[dict[str, Any]] = field(default_factory=list)

    def records(self, stream: str) -> list[dict[str, Any]]:
        out = []
        for m in self.messages:
            if m.get("type") != "RECORD":
                continue
            if "record" in m and isinstance(m["record"], dict) and "stream" in m["record"]:
                if m["record"]["stream"] == stream:  # Airbyte
                    out.append(m["record"]["data"])
            elif m.get("stream") == stream:  # Singer
                out.append(m["record"])
        return out

    def failed_calls(self) -> list[dict[str, Any]]:
        """4xx / 5xx answers, except a 429 whose request the connector later retried with
        success: the sandbox enforces the vendor's rate limits, and backing off is the
        connector doing its job."""
        failed = []
        for i, c in enumerate(self.calls):
            if c["status"] < 400:
                continue
            if c["status"] == 429 and any(
                later["status"] < 400
                and (later["method"], later["path"], later["query"])
                == (c["method"], c["path"], c["query"])
                for later in self.calls[i + 1 :]
            ):
                continue
            failed.append(c)
        return failed

    def rate_limited(self) -> int:
        return sum(1 for c in self.calls if c["status"] == 429)


def peer_env(settings: SandboxSettings, *, hubspot: bool = True) -> dict[str, str]:
    """The environment a Python peer runs in: this one without its virtualenv, Python and CRM
    settings, and the vendor hosts (Salesforce's login hosts; HubSpot's API host unless
    `hubspot` is off) rewritten to the sandbox, whose CA is trusted (hostmap/sitecustomize.py)."""
    host_map = {h: settings.salesforce_instance_url for h in SALESFORCE_HOSTS}
    if hubspot:
        host_map[HUBSPOT_HOST] = settings.hubspot_base_url
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIRTUAL_ENV", "PYTHON", "SALESFORCE_", "HUBSPOT_"))
    }
    env.update(
        PYTHONPATH=str(HOSTMAP),
        PEER_HOST_MAP=json.dumps(host_map),
        PEER_CA_BUNDLE=settings.salesforce_ca_bundle,
    )
    return env


def _timed_run(
    argv: list[str], workdir: Path, env: dict[str, str], admin: Admin, timeout: float
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `argv` in `workdir` with the sandbox's call log reset first: (its result, seconds)."""
    admin.reset_calls()
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )
    return done, time.perf_counter() - started


def run_connector(
    entry: Path,
    args: list[str],
    *,
    settings: SandboxSettings,
    workdir: Path,
    admin: Admin,
    timeout: float = 300,
) -> Run:
    """Run the connector against the sandbox (only the vendor hosts rewritten)."""
    env = peer_env(settings)
    env["PATH"] = f"{entry.parent}{os.pathsep}{env.get('PATH', '')}"
    workdir.mkdir(parents=True, exist_ok=True)
    done, seconds = _timed_run([str(entry), *args], workdir, env, admin, timeout)
    messages = []
    for line in done.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                messages.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    run = Run(messages, seconds, done.stdout, done.stderr, admin.calls()["calls"])
    if done.returncode != 0:
        errors = [m for m in messages if m.get("type") == "TRACE"][-3:]
        raise AssertionError(
            f"{entry.name} {' '.join(args[:1])} exited {done.returncode}:\n"
            f"{done.stderr[-4000:]}\n{json.dumps(errors)[-3000:]}"
        )
    return run


class Admin:
    """The sandbox's call log (admin API, outside the vendor paths)."""

    def __init__(self, base_url: str, verify: str | bool = True) -> None:
        self.base = base_url.rstrip("/") + "/__sandbox__"
        self.http = requests.Session()
        self.http.trust_env = False
        self.verify = verify

    def calls(self) -> dict[str, Any]:
        response = self.http.get(f"{self.base}/calls", verify=self.verify)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def reset_calls(self) -> None:
        self.http.delete(f"{self.base}/calls", verify=self.verify).raise_for_status()


# -- the live truth, through the official clients ------------------------------------------------


def salesforce_client(settings: SandboxSettings) -> Salesforce:
    """simple-salesforce with a session from the sandbox's OAuth refresh-token grant."""
    http = requests.Session()
    http.trust_env = False
    http.verify = settings.salesforce_ca_bundle
    creds = settings.credentials
    token = http.post(
        f"{settings.salesforce_instance_url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": creds.salesforce_consumer_key,
            "client_secret": creds.salesforce_consumer_secret,
            "refresh_token": creds.salesforce_refresh_token,
        },
    )
    token.raise_for_status()
    body = token.json()
    return Salesforce(
        instance_url=body["instance_url"], session_id=body["access_token"], session=http
    )


def salesforce_ids(sf: Salesforce, sobject: str) -> set[str]:
    return {r["Id"] for r in sf.query_all(f"SELECT Id FROM {sobject}")["records"]}


def hubspot_client(settings: SandboxSettings) -> hubspot.HubSpot:
    return hubspot.HubSpot(
        access_token=settings.credentials.hubspot_access_token,
        host=settings.hubspot_base_url,
        client_side_validation=True,
    )


def hubspot_ids(hs: hubspot.HubSpot, object_type: str) -> set[str]:
    api = getattr(hs.crm, object_type).basic_api
    ids: set[str] = set()
    after = None
    while True:
        page = api.get_page(limit=100, after=after)
        ids.update(r.id for r in page.results)
        if page.paging is None or page.paging.next is None:
            return ids
        after = page.paging.next.after


def describe_calls(calls: list[dict[str, Any]]) -> Counter[str]:
    return Counter(f"{c['method']} {c['path']} {c['status']}" for c in calls)


FIGURES: list[dict[str, Any]] = []


def record_figures(connector: str, phase: str, run: Run, records: int) -> None:
    FIGURES.append(
        {
            "connector": connector,
            "phase": phase,
            "records": records,
            "seconds": round(run.seconds, 1),
            "requests": len(run.calls),
            "429s": run.rate_limited(),
        }
    )


def record_node_figures(client: str, run: ScriptRun, records: int) -> None:
    FIGURES.append(
        {
            "connector": client,
            "phase": "node",
            "records": records,
            "seconds": round(run.seconds, 1),
            "requests": len(run.calls),
            "429s": sum(1 for c in run.calls if c["status"] == 429),
        }
    )


@dataclass
class ScriptRun:
    """One run of a driver script (ours, in a peer's virtualenv or Node) that prints its steps
    as one JSON line ({name: {"result"...} | {"error"...}}): the steps, the seconds it took, its
    stderr and the sandbox calls it made."""

    steps: dict[str, dict[str, Any]]
    seconds: float
    stderr: str
    calls: list[dict[str, Any]] = field(default_factory=list)

    def result(self, name: str) -> Any:
        step = self.steps.get(name)
        assert step is not None, f"step {name} did not run; steps: {sorted(self.steps)}"
        assert "error" not in step, f"{name}: {step['error']}\n{step.get('stack', '')}"
        return step["result"]

    def errors(self) -> dict[str, str]:
        return {k: v["error"] for k, v in self.steps.items() if "error" in v}


def run_json_script(
    command: list[str],
    config: dict[str, Any],
    config_path: Path,
    *,
    workdir: Path,
    env: dict[str, str],
    admin: Admin,
    timeout: float,
) -> ScriptRun:
    """Run `command` (an interpreter and the script) on `config`, written to `config_path` as
    a 0600 file (secrets stay off argv and out of the log), and read the last JSON line it
    prints; the sandbox's call log is reset first."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path.touch(mode=0o600)
    config_path.write_text(json.dumps(config))
    done, seconds = _timed_run([*command, str(config_path)], workdir, env, admin, timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise AssertionError(
            f"{Path(command[-1]).name} exited {done.returncode}:\n{done.stderr[-4000:]}\n"
            f"{done.stdout[-2000:]}"
        )
    steps = json.loads(lines[-1])["steps"]
    return ScriptRun(steps, seconds, done.stderr, admin.calls()["calls"])
