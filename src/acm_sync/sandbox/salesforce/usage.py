"""DailyApiRequests: the API calls counted per UTC day, kept in the org's file."""

from __future__ import annotations

from datetime import UTC

from acm_sync.sandbox.salesforce.orgfile import OrgFile


class ApiUsage:
    """The day's API call count (cached for the current day)."""

    def __init__(self, file: OrgFile) -> None:
        self.file = file
        self.db = file.conn
        self._usage_day = ""
        self._usage_used = 0

    def today(self) -> str:
        return self.file.clock().astimezone(UTC).date().isoformat()

    def used(self) -> int:
        day = self.today()
        if day != self._usage_day:
            row = self.db.execute("SELECT used FROM _api_usage WHERE day = ?", (day,)).fetchone()
            self._usage_day, self._usage_used = day, int(row[0]) if row else 0
        return self._usage_used

    def count_call(self) -> int:
        used = self.used() + 1
        self.db.execute(
            "INSERT INTO _api_usage VALUES (?, 1) ON CONFLICT(day) DO UPDATE SET used = used + 1",
            (self._usage_day,),
        )
        self._usage_used = used
        return used

    def set_used(self, used: int) -> None:
        day = self.today()
        self.db.execute(
            "INSERT INTO _api_usage VALUES (?, ?) ON CONFLICT(day) DO UPDATE SET used = ?",
            (day, used, used),
        )
        self._usage_day, self._usage_used = day, used
