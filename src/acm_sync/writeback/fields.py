"""The owned fields, as write-back names them: the table itself is canonical-level
(`acm_sync.owned_fields`), read by the pulls as well."""

from acm_sync.owned_fields import (
    BANDS,
    HUBSPOT_GROUP,
    HUBSPOT_GROUP_LABEL,
    OBJECTS,
    OWNED,
    TIERS,
    TRENDS,
    Crm,
    Kind,
    Owned,
    field_of,
    owned_for,
    owned_names,
)

__all__ = [
    "BANDS",
    "HUBSPOT_GROUP",
    "HUBSPOT_GROUP_LABEL",
    "OBJECTS",
    "OWNED",
    "TIERS",
    "TRENDS",
    "Crm",
    "Kind",
    "Owned",
    "field_of",
    "owned_for",
    "owned_names",
]
