"""What every pull does around its own reading: where it starts (resumed, or a full pull from
the beginning of time), how it stops on a spent API budget, and the tally it hands back.

Each CRM's pull (`salesforce_pull._Pull`, `hubspot_pull._Pull`) subclasses `PullRun`: it
works out what to read from its settings in `_prepare()` and reads in `_run()`; the CRM's
paging, commits and counting stay in its own module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Generic, Protocol, TypeVar

import pandas as pd

from acm_sync.connectors.common import PullResult
from acm_sync.connectors.policy import BudgetExhausted
from acm_sync.connectors.progress import Progress
from acm_sync.warehouse import SyncState, Warehouse


class CountingClient(Protocol):
    """What a pull's tally reads of a CRM client."""

    @property
    def calls(self) -> int: ...

    @property
    def retries(self) -> int: ...


class CrmObject(Protocol):
    """What a pull reads of its object's spec (`SfObject`, `HsObject`)."""

    @property
    def name(self) -> str: ...  # the CRM's object name

    @property
    def table(self) -> str: ...  # the canonical table


ClientT = TypeVar("ClientT", bound=CountingClient)
SettingsT = TypeVar("SettingsT")
SpecT = TypeVar("SpecT", bound=CrmObject)


class PullRun(Generic[ClientT, SettingsT, SpecT]):
    """The state of one pull while it runs (see the module doc)."""

    source: ClassVar[str]  # "salesforce" | "hubspot"

    def __init__(
        self,
        client: ClientT,
        wh: Warehouse,
        settings: SettingsT,
        spec: SpecT,
        *,
        full_refresh: bool,
        run_id: str,
        owned: Sequence[str] = (),
        progress: Progress | None = None,
    ) -> None:
        obj, table = spec.name, spec.table
        self.client, self.wh, self.settings, self.spec = client, wh, settings, spec
        self.progress = progress or Progress(f"{self.source} {obj}")
        self.run_id = run_id
        self.result = PullResult(self.source, obj, table)
        self.calls_before = client.calls
        self.state = wh.state(self.source, obj)
        self.previews: list[pd.DataFrame] = []
        if (full_refresh or self.state.cursor is None) and self.state.mode != "full":
            self.state = SyncState(
                self.source,
                obj,
                cursor=None,
                mode="full",
                full_started_at=datetime.now(UTC) - timedelta(seconds=1),
                complete=False,
            )
        self.result.mode = self.state.mode
        self.state.run_id = run_id
        self._prepare(owned)

    def _prepare(self, owned: Sequence[str]) -> None:
        """What to read: the CRM's own part (`owned`: the write-back's fields, read along)."""
        raise NotImplementedError

    def _run(self) -> None:
        """Read and commit: the CRM's own part."""
        raise NotImplementedError

    def _keep_preview(self, canonical: pd.DataFrame) -> None:
        """The last two commits' last rows, for the result's preview."""
        if len(canonical):
            self.previews = [*self.previews[-1:], canonical.tail(5)]

    def _stopped(self, exc: BudgetExhausted) -> None:
        """The budget ran out: the pull ends incomplete, with its state saved to resume from."""
        self.result.complete = False
        self.result.stopped = exc.reason
        self.state.complete = False
        self.wh.save_state(self.state)
        # Logged under the CRM's pull module, as each pull did before it shared this.
        logging.getLogger(type(self).__module__).warning(
            "%s %s: stopped early: %s", self.source, self.result.object, exc.reason
        )

    def run(self) -> PullResult:
        started = time.perf_counter()
        try:
            self._run()
        finally:
            r = self.result
            r.api_calls = self.client.calls - self.calls_before
            r.retries = self.client.retries
            r.cursor = self.state.cursor
            r.complete = r.complete and self.state.complete
            r.seconds = time.perf_counter() - started
            r.preview = pd.concat(self.previews).tail(5) if self.previews else None
        return self.result
