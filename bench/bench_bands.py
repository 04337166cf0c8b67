"""How scoring's time and memory grow with the number of bands of the time-to-close model.

    .venv/bin/python bench/bench_bands.py [N_ACCOUNTS] [--seed 7] [--setting age|size|company]
                                          [--counts 4,8,16,24] [--industry]
                                          [--others size=10,company=10] [--tables PICKLE]

The settings that multiply the model's columns (`acm_sync.scoring.hazard.FeatureSpace`): the
segments (deal size, type, industry, company size) act per age band, so the design has
(age bands) × (size + type + industry + company-size levels) segment columns, and the Newton fit
solves a dense system of twice that size. For each band count the chosen list gets that many
evenly spread edges (age: 730·j/k days; size: 1k … 1M; company size: 10 … 100k employees,
geometric) and a fresh process (so its peak memory is its own) learns the model and scores the
open deals as `bench/bench_scoring.py` does (`learn_win_rates` + `win_probabilities`), timed,
with the design's columns and the peak memory (ru_maxrss, input tables included). The org is
the demo org as the pipeline hands it to scoring, generated once (a child process, pickled).
The config is built with `model_copy`, past the limits the config file enforces, to measure them.
"""

from __future__ import annotations

import argparse
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def edges(setting: str, count: int) -> tuple[float, ...]:
    import numpy as np

    if setting == "age":
        return tuple(float(round(730 * j / count, 3)) for j in range(1, count + 1))
    low, high = (1_000.0, 1_000_000.0) if setting == "size" else (10.0, 100_000.0)
    return tuple(float(x) for x in np.geomspace(low, high, count))


def configured(forecast, setting: str, count: int):  # type: ignore[no-untyped-def]
    """`forecast` with `count` edges in `setting`'s list (model_copy: no limit checked)."""
    given = edges(setting, count)
    if setting == "age":
        hazard = forecast.hazard.model_copy(update={"age_edges": given})
        return forecast.model_copy(update={"hazard": hazard})
    if setting == "size":
        return forecast.model_copy(update={"size_band_edges": given})
    return forecast.model_copy(update={"company_size_edges": given})


def one(
    tables_file: Path, setting: str, count: int, industry: bool, others: dict[str, int]
) -> None:
    """Child process: one band count, one line of figures."""
    from acm_sync.config import AcmSyncConfig, load_config
    from acm_sync.scoring import build_book, learn_win_rates, win_probabilities

    with tables_file.open("rb") as handle:
        loaded = pickle.load(handle)
    tables, now, identity = loaded["tables"], loaded["now"], loaded["identity"]
    config = AcmSyncConfig(currency=load_config(REPO / "acm_sync.yaml").currency)
    forecast = config.forecast
    if industry:
        forecast = forecast.model_copy(update={"segments": (*forecast.segments, "industry")})
    for name, fixed in others.items():
        forecast = configured(forecast, name, fixed)
    forecast = configured(forecast, setting, count)
    _, history = build_book(tables, config, identity)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, cpu = time.perf_counter(), time.process_time()
    rates = learn_win_rates(history, now, forecast)
    learnt = time.perf_counter() - started
    win_probabilities(history, now, forecast, rates)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    model = rates.model
    columns = model.coef.shape[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{setting:<8}{count:>6}{columns:>9,}{learnt:>9.2f}{seconds:>9.2f}{cpu:>8.2f}"
        f"{before:>10,.0f}{peak:>10,.0f}",
        flush=True,
    )


def prepare(accounts: int, seed: int, out: Path) -> None:
    sys.path.insert(0, str(REPO / "tests" / "quality"))
    from quality_demo import pipeline_tables

    from acm_sync.sandbox.generator import generate_org

    org = generate_org(accounts, seed=seed)
    tables, identity = pipeline_tables(org)
    with out.open("wb") as handle:
        payload = {"now": org.now, "tables": tables, "identity": identity}
        pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("accounts", nargs="?", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--setting", choices=("age", "size", "company"), default="age")
    parser.add_argument("--counts", default="4,8,16,24,32,48")
    parser.add_argument("--industry", action="store_true", help="add the industry segment")
    parser.add_argument(
        "--others", default="", help="lists held at a count meanwhile, e.g. size=4,company=4"
    )
    parser.add_argument("--tables", type=Path, help="a pickle bench_scoring.py --prepare-into made")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        others = {k: int(v) for k, v in (p.split("=") for p in args.others.split(",") if p)}
        one(args.tables, args.setting, args.one, args.industry, others)
        return
    with tempfile.TemporaryDirectory() as scratch:
        tables_file = args.tables or Path(scratch) / "canonical.pickle"
        if args.tables is None:
            prepare(args.accounts, args.seed, tables_file)
        print(
            f"{'setting':<8}{'edges':>6}{'columns':>9}{'learn s':>9}{'score s':>9}{'CPU s':>8}"
            f"{'input MB':>10}{'peak MB':>10}"
        )
        for count in (int(c) for c in args.counts.split(",")):
            command = [sys.executable, __file__, "--setting", args.setting, "--one", str(count)]
            command += ["--tables", str(tables_file), "--others", args.others]
            command += ["--industry"] if args.industry else []
            subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
