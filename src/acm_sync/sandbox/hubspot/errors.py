"""The refusals of the HubSpot portal: a request HubSpot would refuse, and bad property values."""

from __future__ import annotations

from typing import Any

import orjson


class StoreError(Exception):
    """A request HubSpot would refuse: HTTP status, category, message (+ optional extras)."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra


class PropertyErrors(StoreError):
    """Property values HubSpot refuses: 400 VALIDATION_ERROR with its per-property list."""

    def __init__(self, portal_id: int, problems: list[tuple[str, str, str]]) -> None:
        details = [
            {
                "isValid": False,
                "message": msg,
                "error": code,
                "name": name,
                "localizedErrorMessage": msg,
                "portalId": portal_id,
            }
            for name, code, msg in problems
        ]
        text = "Property values were not valid: " + orjson.dumps(details).decode()
        super().__init__(400, "VALIDATION_ERROR", text)
        self.problems = problems


def str_list(raw: Any, what: str) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise StoreError(400, "VALIDATION_ERROR", f"{what} must be a list of strings")
    return raw
