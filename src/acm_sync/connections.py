"""Which connection (org) a Dagster run serves — read from the run's tags.

Every asset is partitioned by connection (the names in `acm_sync.yaml: connections`, or the one
partition `default`); a run is one partition, so one connection. The resources (warehouse,
settings, CRM credentials) resolve their connection here, from the run's tags, when the run
starts. Runs are also tagged `acm_sync/connection=<name>` (schedules, `acm-sync sync`, jobs
launched for a partition), the key the instance's per-connection run-concurrency rule uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

CONNECTION_TAG: Final = "acm_sync/connection"
PARTITION_TAG: Final = "dagster/partition"
_RANGE_TAGS: Final = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


class ConnectionResolutionError(ValueError):
    """A run that does not name exactly one known connection."""


def run_connection(tags: Mapping[str, str], names: Sequence[str]) -> str:
    """The connection a run with these tags serves.

    The partition key names it (or the `acm_sync/connection` tag, for runs of unpartitioned
    assets); a run with neither serves the only connection there is. A run over a range of
    partitions (several orgs in one run) is refused: each org's warehouse has one writer.
    """
    start, end = (tags.get(t) for t in _RANGE_TAGS)
    if start is not None or end is not None:
        if start != end:
            raise ConnectionResolutionError(
                f"a run serves one connection, this one spans {start}…{end}: launch one run "
                "per connection (partition)"
            )
        name: str | None = start
    else:
        name = tags.get(PARTITION_TAG) or tags.get(CONNECTION_TAG)
    if name is None:
        if len(names) == 1:
            return names[0]
        raise ConnectionResolutionError(
            f"this run names no connection; pick one partition ({', '.join(names)})"
        )
    tagged = tags.get(CONNECTION_TAG)
    if tagged is not None and tagged != name:
        raise ConnectionResolutionError(
            f"run tagged {CONNECTION_TAG}={tagged} but launched for partition {name}"
        )
    if name not in names:
        raise ConnectionResolutionError(
            f"no connection {name!r} in acm_sync.yaml (connections: {', '.join(names)})"
        )
    return name
