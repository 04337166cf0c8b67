"""Bulk jobs (API 2.0 and 1.0) and their uploaded / result blobs, kept in the org's file so a
restart keeps them."""

from __future__ import annotations

from typing import Any

import orjson

from acm_sync.sandbox.salesforce.orgfile import OrgFile


class BulkJobs:
    """Bulk job records (JSON info by id and kind) and blobs by job and name."""

    def __init__(self, file: OrgFile) -> None:
        self.file = file
        self.db = file.conn

    def save(self, job_id: str, kind: str, info: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO _bulk_jobs VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "info = excluded.info",
            (job_id, kind, info.get("createdDate", ""), orjson.dumps(info).decode()),
        )

    def get(self, job_id: str, kind: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT info FROM _bulk_jobs WHERE id = ? AND kind = ?", (job_id, kind)
        ).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def list(self, kind: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT info FROM _bulk_jobs WHERE kind = ? ORDER BY created, id", (kind,)
        ).fetchall()
        return [dict(orjson.loads(r[0])) for r in rows]

    def delete(self, job_id: str) -> None:
        self.db.execute("DELETE FROM _bulk_blobs WHERE job_id = ?", (job_id,))
        self.db.execute("DELETE FROM _bulk_jobs WHERE id = ?", (job_id,))

    def put_blob(self, job_id: str, name: str, data: bytes) -> None:
        self.db.execute(
            "INSERT INTO _bulk_blobs VALUES (?, ?, ?) ON CONFLICT(job_id, name) DO UPDATE SET "
            "data = excluded.data",
            (job_id, name, data),
        )

    def blob(self, job_id: str, name: str) -> bytes | None:
        row = self.db.execute(
            "SELECT data FROM _bulk_blobs WHERE job_id = ? AND name = ?", (job_id, name)
        ).fetchone()
        return None if row is None else bytes(row[0])
