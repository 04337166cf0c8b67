"""The fault injector on its own: a tiny app behind it, served by uvicorn, hit with requests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from acm_sync.sandbox.faults import FaultInjector


def _error(status: int, message: str, retry_after: float | None) -> Response:
    return JSONResponse([{"message": message, "errorCode": "SERVER_UNAVAILABLE"}], status)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, FaultInjector]]:
    injector = FaultInjector(error_response=_error)

    async def records(request: Request) -> Response:
        return JSONResponse({"records": [{"n": i, "pad": "x" * 50} for i in range(200)]})

    async def write(request: Request) -> Response:
        ids = (await request.json())["ids"]
        out = []
        for record_id in ids:
            rejected = injector.take_rejection("Account", record_id)
            out.append(
                {
                    "id": record_id,
                    "success": rejected is None,
                    "errors": [] if rejected is None else [{"statusCode": rejected[0]}],
                }
            )
        return JSONResponse(out)

    app = Starlette(
        routes=[
            Route("/records", records),
            Route("/write", write, methods=["POST"]),
            *injector.admin_routes(),
        ]
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(injector.wrap(app), log_level="critical", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", injector
    server.should_exit = True
    thread.join(5)


@pytest.fixture()
def url(served: tuple[str, FaultInjector]) -> Iterator[str]:
    base, injector = served
    injector.disarm()
    injector.reset_calls()
    yield base


def test_status_fault_with_retry_after_applies_times_then_stops(url: str) -> None:
    requests.post(
        f"{url}/__sandbox__/faults",
        json={
            "kind": "status",
            "status": 429,
            "retry_after": 1.5,
            "path": "^/records$",
            "times": 2,
        },
    ).raise_for_status()
    first, second, third = (requests.get(f"{url}/records") for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
    assert first.headers["Retry-After"] == "2"
    assert first.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert len(third.json()["records"]) == 200


def test_skip_lets_requests_through_first(url: str) -> None:
    requests.post(
        f"{url}/__sandbox__/faults", json={"kind": "status", "status": 503, "skip": 1}
    ).raise_for_status()
    assert requests.get(f"{url}/records").status_code == 200
    assert requests.get(f"{url}/records").status_code == 503
    assert requests.get(f"{url}/records").status_code == 200


def test_drop_cuts_the_connection_mid_body(url: str) -> None:
    requests.post(
        f"{url}/__sandbox__/faults", json={"kind": "drop", "path": "/records"}
    ).raise_for_status()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{url}/records")
    assert requests.get(f"{url}/records").status_code == 200


def test_latency(url: str) -> None:
    requests.post(
        f"{url}/__sandbox__/faults", json={"kind": "latency", "latency_ms": 300}
    ).raise_for_status()
    started = time.perf_counter()
    assert requests.get(f"{url}/records").status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_reject_named_records_once(url: str) -> None:
    requests.post(
        f"{url}/__sandbox__/faults",
        json={
            "kind": "reject",
            "object": "Account",
            "record_ids": ["b"],
            "error_code": "UNABLE_TO_LOCK_ROW",
        },
    ).raise_for_status()
    first = requests.post(f"{url}/write", json={"ids": ["a", "b", "c"]}).json()
    assert [r["success"] for r in first] == [True, False, True]
    assert first[1]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    again = requests.post(f"{url}/write", json={"ids": ["b"]}).json()
    assert again[0]["success"] is True


def test_calls_are_counted_but_not_admin_calls(url: str) -> None:
    for _ in range(3):
        requests.get(f"{url}/records")
    calls = requests.get(f"{url}/__sandbox__/calls").json()
    assert calls["total"] == 3
    assert calls["by_route"] == {"GET /records": 3}
    assert {c["status"] for c in calls["calls"]} == {200}


def test_bad_rule_is_refused_with_a_reason(url: str) -> None:
    response = requests.post(f"{url}/__sandbox__/faults", json={"kind": "explode"})
    assert response.status_code == 400
    assert "kind" in response.json()["error"]
    bad_regex = requests.post(f"{url}/__sandbox__/faults", json={"kind": "status", "path": "("})
    assert bad_regex.status_code == 400


def test_hooks_run_and_unknown_hooks_are_named(url: str, served: tuple[str, FaultInjector]) -> None:
    ran = []
    served[1].on("expire_sessions", lambda: ran.append(1))
    assert requests.post(f"{url}/__sandbox__/hooks/expire_sessions").status_code == 200
    assert ran == [1]
    missing = requests.post(f"{url}/__sandbox__/hooks/nope")
    assert missing.status_code == 404 and "expire_sessions" in missing.json()["error"]
