"""The sandbox's admin API (faults, call counts, hooks) as the tests use it."""

from __future__ import annotations

import requests


class Admin:
    """The sandbox's admin API (faults, call counts, hooks) for one vendor."""

    def __init__(self, base_url: str, verify: str | bool = True) -> None:
        self.base = base_url.rstrip("/") + "/__sandbox__"
        self.http = requests.Session()
        # Per request: REQUESTS_CA_BUNDLE in the environment overrides a session's `verify`.
        self.verify = verify

    def fault(self, **rule: object) -> None:
        self.http.post(f"{self.base}/faults", json=rule, verify=self.verify).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete(f"{self.base}/faults", verify=self.verify).raise_for_status()

    def calls(self) -> dict:  # type: ignore[type-arg]
        response = self.http.get(f"{self.base}/calls", verify=self.verify)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def reset_calls(self) -> None:
        self.http.delete(f"{self.base}/calls", verify=self.verify).raise_for_status()

    def hook(self, name: str) -> None:
        self.http.post(f"{self.base}/hooks/{name}", verify=self.verify).raise_for_status()

    def writes(self) -> dict[str, int]:
        """How many times each record was written ("Account/001…": n) since the last reset."""
        response = self.http.get(f"{self.base}/writes", verify=self.verify)
        response.raise_for_status()
        return response.json()["by_record"]  # type: ignore[no-any-return]

    def reset_writes(self) -> None:
        self.http.delete(f"{self.base}/writes", verify=self.verify).raise_for_status()
