"""Environment variables set for a block and restored after it (the CLI's doctor, the demo and
the benchmarks hand the sandbox's connection settings to resources that read `dagster.EnvVar`s
from the process environment)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def temporary_environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """`values` in os.environ inside the block (a None value: the key is unset there);
    afterwards each key is back to what it was (removed again if it was not set)."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
