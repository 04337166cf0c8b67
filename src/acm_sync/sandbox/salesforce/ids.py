"""Salesforce record ids: 15-character base-62 ids plus the 3-character case-safe suffix."""

from __future__ import annotations

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

# Key prefixes of the standard objects the sandbox serves.
KEY_PREFIX = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "OpportunityHistory": "008",
    "OpportunityStage": "01J",
    "Organization": "00D",
}
POD = "5g"  # two characters of "instance" between the prefix and the serial, as real ids carry


def case_safe_suffix(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitively unique."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX[bits])
    return "".join(out)


def make_id(object_name: str, serial: int) -> str:
    """The 18-character id of the `serial`-th record of an object (deterministic)."""
    digits = []
    n = serial
    for _ in range(10):
        n, r = divmod(n, 62)
        digits.append(_B62[r])
    id15 = KEY_PREFIX[object_name] + POD + "".join(reversed(digits))
    return id15 + case_safe_suffix(id15)


def to_18(record_id: str) -> str:
    """Normalise a 15- or 18-character id to its 18-character form."""
    if len(record_id) == 15:
        return record_id + case_safe_suffix(record_id)
    return record_id


def is_valid_id(value: str) -> bool:
    if len(value) not in (15, 18) or any(c not in _B62 for c in value):
        return False
    return len(value) == 15 or case_safe_suffix(value[:15]) == value[15:]
