"""Currency conversion: dated rates from config, the home currency, what cannot be converted."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from acm_sync.config import CurrencyConfig
from acm_sync.currency import Conversion, Rates

CONFIG = CurrencyConfig(
    corporate="USD",
    rates={"EUR": {dt.date(2025, 1, 1): 1.04, dt.date(2025, 7, 1): 1.17}, "GBP": 1.25},
)


@pytest.mark.parametrize(
    ("amount", "currency", "when", "expected"),
    [
        (100.0, "EUR", "2025-03-01", Conversion(104.0)),
        (100.0, "EUR", "2025-07-01", Conversion(117.0)),  # a rate holds from its date on
        (100.0, "EUR", "2025-06-30T23:59:59Z", Conversion(104.0)),
        (100.0, "EUR", "2019-05-05", Conversion(104.0)),  # the earliest covers what is before
        (100.0, "eur", "2026-01-01", Conversion(117.0)),
        (100.0, "GBP", "2010-01-01", Conversion(125.0)),  # undated: every date
        (100.0, "USD", "2025-03-01", Conversion(100.0)),  # the home currency
        (100.0, None, "2025-03-01", Conversion(100.0)),  # no currency: the home currency
        (100.0, "CHF", "2025-03-01", Conversion(None, "no CHF→USD rate in currency.rates")),
    ],
)
def test_convert(amount: float, currency: str | None, when: str, expected: Conversion) -> None:
    got = Rates(CONFIG).convert(amount, currency, pd.Timestamp(when))
    assert got.reason == expected.reason
    assert got.amount == pytest.approx(expected.amount) if expected.amount else got.amount is None


def test_vectorised_rates_match_the_table() -> None:
    currencies = pd.Series(["EUR", "EUR", "GBP", None, "CHF", "USD", "EUR"], dtype="string")
    dates = pd.Series(
        pd.to_datetime(
            ["2024-12-31", "2025-08-01", "2025-08-01", "2025-08-01", "2025-08-01", None, None],
            utc=True,
        )
    )
    rates = Rates(CONFIG).rates(currencies, dates)
    # no date: the latest rate
    np.testing.assert_allclose(rates, [1.04, 1.17, 1.25, 1.0, np.nan, 1.0, 1.17])


def test_problems_name_the_currency_that_cannot_be_converted() -> None:
    out = Rates(CONFIG).problems(pd.Series(["EUR", "chf", None, "USD"], dtype="string"))
    assert out.isna().tolist() == [True, False, True, True]
    assert out.iloc[1] == "no CHF→USD rate in currency.rates"


def test_dated_rates_load_from_yaml_dates() -> None:
    config = CurrencyConfig.model_validate({"rates": {"EUR": {"2025-01-01": 1.1}}})
    assert Rates(config).rate("EUR", "2025-02-01") == pytest.approx(1.1)
    with pytest.raises(ValueError, match="greater than 0"):
        CurrencyConfig.model_validate({"rates": {"EUR": {"2025-01-01": 0}}})
