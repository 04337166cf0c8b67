"""The request policy: classification, Retry-After, budget and pacing (no network)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import urllib3
from hypothesis import example, given
from hypothesis import strategies as st

from acm_sync.connectors.common import mask, scrub
from acm_sync.connectors.policy import (
    AmbiguousWrite,
    ApiBudget,
    Attempt,
    BudgetExhausted,
    Outcome,
    RequestPolicy,
    RetriesExhausted,
    RollingWindow,
    classify_hubspot,
    classify_salesforce,
    never_sent,
    parse_retry_after,
    retry_pause,
)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, b"", Outcome.OK),
        (429, b"[]", Outcome.RETRY),
        (503, b"", Outcome.RETRY),
        (502, b"", Outcome.RETRY),
        (400, b'[{"errorCode": "MALFORMED_QUERY"}]', Outcome.FATAL),
        (401, b'[{"errorCode": "INVALID_SESSION_ID"}]', Outcome.FATAL),  # the client re-logs in
        (403, b'[{"errorCode": "REQUEST_LIMIT_EXCEEDED"}]', Outcome.EXHAUSTED),
        (500, b"<soapenv:Fault><faultcode>INVALID_LOGIN</faultcode>", Outcome.FATAL),
        (500, b"[]", Outcome.RETRY),
    ],
)
def test_salesforce_classification(status: int, body: bytes, outcome: Outcome) -> None:
    assert classify_salesforce(status, {}, body).outcome is outcome


def test_hubspot_tells_the_daily_limit_from_the_ten_second_window() -> None:
    secondly = b'{"policyName": "TEN_SECONDLY_ROLLING", "errorType": "RATE_LIMIT"}'
    daily = b'{"policyName": "DAILY", "errorType": "RATE_LIMIT"}'
    assert classify_hubspot(429, {"Retry-After": "1"}, secondly).outcome is Outcome.RETRY
    assert classify_hubspot(429, {"Retry-After": "1"}, secondly).wait == 1.0
    assert classify_hubspot(429, {}, daily).outcome is Outcome.EXHAUSTED
    left = {"X-HubSpot-RateLimit-Daily-Remaining": "0"}
    assert classify_hubspot(429, left, b"{}").outcome is Outcome.EXHAUSTED


def _policy(budget: ApiBudget, sleeps: list[float], **kw: object) -> RequestPolicy[Attempt]:
    return RequestPolicy(
        "test",
        classify_salesforce,
        budget,
        sleep=sleeps.append,
        backoff=0.5,
        **kw,  # type: ignore[arg-type]
    )


def _script(*answers: Attempt | BaseException) -> Callable[[], Attempt]:
    queue = list(answers)

    def attempt() -> Attempt:
        answer = queue.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    return attempt


def test_retries_honour_retry_after_then_back_off_exponentially() -> None:
    sleeps: list[float] = []
    budget = ApiBudget("test")
    policy = _policy(budget, sleeps)
    answer = policy.send(
        "/x",
        _script(
            Attempt(429, {"Retry-After": "2"}, b""),
            ConnectionError("reset"),
            Attempt(503, {}, b""),
            Attempt(200, {}, b""),
        ),
        lambda a: a,
        (ConnectionError,),
    )
    assert answer.status == 200
    # Retry-After (+ up to 10 %), then 0.5 * 2^1 and 0.5 * 2^2, each jittered down to half
    assert 2.0 <= sleeps[0] <= 2.2 and 0.5 <= sleeps[1] <= 1.0 and 1.0 <= sleeps[2] <= 2.0
    assert budget.used == 4  # every attempt is a call
    assert policy.retries == 3


def test_a_fatal_answer_is_returned_for_the_client_to_raise() -> None:
    policy = _policy(ApiBudget("test"), [])
    answer = policy.send("/x", _script(Attempt(404, {}, b"")), lambda a: a, ())
    assert answer.status == 404


def test_transient_failures_that_outlast_the_policy_raise() -> None:
    policy = _policy(ApiBudget("test"), [], max_attempts=2)
    with pytest.raises(RetriesExhausted, match="failed 2 times"):
        policy.send(
            "/x",
            _script(ConnectionError("a"), ConnectionError("b")),
            lambda a: a,
            (ConnectionError,),
        )


def test_the_budget_stops_before_a_call_would_exceed_it() -> None:
    budget = ApiBudget("test", max_calls=2)
    policy = _policy(budget, [])
    ok = Attempt(200, {}, b"")
    policy.send("/x", _script(ok), lambda a: a, ())
    policy.send("/x", _script(ok), lambda a: a, ())
    with pytest.raises(BudgetExhausted, match="run cap of 2"):
        policy.send("/x", _script(ok), lambda a: a, ())
    assert budget.used == 2 and budget.left == 0


def test_the_vendor_allocation_and_reserve_bound_the_budget() -> None:
    budget = ApiBudget("test", reserve=10)
    budget.observe(remaining=12, limit=100)
    budget.acquire()
    budget.acquire()
    with pytest.raises(BudgetExhausted, match="10 kept in reserve"):
        budget.acquire()


def test_daily_exhaustion_from_the_vendor_stops_cleanly() -> None:
    policy = _policy(ApiBudget("test"), [])
    with pytest.raises(BudgetExhausted, match="daily API request limit"):
        policy.send("/x", _script(Attempt(403, {}, b"REQUEST_LIMIT_EXCEEDED")), lambda a: a, ())


def test_an_overlong_retry_after_stops_the_run_instead_of_sleeping() -> None:
    policy = _policy(ApiBudget("test"), [], max_wait=5.0)
    with pytest.raises(BudgetExhausted, match="asked to wait 3600s"):
        policy.send("/x", _script(Attempt(429, {"Retry-After": "3600"}, b"")), lambda a: a, ())


def test_rolling_window_paces_to_the_limit() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    window = RollingWindow(3, 10.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        window.acquire()
    assert slept == []
    window.acquire()  # the fourth waits for the first to leave the window
    assert slept and 9.9 < slept[0] <= 10.01
    window.observe(limit=3, remaining=0)  # another client spent the window
    window.acquire()
    assert len(slept) == 2


def test_secrets_are_masked_in_messages() -> None:
    token = "pat-na1-0123456789abcdef"
    # Not one character of the secret: only that it is set, and its length.
    assert mask(token) == f"<hidden, {len(token)} characters>"
    assert token not in scrub(f"bad token {token}!", [token, None])
    assert mask("") == "<empty>" and mask("abc") == "<hidden, 3 characters>"


# -- writes: a lost answer is ambiguous, never resent -----------------------------------------


def _lost_answer() -> BaseException:
    return urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead(10 bytes read)")


def _never_connected() -> BaseException:
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    # requests wraps it twice: ConnectionError(MaxRetryError(reason=NewConnectionError))
    return ConnectionError(urllib3.exceptions.MaxRetryError(None, "/x", refused))  # type: ignore[arg-type]


def test_never_sent_tells_a_refused_connection_from_a_lost_answer() -> None:
    assert never_sent(_never_connected())
    assert never_sent(urllib3.exceptions.ConnectTimeoutError("connect timed out"))
    assert not never_sent(_lost_answer())
    assert not never_sent(urllib3.exceptions.ReadTimeoutError(None, "/x", "read timed out"))  # type: ignore[arg-type]


@pytest.mark.parametrize("failure", [_lost_answer(), Attempt(502, {}, b""), Attempt(504, {}, b"")])
def test_a_write_whose_answer_is_lost_is_not_resent(failure: Attempt | BaseException) -> None:
    budget, journal = ApiBudget("test"), []
    policy = _policy(budget, [])
    attempt = _script(failure, Attempt(200, {}, b""))
    with pytest.raises(AmbiguousWrite), policy.writing(journal=lambda: journal.append("sent")):
        policy.send("/batch/update", attempt, lambda a: a, (urllib3.exceptions.ProtocolError,))
    assert budget.used == 1 and journal == ["sent"]
    # Outside a write, the same failure is retried as usual.
    answer = policy.send(
        "/query",
        _script(failure, Attempt(200, {}, b"")),
        lambda a: a,
        (urllib3.exceptions.ProtocolError,),
    )
    assert answer.status == 200


def test_a_write_that_never_left_or_was_refused_is_retried_and_journaled_once() -> None:
    budget, journal, sleeps = ApiBudget("test"), [], []
    policy = _policy(budget, sleeps)
    attempt = _script(_never_connected(), Attempt(503, {}, b""), Attempt(200, {}, b""))
    with policy.writing(journal=lambda: journal.append("sent")):
        answer = policy.send("/batch/update", attempt, lambda a: a, (ConnectionError,))
    assert answer.status == 200 and budget.used == 3
    assert journal == ["sent"]  # before the first request went out, once


def test_a_write_the_budget_refused_is_never_journaled() -> None:
    budget, journal = ApiBudget("test", max_calls=0), []
    policy = _policy(budget, [])
    with pytest.raises(BudgetExhausted), policy.writing(journal=lambda: journal.append("sent")):
        policy.send("/batch/update", _script(Attempt(200, {}, b"")), lambda a: a, ())
    assert journal == []


class _Top(random.Random):
    """A random source that always draws the top of the range."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_the_jitter_comes_from_the_policys_random_source() -> None:
    for rng, want in [(_Top(), [2.2, 1.0, 2.0]), (random.Random(7), None)]:
        sleeps: list[float] = []
        policy = _policy(ApiBudget("test"), sleeps, rng=rng)
        policy.send(
            "/x",
            _script(
                Attempt(429, {"Retry-After": "2"}, b""),
                Attempt(503, {}, b""),
                Attempt(503, {}, b""),
                Attempt(200, {}, b""),
            ),
            lambda a: a,
            (ConnectionError,),
        )
        if want is not None:
            assert sleeps == pytest.approx(want)
        else:  # seeded: the same waits every time
            replay = random.Random(7)
            again = [
                retry_pause(1, 2.0, backoff=0.5, max_wait=60.0, rng=replay),
                retry_pause(2, None, backoff=0.5, max_wait=60.0, rng=replay),
                retry_pause(3, None, backoff=0.5, max_wait=60.0, rng=replay),
            ]
            assert sleeps == again


@example(tries=62, retry_after=None, backoff=3.989156427821692e-26, max_wait=1.0, seed=0)
@given(
    tries=st.integers(1, 100),
    retry_after=st.none() | st.floats(0, 3600),
    backoff=st.floats(0, 30),
    max_wait=st.floats(0, 600),
    seed=st.integers(0, 2**32),
)
def test_waits_stay_in_bounds_and_honour_retry_after(
    tries: int, retry_after: float | None, backoff: float, max_wait: float, seed: int
) -> None:
    pause = retry_pause(
        tries, retry_after, backoff=backoff, max_wait=max_wait, rng=random.Random(seed)
    )
    if retry_after is not None:
        assert retry_after <= pause <= retry_after * 1.1 + 1e-9
    else:
        step = min(max_wait, backoff * 2 ** min(tries - 1, 60))  # the doubling stops at 2^60
        assert step / 2 - 1e-9 <= pause <= step + 1e-9
        assert pause <= max_wait + 1e-9


def test_many_clients_told_the_same_retry_after_come_back_spread_out() -> None:
    rng = random.Random(3)
    pauses = [retry_pause(1, 10.0, backoff=0.5, max_wait=60, rng=rng) for _ in range(50)]
    assert min(pauses) >= 10.0 and max(pauses) <= 11.0
    assert len({round(p, 3) for p in pauses}) > 40
