"""The Salesforce session cache: one login shared by the steps of a run (threads or processes)
and by the runs after it, owner-only files, one re-login when the org refuses the session."""

from __future__ import annotations

import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest
from crm_helpers import Admin, sf_resource

from acm_sync.connectors.sessions import SessionCache, credentials_key
from acm_sync.sandbox.server import SandboxSettings

SOAP_LOGIN = "POST /services/Soap/u/59.0"


class Logins:
    """A stand-in for the login call: counts and numbers the sessions it hands out."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> tuple[str, str]:
        self.count += 1
        return f"00D!token-{self.count}", "example.my.salesforce.com"


def test_the_second_step_reuses_the_first_steps_login(tmp_path: Path) -> None:
    login = Logins()
    key = credentials_key(["password", "https://login.salesforce.com", "u", "p", "t"])
    first = SessionCache(tmp_path / "s").session(key, login)
    second = SessionCache(tmp_path / "s").session(key, login)  # another step, another object
    assert login.count == 1 and second == first
    other = credentials_key(["password", "https://login.salesforce.com", "u", "p2", "t"])
    assert SessionCache(tmp_path / "s").session(other, login).session_id == "00D!token-2"


def test_files_are_owner_only_and_never_name_or_show_the_secrets(tmp_path: Path) -> None:
    login = Logins()
    key = credentials_key(["password", "host", "user@example.com", "hunter2-secret", "tok"])
    cached = SessionCache(tmp_path / "s").session(key, login)
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o700
    files = [p for p in (tmp_path / "s").iterdir() if p.suffix == ".json"]
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert "hunter2" not in files[0].name and "user@" not in files[0].name
    assert "hunter2" not in files[0].read_text()
    assert "token" not in repr(cached) and "hidden" in repr(cached)


def test_a_directory_others_can_read_is_not_used(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    login = Logins()
    for _ in range(2):
        SessionCache(shared).session("k", login)
    assert login.count == 2 and not list(shared.glob("*.json"))


def test_a_session_idle_past_the_timeout_is_not_reused(tmp_path: Path) -> None:
    login = Logins()
    SessionCache(tmp_path, max_idle=60).session("k", login)
    later = SessionCache(tmp_path, max_idle=60, clock=lambda: time.time() + 61)
    assert later.session("k", login).session_id == "00D!token-2" and login.count == 2
    soon = SessionCache(tmp_path, max_idle=60, clock=lambda: time.time() + 30)
    assert soon.session("k", login).session_id == "00D!token-2" and login.count == 2


def test_a_refused_session_is_replaced_once_or_by_a_newer_one(tmp_path: Path) -> None:
    login = Logins()
    cache = SessionCache(tmp_path)
    first = cache.session("k", login)
    renewed = cache.replace("k", first.session_id, login)  # refused: one new login
    assert renewed.session_id == "00D!token-2" and login.count == 2
    # Another step still holding the first session is refused too: it takes the renewed one.
    assert cache.replace("k", first.session_id, login) == renewed and login.count == 2
    assert cache.session("k", login) == renewed


def _step(directory: str, counter: str, out: str) -> None:
    def login() -> tuple[str, str]:
        with open(counter, "a") as f:
            f.write("x")
        time.sleep(0.3)  # a slow login: the others arrive while it runs
        return f"00D!{os.getpid()}", "example.my.salesforce.com"

    session = SessionCache(Path(directory)).session("k", login)
    Path(out).write_text(session.session_id)


def test_steps_starting_together_in_several_processes_log_in_once(tmp_path: Path) -> None:
    counter = tmp_path / "logins"
    ctx = multiprocessing.get_context("fork")  # (spawn re-imports everything: slow on a busy box)
    procs = [
        ctx.Process(target=_step, args=(str(tmp_path / "s"), str(counter), str(tmp_path / f"{i}")))
        for i in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert counter.read_text() == "x"
    assert len({(tmp_path / f"{i}").read_text() for i in range(4)}) == 1


@pytest.fixture()
def env(crm: SandboxSettings) -> dict[str, str]:
    return crm.env()


def test_connect_logs_in_once_across_clients_and_once_more_after_expiry(
    env: dict[str, str], sf_adm: Admin, tmp_path: Path
) -> None:
    resource = sf_resource(env).model_copy(update={"session_cache_dir": str(tmp_path / "s")})
    sf_adm.reset_calls()
    first, second = resource.connect(), resource.connect()
    assert first.limits() and second.limits()
    assert sf_adm.calls()["by_route"].get(SOAP_LOGIN) == 1

    sf_adm.hook("expire_sessions")
    sf_adm.reset_calls()
    assert first.limits()  # 401 INVALID_SESSION_ID → one login → the call again
    assert second.limits()  # refused too: takes the session the first one renewed
    assert resource.connect().limits()  # the next step: no login
    routes = sf_adm.calls()["by_route"]
    assert routes.get(SOAP_LOGIN) == 1
    assert routes["GET /services/data/v59.0/limits/"] == 5  # 3 answered + 2 refused (401)

    fresh = resource.model_copy(update={"session_reuse": False})
    sf_adm.reset_calls()
    fresh.connect(), fresh.connect()
    assert sf_adm.calls()["by_route"].get(SOAP_LOGIN) == 2
