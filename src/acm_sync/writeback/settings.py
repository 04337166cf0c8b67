"""The `writeback` section of acm_sync.yaml: how enriched fields are written back to the CRMs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class SalesforceWrite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bulk_threshold: Annotated[int, Field(ge=1)] = Field(
        default=10_000,
        description="Above this many changed records of one object, one Bulk API 2.0 ingest job "
        "writes them (else sObject Collections, 200 records a call).",
    )
    bulk_poll_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        default=2.0, description="How often a Bulk API 2.0 ingest job is polled."
    )


class WritebackSettings(BaseModel):
    """Write-back (section `writeback` of acm_sync.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dry_run: bool | Literal["auto"] = Field(
        default="auto",
        description="true: plan only, write nothing. auto: write to the local sandbox, dry-run "
        "against a real org until this is set to false.",
    )
    manual_edits: Literal["respect", "overwrite"] = Field(
        default="respect",
        description="When a person changed a field we wrote: respect keeps their value (and "
        "reports it), overwrite writes ours again.",
    )
    max_attempts: Annotated[int, Field(ge=1, le=100)] = Field(
        default=5,
        description="A record the CRM rejects is retried on later runs, up to this many "
        "attempts in all; then it stays in the dead-letter table until its values change.",
    )
    require_approval: bool = Field(
        default=False,
        description="true: a sync stops at the plan; a person applies it by its plan id "
        "(`acm-sync apply --plan-id …`, or the apply_plan job), re-checked against the CRM.",
    )
    preview_rows: Annotated[int, Field(ge=0, le=200)] = Field(
        default=20, description="Planned changes shown (before → after) in the asset metadata."
    )
    salesforce: SalesforceWrite = SalesforceWrite()

    def is_dry_run(self, *, sandbox: bool) -> bool:
        if self.dry_run == "auto":
            return not sandbox
        return bool(self.dry_run)
