"""Route a connector's calls to the vendors' hosts to the sandbox (nothing else changed).

Loaded by Python at start-up because this directory is on the connector's PYTHONPATH. It reads
`PEER_HOST_MAP` (JSON: {"https://login.salesforce.com": "https://127.0.0.1:8443", ...}) and
`PEER_CA_BUNDLE` (the sandbox's CA), and rewrites the scheme + host of every `requests` call whose
URL starts with a mapped prefix, trusting the sandbox's CA for the rewritten call. Any other URL
goes out unchanged (and fails: the test machine has no route to the vendors).
"""

from __future__ import annotations

import json
import os


def _install() -> None:
    mapping = json.loads(os.environ.get("PEER_HOST_MAP") or "{}")
    if not mapping:
        return
    ca_bundle = os.environ.get("PEER_CA_BUNDLE")
    prefixes = sorted(mapping.items(), key=lambda kv: -len(kv[0]))

    try:
        from requests.adapters import HTTPAdapter
    except ImportError:  # a connector without requests: nothing to route
        return

    original_send = HTTPAdapter.send

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        url = request.url or ""
        for source, target in prefixes:
            if url == source or url.startswith(source + "/") or url.startswith(source + "?"):
                request.url = target + url[len(source) :]
                if target.startswith("https://") and ca_bundle:
                    kwargs["verify"] = ca_bundle
                break
        else:
            if ca_bundle and any(url.startswith(t) for _, t in prefixes):
                kwargs["verify"] = ca_bundle
        return original_send(self, request, **kwargs)

    HTTPAdapter.send = send  # type: ignore[method-assign]


_install()
