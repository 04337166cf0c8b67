"""Running the whole pipeline — pull → quality → scoring → plan → apply — in process against a
sandbox, as the write-back tests (and the write-back benchmark) do."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from acm_sync.assets.hubspot import hubspot_assets
from acm_sync.assets.ingest import SyncSettingsResource
from acm_sync.assets.quality import QualitySettingsResource, quality_assets
from acm_sync.assets.salesforce import salesforce_assets
from acm_sync.assets.scoring import ScoringConfigResource, scoring_assets
from acm_sync.assets.writeback import WritebackSettingsResource, writeback_assets
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.warehouse import Warehouse, WarehouseResource

ASSETS = [
    *salesforce_assets,
    *hubspot_assets,
    *quality_assets,
    *[a for a in scoring_assets if a.key.to_user_string() != "forecast_backtest"],
    *writeback_assets,
]
EXPECTATIONS = Path(__file__).resolve().parents[2] / "expectations"


AS_OF = "2026-11-02"  # every run scores as of the same day: a re-run changes nothing


@dataclass
class Pipeline:
    """Runs the pipeline in process against one sandbox with one warehouse and config."""

    sandbox: SandboxSettings
    tmp: Path
    config: dict[str, Any]
    extra_env: dict[str, str] = field(default_factory=dict)  # besides the sandbox's own

    def env(self) -> dict[str, str]:
        return {**self.sandbox.env(), **self.extra_env}

    @property
    def warehouse_path(self) -> Path:
        return self.tmp / "warehouse.duckdb"

    @property
    def wh(self) -> Warehouse:
        return Warehouse(self.warehouse_path)

    def write_config(self, **sections: Any) -> Path:
        path = self.tmp / "acm_sync.yaml"
        quality = {"expectations_dir": str(EXPECTATIONS), "data_docs": False}
        # the shipped rates: the demo org sells in USD, EUR and GBP
        currency = yaml.safe_load((EXPECTATIONS.parent / "acm_sync.yaml").read_text())["currency"]
        body = {"quality": quality, "currency": currency, **self.config, **sections}
        path.write_text(yaml.safe_dump(body))
        return path

    def resources(self, config_path: Path) -> dict[str, Any]:
        return {
            "salesforce": SalesforceResource.from_env(self.env()),
            "hubspot": HubSpotResource.from_env(self.env()),
            "warehouse": WarehouseResource(path=str(self.warehouse_path)),
            "sync_settings": SyncSettingsResource(config_path=str(config_path)),
            "quality_settings": QualitySettingsResource(config_path=str(config_path)),
            "scoring_config": ScoringConfigResource(config_path=str(config_path)),
            "writeback_settings": WritebackSettingsResource(config_path=str(config_path)),
        }

    def run(
        self,
        *,
        selection: Any = None,
        raise_on_error: bool = True,
        instance: dg.DagsterInstance | None = None,
        run_config: dict[str, Any] | None = None,
        **sections: Any,
    ) -> dg.ExecuteInProcessResult:
        config_path = self.write_config(**sections)
        with pytest.MonkeyPatch.context() as env:
            for name, value in self.env().items():
                env.setenv(name, value)
            return dg.materialize(
                ASSETS,
                selection=selection,
                resources=self.resources(config_path),
                run_config=run_config
                or (
                    {"ops": {"account_scores": {"config": {"as_of": AS_OF}}}}
                    if selection is None
                    else None
                ),
                raise_on_error=raise_on_error,
                instance=instance,
            )


def materialization(result: dg.ExecuteInProcessResult, key: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        if mat is not None and mat.asset_key.to_user_string() == key:
            return {k: v.value for k, v in mat.metadata.items()}
    raise AssertionError(f"{key} was not materialized")
