"""Numbers in Bulk CSV results as Salesforce writes them: Java's `Double.toString`.

Evidence that the Bulk APIs write E-notation from 1e7 up: `sf data export bulk` (Bulk API 2.0
CSV written as received) gives 1.6147805824397E13 for a number field holding 16147805824397
(forcedotcom/cli#3367); Data Loader exports AnnualRevenue as "9.9213206E7", "9.0E7"
(forcedotcom/dataloader#1204) and 80,000,000.00 as 8.0E7 (#161). Java's rule: plain with at least
one decimal when 10^-3 <= |x| < 10^7, else d.dddE<n>, with the shortest round-tripping digits.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acm_sync.sandbox.salesforce.orgfile import java_double_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (16147805824397.0, "1.6147805824397E13"),
        (99213206.0, "9.9213206E7"),
        (90000000.0, "9.0E7"),
        (80000000.0, "8.0E7"),
        (10_000_000.0, "1.0E7"),
        (9_999_999.0, "9999999.0"),
        (948000.0, "948000.0"),
        (123.45, "123.45"),
        (1.0, "1.0"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (0.0, "0.0"),
        (-150000000.0, "-1.5E8"),
        (-0.5, "-0.5"),
        (None, None),
    ],
)
def test_java_double_text_known_values(value: float | None, text: str | None) -> None:
    assert java_double_text(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_java_double_text_reads_back_and_follows_the_rule(x: float) -> None:
    text = java_double_text(x)
    assert text is not None
    assert float(text) == x
    magnitude = abs(x)
    mantissa, _, exponent = text.lstrip("-").partition("E")
    assert "." in mantissa and not mantissa.endswith(".")
    if x != 0 and not 1e-3 <= magnitude < 1e7:
        assert exponent, text
        whole = mantissa.split(".")[0]
        assert len(whole) == 1 and whole != "0"  # d.ddd: with float(text) == x, the exponent
    else:
        assert not exponent, text
