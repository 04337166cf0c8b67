"""Dagster assets, jobs and schedules: thin glue over connectors, quality, scoring, writeback."""
