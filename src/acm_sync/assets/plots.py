"""Plots people would rather look at than read, for the scoring assets' metadata: PNGs rendered
headless (matplotlib's Agg backend, no display), shown in the Dagster UI as markdown images and
written beside the warehouse (`<warehouse dir>/plots/`) for a browser or a report.

They read the score snapshots as they are (no scoring logic here):
- health-score histogram, coloured by band;
- tier Pareto curve: share of T12M won revenue vs share of paying accounts, Key marked;
- forecast vs actual by quarter, from the backtest origins.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BAND_COLOURS = {"Red": "#d1242f", "Yellow": "#d4a72c", "Green": "#2da44e"}


def _pyplot() -> ModuleType:
    """matplotlib's pyplot, imported on the first plot: a second or more of imports that
    every process loading the code location (each run, the webserver, the daemon) would pay."""
    import matplotlib

    matplotlib.use("Agg")  # headless: never a display, in a daemon, CI or a container
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def health_histogram(scores: pd.DataFrame, green_min: float, yellow_min: float) -> bytes:
    """Accounts per health score (bins of 5), each bin coloured by the band it falls in."""
    values = pd.to_numeric(scores["health_score"], errors="coerce").dropna().to_numpy()
    fig, ax = _pyplot().subplots(figsize=(6, 3))
    edges = np.arange(0, 105, 5)
    counts, _ = np.histogram(values, bins=edges)
    colours = [
        BAND_COLOURS["Green"]
        if left >= green_min
        else BAND_COLOURS["Yellow"]
        if left >= yellow_min
        else BAND_COLOURS["Red"]
        for left in edges[:-1]
    ]
    ax.bar(edges[:-1], counts, width=5, align="edge", color=colours, edgecolor="white")
    ax.set_xlabel("health score")
    ax.set_ylabel("accounts")
    ax.set_title(f"Health of {len(values):,} accounts")
    ax.set_xlim(0, 100)
    return _png(fig)


def tier_pareto(scores: pd.DataFrame) -> bytes:
    """Cumulative share of T12M won revenue against the share of paying accounts (largest
    first); the Key accounts' part marked."""
    paying = scores[pd.to_numeric(scores["t12m_won_revenue"], errors="coerce").fillna(0) > 0]
    revenue = pd.to_numeric(paying["t12m_won_revenue"], errors="coerce").fillna(0.0)
    order = revenue.sort_values(ascending=False).index
    fig, ax = _pyplot().subplots(figsize=(6, 3))
    if len(order):
        cum = revenue.loc[order].cumsum() / revenue.sum()
        share = np.arange(1, len(order) + 1) / len(order)
        ax.plot(np.r_[0, share], np.r_[0, cum.to_numpy()], color="#0969da")
        key = (paying.loc[order, "tier"] == "Key").to_numpy()
        if key.any():
            ax.scatter(share[key], cum.to_numpy()[key], s=8, color="#8250df", label="Key")
            ax.legend(loc="lower right")
    ax.plot([0, 1], [0, 1], color="#999", linestyle=":", linewidth=1)
    ax.set_xlabel("share of paying accounts (largest first)")
    ax.set_ylabel("share of T12M won revenue")
    ax.set_title(f"Tier Pareto: {len(order):,} paying accounts")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    return _png(fig)


def forecast_vs_actual(origins: pd.DataFrame) -> bytes:
    """Per backtest quarter: what closed, the total forecast (open pipeline + run-rate) and the
    stage-default baseline."""
    fig, ax = _pyplot().subplots(figsize=(6, 3))
    if len(origins):
        labels = [pd.Timestamp(o).strftime("%Y-%m") for o in origins["origin"]]
        x = np.arange(len(labels))
        for offset, column, colour in (
            (-0.27, "actual_total", "#1f2328"),
            (0.0, "forecast_total", "#0969da"),
            (0.27, "baseline_total", "#afb8c1"),
        ):
            values = pd.to_numeric(origins[column], errors="coerce").fillna(0) / 1e6
            ax.bar(x + offset, values, width=0.27, color=colour, label=column.replace("_", " "))
        ax.set_xticks(x, labels)
        ax.legend(fontsize=8)
    ax.set_xlabel("quarter starting")
    ax.set_ylabel("bookings (millions)")
    ax.set_title("Forecast vs actual (backtest)")
    return _png(fig)


def markdown_image(png: bytes, alt: str) -> str:
    """A PNG as a markdown image the Dagster UI shows inline (a data URI)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def save(png: bytes, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(png)
    return path
