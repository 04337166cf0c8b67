"""Open query cursors behind nextRecordsUrl: snapshots of the selected rowids."""

from __future__ import annotations

import array
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from acm_sync.sandbox.salesforce.ids import POD, case_safe_suffix
from acm_sync.sandbox.salesforce.schema import Field, SObject

CURSOR_IDLE_S = 15 * 60
MAX_CURSOR_ROWS = 12_000_000  # rowids kept across all open cursors (8 bytes each)
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass
class Cursor:
    id: str
    sobject: SObject
    fields: list[Field]
    rowids: array.array[int]
    page_size: int
    include_deleted: bool
    last_used: float


class Cursors:
    """Open query cursors (snapshots of the selected rowids), dropped after 15 idle minutes."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._open: OrderedDict[str, Cursor] = OrderedDict()
        self._serial = secrets.randbelow(62**6) * 62**3
        self._lock = threading.Lock()

    def _new_id(self) -> str:
        self._serial += 1
        n, digits = self._serial, []
        for _ in range(10):
            n, r = divmod(n, 62)
            digits.append(_B62[r])
        id15 = "01g" + POD + "".join(reversed(digits))
        return id15 + case_safe_suffix(id15)

    def open(
        self,
        sobj: SObject,
        fields: list[Field],
        rowids: array.array[int],
        page_size: int,
        include_deleted: bool,
    ) -> Cursor:
        now = self.clock()
        with self._lock:
            cursor = Cursor(self._new_id(), sobj, fields, rowids, page_size, include_deleted, now)
            self._open[cursor.id] = cursor
            self._evict(now)
        return cursor

    def get(self, cursor_id: str) -> Cursor | None:
        now = self.clock()
        with self._lock:
            self._evict(now)
            cursor = self._open.get(cursor_id)
            if cursor is not None:
                cursor.last_used = now
                self._open.move_to_end(cursor_id)
            return cursor

    def _evict(self, now: float) -> None:
        for key in [k for k, c in self._open.items() if now - c.last_used > CURSOR_IDLE_S]:
            del self._open[key]
        total = sum(len(c.rowids) for c in self._open.values())
        while total > MAX_CURSOR_ROWS and len(self._open) > 1:
            _, oldest = self._open.popitem(last=False)
            total -= len(oldest.rowids)
