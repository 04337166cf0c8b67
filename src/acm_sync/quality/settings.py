"""The `quality` section of acm_sync.yaml: where the suites live and when the gates close.

Which rules run, and with which severity, is not configured here: that is the suite files in
`expectations/` (one GX suite per canonical entity). This section holds the thresholds of the
gates that stand between a pull and a write-back.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Entity = Literal["accounts", "contacts", "opportunities", "opportunity_stage_history"]
Share = Annotated[float, Field(ge=0, le=1)]


class QualitySettings(BaseModel):
    """Data-quality gates (section `quality` of acm_sync.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expectations_dir: str = Field(
        default="expectations",
        description="Directory of the GX suites (<entity>.json), relative to the working "
        "directory unless absolute.",
    )
    critical_failure_threshold: Share = Field(
        default=0.05,
        description="Write-back is blocked when more than this share of an entity's live rows "
        "fail a critical rule (and so are quarantined).",
    )
    entity_thresholds: dict[Entity, Share] = Field(
        default_factory=dict,
        description="Per-entity overrides of critical_failure_threshold.",
    )
    max_volume_drop: Share = Field(
        default=0.3,
        description="Write-back is blocked when an entity's live rows from one CRM fell by more "
        "than this share against the last run that passed every gate (a truncated pull).",
    )
    data_docs: bool = Field(
        default=True, description="Build GX Data Docs into <warehouse dir>/data_docs each run."
    )
    sample_rows: Annotated[int, Field(ge=0, le=100)] = Field(
        default=10, description="Failing rows shown per entity in the check metadata."
    )

    def threshold(self, entity: str) -> float:
        overrides = {str(k): v for k, v in self.entity_thresholds.items()}
        return overrides.get(entity, self.critical_failure_threshold)
