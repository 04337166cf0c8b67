"""Fixtures for quality tests: a generated dirty org as canonical tables, validated once."""

from __future__ import annotations

import pytest
from quality_demo import SUITES, Demo, build_demo

from acm_sync.quality.validate import QualityRun, validate_tables

DEMO_ACCOUNTS = 1200
DEMO_SEED = 31


@pytest.fixture(scope="session")
def demo() -> Demo:
    return build_demo(DEMO_ACCOUNTS, DEMO_SEED)


@pytest.fixture(scope="session")
def demo_run(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> QualityRun:
    docs = tmp_path_factory.mktemp("data_docs")
    return validate_tables(demo.tables, SUITES, demo.context, run_id="demo", docs_dir=docs)
