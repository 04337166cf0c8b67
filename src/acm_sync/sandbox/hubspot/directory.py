"""The portal's deal pipelines (with their stages) and owners: read-only lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from acm_sync.sandbox.hubspot.catalog import Page
from acm_sync.sandbox.hubspot.db import PortalDb
from acm_sync.sandbox.hubspot.values import wire_datetime


class Directory:
    """Pipelines, stages and owners of one portal."""

    def __init__(self, db: PortalDb) -> None:
        self.db = db

    def pipelines(self, obj: str, pipeline_id: str | None = None) -> list[dict[str, Any]]:
        with self.db.lock:
            sql = (
                "SELECT id, label, display_order, created_at, updated_at, archived "
                "FROM pipelines WHERE object_type=? AND archived=0"
            )
            args: tuple[Any, ...] = (obj,)
            if pipeline_id is not None:
                sql += " AND id=?"
                args = (obj, pipeline_id)
            rows = self.db.conn.execute(sql + " ORDER BY display_order, id", args).fetchall()
            out = []
            for pid, label, order, created, updated, archived in rows:
                stages = self.stages(obj, pid)
                out.append(
                    {
                        "label": label,
                        "displayOrder": order,
                        "id": pid,
                        "stages": stages,
                        "createdAt": wire_datetime(created),
                        "updatedAt": wire_datetime(updated),
                        "archived": bool(archived),
                    }
                )
        return out

    def stages(self, obj: str, pipeline_id: str) -> list[dict[str, Any]]:
        rows = self.db.conn.execute(
            "SELECT id, label, display_order, metadata, created_at, updated_at, archived "
            "FROM pipeline_stages WHERE object_type=? AND pipeline_id=? AND archived=0 "
            "ORDER BY display_order, id",
            (obj, pipeline_id),
        ).fetchall()
        return [
            {
                "label": label,
                "displayOrder": order,
                "metadata": orjson.loads(meta),
                "id": sid,
                "createdAt": wire_datetime(created),
                "updatedAt": wire_datetime(updated),
                "archived": bool(archived),
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for sid, label, order, meta, created, updated, archived in rows
        ]

    def owners(self, *, after: int, limit: int, email: str | None, archived: bool) -> Page:
        sql = (
            "SELECT id, email, first_name, last_name, user_id, created_at, updated_at, "
            "archived FROM owners WHERE archived=? AND id > ?"
        )
        args: list[Any] = [int(archived), after]
        if email:
            sql += " AND email = ? COLLATE NOCASE"
            args.append(email)
        with self.db.lock:
            rows = self.db.conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return Page([_owner_json(r) for r in rows], str(rows[-1][0]) if more else None)

    def owner(self, owner_id: int, by_user_id: bool, archived: bool) -> dict[str, Any] | None:
        col = "user_id" if by_user_id else "id"
        with self.db.lock:
            row = self.db.conn.execute(
                "SELECT id, email, first_name, last_name, user_id, created_at, updated_at, "
                f"archived FROM owners WHERE {col}=? AND archived=?",
                (owner_id, int(archived)),
            ).fetchone()
        return _owner_json(row) if row else None


def _owner_json(row: Sequence[Any]) -> dict[str, Any]:
    oid, email, first, last, user_id, created, updated, archived = row
    return {
        "id": str(oid),
        "email": email,
        "type": "PERSON",
        "firstName": first or "",
        "lastName": last or "",
        "userId": user_id,
        "userIdIncludingInactive": user_id,
        "createdAt": wire_datetime(created),
        "updatedAt": wire_datetime(updated),
        "archived": bool(archived),
    }
