"""Money in several currencies → the corporate ("home") currency, before anything is added up.

Rates come from `currency.rates` in acm_sync.yaml: units of home currency per one unit of the
key's currency, either one number (valid at every date) or dated rates
(`EUR: {2025-01-01: 1.08, 2025-07-01: 1.10}`), the way Salesforce's DatedConversionRate works:
a rate holds from its date until the next one, and the earliest also covers every date before it.
An amount without a currency is in the home currency (the pull fills the org's / portal's
default). A currency with no rate cannot be converted: `convert` says why, quality quarantines
the record (critical), and totals never count it 1:1.

    rates = Rates(CurrencyConfig(corporate="USD", rates={"EUR": 1.08}))
    rates.convert(100.0, "EUR", date(2025, 3, 1))  → Conversion(108.0, None)
    rates.convert(100.0, "CHF", date(2025, 3, 1))  → Conversion(None, "no CHF→USD rate ...")
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from acm_sync.model import STRING

Rate = Annotated[float, Field(gt=0)]


class CurrencyConfig(BaseModel):
    """The `currency` section of acm_sync.yaml: how amounts in several currencies are added up
    (revenue, pipeline, forecast). Canonical-level: quality and scoring both read it."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    corporate: str = "USD"
    # Units of corporate currency per one unit of the key's currency: one number, or dated
    # rates {date: rate} (each holds from its date on; the earliest also before it). An amount
    # in a currency with no rate cannot be converted: quality holds it back, totals skip it.
    # A single-currency org needs no rates.
    rates: dict[str, Rate | dict[dt.date, Rate]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Conversion:
    amount: float | None  # in the home currency; None when it cannot be converted
    reason: str | None = None  # why not


def _ns(day: Any) -> int:
    """A date / timestamp as UTC nanoseconds (naive values are UTC)."""
    t = pd.Timestamp(day)
    return int((t.tz_convert("UTC").tz_localize(None) if t.tzinfo else t).value)


class Rates:
    """The configured rates, looked up by currency and date (vectorised for frames)."""

    def __init__(self, config: CurrencyConfig | None = None) -> None:
        config = config or CurrencyConfig()
        self.home = config.corporate.upper()
        self._table: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        for code, value in config.rates.items():
            dated = value if isinstance(value, dict) else {dt.date(1970, 1, 1): value}
            days = sorted(dated)
            self._table[code.upper()] = (
                np.array([_ns(d) for d in days], dtype=np.int64),
                np.array([float(dated[d]) for d in days], dtype=np.float64),
            )
        self._table[self.home] = (np.zeros(1, np.int64), np.ones(1))

    def known(self, currency: str) -> bool:
        return currency.upper() in self._table

    def rate(self, currency: str | None, when: Any = None) -> float | None:
        if currency is None or pd.isna(currency):
            return 1.0
        found = self._table.get(str(currency).upper())
        if found is None:
            return None
        days, values = found
        if when is None or pd.isna(when):
            return float(values[-1])
        i = int(np.searchsorted(days, _ns(when), side="right")) - 1
        return float(values[max(i, 0)])

    def convert(self, amount: float, currency: str | None, when: Any = None) -> Conversion:
        rate = self.rate(currency, when)
        if rate is None:
            return Conversion(None, self.problem(str(currency)))
        return Conversion(amount * rate)

    def problem(self, currency: str) -> str:
        return f"no {currency}→{self.home} rate in currency.rates"

    def rates(
        self, currencies: pd.Series, dates: pd.Series | None = None
    ) -> npt.NDArray[np.float64]:
        """The rate of each (currency, date); 1 for no currency, NaN where there is none."""
        codes = currencies.astype(STRING).str.upper()
        out = np.full(len(codes), np.nan)
        out[codes.isna().to_numpy()] = 1.0
        when = None
        if dates is not None:
            stamps = pd.to_datetime(dates, utc=True)
            when = stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64)
            missing = stamps.isna().to_numpy()
        code_values = np.asarray(codes.fillna("").to_numpy(dtype=object))
        for code, (days, values) in self._table.items():
            mine = code_values == code
            if not mine.any():
                continue
            if when is None or len(days) == 1:
                out[mine] = values[-1] if when is None else values[0]
                continue
            i = np.searchsorted(days, when[mine], side="right") - 1
            picked = values[np.clip(i, 0, None)]
            picked[missing[mine]] = values[-1]
            out[mine] = picked
        return out

    def problems(self, currencies: pd.Series) -> pd.Series:
        """Per value: why it cannot be converted (NA where it can)."""
        codes = currencies.astype(STRING).str.upper()
        unknown = codes.notna() & ~codes.isin(list(self._table))
        out = pd.Series(pd.NA, index=currencies.index, dtype=STRING)
        if unknown.any():
            out[unknown] = "no " + codes[unknown] + "→" + self.home + " rate in currency.rates"
        return out
